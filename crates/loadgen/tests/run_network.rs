//! An open-loop echo row through the fault proxy with resets: the reset clients reconnect
//! and go on echoing (Socket.IO with socket.io-client's policy and send buffer, raw
//! WebSocket with the default backoff), and the row accounts every due echo exactly and
//! fills the reconnection columns. Counts only, no timing.

mod run_support;

use std::time::Duration;

use run_support::{run, scenario, spec, start};
use wsbench_scenario::network::NetworkFaults;
use wsbench_scenario::{LoopMode, Phases, Scenario, Workload};
use wsbench_servers::{RustServer, ServerConfig};

async fn reset_clients_come_back(target: RustServer, sio_kind: &str) {
    let server = start(target, ServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    const CLIENTS: u64 = 6;
    let s = Scenario {
        clients: CLIENTS as u32,
        publishers: CLIENTS as u32,
        rate: CLIENTS as f64 * 10.0,
        phases: Phases {
            warmup: Duration::from_millis(200),
            measure: Duration::from_secs(2),
            // a Socket.IO client waits up to 1.5 s before its first attempt
            drain: Duration::from_millis(2500),
        },
        network: Some(NetworkFaults {
            reset_every: Some(Duration::from_millis(700)),
            ..NetworkFaults::default()
        }),
        ..scenario(
            "reset",
            Workload::Echo {
                mode: LoopMode::Open,
            },
            &spec(target, server.addr, sio_kind),
        )
    };
    let out = run(vec![s], dir.path()).await;
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let r = &out.rows[0];
    let what = format!("{r:#?}");
    assert!(r.proxy_resets.is_some_and(|n| n >= 2), "{what}");
    assert!(r.notes.contains("clients lost their connection"), "{what}");
    // the first reset client had seconds to come back
    assert!(r.reconnected.is_some_and(|n| n >= 1), "{what}");
    assert!(r.reconnect_p50_ms.is_some(), "{what}");
    let due = r.note_number("; of ").expect(&what);
    let unsent = r.note_number("echoes due, ").expect(&what);
    assert_eq!(due, CLIENTS * 20, "{what}");
    assert_eq!(due, r.sent + unsent, "{what}");
    assert_eq!(r.expected, r.sent, "{what}");
    assert_eq!(r.lost, r.sent - r.delivered, "{what}");
    assert_eq!(r.lost_during_outage, Some(due - r.delivered), "{what}");
    assert_eq!((r.errors, r.duplicated), (0, 0), "{what}");
    assert!(r.delivered > 0, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_websocket_clients_reconnect_after_a_reset() {
    reset_clients_come_back(RustServer::WsTungstenite, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_clients_reconnect_after_a_reset() {
    reset_clients_come_back(RustServer::SioSocketioxide, "sio").await;
}
