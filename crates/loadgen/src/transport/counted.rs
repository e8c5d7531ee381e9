//! The byte-counting TCP stream every transport connects over, so `bytes()` reports what
//! really crossed the socket, handshakes and protocol chatter included. It is also where
//! receive times come from: the socket has `SO_TIMESTAMPNS` on, every read is a `recvmsg`
//! (through tokio's readiness API, `AsyncFd`), and the kernel's stamp of the last read is
//! kept in an [`RxCell`] (see `rxstamp`). A read that fills less than the buffer clears the
//! readiness it consumed (as tokio's own `TcpStream` does), so a frame costs one `recvmsg`,
//! not a second one that only finds the socket empty. A frame decoded from the read buffer takes the stamp of the
//! last read before it was returned: the read that completed it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
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
    /// CORS preflights (`OPTIONS`) among them.
    preflights: AtomicU64,
}

impl Counters {
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_preflight(&self) {
        self.preflights.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn preflights(&self) -> u64 {
        self.preflights.load(Ordering::Relaxed)
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

/// A TCP stream that adds every byte read or written to its [`Counters`] and keeps the
/// kernel's receive stamp of its last read. The socket sits in an [`AsyncFd`] rather than a
/// tokio `TcpStream` because reads are `recvmsg` calls of our own, and only `AsyncFd`'s
/// readiness guard lets such a read clear the readiness it used (race-free, by tick).
#[derive(Debug)]
pub(crate) struct CountedStream {
    inner: AsyncFd<std::net::TcpStream>,
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
    let stream = TcpStream::connect(addr).await.map_err(connect_err)?;
    stream.set_nodelay(true).map_err(connect_err)?;
    enable_stamps(&stream).map_err(connect_err)?;
    // into_std keeps the socket non-blocking
    let std_stream = stream.into_std().map_err(connect_err)?;
    // SAFETY: a std TcpStream owns its descriptor, keeps it open until dropped and always
    // returns the same one from as_raw_fd; the AsyncFd owns the stream from here on.
    let inner =
        unsafe { AsyncFd::register(std_stream) }.map_err(|e| connect_err(io::Error::from(e)))?;
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

/// One read into `unfilled`: `recvmsg` with the kernel's stamp.
#[cfg(target_os = "linux")]
fn read_once(
    s: &std::net::TcpStream,
    unfilled: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<(usize, Option<RxStamp>)> {
    use std::os::fd::AsRawFd;
    super::rxstamp::recv_stamped(s.as_raw_fd(), unfilled)
}

/// One plain read: this platform gives no stamps.
#[cfg(not(target_os = "linux"))]
fn read_once(
    s: &std::net::TcpStream,
    unfilled: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<(usize, Option<RxStamp>)> {
    use std::io::Read;
    for b in unfilled.iter_mut() {
        b.write(0);
    }
    // SAFETY: every byte was just initialised.
    let init = unsafe { &mut *(unfilled as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) };
    let mut s = s;
    Ok((s.read(init)?, None))
}

impl CountedStream {
    /// One read when the socket is readable; records the read's stamp. A short read clears
    /// the readiness it used: the socket is drained, and the next poll waits for the edge.
    fn poll_read_stamped(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        let len = buf.remaining();
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        loop {
            let mut guard = std::task::ready!(self.inner.poll_read_ready(cx))?;
            // SAFETY: the read only writes initialised bytes into the unfilled part, and
            // exactly `n` of them are marked initialised below.
            let unfilled = unsafe { buf.unfilled_mut() };
            match guard.try_io(|s| read_once(s.get_ref(), unfilled)) {
                Ok(Ok((n, stamp))) => {
                    if n > 0 && n < len {
                        guard.clear_ready();
                    }
                    // SAFETY: the kernel wrote `n` bytes at the start of `unfilled`.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    if n > 0 {
                        self.rx.set(stamp);
                    }
                    return Poll::Ready(Ok(n));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // readiness was stale; try_io cleared it, so the next poll waits
                Err(_would_block) => continue,
            }
        }
    }

    /// One write (or a vectored one) when the socket is writable.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        write: impl Fn(&std::net::TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = std::task::ready!(self.inner.poll_write_ready(cx))?;
            match guard.try_io(|s| write(s.get_ref())) {
                Ok(res) => {
                    if let Ok(n) = res {
                        self.counters.out.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    return Poll::Ready(res);
                }
                Err(_would_block) => continue,
            }
        }
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
        use std::io::Write;
        self.get_mut().poll_write_with(cx, |mut s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        use std::io::Write;
        self.get_mut()
            .poll_write_with(cx, |mut s| s.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // writes go straight to the socket: nothing is buffered here
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.get_ref().shutdown(std::net::Shutdown::Write))
    }
}
