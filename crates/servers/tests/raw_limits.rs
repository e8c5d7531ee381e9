//! Limits on every raw target: over-limit messages (1009 / tcp close) without disturbing
//! other clients, invalid UTF-8 (1007), fragmented messages capped in total, and the
//! connection limit.

#[macro_use]
mod common;

use common::{Event, Raw, RawClient, Server, msg};
use serde_json::json;
use wsbench_servers::config::ServerConfig;

const MAX: usize = 1024;

fn small() -> ServerConfig {
    ServerConfig {
        max_message_bytes: MAX,
        ..Default::default()
    }
}

per_target!(
    oversize_message_closes_only_that_connection,
    invalid_utf8,
    fragmented_messages_are_capped_in_total,
    connection_limit_refuses_extra_clients
);

fn echo_of_len(len: usize) -> String {
    let head = r#"{"op":"echo","data":""#;
    let pad = "p".repeat(len - head.len() - 2);
    format!("{head}{pad}\"}}")
}

async fn oversize_message_closes_only_that_connection(t: Raw) {
    let server = Server::start(t, small()).await;
    let (mut a, _) = server.connect().await;
    let (mut b, _) = server.connect().await;

    // Exactly at the limit is fine.
    let at_limit = echo_of_len(MAX);
    a.send(&at_limit).await;
    assert_eq!(a.reply().await["op"], "msg");

    a.send(&echo_of_len(MAX + 1)).await;
    let want = if t.is_ws() { Some(1009) } else { None };
    assert_eq!(a.until_closed().await, want);

    b.send(&json!({"op":"echo","data":"still here"}).to_string())
        .await;
    assert_eq!(b.reply().await, msg(json!("still here")));
    server.stats.wait_connections(|n| *n == 1).await;
    drop((a, b));
    server.stop().await.expect("clean shutdown");
}

async fn invalid_utf8(t: Raw) {
    let server = Server::start(t, small()).await;
    let (mut a, _) = server.connect().await;
    let (mut b, _) = server.connect().await;
    a.send_bytes(b"{\"op\":\"echo\",\"data\":\"\xc3\x28\"}")
        .await;
    if t.is_ws() {
        assert_eq!(a.until_closed().await, Some(1007));
    } else {
        assert_eq!(a.reply().await["op"], "error");
        a.barrier().await;
    }
    b.barrier().await;
    drop((a, b));
    server.stop().await.expect("clean shutdown");
}

async fn fragmented_messages_are_capped_in_total(t: Raw) {
    if !t.is_ws() {
        return; // No fragments on tcp.
    }
    let server = Server::start(t, small()).await;
    let (mut a, _) = server.connect().await;
    let (mut b, _) = server.connect().await;
    // Reassembled and handled.
    let text = echo_of_len(MAX);
    a.send_fragmented(&text, 100).await;
    let reply = a.reply().await;
    assert_eq!(reply["op"], "msg");
    assert_eq!(reply["data"].as_str().map(str::len), Some(MAX - 23));
    // Every fragment is small, the total is not.
    a.send_fragmented(&echo_of_len(3 * MAX), 100).await;
    assert_eq!(a.until_closed().await, Some(1009));
    // Invalid UTF-8 split across fragments.
    let mut bad = b"{\"op\":\"echo\",\"data\":\"\xe2".to_vec();
    bad.extend_from_slice(b"\x28\xa1\"}");
    let common::RawClient::Ws(ws) = &mut b else {
        unreachable!()
    };
    {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        let (p1, p2) = bad.split_at(22);
        ws.feed(Message::Frame(Frame::message(
            p1.to_vec(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await
        .unwrap();
        ws.feed(Message::Frame(Frame::message(
            p2.to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .await
        .unwrap();
        ws.flush().await.unwrap();
    }
    assert_eq!(b.until_closed().await, Some(1007));
    drop((a, b));
    server.stop().await.expect("clean shutdown");
}

async fn connection_limit_refuses_extra_clients(t: Raw) {
    let server = Server::start(
        t,
        ServerConfig {
            max_connections: 1,
            ..small()
        },
    )
    .await;
    let (mut a, _) = server.connect().await;
    match RawClient::connect_raw(t, server.addr).await {
        // WebSocket: the upgrade is answered 503.
        Err(e) => assert!(t.is_ws() && e.contains("503"), "{e}"),
        // tcp: accepted by the kernel, then closed without a welcome.
        Ok(mut extra) => {
            assert!(!t.is_ws());
            assert_eq!(extra.next().await, Event::Closed(None));
        }
    }
    a.barrier().await;
    // The slot frees when the first client leaves.
    a.close().await;
    server.stats.wait_connections(|n| *n == 0).await;
    let (mut c, _) = connect_when_free(&server).await;
    c.barrier().await;
    drop(c);
    server.stop().await.expect("clean shutdown");
}

/// The hub forgets a socket just before its task releases the connection slot; retry the
/// connect until the slot is back (each attempt is a real refusal, not a sleep).
async fn connect_when_free(server: &Server) -> (RawClient, String) {
    for _ in 0..1000 {
        if let Ok(mut c) = RawClient::connect_raw(server.target, server.addr).await
            && let Event::Reply(v) = c.next().await
        {
            return (c, v["id"].as_str().unwrap().to_owned());
        }
        tokio::task::yield_now().await;
    }
    panic!("the connection slot never came back");
}
