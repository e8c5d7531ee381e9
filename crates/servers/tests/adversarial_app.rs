//! Adversarial suite, the application protocol on every Rust target: room limits (count
//! and name size, with the exact error reply), thousands of joins by one client without
//! stalling anyone else, outbound queues bounded in bytes against a client that asks for
//! large echoes and never reads, and hostile tcp frames.

#[macro_use]
#[allow(unused_macros)]
mod common;
#[macro_use]
mod adversarial_support;
mod sio_rest_common;

use adversarial_support::{Probe, Rss, Running, Target, WAIT, config, read_until_closed, serial};
use common::{Raw, RawClient};
use sio_rest_common::sio_client::{SioClient, SioPacket, Transport};
use tokio::io::AsyncWriteExt;
use wsbench_servers::config::ServerConfig;

/// RSS growth allowed over a whole case.
const RSS_BOUND_MIB: u64 = 48;

/// A client of any target that can join rooms and tell acks from error replies.
enum Client {
    Raw(RawClient, u64),
    Sio(SioClient),
}

/// What a join got.
#[derive(Debug, PartialEq)]
enum Joined {
    Ack,
    Error(String),
}

impl Client {
    async fn connect(server: &Running) -> Client {
        match server.target.raw() {
            Some(raw) => Client::Raw(RawClient::connect(raw, server.addr).await.0, 0),
            None => Client::Sio(SioClient::connect(server.addr, Transport::WebSocket).await),
        }
    }

