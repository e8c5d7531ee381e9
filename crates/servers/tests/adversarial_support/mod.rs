//! Harness of the adversarial suite (`tests/adversarial_*.rs`): any Rust target on
//! 127.0.0.1:0 ([`Target`], [`Running`]), a well-behaved client that keeps asking for
//! echoes throughout an attack and must get every reply promptly ([`Probe`]), the
//! process's RSS before and after ([`Rss`]), and hand-made WebSocket frames and handshakes
//! for what no client library will send ([`ws`]).
//!
//! Every case asserts the four things docs/hardening.md promises: no panic (a server task
//! that panics fails [`Running::stop`]), RSS growth under a stated bound, prompt replies to
//! the probe (each within [`PROMPT`], a generous bound, not a benchmark) and the exact
//! close code or error. The server runs in the test process, so RSS is the process's:
//! the cases of one binary take [`serial`] so no other case's memory is counted.

#![allow(dead_code)]

pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::{MutexGuard, oneshot, watch};
use tokio::task::JoinHandle;
use wsbench_servers::RustServer;
use wsbench_servers::config::ServerConfig;
use wsbench_servers::error::ServerError;
use wsbench_servers::hub::HubStats;

use crate::common::{Raw, RawClient};
use crate::sio_rest_common::sio_client::{SioClient, Transport};

/// The longest a well-behaved client may wait for any reply during an attack.
pub const PROMPT: Duration = Duration::from_secs(2);
/// Upper bound of any single wait in the suite.
pub const WAIT: Duration = Duration::from_secs(10);

/// Every Rust target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Tcp,
    Tungstenite,
    Fastwebsockets,
    Sio,
}

impl Target {
    pub const ALL: [Target; 4] = [
        Target::Tcp,
        Target::Tungstenite,
        Target::Fastwebsockets,
        Target::Sio,
    ];
    /// The targets that speak HTTP (and WebSocket).
    pub const HTTP: [Target; 3] = [Target::Tungstenite, Target::Fastwebsockets, Target::Sio];

    pub fn server(self) -> RustServer {
        match self {
            Target::Tcp => RustServer::Tcp,
            Target::Tungstenite => RustServer::WsTungstenite,
            Target::Fastwebsockets => RustServer::WsFastwebsockets,
            Target::Sio => RustServer::SioSocketioxide,
        }
    }

    /// The raw target this is, if it is one.
    pub fn raw(self) -> Option<Raw> {
        match self {
            Target::Tcp => Some(Raw::Tcp),
            Target::Tungstenite => Some(Raw::Tungstenite),
            Target::Fastwebsockets => Some(Raw::Fastwebsockets),
            Target::Sio => None,
        }
    }

    /// The WebSocket path a client upgrades on.
    pub fn ws_path(self) -> &'static str {
        match self {
            Target::Sio => "/socket.io/?EIO=4&transport=websocket",
            _ => "/ws",
        }
    }
}

/// Runs `$name(target)` once per listed target, each as its own test.
#[allow(unused_macros)]
macro_rules! adversarial {
    ($name:ident: $($t:ident),+) => {
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[allow(non_snake_case)]
                async fn $t() {
                    super::$name(crate::adversarial_support::Target::$t).await
                }
            )+
        }
    };
}

/// Cases of one test binary run one at a time (RSS is the process's).
pub async fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// Config of the suite: production defaults with short HTTP timeouts so the cases that
/// wait for one stay quick.
pub fn config() -> ServerConfig {
    ServerConfig {
        http_read_timeout: Duration::from_secs(1),
        shutdown_timeout: Duration::from_secs(2),
        sio_ping_interval: Duration::from_secs(2),
        sio_ping_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    }
}

