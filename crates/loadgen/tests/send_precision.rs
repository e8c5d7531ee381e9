//! Send precision over real sockets, checked by its mechanism rather than by the clock: in
//! an open-loop run every timed send waits on a lane thread's timerfd wheel (never on
//! tokio's 1 ms timer wheel, which gave a send-lag p99 of 1–2 ms on an idle server), and a
//! broadcast publisher waits on the publisher lane's own wheel, so its timer does not sit
//! behind the bursts its receivers read.
//!
//! The precision itself is a speed figure, so it is measured by runs and the `send_timer`
//! bench (docs/results.md, "Send precision"), not asserted here: on a shared 2-core machine
//! a timing bound either flakes or is too loose to catch anything. The tests print what they
//! measured.

mod run_support;

use std::time::Duration;

use run_support::{run, scenario, spec, start};
use wsbench_loadgen::engine::timer::wait_counts;
use wsbench_scenario::{BroadcastOp, LoopMode, Phases, Scenario, Workload};
use wsbench_servers::{RustServer, ServerConfig};

fn phases() -> Phases {
    Phases {
        warmup: Duration::from_millis(300),
        measure: Duration::from_secs(2),
        drain: Duration::from_millis(300),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_echo_sends_wait_on_the_lane_timers() {
    let server = start(RustServer::Tcp, ServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = Scenario {
        clients: 50,
        publishers: 50,
        rate: 2_000.0,
        phases: phases(),
        ..scenario(
            "send-precision-echo",
            Workload::Echo {
                mode: LoopMode::Open,
            },
            &spec(RustServer::Tcp, server.addr, ""),
        )
    };
    let before = wait_counts();
    let out = run(vec![s], dir.path()).await;
    let waits = wait_counts();
    let r = &out.rows[0];
    eprintln!(
        "echo: send-lag p99 {} µs, latency p50 {} µs, waits {before:?} -> {waits:?}",
        r.send_lag_p99_us, r.lat_p50_us
    );
    assert_eq!((r.lost, r.errors), (0, 0), "{r:#?}");
    assert!(r.sent >= 3_900, "{r:#?}");
    // no timed wait fell back to tokio's timer (process-wide: nothing in this process does)
    assert_eq!(waits.fallback, before.fallback, "{r:#?}");
    // each connection sends every 25 ms; a send finds its deadline already passed (and
    // waits on nothing) only when its lane was 25 ms behind, so nearly every send waited
    // in a wheel
    assert!(
        waits.wheel - before.wheel >= r.sent / 2,
        "{} wheel waits for {} sends: {r:#?}",
        waits.wheel - before.wheel,
        r.sent
    );
}

/// One publisher, 300 receivers, 50 broadcasts/s: the publisher runs on the publisher lane,
/// so its timer does not wait behind the previous broadcast's 300 reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_publisher_waits_on_its_own_lane() {
    let server = start(RustServer::Tcp, ServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = Scenario {
        clients: 300,
        publishers: 1,
        rate: 50.0,
        phases: phases(),
        ..scenario(
            "send-precision-broadcast",
            Workload::Broadcast {
                op: BroadcastOp::ToAll,
            },
            &spec(RustServer::Tcp, server.addr, ""),
        )
    };
    let before = wait_counts();
    let out = run(vec![s], dir.path()).await;
    let waits = wait_counts();
    let r = &out.rows[0];
    eprintln!(
        "broadcast: publisher send-lag p99 {} µs, waits {before:?} -> {waits:?}",
        r.send_lag_p99_us
    );
    assert_eq!((r.lost, r.errors), (0, 0), "{r:#?}");
    assert_eq!(r.delivered, r.expected, "{r:#?}");
    assert_eq!(waits.fallback, before.fallback, "{r:#?}");
    // the publisher's sends (one every 20 ms) waited on the publisher lane's wheel
    assert!(
        waits.publisher_lane - before.publisher_lane >= r.sent / 2,
        "{} publisher-lane waits for {} sends: {r:#?}",
        waits.publisher_lane - before.publisher_lane,
        r.sent
    );
}
