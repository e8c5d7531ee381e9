//! The row driver of the message workloads (echo, broadcast, rooms, direct, ack): connect
//! every client (and pass the join barrier), run warmup → measure → drain with one worker per
//! connection, sample server and load-generator CPU at the measure boundaries, merge what the
//! workers hand over, and fill a [`SummaryRow`].
//!
//! Workers run on the engine's lanes (`crate::engine`): client `i` connects and runs on
//! the lane its [`crate::engine::Placement`] gives it, publishers on the publisher lane when
//! they are a strict subset of the clients.
//!
//! `loadgen_bound` rule ([`flag_loadgen_bound`]): the row is flagged when, during measure,
//! the load generator used ≥ 90 % of the CPU cores it may run on, or (open loop) its
//! send-lag p99 exceeded 10 × the engine's 50 µs send precision.
//!
//! Interrupted rows (Ctrl-C): the drain is cut to the worker's grace period, so deliveries
//! still in flight at the cut are neither delivered nor known lost: `lost` stays 0 and the
//! notes say how many were not counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsbench_report::row::SummaryRow;
use wsbench_scenario::{LoopMode, Scenario, WorkloadKind};

use super::connect::{CONNECT_TIMEOUT, Connector, join_rooms, open_clients};
use super::rate_limit::OverLimit;
use super::worker::{PhaseTimes, RowShared, WorkerReport, WorkerSpec, run_worker};
use super::{Plan, seats};
use crate::accounting::{ReceiverLedger, Tally};
use crate::recorder::{LiveStats, Merged, SendLog, fill_latency_columns, quantile};
use crate::row::{
    CpuMark, OwnLag, PointCtx, PointFailure, PointResult, RowTarget, fill_cpu, fill_read_lag,
    fill_redis_msgs, flag_loadgen_bound, push_note,
};
use crate::schedule::Pacing;
use crate::transport::rxstamp::RxClock;
use crate::transport::{Endpoint, Transport};

/// The join barrier is bounded by this.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Workers are spawned before the first send is due; this is their head start.
const START_LEAD: Duration = Duration::from_millis(50);

impl crate::row::LiveSource for RowShared {
    fn live(&self) -> &LiveStats {
        &self.live
    }
}

/// Runs one row of a message workload.
pub async fn run_row<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    plan: &Plan,
    target: &RowTarget<'_>,
    connector: Arc<C>,
) -> Result<PointResult, PointFailure> {
    let mut row = plan.base_row(ctx, s, target.transport);
    ctx.progress.phase("connect");
    let multiplexed = matches!(target.endpoint, Endpoint::Sio { .. });
    let seats = seats::seats(plan, multiplexed);
    let n = seats.len() as u32;
    // each connection is opened on the engine lane its worker will run on
    let place = ctx.engine.placement(n, seats::publishing(&seats));
    let opened = open_clients(
        connector.clone(),
        &seats::endpoints(plan, &seats, target.endpoints()),
        n,
        0.0,
        CONNECT_TIMEOUT,
        ctx.cancel,
        &place,
    )
    .await;
    let mut conns = opened.all_or_fail(&mut row, ctx, "connections")?;
    let ids: Vec<String> = conns.iter().map(|c| c.socket_id().to_owned()).collect();
    if plan.workload == WorkloadKind::Rooms {
        ctx.progress.phase("join");
        let rooms: Vec<Option<String>> = (0..s.clients).map(|i| plan.room_of(i)).collect();
        join_rooms(&mut conns, &rooms, JOIN_TIMEOUT)
            .await
            .map_err(PointFailure::Failed)?;
    }
    if let Endpoint::Sio { auth, .. } = target.endpoint
        && plan.namespaces > 1
    {
        ctx.progress.phase("follow");
        seats::follow_all(
            &mut conns,
            &seats,
            plan.namespaces,
            auth.as_deref(),
            JOIN_TIMEOUT,
        )
        .await
        .map_err(PointFailure::Failed)?;
    }
    if plan.namespaces > 0 {
        row.sockets = Some(u64::from(n));
    }
    let over_limit = OverLimit::open(ctx, s, target, connector.clone()).await?;

    // phases are absolute instants every worker shares; the proxy's stalls and resets
    // (`[network]`) start with the traffic, after the connect phase
    target.arm_faults();
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
        rx_clock: RxClock::measure(),
    });
    ctx.progress.attach(shared.clone());
    let over_limit = over_limit.map(|conns| OverLimit::start(ctx, s, conns, phases));
    let mut workers = Vec::with_capacity(conns.len());
    for (i, (conn, seat)) in conns.into_iter().zip(&seats).enumerate() {
        let index = seat.client;
        let publish = plan.op.filter(|_| seat.publishes).map(|op| {
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
            ledgers: seat
                .receivers
                .iter()
                .map(|&r| ReceiverLedger::new(r, plan.audience))
                .collect(),
            slow: s.slow.is_some_and(|x| index >= x.first(s.clients)),
        };
        workers.push(
            place
                .handle(i as u32)
                .spawn(run_worker(conn, spec, shared.clone())),
        );
    }

    // phase boundaries: sample CPU; a cancel cuts the measure phase short
    ctx.progress.phase("warmup");
    let cancelled_early = tokio::select! {
        _ = tokio::time::sleep_until(phases.measure_start.into()) => false,
        _ = ctx.cancel.cancelled() => true,
    };
    let measure_from = CpuMark::now(target);
    ctx.progress.phase("measure");
    if !cancelled_early {
        tokio::select! {
            _ = tokio::time::sleep_until(phases.measure_end.into()) => {}
            _ = ctx.cancel.cancelled() => {}
        }
    }
    let measure_to = CpuMark::now(target);
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
    fill_cpu(&mut row, target, measure_from, measure_to);
    let merged = merge(&mut row, plan, s, &reports, panics);
    fill_redis_msgs(&mut row, measure_from, measure_to);
    if shared.send_log.misses() > 0 {
        push_note(
            &mut row,
            format!(
                "{} deliveries older than the send-lag window (uncorrected = corrected)",
                shared.send_log.misses()
            ),
        );
    }
    if let Some(note) = place.note() {
        push_note(&mut row, note);
    }
    let timed = s.workload.mode() == LoopMode::Open && plan.op.is_some() && per_publisher > 0.0;
    flag_loadgen_bound(
        &mut row,
        ctx.loadgen_cores,
        timed.then(|| OwnLag::of(&merged.own_send_lag)),
    );
    crate::floor::row::fill_floor_columns(&mut row, s, target).await;
    super::rate_limit::fill_rate_limited(&mut row, s, target).await;
    super::slow::fill_server_counts(&mut row, s, target).await;
    if let Some(o) = over_limit {
        o.finish(&mut row).await;
    }
    Ok(PointResult {
        row,
        hgrm: merged.corrected,
    })
}

