//! `namespaces = K` through the runner over real sockets on 127.0.0.1:
//!
//! - against the Rust servers (in process) and the Node peers (scenarios/namespaces.toml):
//!   every client follows K namespaces (Socket.IO: one connection, raw: K), every delivery
//!   owed arrives, none crosses a namespace (`isolation_errors` = 0), and `sockets` counts
//!   the connections;
//! - against two deliberately leaky servers (a raw WebSocket server that ignores the path,
//!   a Socket.IO server that emits every broadcast into every namespace a socket follows):
//!   the generator counts every delivery into the wrong namespace, exactly
//!   `sent × clients × (K − 1)`, and still counts the right ones as delivered.

mod leaky_support;
mod run_support;

use std::path::Path;

use wsbench_loadgen::peers::{NodePeers, find_on_path};
use wsbench_report::SummaryRow;
use wsbench_scenario::{BroadcastOp, Overrides, Scenario, Workload};
use wsbench_servers::{RustServer, ServerConfig};

const CLIENTS: u32 = 6;

fn namespaced(target: &str, k: u32) -> Scenario {
    let mut s = run_support::scenario(
        "namespaces",
        Workload::Broadcast {
            op: BroadcastOp::ToAll,
        },
        target,
    );
    s.clients = CLIENTS;
    s.publishers = 3;
    s.rate = 60.0;
    s.production.namespaces = Some(k);
    s.sweep = vec![("namespaces".into(), k.to_string())];
    s
}

/// Every delivery owed arrived once, in its namespace, and `sockets` is what the protocol
/// needs: one per client on Socket.IO, K per client on raw WebSocket.
fn assert_isolated(r: &SummaryRow, k: u64, multiplexed: bool) {
    let ctx = format!("{} {}: {r:#?}", r.target, r.sweep);
    assert!(r.sent > 0, "{ctx}");
    assert_eq!(r.expected, r.sent * u64::from(CLIENTS), "{ctx}");
    assert_eq!(r.delivered, r.expected, "{ctx}");
    assert_eq!((r.lost, r.duplicated, r.errors), (0, 0, 0), "{ctx}");
    assert_eq!(r.isolation_errors, Some(0), "{ctx}");
    let per_client = if multiplexed { 1 } else { k };
    assert_eq!(r.sockets, Some(u64::from(CLIENTS) * per_client), "{ctx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_servers_keep_broadcasts_inside_each_namespace() {
    let targets = [
        RustServer::WsTungstenite,
        RustServer::WsFastwebsockets,
        RustServer::SioSocketioxide,
    ];
    let mut servers = Vec::new();
    let mut points = Vec::new();
    for target in targets {
        let server = run_support::start(target, ServerConfig::default()).await;
        let spec = run_support::spec(target, server.addr, "sio");
        // 10 reaches past the four named namespaces into /ns/0 … /ns/5
        for k in [3, 10] {
            points.push((target, k, namespaced(&spec, k)));
        }
        servers.push(server);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(points.iter().map(|p| p.2.clone()).collect(), dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.rows.len(), points.len());
    for (r, (target, k, _)) in out.rows.iter().zip(&points) {
        assert_isolated(r, u64::from(*k), *target == RustServer::SioSocketioxide);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_peers_keep_broadcasts_inside_each_namespace() {
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        eprintln!("skipped: node not found");
        return;
    }
    NodePeers::prepare(|m| eprintln!("{m}"))
        .await
        .expect("the Node peers are installed");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/namespaces.toml");
    let overrides = Overrides {
        targets: Some(vec!["node-ws".into(), "node-socketio".into()]),
        clients: Some(CLIENTS),
        publishers: Some(3),
        rate: Some(60.0),
        warmup_s: Some(0.2),
        measure_s: Some(1.0),
        drain_s: Some(0.5),
        ..Overrides::default()
    };
    let points = wsbench_scenario::load(&file, &overrides).expect("namespaces.toml loads");
    let ks: Vec<Option<u32>> = points.iter().map(|p| p.production.namespaces).collect();
    assert_eq!(ks, [Some(1), Some(3), Some(10)]);
    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(points, dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.rows.len(), 6);
    for (r, k) in out.rows.iter().zip([1, 1, 3, 3, 10, 10]) {
        assert_eq!(r.sweep, format!("namespaces={k}"));
        assert_isolated(r, k, r.target == "node-socketio");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_into_the_wrong_namespace_are_counted_exactly() {
    let raw = leaky_support::raw_ignoring_paths().await;
    let sio = leaky_support::sio_emitting_everywhere().await;
    let k = 3u64;
    let points = vec![
        namespaced(&format!("ws=ws://{raw}/ws"), k as u32),
        namespaced(&format!("sio=http://{sio}"), k as u32),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(points, dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.rows.len(), 2);
    for r in &out.rows {
        let ctx = format!("{}: {r:#?}", r.target);
        assert!(r.sent > 0, "{ctx}");
        // the right copies are still delivered, nothing lost ...
        assert_eq!(r.delivered, r.expected, "{ctx}");
        assert_eq!(r.lost, 0, "{ctx}");
        // ... and every copy in another namespace is an isolation error, exactly
        let leaked = r.sent * u64::from(CLIENTS) * (k - 1);
        assert_eq!(r.isolation_errors, Some(leaked), "{ctx}");
        assert_eq!(r.errors, leaked, "{ctx}");
        assert!(r.notes.contains("isolation violation"), "{ctx}");
    }
}
