//! Every workload in quick mode against every Rust target (in-process servers on
//! 127.0.0.1:0, reached as external targets): nothing lost, nothing duplicated, no errors,
//! and summary.csv / .hgrm / meta.json written and readable.

mod run_support;

use run_support::{all_workloads, run, spec, start};
use wsbench_report::row::SummaryRow;
use wsbench_servers::{RustServer, ServerConfig};

fn check(rows: &[SummaryRow], failures: &[wsbench_loadgen::RowFailure]) {
    assert!(failures.is_empty(), "failures: {failures:#?}");
    assert_eq!(rows.len(), 8, "one row per workload");
    for r in rows {
        let ctx = format!("{} on {}: {r:#?}", r.scenario, r.target);
        assert_eq!(r.errors, 0, "{ctx}");
        assert_eq!(r.connect_errors, 0, "{ctx}");
        assert!(!r.partial, "{ctx}");
        assert!(r.connect_p50_us > 0, "{ctx}");
        if r.scenario == "connect" {
            assert_eq!(r.sent, 0, "{ctx}");
            continue;
        }
        assert!(r.sent > 0 && r.expected > 0, "{ctx}");
        assert_eq!(r.delivered, r.expected, "{ctx}");
        assert_eq!(r.lost, 0, "{ctx}");
        assert_eq!(r.duplicated, 0, "{ctx}");
        assert!(
            r.lat_p50_us > 0 && r.lat_p50_us <= r.lat_p99_us && r.lat_p99_us <= r.lat_max_us,
            "{ctx}"
        );
        assert!(r.lat_uncorrected_p99_us <= r.lat_p99_us + 1000, "{ctx}");
        assert!(r.bytes_out > 0 && r.bytes_in > 0, "{ctx}");
        // every measured delivery was timed at a kernel receive stamp
        assert!(r.read_lag_p99_us.is_some(), "{ctx}");
        assert!(!r.notes.contains("user-space clock"), "{ctx}");
    }
    let by = |n: &str| rows.iter().find(|r| r.scenario == n).unwrap();
    // open loop at 200/s for 1 s: ~200 sends (schedule boundaries ±1 per publisher)
    assert!(by("echo").sent.abs_diff(200) <= 2, "{}", by("echo").sent);
    assert_eq!(by("broadcast-all").expected, by("broadcast-all").sent * 4);
    assert_eq!(
        by("broadcast-others").expected,
        by("broadcast-others").sent * 3
    );
    assert_eq!(
        by("rooms").expected,
        by("rooms").sent * 2,
        "6 clients in 3 rooms: 2 members each"
    );
    assert_eq!(by("direct").expected, by("direct").sent);
    assert_eq!(by("echo-closed").rate, 0.0);
    assert_eq!(by("connect").clients, 20);
}

async fn every_workload(target: RustServer, sio_kind: &str) {
    let server = start(target, ServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(
        all_workloads(&spec(target, server.addr, sio_kind)),
        dir.path(),
    )
    .await;
    check(&outcome.rows, &outcome.failures);
    assert!(!outcome.interrupted);
    // written after each row and readable
    let csv = wsbench_report::csv::read(&dir.path().join("summary.csv")).unwrap();
    assert_eq!(csv.len(), outcome.rows.len());
    assert_eq!(csv[0].lat_p99_us, outcome.rows[0].lat_p99_us);
    let hgrms = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "hgrm")
        })
        .count();
    assert_eq!(hgrms, outcome.rows.len());
    let meta = wsbench_report::meta::Meta::read(&dir.path().join("meta.json")).unwrap();
    assert!(meta.finished_at.is_some() && !meta.interrupted);
    let table = wsbench_loadgen::format_table(&outcome.rows);
    // a header and one line per row, beside the legend of ⚑ (load-generator-bound rows)
    let lines = table.lines().filter(|l| !l.starts_with('⚑')).count();
    assert_eq!(lines, outcome.rows.len() + 1, "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_every_workload() {
    every_workload(RustServer::Tcp, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_tungstenite_every_workload() {
    every_workload(RustServer::WsTungstenite, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_fastwebsockets_every_workload() {
    every_workload(RustServer::WsFastwebsockets, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sio_websocket_every_workload() {
    every_workload(RustServer::SioSocketioxide, "sio").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sio_polling_every_workload() {
    every_workload(RustServer::SioSocketioxide, "sio-polling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sio_upgrade_every_workload() {
    every_workload(RustServer::SioSocketioxide, "sio-upgrade").await;
}
