//! The `ws-fastwebsockets` target: axum/hyper 1 upgrade + fastwebsockets frames + the REST routes.
//!
//! fastwebsockets checks sizes per frame only and its split read half does not reassemble
//! fragments, so [`assemble`] does: fragments are collected up to a TOTAL of
//! `max_message_bytes` (over it: close 1009), a fragmented text message's UTF-8 is checked
//! fragment by fragment (1007; fastwebsockets checks single-frame texts itself), and a
//! continuation out of place is 1002. Single frames up to twice the limit are read whole
//! before being refused, so the stream stays in sync and the close handshake completes.
//! Control frames over 125 bytes are 1002 (fastwebsockets only checks pings), and so is
//! an unmasked client frame (RFC 6455 §5.1; fastwebsockets does not check the mask bit).
//!
//! Pongs and close replies that fastwebsockets owes the peer (auto-pong, auto-close) go to
//! the connection's one writer task as control frames. Server frames are unmasked text
//! frames: fastwebsockets formats each header (`Frame::fmt_head`) and the writer copies
//! header and payload into one buffer per batch, written with one `write_all`
//! (`crate::writer`); fastwebsockets' own `write_frame` would make one syscall per frame,
//! so its write half is not used.
//!
//! With `cfg.echo_only` the `/ws` route runs [`echo`] instead of the app protocol (for the
//! Autobahn|Testsuite); the HTTP plumbing is `crate::http_app`'s.

mod assemble;
mod echo;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use fastwebsockets::upgrade::IncomingUpgrade;
use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket, WebSocketError, WebSocketRead};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::ReadHalf;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use self::assemble::{Assembler, Refusal, Step};
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::http_app::{Admission, serve_ws};
use crate::hub::HubStats;
use crate::session::{
    BINARY_REFUSED, CLOSE_GRACE, CONTROL_QUEUE, Control, IdleTimer, Keepalive, Session,
};
use crate::writer::{BatchBuf, FrameSink, SinkError, finish_writer, pump};

type Io = TokioIo<Upgraded>;

/// Serves the `ws-fastwebsockets` target (`/ws` + REST) until `shutdown` resolves; then
/// open WebSockets get close 1001 after their queued frames, and the call returns.
pub(crate) async fn run(
    listener: TcpListener,
    cfg: ServerConfig,
    stats: Arc<HubStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_ws(listener, cfg, stats, upgrade, shutdown).await
}

type FwsState = crate::http_app::WsState<Bytes>;

async fn upgrade(State(st): State<Arc<FwsState>>, ws: IncomingUpgrade) -> Response {
    let Some(admission) = st.conns.admit() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "server shutting down").into_response();
    };
    let (response, upgraded) = match ws.upgrade() {
        Ok(pair) => pair,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    tokio::spawn(async move {
        match upgraded.await {
            Ok(ws) if st.echo => echo::connection(ws, st, admission).await,
            Ok(ws) => connection(ws, st, admission).await,
            Err(e) => tracing::debug!("ws-fastwebsockets: upgrade failed: {e}"),
        }
    });
    response.into_response()
}

