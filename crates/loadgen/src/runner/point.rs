//! One row: connect every client (and pass the join barrier), run warmup → measure → drain
//! with one worker per connection, sample server and load-generator CPU at the measure
//! boundaries, merge what the workers hand over, and fill a [`SummaryRow`].
//!
//! `loadgen_bound` rule: the row is flagged when, during measure, the load generator used
//! ≥ 90 % of the CPU cores it may run on, or (open loop) its send-lag p99 exceeded
//! max(10 % of a publisher's mean send interval, 2 ms) — the 2 ms floor is twice tokio's
//! 1 ms timer resolution, below which a late send says nothing about saturation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wsbench_report::row::SummaryRow;
use wsbench_scenario::{LoopMode, Scenario, Workload, WorkloadKind};

use super::progress::Progress;
use super::target::ResolvedTarget;
use crate::accounting::{ReceiverLedger, Tally};
use crate::recorder::{LiveStats, Merged, SendLog, fill_latency_columns, quantile};
use crate::schedule::Pacing;
use crate::system::own_cpu_seconds;
use crate::transport::{ByteCounts, Transport};
use crate::workload::Plan;
use crate::workload::connect::{Connector, join_rooms, open_clients};
use crate::workload::worker::{PhaseTimes, RowShared, WorkerReport, WorkerSpec, run_worker};

/// Each connect is bounded by this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The join barrier is bounded by this.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Workers are spawned before the first send is due; this is their head start.
const START_LEAD: Duration = Duration::from_millis(50);

/// What the row needs besides the scenario and the target.
#[derive(Debug)]
pub struct PointCtx<'a> {
    pub run_id: &'a str,
    pub repeat: u32,
    pub target_name: &'a str,
    pub cancel: &'a CancellationToken,
    pub progress: &'a Progress,
    /// CPU cores the load generator may run on (for `loadgen_bound`).
    pub loadgen_cores: usize,
    /// Seed of the Poisson schedules (per row, reproducible).
    pub seed: u64,
    /// polling-vs-push: the variant this row runs (`None` for every other workload).
    pub pvp_variant: Option<wsbench_scenario::PvpVariant>,
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

/// CPU readings at a measure boundary.
#[derive(Debug, Clone, Copy)]
struct CpuMark {
    at: Instant,
    own: f64,
    server: Option<f64>,
}

fn mark(target: &ResolvedTarget) -> CpuMark {
    CpuMark {
        at: Instant::now(),
        own: own_cpu_seconds(),
        server: target.child.as_ref().and_then(|c| c.cpu_seconds().ok()),
    }
}

