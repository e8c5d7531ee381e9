//! The `tcp` floor target: length-prefixed JSON over plain TCP.
//!
//! Same hub and request handling as the WebSocket targets; only the framing differs
//! (`wire::tcp::codec`: 4-byte big-endian length + JSON). An over-limit frame closes the
//! connection (there are no close codes on TCP); invalid UTF-8 is a malformed request and
//! gets an error reply. There is no REST here (TCP is not HTTP) and no idle timeout: a
//! TCP client has no ping to prove it is alive while it only listens. Shutdown waits at
//! most `shutdown_timeout` for connections to close; accept failures are logged at most
//! once a second.

use std::future::Future;
use std::sync::Arc;

use bytes::{BufMut, Bytes};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wsbench_wire::tcp::codec;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::hub::{HubStats, RoomHub};
use crate::session::{CLOSE_GRACE, CONTROL_QUEUE, Control, Session};
use crate::writer::{BatchBuf, FrameSink, SinkError, finish_writer, pump};

/// Serves the `tcp` target on `listener` until `shutdown` resolves, then closes every
/// connection (after flushing what is queued) and returns.
pub(crate) async fn run(
    listener: TcpListener,
    cfg: ServerConfig,
    stats: Arc<HubStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let hub = Arc::new(RoomHub::<Bytes>::new(&cfg, stats));
    if let Some(adapter) = &cfg.adapter {
        crate::cluster::join(&hub, adapter).await?;
    }
    let limit = Arc::new(Semaphore::new(cfg.max_connections));
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut accept_errors = crate::http_server::AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    cfg.faults.accepted();
                    stream
                }
                Err(e) => {
                    // Per-connection failures (EMFILE, ECONNABORTED, …): back off briefly,
                    // logging at most once a second.
                    accept_errors.failed("tcp", &e).await;
                    continue;
                }
            },
        };
        // Over the limit: refuse by closing at once.
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            continue;
        };
        let conn = connection(
            stream,
            hub.clone(),
            cfg.max_message_bytes,
            stop.clone(),
            permit,
        );
        tracker.spawn(conn);
    }
    drop(listener);
    stop.cancel();
    tracker.close();
    // Every connection closes within its close grace; the deadline still bounds the whole.
    if tokio::time::timeout(cfg.shutdown_timeout, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "tcp target: connections still open {:?} after shutdown; dropping them",
            cfg.shutdown_timeout
        );
    }
    Ok(())
}

async fn connection(
    stream: TcpStream,
    hub: Arc<RoomHub<Bytes>>,
    max: usize,
    stop: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut frames = FramedRead::new(rd, codec(max));
    let sink = TcpSink(BatchBuf::new(wr));
    let (session, rx) = Session::open(hub);
    let (ctrl_tx, ctrl_rx) = mpsc::channel(CONTROL_QUEUE);
    let writer = tokio::spawn(pump(rx, ctrl_rx, sink));

    let drain = serve(&mut frames, &session, &stop).await;
    drop(session);
    let _ = ctrl_tx.try_send(Control::Close {
        code: None,
        reason: "",
        drain,
    });
    drop(ctrl_tx);
    // Read (and discard) what the client still sends until it closes too, so closing with
    // unread input does not turn into a reset that could destroy replies in flight.
    let rest = frames.into_inner();
    tokio::join!(finish_writer(writer), linger(rest));
}

/// Reads and handles frames until the connection should close; returns whether queued
/// frames should still be written first (not for a slow consumer, which is not reading).
async fn serve(
    frames: &mut FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
    session: &Session<Bytes>,
    stop: &CancellationToken,
) -> bool {
    if session.welcome().await.is_err() {
        return false;
    }
    loop {
        tokio::select! {
            _ = stop.cancelled() => return true,
            _ = session.kicked().cancelled() => return false,
            frame = frames.next() => match frame {
                Some(Ok(frame)) => {
                    if session.handle(&frame).await.is_err() {
                        return false;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!("tcp connection {}: closing: {e}", session.id());
                    return true;
                }
                None => return true,
            },
        }
    }
}

async fn linger(mut rd: OwnedReadHalf) {
    let mut scratch = vec![0u8; 8192];
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Ok(n) = rd.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// The write half of a tcp connection: frames are encoded (4-byte big-endian length +
/// JSON, as `wire::tcp::codec`) into one buffer and written per batch. Replies may be a
/// little longer than the request they answer: no limit on the way out beyond the 4-byte
/// length field.
pub(crate) struct TcpSink(pub(crate) BatchBuf<OwnedWriteHalf>);

impl FrameSink<Bytes> for TcpSink {
    async fn feed(&mut self, frame: Bytes) -> Result<(), SinkError> {
        let len = u32::try_from(frame.len()).map_err(|_| {
            format!(
                "tcp frame of {} bytes exceeds the 4-byte length",
                frame.len()
            )
        })?;
        let buf = self.0.buf();
        buf.reserve(4 + frame.len());
        buf.put_u32(len);
        buf.extend_from_slice(&frame);
        Ok(())
    }

    fn pending(&self) -> usize {
        self.0.pending()
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.0.write_out().await?)
    }

    async fn control(&mut self, c: Control) -> Result<(), SinkError> {
        match c {
            // No pings on TCP; a close is a FIN after what is buffered.
            Control::Ping | Control::Pong(_) => Ok(()),
            Control::Close { .. } => {
                self.0.write_out().await?;
                Ok(self.0.get_mut().shutdown().await?)
            }
        }
    }
}
