//! Criterion benches of the raw targets' room hub, in memory: no sockets, no writer tasks.
//!
//! - `hub/fanout`: one `to_all`, and one `to_room` to a room everyone joined, reaching
//!   1,000 registered connections. Only the fan-out call is timed; every queue is drained
//!   after it (untimed), so each delivery takes the queueing path, never the slow-consumer
//!   one, and memory stays flat.
//! - `hub/encode_once_vs_per_recipient`: what the hub saves by encoding a broadcast's
//!   `{"op":"msg",…}` once and sharing it (a refcount bump per recipient) instead of
//!   encoding it for every recipient.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use wsbench_servers::config::ServerConfig;
use wsbench_servers::hub::{Outbound, RoomHub};
use wsbench_wire::app;

/// Connections registered with the hub.
const SOCKETS: usize = 1_000;
/// Size of the broadcast's `data`, as a scenario's payload.
const PAYLOAD: usize = 256;

/// The `data` of one timed message, `PAYLOAD` bytes of JSON.
fn data() -> Box<RawValue> {
    let head = r#"{"from":7,"seq":123456,"t":987654321,"pad":""#;
    let pad = "x".repeat(PAYLOAD - head.len() - 2);
    RawValue::from_string(format!("{head}{pad}\"}}")).expect("valid JSON")
}

/// A hub with `SOCKETS` connections, all in room `r`; returns the receiving ends.
fn hub() -> (RoomHub<Bytes>, Vec<mpsc::Receiver<Outbound<Bytes>>>) {
    let cfg = ServerConfig {
        outbound_queue: 16,
        ..Default::default()
    };
    let hub = RoomHub::new(&cfg, Arc::default());
    let rxs = (0..SOCKETS)
        .map(|_| {
            let reg = hub.register();
            hub.join(reg.id, "r").expect("join");
            // The hub keeps its own sender; the session's copy is not needed here.
            drop(reg.tx);
            reg.rx
        })
        .collect();
    (hub, rxs)
}

/// Empties every queue; returns how many frames were taken.
fn drain(rxs: &mut [mpsc::Receiver<Outbound<Bytes>>]) -> usize {
    rxs.iter_mut()
        .map(|rx| std::iter::from_fn(|| rx.try_recv().ok()).count())
        .sum()
}

/// Times `iters` fan-outs of `fan_out`, draining every queue after each (untimed).
fn timed(
    iters: u64,
    rxs: &mut [mpsc::Receiver<Outbound<Bytes>>],
    mut fan_out: impl FnMut() -> u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let delivered = black_box(fan_out());
        total += start.elapsed();
        assert_eq!(delivered, SOCKETS as u64, "every socket gets the frame");
        assert_eq!(drain(rxs), SOCKETS);
    }
    total
}

fn fanout(c: &mut Criterion) {
    let (hub, mut rxs) = hub();
    let frame = app::msg(&data());
    let mut g = c.benchmark_group("hub/fanout");
    g.throughput(Throughput::Elements(SOCKETS as u64));
    g.bench_function(BenchmarkId::new("to_all", SOCKETS), |b| {
        b.iter_custom(|iters| timed(iters, &mut rxs, || hub.to_all(frame.clone())))
    });
    g.bench_function(BenchmarkId::new("to_room", SOCKETS), |b| {
        b.iter_custom(|iters| timed(iters, &mut rxs, || hub.to_room("r", frame.clone())))
    });
    g.finish();
}

fn encode_once_vs_per_recipient(c: &mut Criterion) {
    let data = data();
    let mut frames: Vec<Bytes> = Vec::with_capacity(SOCKETS);
    let mut g = c.benchmark_group("hub/encode_once_vs_per_recipient");
    g.throughput(Throughput::Elements(SOCKETS as u64));
    g.bench_function(BenchmarkId::new("once_shared", SOCKETS), |b| {
        b.iter(|| {
            frames.clear();
            let frame = app::msg(black_box(&data));
            frames.extend((0..SOCKETS).map(|_| frame.clone()));
            black_box(frames.len())
        })
    });
    g.bench_function(BenchmarkId::new("per_recipient", SOCKETS), |b| {
        b.iter(|| {
            frames.clear();
            frames.extend((0..SOCKETS).map(|_| app::msg(black_box(&data))));
            black_box(frames.len())
        })
    });
    g.finish();
}

criterion_group!(benches, fanout, encode_once_vs_per_recipient);
criterion_main!(benches);
