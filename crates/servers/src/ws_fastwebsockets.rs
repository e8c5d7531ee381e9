//! The `ws-fastwebsockets` target: axum/hyper 1 upgrade + fastwebsockets frames + the REST routes.
//!
//! fastwebsockets checks sizes per frame only and its split read half does not reassemble
//! fragments, so this module does: continuation frames are collected up to a TOTAL of
//! `max_message_bytes` (over it: close 1009), a reassembled text message must be UTF-8
//! (else 1007; fastwebsockets checks single-frame texts itself), and a continuation out of
//! place is 1002. Single frames up to twice the limit are read whole before being refused,
//! so the stream stays in sync and the close handshake completes.
//!
//! Pongs and close replies that fastwebsockets owes the peer (auto-pong, auto-close) go to
//! the connection's one writer task as control frames. Server frames are unmasked text
//! frames borrowed from the hub's shared `Bytes` (no copy); fastwebsockets writes each with
//! its own syscall.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use fastwebsockets::upgrade::IncomingUpgrade;
use fastwebsockets::{
    Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketRead, WebSocketWrite,
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::hub::{HubStats, RoomHub};
use crate::session::{
    CLOSE_GRACE, CONTROL_QUEUE, Control, FrameSink, IdleTimer, Keepalive, Session, SinkError,
    finish_writer, pump,
};
use crate::ws_tungstenite::{
    Admission, BINARY_REFUSED, HttpConns, close, serve_http, slow_consumer_close,
};

type Io = TokioIo<Upgraded>;

/// Serves the `ws-fastwebsockets` target (`/ws` + REST) until `shutdown` resolves; then
/// open WebSockets get close 1001 after their queued frames, and the call returns.
pub async fn run(
    listener: TcpListener,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    run_with_stats(listener, cfg, Arc::default(), shutdown).await
}

/// [`run`], counting hub deliveries and drops into `stats`.
pub async fn run_with_stats(
    listener: TcpListener,
    cfg: ServerConfig,
    stats: Arc<HubStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let hub = Arc::new(RoomHub::<Bytes>::new(&cfg, stats));
    let conns = HttpConns::new(cfg.max_connections);
    let state = Arc::new(FwsState {
        hub: hub.clone(),
        conns: conns.clone(),
        max: cfg.max_message_bytes,
        idle: cfg.idle_timeout,
    });
    let ws = Router::new().route("/ws", get(upgrade)).with_state(state);
    serve_http(listener, &cfg, hub, ws, conns, shutdown).await
}

struct FwsState {
    hub: Arc<RoomHub<Bytes>>,
    conns: HttpConns,
    /// `cfg.max_message_bytes`: the cap on a reassembled message.
    max: usize,
    /// `cfg.idle_timeout`.
    idle: Duration,
}

async fn upgrade(State(st): State<Arc<FwsState>>, ws: IncomingUpgrade) -> Response {
    let Some(admission) = st.conns.admit() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "connection limit reached").into_response();
    };
    let (response, upgraded) = match ws.upgrade() {
        Ok(pair) => pair,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    tokio::spawn(async move {
        match upgraded.await {
            Ok(ws) => connection(ws, st, admission).await,
            Err(e) => tracing::debug!("ws-fastwebsockets: upgrade failed: {e}"),
        }
    });
    response.into_response()
}

