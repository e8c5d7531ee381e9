//! Slow consumers and the fault proxy in whole rows (in-process servers on 127.0.0.1:0):
//! - under `drop`, the fast clients lose nothing, and what the slow clients lost is exactly
//!   what the server says it dropped (raw WebSocket); on sio-socketioxide both sides count
//!   drops, but not always the same ones: socketioxide runs each event's handler in a task
//!   of its own, so a broadcast still being handled when the drain ends can be dropped (and
//!   counted) after the slow client settled, or a warmup message dropped (and counted) where
//!   the generator does not account it (docs/results.md, slow consumers);
//! - under `disconnect`, every slow client is closed, the server counts as many, and the
//!   fast clients lose nothing;
//! - a row through `[network]` takes at least the proxy's round trip and fills its columns.

mod run_support;

use std::time::Duration;

use run_support::{run, scenario, spec, start};
use wsbench_scenario::network::NetworkFaults;
use wsbench_scenario::slow::{SlowConsumers, SlowPolicy};
use wsbench_scenario::{BroadcastOp, LoopMode, Phases, Scenario, Workload};
use wsbench_servers::config::SlowConsumer;
use wsbench_servers::{RustServer, ServerConfig};

/// Payload of the broadcasts (see [`slow_broadcast`]).
const PAYLOAD: usize = 16384;

/// Frames a server queues per client in these tests: 4 MB of 16 KB frames, room enough for
/// a fast client's reader to fall behind a while, small beside what a slow client is sent.
const QUEUE: usize = 256;

/// 10 clients, the last 2 slow; one publisher broadcasting 16 KB at 400/s for 2 s: 12.8 MB
/// per slow client, more than a queue of [`QUEUE`] frames and the kernel's socket buffers
/// (which grow to several MB on loopback) hold.
fn slow_broadcast(target: &str, policy: SlowPolicy) -> Scenario {
    Scenario {
        clients: 10,
        publishers: 1,
        rate: 400.0,
        payload_bytes: PAYLOAD,
        phases: Phases {
            warmup: Duration::from_millis(200),
            measure: Duration::from_secs(2),
            drain: Duration::from_millis(500),
        },
        slow: Some(SlowConsumers {
            share: 0.2,
            count: 2,
            policy,
            outbound_queue: Some(QUEUE as u32),
        }),
        ..scenario(
            "slow",
            Workload::Broadcast {
                op: BroadcastOp::ToAll,
            },
            target,
        )
    }
}

fn queue_of(policy: SlowConsumer) -> ServerConfig {
    ServerConfig {
        outbound_queue: QUEUE,
        slow_consumer: policy,
        ..ServerConfig::default()
    }
}

