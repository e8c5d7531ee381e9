//! The seam between the runner and the row drivers: what a driver is given to measure one
//! row ([`PointCtx`], [`RowTarget`]), what it hands back ([`PointResult`], [`PointFailure`]),
//! and the helpers every driver fills a row with (CPU marks, notes). The runner
//! (`crate::runner`) and the drivers (`crate::workload`) both import this module; it imports
//! neither, so the two never import each other.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use wsbench_report::row::SummaryRow;

use crate::cluster::{Cluster, RedisStats};
use crate::engine::{Engine, LATE_SEND_MULTIPLE, SEND_PRECISION, late_send_limit};
use crate::recorder::{LiveStats, quantile};
use crate::supervise::ServerChild;
use crate::system::own_cpu_seconds;
use crate::transport::Endpoint;

/// Anything that can hand over live delivery figures (a row's shared worker state).
pub trait LiveSource: Send + Sync + std::fmt::Debug {
    fn live(&self) -> &LiveStats;
}

/// Where a driver reports its progress (the runner's live progress line).
pub trait RowProgress: Send + Sync + std::fmt::Debug {
    /// The row enters `phase` (`connect`, `join`, `warmup`, `measure`, `drain`).
    fn phase(&self, phase: &'static str);
    /// Live figures of the current row, shown while it runs.
    fn attach(&self, live: Arc<dyn LiveSource>);
}

/// What the row needs besides the scenario and the target.
#[derive(Debug)]
pub struct PointCtx<'a> {
    pub run_id: &'a str,
    pub repeat: u32,
    pub target_name: &'a str,
    pub cancel: &'a CancellationToken,
    pub progress: &'a dyn RowProgress,
    /// CPU cores the load generator may run on (for `loadgen_bound`).
    pub loadgen_cores: usize,
    /// Seed of the Poisson schedules (per row, reproducible).
    pub seed: u64,
    /// polling-vs-push: the variant this row runs (`None` for every other workload).
    pub pvp_variant: Option<wsbench_scenario::PvpVariant>,
    /// The lane threads the row's connections run on.
    pub engine: &'a Engine,
}

/// The server a row runs against, as a driver sees it.
#[derive(Debug, Clone, Copy)]
pub struct RowTarget<'a> {
    /// Where the clients connect.
    pub endpoint: &'a Endpoint,
    /// The row's `transport` column for this target (`tcp`, `websocket`, `polling`, …).
    pub transport: &'a str,
    /// The server child, when the runner spawned one (its CPU and RSS go into the row).
    pub server: Option<&'a ServerChild>,
    /// The other nodes and their Redis, when the row runs a cluster (`nodes` > 1).
    pub cluster: Option<&'a Cluster>,
    /// The fault proxy the clients connect through (`[network]`): a driver arms its stalls
    /// and resets once its clients are connected ([`RowTarget::arm_faults`]).
    pub proxy: Option<&'a crate::faultproxy::FaultProxy>,
}

impl RowTarget<'_> {
    /// Where the clients connect: client `i` to `endpoints()[i % len]` (every node of a
    /// cluster; else the one endpoint).
    pub fn endpoints(&self) -> &[Endpoint] {
        match self.cluster {
            Some(c) if !c.endpoints.is_empty() => &c.endpoints,
            _ => std::slice::from_ref(self.endpoint),
        }
    }

    /// Starts the fault proxy's stalls and resets, if the row has a proxy.
    pub fn arm_faults(&self) {
        if let Some(p) = self.proxy {
            p.arm();
        }
    }

    /// The server children's CPU time so far, summed over a cluster's nodes (`None` for
    /// external targets).
    pub fn server_cpu_seconds(&self) -> Option<f64> {
        let first = self.server.and_then(|c| c.cpu_seconds().ok())?;
        Some(first + self.more_nodes_cpu_seconds()?)
    }

    /// The CPU time so far of a cluster's nodes 2..N (0 without a cluster).
    pub fn more_nodes_cpu_seconds(&self) -> Option<f64> {
        self.cluster.map_or(Some(0.0), |c| {
            c.more.iter().map(|n| n.cpu_seconds().ok()).sum()
        })
    }

    /// The peak RSS of a cluster's nodes 2..N, summed (0 without a cluster).
    pub fn more_nodes_peak_rss_kb(&self) -> Option<u64> {
        self.cluster.map_or(Some(0), |c| {
            c.more.iter().map(|n| n.peak_rss_kb().ok()).sum()
        })
    }

    /// Redis's figures now, for a row on a cluster.
    pub fn redis_stats(&self) -> Option<RedisStats> {
        self.cluster.and_then(|c| c.redis.stats())
    }

    /// How long the server child has been throttled under its CPU budget, ns (`None`
    /// without a budget).
    pub fn server_throttled_ns(&self) -> Option<u64> {
        self.server.and_then(ServerChild::throttled_ns)
    }

    /// The server child's peak RSS, summed over a cluster's nodes (each node's own peak;
    /// `None` for external targets).
    pub fn server_peak_rss_kb(&self) -> Option<u64> {
        let first = self.server.and_then(|c| c.peak_rss_kb().ok())?;
        Some(first + self.more_nodes_peak_rss_kb()?)
    }
}

