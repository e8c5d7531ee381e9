//! The plain-HTTP polling variants and workspaces of the REST routes, over real sockets:
//!
//! - conditional GETs (304 from memory or after a query), the `poll-cached` route (hits,
//!   misses, invalidation on write) and workspaces (rows created without being counted,
//!   each its own version, its own push room, unknown ones 404), with app and engine counts
//!   agreeing, on SQLite and PostgreSQL (`DATABASE_URL`);
//! - an SSE stream and a long-poll loop see every version a WebSocket push viewer sees, on
//!   the ws-tungstenite server, and the server stops with the stream still open;
//! - the Redis cache (`REDIS_URL`; skipped without it, failed under
//!   `WSBENCH_REQUIRE_SERVICES`).

#[allow(unused_macros)] // per_target is for the raw-target tests
mod common;
mod postgres_env;
mod sio_rest_common;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_servers::ServerConfig;
use wsbench_servers::config::DatabaseConfig;
use wsbench_servers::rest::CacheConfig;

use common::{Raw, Server, WAIT};
use sio_rest_common::RestServer;
use sio_rest_common::http::{get_json, post_json, request};

/// A response: status, headers (lower-case names) and body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One GET with `Connection: close` and extra headers.
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let extra: String = headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect();
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        let (head, body) = out.split_once("\r\n\r\n").expect("a response head");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_owned(),
        }
    };
    tokio::time::timeout(WAIT, fut).await.expect("GET in time")
}

async fn stats(addr: SocketAddr) -> Value {
    get_json(addr, "/api/stats").await
}

/// The conditional, cached and workspace routes, with every count checked.
async fn variants_count_exactly(db: DatabaseConfig) {
    let mut server = RestServer::start(&db).await;
    let addr = server.addr;
    let made = post_json(addr, "/api/workspaces", json!({"count": 3})).await;
    assert_eq!(made, json!({"workspaces": 3}));
    let s = stats(addr).await;
    assert_eq!(
        (
            &s["db_queries_app"],
            &s["db_queries_engine"],
            &s["workspaces"]
        ),
        (&json!(0), &json!(0), &json!(3)),
        "creating workspaces is setup, not counted: {s}"
    );
    request(addr, "POST", "/api/stats/reset", None).await;

    // conditional GETs
    let first = get(addr, "/api/dashboard?workspace=2", &[]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("etag"), Some("\"0\""));
    assert_eq!(first.json()["version"], 0);
    let same = get(
        addr,
        "/api/dashboard?workspace=2",
        &[("If-None-Match", "\"0\"")],
    )
    .await;
    assert_eq!(same.status, 304);
    assert_eq!(same.body, "");
    assert_eq!(same.header("x-etag-source"), Some("memory"));
    let unknown = get(
        addr,
        "/api/dashboard?workspace=3",
        &[("If-None-Match", "\"0\"")],
    )
    .await;
    assert_eq!(unknown.status, 304);
    assert_eq!(unknown.header("x-etag-source"), Some("query"));
    let row = post_json(
        addr,
        "/api/dashboard?workspace=2",
        json!({"value": {"w": 2}}),
    )
    .await;
    assert_eq!(row["version"], 1, "{row}");
    let pushed_to = tokio::time::timeout(WAIT, server.rooms.recv())
        .await
        .unwrap();
    assert_eq!(pushed_to.as_deref(), Some("dashboard:2"));
    server.pushes.recv().await.expect("the push's text");
    let changed = get(
        addr,
        "/api/dashboard?workspace=2",
        &[("If-None-Match", "\"0\"")],
    )
    .await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.header("etag"), Some("\"1\""));
    assert_eq!(changed.json()["value"], json!({"w": 2}));
    let other = get_json(addr, "/api/dashboard").await;
    assert_eq!(other["version"], 0, "workspace 1 is its own row: {other}");

    // the cache: a miss fills it, a write invalidates it
    let miss = get(addr, "/api/dashboard/cached?workspace=2", &[]).await;
    assert_eq!((miss.status, miss.header("x-cache")), (200, Some("miss")));
    for _ in 0..2 {
        let hit = get(addr, "/api/dashboard/cached?workspace=2", &[]).await;
        assert_eq!(hit.header("x-cache"), Some("hit"));
        assert_eq!(hit.body, changed.body, "a hit is the row, byte for byte");
    }
    post_json(addr, "/api/dashboard?workspace=2", json!({"value": 7})).await;
    let refreshed = get(addr, "/api/dashboard/cached?workspace=2", &[]).await;
    assert_eq!(refreshed.header("x-cache"), Some("miss"));
    assert_eq!(refreshed.json()["version"], 2);

    // unknown workspaces
    for path in [
        "/api/dashboard?workspace=4",
        "/api/dashboard/cached?workspace=0",
    ] {
        let r = get(addr, path, &[]).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(r.body.contains("no workspace"), "{}", r.body);
    }

    let s = stats(addr).await;
    // SELECTs: first, the query-made 304, changed, other, two misses; UPDATEs: two
    assert_eq!(s["db_queries_app"], 8, "{s}");
    assert_eq!(s["db_queries_engine"], 8, "{s}");
    assert_eq!(s["http_requests"], 13, "{s}");
    assert_eq!(s["etag_304_memory"], 1, "{s}");
    assert_eq!(s["etag_304_query"], 1, "{s}");
    assert_eq!(
        (&s["cache_hits"], &s["cache_misses"]),
        (&json!(2), &json!(2))
    );
    assert_eq!(s["cache"], "memory");
    assert_eq!(s["db_errors"], 0, "{s}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_count_exactly_on_sqlite() {
    variants_count_exactly(DatabaseConfig::SqliteTemp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_count_exactly_on_postgres() {
    let Some(url) = postgres_env::postgres_url("variants_count_exactly_on_postgres") else {
        return;
    };
    variants_count_exactly(DatabaseConfig::Postgres(url)).await;
}

/// Reads `text/event-stream` events (their `data`) from one GET.
struct SseClient {
    body: hyper::body::Incoming,
    buf: String,
}

impl SseClient {
    async fn open(addr: SocketAddr, path: &str) -> SseClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let req = Request::get(path)
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new())
            .expect("request");
        let resp = tokio::time::timeout(WAIT, sender.send_request(req))
            .await
            .expect("SSE response in time")
            .expect("SSE response");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        SseClient {
            body: resp.into_body(),
            buf: String::new(),
        }
    }

    /// The next event's data as JSON; `None` when the stream ends.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if !data.is_empty() {
                    return Some(serde_json::from_str(&data.join("\n")).expect("event JSON"));
                }
                continue;
            }
            let frame = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .expect("SSE event in time")?
                .expect("SSE body");
            if let Ok(data) = frame.into_data() {
                self.buf
                    .push_str(std::str::from_utf8(&data).expect("UTF-8"));
            }
        }
    }
}

