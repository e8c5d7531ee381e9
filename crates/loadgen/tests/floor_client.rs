//! The floor client (`wsbench_loadgen::floor`) over real sockets: ping-pong against a real
//! tcp, ws-tungstenite and ws-fastwebsockets server counts round trips and CPU and ends by
//! itself; a refused connection, a server that is not WebSocket and a silent server are
//! clear errors.

mod transport_support;

use std::time::Duration;

use transport_support::start;
use wsbench_loadgen::floor::{self, FloorConfig, FloorError, FloorProto, FloorTarget};
use wsbench_servers::{RustServer, ServerConfig};

fn config(proto: FloorProto, addr: &str) -> FloorConfig {
    FloorConfig {
        target: FloorTarget::parse(proto, addr).unwrap(),
        clients: 8,
        warmup: Duration::from_millis(100),
        measure: Duration::from_millis(400),
        payload_bytes: 128,
    }
}

/// Runs the blocking floor client off the server's runtime threads.
async fn run(cfg: FloorConfig) -> Result<floor::FloorReport, FloorError> {
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || floor::run(&cfg, &mut || {})),
    )
    .await
    .expect("the floor client ends by itself")
    .expect("floor thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_against_real_servers() {
    for (server, proto) in [
        (RustServer::Tcp, FloorProto::Tcp),
        (RustServer::WsTungstenite, FloorProto::Ws),
        (RustServer::WsFastwebsockets, FloorProto::Ws),
    ] {
        let srv = start(server, ServerConfig::default()).await;
        let r = run(config(proto, &srv.addr.to_string()))
            .await
            .unwrap_or_else(|e| panic!("{server:?}: {e}"));
        assert!(r.round_trips > 0, "{server:?}: {r:?}");
        assert!(r.cpu_s > 0.0, "{server:?}: {r:?}");
        assert!(
            (0.39..2.0).contains(&r.measure_s),
            "{server:?}: measured {} s for 0.4 s",
            r.measure_s
        );
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_what_went_wrong() {
    // refused: nobody listens on a port we just freed
    let freed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = freed.local_addr().unwrap().to_string();
    drop(freed);
    match run(config(FloorProto::Tcp, &addr)).await {
        Err(FloorError::Connect { endpoint, .. }) => assert_eq!(endpoint, format!("tcp://{addr}")),
        other => panic!("expected a connect error, got {other:?}"),
    }
    // a tcp server is not a WebSocket server: the upgrade fails
    let srv = start(RustServer::Tcp, ServerConfig::default()).await;
    match run(config(FloorProto::Ws, &srv.addr.to_string())).await {
        Err(FloorError::Handshake { endpoint, .. }) => assert!(endpoint.starts_with("ws://")),
        other => panic!("expected a handshake error, got {other:?}"),
    }
    srv.stop().await;
    // a server that accepts and never answers: the welcome does not come
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    match run(config(FloorProto::Tcp, &addr)).await {
        Err(FloorError::Handshake { reason, .. }) => assert!(!reason.is_empty()),
        other => panic!("expected a handshake error, got {other:?}"),
    }
}
