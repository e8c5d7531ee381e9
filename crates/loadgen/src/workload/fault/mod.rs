//! The fault rows (`[restart]`, `[churn]`; wsbench_scenario::faults): open-loop echo
//! clients that survive their connection ([`echo`]), and what the server looks like from
//! outside ([`ServerGauges`]: its fds and RSS from /proc, its rooms from `/api/stats`).
//!
//! - [`restart`]: kill the server mid-measure, start it again on its port, and measure the
//!   clients' way back.
//! - [`churn`]: short-lived clients come and go beside the echoing ones; the server must
//!   return to its baseline.

pub mod churn;
pub mod echo;
pub mod restart;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsbench_report::row::SummaryRow;
use wsbench_scenario::Scenario;

use self::echo::{EchoReport, EchoShared, EchoSpec, run_echo};
use super::connect::{CONNECT_TIMEOUT, Connector, open_clients};
use crate::recorder::{fill_latency_columns, new_histogram, quantile};
use crate::row::{PointCtx, PointFailure, RowTarget, push_note};
use crate::supervise::ServerChild;
use crate::transport::Endpoint;

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
    row.connect_p50_us = quantile(&opened.connect_us, 0.5);
    row.connect_p99_us = quantile(&opened.connect_us, 0.99);
    row.connect_errors = opened.errors;
    if ctx.cancel.is_cancelled() {
        return Err(PointFailure::Cancelled);
    }
    let conns: Vec<C::Conn> = opened.conns.into_iter().flatten().collect();
    if conns.len() < s.clients as usize {
        return Err(PointFailure::Failed(format!(
            "{} of {} clients failed to connect to {}: {}",
            s.clients as usize - conns.len(),
            s.clients,
            ctx.target_name,
            opened.first_error.unwrap_or_default()
        )));
    }
    Ok(conns)
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
        if first_error.is_none() {
            first_error.clone_from(&r.first_error);
        }
    }
    row.lost = row.expected.saturating_sub(row.delivered);
    fill_latency_columns(row, &latency);
    row.lat_uncorrected_p99_us = quantile(&latency, 0.99);
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
