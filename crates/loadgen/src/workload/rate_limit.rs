//! Rate limiting as the load generator sees it:
//!
//! - the `rate_limited` column: with `rate_limit` set, after the row the server's own count
//!   of requests it refused as `rate limited` is read from `GET /api/stats`. Built-in and
//!   Node servers are started fresh for each row, so the count is the row's (warmup and
//!   drain included); tcp has no HTTP, so its column stays empty and a note says why. The
//!   stats request itself ([`server_stats`]) also serves the slow-consumer counts
//!   (`super::slow`) and the churn rows' room count.
//! - [`OverLimit`]: the clients over the limit (`over_limit = N`), kept apart from the row's
//!   own so the row's latency is that of everyone else.

use std::sync::Arc;
use std::time::Duration;

use wsbench_report::row::SummaryRow;
use wsbench_scenario::{Arrival, LoopMode, Scenario};

use super::connect::{CONNECT_TIMEOUT, Connector, open_clients};
use super::worker::{PhaseTimes, RowShared, WorkerReport, WorkerSpec, run_worker};
use crate::accounting::{Audience, ReceiverLedger};
use crate::recorder::{LiveStats, SendLog};
use crate::row::{PointCtx, PointFailure, RowTarget, push_note};
use crate::schedule::Pacing;
use crate::transport::rxstamp::RxClock;
use crate::transport::{Endpoint, HttpClient, OpKind, Transport};

/// Bound of the stats request.
const STATS_TIMEOUT: Duration = Duration::from_secs(5);

/// Fills `row.rate_limited` from the server when the scenario limits the rate.
pub async fn fill_rate_limited(row: &mut SummaryRow, s: &Scenario, target: &RowTarget<'_>) {
    if s.production.rate_limit.is_none() {
        return;
    }
    if let Endpoint::Tcp(_) = target.endpoint {
        push_note(
            row,
            "rate_limited: tcp has no /api/stats (refusals are in errors)".into(),
        );
        return;
    }
    match stats_count(target.endpoint, "rate_limited").await {
        Ok(n) => row.rate_limited = Some(n),
        Err(why) => push_note(row, format!("rate_limited: {why}")),
    }
}

/// The server's count `field` from `GET /api/stats`.
pub(crate) async fn stats_count(endpoint: &Endpoint, field: &str) -> Result<u64, String> {
    server_stats(endpoint).await.and_then(|v| {
        v.get(field)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("the server's /api/stats has no {field} count"))
    })
}

/// The server's `GET /api/stats` (its counters since start: a fresh server per row), within
/// [`STATS_TIMEOUT`].
pub(crate) async fn server_stats(endpoint: &Endpoint) -> Result<serde_json::Value, String> {
    let (addr, host) = match endpoint {
        Endpoint::Tcp(_) => return Err("tcp has no /api/stats".into()),
        Endpoint::Ws { addr, host, .. } | Endpoint::Sio { addr, host, .. } => (*addr, host),
    };
    match tokio::time::timeout(STATS_TIMEOUT, get_stats(addr, host)).await {
        Ok(r) => r,
        Err(_) => Err("GET /api/stats timed out".into()),
    }
}

async fn get_stats(addr: std::net::SocketAddr, host: &str) -> Result<serde_json::Value, String> {
    let mut http = HttpClient::connect(addr, host)
        .await
        .map_err(|e| e.to_string())?;
    let (status, body) = http
        .get_json("/api/stats")
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("GET /api/stats answered HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET /api/stats: {e}"))
}

/// The over-limit clients of a row (`over_limit = N`): N more connections, each sending
/// `echo` at twice `rate_limit` on an open schedule. They run the same worker loop as the
/// row's clients but apart from them (their own send log and accounting), so the row's
/// latency, loss and error columns are those of the clients under the limit only, and what
/// happened to these is one note.
pub struct OverLimit {
    workers: Vec<tokio::task::JoinHandle<WorkerReport>>,
    /// Messages per second each sends.
    each: f64,
}

impl OverLimit {
    /// Connects the `over_limit` clients of `s` (none: `Ok(None)`), on the engine's receiver
    /// lanes, before the row's phases start.
    pub async fn open<C: Connector>(
        ctx: &PointCtx<'_>,
        s: &Scenario,
        target: &RowTarget<'_>,
        connector: Arc<C>,
    ) -> Result<Option<Vec<C::Conn>>, PointFailure> {
        let (n, Some(_)) = (s.production.over_limit, s.production.rate_limit) else {
            return Ok(None);
        };
        if n == 0 {
            return Ok(None);
        }
        let opened = open_clients(
            connector,
            target.endpoints(),
            n,
            0.0,
            CONNECT_TIMEOUT,
            ctx.cancel,
            &ctx.engine.placement(n, 0),
        )
        .await;
        if opened.errors > 0 {
            return Err(PointFailure::Failed(format!(
                "{} of {n} over-limit clients failed to connect: {}",
                opened.errors,
                opened.first_error.unwrap_or_default()
            )));
        }
        Ok(Some(opened.conns.into_iter().flatten().collect()))
    }

    /// Starts their workers on the row's phases (`phases` of the row's own clients).
    pub fn start<T: Transport>(
        ctx: &PointCtx<'_>,
        s: &Scenario,
        conns: Vec<T>,
        phases: PhaseTimes,
    ) -> OverLimit {
        let n = conns.len() as u32;
        let each = 2.0 * f64::from(s.production.rate_limit.unwrap_or(0));
        let shared = Arc::new(RowShared {
            phases,
            send_log: SendLog::new(n, each, s.phases.drain + Duration::from_secs(4)),
            live: LiveStats::default(),
            cancel: ctx.cancel.child_token(),
            rx_clock: RxClock::measure(),
        });
        let place = ctx.engine.placement(n, 0);
        let workers = conns
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                let index = i as u32;
                let pacing = Pacing::new(
                    LoopMode::Open,
                    Arrival::Constant,
                    each * f64::from(n),
                    n,
                    index,
                    phases.start,
                    ctx.seed ^ 0x0b5e_55ed,
                );
                let spec = WorkerSpec {
                    index,
                    publish: Some((OpKind::Echo, pacing)),
                    room: None,
                    to_id: None,
                    acked: false,
                    payload_bytes: s.payload_bytes,
                    ledgers: vec![ReceiverLedger::new(index, Audience::Sender)],
                    slow: false,
                };
                place
                    .handle(index)
                    .spawn(run_worker(conn, spec, shared.clone()))
            })
            .collect();
        OverLimit { workers, each }
    }

    /// Waits for them and notes what they sent, what was echoed and what was refused.
    pub async fn finish(self, row: &mut SummaryRow) {
        let n = self.workers.len();
        let (mut sent, mut echoed, mut errors, mut first) = (0, 0, 0, None);
        for w in self.workers {
            let Ok(r) = w.await else {
                errors += 1;
                continue;
            };
            sent += r.sent;
            echoed += r.tally.delivered;
            errors += r.errors;
            first = first.or(r.first_error);
        }
        push_note(
            row,
            format!(
                "over_limit: {n} more clients at {:.0} msgs/s each (not in the row's counts or \
                 latency): sent {sent} in measure, {echoed} echoed, {errors} refused or failed{}",
                self.each,
                first.map(|e| format!(" (first: {e})")).unwrap_or_default()
            ),
        );
    }
}