async fn connection(ws: WebSocket<Io>, st: Arc<FwsState>, _admission: Admission) {
    // Fresh from the upgrade: fastwebsockets has read nothing yet, so the stream can be
    // taken back and split. Only the read half is fastwebsockets'; its write half would
    // be a sink for nothing (obligated frames reach the writer as controls).
    let (io_rd, io_wr) = tokio::io::split(ws.into_inner());
    let (mut rd, _) = fastwebsockets::after_handshake_split(io_rd, tokio::io::sink(), Role::Server);
    rd.set_auto_pong(true);
    rd.set_auto_close(true);
    // fastwebsockets refuses a frame whose length is >= this, at its header.
    rd.set_max_message_size(st.max.saturating_mul(2).saturating_add(1));
    let (session, rx) = Session::open(st.hub.clone());
    let (ctrl_tx, ctrl_rx) = mpsc::channel(CONTROL_QUEUE);
    let writer = tokio::spawn(pump(rx, ctrl_rx, FwsSink(BatchBuf::new(io_wr))));
    let close = serve(&mut rd, &session, &ctrl_tx, &st).await;
    drop(session);
    match close {
        Some(close) => {
            let _ = ctrl_tx.try_send(close);
            drop(ctrl_tx);
            // Read until the client answers our close (its echo is not ours to send).
            let linger = tokio::time::timeout(CLOSE_GRACE, async {
                let mut discard = |_: Frame<'_>| async { Ok::<(), Infallible>(()) };
                while let Ok(frame) = rd.read_frame(&mut discard).await {
                    if frame.opcode == OpCode::Close {
                        break;
                    }
                }
            });
            let _ = tokio::join!(finish_writer(writer), linger);
        }
        None => {
            drop(ctrl_tx);
            finish_writer(writer).await;
        }
    }
}

/// Why the frame loop stopped waiting for a frame.
enum Wake<T> {
    Frame(T),
    Close(Control),
}

/// Handles messages until the connection should close. Returns the close to send, or
/// `None` when the peer closed (the echo is already queued) or the socket is gone.
async fn serve(
    rd: &mut WebSocketRead<ReadHalf<Io>>,
    session: &Session<Bytes>,
    ctrl: &mpsc::Sender<Control>,
    st: &FwsState,
) -> Option<Control> {
    if session.welcome().await.is_err() {
        return None;
    }
    let obligated_tx = ctrl.clone();
    let mut obligated = move |mut frame: Frame<'_>| {
        // An unmasked frame is refused by the frame loop; it is owed nothing.
        let masked = is_masked(&mut frame);
        let c = match frame.opcode {
            _ if !masked => None,
            OpCode::Pong => Some(Control::Pong(Bytes::copy_from_slice(&frame.payload))),
            // fastwebsockets echoes a close without checking its length.
            OpCode::Close if frame.payload.len() > MAX_CONTROL_PAYLOAD => {
                Some(Control::close(1002, "control frame over 125 bytes"))
            }
            OpCode::Close => Some(Control::Close {
                code: frame
                    .payload
                    .get(..2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]])),
                reason: "",
                drain: true,
            }),
            _ => None,
        };
        let tx = obligated_tx.clone();
        async move {
            if let Some(c) = c {
                let _ = tx.send(c).await;
            }
            Ok::<(), Infallible>(())
        }
    };
    let mut idle = IdleTimer::new(st.idle);
    let mut messages = Assembler::new(st.max);
    loop {
        // read_frame is not cancel-safe: keep the one read alive across timer ticks.
        let wake = {
            let read = rd.read_frame(&mut obligated);
            tokio::pin!(read);
            loop {
                tokio::select! {
                    r = &mut read => break Wake::Frame(r),
                    _ = st.conns.stop.cancelled() => break Wake::Close(Control::close(1001, "server shutting down")),
                    _ = session.kicked().cancelled() => break Wake::Close(Control::slow_consumer()),
                    k = idle.next() => match k {
                        Keepalive::Expired => break Wake::Close(Control::close(1001, "idle timeout")),
                        Keepalive::Ping => {
                            let _ = ctrl.try_send(Control::Ping);
                        }
                    },
                }
            }
        };
        let mut frame = match wake {
            Wake::Close(c) => return Some(c),
            Wake::Frame(Ok(frame)) => frame,
            Wake::Frame(Err(e)) => return refusal(close_for(e)),
        };
        idle.seen();
        if !is_masked(&mut frame) {
            return refusal(Some(UNMASKED));
        }
        let (fin, opcode) = (frame.fin, frame.opcode);
        match opcode {
            OpCode::Close => return None,
            OpCode::Ping | OpCode::Pong => {
                if frame.payload.len() > MAX_CONTROL_PAYLOAD {
                    return refusal(Some((1002, "control frame over 125 bytes")));
                }
                continue;
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {}
        }
        let payload = match frame.payload {
            Payload::Bytes(b) => b,
            other => BytesMut::from(&other[..]),
        };
        let done = match messages.push(fin, opcode, payload) {
            Step::Pending => continue,
            Step::Refuse(r) => return refusal(Some(r)),
            Step::Message(OpCode::Text, text) => session.handle(&text).await,
            Step::Message(_, _) => session.refuse(BINARY_REFUSED).await,
        };
        if done.is_err() {
            return None;
        }
    }
}

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// The close for an unmasked client frame (RFC 6455 §5.1).
const UNMASKED: Refusal = (1002, "unmasked client frame");

