//! The REST client of the polling-vs-push workload against a real wsbench server's routes,
//! and a push viewer that sees the `update` its own write causes.

mod transport_support;

use transport_support::{T, connect, recv, req, send, start};
use wsbench_loadgen::transport::{HttpClient, Incoming, OpKind, Outgoing, SioTransport, Transport};
use wsbench_servers::{RustServer, ServerConfig};

#[tokio::test]
async fn rest_round_trips_on_one_connection() {
    let server = start(RustServer::SioSocketioxide, ServerConfig::default()).await;
    let host = server.addr.to_string();
    let mut http = tokio::time::timeout(T, HttpClient::connect(server.addr, &host))
        .await
        .unwrap()
        .expect("http connects");

    // A push viewer joins `dashboard` (acked, so the membership is in place).
    let mut viewer = connect(&server.sio_endpoint(SioTransport::WebSocket)).await;
    send(
        &mut viewer,
        Outgoing {
            room: Some("dashboard"),
            ack: Some(1),
            ..req(OpKind::Join)
        },
    )
    .await;
    assert_eq!(
        recv(&mut viewer).await,
        Incoming::Ack { ack: 1, data: None }
    );

    let (status, body) = tokio::time::timeout(T, http.get_json("/api/dashboard"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200, "{body:?}");
    let before: serde_json::Value = serde_json::from_slice(&body).unwrap();

    let (status, body) =
        tokio::time::timeout(T, http.post_json("/api/dashboard", r#"{"value":{"n":1}}"#))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let (status, body) = tokio::time::timeout(T, http.get_json("/api/dashboard"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    let after: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        after["version"].as_u64() > before["version"].as_u64(),
        "{before} -> {after}"
    );

    match recv(&mut viewer).await {
        Incoming::Event { name, data } => {
            assert_eq!(name, "update");
            let pushed: serde_json::Value = serde_json::from_slice(&data).unwrap();
            assert_eq!(pushed["version"], after["version"]);
        }
        other => panic!("expected the update event, got {other:?}"),
    }

    let (status, body) = tokio::time::timeout(T, http.get_json("/api/stats"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(stats["http_requests"].as_u64().unwrap() >= 3, "{stats}");
    let b = http.bytes();
    assert!(b.out > 0 && b.r#in > 0);

    let (status, _) = tokio::time::timeout(T, http.get_json("/no/such/route"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 404);

    tokio::time::timeout(T, viewer.close())
        .await
        .unwrap()
        .unwrap();
    drop(http);
    server.stop().await;
}