async fn drops_are_counted_exactly(target: RustServer) {
    let server = start(target, queue_of(SlowConsumer::Drop)).await;
    let dir = tempfile::tempdir().unwrap();
    let s = slow_broadcast(&spec(target, server.addr, ""), SlowPolicy::Drop);
    let out = run(vec![s], dir.path()).await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let r = &out.rows[0];
    // the fast clients: all 8 got every message
    assert!(r.sent > 0, "{r:#?}");
    assert_eq!(r.expected, r.sent * 8, "{r:#?}");
    assert_eq!((r.delivered, r.lost), (r.expected, 0), "{r:#?}");
    // the slow clients: what they lost is what the server dropped, and something was
    assert_eq!(r.slow_clients, Some(2));
    assert_eq!(r.slow_policy.as_deref(), Some("drop"));
    let (delivered, lost) = (r.slow_delivered.unwrap(), r.slow_lost.unwrap());
    assert_eq!(delivered + lost, r.sent * 2, "{r:#?}");
    assert!(
        lost > 0,
        "the slow clients lost nothing: the test did not overflow: {r:#?}"
    );
    assert_eq!(r.server_dropped, Some(lost), "{r:#?}");
    assert_eq!(r.slow_closed, Some(0), "{r:#?}");
    assert_eq!(r.errors, 0, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_ws_tungstenite() {
    drops_are_counted_exactly(RustServer::WsTungstenite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_tcp() {
    // tcp has no /api/stats: the hub's own count is read in-process
    let target = RustServer::Tcp;
    let server = start(target, queue_of(SlowConsumer::Drop)).await;
    let dir = tempfile::tempdir().unwrap();
    let s = slow_broadcast(&spec(target, server.addr, ""), SlowPolicy::Drop);
    let out = run(vec![s], dir.path()).await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let r = &out.rows[0];
    assert_eq!((r.delivered, r.lost), (r.expected, 0), "{r:#?}");
    let lost = r.slow_lost.unwrap();
    assert!(lost > 0, "{r:#?}");
    assert_eq!(server.stats.as_ref().unwrap().dropped(), lost, "{r:#?}");
    assert_eq!(r.server_dropped, None, "{r:#?}");
    assert!(
        r.notes.contains("server_dropped: tcp has no /api/stats"),
        "{}",
        r.notes
    );
}

/// sio-socketioxide: the slow clients settle (socketioxide answers the settle join behind
/// what it queued) and the fast clients lose nothing; the server's count is read. Whether
/// its queue overflows at this load depends on the machine, so the counts are not compared
/// here (see the module doc).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sio_socketioxide_slow_clients_settle_and_fast_ones_lose_nothing() {
    let target = RustServer::SioSocketioxide;
    let server = start(target, queue_of(SlowConsumer::Drop)).await;
    let dir = tempfile::tempdir().unwrap();
    // a lighter load and a longer drain: the in-process debug build of socketioxide falls
    // behind at 16 KB, and a delivery it makes after the drain counts as lost
    let base = slow_broadcast(&spec(target, server.addr, "sio"), SlowPolicy::Drop);
    let s = Scenario {
        payload_bytes: 4096,
        phases: Phases {
            measure: Duration::from_millis(1500),
            drain: Duration::from_secs(3),
            ..base.phases
        },
        ..base
    };
    let out = run(vec![s], dir.path()).await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let r = &out.rows[0];
    assert_eq!((r.delivered, r.lost), (r.expected, 0), "{r:#?}");
    let (delivered, lost) = (r.slow_delivered.unwrap(), r.slow_lost.unwrap());
    assert_eq!(delivered + lost, r.sent * 2, "{r:#?}");
    assert!(!r.notes.contains("had not read everything"), "{}", r.notes);
    assert!(r.server_dropped.is_some(), "{r:#?}");
    assert_eq!(
        (r.slow_closed, r.server_slow_disconnects),
        (Some(0), None),
        "{r:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_closes_every_slow_client_and_nobody_else() {
    let target = RustServer::WsFastwebsockets;
    let server = start(target, queue_of(SlowConsumer::Disconnect)).await;
    let dir = tempfile::tempdir().unwrap();
    let s = slow_broadcast(&spec(target, server.addr, ""), SlowPolicy::Disconnect);
    let out = run(vec![s], dir.path()).await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let r = &out.rows[0];
    assert_eq!((r.delivered, r.lost), (r.expected, 0), "{r:#?}");
    assert_eq!(r.slow_closed, Some(2), "{r:#?}");
    assert_eq!(r.server_slow_disconnects, Some(2), "{r:#?}");
    assert!(r.slow_lost.unwrap() > 0, "{r:#?}");
    assert_eq!(r.errors, 0, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_through_the_proxy_takes_its_round_trip() {
    let target = RustServer::WsTungstenite;
    let server = start(target, ServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let delay = Duration::from_millis(30);
    let s = Scenario {
        network: Some(NetworkFaults {
            delay,
            ..NetworkFaults::default()
        }),
        ..scenario(
            "proxied",
            Workload::Echo {
                mode: LoopMode::Open,
            },
            &spec(target, server.addr, ""),
        )
    };
    let out = run(vec![s], dir.path()).await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let r = &out.rows[0];
    assert_eq!(r.lost, 0, "{r:#?}");
    // the stamp is taken before the proxy: every echo crossed it twice
    let rtt_us = 2 * delay.as_micros() as u64;
    assert!(
        r.lat_p50_us >= rtt_us,
        "p50 {} µs < {rtt_us} µs",
        r.lat_p50_us
    );
    assert_eq!(
        (r.proxy_resets, r.proxy_stalls),
        (Some(0), Some(0)),
        "{r:#?}"
    );
    assert!(r.notes.contains("fault proxy: delay=30ms"), "{}", r.notes);
}
