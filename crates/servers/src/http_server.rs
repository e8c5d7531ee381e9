//! The HTTP accept loop every HTTP target (`ws-tungstenite`, `ws-fastwebsockets`,
//! `sio-socketioxide`) serves its axum router through, instead of `axum::serve`, which has
//! no timeouts, no connection limit and no shutdown deadline.
//!
//! - **One connection limit for everything.** Each accepted TCP connection takes a slot of
//!   `max_connections` and holds it as long as the socket lives, through an HTTP upgrade
//!   too (the slot rides inside the I/O object, [`CountedIo`]): REST keep-alive
//!   connections, half-sent requests, WebSockets and Engine.IO transports all count.
//!   Over the limit a connection is answered `503` and closed.
//! - **Read timeouts.** hyper's header-read timeout (`http_read_timeout`) runs whenever the
//!   server waits for a request head: a client that sends nothing, sends headers slowly, or
//!   sits idle on a keep-alive connection is closed after it. Request heads are capped at
//!   [`MAX_HEAD_BYTES`] (hyper answers `431` over it). The REST routes bound their body read
//!   by the same timeout (`crate::rest`).
//! - **WebSocket version.** An upgrade that asks for a WebSocket version other than 13 is
//!   answered `426 Upgrade Required` with `Sec-WebSocket-Version: 13` (RFC 6455 §4.4).
//! - **Shutdown with a deadline.** When `shutdown` resolves the listener closes, idle
//!   connections end, in-flight requests may finish, and the target's own `drain` (closing
//!   WebSockets) runs; whatever is still open after `shutdown_timeout` is dropped, so a
//!   half-sent request cannot hold the process up.
//! - **Accept failures** (`EMFILE` at the fd limit, …) back off 10 ms and are logged at most
//!   once a second, with the count of those not logged ([`AcceptErrors`]).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::ServerConfig;

/// Largest request head (request line + headers) read; over it hyper answers 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The reply to a connection over `max_connections`.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
content-length: 25\r\nconnection: close\r\n\r\nconnection limit reached\n";

/// How long a refused connection may take to receive its 503 and close.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// The HTTP limits of one server, from its [`ServerConfig`].
#[derive(Debug, Clone)]
pub(crate) struct HttpLimits {
    /// One slot per open TCP connection.
    pub(crate) slots: Arc<Semaphore>,
    /// Header-read (and keep-alive idle) timeout.
    pub(crate) read_timeout: Duration,
    /// How long shutdown waits for open connections.
    pub(crate) shutdown_timeout: Duration,
    /// Injected faults (`abort_after_accepts` is applied at accept).
    pub(crate) faults: crate::config::Faults,
}

