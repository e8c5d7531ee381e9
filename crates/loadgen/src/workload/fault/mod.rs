//! The fault rows (`[restart]`, `[churn]`; wsbench_scenario::faults): open-loop echo
//! clients that survive their connection ([`echo`]), and what the server looks like from
//! outside ([`ServerGauges`]: its fds and RSS from /proc, its rooms from `/api/stats`).
//!
//! - [`restart`]: kill the server mid-measure, start it again on its port, and measure the
//!   clients' way back.
//! - [`churn`]: short-lived clients come and go beside the echoing ones; the server must
//!   return to its baseline.
//! - [`network`]: an echo row through the fault proxy whose reset clients reconnect.

pub mod churn;
pub mod echo;
pub mod network;
pub mod restart;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsbench_report::row::SummaryRow;
use wsbench_scenario::Scenario;

use self::echo::{EchoReport, EchoShared, EchoSpec, run_echo};
use super::Plan;
use super::connect::{CONNECT_TIMEOUT, Connector, open_clients};
use crate::recorder::{fill_latency_columns, micros, new_histogram, quantile};
use crate::row::{CpuMark, PointCtx, PointFailure, PointResult, RowTarget, fill_cpu, push_note};
use crate::supervise::ServerChild;
use crate::transport::Endpoint;

/// A fault row's echo clients, connected and echoing, at the start of the measure phase
/// ([`start_echo_row`]).
pub(crate) struct EchoRow {
    pub row: SummaryRow,
    pub shared: Arc<EchoShared>,
    pub workers: Vec<tokio::task::JoinHandle<EchoReport>>,
    /// CPU at the start of the measure phase.
    pub measure_from: CpuMark,
}

/// How a fault row's clients behave: `variant` names the row (else the plan's); `policy` is the clients'
/// reconnection backoff and what they do with sends due while away; the steady clients
/// stay `stay_longer` past the drain (churn waits for its second reading).
pub(crate) struct EchoRowSpec<'a> {
    pub variant: Option<&'a str>,
    pub policy: (wsbench_scenario::faults::Backoff, echo::Away),
    pub stay_longer: Duration,
}

/// Starts a fault row: connects every client, arms the fault proxy's schedule (if the row
/// has one), starts the echo workers and waits out the warmup (or a cancel).
pub(crate) async fn start_echo_row<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    plan: &Plan,
    target: &RowTarget<'_>,
    connector: &Arc<C>,
    spec: EchoRowSpec<'_>,
) -> Result<EchoRow, PointFailure> {
    let mut row = plan.base_row(ctx, s, target.transport);
    if let Some(v) = spec.variant {
        row.variant = v.into();
    }
    let conns = connect_all(ctx, s, &mut row, target, connector.clone()).await?;
    target.arm_faults();
    let (backoff, away) = spec.policy;
    let mut shared = echo_shared(ctx, s, target.endpoints(), backoff, away);
    if let Some(sh) = Arc::get_mut(&mut shared) {
        sh.phases.drain_end += spec.stay_longer;
    }
    let workers = spawn_echoes(ctx, s, conns, connector, &shared);
    ctx.progress.phase("warmup");
    tokio::select! {
        _ = tokio::time::sleep_until(shared.phases.measure_start.into()) => {}
        _ = ctx.cancel.cancelled() => {}
    }
    let measure_from = CpuMark::now(target);
    Ok(EchoRow {
        row,
        shared,
        workers,
        measure_from,
    })
}

impl EchoRow {
    /// Ends the row, the measure phase having ended at `measure_to`: the measured time, the
    /// workers' reports merged into the row (they stop at the end of the drain, or with
    /// `shared.cancel`), and the CPU and memory columns.
    pub(crate) async fn finish(
        self,
        ctx: &PointCtx<'_>,
        s: &Scenario,
        target: &RowTarget<'_>,
        measure_to: CpuMark,
    ) -> (SummaryRow, Vec<EchoReport>) {
        let EchoRow {
            mut row,
            shared,
            workers,
            measure_from,
        } = self;
        row.measure_s = measure_to
            .at
            .duration_since(shared.phases.measure_start)
            .as_secs_f64()
            .min(s.phases.measure.as_secs_f64());
        row.partial = ctx.cancel.is_cancelled();
        let reports = merge_echoes(&mut row, workers).await;
        fill_cpu(&mut row, target, measure_from, measure_to);
        (row, reports)
    }
}

