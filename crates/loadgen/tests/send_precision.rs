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
use wsbench_loadgen::engine::timer::{WaitCounts, wait_counts};
use wsbench_report::row::SummaryRow;
use wsbench_scenario::{BroadcastOp, LoopMode, Phases, Scenario, Workload};
use wsbench_servers::{RustServer, ServerConfig};

/// Runs `workload` open-loop on a `tcp` server (2 s measured) and returns its row with how
/// many timed waits each kind of timer served meanwhile, after checking that none fell
/// back to tokio's timer (process-wide: nothing else in this process does).
async fn run_counting_waits(
    name: &str,
    workload: Workload,
    clients: u32,
    publishers: u32,
    rate: f64,
) -> (SummaryRow, WaitCounts) {
    let server = start(RustServer::Tcp, ServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = Scenario {
        clients,
        publishers,
        rate,
        phases: Phases {
            warmup: Duration::from_millis(300),
            measure: Duration::from_secs(2),
            drain: Duration::from_millis(300),
        },
        ..scenario(name, workload, &spec(RustServer::Tcp, server.addr, ""))
    };
    let before = wait_counts();
    let r = run(vec![s], dir.path()).await.rows.remove(0);
    let after = wait_counts();
    let waits = WaitCounts {
        wheel: after.wheel - before.wheel,
        publisher_lane: after.publisher_lane - before.publisher_lane,
        fallback: after.fallback - before.fallback,
    };
    eprintln!(
        "{name}: send-lag p99 {} µs, latency p50 {} µs, {waits:?}",
        r.send_lag_p99_us, r.lat_p50_us
    );
    assert_eq!((r.lost, r.errors), (0, 0), "{r:#?}");
    assert_eq!(waits.fallback, 0, "{r:#?}");
    (r, waits)
}

/// 50 connections, each sending every 25 ms: a send finds its deadline already passed (and
/// waits on nothing) only when its lane was 25 ms behind, so nearly every send waited in a
/// lane's wheel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_echo_sends_wait_on_the_lane_timers() {
    let echo = Workload::Echo {
        mode: LoopMode::Open,
    };
    let (r, waits) = run_counting_waits("send-precision-echo", echo, 50, 50, 2_000.0).await;
    assert!(r.sent >= 3_900, "{r:#?}");
    assert!(waits.wheel >= r.sent / 2, "{waits:?}: {r:#?}");
}

/// One publisher, 300 receivers, 50 broadcasts/s: the publisher runs on the publisher lane,
/// so its timer does not wait behind the previous broadcast's 300 reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_publisher_waits_on_its_own_lane() {
    let to_all = Workload::Broadcast {
        op: BroadcastOp::ToAll,
    };
    let (r, waits) = run_counting_waits("send-precision-broadcast", to_all, 300, 1, 50.0).await;
    assert_eq!(r.delivered, r.expected, "{r:#?}");
    assert!(waits.publisher_lane >= r.sent / 2, "{waits:?}: {r:#?}");
}
