//! The Socket.IO clients (WebSocket, long-polling, polling → upgrade) against the real
//! socketioxide server on loopback: heartbeats and what the protocol contract test
//! (`protocol_contract.rs`, every op on every target) does not cover.

mod transport_support;

use std::time::Duration;

use transport_support::{T, connect, recv, req, send, start};
use wsbench_loadgen::transport::{
    AnyTransport, Incoming, OpKind, Outgoing, SioTransport, Transport,
};
use wsbench_servers::{RustServer, ServerConfig};

fn fast_pings() -> ServerConfig {
    ServerConfig {
        sio_ping_interval: Duration::from_millis(200),
        sio_ping_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    }
}

/// The connection outlives several ping intervals only if every ping got its pong in time.
async fn survives_pings(transport: SioTransport) {
    let server = start(RustServer::SioSocketioxide, fast_pings()).await;
    let mut t = connect(&server.sio_endpoint(transport)).await;
    let mut pings = t.ping_watch().expect("a Socket.IO transport counts pings");
    tokio::select! {
        // WebSocket transports read (and answer) pings inside `recv`; polling ones in a task.
        r = t.recv() => panic!("nothing should arrive, got {r:?}"),
        r = tokio::time::timeout(T, pings.wait_for(|n| *n >= 5)) => {
            r.expect("5 pings in time").expect("ping watch");
        }
    }
    let data = r#"{"still":"alive"}"#;
    send(
        &mut t,
        Outgoing {
            data: Some(data),
            ack: Some(3),
            ..req(OpKind::Echo)
        },
    )
    .await;
    assert_eq!(
        recv(&mut t).await,
        Incoming::Ack {
            ack: 3,
            data: Some(bytes::Bytes::from_static(data.as_bytes()))
        }
    );
    assert!(t.pings() >= 5);
    tokio::time::timeout(T, t.close())
        .await
        .expect("close in time")
        .expect("close");
    server.stop().await;
}

#[tokio::test]
async fn polling_answers_pings() {
    survives_pings(SioTransport::Polling).await;
}

#[tokio::test]
async fn websocket_answers_pings() {
    survives_pings(SioTransport::WebSocket).await;
}

#[tokio::test]
async fn upgraded_answers_pings() {
    survives_pings(SioTransport::PollingThenUpgrade).await;
}

/// Concurrent sends on the polling transport queue up and go out batched; all arrive.
#[tokio::test]
async fn polling_sends_in_bursts_all_arrive() {
    let server = start(RustServer::SioSocketioxide, ServerConfig::default()).await;
    let mut t = connect(&server.sio_endpoint(SioTransport::Polling)).await;
    let bodies: Vec<String> = (0..200).map(|i| format!(r#"{{"i":{i}}}"#)).collect();
    for (i, d) in bodies.iter().enumerate() {
        send(
            &mut t,
            Outgoing {
                data: Some(d),
                ack: Some(i as u64),
                ..req(OpKind::Echo)
            },
        )
        .await;
    }
    let mut seen = vec![false; bodies.len()];
    for _ in 0..bodies.len() {
        match recv(&mut t).await {
            Incoming::Ack { ack, data: Some(d) } => {
                assert_eq!(&d[..], bodies[ack as usize].as_bytes());
                seen[ack as usize] = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(seen.iter().all(|s| *s));
    let AnyTransport::SioPolling(polling) = &t else {
        panic!("a polling transport")
    };
    // handshake GET + POST + GET, then far fewer POSTs and polls than the 200 echoes
    assert!(
        polling.requests() < 100,
        "{} HTTP requests",
        polling.requests()
    );
    tokio::time::timeout(T, t.close())
        .await
        .expect("close in time")
        .expect("close");
    server.stop().await;
}
