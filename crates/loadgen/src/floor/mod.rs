//! The floor client (`wsbench floor`): the least a ping-pong client can do, as a reference
//! for what wsbench's own generator costs. One thread, no async runtime, no parse: raw epoll
//! (level-triggered, one `read` per readiness), plain `write`, the same echo request bytes
//! wsbench sends (built once per connection with the same encoders), and replies consumed by
//! framing only (tcp length prefix; WebSocket frame headers). It reports round trips per
//! second and its own thread CPU time per round trip.
//!
//! - [`FloorTarget::parse`]: `tcp` / `ws` plus an address, with clear errors.
//! - [`run`]: connect every client, warm up, measure, return a [`FloorReport`].
//! - `conn`: one connection's handshakes, request bytes and framing.
//! - [`row`]: the floor client beside a row of `wsbench run` (`floor = true`).

mod conn;
pub mod row;

use std::io::{Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use conn::{Dial, FloorConn};

/// No reply on any connection for this long ends the run with an error.
const STALL: Duration = Duration::from_secs(5);

/// The protocol the floor client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorProto {
    /// Length-prefixed JSON (the `tcp` target).
    Tcp,
    /// Raw WebSocket text frames (`ws-*`, `node-ws`).
    Ws,
}

/// Where the floor client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorTarget {
    pub proto: FloorProto,
    pub addr: SocketAddr,
    /// `Host` header (WebSocket).
    pub host: String,
    /// Request path (WebSocket), `/ws` unless the address names one.
    pub path: String,
}

impl FloorTarget {
    /// `tcp HOST:PORT` (or `tcp://HOST:PORT`); `ws HOST:PORT[/PATH]` (or `ws://…`).
    pub fn parse(proto: FloorProto, addr: &str) -> Result<FloorTarget, FloorError> {
        let bad = |why: &str| FloorError::BadAddr(format!("{addr:?}: {why}"));
        let (scheme, want) = match proto {
            FloorProto::Tcp => ("tcp://", "HOST:PORT"),
            FloorProto::Ws => ("ws://", "HOST:PORT[/PATH]"),
        };
        let rest = addr.strip_prefix(scheme).unwrap_or(addr);
        if rest.contains("://") {
            return Err(bad(&format!("expected {want} or {scheme}{want}")));
        }
        let (host, path) = match rest.find('/') {
            Some(i) if proto == FloorProto::Ws => (&rest[..i], &rest[i..]),
            Some(_) => return Err(bad("a tcp address has no path")),
            None => (rest, "/ws"),
        };
        let resolved = host
            .to_socket_addrs()
            .map_err(|e| bad(&format!("expected {want} ({e})")))?
            .next()
            .ok_or_else(|| bad("resolves to no address"))?;
        Ok(FloorTarget {
            proto,
            addr: resolved,
            host: host.to_owned(),
            path: path.to_owned(),
        })
    }

