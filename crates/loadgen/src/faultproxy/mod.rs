//! The fault proxy (`[network]`, scenario `bad-network`): a user-space TCP proxy on
//! 127.0.0.1 between the load generator's clients and the server, because the kernel here
//! has no netem. Each accepted connection gets its own connection to the server and two
//! pumps ([`pipe`]), one per direction, that hold every chunk of bytes for the configured
//! delay plus jitter, pace it to the bandwidth cap, and wait out the proxy's stalls. Every
//! `reset_every` the oldest open connection is reset (RST to both ends). Stalls and resets
//! run from [`FaultProxy::arm`] on (a row arms the proxy when its clients are connected, so
//! a reset never fails the connect phase); delay, jitter and the cap apply from the start.
//!
//! The proxy runs on a thread of its own (a current-thread runtime), so its timers do not
//! share the engine's lanes with the clients. Latency stays exactly accounted: clients stamp
//! a message before it reaches the proxy, and take their receive time from the kernel stamp
//! of their own socket, after the proxy.

mod pipe;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wsbench_scenario::network::NetworkFaults;

/// The proxy's accept-queue length (the kernel caps it at `net.core.somaxconn`).
const PROXY_BACKLOG: u32 = 4096;

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyCounts {
    /// Client connections accepted.
    pub connections: u64,
    /// Connections reset on purpose (`reset_every`).
    pub resets: u64,
    /// Stalls begun (`stall_every_s`).
    pub stalls: u64,
}

/// Counters shared with the proxy's thread.
#[derive(Debug, Default)]
struct Shared {
    connections: AtomicU64,
    resets: AtomicU64,
    stalls: AtomicU64,
    /// When the latest stall began.
    last_stall: Mutex<Option<Instant>>,
    /// Open connections, oldest first: (id, its reset switch).
    open: Mutex<VecDeque<(u64, CancellationToken)>>,
}

