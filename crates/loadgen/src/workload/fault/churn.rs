//! The `[churn]` row: the steady clients echo on an open schedule (the traffic), while
//! short-lived clients connect at `connects_per_s` for the whole measure phase, each join
//! a room of their own (`churn-N`, acked), stay `lifetime` and leave: every other one with
//! a clean close, the rest by dropping the socket. The server's fds, rooms and RSS are
//! read with only the steady clients connected, before the churn (at the measure start)
//! and after it (once the churned clients are gone, when fds and rooms are back to the
//! baseline or `settle` has passed): `leak_fds`, `leak_rooms` and `leak_rss_kb` are the
//! differences. The steady clients stay connected until the second reading.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use wsbench_scenario::Scenario;
use wsbench_scenario::faults::{Backoff, Churn};

use super::echo::Away;
use super::{EchoRowSpec, ServerGauges, echo_result, start_echo_row};
use crate::row::{CpuMark, PointCtx, PointFailure, PointResult, RowTarget, push_note};
use crate::transport::{Endpoint, Incoming, OpKind, Outgoing, Transport};
use crate::workload::connect::{CONNECT_TIMEOUT, Connector};
use crate::workload::{CONTROL_ACK_BASE, Plan};

/// How often the gauges are read while waiting for the server to settle.
const SETTLE_POLL: Duration = Duration::from_millis(100);

/// How one short-lived client went.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Visit {
    /// Connected, joined, left (cleanly or not).
    Done,
    Failed(String),
}

/// Runs one `[churn]` row.
pub async fn run_row<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    plan: &Plan,
    churn: &Churn,
    target: &RowTarget<'_>,
    connector: Arc<C>,
) -> Result<PointResult, PointFailure> {
    let Some(server) = target.server else {
        return Err(PointFailure::Failed(
            "[churn] needs a server the run starts".into(),
        ));
    };
    // the steady clients stay until the second reading, however long the settle takes
    let echo_row = EchoRowSpec {
        variant: Some("churn"),
        policy: (Backoff::RAW_DEFAULT, Away::Drop),
        stay_longer: churn.settle + churn.lifetime + CONNECT_TIMEOUT * 2,
    };
    let er = start_echo_row(ctx, s, plan, target, &connector, echo_row).await?;
    let shared = er.shared.clone();
    let phases = shared.phases;
    let before = ServerGauges::read(server, target.endpoint).await;
    ctx.progress.phase("measure");
    let window = (phases.measure_start, phases.measure_end);
    let visits = churn_clients(ctx, churn, target.endpoint, &connector, window).await;
    let measure_to = CpuMark::now(target);
    ctx.progress.phase("drain");
    tokio::select! {
        _ = tokio::time::sleep_until((phases.measure_end + s.phases.drain).into()) => {}
        _ = ctx.cancel.cancelled() => {}
    }
    let after = match &before {
        Ok(base) => Some(settle(server, target.endpoint, base, churn.settle).await),
        Err(_) => None,
    };
    shared.cancel.cancel();
    let (mut row, reports) = er.finish(ctx, s, target, measure_to).await;
    let done = visits.iter().filter(|v| **v == Visit::Done).count();
    let first_failure = visits.iter().find_map(|v| match v {
        Visit::Failed(e) => Some(e.clone()),
        Visit::Done => None,
    });
    push_note(
        &mut row,
        format!(
            "churn: {done} of {} short-lived clients connected, joined and left",
            visits.len()
        ),
    );
    if let Some(e) = first_failure {
        row.errors += (visits.len() - done) as u64;
        push_note(&mut row, format!("first churn failure: {e}"));
    }
    match (before, after) {
        (Ok(b), Some(Ok((a, waited)))) => {
            fill_leaks(&mut row, &b, &a);
            push_note(
                &mut row,
                format!(
                    "server before churn: {} fds, {} KB RSS{}; after {:.1} s settle: {} fds, {} KB{}",
                    b.fds,
                    b.rss_kb,
                    rooms_text(b.rooms),
                    waited.as_secs_f64(),
                    a.fds,
                    a.rss_kb,
                    rooms_text(a.rooms)
                ),
            );
        }
        (Err(e), _) | (_, Some(Err(e))) => {
            push_note(&mut row, format!("cannot read the server's gauges: {e}"));
        }
        (Ok(_), None) => {}
    }
    Ok(echo_result(row, &reports))
}