/// Whether a received frame carried a mask. fastwebsockets keeps the key private but
/// writes it into the header `fmt_head` formats (mask bit 0x80 of the second byte).
fn is_masked(frame: &mut Frame<'_>) -> bool {
    let mut head = [0u8; MAX_HEAD + 4];
    frame.fmt_head(&mut head);
    head[1] & 0x80 != 0
}

fn refusal(r: Option<Refusal>) -> Option<Control> {
    r.map(|(code, reason)| Control::close(code, reason))
}

/// The close code and reason for a read error, or `None` when there is nobody left to
/// tell (the connection is gone or already closed): a frame over the limit 1009, invalid
/// UTF-8 (a single-frame text or a close reason) 1007, any other protocol violation
/// (reserved bits or opcodes, fragmented control frames, pings over 125 bytes, bad close
/// frames) 1002.
fn close_for(e: WebSocketError) -> Option<Refusal> {
    match e {
        WebSocketError::FrameTooLarge => Some((1009, "message too big")),
        WebSocketError::InvalidUTF8 => Some((1007, "invalid UTF-8")),
        WebSocketError::UnexpectedEOF
        | WebSocketError::ConnectionClosed
        | WebSocketError::IoError(_)
        | WebSocketError::SendError(_) => None,
        other => {
            tracing::debug!("ws-fastwebsockets connection: {other}");
            Some((1002, "protocol error"))
        }
    }
}

/// The write half of a fastwebsockets connection: frames (fastwebsockets' header, the
/// payload unmasked) are encoded into one buffer and written per batch.
pub(crate) struct FwsSink<W>(pub(crate) BatchBuf<W>);

/// Largest frame header a server writes: 2 bytes + a 64-bit length (no mask).
const MAX_HEAD: usize = 10;

impl<W: tokio::io::AsyncWrite + Unpin + Send> FwsSink<W> {
    fn encode(&mut self, mut frame: Frame<'_>) {
        let mut head = [0u8; MAX_HEAD];
        let n = frame.fmt_head(&mut head);
        let buf = self.0.buf();
        buf.reserve(n + frame.payload.len());
        buf.extend_from_slice(&head[..n]);
        buf.extend_from_slice(&frame.payload);
    }
}

impl<W: tokio::io::AsyncWrite + Unpin + Send> FrameSink<Bytes> for FwsSink<W> {
    async fn feed(&mut self, frame: Bytes) -> Result<(), SinkError> {
        self.encode(Frame::text(Payload::Borrowed(&frame)));
        Ok(())
    }

    fn pending(&self) -> usize {
        self.0.pending()
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.0.write_out().await?)
    }

    async fn control(&mut self, c: Control) -> Result<(), SinkError> {
        let frame = match &c {
            Control::Ping => Frame::new(true, OpCode::Ping, None, Payload::Borrowed(&[])),
            Control::Pong(p) => Frame::pong(Payload::Borrowed(p)),
            Control::Close {
                code: Some(code),
                reason,
                ..
            } => Frame::close(*code, reason.as_bytes()),
            Control::Close { code: None, .. } => Frame::close_raw(Payload::Borrowed(&[])),
        };
        self.encode(frame);
        Ok(self.0.write_out().await?)
    }
}