/// The finished row with its histogram: every client's echo latencies.
pub(crate) fn echo_result(row: SummaryRow, reports: &[EchoReport]) -> PointResult {
    let hgrm = reports.iter().fold(new_histogram(), |mut h, r| {
        let _ = h.add(&r.latency_us);
        h
    });
    PointResult { row, hgrm }
}

/// Fills the reconnection columns from the workers' reports: reconnection times from
/// `since` (the kill of a `[restart]`, when the clients' outage had one cause), or else
/// from each client's own first loss; the accept rate only for an outage with one cause
/// (a storm of reconnections).
pub(crate) fn fill_reconnect_columns(
    row: &mut SummaryRow,
    reports: &[EchoReport],
    since: Option<Instant>,
) {
    let mut times = new_histogram();
    let mut first_back: Option<Instant> = None;
    let mut last_back: Option<Instant> = None;
    let (mut back, mut losses) = (0u64, 0u64);
    let (mut due, mut delivered, mut failed, mut unsent) = (0u64, 0u64, 0u64, 0u64);
    for r in reports {
        due += r.due;
        delivered += r.delivered;
        failed += r.failed_attempts;
        unsent += r.unsent;
        losses += r.disconnects;
        if let (Some(at), Some(lost)) = (r.back_at, since.or(r.lost_at)) {
            back += 1;
            let _ = times.record(micros(at.saturating_duration_since(lost)).max(1));
            first_back = first_back.min(Some(at)).or(Some(at));
            last_back = last_back.max(Some(at));
        }
    }
    let clients_lost = reports.iter().filter(|r| r.lost_at.is_some()).count();
    row.reconnected = Some(back);
    row.lost_during_outage = Some(due.saturating_sub(delivered));
    if back > 0 {
        row.reconnect_p50_ms = Some(quantile(&times, 0.5) as f64 / 1e3);
        row.reconnect_p99_ms = Some(quantile(&times, 0.99) as f64 / 1e3);
    }
    if let (Some(_), Some(a), Some(b)) = (since, first_back, last_back) {
        let span = b.saturating_duration_since(a).as_secs_f64();
        if back > 1 && span > 0.0 {
            row.reconnect_accept_rate = Some((back - 1) as f64 / span);
        }
    }
    push_note(
        row,
        format!(
            "{clients_lost} of {} clients lost their connection, {back} came back; {losses} \
             connection(s) lost in all; {failed} reconnection attempt(s) failed; of {due} \
             echoes due, {unsent} were not sent (dropped while away or still buffered)",
            reports.len()
        ),
    );
}

/// Connects every client of the row (each on its engine lane); a client that cannot
/// connect fails the row, as in the message workloads.
pub(crate) async fn connect_all<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    row: &mut SummaryRow,
    target: &RowTarget<'_>,
    connector: Arc<C>,
) -> Result<Vec<C::Conn>, PointFailure> {
    ctx.progress.phase("connect");
    let place = ctx.engine.placement(s.clients, s.clients);
    let opened = open_clients(
        connector,
        target.endpoints(),
        s.clients,
        0.0,
        CONNECT_TIMEOUT,
        ctx.cancel,
        &place,
    )
    .await;
    opened.all_or_fail(row, ctx, "clients")
}