/// Merges the workers' reports into the row; returns the merged histograms. Slow consumers'
/// deliveries are accounted apart (`super::slow`): the row's own counts are the others'.
fn merge(
    row: &mut SummaryRow,
    plan: &Plan,
    s: &Scenario,
    reports: &[WorkerReport],
    panics: u64,
) -> Merged {
    let mut merged = Merged::default();
    let mut tally = Tally::default();
    let first_slow = s.slow.map_or(plan.clients, |x| x.first(plan.clients)) as usize;
    let mut slow_tally = Tally::default();
    let mut sent = vec![0u64; plan.publishers as usize];
    let mut errors = panics;
    let mut first_error = (panics > 0).then(|| format!("{panics} worker task(s) panicked"));
    let mut first_violation = None;
    let mut preflights = 0;
    for r in reports {
        merged.add(&r.recorder);
        if (r.from as usize) < first_slow {
            tally.add(&r.tally);
        } else {
            slow_tally.add(&r.tally);
        }
        if let Some(s) = sent.get_mut(r.from as usize) {
            *s += r.sent;
        }
        preflights += r.preflights;
        errors += r.errors;
        row.bytes_out += r.bytes.out;
        row.bytes_in += r.bytes.r#in;
        if first_error.is_none() {
            first_error.clone_from(&r.first_error);
        }
        first_violation = first_violation.or(r.first_violation);
    }
    row.sent = sent.iter().sum();
    let slow_expected =
        super::slow::slow_expected(plan.audience, &sent, first_slow as u32, plan.clients);
    row.expected = plan.audience.expected(&sent) - slow_expected;
    if let Some(slow) = &s.slow {
        let slow_reports = reports.get(first_slow..).unwrap_or_default();
        super::slow::fill_slow_columns(row, slow, &slow_tally, slow_expected, slow_reports);
    }
    row.delivered = tally.delivered;
    account_missing(row, row.expected.saturating_sub(tally.delivered));
    row.duplicated = tally.duplicated;
    row.reordered = tally.reordered;
    row.errors = errors + tally.violations + slow_tally.violations;
    let h = &merged.corrected;
    fill_latency_columns(row, h);
    row.lat_uncorrected_p99_us = quantile(&merged.uncorrected, 0.99);
    row.send_lag_p99_us = quantile(&merged.send_lag, 0.99);
    fill_read_lag(row, &merged.read_lag, merged.rx_fallbacks);
    if let Some(e) = first_error {
        push_note(row, format!("{errors} error(s), first: {e}"));
    }
    if let Some(v) = first_violation {
        let numbering = if plan.namespaces > 0 {
            format!(
                " (client = receiver / {0}, namespace slot = receiver % {0})",
                plan.namespaces
            )
        } else {
            String::new()
        };
        push_note(
            row,
            format!(
                "{} isolation violation(s), first: {v}{numbering}",
                tally.violations
            ),
        );
    }
    if plan.namespaces > 0 || plan.rooms > 0 {
        row.isolation_errors = Some(tally.violations);
    }
    if preflights > 0 {
        row.cors_preflights = Some(preflights);
    }
    merged
}

/// Expected deliveries that did not arrive: `lost` after a full drain; after an interrupted
/// one (a `partial` row) they may still have been in flight at the cut, so they are not
/// called lost and the notes say how many were not counted.
fn account_missing(row: &mut SummaryRow, missing: u64) {
    if row.partial {
        row.lost = 0;
        if missing > 0 {
            push_note(
                row,
                format!(
                    "interrupted during measure or drain: {missing} expected deliveries \
                     still in flight at the cut, not counted (neither delivered nor lost)"
                ),
            );
        }
    } else {
        row.lost = missing;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_drain_counts_missing_deliveries_as_lost() {
        let mut row = SummaryRow::default();
        account_missing(&mut row, 7);
        assert_eq!(row.lost, 7);
        assert!(row.notes.is_empty());
    }

    #[test]
    fn an_interrupted_row_does_not_call_in_flight_deliveries_lost() {
        let mut row = SummaryRow {
            partial: true,
            ..SummaryRow::default()
        };
        account_missing(&mut row, 7);
        assert_eq!(row.lost, 0);
        assert!(row.notes.contains("7 expected deliveries"), "{}", row.notes);
        assert!(row.notes.contains("not counted"), "{}", row.notes);
        let mut clean = SummaryRow {
            partial: true,
            ..SummaryRow::default()
        };
        account_missing(&mut clean, 0);
        assert!(clean.notes.is_empty());
    }
}
