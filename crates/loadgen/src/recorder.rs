//! Latency recording: per-worker HdrHistograms (microseconds, 1 µs … 60 s, 3 significant
//! digits), the shared [`SendLog`] that lets any receiver compute the uncorrected latency of
//! a fan-out delivery, and the collector-side merge and percentile helpers.
//!
//! Two latencies per delivery:
//! - corrected = receive time − intended send time `t` (the payload's stamp; coordinated
//!   omission corrected, as wrk2);
//! - uncorrected = receive time − actual send time (what a closed-loop tool reports).
//!
//! The receive time is the kernel's (the read that completed the frame, see
//! `transport::rxstamp`); the read lag (user-space time the worker took the frame − kernel
//! time) is recorded beside it, and deliveries whose read carried no stamp are counted (they
//! fall back to user time).
//!
//! Where the actual send time lives: the payload format is fixed (`from`, `seq`, `t`, `pad`)
//! and `pad` is filler, so the actual time cannot travel with the message. The publisher
//! instead writes how late each send left (its *send lag*, actual − intended) into a shared
//! lock-free ring per publisher, indexed by `seq` ([`SendLog`]); a receiver reads
//! `lag(from, seq)` and gets actual = `t + lag`. One relaxed atomic store per send and one
//! load per delivery, no locks, memory bounded by the ring size (not by the run length). The
//! store happens before the request is written to the socket, so it is visible before any
//! copy can come back. If a slot was overwritten (a delivery older than the ring window,
//! several seconds at the publisher's rate), the uncorrected sample falls back to the
//! corrected value; [`SendLog::misses`] counts how often.
//!
//! Histograms are `u32`-counted, allocated on first use and auto-resizing from a 65 ms
//! range up to the 60 s bound (values above are clamped), so a receiver that never records
//! costs nothing and a typical one ~28 KB per histogram. Workers own theirs and hand them
//! over once at the end; the collector merges into `u64` histograms.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Lowest discernible value, µs.
pub const LOWEST_US: u64 = 1;
/// Highest trackable value, µs (60 s); larger samples are clamped to it.
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;
/// Initial range of the auto-resizing worker histograms, µs.
const INITIAL_HIGH_US: u64 = 65_536;

/// A collector-side histogram of the full range.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("valid histogram bounds")
}

fn new_worker_histogram() -> Histogram<u32> {
    let mut h = Histogram::new_with_bounds(LOWEST_US, INITIAL_HIGH_US, SIGFIG)
        .expect("valid histogram bounds");
    h.auto(true);
    h
}

/// Microseconds in `d`, clamped to the histogram range.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(HIGHEST_US)
}

fn ns_to_us(ns: u64) -> u64 {
    (ns / 1_000).min(HIGHEST_US)
}

/// A lazily allocated worker histogram.
#[derive(Debug, Default)]
pub struct LazyHistogram(Option<Histogram<u32>>);

impl LazyHistogram {
    pub fn record_us(&mut self, us: u64) {
        let h = self.0.get_or_insert_with(new_worker_histogram);
        // auto-resize never fails below HIGHEST_US; saturate the count on overflow
        let _ = h.record(us.min(HIGHEST_US));
    }

    pub fn len(&self) -> u64 {
        self.0.as_ref().map_or(0, Histogram::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds this histogram's counts into a collector histogram.
    pub fn add_into(&self, total: &mut Histogram<u64>) {
        if let Some(h) = &self.0 {
            for v in h.iter_recorded() {
                let _ = total.record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
            }
        }
    }
}

/// What one worker records; handed to the collector once, at the end.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Receive − intended send time, per delivery recorded (measure-phase sends only).
    pub corrected: LazyHistogram,
    /// Receive − actual send time, per delivery recorded.
    pub uncorrected: LazyHistogram,
    /// How late each measure-phase send left against its intended time (publishers only).
    pub send_lag: LazyHistogram,
    /// The part of each send's lag that is the load generator's own: from the later of its
    /// intended time and the end of the connection's previous write (a write the server's
    /// TCP backpressure held up delays the next send, and that is the server's doing).
    pub own_send_lag: LazyHistogram,
    /// User-space − kernel receive time, per delivery recorded that had a kernel stamp.
    pub read_lag: LazyHistogram,
    /// Deliveries recorded without a kernel stamp (timed with user-space time).
    pub rx_fallbacks: u64,
}

impl Recorder {
    /// One delivery: times in ns on the [`crate::schedule::epoch`] clock.
    pub fn record_delivery(&mut self, intended_ns: u64, actual_send_ns: u64, received_ns: u64) {
        self.corrected
            .record_us(ns_to_us(received_ns.saturating_sub(intended_ns)));
        self.uncorrected
            .record_us(ns_to_us(received_ns.saturating_sub(actual_send_ns)));
    }

