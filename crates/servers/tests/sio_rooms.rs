//! The sio-socketioxide target: rooms across transports, disconnects, dashboard pushes,
//! connection limit, fault injection and shutdown.

mod sio_rest_common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wsbench_servers::config::Faults;

use sio_rest_common::http::{get_json, post_json};
use sio_rest_common::sio_client::{SioClient, SioPacket, Transport};
use sio_rest_common::{sio_config, start_sio};

fn data(from: u32, seq: u64) -> Value {
    json!({"from": from, "seq": seq, "t": 0, "pad": ""})
}

/// Waits (bounded) until the server reports `n` connected sockets.
async fn wait_connected(addr: std::net::SocketAddr, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // At a connection limit of 1 the probe itself may be refused (503) until the last
        // client's TCP connection is gone: that is "not yet" too.
        let got = sio_rest_common::http::try_request(addr, "GET", "/api/stats", None).await;
        let stats: Value = match got {
            Some((200, body)) => serde_json::from_str(&body).expect("JSON body"),
            // Refused (503, or the refusal's close won the race): not yet.
            Some((503, _)) | None => Value::Null,
            Some((status, body)) => panic!("GET /api/stats: {status} {body}"),
        };
        if stats["connected"] == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "connected never reached {n}: {stats}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_and_websocket_members_share_a_room() {
    let server = start_sio(sio_config()).await;
    let mut ws = SioClient::connect(server.addr, Transport::WebSocket).await;
    let mut poll = SioClient::connect(server.addr, Transport::Polling).await;
    ws.call("join", &[json!("mixed")]).await;
    poll.call("join", &[json!("mixed")]).await;
    for seq in 0..20 {
        let got = ws
            .call_and_receive("to_room", &[json!("mixed"), data(1, seq)])
            .await;
        assert_eq!(got, data(1, seq));
    }
    for seq in 0..20 {
        assert_eq!(
            poll.expect_msg().await,
            data(1, seq),
            "polling member, in order"
        );
    }
    let got = poll
        .call_and_receive("to_room", &[json!("mixed"), data(2, 0)])
        .await;
    assert_eq!(got, data(2, 0));
    assert_eq!(ws.expect_msg().await, data(2, 0));
    ws.close().await;
    poll.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_socket_leaves_its_rooms() {
    let server = start_sio(sio_config()).await;
    for t in [Transport::WebSocket, Transport::Polling] {
        let mut stay = SioClient::connect(server.addr, Transport::WebSocket).await;
        let mut gone = SioClient::connect(server.addr, t).await;
        stay.call("join", &[json!("r")]).await;
        gone.call("join", &[json!("r")]).await;
        let gone_id = gone.sid.clone();
        gone.close().await;
        wait_connected(server.addr, 1).await;
        post_json(server.addr, "/api/stats/reset", json!({})).await;

        let got = stay
            .call_and_receive("to_room", &[json!("r"), data(3, 1)])
            .await;
        assert_eq!(got, data(3, 1));
        stay.call("to_id", &[json!(gone_id), data(3, 2)]).await;
        stay.assert_nothing_pending().await;
        let stats = get_json(server.addr, "/api/stats").await;
        assert_eq!(
            stats["dropped"], 0,
            "{t:?}: no delivery attempted to the gone socket: {stats}"
        );
        stay.close().await;
        wait_connected(server.addr, 0).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_writes_are_pushed_to_the_dashboard_room() {
    let server = start_sio(sio_config()).await;
    let mut viewer = SioClient::connect(server.addr, Transport::WebSocket).await;
    let mut poller = SioClient::connect(server.addr, Transport::Polling).await;
    let mut outsider = SioClient::connect(server.addr, Transport::WebSocket).await;
    viewer.call("join", &[json!("dashboard")]).await;
    poller.call("join", &[json!("dashboard")]).await;
    post_json(server.addr, "/api/stats/reset", json!({})).await;
    for i in 1..=3 {
        let row = post_json(server.addr, "/api/dashboard", json!({"value": {"n": i}})).await;
        assert_eq!(row["version"], i);
        for c in [&mut viewer, &mut poller] {
            match c.next().await {
                SioPacket::Event { name, args, .. } if name == "update" => {
                    assert_eq!(args, vec![row.clone()])
                }
                other => panic!("expected update, got {other:?}"),
            }
        }
    }
    outsider.assert_nothing_pending().await;
    let snapshot = get_json(server.addr, "/api/dashboard").await;
    assert_eq!(snapshot["version"], 3);
    let stats = get_json(server.addr, "/api/stats").await;
    assert_eq!(stats["db_queries_app"], 4, "{stats}");
    assert_eq!(stats["db_queries_engine"], 4, "{stats}");
    assert_eq!(stats["http_requests"], 4, "{stats}");
    assert_eq!(stats["connected"], 3, "{stats}");
    for c in [viewer, poller, outsider] {
        c.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_get_a_connect_error() {
    let cfg = wsbench_servers::config::ServerConfig {
        max_connections: 1,
        ..sio_config()
    };
    let server = start_sio(cfg).await;
    let mut first = SioClient::connect(server.addr, Transport::WebSocket).await;
    // The limit counts TCP connections first: a second WebSocket is refused at the
    // upgrade (the socket-count refusal, a connect error, is in adversarial_sio.rs).
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let refused = tokio_tungstenite::connect_async(url).await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("503")),
        "{:?}",
        refused.map(|_| ())
    );
    first.assert_nothing_pending().await;
    first.close().await;
    wait_connected(server.addr, 0).await;
    // The slot is back once the server has dropped the first TCP connection.
    let again = loop {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => break ws,
            Err(e) => assert!(e.to_string().contains("503"), "{e}"),
        }
        tokio::task::yield_now().await;
    };
    drop(again);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_every_skips_exactly_every_kth_delivery() {
    let cfg = wsbench_servers::config::ServerConfig {
        faults: Faults {
            drop_every: Some(3),
            ..Faults::default()
        },
        ..sio_config()
    };
    let server = start_sio(cfg).await;
    let mut a = SioClient::connect(server.addr, Transport::WebSocket).await;
    let mut b = SioClient::connect(server.addr, Transport::Polling).await;
    a.call("join", &[json!("r")]).await;
    // 6 deliveries to b alone (a is not in room "r2"): deliveries 3 and 6 are skipped.
    b.call("join", &[json!("r2")]).await;
    for seq in 0..6 {
        a.call("to_room", &[json!("r2"), data(5, seq)]).await;
    }
    for seq in [0, 1, 3, 4] {
        assert_eq!(b.expect_msg().await, data(5, seq));
    }
    b.assert_nothing_pending().await;
    let stats = get_json(server.addr, "/api/stats").await;
    assert_eq!(stats["fault_dropped"], 2, "{stats}");
    assert_eq!(stats["dropped"], 0, "{stats}");
    a.close().await;
    b.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_holds_every_delivery() {
    let delay = Duration::from_millis(150);
    let cfg = wsbench_servers::config::ServerConfig {
        faults: Faults {
            delay: Some(delay),
            ..Faults::default()
        },
        ..sio_config()
    };
    let server = start_sio(cfg).await;
    let mut a = SioClient::connect(server.addr, Transport::WebSocket).await;
    let started = Instant::now();
    a.emit("echo", &[data(6, 0)]);
    assert_eq!(a.expect_msg().await, data(6, 0));
    assert!(
        started.elapsed() >= delay,
        "delivered after {:?}",
        started.elapsed()
    );
    a.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_disconnects_clients_and_returns() {
    let server = start_sio(sio_config()).await;
    let mut ws = SioClient::connect(server.addr, Transport::WebSocket).await;
    let mut poll = SioClient::connect(server.addr, Transport::Polling).await;
    server.stop().await;
    for c in [&mut ws, &mut poll] {
        loop {
            if c.next().await == SioPacket::Disconnected {
                break;
            }
        }
    }
}
