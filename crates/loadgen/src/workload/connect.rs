//! Opening the clients of a row: paced connects (the `connect` workload's storm is the same
//! code with its `connect_rate`), each connection's connect time into a histogram, the
//! join barrier of the `rooms` workload (every client's join is acked before any send), and
//! the row driver of the `connect` workload ([`run_storm_row`]: the storm is the measure
//! phase).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use wsbench_scenario::{Scenario, Workload};

use crate::engine::Placement;
use crate::recorder::{micros, new_histogram, quantile};
use crate::row::{CpuMark, PointCtx, PointFailure, PointResult, RowTarget, fill_cpu};
use crate::transport::{
    ByteCounts, Endpoint, Incoming, OpKind, Outgoing, Transport, TransportError,
};
use crate::workload::{CONTROL_ACK_BASE, Plan};

/// Each connect is bounded by this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections being opened at once, at most (a storm at `connect_rate = 0` is still bounded
/// so the listen backlog, not our fd table, is what the server sees).
pub const MAX_CONNECTS_IN_FLIGHT: usize = 512;

/// How the load generator opens one connection of a protocol. The runner's default is
/// [`crate::transport::connect`]; the seam exists so the runner is generic over it.
pub trait Connector: Send + Sync + 'static {
    type Conn: Transport;
    fn connect(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> impl Future<Output = Result<Self::Conn, TransportError>> + Send;
}

/// The clients of a row, in index order.
#[derive(Debug)]
pub struct Opened<T> {
    /// `conns[i]` is client `i`, `None` where its connect failed.
    pub conns: Vec<Option<T>>,
    /// Connect time of each successful connection, µs.
    pub connect_us: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the first connect started to the last one finished.
    pub elapsed: Duration,
}

impl<T> Opened<T> {
    /// A message-row's connections, every one of them: fills the row's connect columns
    /// (`connect_p50_us`, `connect_p99_us`, `connect_errors`), then fails the row when the
    /// run was cancelled or any of them (`what`: "clients", "connections") failed.
    pub(crate) fn all_or_fail(
        self,
        row: &mut wsbench_report::SummaryRow,
        ctx: &PointCtx<'_>,
        what: &str,
    ) -> Result<Vec<T>, PointFailure> {
        row.connect_p50_us = quantile(&self.connect_us, 0.5);
        row.connect_p99_us = quantile(&self.connect_us, 0.99);
        row.connect_errors = self.errors;
        if ctx.cancel.is_cancelled() {
            return Err(PointFailure::Cancelled);
        }
        let n = self.conns.len();
        let conns: Vec<T> = self.conns.into_iter().flatten().collect();
        if conns.len() < n {
            return Err(PointFailure::Failed(format!(
                "{} of {n} {what} failed to connect to {}: {}",
                n - conns.len(),
                ctx.target_name,
                self.first_error.unwrap_or_default()
            )));
        }
        Ok(conns)
    }
}

/// Runs one row of the `connect` workload: open every client at `connect_rate` (the storm
/// is the measure phase), close them, and report connect times as the row's histogram.
pub async fn run_storm_row<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    plan: &Plan,
    target: &RowTarget<'_>,
    connector: Arc<C>,
) -> Result<PointResult, PointFailure> {
    let mut row = plan.base_row(ctx, s, target.transport);
    ctx.progress.phase("connect");
    let connect_rate = match s.workload {
        Workload::Connect { connect_rate } => connect_rate,
        _ => 0.0,
    };
    // the storm is the traffic: the proxy's stalls and resets (`[network]`) hit it
    target.arm_faults();
    let before = CpuMark::now(target);
    let opened = open_clients(
        connector,
        target.endpoints(),
        s.clients,
        connect_rate,
        CONNECT_TIMEOUT,
        ctx.cancel,
        &ctx.engine.placement(s.clients, 0),
    )
    .await;
    let after = CpuMark::now(target);
    row.connect_p50_us = quantile(&opened.connect_us, 0.5);
    row.connect_p99_us = quantile(&opened.connect_us, 0.99);
    row.connect_errors = opened.errors;
    let connected = opened.conns.iter().filter(|c| c.is_some()).count();
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
    fill_cpu(&mut row, target, before, after);
    let mut notes = vec![format!(
        "{connected} of {} connected in {:.3} s",
        s.clients,
        opened.elapsed.as_secs_f64()
    )];
    notes.extend(opened.first_error);
    row.notes = notes.join("; ");
    Ok(PointResult {
        row,
        hgrm: opened.connect_us,
    })
}

