//! The byte-counting TCP stream every transport connects over, so `bytes()` reports what
//! really crossed the socket, handshakes and protocol chatter included.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{ByteCounts, TransportError};

/// Bytes moved by every socket of one logical connection (a polling client has up to three
/// TCP connections; they share one `Counters`). Atomics, not a lock: polling tasks count
/// from their own tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    out: AtomicU64,
    r#in: AtomicU64,
    /// HTTP requests sent (polling and REST clients): what polling costs a server.
    requests: AtomicU64,
}

impl Counters {
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> ByteCounts {
        ByteCounts {
            out: self.out.load(Ordering::Relaxed),
            r#in: self.r#in.load(Ordering::Relaxed),
        }
    }
}

/// A `TcpStream` that adds every byte read or written to its [`Counters`].
#[derive(Debug)]
pub(crate) struct CountedStream {
    inner: TcpStream,
    counters: Arc<Counters>,
}

/// Opens a TCP connection with `TCP_NODELAY` set, counting into `counters`.
pub(crate) async fn dial(
    addr: SocketAddr,
    counters: &Arc<Counters>,
) -> Result<CountedStream, TransportError> {
    let connect_err = |source| TransportError::Connect {
        endpoint: addr.to_string(),
        source,
    };
    let inner = TcpStream::connect(addr).await.map_err(connect_err)?;
    inner.set_nodelay(true).map_err(connect_err)?;
    Ok(CountedStream {
        inner,
        counters: counters.clone(),
    })
}

impl AsyncRead for CountedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            this.counters.r#in.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.counters.out.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            this.counters.out.fetch_add(n as u64, Ordering::Relaxed);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
