//! Shared by the run_* tests: in-process servers on 127.0.0.1:0 (reached through external
//! target specs, so no child process is needed) and quick scenarios.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::num::NonZeroU32;
use tokio::sync::oneshot;

use wsbench_scenario::{Arrival, BroadcastOp, Encoding, LoopMode, Phases, Scenario, Workload};
use wsbench_servers::hub::HubStats;
use wsbench_servers::{RustServer, ServerConfig};

/// A server target running in this process until dropped.
pub struct InProc {
    pub addr: SocketAddr,
    /// Hub counters (raw targets only).
    pub stats: Option<Arc<HubStats>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for InProc {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts `target` with `cfg` on 127.0.0.1:0 on the current runtime.
pub async fn start(target: RustServer, cfg: ServerConfig) -> InProc {
    let listener = wsbench_servers::listen::loopback().unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let stats = Arc::new(HubStats::default());
    tokio::spawn(wsbench_servers::serve(
        target,
        listener,
        cfg,
        stats.clone(),
        shutdown,
    ));
    let stats = wsbench_servers::counts_hub_stats(target).then_some(stats);
    InProc {
        addr,
        stats,
        stop: Some(tx),
    }
}

/// The external spec that reaches `target` at `addr` (`sio_kind`: `sio`, `sio-polling`, …).
pub fn spec(target: RustServer, addr: SocketAddr, sio_kind: &str) -> String {
    match target {
        RustServer::Tcp => format!("tcp={addr}"),
        RustServer::WsTungstenite | RustServer::WsFastwebsockets => format!("ws=ws://{addr}/ws"),
        RustServer::SioSocketioxide => format!("{sio_kind}=http://{addr}"),
    }
}

/// Quick phases: warmup 0.2 s, measure 1 s, drain 0.5 s.
pub fn quick() -> Phases {
    Phases {
        warmup: Duration::from_millis(200),
        measure: Duration::from_secs(1),
        drain: Duration::from_millis(500),
    }
}

/// A small scenario of `workload` against `target_spec`.
pub fn scenario(name: &str, workload: Workload, target_spec: &str) -> Scenario {
    Scenario {
        name: name.to_owned(),
        description: String::new(),
        workload,
        targets: vec![target_spec.to_owned()],
        clients: 4,
        publishers: 2,
        rate: 200.0,
        arrival: Arrival::Constant,
        payload_bytes: 128,
        encoding: Encoding::Json,
        phases: quick(),
        max_message_bytes: 1 << 20,
        server_cpus: None,
        floor: false,
        nodes: 1,
        production: Default::default(),
        fault: None,
        slow: None,
        network: None,
        sweep: Vec::new(),
    }
}

/// Every workload in quick mode, small client counts.
pub fn all_workloads(target_spec: &str) -> Vec<Scenario> {
    let base = |name, w| scenario(name, w, target_spec);
    vec![
        base(
            "echo",
            Workload::Echo {
                mode: LoopMode::Open,
            },
        ),
        Scenario {
            arrival: Arrival::Poisson,
            rate: 0.0, // ping-pong
            ..base(
                "echo-closed",
                Workload::Echo {
                    mode: LoopMode::Closed,
                },
            )
        },
        Scenario {
            arrival: Arrival::Poisson,
            ..base(
                "broadcast-all",
                Workload::Broadcast {
                    op: BroadcastOp::ToAll,
                },
            )
        },
        base(
            "broadcast-others",
            Workload::Broadcast {
                op: BroadcastOp::ToOthers,
            },
        ),
        Scenario {
            clients: 6,
            publishers: 6,
            ..base(
                "rooms",
                Workload::Rooms {
                    rooms: NonZeroU32::new(3).unwrap(),
                },
            )
        },
        Scenario {
            publishers: 4,
            ..base("direct", Workload::Direct)
        },
        base(
            "ack",
            Workload::Ack {
                mode: LoopMode::Open,
            },
        ),
        Scenario {
            clients: 20,
            ..base(
                "connect",
                Workload::Connect {
                    connect_rate: 200.0,
                },
            )
        },
    ]
}

/// Runs `scenarios` into `dir` with the real transports, bounded in time.
pub async fn run(scenarios: Vec<Scenario>, dir: &std::path::Path) -> wsbench_loadgen::RunOutcome {
    run_on(scenarios, dir, None).await
}

/// [`run`] on the given engine lanes (`None`: the run starts its own).
pub async fn run_on(
    scenarios: Vec<Scenario>,
    dir: &std::path::Path,
    engine: Option<Arc<wsbench_loadgen::engine::Engine>>,
) -> wsbench_loadgen::RunOutcome {
    let mut opts = wsbench_loadgen::RunOptions::new(scenarios, dir);
    opts.progress = false;
    opts.engine = engine;
    tokio::time::timeout(Duration::from_secs(120), wsbench_loadgen::run(opts))
        .await
        .expect("run finished in time")
        .expect("run succeeded")
}