/// Runs one row.
pub async fn run_point<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    plan: &Plan,
    target: &ResolvedTarget,
    connector: Arc<C>,
) -> Result<PointResult, PointFailure> {
    if let Workload::PollingVsPush(polling) = &s.workload {
        let variant = ctx
            .pvp_variant
            .ok_or_else(|| PointFailure::Failed("polling-vs-push row without a variant".into()))?;
        return crate::workload::pvp::driver::run_point(ctx, s, polling, variant, target).await;
    }
    let mut row = base_row(ctx, s, plan, target);
    ctx.progress.phase("connect");
    let connect_rate = match s.workload {
        Workload::Connect { connect_rate } => connect_rate,
        _ => 0.0,
    };
    let before = mark(target);
    let opened = open_clients(
        connector,
        &target.endpoint,
        s.clients,
        connect_rate,
        CONNECT_TIMEOUT,
        ctx.cancel,
    )
    .await;
    row.connect_p50_us = quantile(&opened.connect_us, 0.5);
    row.connect_p99_us = quantile(&opened.connect_us, 0.99);
    row.connect_errors = opened.errors;
    let connected = opened.conns.iter().filter(|c| c.is_some()).count() as u32;

    if let Workload::Connect { .. } = s.workload {
        // the storm is the measure phase
        let after = mark(target);
        let mut bytes = ByteCounts::default();
        let closes = opened.conns.into_iter().flatten().map(|mut c| async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), c.close()).await;
            c.bytes()
        });
        for b in futures_util::future::join_all(closes).await {
            bytes.out += b.out;
            bytes.r#in += b.r#in;
        }
        row.measure_s = opened.elapsed.as_secs_f64();
        row.partial = ctx.cancel.is_cancelled();
        row.bytes_out = bytes.out;
        row.bytes_in = bytes.r#in;
        fill_cpu(&mut row, target, before, after, ctx.loadgen_cores);
        let mut notes = vec![format!(
            "{connected} of {} connected in {:.3} s",
            s.clients,
            opened.elapsed.as_secs_f64()
        )];
        notes.extend(opened.first_error);
        row.notes = notes.join("; ");
        return Ok(PointResult {
            row,
            hgrm: opened.connect_us,
        });
    }

    if ctx.cancel.is_cancelled() {
        return Err(PointFailure::Cancelled);
    }
    if connected < s.clients {
        return Err(PointFailure::Failed(format!(
            "{} of {} clients failed to connect to {}: {}",
            s.clients - connected,
            s.clients,
            ctx.target_name,
            opened.first_error.unwrap_or_default()
        )));
    }
    let mut conns: Vec<C::Conn> = opened.conns.into_iter().flatten().collect();
    let ids: Vec<String> = conns.iter().map(|c| c.socket_id().to_owned()).collect();
    if plan.workload == WorkloadKind::Rooms {
        ctx.progress.phase("join");
        let rooms: Vec<Option<String>> = (0..s.clients).map(|i| plan.room_of(i)).collect();
        join_rooms(&mut conns, &rooms, JOIN_TIMEOUT)
            .await
            .map_err(PointFailure::Failed)?;
    }

    // phases are absolute instants every worker shares
    let start = Instant::now() + START_LEAD;
    let phases = PhaseTimes::new(start, &s.phases);
    let per_publisher = if plan.publishers > 0 {
        s.rate / f64::from(plan.publishers)
    } else {
        0.0
    };
    let shared = Arc::new(RowShared {
        phases,
        send_log: SendLog::new(
            plan.publishers,
            per_publisher,
            s.phases.drain + Duration::from_secs(4),
        ),
        live: LiveStats::default(),
        cancel: ctx.cancel.child_token(),
    });
    ctx.progress.attach(shared.clone());
    let mut workers = Vec::with_capacity(conns.len());
    for (i, conn) in conns.into_iter().enumerate() {
        let index = i as u32;
        let publish = plan.op.filter(|_| plan.is_publisher(index)).map(|op| {
            let pacing = Pacing::new(
                s.workload.mode(),
                s.arrival,
                s.rate,
                plan.publishers,
                index,
                start,
                ctx.seed,
            );
            (op, pacing)
        });
        let spec = WorkerSpec {
            index,
            publish,
            room: plan.room_of(index),
            to_id: plan
                .direct_target_of(index)
                .map(|t| ids[t as usize].clone()),
            acked: plan.acked,
            payload_bytes: s.payload_bytes,
            ledger: ReceiverLedger::new(index, plan.audience),
        };
        workers.push(tokio::spawn(run_worker(conn, spec, shared.clone())));
    }

    // phase boundaries: sample CPU; a cancel cuts the measure phase short
    ctx.progress.phase("warmup");
    let cancelled_early = tokio::select! {
        _ = tokio::time::sleep_until(phases.measure_start.into()) => false,
        _ = ctx.cancel.cancelled() => true,
    };
    let measure_from = mark(target);
    ctx.progress.phase("measure");
    if !cancelled_early {
        tokio::select! {
            _ = tokio::time::sleep_until(phases.measure_end.into()) => {}
            _ = ctx.cancel.cancelled() => {}
        }
    }
    let measure_to = mark(target);
    ctx.progress.phase("drain");
    let mut reports = Vec::with_capacity(workers.len());
    let mut panics = 0u64;
    for w in workers {
        match w.await {
            Ok(r) => reports.push(r),
            Err(_) => {
                // keep indexes aligned with client numbers
                panics += 1;
                reports.push(WorkerReport::default());
            }
        }
    }
    if cancelled_early {
        return Err(PointFailure::Cancelled);
    }
    row.partial = ctx.cancel.is_cancelled();
    row.measure_s = measure_to
        .at
        .duration_since(phases.measure_start)
        .as_secs_f64()
        .min(s.phases.measure.as_secs_f64());
    fill_cpu(
        &mut row,
        target,
        measure_from,
        measure_to,
        ctx.loadgen_cores,
    );
    let merged = merge(&mut row, plan, &reports, panics);
    if shared.send_log.misses() > 0 {
        push_note(
            &mut row,
            format!(
                "{} deliveries older than the send-lag window (uncorrected = corrected)",
                shared.send_log.misses()
            ),
        );
    }
    flag_loadgen_bound(&mut row, s, plan, per_publisher, ctx.loadgen_cores);
    Ok(PointResult {
        row,
        hgrm: merged.corrected,
    })
}

