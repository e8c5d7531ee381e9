//! Criterion bench of the send timer's wake lateness on an engine lane (a current-thread
//! runtime on its own pinned thread, as the workers run): each iteration sleeps until 200 µs
//! from now and measures until it is running again, so the reported time is 200 µs plus the
//! mean lateness. Three ways to wait:
//! - `tokio_sleep`: tokio's `sleep_until` (1 ms wheel, what workers used before the engine);
//! - `timerfd`: the engine's [`SendTimer`] (one timerfd per lane, absolute deadlines);
//! - `tokio_then_spin`: tokio sleep to 1.1 ms before the deadline, then spin (with a 200 µs
//!   gap it always spins: the CPU cost the timerfd avoids).
//!
//! Each variant also prints its lateness p50 / p99 / max (µs) to stderr, the figures
//! docs/results.md quotes. Run: `cargo bench -p wsbench-loadgen --bench send_timer`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hdrhistogram::Histogram;
use wsbench_loadgen::engine::Engine;
use wsbench_loadgen::engine::timer::SendTimer;

const GAP: Duration = Duration::from_micros(200);
/// tokio's wheel rounds up to whole ms: sleep to this before the deadline, then spin.
const SPIN_LEAD: Duration = Duration::from_micros(1_100);

#[derive(Debug, Clone, Copy)]
enum Wait {
    TokioSleep,
    Timerfd,
    TokioThenSpin,
}

async fn wait_until(how: Wait, at: Instant) {
    match how {
        Wait::TokioSleep => tokio::time::sleep_until(at.into()).await,
        Wait::Timerfd => SendTimer::at(at).due().await,
        Wait::TokioThenSpin => {
            if let Some(early) = at.checked_sub(SPIN_LEAD)
                && early > Instant::now()
            {
                tokio::time::sleep_until(early.into()).await;
            }
            while Instant::now() < at {
                std::hint::spin_loop();
            }
        }
    }
}

/// `iters` sleeps of [`GAP`] on `lane`: their total wall time, and each one's lateness (µs).
fn sleeps(lane: &tokio::runtime::Handle, how: Wait, iters: u64) -> (Duration, Vec<u64>) {
    let (tx, rx) = std::sync::mpsc::channel();
    lane.spawn(async move {
        let mut total = Duration::ZERO;
        let mut late = Vec::with_capacity(iters as usize);
        for _ in 0..iters {
            let start = Instant::now();
            let at = start + GAP;
            wait_until(how, at).await;
            let woke = Instant::now();
            total += woke - start;
            late.push(woke.duration_since(at).as_micros() as u64);
        }
        let _ = tx.send((total, late));
    });
    rx.recv().expect("the lane ran the sleeps")
}

fn wake_lateness(c: &mut Criterion) {
    let cpus = wsbench_loadgen::system::allowed_cpus();
    // the last CPU, as a run's load generator gets the CPUs after the server's
    let engine = Engine::start(&cpus[cpus.len() - 1..]).expect("engine lanes");
    let lane = engine.handles().next().expect("a receiver lane").clone();
    let mut g = c.benchmark_group("send_timer");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    for (name, how) in [
        ("tokio_sleep", Wait::TokioSleep),
        ("timerfd", Wait::Timerfd),
        ("tokio_then_spin", Wait::TokioThenSpin),
    ] {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        g.bench_function(format!("{name}/200us"), |b| {
            b.iter_custom(|iters| {
                let (total, late) = sleeps(&lane, how, iters);
                for us in late {
                    let _ = hist.record(us.max(1));
                }
                total
            });
        });
        eprintln!(
            "send_timer/{name}: lateness p50 {} µs, p99 {} µs, max {} µs over {} wakes",
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99),
            hist.max(),
            hist.len()
        );
    }
    g.finish();
}

criterion_group!(benches, wake_lateness);
criterion_main!(benches);
