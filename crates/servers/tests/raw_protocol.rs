//! The raw protocol (docs/design.md §3) on every raw target: welcome, every op, acks, echo+ack,
//! room isolation, closed sockets leaving rooms, and error replies.
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
    every_op_reaches_exactly_its_recipients,
    closed_socket_leaves_its_rooms,
    bad_requests_get_an_error_and_the_connection_stays
);

async fn every_op_reaches_exactly_its_recipients(t: Raw) {
    let server = Server::start(t, ServerConfig::default()).await;
    let (mut a, ida) = server.connect().await;
    let (mut b, idb) = server.connect().await;
    let (mut c, idc) = server.connect().await;
    for id in [&ida, &idb, &idc] {
        assert!(id.parse::<u64>().is_ok(), "decimal socket id, got {id:?}");
    }
    assert!(ida != idb && idb != idc && ida != idc);

    a.acked(json!({"op":"join","room":"r"}), 1).await;
    c.acked(json!({"op":"join","room":"r"}), 2).await;

    // to_all: everyone, the sender included (its msg is queued before its ack).
    a.acked_after(
        json!({"op":"to_all","data":{"k":1}}),
        3,
        &[msg(json!({"k":1}))],
    )
    .await;
    assert_eq!(b.reply().await, msg(json!({"k":1})));
    assert_eq!(c.reply().await, msg(json!({"k":1})));

    // to_others: everyone but the sender.
    b.acked(json!({"op":"to_others","data":[2]}), 4).await;
    b.barrier().await;
    assert_eq!(a.reply().await, msg(json!([2])));
    assert_eq!(c.reply().await, msg(json!([2])));

    // to_room from a non-member: members only, not the sender.
    b.acked(json!({"op":"to_room","room":"r","data":"x"}), 5)
        .await;
    b.barrier().await;
    assert_eq!(a.reply().await, msg(json!("x")));
    assert_eq!(c.reply().await, msg(json!("x")));

    // to_room from a member: the sender too; the non-member never.
    a.acked_after(
        json!({"op":"to_room","room":"r","data":null}),
        6,
        &[msg(json!(null))],
    )
    .await;
    assert_eq!(c.reply().await, msg(json!(null)));
    b.barrier().await;

    // to_room to a room nobody is in.
    a.acked(json!({"op":"to_room","room":"empty","data":1}), 7)
        .await;

    // to_id: exactly one socket.
    a.acked(json!({"op":"to_id","id":idc,"data":{"to":"c"}}), 8)
        .await;
    assert_eq!(c.reply().await, msg(json!({"to":"c"})));
    a.barrier().await;
    b.barrier().await;
    c.barrier().await;
    a.acked(json!({"op":"to_id","id":"424242","data":1}), 9)
        .await;

    // echo without ack: a msg; with ack: the data rides on the ack instead of a msg.
    a.send(&json!({"op":"echo","data":{"e":1}}).to_string())
        .await;
    assert_eq!(a.reply().await, msg(json!({"e":1})));
    a.send(&json!({"op":"echo","data":{"e":2},"ack":10}).to_string())
        .await;
    assert_eq!(a.reply().await, json!({"op":"ack","ack":10,"data":{"e":2}}));
    a.barrier().await;

    // leave: no more room traffic.
    a.acked(json!({"op":"leave","room":"r"}), 11).await;
    c.acked_after(
        json!({"op":"to_room","room":"r","data":5}),
        12,
        &[msg(json!(5))],
    )
    .await;
    a.barrier().await;
    b.barrier().await;

    assert_eq!(server.stats.dropped(), 0);
    drop((a, b, c));
    server.stop().await.expect("clean shutdown");
}

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
        stall_once: None,
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