    /// Sends a join, with an ack or without. Room names here are plain ASCII, so the
    /// request is formatted directly (serialising 512 KB names through serde_json in a
    /// debug build would cost more than the case).
    async fn send_join(&mut self, room: &str, ack: bool) {
        assert!(room.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        match self {
            Client::Raw(c, n) => {
                let req = if ack {
                    *n += 1;
                    format!("{{\"op\":\"join\",\"room\":\"{room}\",\"ack\":{n}}}")
                } else {
                    format!("{{\"op\":\"join\",\"room\":\"{room}\"}}")
                };
                c.send(&req).await;
            }
            Client::Sio(c) if ack => {
                let id = c.next_ack_id();
                c.send_raw(format!("42{id}[\"join\",\"{room}\"]"));
            }
            Client::Sio(c) => c.send_raw(format!("42[\"join\",\"{room}\"]")),
        }
    }

    /// The next ack or error reply.
    async fn next(&mut self) -> Joined {
        match self {
            Client::Raw(c, _) => {
                let v = c.reply().await;
                match v["op"].as_str() {
                    Some("ack") => Joined::Ack,
                    Some("error") => Joined::Error(v["reason"].as_str().unwrap().to_owned()),
                    _ => panic!("unexpected reply {v}"),
                }
            }
            Client::Sio(c) => match c.next().await {
                SioPacket::Ack { .. } => Joined::Ack,
                SioPacket::Event { name, args, .. } if name == "error" => {
                    Joined::Error(args[0].as_str().unwrap().to_owned())
                }
                other => panic!("unexpected packet {other:?}"),
            },
        }
    }

    async fn join(&mut self, room: &str) -> Joined {
        self.send_join(room, true).await;
        self.next().await
    }
}

adversarial!(room_limits_refuse_with_an_error: Tcp, Tungstenite, Fastwebsockets, Sio);

async fn room_limits_refuse_with_an_error(t: Target) {
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let cfg = ServerConfig {
        max_rooms_per_connection: 50,
        max_room_name_bytes: 64,
        ..config()
    };
    let server = Running::start(t, cfg).await;
    let probe = Probe::start(&server).await;
    let mut c = Client::connect(&server).await;
    for i in 0..50 {
        assert_eq!(c.join(&format!("room-{i}")).await, Joined::Ack, "{t:?}");
    }
    // Joining a room it is already in is not a new room.
    assert_eq!(c.join("room-7").await, Joined::Ack);
    let full = "join: room limit reached: a connection may be in at most 50 rooms";
    assert_eq!(c.join("room-50").await, Joined::Error(full.into()), "{t:?}");
    let long = "n".repeat(65);
    let too_long = "join: room name of 65 bytes is over the limit of 64 bytes";
    assert_eq!(c.join(&long).await, Joined::Error(too_long.into()), "{t:?}");
    // 10 joins of 512 KB names: each refused with the exact reason (the RSS bound is a
    // sanity check; a debug build parses these slowly, so there are not more).
    let huge = "h".repeat(512 * 1024);
    for _ in 0..10 {
        match c.join(&huge).await {
            Joined::Error(e) => assert!(e.contains("over the limit of 64 bytes"), "{e}"),
            Joined::Ack => panic!("{t:?}: a 512 KB room name was joined"),
        }
    }
    drop(c);
    probe.finish().await;
    rss.assert_grew_at_most(RSS_BOUND_MIB, "room limits");
    server.stop().await;
}

adversarial!(many_joins_do_not_stall_others: Tcp, Tungstenite, Fastwebsockets, Sio);

/// One client sends 5,000 joins of distinct rooms (the default limit is 1,000): the first
/// 1,000 are kept, the rest refused, and the probe's echoes stay prompt throughout.
async fn many_joins_do_not_stall_others(t: Target) {
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let server = Running::start(t, config()).await;
    let limit = ServerConfig::default().max_rooms_per_connection;
    let probe = Probe::start(&server).await;
    let mut c = Client::connect(&server).await;
    let mut refused = 0;
    for round in 0..5 {
        for i in 0..limit {
            c.send_join(&format!("r{round}-{i}"), false).await;
        }
        if round > 0 {
            for _ in 0..limit {
                match c.next().await {
                    Joined::Error(e) => {
                        assert!(e.starts_with("join: room limit reached"), "{e}");
                        refused += 1;
                    }
                    Joined::Ack => panic!("no ack was asked for"),
                }
            }
        }
    }
    assert_eq!(refused, 4 * limit, "{t:?}");
    // The first round's rooms are kept: a join of one of them is not a new room.
    assert_eq!(c.join("r0-0").await, Joined::Ack);
    drop(c);
    probe.finish().await;
    rss.assert_grew_at_most(RSS_BOUND_MIB, "many joins");
    server.stop().await;
}

adversarial!(outbound_queue_is_bounded_in_bytes: Tcp, Tungstenite, Fastwebsockets);

/// A client asks for 120 echoes of 500 KB and never reads: with a 4 MiB byte bound the
/// server keeps at most that much for it and drops the rest (the slow-consumer policy),
/// instead of queueing 60 MB.
async fn outbound_queue_is_bounded_in_bytes(t: Target) {
    const ECHOES: u64 = 300;
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let cfg = ServerConfig {
        outbound_queue_bytes: 4 << 20,
        ..config()
    };
    let server = Running::start(t, cfg).await;
    let probe = Probe::start(&server).await;
    let raw = t.raw().expect("a raw target");
    let (mut hog, _) = RawClient::connect(raw, server.addr).await;
    let pad = "p".repeat(500 * 1024);
    // 300 echoes of 500 KiB are ~146 MiB unbounded; the queue holds at most 4 MiB. The
    // RSS bound is wider than the other cases' because the allocator keeps some of the
    // freed 500 KiB buffers (glibc raises its mmap threshold after the first free): growth
    // of up to 66 MiB was seen with the bound working, so the test allows two-thirds of the
    // unbounded figure, which an unbounded queue (all 146 MiB held) still exceeds.
    for seq in 0..ECHOES {
        hog.send(&format!(
            "{{\"op\":\"echo\",\"data\":{{\"seq\":{seq},\"pad\":\"{pad}\"}}}}"
        ))
        .await;
    }
    // Every echo is either queued (a delivery) or dropped; wait until all of them are one or
    // the other (the hog reads nothing, so there is no reply to wait for).
    let dropped = tokio::time::timeout(WAIT, async {
        loop {
            let d = server.stats.dropped();
            if d + server.stats.deliveries() >= ECHOES {
                return d;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every echo handled in time");
    assert!(dropped > 0, "{t:?}: nothing was dropped");
    probe.finish().await;
    let unbounded_mib = ECHOES * 500 / 1024;
    rss.assert_grew_at_most(unbounded_mib * 2 / 3, "large echoes never read");
    drop(hog);
    server.stop().await;
}

adversarial!(hostile_tcp_frames: Tcp);

/// tcp: a declared length of 2^32 - 1 closes the connection; a zero-length frame and
/// invalid UTF-8 get error replies.
async fn hostile_tcp_frames(t: Target) {
    let _one_at_a_time = serial().await;
    let server = Running::start(t, config()).await;
    let probe = Probe::start(&server).await;

    let mut s = server.tcp().await;
    s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    s.write_all(b"{\"op\":").await.unwrap();
    // Our side is done: the server's close need not wait out its linger.
    s.shutdown().await.unwrap();
    let got = read_until_closed(&mut s, WAIT).await;
    // Only the welcome came before the close.
    assert!(String::from_utf8_lossy(&got).contains("welcome"));
    assert!(!String::from_utf8_lossy(&got).contains("error"));

    let (mut c, _) = RawClient::connect(Raw::Tcp, server.addr).await;
    c.send_bytes(b"").await;
    assert_eq!(c.reply().await["op"], "error");
    c.send_bytes(b"{\"op\":\"echo\",\"data\":\"\xff\"}").await;
    assert_eq!(c.reply().await["op"], "error");
    c.barrier().await;
    drop(c);
    probe.finish().await;
    server.stop().await;
}
