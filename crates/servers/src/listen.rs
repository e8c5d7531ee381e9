//! Listening sockets with a deep accept queue, for `wsbench serve`, the fault proxy and
//! every in-process server the tests start.
//!
//! `TcpListener::bind` (tokio's and std's) asks the kernel for an accept queue of 128. A
//! connect storm larger than that, made while the accept loop is busy (the load generator's
//! lanes run at real-time priority on the same cores), overflows it: the kernel drops the
//! final handshake segments, the clients retransmit after 1 s, 2 s, 4 s, and the run reads
//! seconds-long connect times that are the listener's, not the server's.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Accept-queue length asked of the kernel (capped by `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with [`LISTEN_BACKLOG`] and `SO_REUSEADDR`. Must be called inside a
/// tokio runtime (the listener registers with its reactor).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(LISTEN_BACKLOG)
}

/// [`listen`] on `127.0.0.1:0`: a free loopback port, for tests and in-process helpers.
pub fn loopback() -> io::Result<TcpListener> {
    listen(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// [`listen`] on the first address `addr` (`host:port`) resolves to that accepts the bind.
pub async fn listen_on(addr: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match listen(addr) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("the address resolved to nothing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 300 handshakes complete into the queue while nothing accepts. With a 128-deep queue
    /// the 129th SYN is dropped and retransmitted after the kernel's initial 1 s timeout,
    /// which the 900 ms bound catches (checked by setting the backlog to 128: it fails).
    #[tokio::test]
    async fn more_than_128_handshakes_complete_before_the_first_accept() {
        let listener = loopback().unwrap();
        let addr = listener.local_addr().unwrap();
        let mut conns = Vec::new();
        for _ in 0..300 {
            // each connect returns once the handshake completed into the accept queue
            let c = tokio::time::timeout(
                std::time::Duration::from_millis(900),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            .expect("a handshake waited for a SYN retransmit: the accept queue overflowed")
            .unwrap();
            conns.push(c);
        }
        for _ in 0..300 {
            listener.accept().await.unwrap();
        }
    }
}
