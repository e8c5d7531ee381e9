//! Adversarial suite, what is particular to `sio-socketioxide`: malformed Socket.IO
//! packets (socketioxide ends the connection, with a close frame that has no code: pinned
//! here, recorded in docs/hardening.md), event data it cannot read (an `error` event, not
//! silence), an overflowing ack id, the connection limit over Engine.IO sessions that
//! never CONNECT and its refusal text, a bogus polling sid, a huge polling POST, an
//! attachment-count bomb, and the slow-consumer policy socketioxide cannot honour.

#[macro_use]
#[allow(unused_macros)]
mod common;
#[macro_use]
mod adversarial_support;
mod sio_rest_common;

use std::time::Duration;

use adversarial_support::ws::{End, frame, open, read_end, read_text, upgrade};
use adversarial_support::{Probe, Rss, Running, Target, config, serial};
use serde_json::{Value, json};
use sio_rest_common::sio_client::{SioClient, SioPacket, Transport};
use tokio::io::AsyncWriteExt;
use wsbench_servers::config::{ServerConfig, SlowConsumer};
use wsbench_servers::error::ServerError;

/// RSS growth allowed over a whole case.
const RSS_BOUND_MIB: u64 = 48;

async fn send_text(s: &mut tokio::net::TcpStream, text: &str) {
    s.write_all(&frame(true, 0, 1, true, text.as_bytes()))
        .await
        .expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_end_the_connection_without_a_close_code() {
    let _one_at_a_time = serial().await;
    let server = Running::start(Target::Sio, config()).await;
    let probe = Probe::start(&server).await;
    for packet in ["42[\"echo\",", "42[]", "42[5,\"x\"]", "4", "49", "4x"] {
        let mut s = open(&server).await;
        send_text(&mut s, packet).await;
        assert_eq!(
            read_end(&mut s).await,
            End::Close(None),
            "packet {packet:?}"
        );
    }
    probe.finish().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_event_data_gets_an_error_event() {
    let _one_at_a_time = serial().await;
    let server = Running::start(Target::Sio, config()).await;
    let probe = Probe::start(&server).await;
    let mut c = SioClient::connect(server.addr, Transport::WebSocket).await;
    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    for (packet, why) in [
        (format!("4221[\"echo\",{deep}]"), "recursion limit"),
        // serde_json: "unexpected end of hex escape" (a high surrogate with no low one).
        ("4222[\"echo\",\"\\ud800\"]".to_owned(), "hex escape"),
        (format!("42[\"to_all\",{deep}]"), "recursion limit"),
    ] {
        c.send_raw(packet.clone());
        match c.next().await {
            SioPacket::Event { name, args, .. } if name == "error" => {
                let reason = args[0].as_str().unwrap_or_default();
                assert!(reason.contains("malformed arguments"), "{packet}: {reason}");
                assert!(reason.contains(why), "{packet}: {reason}");
            }
            other => panic!("{packet}: expected an error event, got {other:?}"),
        }
        c.assert_nothing_pending().await;
    }
    probe.finish().await;
    server.stop().await;
}

/// socketioxide's parser reads an ack id that overflows u64 as no ack id at all: the echo
/// is answered as an ack-less one, with a `msg` (pinned; docs/hardening.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_ack_id_is_treated_as_none() {
    let _one_at_a_time = serial().await;
    let server = Running::start(Target::Sio, config()).await;
    let mut c = SioClient::connect(server.addr, Transport::WebSocket).await;
    c.send_raw("42184467440737095516160[\"echo\",\"big\"]");
    assert_eq!(c.expect_msg().await, json!("big"));
    c.assert_nothing_pending().await;
    server.stop().await;
}

/// With `max_connections` 2, the probe and one WebSocket Engine.IO session that never
/// sends CONNECT fill the server: the next connection is refused with 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_sessions_without_connect_are_counted() {
    let _one_at_a_time = serial().await;
    let cfg = ServerConfig {
        max_connections: 2,
        ..config()
    };
    let server = Running::start(Target::Sio, cfg).await;
    let probe = Probe::start(&server).await;
    let (_lurker, head) = upgrade(&server, "13").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (_, refused) = upgrade(&server, "13").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    probe.finish().await;
    server.stop().await;
}

