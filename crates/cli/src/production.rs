//! The production-feature flags of `wsbench serve` (`--jwt-secret`, `--cors-origin`,
//! `--rate-limit`) and their check against the target: tcp has no HTTP, so JWT and CORS
//! are usage errors there; the rate limit applies to every target.

use clap::Args;
use wsbench_servers::RustServer;
use wsbench_servers::production::{CorsOrigins, JwtAuth, Production, RateLimit};

#[derive(Debug, Clone, Default, Args)]
pub struct ProductionArgs {
    /// Require an HS256 JWT (with `exp`, checked) signed with this secret at every socket's
    /// handshake: Socket.IO `auth: {token}`, raw WebSocket `Authorization: Bearer <token>`
    /// or `?token=<token>`. Refused: Socket.IO CONNECT_ERROR `unauthorized`, raw HTTP 401.
    /// HTTP targets only (tcp has no handshake to carry it).
    #[arg(long, value_name = "SECRET")]
    pub jwt_secret: Option<String>,
    /// Allow cross-origin requests from ORIGIN (`scheme://host[:port]`; repeat the flag for
    /// several, or `*` for any): CORS headers and preflights on the REST routes, Engine.IO
    /// polling and the WebSocket paths. HTTP targets only.
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Vec<String>,
    /// Limit each connection to N requests per second (token bucket, bursts of one second's
    /// worth). Over it a request gets `{"op":"error","reason":"rate limited"}` (Socket.IO:
    /// event `error("rate limited")`), is not acted on, and is counted (`rate_limited` in
    /// /api/stats).
    #[arg(long, value_name = "N/s")]
    pub rate_limit: Option<String>,
}

impl ProductionArgs {
    /// The validated settings for `target`, or a usage message.
    pub fn config(&self, target: RustServer) -> Result<Production, String> {
        let http = target != RustServer::Tcp;
        let jwt = match &self.jwt_secret {
            Some(_) if !http => {
                return Err("--jwt-secret applies to HTTP targets; tcp has no handshake".into());
            }
            Some(s) => Some(JwtAuth::new(s).map_err(|e| format!("--jwt-secret: {e}"))?),
            None => None,
        };
        let cors = match self.cors_origin.as_slice() {
            [] => None,
            _ if !http => {
                return Err("--cors-origin applies to HTTP targets; tcp has no HTTP".into());
            }
            origins => {
                Some(CorsOrigins::parse(origins).map_err(|e| format!("--cors-origin: {e}"))?)
            }
        };
        let rate_limit = self
            .rate_limit
            .as_deref()
            .map(RateLimit::parse)
            .transpose()
            .map_err(|e| format!("--rate-limit: {e}"))?;
        Ok(Production {
            jwt,
            cors,
            rate_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(jwt: Option<&str>, cors: &[&str], rate: Option<&str>) -> ProductionArgs {
        ProductionArgs {
            jwt_secret: jwt.map(str::to_owned),
            cors_origin: cors.iter().map(|s| s.to_string()).collect(),
            rate_limit: rate.map(str::to_owned),
        }
    }

    #[test]
    fn off_by_default_and_validated() {
        let p = args(None, &[], None).config(RustServer::Tcp).unwrap();
        assert!(p.jwt.is_none() && p.cors.is_none() && p.rate_limit.is_none());
        let p = args(Some("k"), &["*"], Some("50/s"))
            .config(RustServer::SioSocketioxide)
            .unwrap();
        assert!(p.jwt.is_some());
        assert_eq!(p.cors, Some(CorsOrigins::Any));
        assert_eq!(p.rate_limit, Some(RateLimit { per_sec: 50 }));
        assert_eq!(
            args(None, &[], Some("50/s"))
                .config(RustServer::Tcp)
                .unwrap()
                .rate_limit,
            Some(RateLimit { per_sec: 50 })
        );
    }

    #[test]
    fn bad_values_and_tcp_are_usage_errors() {
        let tcp = RustServer::Tcp;
        let ws = RustServer::WsTungstenite;
        assert!(
            args(Some("k"), &[], None)
                .config(tcp)
                .unwrap_err()
                .contains("tcp")
        );
        assert!(
            args(None, &["*"], None)
                .config(tcp)
                .unwrap_err()
                .contains("tcp")
        );
        assert!(
            args(Some(""), &[], None)
                .config(ws)
                .unwrap_err()
                .contains("--jwt-secret")
        );
        assert!(
            args(None, &["nope"], None)
                .config(ws)
                .unwrap_err()
                .contains("--cors-origin")
        );
        assert!(
            args(None, &[], Some("0/s"))
                .config(ws)
                .unwrap_err()
                .contains("--rate-limit")
        );
    }
}
