//! One dashboard viewer of polling-vs-push, one task each.
//!
//! - A polling viewer opens one keep-alive HTTP connection and, from its start offset
//!   (viewers are spread evenly over one poll interval, so N viewers make a steady N / P
//!   GETs per second rather than bursts), GETs `/api/dashboard` every poll interval until the
//!   end of drain. A GET that returns after its next tick was due skips that tick (counted:
//!   the server, not the viewer, set the pace). Each time a GET returns a version it had not
//!   seen, that is a sight.
//! - A push viewer connects its transport (raw WebSocket or Socket.IO on either Engine.IO
//!   transport), joins room `dashboard` and waits for the ack, GETs one snapshot on a
//!   short-lived HTTP connection, then only listens: every `{"op":"msg","data":row}` (raw)
//!   or `update(row)` (Socket.IO) is a sight.
//!
//! Setup (connect, join, snapshot) happens before warmup; the viewer reports it is ready,
//! then waits for the row's timeline.
//!
//! A sight's time is the kernel's receive stamp of the read that completed the response or
//! update (user time when the read had none), with the viewer's read lag beside it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::tally::{Exchange, Sight, version_of};
use crate::recorder::{LazyHistogram, micros};
use crate::transport::rxstamp::{ReceiveTime, RxClock};
use crate::transport::{
    ByteCounts, Endpoint, HttpClient, Incoming, OpKind, Outgoing, Transport, TransportError,
};
use crate::workload::CONTROL_ACK_BASE;

/// A GET is bounded by this; connect, join and snapshot each by [`SETUP_TIMEOUT`].
const GET_TIMEOUT: Duration = Duration::from_secs(10);
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The room the servers push dashboard updates to (docs/design.md §4).
pub const DASHBOARD_ROOM: &str = "dashboard";

/// How one viewer watches the dashboard.
#[derive(Debug, Clone)]
pub enum Watch {
    /// GET every `interval`, first at `offset` after the timeline's start.
    Poll {
        interval: Duration,
        offset: Duration,
    },
    /// Listen on a connection to `endpoint` (after join and snapshot).
    Push { endpoint: Endpoint },
}

/// Everything one viewer needs.
#[derive(Debug, Clone)]
pub struct ViewerSpec {
    pub index: u32,
    /// The server's HTTP address and Host header (REST routes).
    pub http: SocketAddr,
    pub host: String,
    pub watch: Watch,
    /// Maps kernel receive stamps onto the epoch clock (measured once per row).
    pub rx_clock: RxClock,
}

/// When the row's phases are (the same instants for every viewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// Polling viewers' schedule origin (the start of warmup).
    pub start: Instant,
    /// Viewers stop at the end of drain.
    pub drain_end: Instant,
}

/// What a viewer hands over at the end.
#[derive(Debug, Default)]
pub struct ViewerReport {
    /// Versions seen, in arrival order (repeats included; the first counts).
    pub sights: Vec<Sight>,
    /// Every HTTP request this viewer issued (polls, and a push viewer's snapshot).
    pub gets: Vec<Exchange>,
    pub bytes: ByteCounts,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Connect time (all handshakes; push viewers: the transport), µs.
    pub connect_us: Option<u64>,
    /// Polls not issued because the previous GET was still out when they were due.
    pub polls_skipped: u64,
    /// How late polls left a viewer that was idle when they were due (timer and task
    /// scheduling: the load generator's own lag), µs.
    pub poll_lag_us: LazyHistogram,
}

impl ViewerReport {
    fn error(&mut self, index: u32, e: String) {
        self.errors += 1;
        self.first_error
            .get_or_insert(format!("viewer {index}: {e}"));
    }
}

/// What the viewer tells the driver once its setup is done (or failed).
pub type Ready = Result<(), String>;

