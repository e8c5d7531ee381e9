//! REST routes on embedded SQLite: counts (app == engine == requests), pushes, errors.

mod sio_rest_common;

use serde_json::json;
use wsbench_servers::config::DatabaseConfig;

use sio_rest_common::RestServer;
use sio_rest_common::http::{get_json, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_temp_counts_every_statement_twice() {
    let mut server = RestServer::start(&DatabaseConfig::SqliteTemp).await;
    let stats = get_json(server.addr, "/api/stats").await;
    assert_eq!(stats["engine_count_source"], "sqlite-trace");
    assert_eq!(stats["db_queries"], 0, "setup is not counted: {stats}");
    let initial = get_json(server.addr, "/api/dashboard").await;
    assert_eq!(
        initial,
        json!({"version": 0, "value": null, "written_at": 0})
    );
    sio_rest_common::check_counts(&mut server, 7, 5).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_counts_hold_under_concurrency() {
    let mut server = RestServer::start(&DatabaseConfig::SqliteTemp).await;
    request(server.addr, "POST", "/api/stats/reset", None).await;
    let addr = server.addr;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(async move {
                if i % 4 == 0 {
                    request(
                        addr,
                        "POST",
                        "/api/dashboard",
                        Some(json!({"value": i}).to_string()),
                    )
                    .await
                } else {
                    request(addr, "GET", "/api/dashboard", None).await
                }
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("request task").0, 200);
    }
    let mut versions = Vec::new();
    for _ in 0..4 {
        let text = server.pushes.recv().await.expect("push");
        versions.push(
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["version"]
                .as_i64()
                .unwrap(),
        );
    }
    versions.sort();
    assert_eq!(
        versions,
        vec![1, 2, 3, 4],
        "every write got its own version"
    );
    let stats = get_json(addr, "/api/stats").await;
    assert_eq!(stats["db_queries_app"], 16, "{stats}");
    assert_eq!(stats["db_queries_engine"], 16, "{stats}");
    assert_eq!(stats["http_requests"], 16, "{stats}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_path_and_bad_bodies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dash.db");
    let mut server = RestServer::start(&DatabaseConfig::SqlitePath(path.clone())).await;
    assert!(path.exists(), "database file created");
    // A body without "value" is refused before any query.
    let (status, _) = request(
        server.addr,
        "POST",
        "/api/dashboard",
        Some("{\"nope\":1}".into()),
    )
    .await;
    assert!((400..500).contains(&status), "status {status}");
    let (status, _) = request(
        server.addr,
        "POST",
        "/api/dashboard",
        Some("not json".into()),
    )
    .await;
    assert!((400..500).contains(&status), "status {status}");
    let stats = get_json(server.addr, "/api/stats").await;
    assert_eq!(stats["db_queries"], 0, "{stats}");
    assert_eq!(stats["db_queries_engine"], 0, "{stats}");
    sio_rest_common::check_counts(&mut server, 3, 2).await;
    server.stop().await;
}
