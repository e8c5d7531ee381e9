//! The fair-polling variants and workspaces of polling-vs-push, end to end against
//! in-process servers on 127.0.0.1:0, on SQLite and (with `DATABASE_URL`) PostgreSQL.
//!
//! - `poll-etag`, `poll-cached`, `long-poll`, `sse` and `push-ws` on ws-tungstenite
//!   (N = 16 viewers, P = 100 ms, U = 4 writes/s, so most polls find nothing new): every
//!   row's app and engine counts agree and lie within what the load generator issued;
//!   conditional and cached polls run fewer queries than requests; long-poll and SSE
//!   viewers see every version, as the push viewers do, for the writes' queries alone;
//!   every row has `bytes_per_update`, and SSE's is below plain polling's.
//! - `workspaces = 3` (N = 12): `poll`, `sse` and `push-ws` on ws-tungstenite and
//!   `push-sio` on socketioxide; each viewer is due its own workspace's versions only,
//!   the push and SSE viewers see all of them, and no viewer sees another workspace's row.

#[path = "../../servers/tests/postgres_env/mod.rs"]
mod postgres_env;
mod run_support;

use std::time::Duration;

use run_support::start;
use wsbench_report::row::SummaryRow;
use wsbench_scenario::{Phases, Polling, PvpVariant, Scenario, Workload};
use wsbench_servers::config::DatabaseConfig;
use wsbench_servers::{RustServer, ServerConfig};

const P_MS: u64 = 100;
const U: f64 = 4.0;

fn scenario(targets: Vec<String>, n: u32, variants: Vec<PvpVariant>, workspaces: u32) -> Scenario {
    let polling = Polling {
        poll_interval: Duration::from_millis(P_MS),
        update_rate: U,
        variants,
        workspaces,
    };
    let mut s = run_support::scenario("polling-vs-push", Workload::PollingVsPush(polling), "");
    s.targets = targets;
    s.clients = n;
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

fn by<'a>(rows: &'a [SummaryRow], v: &str) -> &'a SummaryRow {
    rows.iter()
        .find(|r| r.variant == v)
        .unwrap_or_else(|| panic!("no {v} row in {rows:#?}"))
}

/// What every row must hold.
fn check_common(r: &SummaryRow) {
    let ctx = format!("{} {}: {r:#?}", r.target, r.variant);
    assert_eq!(r.db_counts_agree, Some(true), "{ctx}");
    assert_eq!(r.errors, 0, "{ctx}");
    assert_eq!(r.isolation_errors, Some(0), "{ctx}");
    assert!(!r.partial, "{ctx}");
    assert!(r.sent >= 5, "versions written in the window: {ctx}");
    assert!(r.bytes_per_update.is_some_and(|b| b > 0.0), "{ctx}");
    // in-process servers: no server CPU to divide
    assert_eq!(
        r.notes.contains("server CPU per update delivered"),
        r.server_cpu_s.is_some(),
        "{ctx}"
    );
    let v = PvpVariant::from_name(&r.variant).unwrap();
    if !v.polls() {
        // every version, as a push viewer sees it
        assert_eq!(r.versions_missed, Some(0), "{ctx}");
        assert_eq!(r.lost, 0, "{ctx}");
        assert_eq!(r.delivered, r.expected, "{ctx}");
        let writes = U * r.measure_s;
        let app = r.db_queries_app.unwrap() as f64;
        assert!(
            (app - writes).abs() <= 2.0,
            "{} runs the writes' queries only: {app} vs U*W = {writes:.1} ± 2: {ctx}",
            r.variant
        );
    }
}

async fn fair_variants(database: DatabaseConfig) {
    const N: u32 = 16;
    let cfg = ServerConfig {
        database,
        ..ServerConfig::default()
    };
    let raw = start(RustServer::WsTungstenite, cfg).await;
    let targets = vec![run_support::spec(RustServer::WsTungstenite, raw.addr, "")];
    let variants = vec![
        PvpVariant::Poll,
        PvpVariant::PollEtag,
        PvpVariant::PollCached,
        PvpVariant::LongPoll,
        PvpVariant::Sse,
        PvpVariant::PushWs,
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(vec![scenario(targets, N, variants, 1)], dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.rows.len(), 6, "{:#?}", out.rows);
    for r in &out.rows {
        println!(
            "{} bytes/update {:?}: {}",
            r.variant, r.bytes_per_update, r.notes
        );
        check_common(r);
        assert_eq!(r.expected, r.sent * u64::from(N), "{r:#?}");
    }
    let rows = &out.rows;
    for v in ["poll-etag", "poll-cached"] {
        let r = by(rows, v);
        let (app, http) = (r.db_queries_app.unwrap(), r.http_requests.unwrap());
        assert!(
            (app as f64) < 0.6 * http as f64,
            "{v}: {app} queries for {http} requests: {r:#?}"
        );
    }
    assert!(by(rows, "poll-etag").notes.contains("304 from memory"));
    assert!(by(rows, "poll-cached").notes.contains("cache hits"));
    assert_eq!(by(rows, "sse").transport, "sse");
    let (sse, poll) = (by(rows, "sse"), by(rows, "poll"));
    assert!(
        sse.bytes_per_update < poll.bytes_per_update,
        "sse {:?} vs poll {:?} bytes per update",
        sse.bytes_per_update,
        poll.bytes_per_update
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_polling_variants_on_sqlite() {
    fair_variants(DatabaseConfig::SqliteTemp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_polling_variants_on_postgres() {
    let Some(url) = postgres_env::postgres_url("fair_polling_variants_on_postgres") else {
        return;
    };
    fair_variants(DatabaseConfig::Postgres(url)).await;
}

async fn workspaces(database: DatabaseConfig) {
    const N: u32 = 12;
    const W: u32 = 3;
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
    let variants = vec![
        PvpVariant::Poll,
        PvpVariant::Sse,
        PvpVariant::PushWs,
        PvpVariant::PushSio,
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(vec![scenario(targets, N, variants, W)], dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    // sse runs on both servers
    assert_eq!(out.rows.len(), 5, "{:#?}", out.rows);
    for r in &out.rows {
        println!("{} {}: {}", r.variant, r.target, r.notes);
        check_common(r);
        assert!(r.notes.contains("3 workspaces"), "{r:#?}");
        // writes go round-robin, viewers are spread evenly: each viewer is due a third
        let due = r.sent * u64::from(N / W);
        assert!(
            r.expected.abs_diff(due) <= u64::from(N / W),
            "expected {} vs sent x N / W = {due}: {r:#?}",
            r.expected
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_keep_viewers_apart_on_sqlite() {
    workspaces(DatabaseConfig::SqliteTemp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_keep_viewers_apart_on_postgres() {
    let Some(url) = postgres_env::postgres_url("workspaces_keep_viewers_apart_on_postgres") else {
        return;
    };
    workspaces(DatabaseConfig::Postgres(url)).await;
}
