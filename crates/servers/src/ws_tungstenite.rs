//! The `ws-tungstenite` target: axum `extract::ws` (tokio-tungstenite) + the REST routes.
//!
//! WebSocket at `/ws`, the REST routes of docs/design.md §4 on the same port. Limits: messages
//! over `max_message_bytes` close with 1009; single frames are read whole up to twice that
//! (so the stream stays in sync and the close handshake completes), larger frames fail at
//! their header. tungstenite returns these errors without closing, so this module maps
//! them to close codes itself: too big 1009, invalid UTF-8 1007, protocol violation 1002.
//! The read buffer is lowered from tungstenite's 128 KiB so 10k connections stay cheap.
//!
//! With `cfg.echo_only` the `/ws` route runs [`echo`] instead of the app protocol (for the
//! Autobahn|Testsuite); the HTTP plumbing is `crate::http_app`'s.

mod echo;

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::http_app::{Admission, serve_ws};
use crate::hub::{HubStats, OutFrame};
use crate::session::{
    BINARY_REFUSED, CLOSE_GRACE, CONTROL_QUEUE, Control, IdleTimer, Keepalive, Session,
};
use crate::writer::{FrameSink, SinkError, WRITE_BATCH_BYTES, finish_writer, pump};

/// tungstenite's read buffer per connection (its default is 128 KiB).
const READ_BUFFER: usize = 16 * 1024;

/// Text frames share the hub's one encoding: a clone is a refcount bump.
impl OutFrame for Utf8Bytes {
    fn from_json(json: Bytes) -> Self {
        Utf8Bytes::try_from(json).unwrap_or_else(|_| {
            Utf8Bytes::from_static(r#"{"op":"error","reason":"server reply was not UTF-8"}"#)
        })
    }
    fn byte_len(&self) -> usize {
        self.len()
    }
}

/// Serves the `ws-tungstenite` target (`/ws` + REST) until `shutdown` resolves; then open
/// WebSockets get close 1001 after their queued frames, and the call returns.
pub(crate) async fn run(
    listener: TcpListener,
    cfg: ServerConfig,
    stats: Arc<HubStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_ws(listener, cfg, stats, upgrade, shutdown).await
}

type WsState = crate::http_app::WsState<Utf8Bytes>;

async fn upgrade(State(st): State<Arc<WsState>>, ws: WebSocketUpgrade) -> Response {
    let Some(admission) = st.conns.admit() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "server shutting down").into_response();
    };
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        // tungstenite writes to the socket once this much is buffered, else on flush: the
        // writer's batch bound (this is tungstenite's default, set to keep the two equal).
        .write_buffer_size(WRITE_BATCH_BYTES)
        .max_message_size(st.max)
        .max_frame_size(st.max.saturating_mul(2));
    if st.echo {
        ws.on_upgrade(move |socket| echo::connection(socket, st, admission))
    } else {
        ws.on_upgrade(move |socket| connection(socket, st, admission))
    }
}

async fn connection(socket: WebSocket, st: Arc<WsState>, _admission: Admission) {
    let (sink, mut stream) = socket.split();
    let (session, rx) = Session::open(st.hub.clone());
    let (ctrl_tx, ctrl_rx) = mpsc::channel(CONTROL_QUEUE);
    let writer = tokio::spawn(pump(rx, ctrl_rx, TungSink { sink, pending: 0 }));
    let close = serve(&mut stream, &session, &ctrl_tx, &st).await;
    drop(session);
    match close {
        Some(close) => {
            let _ = ctrl_tx.try_send(close);
            drop(ctrl_tx);
            // Keep reading until the client answers our close, so the handshake completes
            // and unread input does not turn the close into a reset.
            let linger = tokio::time::timeout(CLOSE_GRACE, async {
                while let Some(Ok(_)) = stream.next().await {}
            });
            let _ = tokio::join!(finish_writer(writer), linger);
        }
        None => {
            drop(ctrl_tx);
            finish_writer(writer).await;
        }
    }
}

/// Handles messages until the connection should close. Returns the close to send, or
/// `None` when the peer closed (tungstenite has queued the reply) or the socket is gone.
async fn serve(
    stream: &mut SplitStream<WebSocket>,
    session: &Session<Utf8Bytes>,
    ctrl: &mpsc::Sender<Control>,
    st: &WsState,
) -> Option<Control> {
    if session.welcome().await.is_err() {
        return None;
    }
    let mut idle = IdleTimer::new(st.idle);
    loop {
        tokio::select! {
            _ = st.conns.stop.cancelled() => return Some(Control::close(1001, "server shutting down")),
            _ = session.kicked().cancelled() => return Some(Control::slow_consumer()),
            k = idle.next() => match k {
                Keepalive::Expired => return Some(Control::close(1001, "idle timeout")),
                Keepalive::Ping => {
                    let _ = ctrl.try_send(Control::Ping);
                }
            },
            msg = stream.next() => {
                idle.seen();
                let done = match msg {
                    None => return None,
                    Some(Ok(Message::Text(text))) => session.handle(text.as_bytes()).await,
                    Some(Ok(Message::Binary(_))) => session.refuse(BINARY_REFUSED).await,
                    // Reading on flushes tungstenite's close reply and then ends the stream.
                    Some(Ok(Message::Close(_) | Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    Some(Err(e)) => return close_for(e).map(|(code, reason)| Control::close(code, reason)),
                };
                if done.is_err() {
                    return None;
                }
            }
        }
    }
}

/// The close code and reason for a read error, or `None` when there is nobody left to
/// tell (the connection is gone or already closed). tungstenite reports these without
/// closing: too big 1009, invalid UTF-8 (a text message or a close reason) 1007, any
/// protocol violation (reserved bits or opcodes, bad fragmentation, control frames over
/// 125 bytes or fragmented, a 1-byte close payload, unmasked client frames) 1002.
fn close_for(e: axum::Error) -> Option<(u16, &'static str)> {
    use axum_tungstenite::Error as E;
    use axum_tungstenite::error::ProtocolError as P;
    let inner = e.into_inner();
    match inner.downcast_ref::<E>() {
        Some(E::Capacity(_)) => Some((1009, "message too big")),
        Some(E::Utf8(_)) => Some((1007, "invalid UTF-8")),
        Some(E::Protocol(P::ResetWithoutClosingHandshake)) => None,
        Some(E::Protocol(_)) => Some((1002, "protocol error")),
        _ => {
            tracing::debug!("ws-tungstenite connection: read failed: {inner}");
            None
        }
    }
}

/// The write half of an axum WebSocket: `feed` copies a frame into tungstenite's write
/// buffer, `flush` writes it out.
struct TungSink {
    sink: SplitSink<WebSocket, Message>,
    /// Payload bytes fed since the last flush.
    pending: usize,
}

impl FrameSink<Utf8Bytes> for TungSink {
    async fn feed(&mut self, frame: Utf8Bytes) -> Result<(), SinkError> {
        self.pending += frame.len();
        Ok(self.sink.feed(Message::Text(frame)).await?)
    }

    fn pending(&self) -> usize {
        self.pending
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.pending = 0;
        Ok(self.sink.flush().await?)
    }

    async fn control(&mut self, c: Control) -> Result<(), SinkError> {
        let msg = match c {
            Control::Ping => Message::Ping(Bytes::new()),
            Control::Pong(p) => Message::Pong(p),
            Control::Close { code, reason, .. } => Message::Close(code.map(|code| CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })),
        };
        Ok(self.sink.send(msg).await?)
    }
}
