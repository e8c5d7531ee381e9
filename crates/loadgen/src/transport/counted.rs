//! The byte-counting TCP stream every transport connects over, so `bytes()` reports what
//! really crossed the socket, handshakes and protocol chatter included. It is also where
//! receive times come from: the socket has `SO_TIMESTAMPNS` on, every read is a `recvmsg`
//! (through tokio's readiness API), and the kernel's stamp of the last read is kept in an
//! [`RxCell`] (see `rxstamp`). A frame decoded from the read buffer takes the stamp of the
//! last read before it was returned: the read that completed it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::rxstamp::{RxCell, RxStamp};
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

/// A `TcpStream` that adds every byte read or written to its [`Counters`] and keeps the
/// kernel's receive stamp of its last read.
#[derive(Debug)]
pub(crate) struct CountedStream {
    inner: TcpStream,
    counters: Arc<Counters>,
    /// The last read's kernel stamp (shared: hyper's connection task owns HTTP streams).
    rx: Arc<RxCell>,
}

impl CountedStream {
    /// The kernel stamp of the last read (`None`: it carried none).
    pub(crate) fn last_rx(&self) -> Option<RxStamp> {
        self.rx.get()
    }

    /// The cell the last read's stamp is kept in, for a reader that does not own the stream.
    pub(crate) fn rx_cell(&self) -> Arc<RxCell> {
        self.rx.clone()
    }
}

/// Opens a TCP connection with `TCP_NODELAY` and kernel receive stamps on, counting into
/// `counters`.
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
    enable_stamps(&inner).map_err(connect_err)?;
    Ok(CountedStream {
        inner,
        counters: counters.clone(),
        rx: Arc::default(),
    })
}

#[cfg(target_os = "linux")]
fn enable_stamps(s: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    super::rxstamp::enable(s.as_raw_fd())
}

/// No kernel stamps here: reads carry none and deliveries fall back to user time.
#[cfg(not(target_os = "linux"))]
fn enable_stamps(_: &TcpStream) -> io::Result<()> {
    Ok(())
}

impl CountedStream {
    /// One `recvmsg` when the socket is readable; records the read's stamp.
    #[cfg(target_os = "linux")]
    fn poll_read_stamped(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        use tokio::io::Interest;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(0));
        }
        let fd = self.inner.as_raw_fd();
        loop {
            std::task::ready!(self.inner.poll_read_ready(cx))?;
            // SAFETY: recvmsg only writes initialised bytes into the unfilled part, and
            // exactly `n` of them are marked initialised below.
            let unfilled = unsafe { buf.unfilled_mut() };
            match self.inner.try_io(Interest::READABLE, || {
                super::rxstamp::recv_stamped(fd, unfilled)
            }) {
                Ok((n, stamp)) => {
                    // SAFETY: the kernel wrote `n` bytes at the start of `unfilled`.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    if n > 0 {
                        self.rx.set(stamp);
                    }
                    return Poll::Ready(Ok(n));
                }
                // readiness was stale; try_io cleared it, so the next poll waits
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// A plain read: this platform gives no stamps.
    #[cfg(not(target_os = "linux"))]
    fn poll_read_stamped(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        self.rx.set(None);
        Poll::Ready(Ok(buf.filled().len() - before))
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = std::task::ready!(this.poll_read_stamped(cx, buf))?;
        if n > 0 {
            this.counters.r#in.fetch_add(n as u64, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
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
