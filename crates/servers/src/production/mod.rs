//! The production features of docs/design.md ("Production features"), each off by default
//! and with the same meaning on every target that can have it:
//!
//! - [`jwt`]: `--jwt-secret`, an HS256 token checked at the handshake (HTTP 401 before a
//!   raw WebSocket upgrade; Socket.IO CONNECT_ERROR `unauthorized`).
//! - [`cors`]: `--cors-origin`, tower-http's CORS layer on every HTTP route.
//! - [`rate_limit`]: `--rate-limit N/s`, a token bucket per connection; an over-limit
//!   request is refused with `rate limited` and counted.
//!
//! - [`namespaces`]: `/`, `/chat`, `/admin`, `/notifications` (raw: `/ws`, `/ws/chat`, …),
//!   always served.
//!
//! The tcp target has no HTTP: JWT and CORS do not apply to it (`wsbench serve` refuses
//! them there); the rate limit does.

pub mod cors;
pub mod jwt;
pub mod namespaces;
pub mod rate_limit;

pub use cors::CorsOrigins;
pub use jwt::JwtAuth;
pub use rate_limit::RateLimit;

/// Which production features a server runs with. The default is all off.
#[derive(Debug, Clone, Default)]
pub struct Production {
    /// Every socket must show a valid HS256 token at its handshake.
    pub jwt: Option<JwtAuth>,
    /// Origins allowed by CORS; `None`: no CORS headers at all (same-origin only).
    pub cors: Option<CorsOrigins>,
    /// Requests per second each connection may make.
    pub rate_limit: Option<RateLimit>,
}

impl Production {
    /// The socket routes of a raw WebSocket target, behind the JWT check when it is on.
    pub(crate) fn guard_sockets(&self, routes: axum::Router) -> axum::Router {
        match &self.jwt {
            Some(auth) => routes.route_layer(axum::middleware::from_fn_with_state(
                auth.clone(),
                jwt::require_token,
            )),
            None => routes,
        }
    }

    /// A whole HTTP app (socket routes and REST), behind the CORS layer when it is on.
    pub(crate) fn with_cors(&self, app: axum::Router) -> axum::Router {
        match &self.cors {
            Some(origins) => app.layer(origins.layer()),
            None => app,
        }
    }
}
