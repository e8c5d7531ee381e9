//! Connection lifecycle on every raw target: slow consumers (drop and disconnect
//! policies) with bounded queues, graceful shutdown, and the REST routes on the same port.

#[macro_use]
mod common;

use common::{Raw, Server, http, msg};
use serde_json::{Value, json};
use wsbench_servers::config::{ServerConfig, SlowConsumer};

per_target!(
    slow_consumer_is_dropped_not_buffered,
    slow_consumer_is_disconnected,
    graceful_shutdown_closes_clients,
    rest_routes_share_the_port
);

const QUEUE: usize = 16;
/// Big enough that the kernel's socket buffers toward the slow client fill quickly.
const PAD: usize = 16 * 1024;

/// A client that never reads while `fast` floods `to_all`; returns how many rounds ran.
/// `fast` reads its own copy of every broadcast before sending the next, so it is never
/// slow itself, and it must get every one of them.
async fn flood_until(server: &Server, fast: &mut common::RawClient, done: impl Fn() -> bool) {
    let pad = "x".repeat(PAD);
    for seq in 0..20_000u64 {
        if done() {
            return;
        }
        fast.send(&json!({"op":"to_all","data":{"seq":seq,"pad":pad}}).to_string())
            .await;
        let reply = fast.reply().await;
        assert_eq!(
            reply["data"]["seq"],
            json!(seq),
            "the fast client misses nothing"
        );
        assert!(
            server.stats.queue_high_water() <= QUEUE,
            "queues stay bounded"
        );
    }
    panic!("the slow consumer policy never applied");
}

async fn slow_consumer_is_dropped_not_buffered(t: Raw) {
    let cfg = ServerConfig {
        outbound_queue: QUEUE,
        ..Default::default()
    };
    let server = Server::start(t, cfg).await;
    let (slow, _) = server.connect().await;
    let (mut fast, _) = server.connect().await;
    flood_until(&server, &mut fast, || server.stats.dropped() >= 10).await;
    assert!(server.stats.queue_high_water() <= QUEUE);
    assert_eq!(server.stats.slow_disconnects(), 0);
    // Dropping deliveries did not cost the slow client its connection.
    assert_eq!(server.stats.connections(), 2);
    fast.barrier().await;
    drop((slow, fast));
    server.stop().await.expect("clean shutdown");
}

async fn slow_consumer_is_disconnected(t: Raw) {
    let cfg = ServerConfig {
        outbound_queue: QUEUE,
        slow_consumer: SlowConsumer::Disconnect,
        ..Default::default()
    };
    let server = Server::start(t, cfg).await;
    let (mut slow, _) = server.connect().await;
    let (mut fast, _) = server.connect().await;
    flood_until(&server, &mut fast, || server.stats.slow_disconnects() >= 1).await;
    server.stats.wait_connections(|n| *n == 1).await;
    fast.barrier().await;
    // The slow client, reading at last, finds its backlog and then the end.
    let code = slow.until_closed().await;
    assert!(
        code.is_none() || code == Some(1008),
        "closed as a slow consumer: {code:?}"
    );
    drop((slow, fast));
    server.stop().await.expect("clean shutdown");
}

async fn graceful_shutdown_closes_clients(t: Raw) {
    let server = Server::start(t, ServerConfig::default()).await;
    let (mut a, _) = server.connect().await;
    let (mut b, _) = server.connect().await;
    a.acked(json!({"op":"join","room":"r"}), 1).await;
    // A queued broadcast is flushed before the close.
    b.acked(json!({"op":"to_room","room":"r","data":"last"}), 2)
        .await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(a.reply().await, msg(json!("last")));
    let want = if t.is_ws() { Some(1001) } else { None };
    assert_eq!(a.until_closed().await, want);
    assert_eq!(b.until_closed().await, want);
    // The server waits (boundedly) for the clients' side of the close.
    drop((a, b));
    stopping.await.expect("stop task").expect("run returns Ok");
}

async fn rest_routes_share_the_port(t: Raw) {
    if !t.is_ws() {
        return; // tcp is not HTTP.
    }
    let server = Server::start(t, ServerConfig::default()).await;
    let (mut viewer, _) = server.connect().await;
    viewer
        .acked(json!({"op":"join","room":"dashboard"}), 1)
        .await;

    let (status, body) = http(server.addr, "GET", "/api/dashboard", None).await;
    assert_eq!(status, 200, "{body}");
    let row: Value = serde_json::from_str(&body).expect("dashboard row is JSON");
    assert!(row.get("version").is_some(), "{row}");

    let (status, body) = http(
        server.addr,
        "POST",
        "/api/dashboard",
        Some(r#"{"value":{"n":7}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let posted: Value = serde_json::from_str(&body).expect("update is JSON");
    // The push reaches the room as a raw msg carrying the committed row.
    let pushed = viewer.reply().await;
    assert_eq!(pushed["op"], "msg");
    assert_eq!(pushed["data"], posted);
    assert_eq!(pushed["data"]["value"], json!({"n":7}));
    drop(viewer);
    server.stop().await.expect("clean shutdown");
}
