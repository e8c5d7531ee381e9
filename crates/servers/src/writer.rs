//! The write path every raw target shares: [`pump`], the one writer task per connection,
//! and [`BatchBuf`], the buffer the `tcp` and `ws-fastwebsockets` write halves encode into.
//!
//! The policy is the same on every target, and the same as socketioxide's own engine
//! (engineioxide feeds everything queued for a socket into tungstenite and flushes once):
//! the writer takes the first queued frame, then whatever else is already queued, until
//! the queue is empty or [`WRITE_BATCH_BYTES`] are buffered, and then writes and flushes
//! once. A frame that is alone in the queue is written at once: nothing waits for more.
//!
//! How each target buffers: `tcp` and `ws-fastwebsockets` encode frames (length prefix,
//! or fastwebsockets' own frame header) into one [`BatchBuf`] and write it with one
//! `write_all` (fastwebsockets' `write_frame` would make one syscall per frame);
//! `ws-tungstenite` feeds tungstenite, which buffers up to its write buffer (set to the
//! same bound) and writes on flush.

use std::future::Future;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::hub::{OutFrame, Outbound};
use crate::session::{CLOSE_GRACE, Control};

/// Bytes a writer buffers before it writes, even if more is queued: tungstenite's
/// default write buffer, which socketioxide's engine uses and does not let us change.
pub const WRITE_BATCH_BYTES: usize = 128 * 1024;

/// Capacity a [`BatchBuf`] keeps between batches; a larger burst's buffer is released.
const KEEP_CAPACITY: usize = 16 * 1024;

/// Error of a transport's write half.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// The write half of one transport, as the writer loop sees it.
pub trait FrameSink<F>: Send {
    /// Buffers one frame; [`FrameSink::flush`] writes it.
    fn feed(&mut self, frame: F) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Bytes fed since the last flush (the writer stops taking frames at
    /// [`WRITE_BATCH_BYTES`]).
    fn pending(&self) -> usize;
    /// Writes what is buffered and flushes the socket.
    fn flush(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Writes a control frame and flushes.
    fn control(&mut self, c: Control) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// A borrowed sink is a sink (a caller can look at it after [`pump`] returns).
impl<F, S: FrameSink<F>> FrameSink<F> for &mut S {
    fn feed(&mut self, frame: F) -> impl Future<Output = Result<(), SinkError>> + Send {
        (**self).feed(frame)
    }

    fn pending(&self) -> usize {
        (**self).pending()
    }

    fn flush(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        (**self).flush()
    }

    fn control(&mut self, c: Control) -> impl Future<Output = Result<(), SinkError>> + Send {
        (**self).control(c)
    }
}

/// The writer loop of one connection: runs until a `Close` control is written, the
/// control queue closes, or the socket fails. Queued frames keep their order; a frame with
/// a due time (the `delay` fault) is held until then, and so is everything behind it.
/// Each batch is what is queued when the writer gets to it, up to [`WRITE_BATCH_BYTES`],
/// written with one flush.
pub async fn pump<F, S>(
    mut data: mpsc::Receiver<Outbound<F>>,
    mut ctrl: mpsc::Receiver<Control>,
    mut sink: S,
) -> Result<(), SinkError>
where
    F: OutFrame,
    S: FrameSink<F>,
{
    let mut data_open = true;
    loop {
        let first = tokio::select! {
            biased;
            c = ctrl.recv() => match c {
                None => return Ok(()),
                Some(Control::Close { code, reason, drain }) => {
                    if drain {
                        while let Ok(o) = data.try_recv() {
                            write_one(&mut sink, o).await?;
                            if sink.pending() >= WRITE_BATCH_BYTES {
                                sink.flush().await?;
                            }
                        }
                        sink.flush().await?;
                    }
                    return sink.control(Control::Close { code, reason, drain }).await;
                }
                Some(c) => {
                    sink.control(c).await?;
                    continue;
                }
            },
            o = data.recv(), if data_open => match o {
                Some(o) => o,
                None => {
                    data_open = false;
                    continue;
                }
            },
        };
        write_one(&mut sink, first).await?;
        while sink.pending() < WRITE_BATCH_BYTES {
            match data.try_recv() {
                Ok(o) => write_one(&mut sink, o).await?,
                Err(_) => break,
            }
        }
        sink.flush().await?;
    }
}

async fn write_one<F, S: FrameSink<F>>(sink: &mut S, o: Outbound<F>) -> Result<(), SinkError> {
    if let Some(due) = o.due
        && due > tokio::time::Instant::now()
    {
        sink.flush().await?;
        tokio::time::sleep_until(due).await;
    }
    sink.feed(o.frame).await
}

/// Waits for a closing connection's writer, at most [`CLOSE_GRACE`], then gives up on it.
pub async fn finish_writer(writer: tokio::task::JoinHandle<Result<(), SinkError>>) {
    let abort = writer.abort_handle();
    match tokio::time::timeout(CLOSE_GRACE, writer).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::debug!("connection writer failed: {e}"),
        Ok(Err(e)) => tracing::debug!("connection writer task ended abnormally: {e}"),
        Err(_) => {
            tracing::debug!("connection writer did not finish within {CLOSE_GRACE:?}");
            abort.abort();
        }
    }
}

/// A socket's write half with one buffer in front: frames are encoded into
/// [`BatchBuf::buf`] and [`BatchBuf::write_out`] writes them all with one `write_all`.
#[derive(Debug)]
pub struct BatchBuf<W> {
    io: W,
    buf: BytesMut,
    writes: u64,
}

impl<W: AsyncWrite + Unpin + Send> BatchBuf<W> {
    pub fn new(io: W) -> Self {
        BatchBuf {
            io,
            buf: BytesMut::new(),
            writes: 0,
        }
    }

    /// The buffer to encode the next frame into (append only).
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes encoded since the last [`BatchBuf::write_out`].
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// How many batches have been written (one `write_all` each).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Writes everything buffered with one `write_all`, then flushes the socket.
    pub async fn write_out(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.io.write_all(&self.buf).await?;
            self.writes += 1;
            self.buf.clear();
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = BytesMut::new();
            }
        }
        self.io.flush().await
    }

    /// The socket's write half (write out first: buffered bytes are not in it yet).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.io
    }
}

#[cfg(test)]
#[path = "writer/tests.rs"]
mod tests;
