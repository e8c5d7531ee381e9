//! `--cors-origin ORIGIN` (repeatable, or `*`): tower-http's CORS layer on every route of an
//! HTTP target — the REST routes, the Engine.IO long-polling requests and the WebSocket
//! upgrade paths. Preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered
//! by the layer itself; actual requests from an allowed origin get
//! `Access-Control-Allow-Origin`. Requests from other origins are still served (CORS is
//! enforced by browsers) but get no CORS headers.

use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// The allowed origins of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin.
    Any,
    /// These exact origins (`scheme://host[:port]`).
    List(Vec<HeaderValue>),
}

impl CorsOrigins {
    /// From the `--cors-origin` values: `*` alone, or origins like `http://localhost:3000`.
    pub fn parse(values: &[String]) -> Result<Self, String> {
        if values.is_empty() {
            return Err("no origin given".into());
        }
        if values.iter().any(|v| v == "*") {
            if values.len() > 1 {
                return Err("`*` allows every origin: give it alone".into());
            }
            return Ok(CorsOrigins::Any);
        }
        values
            .iter()
            .map(|v| {
                let ok = (v.starts_with("http://") || v.starts_with("https://"))
                    && !v.trim_end_matches('/').contains(['?', '#', ' '])
                    && !v.ends_with('/');
                if !ok {
                    return Err(format!(
                        "{v:?} is not an origin: use scheme://host[:port] (no path, no trailing /), or *"
                    ));
                }
                HeaderValue::from_str(v).map_err(|e| format!("{v:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(CorsOrigins::List)
    }

    /// The layer: GET, POST and OPTIONS, the request headers `Content-Type` and
    /// `Authorization`, preflights cached for 10 minutes.
    pub fn layer(&self) -> CorsLayer {
        let origin = match self {
            CorsOrigins::Any => AllowOrigin::from(Any),
            CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
        };
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn origins_parse_or_say_why_not() {
        assert_eq!(CorsOrigins::parse(&v(&["*"])).unwrap(), CorsOrigins::Any);
        assert!(matches!(
            CorsOrigins::parse(&v(&["http://a.test", "https://b.test:8443"])).unwrap(),
            CorsOrigins::List(l) if l.len() == 2
        ));
        assert!(CorsOrigins::parse(&v(&["*", "http://a.test"])).is_err());
        assert!(CorsOrigins::parse(&v(&["a.test"])).is_err());
        assert!(CorsOrigins::parse(&v(&["http://a.test/"])).is_err());
        assert!(CorsOrigins::parse(&v(&[])).is_err());
    }
}