/// A finished row and its histograms.
#[derive(Debug)]
pub struct PointResult {
    pub row: SummaryRow,
    /// The histogram written to the row's `.hgrm` (latency; connect time for `connect`).
    pub hgrm: hdrhistogram::Histogram<u64>,
}

/// How a row ended without a result.
#[derive(Debug)]
pub enum PointFailure {
    /// Cancelled before the measure phase started: nothing to report.
    Cancelled,
    Failed(String),
}

/// A row that could not be measured (target unavailable, clients could not connect, …).
#[derive(Debug, Clone, PartialEq)]
pub struct RowFailure {
    pub scenario: String,
    pub sweep: String,
    pub target: String,
    pub repeat: u32,
    pub message: String,
}

impl RowFailure {
    /// How the row is named on the terminal and in `meta.json`.
    pub fn label(&self) -> String {
        format!(
            "{} {} r{} {}",
            self.scenario, self.sweep, self.repeat, self.target
        )
    }
}

/// CPU readings at a measure boundary.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    pub at: Instant,
    pub own: f64,
    pub server: Option<f64>,
    /// The server's throttled time under its CPU budget so far, ns.
    pub server_throttled_ns: Option<u64>,
    /// Redis's CPU time and PUBLISH count, for a row on a cluster.
    pub redis: Option<RedisStats>,
}

impl CpuMark {
    /// Reads the load generator's and the server's CPU time now.
    pub fn now(target: &RowTarget<'_>) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            // the send timer's spin-wait before due sends is waiting, not work
            own: own_cpu_seconds() - crate::engine::timer::spin_seconds(),
            server: target.server_cpu_seconds(),
            server_throttled_ns: target.server_throttled_ns(),
            redis: target.redis_stats(),
        }
    }
}

/// Fills the CPU, throttling and RSS columns from the marks at the edges of the measure
/// phase.
pub fn fill_cpu(row: &mut SummaryRow, target: &RowTarget<'_>, from: CpuMark, to: CpuMark) {
    row.loadgen_cpu_s = (to.own - from.own).max(0.0);
    if let (Some(a), Some(b)) = (from.server, to.server) {
        row.server_cpu_s = Some((b - a).max(0.0));
    }
    if let (Some(a), Some(b)) = (from.server_throttled_ns, to.server_throttled_ns) {
        row.server_throttled_ms = Some(b.saturating_sub(a) as f64 / 1e6);
    }
    row.server_rss_peak_kb = target.server_peak_rss_kb();
    row.loadgen_rss_peak_kb = crate::system::own_peak_rss_kb();
    if let (Some(a), Some(b)) = (from.redis, to.redis) {
        row.redis_cpu_s = Some((b.cpu_s - a.cpu_s).max(0.0));
    }
}

/// Fills `redis_msgs_per_delivery` (PUBLISH commands during the measure phase per
/// delivery) once the row's `delivered` is known; left empty without a cluster or without
/// deliveries.
pub fn fill_redis_msgs(row: &mut SummaryRow, from: CpuMark, to: CpuMark) {
    if let (Some(a), Some(b)) = (from.redis, to.redis)
        && row.delivered > 0
    {
        let publishes = b.publishes.saturating_sub(a.publishes);
        row.redis_msgs_per_delivery = Some(publishes as f64 / row.delivered as f64);
    }
}