/// Opens `n` connections, client `i` to `endpoints[i % len]` (the nodes of a cluster),
/// `rate` per second (0 = as fast as allowed), each
/// bounded by `timeout`, client `i` on the engine lane `place` gives it (where its worker
/// will run: a socket belongs to the runtime it was opened on). Stops starting new ones
/// when `cancel` fires.
pub async fn open_clients<C: Connector>(
    connector: Arc<C>,
    endpoints: &[Endpoint],
    n: u32,
    rate: f64,
    timeout: Duration,
    cancel: &CancellationToken,
    place: &Placement<'_>,
) -> Opened<C::Conn> {
    let start = Instant::now();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTS_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(f64::from(i) / rate);
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = cancel.cancelled() => break,
            }
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = cancel.cancelled() => break,
        };
        let connector = connector.clone();
        let endpoint = endpoints[i as usize % endpoints.len().max(1)].clone();
        tasks.spawn_on(
            async move {
                let r = match tokio::time::timeout(timeout, connector.connect(&endpoint, timeout))
                    .await
                {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!(
                        "connect to {endpoint:?} timed out after {timeout:?}"
                    )),
                };
                drop(permit);
                (i, r)
            },
            place.handle(i),
        );
    }
    let mut opened = Opened {
        conns: (0..n).map(|_| None).collect(),
        connect_us: new_histogram(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, Ok(conn))) => {
                let _ = opened.connect_us.record(micros(conn.connect_time()).max(1));
                opened.conns[i as usize] = Some(conn);
            }
            Ok((i, Err(e))) => {
                opened.errors += 1;
                opened.first_error.get_or_insert(format!("client {i}: {e}"));
            }
            Err(e) => {
                opened.errors += 1;
                opened
                    .first_error
                    .get_or_insert(format!("connect task failed: {e}"));
            }
        }
    }
    // clients never started (cancelled) count as not connected, not as errors
    opened.elapsed = start.elapsed();
    opened
}

/// Join barrier: client `i` joins `rooms[i]` (if any) with a control ack and waits for that
/// ack, all clients concurrently, within `timeout`. Deliveries cannot arrive yet (nobody
/// sends before the barrier), so anything else received is ignored.
pub async fn join_rooms<T: Transport>(
    conns: &mut [T],
    rooms: &[Option<String>],
    timeout: Duration,
) -> Result<(), String> {
    let joins = conns
        .iter_mut()
        .zip(rooms)
        .enumerate()
        .filter_map(|(i, (c, r))| {
            let room = r.as_deref()?;
            Some(async move {
                let ack = CONTROL_ACK_BASE + i as u64;
                let req = Outgoing {
                    op: OpKind::Join,
                    room: Some(room),
                    id: None,
                    data: None,
                    ack: Some(ack),
                };
                c.send(req)
                    .await
                    .map_err(|e| format!("client {i}: join {room:?} failed: {e}"))?;
                loop {
                    match c.recv().await {
                        Ok(Incoming::Ack { ack: a, .. }) if a == ack => return Ok(()),
                        Ok(Incoming::Error(reason)) => {
                            return Err(format!("client {i}: join {room:?} refused: {reason}"));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            return Err(format!("client {i}: connection lost during join: {e}"));
                        }
                    }
                }
            })
        });
    let all = futures_util::future::try_join_all(joins);
    match tokio::time::timeout(timeout, all).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(format!(
            "join barrier: not every client's join was acked within {timeout:?}"
        )),
    }
}

/// The real transports: [`crate::transport::connect`] for every protocol.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultConnector;

impl Connector for DefaultConnector {
    type Conn = crate::transport::AnyTransport;
    fn connect(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> impl Future<Output = Result<Self::Conn, TransportError>> + Send {
        crate::transport::connect(endpoint, timeout)
    }
}