async fn connection(mut ws: WebSocket<Io>, st: Arc<FwsState>, _admission: Admission) {
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    // fastwebsockets refuses a frame whose length is >= this, at its header.
    ws.set_max_message_size(st.max.saturating_mul(2).saturating_add(1));
    let (mut rd, wr) = ws.split(tokio::io::split);
    let (session, rx) = Session::open(st.hub.clone());
    let (ctrl_tx, ctrl_rx) = mpsc::channel(CONTROL_QUEUE);
    let writer = tokio::spawn(pump(rx, ctrl_rx, FwsSink(wr)));
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
    let mut obligated = move |frame: Frame<'_>| {
        let c = match frame.opcode {
            OpCode::Pong => Some(Control::Pong(Bytes::copy_from_slice(&frame.payload))),
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
    // A fragmented message being collected: its opcode and bytes so far.
    let mut partial: Option<(OpCode, BytesMut)> = None;
    loop {
        // read_frame is not cancel-safe: keep the one read alive across timer ticks.
        let wake = {
            let read = rd.read_frame(&mut obligated);
            tokio::pin!(read);
            loop {
                tokio::select! {
                    r = &mut read => break Wake::Frame(r),
                    _ = st.conns.stop.cancelled() => break Wake::Close(close(1001, "server shutting down")),
                    _ = session.kicked().cancelled() => break Wake::Close(slow_consumer_close()),
                    k = idle.next() => match k {
                        Keepalive::Expired => break Wake::Close(close(1001, "idle timeout")),
                        Keepalive::Ping => {
                            let _ = ctrl.try_send(Control::Ping);
                        }
                    },
                }
            }
        };
        let frame = match wake {
            Wake::Close(c) => return Some(c),
            Wake::Frame(Ok(frame)) => frame,
            Wake::Frame(Err(e)) => return close_for(e),
        };
        idle.seen();
        let (fin, opcode) = (frame.fin, frame.opcode);
        let payload = match frame.payload {
            Payload::Bytes(b) => b,
            other => BytesMut::from(&other[..]),
        };
        let message = match opcode {
            OpCode::Text | OpCode::Binary => {
                if partial.is_some() {
                    return Some(close(1002, "expected a continuation frame"));
                }
                if payload.len() > st.max {
                    return Some(close(1009, "message too big"));
                }
                if !fin {
                    partial = Some((opcode, payload));
                    continue;
                }
                // fastwebsockets has checked a single text frame's UTF-8.
                (opcode, payload, false)
            }
            OpCode::Continuation => {
                let Some((_, buf)) = partial.as_mut() else {
                    return Some(close(1002, "unexpected continuation frame"));
                };
                if buf.len() + payload.len() > st.max {
                    return Some(close(1009, "message too big"));
                }
                buf.extend_from_slice(&payload);
                if !fin {
                    continue;
                }
                let Some((op, buf)) = partial.take() else {
                    continue;
                };
                (op, buf, true)
            }
            OpCode::Close => return None,
            OpCode::Ping | OpCode::Pong => continue,
        };
        let done = match message {
            (OpCode::Text, text, check_utf8) => {
                if check_utf8 && std::str::from_utf8(&text).is_err() {
                    return Some(close(1007, "invalid UTF-8"));
                }
                session.handle(&text).await
            }
            _ => session.refuse(BINARY_REFUSED).await,
        };
        if done.is_err() {
            return None;
        }
    }
}

fn close_for(e: WebSocketError) -> Option<Control> {
    match e {
        WebSocketError::FrameTooLarge => Some(close(1009, "message too big")),
        WebSocketError::InvalidUTF8 => Some(close(1007, "invalid UTF-8")),
        WebSocketError::UnexpectedEOF
        | WebSocketError::ConnectionClosed
        | WebSocketError::IoError(_)
        | WebSocketError::SendError(_) => None,
        other => {
            tracing::debug!("ws-fastwebsockets connection: {other}");
            Some(close(1002, "protocol error"))
        }
    }
}

/// The write half of a fastwebsockets connection.
struct FwsSink(WebSocketWrite<WriteHalf<Io>>);

impl FrameSink<Bytes> for FwsSink {
    async fn feed(&mut self, frame: Bytes) -> Result<(), SinkError> {
        Ok(self
            .0
            .write_frame(Frame::text(Payload::Borrowed(&frame)))
            .await?)
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.0.flush().await?)
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
        self.0.write_frame(frame).await?;
        Ok(self.0.flush().await?)
    }
}