/// Runs one viewer: setup (bounded by `setup_slots`), `ready`, wait for the timeline, watch
/// until drain ends or `cancel` fires.
pub async fn run_viewer(
    spec: ViewerSpec,
    setup_slots: Arc<Semaphore>,
    ready: mpsc::Sender<Ready>,
    mut timeline: watch::Receiver<Option<Timeline>>,
    cancel: CancellationToken,
) -> ViewerReport {
    let mut report = ViewerReport::default();
    let permit = setup_slots.acquire_owned().await.ok();
    match &spec.watch {
        Watch::Poll { interval, offset } => {
            let t0 = Instant::now();
            let connected =
                tokio::time::timeout(SETUP_TIMEOUT, HttpClient::connect(spec.http, &spec.host))
                    .await;
            let mut client = match connected {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return setup_failed(report, &ready, spec.index, e.to_string()).await,
                Err(_) => {
                    let e = format!("HTTP connect not done in {SETUP_TIMEOUT:?}");
                    return setup_failed(report, &ready, spec.index, e).await;
                }
            };
            report.connect_us = Some(micros(t0.elapsed()).max(1));
            drop(permit);
            let _ = ready.send(Ok(())).await;
            let Some(tl) = wait_timeline(&mut timeline, &cancel).await else {
                report.bytes = client.bytes();
                return report;
            };
            poll(
                &mut client,
                &spec,
                *interval,
                tl.start + *offset,
                tl,
                &cancel,
                &mut report,
            )
            .await;
            report.bytes = client.bytes();
        }
        Watch::Push { endpoint } => {
            let mut conn = match push_setup(&spec, endpoint, &mut report).await {
                Ok(c) => c,
                Err(e) => return setup_failed(report, &ready, spec.index, e).await,
            };
            drop(permit);
            let _ = ready.send(Ok(())).await;
            // listen while waiting for the timeline too (updates already flow in warmup)
            let mut drain_end: Option<Instant> = None;
            loop {
                let stop_at =
                    drain_end.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                tokio::select! {
                    r = conn.recv() => match r {
                        Ok(incoming) => {
                            let stamp = conn.last_rx();
                            let received =
                                ReceiveTime::new(Instant::now(), stamp, &spec.rx_clock);
                            on_push(incoming, received, &mut report, spec.index);
                        }
                        Err(e) => {
                            report.error(spec.index, format!("connection lost: {e}"));
                            break;
                        }
                    },
                    changed = timeline.changed(), if drain_end.is_none() => match changed {
                        Ok(()) => drain_end = timeline.borrow().map(|t| t.drain_end),
                        Err(_) => break,
                    },
                    _ = tokio::time::sleep_until(stop_at.into()), if drain_end.is_some() => break,
                    _ = cancel.cancelled() => break,
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
            let b = conn.bytes();
            report.bytes.out += b.out;
            report.bytes.r#in += b.r#in;
        }
    }
    report
}

async fn setup_failed(
    mut report: ViewerReport,
    ready: &mpsc::Sender<Ready>,
    index: u32,
    e: String,
) -> ViewerReport {
    report.error(index, e.clone());
    let _ = ready.send(Err(format!("viewer {index}: {e}"))).await;
    report
}

/// Waits until the driver publishes the timeline; `None` when cancelled or abandoned.
async fn wait_timeline(
    rx: &mut watch::Receiver<Option<Timeline>>,
    cancel: &CancellationToken,
) -> Option<Timeline> {
    tokio::select! {
        r = rx.wait_for(Option::is_some) => r.ok().and_then(|t| *t),
        _ = cancel.cancelled() => None,
    }
}

/// The polling loop: GET at `first`, `first + interval`, … until drain ends.
async fn poll(
    client: &mut HttpClient,
    spec: &ViewerSpec,
    interval: Duration,
    first: Instant,
    tl: Timeline,
    cancel: &CancellationToken,
    report: &mut ViewerReport,
) {
    let mut due = first;
    let mut last_version: Option<u64> = None;
    while due < tl.drain_end {
        tokio::select! {
            _ = crate::engine::timer::sleep_until(due) => {}
            _ = cancel.cancelled() => return,
        }
        let sent_at = Instant::now();
        report.poll_lag_us.record_us(micros(sent_at - due));
        let result = tokio::time::timeout(GET_TIMEOUT, client.get_json("/api/dashboard")).await;
        let done_at = Instant::now();
        let received = ReceiveTime::new(done_at, client.last_rx(), &spec.rx_clock);
        let failure = match result {
            Ok(Ok((200, body))) => match version_of(&body) {
                Some(v) => {
                    if last_version != Some(v) {
                        report.sights.push(sight(v, received));
                        last_version = Some(v);
                    }
                    None
                }
                None => Some(format!(
                    "GET /api/dashboard: not a dashboard row: {}",
                    String::from_utf8_lossy(&body)
                )),
            },
            Ok(Ok((status, body))) => Some(format!(
                "GET /api/dashboard: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )),
            Ok(Err(e)) => Some(format!("GET /api/dashboard: {e}")),
            Err(_) => Some(format!("GET /api/dashboard: no answer in {GET_TIMEOUT:?}")),
        };
        report.gets.push(Exchange {
            sent_at,
            done_at,
            answered: failure.is_none(),
        });
        if let Some(e) = failure {
            report.error(spec.index, e);
        }
        // next tick; ticks that passed while the GET was out are skipped
        due += interval;
        let now = Instant::now();
        if due < now {
            let behind = now - due;
            let skipped = (behind.as_nanos() / interval.as_nanos().max(1)) as u32 + 1;
            report.polls_skipped += u64::from(skipped);
            due += interval * skipped;
        }
    }
}

/// Connect, join `dashboard` (acked), snapshot GET. The snapshot is a sight.
async fn push_setup(
    spec: &ViewerSpec,
    endpoint: &Endpoint,
    report: &mut ViewerReport,
) -> Result<crate::transport::AnyTransport, String> {
    let mut conn = crate::transport::connect(endpoint, SETUP_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    report.connect_us = Some(micros(conn.connect_time()).max(1));
    let ack = CONTROL_ACK_BASE + u64::from(spec.index);
    let join = Outgoing {
        op: OpKind::Join,
        room: Some(DASHBOARD_ROOM),
        id: None,
        data: None,
        ack: Some(ack),
    };
    let joined = async {
        conn.send(join).await?;
        loop {
            let incoming = conn.recv().await?;
            let received = ReceiveTime::new(Instant::now(), conn.last_rx(), &spec.rx_clock);
            match incoming {
                Incoming::Ack { ack: a, .. } if a == ack => return Ok(()),
                Incoming::Error(reason) => {
                    return Err(TransportError::Protocol(format!("join refused: {reason}")));
                }
                other => on_push(other, received, report, spec.index),
            }
        }
    };
    match tokio::time::timeout(SETUP_TIMEOUT, joined).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("join {DASHBOARD_ROOM:?}: {e}")),
        Err(_) => {
            return Err(format!(
                "join {DASHBOARD_ROOM:?}: no ack in {SETUP_TIMEOUT:?}"
            ));
        }
    }
    // the snapshot: one GET on its own connection, closed afterwards (as a page load)
    let snapshot = async {
        let mut http = HttpClient::connect(spec.http, &spec.host).await?;
        let sent_at = Instant::now();
        let r = http.get_json("/api/dashboard").await;
        let done_at = Instant::now();
        let received = ReceiveTime::new(done_at, http.last_rx(), &spec.rx_clock);
        Ok::<_, TransportError>((http.bytes(), sent_at, done_at, received, r))
    };
    let (bytes, sent_at, done_at, received, r) =
        match tokio::time::timeout(SETUP_TIMEOUT, snapshot).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(format!("snapshot GET: {e}")),
            Err(_) => return Err(format!("snapshot GET: no answer in {SETUP_TIMEOUT:?}")),
        };
    report.bytes = bytes;
    report.gets.push(Exchange {
        sent_at,
        done_at,
        answered: matches!(r, Ok((200, _))),
    });
    match r {
        Ok((200, body)) => {
            let version = version_of(&body).ok_or_else(|| {
                format!(
                    "snapshot GET: not a dashboard row: {}",
                    String::from_utf8_lossy(&body)
                )
            })?;
            report.sights.push(sight(version, received));
        }
        Ok((status, body)) => {
            return Err(format!(
                "snapshot GET: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Err(e) => return Err(format!("snapshot GET: {e}")),
    }
    Ok(conn)
}

/// A sight of `version` received at `received`.
fn sight(version: u64, received: ReceiveTime) -> Sight {
    Sight {
        version,
        at: received.instant(),
        read_lag_ns: received.read_lag_ns(),
    }
}

/// A pushed update (raw `msg`, Socket.IO `update`) is a sight; anything else is an error.
fn on_push(incoming: Incoming, received: ReceiveTime, report: &mut ViewerReport, index: u32) {
    let data = match incoming {
        Incoming::Msg(data) => data,
        Incoming::Event { name, data } if name == "update" => data,
        Incoming::Event { name, .. } => {
            report.error(index, format!("unexpected event {name:?}"));
            return;
        }
        Incoming::Ack { ack, .. } => {
            report.error(index, format!("unexpected ack {ack}"));
            return;
        }
        Incoming::Error(reason) => {
            report.error(index, format!("server error: {reason}"));
            return;
        }
    };
    match version_of(&data) {
        Some(version) => report.sights.push(sight(version, received)),
        None => report.error(
            index,
            format!(
                "pushed update is not a dashboard row: {}",
                String::from_utf8_lossy(&data)
            ),
        ),
    }
}
