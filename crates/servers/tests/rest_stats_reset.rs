//! Who may `POST /api/stats/reset`: a loopback peer by default, anyone with
//! `StatsResetFrom::Any`. The peer address is what the HTTP accept loop records for every
//! request (`ConnectInfo`); requests are handed to the REST router directly here, since
//! every real connection in a test comes from loopback.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::service::Service as _;
use hyper_util::service::TowerToHyperService;
use wsbench_servers::config::{DatabaseConfig, ServerConfig, StatsResetFrom};
use wsbench_servers::rest;

async fn reset_from(peer: SocketAddr, cfg: Option<ServerConfig>) -> u16 {
    let (router, handle) = rest::router(
        &DatabaseConfig::SqliteTemp,
        &rest::CacheConfig::default(),
        Arc::new(|_: &str, _| {}),
    )
    .await
    .expect("REST router over a temporary SQLite database");
    if let Some(cfg) = cfg {
        handle.guard(&cfg);
    }
    let svc = TowerToHyperService::new(router);
    let mut req = Request::post("/api/stats/reset")
        .body(Body::empty())
        .expect("request");
    req.extensions_mut().insert(ConnectInfo(peer));
    let status = svc.call(req).await.expect("infallible").status().as_u16();
    handle.close().await;
    status
}

#[tokio::test]
async fn only_loopback_peers_reset_by_default() {
    let remote: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let local6: SocketAddr = "[::1]:40000".parse().unwrap();
    assert_eq!(reset_from(remote, None).await, 403);
    assert_eq!(reset_from(local, None).await, 200);
    assert_eq!(reset_from(local6, None).await, 200);
    let any = ServerConfig {
        stats_reset_from: StatsResetFrom::Any,
        ..ServerConfig::default()
    };
    assert_eq!(reset_from(remote, Some(any)).await, 200);
}
