//! The raw protocol (docs/design.md §3) on every raw target, beyond the contract test that
//! every target passes (crates/loadgen/tests/protocol_contract.rs: every op reaches exactly
//! its recipients): closed sockets leaving their rooms, error replies, injected faults.
//!
//! "Never receives" is checked with [`RawClient::barrier`], not with a sleep: the test
//! first waits for the sender's ack (the server queues every recipient's copy before that
//! ack), then the would-be recipient's echo reply must be the next frame it reads.

#[macro_use]
mod common;

use common::{Raw, Server, msg};
use serde_json::json;
use wsbench_servers::config::ServerConfig;

per_target!(
    injected_faults_drop_and_delay_deliveries,
    closed_socket_leaves_its_rooms,
    bad_requests_get_an_error_and_the_connection_stays
);

async fn closed_socket_leaves_its_rooms(t: Raw) {
    let server = Server::start(t, ServerConfig::default()).await;
    let (mut a, _) = server.connect().await;
    let (mut b, _) = server.connect().await;
    a.acked(json!({"op":"join","room":"r"}), 1).await;
    b.acked(json!({"op":"join","room":"r"}), 2).await;
    b.close().await;
    server.stats.wait_connections(|n| *n == 1).await;

    let before = server.stats.deliveries();
    a.acked_after(
        json!({"op":"to_room","room":"r","data":1}),
        3,
        &[msg(json!(1))],
    )
    .await;
    assert_eq!(
        server.stats.deliveries() - before,
        1,
        "only the member still open"
    );
    a.barrier().await;
    drop(a);
    server.stop().await.expect("clean shutdown");
}

async fn bad_requests_get_an_error_and_the_connection_stays(t: Raw) {
    let server = Server::start(t, ServerConfig::default()).await;
    let (mut a, _) = server.connect().await;
    for bad in [
        "not json",
        r#"{"op":"fly","ack":1}"#,
        r#"{"op":"to_room","data":1}"#,
        r#"{"op":"join","room":5}"#,
        r#"[1,2]"#,
    ] {
        a.send(bad).await;
        let reply = a.reply().await;
        assert_eq!(reply["op"], "error", "reply to {bad}: {reply}");
        assert!(
            !reply["reason"].as_str().unwrap_or("").is_empty(),
            "a reason for {bad}"
        );
    }
    if t == Raw::Tcp {
        // No close codes on tcp: invalid UTF-8 is just a malformed request.
        a.send_bytes(b"{\"op\":\"echo\",\"data\":\"\xff\"}").await;
        assert_eq!(a.reply().await["op"], "error");
    } else {
        // The raw protocol is JSON text; a binary frame is refused, not fatal.
        let common::RawClient::Ws(ws) = &mut a else {
            unreachable!()
        };
        use futures_util::SinkExt;
        ws.send(tokio_tungstenite::tungstenite::Message::binary(
            b"{}".to_vec(),
        ))
        .await
        .expect("send binary");
        assert_eq!(a.reply().await["op"], "error");
    }
    a.acked(json!({"op":"join","room":"r"}), 2).await;
    a.barrier().await;
    drop(a);
    server.stop().await.expect("clean shutdown");
}

async fn injected_faults_drop_and_delay_deliveries(t: Raw) {
    use std::time::{Duration, Instant};
    use wsbench_servers::config::Faults;
    let delay = Duration::from_millis(50);
    let faults = Faults {
        drop_every: Some(2),
        delay: Some(delay),
        ..Faults::default()
    };
    let server = Server::start(
        t,
        ServerConfig {
            faults,
            ..Default::default()
        },
    )
    .await;
    let (mut a, _) = server.connect().await;
    let sent = Instant::now();
    for n in 1..=3 {
        a.send(&json!({"op":"echo","data":n}).to_string()).await;
    }
    // The 2nd delivery is dropped; the others come late, in order.
    assert_eq!(a.reply().await, msg(json!(1)));
    assert!(sent.elapsed() >= delay, "delivery delayed by the fault");
    assert_eq!(a.reply().await, msg(json!(3)));
    a.barrier().await;
    assert_eq!(server.stats.fault_dropped(), 1);
    drop(a);
    server.stop().await.expect("clean shutdown");
}
