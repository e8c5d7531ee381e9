//! Shared helpers of the sio_* and rest_* tests (the raw-target tests have their own
//! `common`): a real server on 127.0.0.1:0, an HTTP client and a minimal Socket.IO client.
#![allow(dead_code)]

pub mod http;
pub mod sio_client;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wsbench_servers::config::{DatabaseConfig, ServerConfig};
use wsbench_servers::error::ServerError;
use wsbench_servers::rest::{CacheConfig, Pusher, RestHandle};

use self::http::{STEP, get_json, post_json};

/// A server task on loopback with its shutdown trigger.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl TestServer {
    /// Triggers shutdown and asserts `run` returns `Ok` in time.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(STEP, self.task)
            .await
            .expect("server did not shut down in time")
            .expect("server task panicked")
            .expect("server returned an error");
    }
}

/// Config for Socket.IO tests: short heartbeat so the clients' pong path is exercised.
pub fn sio_config() -> ServerConfig {
    ServerConfig {
        sio_ping_interval: Duration::from_secs(2),
        sio_ping_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    }
}

/// Starts the `sio-socketioxide` server on 127.0.0.1:0.
pub async fn start_sio(cfg: ServerConfig) -> TestServer {
    let listener = wsbench_servers::listen::loopback().expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(wsbench_servers::serve(
        wsbench_servers::RustServer::SioSocketioxide,
        listener,
        cfg,
        Default::default(),
        async move {
            let _ = rx.await;
        },
    ));
    TestServer {
        addr,
        shutdown: tx,
        task,
    }
}

/// The REST routes alone on 127.0.0.1:0 with a channel-backed pusher (each committed
/// update's JSON text arrives on `pushes`).
pub struct RestServer {
    pub addr: SocketAddr,
    pub pushes: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// The room of each push, in the order of `pushes`.
    pub rooms: tokio::sync::mpsc::UnboundedReceiver<String>,
    handle: RestHandle,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RestServer {
    pub async fn start(db: &DatabaseConfig) -> RestServer {
        RestServer::start_with(db, &CacheConfig::InProcess).await
    }

    /// The same with the `poll-cached` rows in `cache`.
    pub async fn start_with(db: &DatabaseConfig, cache: &CacheConfig) -> RestServer {
        let (tx, pushes) = tokio::sync::mpsc::unbounded_channel();
        let (room_tx, rooms) = tokio::sync::mpsc::unbounded_channel();
        let pusher: Pusher = std::sync::Arc::new(move |room: &str, text| {
            let _ = room_tx.send(room.to_owned());
            let _ = tx.send(text);
        });
        let (router, handle) =
            tokio::time::timeout(STEP, wsbench_servers::rest::router(db, cache, pusher))
                .await
                .expect("opening the database timed out")
                .expect("opening the database");
        let listener = wsbench_servers::listen::loopback().expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, rx) = oneshot::channel::<()>();
        let streams = handle.stream_stopper();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                    streams.cancel();
                })
                .await
        });
        RestServer {
            addr,
            pushes,
            rooms,
            handle,
            shutdown,
            task,
        }
    }

    /// The database behind the routes.
    pub fn db(&self) -> &wsbench_servers::db::Db {
        self.handle.db()
    }

    /// Stops serving, then drops the database objects (PostgreSQL table).
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(STEP, self.task)
            .await
            .expect("REST server did not stop in time")
            .expect("REST task panicked")
            .expect("REST server error");
        self.handle.close().await;
    }
}

/// Drives `gets` GETs and `posts` POSTs after a stats reset and checks every count, the
/// returned rows and the pushes. Shared by the SQLite and PostgreSQL tests.
pub async fn check_counts(server: &mut RestServer, gets: u64, posts: u64) {
    let addr = server.addr;
    // Traffic before the reset must not show up afterwards.
    get_json(addr, "/api/dashboard").await;
    let before = post_json(addr, "/api/dashboard", json!({"value": {"warm": true}})).await;
    tokio::time::timeout(STEP, server.pushes.recv())
        .await
        .expect("push timed out");
    post_json(addr, "/api/stats/reset", json!({})).await;
    let zero = get_json(addr, "/api/stats").await;
    assert_eq!(zero["db_queries"], 0, "{zero}");
    assert_eq!(zero["db_queries_engine"], 0, "{zero}");
    assert_eq!(zero["http_requests"], 0, "{zero}");

    let mut version = before["version"].as_i64().expect("version");
    for i in 0..posts {
        let row = post_json(addr, "/api/dashboard", json!({"value": {"i": i}})).await;
        version += 1;
        assert_eq!(row["version"], version, "{row}");
        assert_eq!(row["value"], json!({"i": i}));
        assert!(row["written_at"].as_i64().expect("written_at") > 1_600_000_000_000_000_000);
        let pushed = tokio::time::timeout(STEP, server.pushes.recv())
            .await
            .expect("push timed out")
            .expect("pusher dropped");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pushed).expect("push JSON"),
            row
        );
    }
    for _ in 0..gets {
        let row = get_json(addr, "/api/dashboard").await;
        assert_eq!(row["version"], version, "{row}");
    }
    let stats = get_json(addr, "/api/stats").await;
    let stats_again = get_json(addr, "/api/stats").await;
    assert_eq!(stats, stats_again, "stats probes must not count themselves");
    let n = gets + posts;
    assert_eq!(stats["db_queries"], n, "{stats}");
    assert_eq!(stats["db_queries_app"], n, "{stats}");
    assert_eq!(stats["db_queries_engine"], n, "{stats}");
    assert_eq!(stats["http_requests"], n, "{stats}");
    let counts = server.db().counts().await.expect("counts");
    assert_eq!((counts.app, counts.engine), (n, n));
}