/// A running proxy; stopped (and its thread joined) on drop.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stalled: watch::Receiver<bool>,
    armed: Arc<watch::Sender<bool>>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `upstream` with `faults`;
    /// `seed` makes the jitter reproducible.
    pub fn start(
        upstream: SocketAddr,
        faults: NetworkFaults,
        seed: u64,
    ) -> std::io::Result<FaultProxy> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // a deep accept queue (as `wsbench serve` has): a row's clients connect at once, and
        // std's 128 would drop handshakes beyond it, read as 1 s connect times
        let listener = {
            let _in_rt = rt.enter();
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            sock.listen(PROXY_BACKLOG)?
        };
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (stall_tx, stalled) = watch::channel(false);
        let stop = CancellationToken::new();
        let armed = Arc::new(watch::channel(false).0);
        let proxy = Proxy {
            armed: armed.subscribe(),
            upstream,
            faults,
            seed,
            shared: shared.clone(),
            stall_tx: Arc::new(stall_tx),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("wsbench-proxy".into())
            .spawn(move || {
                rt.block_on(proxy.serve(listener));
            })?;
        Ok(FaultProxy {
            addr,
            shared,
            stalled,
            armed,
            stop,
            thread: Some(thread),
        })
    }

    /// Starts the stall and reset schedules (the first of each one period from now).
    pub fn arm(&self) {
        self.armed.send_replace(true);
    }

    /// Where clients connect instead of the server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the proxy did so far.
    pub fn counts(&self) -> ProxyCounts {
        ProxyCounts {
            connections: self.shared.connections.load(Ordering::Relaxed),
            resets: self.shared.resets.load(Ordering::Relaxed),
            stalls: self.shared.stalls.load(Ordering::Relaxed),
        }
    }

    /// Whether the proxy is in a stall now, as a watch (tests wait on it).
    pub fn stalled(&self) -> watch::Receiver<bool> {
        self.stalled.clone()
    }

    /// When the latest stall began (`None`: none yet).
    pub fn last_stall_start(&self) -> Option<Instant> {
        *self
            .shared
            .last_stall
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The proxy's side: what its thread runs.
struct Proxy {
    upstream: SocketAddr,
    faults: NetworkFaults,
    seed: u64,
    shared: Arc<Shared>,
    stall_tx: Arc<watch::Sender<bool>>,
    /// True once the row has armed the stalls and resets.
    armed: watch::Receiver<bool>,
    stop: CancellationToken,
}

impl Proxy {
    async fn serve(self, listener: TcpListener) {
        if let Some(stall) = self.faults.stall {
            tokio::spawn(stalls(
                stall,
                self.stall_tx.clone(),
                self.shared.clone(),
                self.armed.clone(),
                self.stop.clone(),
            ));
        }
        if let Some(every) = self.faults.reset_every {
            tokio::spawn(resets(
                every,
                self.shared.clone(),
                self.armed.clone(),
                self.stop.clone(),
            ));
        }
        let mut next_id = 0u64;
        loop {
            let accepted = tokio::select! {
                _ = self.stop.cancelled() => break,
                a = listener.accept() => a,
            };
            let Ok((client, _)) = accepted else {
                // out of fds or similar: the client sees a refused or reset connect
                continue;
            };
            next_id += 1;
            self.shared.connections.fetch_add(1, Ordering::Relaxed);
            let reset = self.stop.child_token();
            lock(&self.shared.open).push_back((next_id, reset.clone()));
            let conn = Conn {
                id: next_id,
                upstream: self.upstream,
                faults: self.faults,
                // each connection, each direction its own jitter stream
                seed: self.seed ^ next_id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                stalled: self.stall_tx.subscribe(),
                shared: self.shared.clone(),
                reset,
            };
            tokio::spawn(conn.run(client));
        }
        // the connections' tasks end with the runtime
    }
}

/// One proxied connection.
struct Conn {
    id: u64,
    upstream: SocketAddr,
    faults: NetworkFaults,
    seed: u64,
    stalled: watch::Receiver<bool>,
    shared: Arc<Shared>,
    /// Cancelled to reset this connection (or the whole proxy's stop).
    reset: CancellationToken,
}

impl Conn {
    async fn run(self, client: TcpStream) {
        let server = tokio::select! {
            _ = self.reset.cancelled() => None,
            s = TcpStream::connect(self.upstream) => s.ok(),
        };
        let Some(server) = server else {
            // the server is not there: the client sees the reset a refused connect would be
            let _ = client.set_zero_linger();
            self.forget();
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let up = pipe::pump(
            &mut cr,
            &mut sw,
            &self.faults,
            self.seed,
            self.stalled.clone(),
        );
        let down = pipe::pump(
            &mut sr,
            &mut cw,
            &self.faults,
            self.seed.rotate_left(17),
            self.stalled.clone(),
        );
        let reset = tokio::select! {
            _ = self.reset.cancelled() => true,
            _ = futures_util::future::join(up, down) => false,
        };
        if reset {
            // SO_LINGER 0: closing sends RST instead of FIN, to both ends; the write halves
            // are forgotten, as dropping one would first shut its side down (a FIN)
            let _ = cr.as_ref().set_zero_linger();
            let _ = sr.as_ref().set_zero_linger();
            cw.forget();
            sw.forget();
        }
        self.forget();
    }

    /// Takes this connection off the list of those a reset may pick.
    fn forget(&self) {
        lock(&self.shared.open).retain(|(id, _)| *id != self.id);
    }
}

/// Every `stall.every`, nothing moves for `stall.length`.
async fn stalls(
    stall: wsbench_scenario::network::Stall,
    tx: Arc<watch::Sender<bool>>,
    shared: Arc<Shared>,
    armed: watch::Receiver<bool>,
    stop: CancellationToken,
) {
    if !wait_armed(armed, &stop).await {
        return;
    }
    let mut next = tokio::time::Instant::now() + stall.every;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        *lock(&shared.last_stall) = Some(Instant::now());
        shared.stalls.fetch_add(1, Ordering::Relaxed);
        tx.send_replace(true);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next + stall.length) => {}
        }
        tx.send_replace(false);
        next += stall.every;
    }
}

/// Every `every`, resets the oldest open connection (none open: nothing to count).
async fn resets(
    every: Duration,
    shared: Arc<Shared>,
    armed: watch::Receiver<bool>,
    stop: CancellationToken,
) {
    if !wait_armed(armed, &stop).await {
        return;
    }
    let mut next = tokio::time::Instant::now() + every;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        next += every;
        let victim = lock(&shared.open).pop_front();
        if let Some((_, switch)) = victim {
            shared.resets.fetch_add(1, Ordering::Relaxed);
            switch.cancel();
        }
    }
}

/// Waits until the proxy is armed; false if it stops first.
async fn wait_armed(mut armed: watch::Receiver<bool>, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        r = armed.wait_for(|a| *a) => r.is_ok(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
