//! The two query counts agree exactly under concurrent load: many tasks hammer
//! `GET`/`POST /api/dashboard` (some clients close without reading the reply) while a probe
//! reads `GET /api/stats` and calls `POST /api/stats/reset` over and over, mid-load. Every
//! stats reply must have `db_queries_app == db_queries_engine == http_requests` and no
//! failed statement. On SQLite, and on PostgreSQL when `DATABASE_URL` is set (otherwise
//! the PostgreSQL test prints "skipped: …: DATABASE_URL not set", or fails when
//! `WSBENCH_REQUIRE_SERVICES` is set).

mod postgres_env;
mod sio_rest_common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use wsbench_servers::config::DatabaseConfig;

use sio_rest_common::RestServer;
use sio_rest_common::http::{STEP, get_json, post_json, request};

/// Concurrent request tasks.
const WORKERS: usize = 24;
/// Requests per task.
const PER_WORKER: usize = 40;
/// Stats probes every task waits for at its halfway point, so probes surely run mid-load.
const PROBES_BY_HALFWAY: u64 = 4;

/// Sends one dashboard request and half-closes at once, so the server sees the client
/// gone while it handles the request (hyper may drop the handler then); then waits for the
/// server to end the connection, discarding any reply. Afterwards the request is either
/// dead (never counted) or admitted through the database gate, so a quiesced stats read
/// covers it.
async fn impatient(addr: SocketAddr, method: &str, body: &str) {
    let mut s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    let req = format!(
        "{method} /api/dashboard HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::time::timeout(STEP, async {
        s.write_all(req.as_bytes()).await.expect("write");
        s.shutdown().await.expect("half-close");
        let _ = s.read_to_end(&mut Vec::new()).await;
    })
    .await
    .expect("the server did not end an impatient connection");
}

/// One worker's request mix: POSTs, GETs, and impatient GETs/POSTs.
async fn worker(
    addr: SocketAddr,
    w: usize,
    busy: Arc<AtomicUsize>,
    mut probes: watch::Receiver<u64>,
) {
    for i in 0..PER_WORKER {
        if i == PER_WORKER / 2 {
            tokio::time::timeout(STEP, probes.wait_for(|n| *n >= PROBES_BY_HALFWAY))
                .await
                .expect("no stats probes by halfway")
                .expect("probe alive");
        }
        busy.fetch_add(1, Ordering::SeqCst);
        match (w + i) % 7 {
            0 | 3 => {
                let body = json!({"value": {"w": w, "i": i}}).to_string();
                let (status, text) = request(addr, "POST", "/api/dashboard", Some(body)).await;
                assert_eq!(status, 200, "{text}");
            }
            5 => impatient(addr, "GET", "").await,
            6 if w.is_multiple_of(2) => impatient(addr, "POST", r#"{"value":"impatient"}"#).await,
            _ => {
                let (status, text) = request(addr, "GET", "/api/dashboard", None).await;
                assert_eq!(status, 200, "{text}");
            }
        }
        busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Asserts one stats reply is a consistent cut.
fn check(stats: &Value) {
    assert_eq!(
        stats["db_queries_app"], stats["db_queries_engine"],
        "app and engine disagree: {stats}"
    );
    assert_eq!(
        stats["http_requests"], stats["db_queries_app"],
        "requests and app count disagree: {stats}"
    );
    assert_eq!(stats["db_queries"], stats["db_queries_app"], "{stats}");
    assert_eq!(stats["db_errors"], 0, "{stats}");
}

async fn counts_agree_under_load(db: &DatabaseConfig) {
    let mut server = RestServer::start(db).await;
    let addr = server.addr;
    let busy = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (probes_tx, probes_rx) = watch::channel(0u64);

    let prober = {
        let (busy, done) = (busy.clone(), done.clone());
        tokio::spawn(async move {
            let (mut probes, mut resets, mut under_load) = (0u64, 0u64, 0u64);
            while !done.load(Ordering::SeqCst) {
                let loaded = busy.load(Ordering::SeqCst) > 0;
                let stats = get_json(addr, "/api/stats").await;
                check(&stats);
                if loaded && busy.load(Ordering::SeqCst) > 0 {
                    under_load += 1;
                }
                probes += 1;
                probes_tx.send_replace(probes);
                if probes.is_multiple_of(3) {
                    post_json(addr, "/api/stats/reset", json!({})).await;
                    resets += 1;
                }
            }
            (probes, resets, under_load)
        })
    };
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(addr, w, busy.clone(), probes_rx.clone())))
        .collect();
    for w in workers {
        tokio::time::timeout(STEP * 12, w)
            .await
            .expect("worker timed out")
            .expect("worker panicked");
    }
    done.store(true, Ordering::SeqCst);
    let (probes, resets, under_load) = tokio::time::timeout(STEP, prober)
        .await
        .expect("prober timed out")
        .expect("prober panicked");
    println!(
        "{} requests from {WORKERS} tasks; {probes} stats probes ({under_load} with requests \
         in flight before and after), {resets} resets: every reply app == engine == http_requests",
        WORKERS * PER_WORKER
    );
    assert!(under_load > 0, "no probe ran while requests were in flight");

    // Every committed write was pushed (impatient clients included), once, in the documented key order.
    check(&get_json(addr, "/api/stats").await);
    let last = get_json(addr, "/api/dashboard").await["version"]
        .as_i64()
        .expect("version");
    let mut versions = BTreeSet::new();
    while (versions.len() as i64) < last {
        let text = tokio::time::timeout(STEP, server.pushes.recv())
            .await
            .expect("missing pushes")
            .expect("pusher dropped");
        assert!(text.starts_with(r#"{"version":"#), "{text}");
        let v: Value = serde_json::from_str(&text).expect("push JSON");
        assert!(
            versions.insert(v["version"].as_i64().expect("version")),
            "twice: {text}"
        );
    }
    assert_eq!(versions, (1..=last).collect::<BTreeSet<_>>());

    // After the load, a reset and a known sequence count exactly.
    post_json(addr, "/api/stats/reset", json!({})).await;
    for i in 0..3 {
        get_json(addr, "/api/dashboard").await;
        if i < 2 {
            post_json(addr, "/api/dashboard", json!({"value": i})).await;
        }
    }
    let stats = get_json(addr, "/api/stats").await;
    check(&stats);
    assert_eq!(stats["db_queries_engine"], 5, "{stats}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_counts_agree_under_concurrent_load() {
    counts_agree_under_load(&DatabaseConfig::SqliteTemp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_counts_agree_under_concurrent_load() {
    if let Some(url) = postgres_env::postgres_url("postgres_counts_agree_under_concurrent_load") {
        counts_agree_under_load(&DatabaseConfig::Postgres(url)).await;
    }
}