/// A CONNECT over the limit of connected sockets is refused with the connect error
/// "connection limit reached". (A polling socket whose requests are all answered holds no
/// TCP connection, so the socket count is what refuses the next one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_over_the_limit_says_so() {
    let _one_at_a_time = serial().await;
    let cfg = ServerConfig {
        max_connections: 1,
        ..config()
    };
    let server = Running::start(Target::Sio, cfg).await;
    let (status, open) =
        admitted(&server, "GET", "/socket.io/?EIO=4&transport=polling", None).await;
    assert_eq!(status, 200, "{open}");
    let sid = open_sid(&open);
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let (status, body) = admitted(&server, "POST", &path, Some("40")).await;
    assert_eq!(status, 200, "{body}");
    // The polling socket is connected and holds no TCP connection: a WebSocket gets its
    // TCP slot (once the POST's connection is gone), then a connect error.
    let mut s = loop {
        let (s, head) = upgrade(&server, "13").await;
        if head.starts_with("HTTP/1.1 101") {
            break s;
        }
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        tokio::task::yield_now().await;
    };
    assert!(
        read_text(&mut s).await.starts_with('0'),
        "Engine.IO open packet"
    );
    send_text(&mut s, "40").await;
    let reply = loop {
        match read_text(&mut s).await {
            ping if ping == "2" => send_text(&mut s, "3").await,
            reply => break reply,
        }
    };
    assert_eq!(reply, r#"44{"message":"connection limit reached"}"#);
    server.stop().await;
}

/// An HTTP request, repeated while it is refused with 503: at a limit of 1 the previous
/// request's connection may not be gone yet (each attempt is a real refusal).
async fn admitted(server: &Running, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    for _ in 0..1000 {
        let (status, text) = common::http(server.addr, method, path, body).await;
        if status != 503 {
            return (status, text);
        }
        tokio::task::yield_now().await;
    }
    panic!("{method} {path}: still refused after 1000 attempts");
}

fn open_sid(open: &str) -> String {
    let json = open.trim_start_matches('0');
    let v: Value = serde_json::from_str(json.split('\x1e').next().unwrap()).expect("open JSON");
    v["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_bogus_sid_and_huge_post() {
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let server = Running::start(Target::Sio, config()).await;
    let probe = Probe::start(&server).await;
    let (status, _) = common::http(
        server.addr,
        "POST",
        "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAA",
        Some("40"),
    )
    .await;
    assert_eq!(status, 400, "bogus sid");

    let (_, open) = common::http(
        server.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        None,
    )
    .await;
    let path = format!(
        "/socket.io/?EIO=4&transport=polling&sid={}",
        open_sid(&open)
    );
    let huge = format!("42[\"echo\",\"{}\"]", "h".repeat(3 << 20));
    let (status, body) = common::http(server.addr, "POST", &path, Some(&huge)).await;
    assert_eq!(status, 413, "huge polling POST: {body}");
    probe.finish().await;
    rss.assert_grew_at_most(RSS_BOUND_MIB, "huge polling POST");
    server.stop().await;
}

/// A binary event announcing 10^9 attachments: socketioxide waits for them on that
/// connection only; nothing is allocated for the count and others are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_count_bomb() {
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let server = Running::start(Target::Sio, config()).await;
    let probe = Probe::start(&server).await;
    let mut bombs = Vec::new();
    for _ in 0..20 {
        let mut s = open(&server).await;
        send_text(
            &mut s,
            "451000000000-[\"echo\",{\"_placeholder\":true,\"num\":0}]",
        )
        .await;
        bombs.push(s);
    }
    probe.finish().await;
    rss.assert_grew_at_most(RSS_BOUND_MIB, "attachment-count bomb");
    drop(bombs);
    server.stop().await;
}

/// socketioxide cannot close a socket whose queue is full: `--slow-consumer disconnect`
/// is refused at start rather than ignored.
#[tokio::test]
async fn slow_consumer_disconnect_is_refused_at_start() {
    let cfg = ServerConfig {
        slow_consumer: SlowConsumer::Disconnect,
        ..config()
    };
    let server = Running::start(Target::Sio, cfg).await;
    match server.stop_within(Duration::from_secs(10)).await {
        Err(ServerError::Config(e)) => assert!(e.contains("cannot honour"), "{e}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