/// A target serving in this process.
pub struct Running {
    pub target: Target,
    pub addr: SocketAddr,
    /// The hub's counters (raw targets).
    pub stats: Arc<HubStats>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Running {
    pub async fn start(target: Target, cfg: ServerConfig) -> Running {
        let listener = wsbench_servers::listen::loopback().expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let stats = Arc::new(HubStats::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(wsbench_servers::serve(
            target.server(),
            listener,
            cfg,
            stats.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            target,
            addr,
            stats,
            stop: Some(stop),
            task,
        }
    }

    /// Signals shutdown and returns what `serve` returned; panics if the server task
    /// panicked or did not return within `within`.
    pub async fn stop_within(mut self, within: Duration) -> Result<(), ServerError> {
        let _ = self.stop.take().expect("stopped once").send(());
        tokio::time::timeout(within, &mut self.task)
            .await
            .unwrap_or_else(|_| panic!("{:?} did not shut down within {within:?}", self.target))
            .expect("server task does not panic")
    }

    /// Stops and expects a clean return.
    pub async fn stop(self) {
        self.stop_within(WAIT).await.expect("clean shutdown");
    }

    /// A plain TCP connection to the server.
    pub async fn tcp(&self) -> TcpStream {
        tokio::time::timeout(WAIT, TcpStream::connect(self.addr))
            .await
            .expect("connect in time")
            .expect("connect")
    }
}

/// The process's resident set, in KiB.
pub fn rss_kb() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm resident field");
    pages * 4
}

/// RSS at the start of a case.
pub struct Rss(u64);

impl Rss {
    pub fn now() -> Rss {
        Rss(rss_kb())
    }

    /// Fails if RSS grew by more than `mib` MiB since [`Rss::now`].
    pub fn assert_grew_at_most(&self, mib: u64, what: &str) {
        let now = rss_kb();
        let grew = now.saturating_sub(self.0);
        assert!(
            grew <= mib * 1024,
            "{what}: RSS grew by {} MiB (from {} to {} MiB), over the bound of {mib} MiB",
            grew / 1024,
            self.0 / 1024,
            now / 1024
        );
    }
}

/// A well-behaved client connected for the whole case, asking for an echo (with an ack)
/// every few milliseconds; every reply must come within [`PROMPT`].
pub struct Probe {
    stop: watch::Sender<bool>,
    task: JoinHandle<u64>,
}

/// Pause between the probe's requests (pacing, not synchronisation).
const PROBE_EVERY: Duration = Duration::from_millis(20);

impl Probe {
    /// Connects and waits for the first reply before returning.
    pub async fn start(server: &Running) -> Probe {
        let (stop, stopped) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = match server.target.raw() {
            Some(raw) => {
                let (c, _) = RawClient::connect(raw, server.addr).await;
                tokio::spawn(probe_raw(c, stopped, ready_tx))
            }
            None => {
                let c = SioClient::connect(server.addr, Transport::WebSocket).await;
                tokio::spawn(probe_sio(c, stopped, ready_tx))
            }
        };
        tokio::time::timeout(WAIT, ready_rx)
            .await
            .expect("probe's first reply in time")
            .expect("probe alive");
        Probe { stop, task }
    }

    /// Stops the probe; panics if any reply was late or missing. Returns the replies seen.
    pub async fn finish(self) -> u64 {
        let _ = self.stop.send(true);
        let replies = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("probe stops in time")
            .expect("the well-behaved client got every reply promptly");
        assert!(replies > 0);
        replies
    }
}

async fn probe_raw(
    mut c: RawClient,
    stopped: watch::Receiver<bool>,
    ready: oneshot::Sender<()>,
) -> u64 {
    let mut ready = Some(ready);
    let mut n = 0u64;
    while !*stopped.borrow() {
        n += 1;
        let req = json!({"op":"echo","data":{"probe":n},"ack":n});
        let round = async {
            c.send(&req.to_string()).await;
            c.reply().await
        };
        let reply = tokio::time::timeout(PROMPT, round)
            .await
            .unwrap_or_else(|_| panic!("probe: echo {n} not answered within {PROMPT:?}"));
        assert_eq!(
            reply,
            json!({"op":"ack","ack":n,"data":{"probe":n}}),
            "probe reply"
        );
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    c.close().await;
    n
}

async fn probe_sio(
    mut c: SioClient,
    stopped: watch::Receiver<bool>,
    ready: oneshot::Sender<()>,
) -> u64 {
    let mut ready = Some(ready);
    let mut n = 0u64;
    while !*stopped.borrow() {
        n += 1;
        let data = json!({"probe": n});
        let (_, args) = tokio::time::timeout(PROMPT, c.call("echo", std::slice::from_ref(&data)))
            .await
            .unwrap_or_else(|_| panic!("probe: echo {n} not answered within {PROMPT:?}"));
        assert_eq!(args, vec![data], "probe reply");
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    c.close().await;
    n
}

/// Reads from `s` until the peer closes (EOF or reset), discarding what comes; returns
/// everything read. Panics if the connection is still open after `within`.
pub async fn read_until_closed(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let fut = async {
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, fut)
        .await
        .unwrap_or_else(|_| panic!("the server kept the connection open past {within:?}"));
    got
}

/// The status code of an HTTP response's first line.
pub fn status_of(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}