    fn endpoint(&self) -> String {
        match self.proto {
            FloorProto::Tcp => format!("tcp://{}", self.host),
            FloorProto::Ws => format!("ws://{}{}", self.host, self.path),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct FloorConfig {
    pub target: FloorTarget,
    pub clients: u32,
    /// Round trips before this are not counted.
    pub warmup: Duration,
    pub measure: Duration,
    pub payload_bytes: usize,
}

/// What a floor run measured (measure phase only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorReport {
    pub round_trips: u64,
    /// Wall time of the measure phase, s.
    pub measure_s: f64,
    /// CPU time of the floor client's thread during the measure phase, s.
    pub cpu_s: f64,
    /// Round trip of the measure phase's replies, from the request's write to the read
    /// that brought the reply (the clock after `epoll_wait` returned), µs: the independent
    /// reference wsbench's own latency is checked against.
    pub rtt_p50_us: u64,
    pub rtt_p99_us: u64,
}

impl FloorReport {
    pub fn round_trips_per_s(&self) -> f64 {
        self.round_trips as f64 / self.measure_s.max(1e-9)
    }

    pub fn cpu_us_per_round_trip(&self) -> f64 {
        self.cpu_s * 1e6 / (self.round_trips.max(1) as f64)
    }
}

/// Why a floor run failed.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    #[error("bad address {0}")]
    BadAddr(String),
    #[error("connect to {endpoint} failed: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("handshake with {endpoint} failed: {reason}")]
    Handshake { endpoint: String, reason: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("{endpoint}: {what}")]
    Io { endpoint: String, what: String },
}

/// Connects `clients` connections, runs ping-pong on all of them for warmup + measure, and
/// reports the measure phase. `at_edge` is called when the measure phase starts and when it
/// ends (a caller samples the server's CPU there). Blocking: call it from a thread of its
/// own (it pins nothing; it runs where the calling thread may run).
pub fn run(cfg: &FloorConfig, at_edge: &mut dyn FnMut()) -> Result<FloorReport, FloorError> {
    let t = &cfg.target;
    let endpoint = t.endpoint();
    let dial = Dial {
        proto: t.proto,
        addr: t.addr,
        host: &t.host,
        path: &t.path,
        endpoint: &endpoint,
    };
    let mut conns = (0..cfg.clients.max(1))
        .map(|i| FloorConn::open(&dial, i, cfg.payload_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    let fail = |what: String| FloorError::Io {
        endpoint: endpoint.clone(),
        what,
    };
    let ep = Epoll::new().map_err(|e| fail(format!("epoll: {e}")))?;
    for (i, c) in conns.iter().enumerate() {
        ep.add(c.stream.as_raw_fd(), i as u64)
            .map_err(|e| fail(format!("epoll_ctl: {e}")))?;
    }
    for c in &mut conns {
        send(c).map_err(|e| fail(format!("write: {e}")))?;
    }

    let started = Instant::now();
    let measure_start = started + cfg.warmup;
    let measure_end = measure_start + cfg.measure;
    let mut counting = false;
    let mut counted = 0u64;
    let mut cpu_start = 0.0;
    let mut last_reply = started;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut chunk = vec![0u8; 64 << 10];
    let mut rtt = crate::recorder::new_histogram();
    loop {
        let now = Instant::now();
        if !counting && now >= measure_start {
            counting = true;
            at_edge();
            cpu_start = thread_cpu_s();
        }
        if now >= measure_end {
            let cpu_s = thread_cpu_s() - cpu_start;
            at_edge();
            return Ok(FloorReport {
                round_trips: counted,
                measure_s: now.duration_since(measure_start).as_secs_f64(),
                cpu_s,
                rtt_p50_us: crate::recorder::quantile(&rtt, 0.5),
                rtt_p99_us: crate::recorder::quantile(&rtt, 0.99),
            });
        }
        if now.duration_since(last_reply) > STALL {
            return Err(fail(format!("no reply from the server for {STALL:?}")));
        }
        let n = ep
            .wait(&mut events, 100)
            .map_err(|e| fail(format!("epoll_wait: {e}")))?;
        for ev in &events[..n] {
            let c = &mut conns[ev.u64 as usize];
            let sent_at = c.sent_at;
            let replies = read_replies(c, t.proto, &mut chunk).map_err(&fail)?;
            if counting && replies > 0 {
                // one request is outstanding per connection: the first reply answers it
                let _ = rtt.record(crate::recorder::micros(
                    Instant::now().saturating_duration_since(sent_at),
                ));
            }
            if replies > 0 {
                last_reply = now;
                if counting {
                    counted += replies;
                }
            }
        }
    }
}

/// One `read`, then every complete frame; each reply is answered with the next request.
/// Returns the replies consumed. Bytes are copied into the connection's buffer only when a
/// frame is split across reads.
fn read_replies(c: &mut FloorConn, proto: FloorProto, chunk: &mut [u8]) -> Result<u64, String> {
    let n = match (&c.stream).read(chunk) {
        Ok(0) => return Err("connection closed by the server".to_owned()),
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(0),
        Err(e) => return Err(format!("read: {e}")),
    };
    let mut replies = 0;
    if c.rbuf.is_empty() {
        let used = consume(&chunk[..n], proto, &mut replies)?;
        c.rbuf.extend_from_slice(&chunk[used..n]);
    } else {
        c.rbuf.extend_from_slice(&chunk[..n]);
        let used = consume(&c.rbuf, proto, &mut replies)?;
        c.rbuf.drain(..used);
    }
    for _ in 0..replies {
        send(c).map_err(|e| format!("write: {e}"))?;
    }
    Ok(replies)
}

/// Skips every complete frame at the start of `buf`, counting replies; returns the bytes used.
fn consume(buf: &[u8], proto: FloorProto, replies: &mut u64) -> Result<usize, String> {
    let mut used = 0;
    while let Some((len, reply)) = conn::frame_at(&buf[used..], proto)? {
        used += len;
        *replies += u64::from(reply);
    }
    Ok(used)
}

/// Writes the connection's request whole (a request fits the empty send buffer; a short
/// write waits for writability).
fn send(c: &mut FloorConn) -> std::io::Result<()> {
    c.sent_at = Instant::now();
    let mut off = 0;
    while off < c.request.len() {
        match (&c.stream).write(&c.request[off..]) {
            Ok(n) => off += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait_writable(&c.stream)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn wait_writable(s: &std::net::TcpStream) -> std::io::Result<()> {
    let mut p = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut p, 1, STALL.as_millis() as i32) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A level-triggered epoll instance.
struct Epoll(std::os::fd::OwnedFd);

impl Epoll {
    fn new() -> std::io::Result<Epoll> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Epoll(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }))
    }

    fn add(&self, fd: i32, token: u64) -> std::io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: valid epoll fd, socket fd and event.
        if unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> std::io::Result<usize> {
        // SAFETY: the buffer holds events.len() events.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            };
        }
        Ok(n as usize)
    }
}

/// CPU time of the calling thread, s.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_what_is_wrong() {
        let t = FloorTarget::parse(FloorProto::Ws, "127.0.0.1:9000").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (9000, "/ws"));
        let t = FloorTarget::parse(FloorProto::Ws, "ws://localhost:9000/socket").unwrap();
        assert_eq!(
            (t.host.as_str(), t.path.as_str()),
            ("localhost:9000", "/socket")
        );
        let t = FloorTarget::parse(FloorProto::Tcp, "tcp://127.0.0.1:7").unwrap();
        assert_eq!(t.addr.port(), 7);
        for (proto, bad, says) in [
            (FloorProto::Tcp, "127.0.0.1", "HOST:PORT"),
            (FloorProto::Tcp, "127.0.0.1:7/x", "no path"),
            (FloorProto::Ws, "http://127.0.0.1:7", "ws://HOST:PORT"),
            (FloorProto::Tcp, "127.0.0.1:99999", "HOST:PORT"),
        ] {
            let e = FloorTarget::parse(proto, bad).unwrap_err().to_string();
            assert!(
                e.starts_with("bad address") && e.contains(says),
                "{bad}: {e}"
            );
        }
    }
}
