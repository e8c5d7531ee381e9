//! Polling versus push, end to end on a small deterministic run (N = 20 viewers, P = 100 ms,
//! U = 20 writes/s, measure 1.5 s), against in-process servers on 127.0.0.1:0 (the raw
//! WebSocket target for `poll` / `push-ws`, socketioxide for the three sio variants), on
//! SQLite and, when `DATABASE_URL` is set, on PostgreSQL.
//!
//! What must hold on every row:
//! - the server's two counts agree (`db_queries_app == db_queries_engine`), and the app
//!   count and `http_requests` lie within what the load generator issued in the window (the
//!   driver checks this; a miss is a row error, so `errors == 0` asserts it);
//! - polling: queries ≈ N × W / P (GETs) + U × W (writes), W the window length, within the
//!   scheduling tolerance N + 2 + 10 %: each viewer may poll once more or less than W / P
//!   (its phase against the window edges), the writer once more or less than U × W, and the
//!   10 % covers timer lag of a debug build on a shared 2-core machine;
//! - push: queries = U × W ± 2 (the writes; the N snapshot GETs happen before warmup, so
//!   none falls in the window), and `http_requests` equals the query count;
//! - staleness p50 of each push variant < that of polling; P > 1 / U, so polling viewers
//!   miss versions (`versions_missed > 0`) and push viewers miss none.

// The PostgreSQL skip/require rule, shared with the servers' PostgreSQL tests.
#[path = "../../servers/tests/postgres_env/mod.rs"]
mod postgres_env;
mod run_support;

use std::time::Duration;

use run_support::start;
use wsbench_report::row::SummaryRow;
use wsbench_scenario::{Phases, Polling, PvpVariant, Scenario, Workload};
use wsbench_servers::config::DatabaseConfig;
use wsbench_servers::{RustServer, ServerConfig};

const N: u32 = 20;
const P_MS: u64 = 100;
const U: f64 = 20.0;

fn scenario(targets: Vec<String>) -> Scenario {
    let polling = Polling {
        poll_interval: Duration::from_millis(P_MS),
        update_rate: U,
        // the plain-HTTP variants and workspaces have their own test (pvp_variants.rs)
        variants: vec![
            PvpVariant::Poll,
            PvpVariant::PollSio,
            PvpVariant::PushWs,
            PvpVariant::PushSio,
            PvpVariant::PushSioPolling,
        ],
        workspaces: 1,
    };
    let mut s = run_support::scenario("polling-vs-push", Workload::PollingVsPush(polling), "");
    s.targets = targets;
    s.clients = N;
    s.publishers = 0;
    s.rate = 0.0;
    s.payload_bytes = 0;
    s.phases = Phases {
        warmup: Duration::from_millis(300),
        measure: Duration::from_millis(1500),
        drain: Duration::from_millis(500),
    };
    s
}

async fn run_all(database: DatabaseConfig) -> Vec<SummaryRow> {
    let cfg = ServerConfig {
        database,
        ..ServerConfig::default()
    };
    let raw = start(RustServer::WsTungstenite, cfg.clone()).await;
    let sio = start(RustServer::SioSocketioxide, cfg).await;
    let targets = vec![
        run_support::spec(RustServer::WsTungstenite, raw.addr, ""),
        run_support::spec(RustServer::SioSocketioxide, sio.addr, "sio"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(vec![scenario(targets)], dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.rows.len(), 5, "{:#?}", out.rows);
    // one staleness .hgrm per row, named by the report crate (variant included)
    for r in &out.rows {
        let f = dir.path().join(wsbench_report::hgrm_file_name(r));
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert!(text.contains("Percentile"), "{text}");
    }
    let summary = wsbench_loadgen::runner::pvp_summary::format_pvp_summary(&out.rows).unwrap();
    println!("{summary}");
    for r in &out.rows {
        println!("{} {}: {}", r.variant, r.target, r.notes);
    }
    out.rows
}

fn check(rows: &[SummaryRow]) {
    let by = |v: &str| {
        rows.iter()
            .find(|r| r.variant == v)
            .unwrap_or_else(|| panic!("no {v} row"))
    };
    for r in rows {
        let ctx = format!("{} {}: {r:#?}", r.target, r.variant);
        assert_eq!(r.db_counts_agree, Some(true), "{ctx}");
        assert_eq!(r.db_queries_app, r.db_queries_engine, "{ctx}");
        assert_eq!(r.errors, 0, "{ctx}");
        assert!(!r.partial, "{ctx}");
        let w = r.measure_s;
        assert!((1.4..1.7).contains(&w), "window {w} s: {ctx}");
        let app = r.db_queries_app.unwrap() as f64;
        let writes = U * w;
        if PvpVariant::from_name(&r.variant).unwrap().polls() {
            let expected = f64::from(N) * w / (P_MS as f64 / 1000.0) + writes;
            let tolerance = f64::from(N) + 2.0 + 0.1 * expected;
            assert!(
                (app - expected).abs() <= tolerance,
                "poll count {app} vs N*W/P + U*W = {expected:.1} ± {tolerance:.1}: {ctx}"
            );
            assert!(r.versions_missed.unwrap() > 0, "{ctx}");
            assert_eq!(r.transport, "http", "{ctx}");
        } else {
            assert!(
                (app - writes).abs() <= 2.0,
                "push count {app} vs U*W = {writes:.1} ± 2: {ctx}"
            );
            assert_eq!(r.http_requests, r.db_queries_app, "{ctx}");
            assert_eq!(r.versions_missed, Some(0), "{ctx}");
            assert_eq!(r.lost, 0, "{ctx}");
            assert_eq!(r.delivered, r.expected, "{ctx}");
        }
        assert!(r.sent >= 25, "versions written in the window: {ctx}");
        assert_eq!(r.expected, r.sent * u64::from(N), "{ctx}");
        assert!(r.staleness_p50_ms.is_some(), "{ctx}");
        // every sight in the window was timed at a kernel receive stamp
        assert!(r.read_lag_p99_us.is_some(), "{ctx}");
        assert!(!r.notes.contains("user-space clock"), "{ctx}");
    }
    for (poll, push) in [
        ("poll", "push-ws"),
        ("poll-sio", "push-sio"),
        ("poll-sio", "push-sio-polling"),
    ] {
        let (a, b) = (by(poll), by(push));
        assert!(
            b.staleness_p50_ms < a.staleness_p50_ms,
            "{push} p50 {:?} ms not below {poll} p50 {:?} ms",
            b.staleness_p50_ms,
            a.staleness_p50_ms
        );
    }
    assert_eq!(by("push-sio-polling").transport, "polling");
    assert_eq!(by("push-ws").transport, "websocket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_vs_push_on_sqlite() {
    let rows = run_all(DatabaseConfig::SqliteTemp).await;
    check(&rows);
    for r in &rows {
        assert!(r.notes.contains("sqlite-trace"), "{r:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_vs_push_on_postgres() {
    let Some(url) = postgres_env::postgres_url("polling_vs_push_on_postgres") else {
        return;
    };
    let rows = run_all(DatabaseConfig::Postgres(url)).await;
    check(&rows);
    for r in &rows {
        assert!(r.notes.contains("engine count: pg_stat"), "{r:#?}");
    }
}
