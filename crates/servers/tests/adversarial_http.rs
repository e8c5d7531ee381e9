//! Adversarial suite, connections and HTTP: slow, idle and half-sent requests, the
//! connection limit over every kind of connection, header floods, wrong methods and paths,
//! oversize and stalled REST bodies, connection floods ended by RST, and shutdown with
//! half-sent requests in flight (it must meet its deadline). Each case runs while a
//! well-behaved client keeps getting prompt echoes, and bounds the process's RSS growth.

#[macro_use]
#[allow(unused_macros)]
mod common;
#[macro_use]
mod adversarial_support;
mod sio_rest_common;

use std::time::Duration;

use adversarial_support::{
    Probe, Rss, Running, Target, WAIT, config, read_until_closed, serial, status_of,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wsbench_servers::config::ServerConfig;

/// RSS growth allowed over a whole case.
const RSS_BOUND_MIB: u64 = 48;

/// How long a connection the server should drop may stay open: the suite's 1 s read
/// timeout plus a generous margin.
const CLOSED_WITHIN: Duration = Duration::from_secs(5);

async fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).await.expect("write");
}

adversarial!(slow_and_idle_connections_are_closed: Tungstenite, Fastwebsockets, Sio);

/// Nothing sent, partial headers, headers one byte at a time, and an idle keep-alive
/// connection: all closed after the read timeout.
async fn slow_and_idle_connections_are_closed(t: Target) {
    let _one_at_a_time = serial().await;
    let server = Running::start(t, config()).await;
    let probe = Probe::start(&server).await;

    let mut silent = server.tcp().await;
    let mut partial = server.tcp().await;
    send(&mut partial, b"GET /ws HTTP/1.1\r\nHost: x\r\n").await;
    let mut idle = server.tcp().await;
    send(&mut idle, b"GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut drip = server.tcp().await;
    let dripping = tokio::spawn(async move {
        // An attacker's pace, not a synchronisation: one header byte every 200 ms.
        for b in b"GET /api/stats HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
            if drip.write_all(&[*b]).await.is_err() {
                return drip;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drip
    });

    assert!(
        read_until_closed(&mut silent, CLOSED_WITHIN)
            .await
            .is_empty()
    );
    read_until_closed(&mut partial, CLOSED_WITHIN).await;
    let kept_alive = read_until_closed(&mut idle, CLOSED_WITHIN).await;
    assert_eq!(
        status_of(&kept_alive),
        Some(200),
        "{t:?}: the one request was served"
    );
    let mut drip = tokio::time::timeout(WAIT, dripping)
        .await
        .expect("dripping ends")
        .expect("drip task");
    read_until_closed(&mut drip, CLOSED_WITHIN).await;

    probe.finish().await;
    server.stop().await;
}

adversarial!(connection_limit_counts_every_connection: Tungstenite, Fastwebsockets, Sio);

/// With `max_connections` 3, the probe's WebSocket and two silent TCP connections fill
/// it: the next connection gets 503, REST included, until a silent one is gone.
async fn connection_limit_counts_every_connection(t: Target) {
    let _one_at_a_time = serial().await;
    let cfg = ServerConfig {
        max_connections: 3,
        http_read_timeout: Duration::from_secs(30),
        ..config()
    };
    let server = Running::start(t, cfg).await;
    let probe = Probe::start(&server).await;
    let silent_a = server.tcp().await;
    let silent_b = server.tcp().await;

    let mut over = server.tcp().await;
    send(&mut over, b"GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let refused = read_until_closed(&mut over, WAIT).await;
    assert_eq!(
        status_of(&refused),
        Some(503),
        "{t:?}: {}",
        String::from_utf8_lossy(&refused)
    );
    assert!(String::from_utf8_lossy(&refused).contains("connection limit reached"));

    // A slot frees when a connection closes (retry until the server has seen it go).
    drop(silent_a);
    let mut served = false;
    for _ in 0..200 {
        let (status, _) = common::http(server.addr, "GET", "/api/stats", None).await;
        if status == 200 {
            served = true;
            break;
        }
        assert_eq!(status, 503);
        tokio::task::yield_now().await;
    }
    assert!(served, "{t:?}: the freed slot was never reused");
    drop(silent_b);
    probe.finish().await;
    server.stop().await;
}

adversarial!(header_floods_are_refused_and_bounded: Tungstenite, Fastwebsockets, Sio);

/// 200 connections each send 100 KB of headers that never end: each gets 431 (heads are
/// capped at 64 KiB), and memory stays bounded.
async fn header_floods_are_refused_and_bounded(t: Target) {
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let server = Running::start(t, config()).await;
    let probe = Probe::start(&server).await;
    let line = format!("X-Flood: {}\r\n", "f".repeat(1000));
    let flood: Vec<u8> = std::iter::once("GET /api/stats HTTP/1.1\r\nHost: x\r\n".to_owned())
        .chain(std::iter::repeat_n(line, 100))
        .collect::<String>()
        .into_bytes();
    for batch in 0..4 {
        let mut conns = Vec::new();
        for _ in 0..50 {
            let mut s = server.tcp().await;
            // The server may refuse before everything is written.
            let _ = s.write_all(&flood).await;
            conns.push(s);
        }
        for mut s in conns {
            let got = read_until_closed(&mut s, WAIT).await;
            let status = status_of(&got);
            assert!(
                status == Some(431) || got.is_empty(),
                "{t:?} batch {batch}: {}",
                String::from_utf8_lossy(&got)
            );
        }
    }
    probe.finish().await;
    rss.assert_grew_at_most(RSS_BOUND_MIB, "header flood");
    server.stop().await;
}

adversarial!(wrong_methods_and_paths: Tungstenite, Fastwebsockets, Sio);

async fn wrong_methods_and_paths(t: Target) {
    let _one_at_a_time = serial().await;
    let server = Running::start(t, config()).await;
    let probe = Probe::start(&server).await;
    let mut cases = vec![
        ("DELETE", "/api/dashboard", 405),
        ("PUT", "/api/stats/reset", 405),
        ("POST", "/api/stats", 405),
        ("GET", "/no/such/route", 404),
    ];
    if t == Target::Sio {
        cases.push(("GET", "/socket.io/?EIO=4&transport=polling&sid=bogus", 400));
        cases.push(("GET", "/socket.io/?EIO=9&transport=polling", 400));
        cases.push(("GET", "/socket.io/?EIO=4&transport=carrier-pigeon", 400));
    } else {
        cases.push(("POST", "/ws", 405));
        // A GET without the upgrade headers is not a WebSocket.
        cases.push(("GET", "/ws", 400));
    }
    for (method, path, want) in cases {
        let (status, body) = common::http(server.addr, method, path, None).await;
        assert_eq!(status, want, "{t:?}: {method} {path}: {body}");
    }
    probe.finish().await;
    server.stop().await;
}

adversarial!(rest_bodies_oversize_and_stalled: Tungstenite, Fastwebsockets, Sio);

/// A body over 2 MiB is 413; a body that stops arriving is 408 after the read timeout.
async fn rest_bodies_oversize_and_stalled(t: Target) {
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let server = Running::start(t, config()).await;
    let probe = Probe::start(&server).await;

    let big = format!("{{\"value\":\"{}\"}}", "b".repeat(3 << 20));
    let (status, body) = common::http(server.addr, "POST", "/api/dashboard", Some(&big)).await;
    assert_eq!(status, 413, "{t:?}: {body}");

    let mut stalled = server.tcp().await;
    send(
        &mut stalled,
        b"POST /api/dashboard HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"value\":",
    )
    .await;
    let got = read_until_closed(&mut stalled, CLOSED_WITHIN).await;
    assert_eq!(
        status_of(&got),
        Some(408),
        "{t:?}: {}",
        String::from_utf8_lossy(&got)
    );

    // Still serving REST normally.
    let (status, _) = common::http(server.addr, "GET", "/api/dashboard", None).await;
    assert_eq!(status, 200);
    probe.finish().await;
    rss.assert_grew_at_most(RSS_BOUND_MIB, "REST bodies");
    server.stop().await;
}

adversarial!(shutdown_meets_its_deadline_with_half_sent_requests: Tcp, Tungstenite, Fastwebsockets, Sio);

/// Half a request head, half a body (and on tcp half a frame) in flight when shutdown
/// begins: the server still returns within its shutdown timeout (plus a margin).
async fn shutdown_meets_its_deadline_with_half_sent_requests(t: Target) {
    let _one_at_a_time = serial().await;
    let cfg = ServerConfig {
        // Longer than the shutdown deadline: the read timeout must not be what ends them.
        http_read_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(1),
        ..config()
    };
    let server = Running::start(t, cfg).await;
    let probe = Probe::start(&server).await;
    let mut half_head = server.tcp().await;
    let mut half_body = server.tcp().await;
    if t == Target::Tcp {
        send(&mut half_head, &1000u32.to_be_bytes()).await;
        send(&mut half_head, b"{\"op\":\"ec").await;
        send(&mut half_body, &[0, 0]).await;
    } else {
        send(&mut half_head, b"GET /ws HTTP/1.1\r\nHost: x\r\n").await;
        send(
            &mut half_body,
            b"POST /api/dashboard HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n123456789",
        )
        .await;
    }
    // The probe proves both were accepted and the server is serving.
    probe.finish().await;
    let returned = server.stop_within(Duration::from_secs(6)).await;
    assert!(returned.is_ok(), "{t:?}: {returned:?}");
    drop((half_head, half_body));
}

adversarial!(connection_floods_ended_by_reset: Tcp, Tungstenite, Fastwebsockets, Sio);

/// 300 connections that send part of a request and end with a TCP reset.
async fn connection_floods_ended_by_reset(t: Target) {
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let server = Running::start(t, config()).await;
    let probe = Probe::start(&server).await;
    let start: &[u8] = if t == Target::Tcp {
        b"\x00\x00\x00\x10{\"op\":"
    } else {
        b"GET /ws HTTP/1.1\r\nHost: x\r\n"
    };
    for _ in 0..6 {
        let mut conns = Vec::new();
        for _ in 0..50 {
            let mut s = server.tcp().await;
            let _ = s.write_all(start).await;
            s.set_zero_linger().expect("SO_LINGER 0");
            conns.push(s);
        }
        drop(conns);
    }
    probe.finish().await;
    rss.assert_grew_at_most(RSS_BOUND_MIB, "reset flood");
    server.stop().await;
}