impl HttpLimits {
    pub(crate) fn new(cfg: &ServerConfig) -> Self {
        HttpLimits {
            slots: Arc::new(Semaphore::new(
                cfg.max_connections.min(Semaphore::MAX_PERMITS),
            )),
            read_timeout: cfg.http_read_timeout,
            shutdown_timeout: cfg.shutdown_timeout,
            faults: cfg.faults.clone(),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// connection finish gracefully while `drain` runs (the target closing its WebSockets), and
/// returns once both are done or `shutdown_timeout` has passed, whichever is first.
pub(crate) async fn serve_router(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: impl Future<Output = ()> + Send,
) {
    let mut conns = JoinSet::new();
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut accept_errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    limits.faults.accepted();
                    let _ = tcp.set_nodelay(true);
                    match limits.slots.clone().try_acquire_owned() {
                        Ok(slot) => {
                            let io = CountedIo { tcp, _slot: slot };
                            conns.spawn(connection(io, peer, app.clone(), limits.read_timeout, closing_rx.clone()));
                        }
                        Err(_) => {
                            conns.spawn(refuse(tcp));
                        }
                    }
                }
                Err(e) => accept_errors.failed("http", &e).await,
            },
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let wait_all = async {
        let conns_done = async { while conns.join_next().await.is_some() {} };
        tokio::join!(conns_done, drain);
    };
    if tokio::time::timeout(limits.shutdown_timeout, wait_all)
        .await
        .is_err()
    {
        tracing::warn!(
            "shutdown: connections still open after {:?}; dropping them",
            limits.shutdown_timeout
        );
    }
    conns.abort_all();
}

/// Serves one admitted connection with hyper's HTTP/1 server (upgrades allowed) until the
/// client leaves, the header-read timeout fires, or shutdown ends it gracefully.
async fn connection(
    io: CountedIo,
    peer: SocketAddr,
    app: Router,
    read_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) {
    let inner = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let refused = wrong_websocket_version(&req);
        let call = inner.call(req);
        async move {
            match refused {
                Some(r) => Ok::<_, Infallible>(r),
                None => call.await,
            }
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let conn = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut graceful = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("http connection {peer}: {e}");
                }
                return;
            }
            changed = closing.wait_for(|c| *c), if !graceful => {
                // Either shutdown began or the server is gone: stop after what is in flight.
                let _ = changed;
                graceful = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// `426` for a WebSocket upgrade that does not ask for version 13 (RFC 6455 §4.4).
fn wrong_websocket_version(req: &Request<Incoming>) -> Option<Response<axum::body::Body>> {
    let h = req.headers();
    let upgrade = h
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return None;
    }
    let version = h
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes);
    if version == Some(b"13") {
        return None;
    }
    let mut r = Response::new(axum::body::Body::from(
        "unsupported WebSocket version: this server speaks version 13\n",
    ));
    *r.status_mut() = StatusCode::UPGRADE_REQUIRED;
    r.headers_mut().insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    Some(r)
}

/// Answers a connection over the limit with `503` and closes it (best effort, bounded by
/// [`REFUSAL_WRITE`]). What the client sent is read and discarded until it closes too, so
/// unread input does not turn the close into a reset that destroys the 503 in flight.
async fn refuse(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        tcp.write_all(REFUSAL).await?;
        tcp.shutdown().await?;
        let mut discard = [0u8; 1024];
        while tcp.read(&mut discard).await? > 0 {}
        Ok::<(), io::Error>(())
    })
    .await;
}

/// A TCP connection together with its `max_connections` slot: the slot is released when
/// the socket is dropped, wherever it went (hyper, an upgraded WebSocket, Engine.IO).
pub(crate) struct CountedIo {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for CountedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Accept failures of one listener: each backs off [`AcceptErrors::BACKOFF`]; at most one
/// WARN a second is logged, saying how many were not.
#[derive(Debug, Default)]
pub(crate) struct AcceptErrors {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// Pause after a failed accept (the failure is usually `EMFILE`: let connections close).
    pub(crate) const BACKOFF: Duration = Duration::from_millis(10);
    /// At most one log line per this.
    pub(crate) const LOG_EVERY: Duration = Duration::from_secs(1);

    /// Records a failed accept of the `target` listener, logs it if due, then backs off.
    pub(crate) async fn failed(&mut self, target: &str, e: &io::Error) {
        if self.should_log(Instant::now()) {
            let more = std::mem::take(&mut self.suppressed);
            if more > 0 {
                tracing::warn!("{target} target: accept failed: {e} ({more} more not logged)");
            } else {
                tracing::warn!("{target} target: accept failed: {e}");
            }
        }
        tokio::time::sleep(Self::BACKOFF).await;
    }

    /// Whether a failure at `now` is logged (else it is counted as suppressed).
    fn should_log(&mut self, now: Instant) -> bool {
        match self.last_logged {
            Some(t) if now.duration_since(t) < Self::LOG_EVERY => {
                self.suppressed += 1;
                false
            }
            _ => {
                self.last_logged = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_log_once_a_second() {
        let mut e = AcceptErrors::default();
        let t0 = Instant::now();
        assert!(e.should_log(t0));
        for i in 1..100 {
            assert!(!e.should_log(t0 + Duration::from_millis(i * 10 - 9)));
        }
        assert_eq!(e.suppressed, 99);
        assert!(e.should_log(t0 + Duration::from_secs(1)));
    }
}
