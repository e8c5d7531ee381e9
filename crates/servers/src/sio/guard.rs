//! JWT and rate limiting on the `sio-socketioxide` target (the rules are
//! `crate::production`'s; this is how socketioxide applies them).
//!
//! - [`authorize`]: a connect middleware run before admission: the handshake's
//!   `auth: {token}` must hold a valid token, else the client gets CONNECT_ERROR with the
//!   message `unauthorized` and no socket is created.
//! - [`Metered`]: an event extractor every op handler takes first. With `--rate-limit` each
//!   socket carries a token bucket (in its extensions); an event with no token left is
//!   answered `error("rate limited")`, counted, and its handler is not called.

use std::future::Ready;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::{FromMessageParts, Value as PacketValue};
use socketioxide::socket::Socket;

use crate::production::jwt::{JwtAuth, UNAUTHORIZED};
use crate::production::rate_limit::{RATE_LIMITED, RateLimit, TokenBucket};

/// The handshake's auth object (`auth: {token}` in socket.io-client).
#[derive(Debug, Deserialize)]
pub(crate) struct Auth {
    token: Option<String>,
}

/// Why a CONNECT was refused by [`authorize`]: its text is the CONNECT_ERROR message.
#[derive(Debug, thiserror::Error)]
#[error("{}", UNAUTHORIZED)]
pub(crate) struct Unauthorized;

/// A connect middleware that admits only sockets whose handshake carries a valid token
/// (checking is synchronous, so the future is ready at once).
pub(crate) fn authorize<A: Adapter>(
    jwt: JwtAuth,
) -> impl FnOnce(SocketRef<A>, TryData<Auth>) -> Ready<Result<(), Unauthorized>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |socket: SocketRef<A>, TryData(auth): TryData<Auth>| {
        let token = auth.ok().and_then(|a| a.token);
        std::future::ready(match jwt.verify(token.as_deref()) {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::debug!("sio: refused socket {} on {}: {e}", socket.id, socket.ns());
                Err(Unauthorized)
            }
        })
    }
}

/// A socket's bucket and the server's count of refusals.
#[derive(Clone)]
pub(crate) struct Meter {
    bucket: Arc<Mutex<TokenBucket>>,
    refused: Arc<AtomicU64>,
}

impl Meter {
    /// Gives `socket` a full bucket of `limit`; refusals count into `refused`.
    pub(crate) fn install<A: Adapter>(
        socket: &Socket<A>,
        limit: RateLimit,
        refused: Arc<AtomicU64>,
    ) {
        socket.extensions.insert(Meter {
            bucket: Arc::new(Mutex::new(limit.bucket())),
            refused,
        });
    }
}

/// Proof that an event may be handled: without `--rate-limit` always; with it, the event
/// took a token from its socket's bucket.
pub(crate) struct Metered;

/// The event was over the socket's rate: already answered and counted.
#[derive(Debug, thiserror::Error)]
#[error("{}", RATE_LIMITED)]
pub(crate) struct RateLimited;

impl<A: Adapter> FromMessageParts<A> for Metered {
    type Error = RateLimited;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        _: &mut PacketValue,
        _: &Option<i64>,
    ) -> Result<Self, RateLimited> {
        let Some(meter) = s.extensions.get::<Meter>() else {
            return Ok(Metered);
        };
        if meter
            .bucket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_take()
        {
            return Ok(Metered);
        }
        meter.refused.fetch_add(1, Ordering::Relaxed);
        let _ = s.emit("error", RATE_LIMITED);
        Err(RateLimited)
    }
}