/// Fills `read_lag_p99_us` from the read-lag histogram (µs) of the row's measured deliveries,
/// and says in the notes how many deliveries fell back to user-space time because their read
/// carried no kernel stamp.
pub fn fill_read_lag(
    row: &mut SummaryRow,
    read_lag: &hdrhistogram::Histogram<u64>,
    fallbacks: u64,
) {
    row.read_lag_p99_us = (!read_lag.is_empty()).then(|| quantile(read_lag, 0.99));
    if fallbacks > 0 {
        push_note(
            row,
            format!(
                "receive time: user-space clock for {fallbacks} of {} deliveries (no kernel stamp)",
                fallbacks + read_lag.len()
            ),
        );
    }
}

/// Appends `note` to the row's notes (`; `-separated).
pub fn push_note(row: &mut SummaryRow, note: String) {
    if !row.notes.is_empty() {
        row.notes.push_str("; ");
    }
    row.notes.push_str(&note);
}

/// How many sends left later than [`late_send_limit`], from a send-lag histogram (µs).
pub fn late_sends(send_lag_us: &hdrhistogram::Histogram<u64>) -> u64 {
    let limit = late_send_limit().as_micros() as u64;
    send_lag_us
        .iter_recorded()
        .filter(|v| v.value_iterated_to() > limit)
        .map(|v| v.count_at_value())
        .sum()
}

/// The load generator's own lateness on a row's timed sends: what the lag rule judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnLag {
    /// p99 of the generator's own send lag, µs (without waits for the server to take bytes).
    pub p99_us: u64,
    /// Sends whose own lag exceeded [`late_send_limit`].
    pub late: u64,
}

impl OwnLag {
    /// From a histogram of own send lag, µs.
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> OwnLag {
        OwnLag {
            p99_us: crate::recorder::quantile(h, 0.99),
            late: late_sends(h),
        }
    }
}

/// Sends later than the limit a row must have before its lag flags it: p99 of a short row
/// is its slowest send or two, and one send held up by the machine (an interrupt, another
/// process's real-time thread on the core) is not a generator that cannot keep its
/// schedule; a saturated generator holds back many.
pub const MIN_LATE_SENDS: u64 = 3;