/// Starts one echo worker per connection on its engine lane: client `i` sends every
/// `clients / rate` seconds, the clients spread evenly over one interval.
pub(crate) fn spawn_echoes<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    conns: Vec<C::Conn>,
    connector: &Arc<C>,
    shared: &Arc<EchoShared>,
) -> Vec<tokio::task::JoinHandle<EchoReport>> {
    let place = ctx.engine.placement(s.clients, s.clients);
    let interval = Duration::from_secs_f64(f64::from(s.clients) / s.rate);
    let n = conns.len().max(1) as u32;
    conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let index = i as u32;
            let spec = EchoSpec {
                index,
                interval,
                first_due: shared.phases.start + interval * index / n,
                payload_bytes: s.payload_bytes,
                seed: ctx.seed,
            };
            place
                .handle(index)
                .spawn(run_echo(conn, connector.clone(), spec, shared.clone()))
        })
        .collect()
}

/// The echo workers' reports, summed into the row; a panicked worker is an error.
pub(crate) async fn merge_echoes(
    row: &mut SummaryRow,
    workers: Vec<tokio::task::JoinHandle<EchoReport>>,
) -> Vec<EchoReport> {
    let mut reports = Vec::with_capacity(workers.len());
    let mut latency = new_histogram();
    let mut send_lag = new_histogram();
    let mut first_error = None;
    for w in workers {
        match w.await {
            Ok(r) => reports.push(r),
            Err(e) => {
                row.errors += 1;
                first_error.get_or_insert(format!("echo worker failed: {e}"));
            }
        }
    }
    for r in &reports {
        row.sent += r.sent;
        row.expected += r.sent;
        row.delivered += r.delivered;
        row.duplicated += r.duplicated;
        row.errors += r.errors;
        row.bytes_out += r.bytes.out;
        row.bytes_in += r.bytes.r#in;
        let _ = latency.add(&r.latency_us);
        let _ = send_lag.add(&r.send_lag_us);
        if first_error.is_none() {
            first_error.clone_from(&r.first_error);
        }
    }
    row.lost = row.expected.saturating_sub(row.delivered);
    fill_latency_columns(row, &latency);
    row.lat_uncorrected_p99_us = quantile(&latency, 0.99);
    row.send_lag_p99_us = quantile(&send_lag, 0.99);
    if let Some(e) = first_error {
        push_note(row, format!("{} error(s), first: {e}", row.errors));
    }
    reports
}

/// The shared state of a row's echo workers; `endpoints` as the clients were connected
/// ([`RowTarget::endpoints`]).
pub(crate) fn echo_shared(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    endpoints: &[Endpoint],
    backoff: wsbench_scenario::faults::Backoff,
    away: echo::Away,
) -> Arc<EchoShared> {
    /// Workers are spawned before the first send is due; this is their head start.
    const START_LEAD: Duration = Duration::from_millis(50);
    Arc::new(EchoShared {
        phases: super::worker::PhaseTimes::new(Instant::now() + START_LEAD, &s.phases),
        cancel: ctx.cancel.child_token(),
        endpoints: endpoints.to_vec(),
        backoff,
        away,
        killed_at: std::sync::OnceLock::new(),
        rx_clock: crate::transport::rxstamp::RxClock::measure(),
    })
}

/// The server as seen from outside: open fds and resident memory (/proc), rooms
/// (`/api/stats`, where the server reports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerGauges {
    pub fds: u64,
    pub rss_kb: u64,
    pub rooms: Option<u64>,
}

impl ServerGauges {
    /// Reads them now; `Err` when the process is gone.
    pub async fn read(child: &ServerChild, endpoint: &Endpoint) -> std::io::Result<ServerGauges> {
        let pid = child.pid();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
        let rss_kb = crate::supervise::proc_rss_kb(pid)?;
        let rooms = super::rate_limit::stats_count(endpoint, "rooms").await.ok();
        Ok(ServerGauges { fds, rss_kb, rooms })
    }

    /// Back to `base` in what must return exactly (fds and rooms).
    pub fn settled_to(&self, base: &ServerGauges) -> bool {
        self.fds <= base.fds && self.rooms <= base.rooms
    }
}
