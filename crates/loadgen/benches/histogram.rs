//! Criterion bench of the recorder's per-sample cost: one HdrHistogram record (the
//! corrected and the uncorrected histogram are one `record` each per delivery), and merging
//! a worker's histogram into the collector's.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hdrhistogram::Histogram;

fn new_hist() -> Histogram<u64> {
    // The recorder's range: 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram");
    let mut h = new_hist();
    // A spread of realistic latencies (µs) so the bench touches many buckets.
    let values: Vec<u64> = (0..4096u64).map(|i| 50 + (i * 7919) % 200_000).collect();
    let mut i = 0usize;
    g.bench_function("record", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            h.record(black_box(values[i])).unwrap();
        })
    });
    let mut worker = new_hist();
    for v in &values {
        worker.record(*v).unwrap();
    }
    let mut total = new_hist();
    g.bench_function("merge_worker", |b| {
        b.iter(|| total.add(black_box(&worker)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
