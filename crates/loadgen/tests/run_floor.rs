//! `floor = true` in a real run: after a ping-pong row on tcp and on a raw WebSocket server
//! (in-process, reached as external targets), the floor client runs against the same server
//! and fills the row's floor columns, in summary.csv too, and the table shows the ratio.

mod run_support;

use run_support::{run, scenario, spec, start};
use wsbench_scenario::{LoopMode, Workload};
use wsbench_servers::{RustServer, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_floor_run_fills_the_floor_columns() {
    let tcp = start(RustServer::Tcp, ServerConfig::default()).await;
    let ws = start(RustServer::WsTungstenite, ServerConfig::default()).await;
    let ping_pong = |target: &str| {
        let mut s = scenario(
            "floor",
            Workload::Echo {
                mode: LoopMode::Closed,
            },
            target,
        );
        s.rate = 0.0;
        s.publishers = s.clients;
        s.floor = true;
        s
    };
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(
        vec![
            ping_pong(&spec(RustServer::Tcp, tcp.addr, "")),
            ping_pong(&spec(RustServer::WsTungstenite, ws.addr, "")),
        ],
        dir.path(),
    )
    .await;
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(outcome.rows.len(), 2);
    for r in &outcome.rows {
        assert!(r.delivered > 0, "{}: {r:?}", r.target);
        let floor = r
            .floor_deliveries_per_s
            .unwrap_or_else(|| panic!("{}: no floor figure; notes: {}", r.target, r.notes));
        assert!(floor > 0.0, "{}", r.target);
        assert!(
            r.floor_loadgen_cpu_s.is_some_and(|c| c > 0.0),
            "{}",
            r.target
        );
        // an external server: its CPU is not ours to read
        assert_eq!(r.floor_server_cpu_s, None, "{}", r.target);
    }
    let csv = wsbench_report::csv::read(&dir.path().join("summary.csv")).unwrap();
    assert_eq!(
        csv[0].floor_deliveries_per_s.map(f64::round),
        outcome.rows[0].floor_deliveries_per_s.map(f64::round)
    );
    let table = wsbench_loadgen::format_table(&outcome.rows);
    assert!(
        table.lines().next().unwrap().ends_with("vs floor"),
        "{table}"
    );
}