/// Versions a long-poll viewer sees, back to back from `after = 0`, until `last`.
async fn long_poll_until(addr: SocketAddr, last: i64) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut after = 0;
    while after < last {
        let path = format!("/api/dashboard/wait?after={after}&timeout_ms=5000");
        let (status, body) = request(addr, "GET", &path, None).await;
        if status == 204 {
            continue;
        }
        assert_eq!(status, 200, "{body}");
        let row: Value = serde_json::from_str(&body).expect("row");
        after = row["version"].as_i64().expect("version");
        seen.push(after);
    }
    seen
}

async fn sse_and_long_poll_match_push(db: DatabaseConfig) {
    const WRITES: i64 = 30;
    let cfg = ServerConfig {
        database: db,
        ..ServerConfig::default()
    };
    let server = Server::start(Raw::Tungstenite, cfg).await;
    let addr = server.addr;
    let (mut push, _id) = server.connect().await;
    push.acked(json!({"op":"join","room":"dashboard"}), 1).await;
    let mut sse = SseClient::open(addr, "/api/dashboard/events").await;
    assert_eq!(sse.next().await.expect("snapshot event")["version"], 0);
    let long_poll = tokio::spawn(long_poll_until(addr, WRITES));
    for i in 0..WRITES {
        let body = json!({"value": {"i": i}}).to_string();
        let (status, reply) = common::http(addr, "POST", "/api/dashboard", Some(&body)).await;
        assert_eq!(status, 200, "{reply}");
    }
    let mut pushed = Vec::new();
    let mut streamed = Vec::new();
    for _ in 0..WRITES {
        let m = push.reply().await;
        assert_eq!(m["op"], "msg", "{m}");
        pushed.push(m["data"]["version"].as_i64().expect("version"));
        let e = sse.next().await.expect("an event per write");
        streamed.push(e["version"].as_i64().expect("version"));
    }
    let polled = tokio::time::timeout(WAIT, long_poll)
        .await
        .expect("long-poll loop in time")
        .expect("long-poll task");
    let every: Vec<i64> = (1..=WRITES).collect();
    assert_eq!(pushed, every, "the push viewer sees every version");
    assert_eq!(
        streamed, pushed,
        "the SSE viewer sees what the push viewer sees"
    );
    assert_eq!(
        polled, pushed,
        "the long-poll viewer sees what the push viewer sees"
    );
    let s = stats(addr).await;
    assert_eq!(s["db_queries_app"], s["db_queries_engine"], "{s}");
    // one SELECT for the stream's snapshot, then only the writes: the rest from memory
    assert_eq!(s["db_queries_app"], WRITES + 1, "{s}");
    // the stream is still open: stopping must end it rather than wait for it
    server
        .stop()
        .await
        .expect("server stops with an SSE stream open");
    assert_eq!(sse.next().await, None, "the stream ends at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_and_long_poll_see_every_version_push_sees_on_sqlite() {
    sse_and_long_poll_match_push(DatabaseConfig::SqliteTemp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_and_long_poll_see_every_version_push_sees_on_postgres() {
    let test = "sse_and_long_poll_see_every_version_push_sees_on_postgres";
    let Some(url) = postgres_env::postgres_url(test) else {
        return;
    };
    sse_and_long_poll_match_push(DatabaseConfig::Postgres(url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_times_out_with_204() {
    let server = RestServer::start(&DatabaseConfig::SqliteTemp).await;
    let r = get(
        server.addr,
        "/api/dashboard/wait?after=0&timeout_ms=50",
        &[],
    )
    .await;
    assert_eq!(r.status, 204);
    let r = get(
        server.addr,
        "/api/dashboard/wait?after=0&timeout_ms=999999",
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let s = stats(server.addr).await;
    assert_eq!(s["long_poll_timeouts"], 1, "{s}");
    server.stop().await;
}

use wsbench_scenario::services::redis_url_or_skip as redis_url;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_hits_misses_and_invalidates() {
    let Some(url) = redis_url("redis_cache_hits_misses_and_invalidates") else {
        return;
    };
    let server =
        RestServer::start_with(&DatabaseConfig::SqliteTemp, &CacheConfig::Redis(url)).await;
    let addr = server.addr;
    assert_eq!(stats(addr).await["cache"], "redis");
    let miss = get(addr, "/api/dashboard/cached", &[]).await;
    assert_eq!((miss.status, miss.header("x-cache")), (200, Some("miss")));
    let hit = get(addr, "/api/dashboard/cached", &[]).await;
    assert_eq!(hit.header("x-cache"), Some("hit"));
    assert_eq!(hit.body, miss.body);
    let row = post_json(addr, "/api/dashboard", json!({"value": "new"})).await;
    let after = get(addr, "/api/dashboard/cached", &[]).await;
    assert_eq!(
        after.header("x-cache"),
        Some("miss"),
        "the write invalidated it"
    );
    assert_eq!(after.json(), row);
    let s = stats(addr).await;
    assert_eq!(
        (&s["cache_hits"], &s["cache_misses"]),
        (&json!(1), &json!(2))
    );
    // two SELECTs (the misses) and the UPDATE; the hit asked Redis only
    assert_eq!(s["db_queries_app"], 3, "{s}");
    assert_eq!(s["db_queries_engine"], 3, "{s}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_cache_is_a_clear_error() {
    // port 9 (discard) on loopback: nothing listens there in the test environment
    let cfg = CacheConfig::Redis("redis://127.0.0.1:9".into());
    let pusher: wsbench_servers::rest::Pusher = std::sync::Arc::new(|_: &str, _| {});
    let err = match wsbench_servers::rest::router(&DatabaseConfig::SqliteTemp, &cfg, pusher).await {
        Ok(_) => panic!("a cache nobody serves must not open"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("redis://127.0.0.1:9"), "{err}");
}
