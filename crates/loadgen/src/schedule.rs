//! When each publisher sends: the process-wide monotonic clock the payload's `t` is measured
//! on, and the open-loop schedule of intended send times (constant or Poisson).
//!
//! Open loop (wrk2-style): a publisher's sends are due at fixed intended times whatever the
//! server does; latency is measured from the intended time, so a stalled server cannot hide
//! its stall by slowing the sender down (coordinated omission). The total rate is split
//! evenly across publishers, and each publisher's first send is offset by a phase so the
//! publishers do not fire in lockstep.
//!
//! Closed loop keeps one request outstanding per publisher. At a rate
//! ([`Pacing::ClosedPaced`], wrk2's setting) it follows the same schedule, but a send also
//! waits for the previous answer: a late answer makes the next send late, and that send's
//! latency still counts from its intended time (so a stall shows in the corrected figure for
//! every send it held back, and in the uncorrected one only for the request it caught).
//! Without a rate ([`Pacing::Closed`], ping-pong) there is no schedule: the next request goes
//! when the previous answer arrived.
//!
//! Everything here is pure: it computes instants and never sleeps.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wsbench_scenario::{Arrival, LoopMode};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The load generator's clock origin: the payload's `t` is nanoseconds since this instant.
/// Fixed the first time it is read, shared by every worker of the process.
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from [`epoch`] to `at` (0 for instants before the epoch).
pub fn ns_since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// The instant `ns` nanoseconds after [`epoch`].
pub fn instant_at(ns: u64) -> Instant {
    epoch() + Duration::from_nanos(ns)
}

/// How one publisher paces its sends.
#[derive(Debug, Clone)]
pub enum Pacing {
    /// Sends are due at the schedule's intended times.
    Open(OpenSchedule),
    /// One request outstanding; the next send is due at its intended time on the schedule or
    /// when the previous answer arrived, whichever is later (wrk2).
    ClosedPaced(OpenSchedule),
    /// The next send goes as soon as the previous answer arrived (ping-pong).
    Closed,
}

impl Pacing {
    /// The pacing of publisher `index` of `publishers`, first sends from `start` on. Closed
    /// loop with a positive `total_rate` is paced, with 0 it is ping-pong.
    pub fn new(
        mode: LoopMode,
        arrival: Arrival,
        total_rate: f64,
        publishers: u32,
        index: u32,
        start: Instant,
        seed: u64,
    ) -> Pacing {
        match mode {
            LoopMode::Closed if !(total_rate.is_finite() && total_rate > 0.0) => Pacing::Closed,
            LoopMode::Closed => Pacing::ClosedPaced(OpenSchedule::new(
                arrival, total_rate, publishers, index, start, seed,
            )),
            LoopMode::Open => Pacing::Open(OpenSchedule::new(
                arrival, total_rate, publishers, index, start, seed,
            )),
        }
    }

    /// The schedule of intended times, if the pacing has one.
    pub fn schedule(&self) -> Option<&OpenSchedule> {
        match self {
            Pacing::Open(s) | Pacing::ClosedPaced(s) => Some(s),
            Pacing::Closed => None,
        }
    }

    /// Whether one request at a time is outstanding (the next waits for the answer).
    pub fn is_closed(&self) -> bool {
        matches!(self, Pacing::ClosedPaced(_) | Pacing::Closed)
    }
}

/// The intended send times of one open-loop publisher.
#[derive(Debug, Clone)]
pub struct OpenSchedule {
    /// Where the schedule is anchored; intended times are offsets from it (no drift from
    /// summing rounded durations).
    start: Instant,
    /// Mean interval between this publisher's sends, nanoseconds.
    mean_interval_ns: f64,
    /// Offset of the next intended send from `start`, nanoseconds.
    next_offset_ns: f64,
    arrival: Arrival,
    /// Seeded, so a schedule is reproducible; one generator per publisher (no sharing).
    rng: SmallRng,
}

impl OpenSchedule {
    /// Publisher `index` of `publishers` sharing `total_rate` messages/s.
    ///
    /// Constant: interval `publishers / total_rate`, publisher `i` offset by
    /// `i / total_rate` so the publishers interleave evenly. Poisson: exponential
    /// inter-arrival times with that mean; the first send is one exponential draw after
    /// `start` (the memoryless process needs no extra phase).
    pub fn new(
        arrival: Arrival,
        total_rate: f64,
        publishers: u32,
        index: u32,
        start: Instant,
        seed: u64,
    ) -> OpenSchedule {
        let publishers = publishers.max(1) as f64;
        let per_publisher = (total_rate / publishers).max(f64::MIN_POSITIVE);
        let mean_interval_ns = 1e9 / per_publisher;
        let mut rng = SmallRng::seed_from_u64(seed ^ (u64::from(index) << 32 | 0x5eed));
        let next_offset_ns = match arrival {
            Arrival::Constant => mean_interval_ns * f64::from(index) / publishers,
            Arrival::Poisson => exponential(&mut rng, mean_interval_ns),
        };
        OpenSchedule {
            start,
            mean_interval_ns,
            next_offset_ns,
            arrival,
            rng,
        }
    }