/// Marks `row` load-generator bound, with the reasons in its notes, when its figures are the
/// load generator's limit rather than the server's: the generator used ≥ 90 % of its
/// `cores`, or (`own_lag` is `Some`: the row sends on a schedule) its own sends left late:
/// own send-lag p99 above [`late_send_limit`] ([`LATE_SEND_MULTIPLE`] × [`SEND_PRECISION`])
/// and at least [`MIN_LATE_SENDS`] sends beyond it. An unsaturated generator sends within
/// [`SEND_PRECISION`], so lag far beyond it means the generator's own loop held sends back.
/// Lag the server caused (a write that waited for the server to read, TCP backpressure, held
/// up the next send) is not counted: a row whose total lag is high but whose own is not says
/// so in its notes. Every row driver applies this one rule.
pub fn flag_loadgen_bound(row: &mut SummaryRow, cores: usize, own_lag: Option<OwnLag>) {
    let cores = cores.max(1);
    let mut why = Vec::new();
    if row.measure_s > 0.0 {
        let util = row.loadgen_cpu_s / row.measure_s;
        if util >= 0.9 * cores as f64 {
            why.push(format!(
                "load generator used {:.0} % of its {cores} core(s)",
                util * 100.0 / cores as f64
            ));
        }
    }
    let limit_us = late_send_limit().as_micros() as u64;
    if let Some(own) = own_lag {
        if own.p99_us > limit_us && own.late >= MIN_LATE_SENDS {
            why.push(format!(
                "own send-lag p99 {} µs > {limit_us} µs ({LATE_SEND_MULTIPLE} × the {} µs send precision; {} sends beyond it)",
                own.p99_us,
                SEND_PRECISION.as_micros(),
                own.late
            ));
        } else if row.send_lag_p99_us > limit_us {
            push_note(
                row,
                format!(
                    "sends waited for the server to take bytes (TCP backpressure): send-lag p99 {} µs, the load generator's own {} µs",
                    row.send_lag_p99_us, own.p99_us
                ),
            );
        }
    }
    if !why.is_empty() {
        row.loadgen_bound = true;
        push_note(row, format!("loadgen-bound: {}", why.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(p99_us: u64, late: u64) -> Option<OwnLag> {
        Some(OwnLag { p99_us, late })
    }

    #[test]
    fn loadgen_bound_names_each_reason() {
        let mut row = SummaryRow {
            measure_s: 10.0,
            loadgen_cpu_s: 9.5,
            send_lag_p99_us: 2_500,
            notes: "first".into(),
            ..SummaryRow::default()
        };
        flag_loadgen_bound(&mut row, 1, own(2_500, 40));
        assert!(row.loadgen_bound);
        assert_eq!(
            row.notes,
            "first; loadgen-bound: load generator used 95 % of its 1 core(s), \
             own send-lag p99 2500 µs > 500 µs (10 × the 50 µs send precision; 40 sends beyond it)"
        );
        // below both limits: 89 % of 2 cores, lag at the limit
        let mut row = SummaryRow {
            measure_s: 10.0,
            loadgen_cpu_s: 17.8,
            send_lag_p99_us: 500,
            ..SummaryRow::default()
        };
        flag_loadgen_bound(&mut row, 2, own(500, 0));
        assert!(!row.loadgen_bound && row.notes.is_empty(), "{}", row.notes);
        // just above the lag limit, whatever the send interval (the old rule let 9 ms pass
        // at a 100 ms interval, hiding a generator that held sends back by 9 ms)
        row.send_lag_p99_us = 501;
        flag_loadgen_bound(&mut row, 2, own(501, MIN_LATE_SENDS));
        assert!(row.loadgen_bound, "{row:#?}");
        // a short row whose p99 is one or two sends the machine held up is not flagged
        let mut row = SummaryRow {
            send_lag_p99_us: 739,
            ..SummaryRow::default()
        };
        flag_loadgen_bound(&mut row, 2, own(739, MIN_LATE_SENDS - 1));
        assert!(!row.loadgen_bound, "{row:#?}");
        // no timed sends: the lag is not a reason
        let mut row = SummaryRow {
            send_lag_p99_us: 1_000_000,
            ..SummaryRow::default()
        };
        flag_loadgen_bound(&mut row, 2, None);
        assert!(!row.loadgen_bound);
    }

    #[test]
    fn lag_the_servers_backpressure_caused_is_not_the_generators() {
        // sends 43 ms late in total, but each left at once when the previous write (held up
        // by a server that stopped reading) returned
        let mut row = SummaryRow {
            send_lag_p99_us: 43_583,
            ..SummaryRow::default()
        };
        flag_loadgen_bound(&mut row, 1, own(40, 0));
        assert!(!row.loadgen_bound, "{row:#?}");
        assert_eq!(
            row.notes,
            "sends waited for the server to take bytes (TCP backpressure): send-lag p99 43583 µs, \
             the load generator's own 40 µs"
        );
    }

    #[test]
    fn late_sends_counts_only_sends_beyond_the_limit() {
        let mut h = crate::recorder::new_histogram();
        let limit = late_send_limit().as_micros() as u64;
        for us in [10, 50, limit, limit + 1, 5 * limit, 100 * limit] {
            h.record(us).unwrap();
        }
        assert_eq!(late_sends(&h), 3);
        assert_eq!(late_sends(&crate::recorder::new_histogram()), 0);
    }

    #[test]
    fn read_lag_fills_p99_and_notes_fallbacks() {
        let mut h = crate::recorder::new_histogram();
        for us in 1..=100u64 {
            h.record(us * 10).unwrap();
        }
        let mut row = SummaryRow::default();
        fill_read_lag(&mut row, &h, 0);
        assert_eq!(row.read_lag_p99_us, Some(990));
        assert!(row.notes.is_empty(), "{}", row.notes);
        fill_read_lag(&mut row, &h, 4);
        assert_eq!(
            row.notes,
            "receive time: user-space clock for 4 of 104 deliveries (no kernel stamp)"
        );
        // nothing stamped: the column stays empty
        let mut row = SummaryRow::default();
        fill_read_lag(&mut row, &crate::recorder::new_histogram(), 3);
        assert_eq!(row.read_lag_p99_us, None);
        assert!(row.notes.contains("3 of 3"), "{}", row.notes);
    }

    #[test]
    fn notes_are_joined_with_semicolons() {
        let mut row = SummaryRow::default();
        push_note(&mut row, "a".into());
        push_note(&mut row, "b".into());
        assert_eq!(row.notes, "a; b");
    }

    #[test]
    fn a_failure_label_names_scenario_sweep_repeat_and_target() {
        let f = RowFailure {
            scenario: "echo".into(),
            sweep: "clients=4".into(),
            target: "tcp".into(),
            repeat: 2,
            message: "refused".into(),
        };
        assert_eq!(f.label(), "echo clients=4 r2 tcp");
    }
}
