//! What the load generator's clients present to a server started with `--jwt-secret`:
//! HS256 tokens it mints itself ([`mint`]), carried the way the server expects
//! ([`present`]): Socket.IO in the handshake's `auth: {token}`, raw WebSocket in the query
//! `?token=` of the upgrade request. tcp has no handshake: its endpoint is left as it is.

use serde::Serialize;

use crate::transport::Endpoint;

/// How long a minted token is valid: long enough for any run.
pub const TOKEN_TTL_S: u64 = 24 * 3600;

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
}

/// An HS256 token for `sub`, signed with `secret`, expiring `ttl_s` seconds from now
/// (see [`mint_expired`] for one that is refused).
pub fn mint(secret: &str, sub: &str, ttl_s: u64) -> Result<String, String> {
    mint_at(secret, sub, jsonwebtoken::get_current_timestamp() + ttl_s)
}

/// An HS256 token for `sub` that expired a minute ago (the servers allow no leeway).
pub fn mint_expired(secret: &str, sub: &str) -> Result<String, String> {
    mint_at(
        secret,
        sub,
        jsonwebtoken::get_current_timestamp().saturating_sub(60),
    )
}

fn mint_at(secret: &str, sub: &str, exp: u64) -> Result<String, String> {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .map_err(|e| format!("JWT secret: {e}"))?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Claims { sub, exp },
        &key,
    )
    .map_err(|e| format!("minting a JWT: {e}"))
}

/// `endpoint` with `token` attached: Socket.IO `auth: {token}`, raw WebSocket `?token=`
/// (JWTs are URL-safe base64 and dots, so the query needs no escaping).
pub fn present(endpoint: Endpoint, token: &str) -> Endpoint {
    match endpoint {
        Endpoint::Tcp(addr) => Endpoint::Tcp(addr),
        Endpoint::Ws { addr, host, path } => {
            let sep = if path.contains('?') { '&' } else { '?' };
            Endpoint::Ws {
                addr,
                host,
                path: format!("{path}{sep}token={token}"),
            }
        }
        Endpoint::Sio {
            addr,
            host,
            transport,
            origin,
            ..
        } => Endpoint::Sio {
            addr,
            host,
            transport,
            auth: Some(serde_json::json!({ "token": token }).to_string()),
            origin,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::SioTransport;

    #[test]
    fn tokens_go_where_each_protocol_carries_them() {
        let addr = "127.0.0.1:1".parse().unwrap();
        let ws = Endpoint::Ws {
            addr,
            host: "h".into(),
            path: "/ws/chat".into(),
        };
        assert!(
            matches!(present(ws, "a.b.c"), Endpoint::Ws { path, .. } if path == "/ws/chat?token=a.b.c")
        );
        let sio = Endpoint::Sio {
            addr,
            host: "h".into(),
            transport: SioTransport::Polling,
            auth: None,
            origin: None,
        };
        assert!(
            matches!(present(sio, "t"), Endpoint::Sio { auth: Some(a), .. } if a == r#"{"token":"t"}"#)
        );
        assert_eq!(present(Endpoint::Tcp(addr), "t"), Endpoint::Tcp(addr));
        let t = mint("s", "1", 60).unwrap();
        assert_eq!(t.split('.').count(), 3);
        assert!(mint("", "1", 60).is_err());
    }
}

/// What one scenario point asks of the servers and clients: the extra `serve` flags
/// (`--jwt-secret`, `--rate-limit`, `--cors-origin`), the token each client presents and
/// the origin long-polling clients browse from (`cors = "preflight"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PointCredentials {
    pub serve_args: Vec<String>,
    pub token: Option<String>,
    pub origin: Option<String>,
}

impl PointCredentials {
    /// `endpoint` as this point's clients use it: with the token and, on Socket.IO, the
    /// origin.
    pub fn apply(&self, endpoint: Endpoint) -> Endpoint {
        let endpoint = match &self.token {
            Some(token) => present(endpoint, token),
            None => endpoint,
        };
        match (endpoint, &self.origin) {
            (
                Endpoint::Sio {
                    addr,
                    host,
                    transport,
                    auth,
                    ..
                },
                Some(o),
            ) => Endpoint::Sio {
                addr,
                host,
                transport,
                auth,
                origin: Some(o.clone()),
            },
            (other, _) => other,
        }
    }
}

/// The credentials of a point: `jwt = "valid"` (or `run --jwt-secret` alone) mints a token
/// signed with `secret`; `jwt = "bad"` one signed with another secret, which every server
/// must refuse. `secret` is `run --jwt-secret`, or the run's own random secret.
pub fn for_point(
    production: &wsbench_scenario::production::Production,
    secret: &str,
    secret_given: bool,
) -> Result<PointCredentials, String> {
    use wsbench_scenario::production::JwtTokens;
    let mut out = PointCredentials::default();
    let tokens = match production.jwt {
        JwtTokens::Off if secret_given => JwtTokens::Valid,
        t => t,
    };
    if tokens != JwtTokens::Off {
        out.serve_args
            .extend(["--jwt-secret".to_owned(), secret.to_owned()]);
        let signer = match tokens {
            JwtTokens::Bad => format!("not-{secret}"),
            _ => secret.to_owned(),
        };
        out.token = Some(mint(&signer, "wsbench", TOKEN_TTL_S)?);
    }
    if let Some(n) = production.rate_limit {
        out.serve_args
            .extend(["--rate-limit".to_owned(), format!("{n}/s")]);
    }
    if production.cors_preflight {
        let origin = wsbench_scenario::features::CORS_ORIGIN;
        out.serve_args
            .extend(["--cors-origin".to_owned(), origin.to_owned()]);
        out.origin = Some(origin.to_owned());
    }
    Ok(out)
}

/// A fresh random secret for a run that turns JWT on without `--jwt-secret`.
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