    /// One measure-phase send: its lag, and the part of it that is the generator's own.
    pub fn record_send_lag(&mut self, lag: Duration, own: Duration) {
        self.send_lag.record_us(micros(lag));
        self.own_send_lag.record_us(micros(own));
    }

    /// Where one recorded delivery's receive time came from: its read lag, or a fallback.
    pub fn record_receive(&mut self, t: &crate::transport::rxstamp::ReceiveTime) {
        match t.read_lag_ns() {
            Some(ns) => self.read_lag.record_us(ns_to_us(ns)),
            None => self.rx_fallbacks += 1,
        }
    }
}

/// The merged histograms of a whole row.
#[derive(Debug)]
pub struct Merged {
    pub corrected: Histogram<u64>,
    pub uncorrected: Histogram<u64>,
    pub send_lag: Histogram<u64>,
    pub own_send_lag: Histogram<u64>,
    pub read_lag: Histogram<u64>,
    pub connect: Histogram<u64>,
    /// Deliveries timed with user-space time (no kernel stamp).
    pub rx_fallbacks: u64,
}

impl Default for Merged {
    fn default() -> Self {
        Merged {
            corrected: new_histogram(),
            uncorrected: new_histogram(),
            send_lag: new_histogram(),
            own_send_lag: new_histogram(),
            read_lag: new_histogram(),
            connect: new_histogram(),
            rx_fallbacks: 0,
        }
    }
}

impl Merged {
    /// Adds one worker's histograms.
    pub fn add(&mut self, r: &Recorder) {
        r.corrected.add_into(&mut self.corrected);
        r.uncorrected.add_into(&mut self.uncorrected);
        r.send_lag.add_into(&mut self.send_lag);
        r.own_send_lag.add_into(&mut self.own_send_lag);
        r.read_lag.add_into(&mut self.read_lag);
        self.rx_fallbacks += r.rx_fallbacks;
    }
}

/// The value at quantile `q` (0..=1), or 0 for an empty histogram.
pub fn quantile(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

/// Fills a row's latency columns (`lat_p50_us` … `lat_mean_us`) from a µs histogram, and
/// `deliveries_per_s` from `delivered` over `measure_s`.
pub fn fill_latency_columns(row: &mut wsbench_report::SummaryRow, h: &Histogram<u64>) {
    row.deliveries_per_s = if row.measure_s > 0.0 {
        row.delivered as f64 / row.measure_s
    } else {
        0.0
    };
    row.lat_p50_us = quantile(h, 0.5);
    row.lat_p90_us = quantile(h, 0.9);
    row.lat_p99_us = quantile(h, 0.99);
    row.lat_p999_us = quantile(h, 0.999);
    row.lat_max_us = if h.is_empty() { 0 } else { h.max() };
    row.lat_mean_us = if h.is_empty() { 0.0 } else { h.mean() };
}

/// Per-publisher rings of send lags, shared by every worker of a row (see the module doc).
#[derive(Debug)]
pub struct SendLog {
    /// `rings[from][seq & mask]` = `(seq as u32 + 1) << 32 | lag_us as u32`; 0 = empty.
    rings: Vec<Box<[AtomicU64]>>,
    mask: u64,
    /// Lookups that found another seq in the slot (delivery older than the ring window).
    misses: AtomicU64,
}

impl SendLog {
    /// Rings for `publishers`, each long enough for `window` of sends at `per_publisher_rate`
    /// messages/s (at least 1024 slots, at most 2^18).
    pub fn new(publishers: u32, per_publisher_rate: f64, window: Duration) -> SendLog {
        let want = (per_publisher_rate * window.as_secs_f64())
            .ceil()
            .max(1024.0) as usize;
        let slots = want.next_power_of_two().min(1 << 18);
        let rings = (0..publishers)
            .map(|_| {
                (0..slots)
                    .map(|_| AtomicU64::new(0))
                    .collect::<Vec<_>>()
                    .into_boxed_slice()
            })
            .collect();
        SendLog {
            rings,
            mask: slots as u64 - 1,
            misses: AtomicU64::new(0),
        }
    }

    fn tag(seq: u64) -> u64 {
        u64::from((seq as u32).wrapping_add(1)) << 32
    }

    /// The publisher `from` is about to send `seq`, `lag` after its intended time.
    pub fn record(&self, from: u32, seq: u64, lag: Duration) {
        if let Some(ring) = self.rings.get(from as usize) {
            let lag_us = micros(lag).min(u64::from(u32::MAX));
            ring[(seq & self.mask) as usize].store(Self::tag(seq) | lag_us, Ordering::Release);
        }
    }

    /// The send lag of `(from, seq)` if it is still in the ring.
    pub fn lag(&self, from: u32, seq: u64) -> Option<Duration> {
        let ring = self.rings.get(from as usize)?;
        let v = ring[(seq & self.mask) as usize].load(Ordering::Acquire);
        if v & !0xffff_ffff == Self::tag(seq) {
            Some(Duration::from_micros(v & 0xffff_ffff))
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Actual send time of `(from, seq)` in ns, falling back to `intended_ns` when unknown.
    pub fn actual_send_ns(&self, from: u32, seq: u64, intended_ns: u64) -> u64 {
        let lag = self.lag(from, seq).unwrap_or_default();
        intended_ns.saturating_add(u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

/// Live figures for the progress line: workers push batches of corrected latencies; the
/// progress task takes an interval's worth at a time. Separate from the row's histograms.
#[derive(Debug)]
pub struct LiveStats {
    /// Deliveries recorded since the row started (measure-phase sends only).
    deliveries: AtomicU64,
    /// Latencies of the current progress interval.
    interval: Mutex<Histogram<u64>>,
}

impl Default for LiveStats {
    fn default() -> Self {
        LiveStats {
            deliveries: AtomicU64::new(0),
            interval: Mutex::new(new_histogram()),
        }
    }
}

impl LiveStats {
    /// Adds a worker's batch of corrected latencies (µs) and empties it.
    pub fn push(&self, batch: &mut Vec<u64>) {
        if batch.is_empty() {
            return;
        }
        self.deliveries
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut h = self.interval.lock().expect("live histogram lock");
        for &us in batch.iter() {
            let _ = h.record(us.min(HIGHEST_US));
        }
        batch.clear();
    }

    /// [`LiveStats::push`] unless another thread holds the interval: then the batch is kept
    /// for the next try. A worker's lane never blocks on the progress line's lock (its
    /// holder may be a thread the scheduler has just put aside, and every send due on the
    /// lane would wait for it).
    pub fn try_push(&self, batch: &mut Vec<u64>) {
        if batch.is_empty() {
            return;
        }
        let Ok(mut h) = self.interval.try_lock() else {
            return;
        };
        self.deliveries
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for &us in batch.iter() {
            let _ = h.record(us.min(HIGHEST_US));
        }
        batch.clear();
    }

    /// Total deliveries so far and the p99 (µs) of the interval since the last call.
    pub fn take_interval(&self) -> (u64, u64) {
        let mut h = self.interval.lock().expect("live histogram lock");
        let p99 = quantile(&h, 0.99);
        h.reset();
        (self.deliveries.load(Ordering::Relaxed), p99)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_samples_give_known_percentiles() {
        let mut r = Recorder::default();
        // latencies 1..=1000 ms, once each
        for ms in 1..=1000u64 {
            let intended = 5_000_000_000;
            r.record_delivery(intended, intended, intended + ms * 1_000_000);
        }
        let mut m = Merged::default();
        m.add(&r);
        let h = &m.corrected;
        assert_eq!(h.len(), 1000);
        let near = |v: u64, want_ms: u64| {
            let want = want_ms * 1000;
            // 3 significant digits: within 0.1 %
            assert!(v.abs_diff(want) <= want / 1000 + 1, "{v} vs {want}");
        };
        near(quantile(h, 0.5), 500);
        near(quantile(h, 0.9), 900);
        near(quantile(h, 0.99), 990);
        near(h.max(), 1000);
        near(h.min(), 1);
        assert!((h.mean() - 500_500.0).abs() < 600.0, "{}", h.mean());
    }

    #[test]
    fn merge_adds_counts_and_clamps_to_range() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        a.record_delivery(0, 0, 2_000);
        b.record_delivery(0, 1_000, 2_000);
        b.record_delivery(0, 0, 120_000_000_000); // 120 s: clamped to 60 s
        let mut m = Merged::default();
        m.add(&a);
        m.add(&b);
        assert_eq!(m.corrected.len(), 3);
        assert_eq!(m.uncorrected.min(), 1);
        assert!(m.corrected.max() >= HIGHEST_US * 999 / 1000);
        assert!(m.send_lag.is_empty());
        assert_eq!(quantile(&m.send_lag, 0.99), 0);
    }

    #[test]
    fn send_log_round_trips_and_detects_overwrites() {
        let log = SendLog::new(2, 10.0, Duration::from_secs(1)); // 1024 slots
        log.record(1, 7, Duration::from_micros(250));
        assert_eq!(log.lag(1, 7), Some(Duration::from_micros(250)));
        assert_eq!(log.actual_send_ns(1, 7, 1_000_000), 1_250_000);
        assert_eq!(log.lag(0, 7), None, "nothing recorded for publisher 0");
        log.record(1, 7 + 1024, Duration::ZERO);
        assert_eq!(log.lag(1, 7), None, "slot reused by a later seq");
        assert_eq!(log.actual_send_ns(1, 7, 1_000_000), 1_000_000);
        assert_eq!(log.misses(), 3);
        assert_eq!(log.lag(9, 0), None, "unknown publisher");
    }
}
