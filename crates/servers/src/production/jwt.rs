//! `--jwt-secret`: HS256 tokens checked at the handshake, `exp` required and enforced
//! (no leeway). Socket.IO clients send the token in the handshake's `auth: {token}`; raw
//! WebSocket clients in `Authorization: Bearer <token>` or the query `?token=<token>`. A
//! missing, malformed, wrongly signed or expired token is refused before the socket exists:
//! HTTP 401 for a raw upgrade (see [`require_token`]), CONNECT_ERROR `unauthorized` for
//! Socket.IO (see `crate::sio`). The REST routes stay open.
//!
//! [`mint`] makes the tokens the load generator and tests present.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The refusal text on every target (Socket.IO CONNECT_ERROR message, HTTP 401 body).
pub const UNAUTHORIZED: &str = "unauthorized";

/// The claims wsbench mints and checks: who (`sub`) and until when (`exp`, Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
}

/// Why a token was refused (logged at debug level; the client only hears `unauthorized`).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("bad token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// The verifier of one server: its secret and the HS256 rules.
#[derive(Clone)]
pub struct JwtAuth {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtAuth(HS256, secret hidden)")
    }
}

impl JwtAuth {
    /// A verifier for `secret` (refused when empty: every token would be forgeable).
    pub fn new(secret: &str) -> Result<Self, String> {
        if secret.is_empty() {
            return Err("the JWT secret must not be empty".into());
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        Ok(JwtAuth {
            key: Arc::new(DecodingKey::from_secret(secret.as_bytes()).map_err(|e| e.to_string())?),
            validation: Arc::new(validation),
        })
    }

    /// The claims of `token` if it is a valid, unexpired HS256 token signed with the secret.
    pub fn verify(&self, token: Option<&str>) -> Result<Claims, AuthError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        Ok(jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)?.claims)
    }
}

/// An HS256 token for `sub` signed with `secret`, valid until `exp` (Unix seconds).
pub fn mint(secret: &str, sub: &str, exp: u64) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = Claims {
        sub: sub.to_owned(),
        exp,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes())?,
    )
}

/// Seconds since the Unix epoch now (what `exp` is compared with).
pub fn now_unix() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// The token of a raw WebSocket upgrade request: `Authorization: Bearer <t>`, else the
/// query parameter `token`.
pub fn request_token<B>(req: &axum::http::Request<B>) -> Option<String> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    bearer.or_else(|| query_token(req.uri().query()?))
}

/// `token=…` from a query string (percent-decoded; JWTs are URL-safe anyway).
fn query_token(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// axum middleware for the raw WebSocket routes: a request without a valid token is
/// answered 401 `unauthorized` before any upgrade.
pub async fn require_token(State(auth): State<JwtAuth>, req: Request, next: Next) -> Response {
    match auth.verify(request_token(&req).as_deref()) {
        Ok(_) => next.run(req).await,
        Err(e) => {
            tracing::debug!("refused a WebSocket upgrade: {e}");
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                UNAUTHORIZED,
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, auth: Option<&str>) -> axum::http::Request<()> {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn valid_bad_and_expired_tokens() {
        let auth = JwtAuth::new("s3cret").unwrap();
        let good = mint("s3cret", "7", now_unix() + 60).unwrap();
        assert_eq!(auth.verify(Some(&good)).unwrap().sub, "7");
        let forged = mint("other", "7", now_unix() + 60).unwrap();
        assert!(matches!(
            auth.verify(Some(&forged)),
            Err(AuthError::Invalid(_))
        ));
        let expired = mint("s3cret", "7", now_unix() - 5).unwrap();
        assert!(auth.verify(Some(&expired)).is_err());
        assert!(matches!(auth.verify(None), Err(AuthError::Missing)));
        assert!(matches!(auth.verify(Some("")), Err(AuthError::Missing)));
        assert!(auth.verify(Some("not.a.jwt")).is_err());
        assert!(JwtAuth::new("").is_err());
    }

    #[test]
    fn token_from_header_or_query() {
        assert_eq!(
            request_token(&req("/ws", Some("Bearer abc.def"))).as_deref(),
            Some("abc.def")
        );
        assert_eq!(
            request_token(&req("/ws", Some("bearer  x"))).as_deref(),
            Some("x")
        );
        assert_eq!(
            request_token(&req("/ws?a=1&token=q.r%2Es", None)).as_deref(),
            Some("q.r.s")
        );
        assert_eq!(request_token(&req("/ws?tokenx=1", None)), None);
        assert_eq!(request_token(&req("/ws", Some("Basic abc"))), None);
    }
}
