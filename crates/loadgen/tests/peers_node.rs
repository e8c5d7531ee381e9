//! The Node reference peers (scripts/peers/node) through the runner: quick broadcast rows
//! against every Node target with nothing lost, the fair polling variants against node-ws,
//! and no Node process left behind. (The
//! protocol itself is checked on the Node peers by `protocol_contract.rs`.)
//!
//! The locked packages are installed first if needed (`npm ci`). Where `node` or `npm` is
//! missing, each test prints "skipped: node not found" and passes (CI has node).

mod run_support;

use std::path::Path;
use std::time::Duration;

use wsbench_loadgen::peers::{NodePeers, find_on_path};
use wsbench_scenario::{BroadcastOp, Overrides, Workload};

/// Bound on installing the packages (a cold `npm ci` downloads them).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// `node` and the installed peers, or `None` (and the skip notice) without node / npm.
async fn peers() -> Option<NodePeers> {
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        eprintln!("skipped: node not found");
        return None;
    }
    let peers = tokio::time::timeout(INSTALL_TIMEOUT, NodePeers::prepare(|m| eprintln!("{m}")))
        .await
        .expect("npm ci in time")
        .expect("the Node peers are installed");
    Some(peers)
}

/// Node processes whose parent is this test process.
fn node_children() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split_whitespace().nth(1)?;
            (ppid == me && stat.contains("(node)")).then_some(stat)
        })
        .collect()
}

/// scenarios/broadcast.toml with `--targets all` and small N: the Node targets are in it;
/// run (quick) against them, every delivery arrives and the server is measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_rows_against_the_node_targets() {
    let Some(_) = peers().await else { return };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/broadcast.toml");
    let overrides = Overrides {
        targets: Some(vec!["all".into()]),
        clients: Some(8),
        rate: Some(50.0),
        warmup_s: Some(0.2),
        measure_s: Some(1.0),
        drain_s: Some(0.5),
        ..Overrides::default()
    };
    let mut points = wsbench_scenario::load(&file, &overrides).expect("broadcast.toml loads");
    let node = ["node-ws", "node-socketio", "node-socketio-polling"];
    for p in &mut points {
        assert!(
            node.iter().all(|n| p.targets.iter().any(|t| t == n)),
            "--targets all includes the Node peers: {:?}",
            p.targets
        );
        p.targets.retain(|t| t.starts_with("node-"));
    }
    let ops: Vec<BroadcastOp> = points
        .iter()
        .map(|p| match p.workload {
            Workload::Broadcast { op } => op,
            ref w => panic!("broadcast.toml is a broadcast workload, not {}", w.name()),
        })
        .collect();
    assert_eq!(ops, [BroadcastOp::ToAll, BroadcastOp::ToOthers]);

    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(points, dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.rows.len(), 2 * node.len());
    for r in &out.rows {
        let ctx = format!("{} {} on {}: {r:#?}", r.scenario, r.sweep, r.target);
        let others = if r.sweep.contains("to_others") { 7 } else { 8 };
        assert!(r.sent >= 45 && r.expected == r.sent * others, "{ctx}");
        assert_eq!(r.delivered, r.expected, "{ctx}");
        assert_eq!((r.lost, r.duplicated, r.errors), (0, 0, 0), "{ctx}");
        assert!(r.server_cpu_s.is_some_and(|c| c > 0.0), "{ctx}");
        assert!(r.server_rss_peak_kb.is_some_and(|k| k > 10_000), "{ctx}");
    }
    let transports: Vec<&str> = out.rows[..3].iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(transports, ["websocket", "websocket", "polling"]);
    assert!(
        node_children().is_empty(),
        "Node servers still alive: {:?}",
        node_children()
    );
}

/// scenarios/polling-vs-push-fair.toml on node-ws (quick, 8 viewers): every variant of a raw
/// WebSocket server's kind runs, the Node peer's plain-HTTP variants included; long-poll,
/// SSE and push viewers see every version, and each row has its bytes per update and the
/// server's CPU per update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_polling_variants_against_node_ws() {
    let Some(_) = peers().await else { return };
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/polling-vs-push-fair.toml");
    let overrides = Overrides {
        targets: Some(vec!["node-ws".into(), "node-socketio".into()]),
        clients: Some(8),
        warmup_s: Some(0.2),
        measure_s: Some(1.0),
        drain_s: Some(0.5),
        ..Overrides::default()
    };
    let mut points = wsbench_scenario::load(&file, &overrides).expect("the file loads");
    points.truncate(1); // update_rate = 2
    // node-ws alone, with the variants of a raw WebSocket server's kind
    for p in &mut points {
        p.targets.retain(|t| t == "node-ws");
        if let Workload::PollingVsPush(polling) = &mut p.workload {
            polling.variants.retain(|v| !v.socket_io());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(points, dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    let variants: Vec<&str> = out.rows.iter().map(|r| r.variant.as_str()).collect();
    assert_eq!(
        variants,
        [
            "poll",
            "poll-etag",
            "poll-cached",
            "long-poll",
            "sse",
            "push-ws"
        ]
    );
    for r in &out.rows {
        let ctx = format!("{} on {}: {r:#?}", r.variant, r.target);
        assert_eq!(r.errors, 0, "{ctx}");
        assert!(r.bytes_per_update.is_some_and(|b| b > 0.0), "{ctx}");
        assert!(r.notes.contains("server CPU per update delivered"), "{ctx}");
        if ["long-poll", "sse", "push-ws"].contains(&r.variant.as_str()) {
            assert_eq!(r.delivered, r.expected, "{ctx}");
            assert_eq!(r.lost, 0, "{ctx}");
        }
    }
    let etag = out.rows.iter().find(|r| r.variant == "poll-etag").unwrap();
    assert!(etag.notes.contains("304 from memory"), "{etag:#?}");
    assert!(
        node_children().is_empty(),
        "Node servers still alive: {:?}",
        node_children()
    );
}
