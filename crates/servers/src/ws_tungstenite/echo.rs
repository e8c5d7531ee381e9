//! Echo mode of `ws-tungstenite` (`wsbench serve ws-tungstenite --echo`), for the
//! Autobahn|Testsuite fuzzingclient; never used in a benchmark.
//!
//! No welcome and no hub: every complete message (tungstenite reassembles fragments and
//! checks text UTF-8 incrementally, so a bad fragment fails at once) is sent back with its
//! own opcode. tungstenite answers pings and the peer's close itself (echoing a valid
//! close code, 1002 for an invalid one) and ignores frames after a close; this module maps
//! the errors tungstenite only reports to a close frame ([`super::close_for`]): 1009, 1007
//! or 1002. Limits still apply (`max_message_bytes`). A connection that sends nothing for
//! `idle_timeout` is closed with 1001, without keep-alive pings (they would be frames the
//! test suite did not ask for).

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt;

use super::{WsState, close_for};
use crate::http_app::Admission;
use crate::session::{CLOSE_GRACE, IdleTimer, Keepalive};

/// Serves one echo connection until it closes.
pub(super) async fn connection(mut ws: WebSocket, st: Arc<WsState>, _admission: Admission) {
    let Some((code, reason)) = echo(&mut ws, &st).await else {
        return;
    };
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    if ws.send(close).await.is_ok() {
        // Wait for the peer's close (frames before it are not answered), then drop the
        // TCP connection: the server closes it first (RFC 6455 §7.1.1).
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(m)) = ws.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Echoes messages until the connection should close. Returns the close to send, or
/// `None` when the peer closed (tungstenite has sent the reply) or the socket is gone.
async fn echo(ws: &mut WebSocket, st: &WsState) -> Option<(u16, &'static str)> {
    let mut idle = IdleTimer::new(st.idle);
    loop {
        // tokio-tungstenite keeps a partly read frame in its own buffer: `next` is
        // cancel-safe, so the timers may interrupt it.
        let msg = tokio::select! {
            _ = st.conns.stop.cancelled() => return Some((1001, "server shutting down")),
            k = idle.next() => match k {
                Keepalive::Expired => return Some((1001, "idle timeout")),
                Keepalive::Ping => continue,
            },
            msg = ws.next() => msg,
        };
        idle.seen();
        match msg {
            None => return None,
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                if ws.send(m).await.is_err() {
                    return None;
                }
            }
            // A ping's pong and the reply to a close are queued by tungstenite and written
            // by the next read, which then ends the stream after a close.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_))) => {}
            Some(Err(e)) => return close_for(e),
        }
    }
}