fn rooms_text(rooms: Option<u64>) -> String {
    rooms.map_or(String::new(), |r| format!(", {r} rooms"))
}

/// The leak columns: after minus before.
fn fill_leaks(row: &mut wsbench_report::SummaryRow, before: &ServerGauges, after: &ServerGauges) {
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    row.leak_fds = Some(diff(after.fds, before.fds));
    row.leak_rss_kb = Some(diff(after.rss_kb, before.rss_kb));
    row.leak_rooms = match (after.rooms, before.rooms) {
        (Some(a), Some(b)) => Some(diff(a, b)),
        _ => None,
    };
}

/// Reads the gauges until fds and rooms are back to `base` or `limit` has passed; returns
/// the last reading and how long it waited.
async fn settle(
    server: &crate::supervise::ServerChild,
    endpoint: &Endpoint,
    base: &ServerGauges,
    limit: Duration,
) -> std::io::Result<(ServerGauges, Duration)> {
    let start = Instant::now();
    loop {
        let now = ServerGauges::read(server, endpoint).await?;
        if now.settled_to(base) || start.elapsed() >= limit {
            return Ok((now, start.elapsed()));
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// Opens short-lived clients at the churn rate over `[from, until)` (one due every
/// `1 / connects_per_s` from `from`), then waits for every one of them to have left.
async fn churn_clients<C: Connector>(
    ctx: &PointCtx<'_>,
    churn: &Churn,
    endpoint: &Endpoint,
    connector: &Arc<C>,
    (from, until): (Instant, Instant),
) -> Vec<Visit> {
    let gap = Duration::from_secs_f64(1.0 / churn.connects_per_s);
    let lanes: Vec<_> = ctx.engine.handles().cloned().collect();
    let mut tasks = JoinSet::new();
    let mut next = from;
    let mut n = 0u64;
    while next < until && !ctx.cancel.is_cancelled() {
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = ctx.cancel.cancelled() => break,
        }
        let lane = &lanes[n as usize % lanes.len()];
        tasks.spawn_on(
            visit(
                connector.clone(),
                endpoint.clone(),
                n,
                churn.lifetime,
                n % 2 == 1,
            ),
            lane,
        );
        n += 1;
        next += gap;
    }
    let mut visits = Vec::with_capacity(n as usize);
    while let Some(v) = tasks.join_next().await {
        visits.push(v.unwrap_or_else(|e| Visit::Failed(format!("churn task failed: {e}"))));
    }
    visits
}

/// One short-lived client: connect, join `churn-N` (acked), stay `lifetime`, leave (a
/// clean close, or `abrupt`: the socket dropped).
async fn visit<C: Connector>(
    connector: Arc<C>,
    endpoint: Endpoint,
    n: u64,
    lifetime: Duration,
    abrupt: bool,
) -> Visit {
    let start = Instant::now();
    let mut conn = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        connector.connect(&endpoint, CONNECT_TIMEOUT),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Visit::Failed(format!("churn client {n}: {e}")),
        Err(_) => return Visit::Failed(format!("churn client {n}: connect timed out")),
    };
    let room = format!("churn-{n}");
    let ack = CONTROL_ACK_BASE + n;
    let join = Outgoing {
        op: OpKind::Join,
        room: Some(&room),
        id: None,
        data: None,
        ack: Some(ack),
    };
    let joined = async {
        conn.send(join).await.map_err(|e| e.to_string())?;
        loop {
            match conn.recv().await {
                Ok(Incoming::Ack { ack: a, .. }) if a == ack => return Ok(()),
                Ok(Incoming::Error(r)) => return Err(format!("join refused: {r}")),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, joined).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Visit::Failed(format!("churn client {n}: {e}")),
        Err(_) => return Visit::Failed(format!("churn client {n}: join not acked")),
    }
    tokio::time::sleep_until((start + lifetime).into()).await;
    if !abrupt {
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
    }
    drop(conn);
    Visit::Done
}