fn push_note(row: &mut SummaryRow, note: String) {
    if !row.notes.is_empty() {
        row.notes.push_str("; ");
    }
    row.notes.push_str(&note);
}

fn base_row(ctx: &PointCtx<'_>, s: &Scenario, plan: &Plan, target: &ResolvedTarget) -> SummaryRow {
    SummaryRow {
        run_id: ctx.run_id.to_owned(),
        scenario: s.name.clone(),
        target: ctx.target_name.to_owned(),
        transport: target.protocol.label().to_owned(),
        clients: u64::from(s.clients),
        publishers: u64::from(plan.publishers),
        rooms: u64::from(plan.rooms),
        // closed loop: the pacing rate (0 = ping-pong)
        rate: if plan.op.is_some() { s.rate } else { 0.0 },
        payload_bytes: s.payload_bytes as u64,
        repeat: ctx.repeat,
        sweep: s.sweep_label(),
        variant: plan.variant.clone(),
        ..SummaryRow::default()
    }
}

fn fill_cpu(
    row: &mut SummaryRow,
    target: &ResolvedTarget,
    from: CpuMark,
    to: CpuMark,
    _cores: usize,
) {
    row.loadgen_cpu_s = (to.own - from.own).max(0.0);
    if let (Some(a), Some(b)) = (from.server, to.server) {
        row.server_cpu_s = Some((b - a).max(0.0));
    }
    row.server_rss_peak_kb = target.child.as_ref().and_then(|c| c.peak_rss_kb().ok());
}

/// Merges the workers' reports into the row; returns the merged histograms.
fn merge(row: &mut SummaryRow, plan: &Plan, reports: &[WorkerReport], panics: u64) -> Merged {
    let mut merged = Merged::default();
    let mut tally = Tally::default();
    let mut sent = vec![0u64; plan.publishers as usize];
    let mut errors = panics;
    let mut first_error = (panics > 0).then(|| format!("{panics} worker task(s) panicked"));
    let mut first_violation = None;
    for (i, r) in reports.iter().enumerate() {
        merged.add(&r.recorder);
        tally.add(&r.tally);
        if let Some(s) = sent.get_mut(i) {
            *s = r.sent;
        }
        errors += r.errors;
        row.bytes_out += r.bytes.out;
        row.bytes_in += r.bytes.r#in;
        if first_error.is_none() {
            first_error.clone_from(&r.first_error);
        }
        first_violation = first_violation.or(r.first_violation);
    }
    row.sent = sent.iter().sum();
    row.expected = plan.audience.expected(&sent);
    row.delivered = tally.delivered;
    row.lost = row.expected.saturating_sub(tally.delivered);
    row.duplicated = tally.duplicated;
    row.reordered = tally.reordered;
    row.errors = errors + tally.violations;
    let h = &merged.corrected;
    fill_latency_columns(row, h);
    row.lat_uncorrected_p99_us = quantile(&merged.uncorrected, 0.99);
    row.send_lag_p99_us = quantile(&merged.send_lag, 0.99);
    if let Some(e) = first_error {
        push_note(row, format!("{errors} error(s), first: {e}"));
    }
    if let Some(v) = first_violation {
        push_note(
            row,
            format!("{} isolation violation(s), first: {v}", tally.violations),
        );
    }
    merged
}

fn flag_loadgen_bound(
    row: &mut SummaryRow,
    s: &Scenario,
    plan: &Plan,
    per_publisher_rate: f64,
    cores: usize,
) {
    let mut why = Vec::new();
    if row.measure_s > 0.0 {
        let util = row.loadgen_cpu_s / row.measure_s;
        if util >= 0.9 * cores.max(1) as f64 {
            why.push(format!(
                "load generator used {:.0} % of its {cores} core(s)",
                util * 100.0 / cores.max(1) as f64
            ));
        }
    }
    if s.workload.mode() == LoopMode::Open && plan.op.is_some() && per_publisher_rate > 0.0 {
        let interval_us = 1e6 / per_publisher_rate;
        let limit = (0.1 * interval_us).max(2_000.0);
        if row.send_lag_p99_us as f64 > limit {
            why.push(format!(
                "send-lag p99 {} µs > {limit:.0} µs",
                row.send_lag_p99_us
            ));
        }
    }
    if !why.is_empty() {
        row.loadgen_bound = true;
        push_note(row, format!("loadgen-bound: {}", why.join(", ")));
    }
}