    /// The next intended send time.
    pub fn peek(&self) -> Instant {
        self.start + Duration::from_nanos(self.next_offset_ns as u64)
    }

    /// Returns the next intended send time and moves on to the one after.
    pub fn advance(&mut self) -> Instant {
        let due = self.peek();
        self.next_offset_ns += match self.arrival {
            Arrival::Constant => self.mean_interval_ns,
            Arrival::Poisson => exponential(&mut self.rng, self.mean_interval_ns),
        };
        due
    }

    /// Mean interval between this publisher's sends.
    pub fn mean_interval(&self) -> Duration {
        Duration::from_nanos(self.mean_interval_ns as u64)
    }
}

/// One draw from an exponential distribution with the given mean (inverse CDF).
fn exponential(rng: &mut SmallRng, mean: f64) -> f64 {
    let u: f64 = rng.random(); // [0, 1)
    -(1.0 - u).ln() * mean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(s: &mut OpenSchedule, n: usize, start: Instant) -> Vec<f64> {
        (0..n)
            .map(|_| (s.advance() - start).as_secs_f64())
            .collect()
    }

    #[test]
    fn constant_rate_is_evenly_spaced_and_phased() {
        let start = Instant::now();
        // 1000 msg/s over 4 publishers: each every 4 ms, offsets 0, 1, 2, 3 ms.
        for i in 0..4 {
            let mut s = OpenSchedule::new(Arrival::Constant, 1000.0, 4, i, start, 1);
            let o = offsets(&mut s, 3, start);
            let first = f64::from(i) * 1e-3;
            for (k, v) in o.iter().enumerate() {
                assert!(
                    (v - (first + k as f64 * 4e-3)).abs() < 1e-6,
                    "pub {i} send {k}: {v}"
                );
            }
            assert_eq!(s.mean_interval(), Duration::from_millis(4));
        }
    }

    #[test]
    fn merged_constant_schedules_hit_the_total_rate() {
        let start = Instant::now();
        let mut all: Vec<f64> = (0..7)
            .flat_map(|i| {
                let mut s = OpenSchedule::new(Arrival::Constant, 700.0, 7, i, start, 1);
                offsets(&mut s, 100, start)
            })
            .collect();
        all.sort_by(f64::total_cmp);
        // 700 sends in the first second, spaced 1/700 s apart.
        let gaps: Vec<f64> = all.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| (g - 1.0 / 700.0).abs() < 1e-6));
    }

    #[test]
    fn poisson_mean_interval_within_tolerance() {
        let start = Instant::now();
        let mut s = OpenSchedule::new(Arrival::Poisson, 2000.0, 1, 0, start, 42);
        let n = 100_000;
        let mut prev = start;
        let mut sum = 0.0;
        let mut sum_sq = 0.0;
        for _ in 0..n {
            let t = s.advance();
            let gap = (t - prev).as_secs_f64();
            sum += gap;
            sum_sq += gap * gap;
            prev = t;
        }
        let mean = sum / n as f64;
        let var = sum_sq / n as f64 - mean * mean;
        // mean 0.5 ms; std error ~0.5 ms / sqrt(1e5) = 1.6 µs: 1 % is > 3 sigma.
        assert!((mean - 5e-4).abs() < 5e-6, "mean {mean}");
        // exponential: std dev == mean
        assert!((var.sqrt() - 5e-4).abs() < 2e-5, "std {}", var.sqrt());
    }

    #[test]
    fn poisson_is_reproducible_per_seed_and_distinct_per_publisher() {
        let start = Instant::now();
        let run = |i, seed| {
            let mut s = OpenSchedule::new(Arrival::Poisson, 100.0, 2, i, start, seed);
            offsets(&mut s, 5, start)
        };
        assert_eq!(run(0, 9), run(0, 9));
        assert_ne!(run(0, 9), run(1, 9));
    }

    #[test]
    fn closed_loop_is_paced_only_with_a_rate() {
        let start = Instant::now();
        let p = |mode, rate| Pacing::new(mode, Arrival::Constant, rate, 2, 1, start, 1);
        assert!(matches!(p(LoopMode::Closed, 0.0), Pacing::Closed));
        assert!(matches!(p(LoopMode::Closed, f64::NAN), Pacing::Closed));
        let paced = p(LoopMode::Closed, 200.0);
        assert!(paced.is_closed());
        // the same schedule open loop would follow: 100/s each, publisher 1 offset by 5 ms
        let s = paced.schedule().expect("paced closed loop has a schedule");
        assert_eq!(s.mean_interval(), Duration::from_millis(10));
        assert_eq!(s.peek() - start, Duration::from_millis(5));
        let open = p(LoopMode::Open, 200.0);
        assert!(!open.is_closed());
        assert_eq!(open.schedule().unwrap().peek(), s.peek());
    }

    #[test]
    fn epoch_round_trips() {
        let _ = epoch();
        let now = Instant::now();
        let ns = ns_since_epoch(now);
        let back = instant_at(ns);
        assert!(back <= now && now - back < Duration::from_micros(1));
    }
}
