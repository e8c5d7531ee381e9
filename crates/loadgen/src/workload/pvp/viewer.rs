//! One dashboard viewer of polling-vs-push, one task each.
//!
//! - A polling viewer opens one keep-alive HTTP connection and, from its start offset
//!   (viewers are spread evenly over one poll interval, so N viewers make a steady N / P
//!   GETs per second rather than bursts), GETs `/api/dashboard` every poll interval until the
//!   end of drain. A GET that returns after its next tick was due skips that tick (counted:
//!   the server, not the viewer, set the pace). Each time a GET returns a version it had not
//!   seen, that is a sight.
//! - A push viewer (`super::push`) connects its transport (raw WebSocket or Socket.IO on either Engine.IO
//!   transport), joins room `dashboard` and waits for the ack, GETs one snapshot on a
//!   short-lived HTTP connection, then only listens: every `{"op":"msg","data":row}` (raw)
//!   or `update(row)` (Socket.IO) is a sight.
//!
//! - A `poll-etag` viewer polls the same way with `If-None-Match` (a 304 is no sight); a
//!   `poll-cached` viewer polls `/api/dashboard/cached`. `long-poll` and `sse` viewers live
//!   in [`super::streams`].
//! - With W > 1 workspaces, viewer i watches workspace `i % W + 1` (`?workspace=K`, push
//!   room `dashboard:K`); a row whose value is tagged with another workspace is an
//!   isolation error, not a sight.
//!
//! Setup (connect, join, snapshot) happens before warmup; the viewer reports it is ready,
//! then waits for the row's timeline. Each viewer also reads its byte counts at the start
//! and end of the measure window (`window_bytes`: what `bytes_per_update` divides).
//!
//! A sight's time is the kernel's receive stamp of the read that completed the response or
//! update (user time when the read had none), with the viewer's read lag beside it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::tally::{Exchange, Sight, row_of};
pub(super) use super::window::WindowBytes;
use crate::recorder::{LazyHistogram, micros};
use crate::transport::rxstamp::{ReceiveTime, RxClock};
use crate::transport::{ByteCounts, Endpoint, HttpClient, Transport};

/// A GET is bounded by this; connect, join and snapshot each by [`SETUP_TIMEOUT`].
const GET_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The room the servers push dashboard updates to (docs/design.md §4).
pub const DASHBOARD_ROOM: &str = "dashboard";

/// How a polling viewer asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKind {
    /// `GET /api/dashboard`.
    Plain,
    /// `GET /api/dashboard` with `If-None-Match` of the last row seen.
    Etag,
    /// `GET /api/dashboard/cached`.
    Cached,
}

/// How one viewer watches the dashboard.
#[derive(Debug, Clone)]
pub enum Watch {
    /// GET every `interval`, first at `offset` after the timeline's start.
    Poll {
        interval: Duration,
        offset: Duration,
        kind: PollKind,
    },
    /// Hanging GETs of `/api/dashboard/wait?after=V`, one after the other.
    LongPoll,
    /// One `text/event-stream` of `/api/dashboard/events`.
    Sse,
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
    /// The workspace watched (1..=`workspaces`).
    pub workspace: u32,
    /// Workspaces of the row; with 1 the paths carry no `?workspace=`.
    pub workspaces: u32,
}

impl ViewerSpec {
    /// `path` of this viewer's workspace (`?workspace=K` added when there are several).
    pub fn path(&self, path: &str) -> String {
        if self.workspaces == 1 {
            path.to_owned()
        } else {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{path}{sep}workspace={}", self.workspace)
        }
    }

    /// The push room of this viewer's workspace (as the servers name it).
    pub fn room(&self) -> String {
        if self.workspace == 1 {
            DASHBOARD_ROOM.to_owned()
        } else {
            format!("{DASHBOARD_ROOM}:{}", self.workspace)
        }
    }
}

/// When the row's phases are (the same instants for every viewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// Polling viewers' schedule origin (the start of warmup).
    pub start: Instant,
    /// The measure window (byte counts are read at its edges).
    pub measure_start: Instant,
    pub measure_end: Instant,
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
    /// Bytes this viewer moved (both ways) inside the measure window; `None` when the
    /// window was not reached.
    pub window_bytes: Option<u64>,
    /// Rows of another workspace this viewer received.
    pub isolation_errors: u64,
}

impl ViewerReport {
    pub(super) fn error(&mut self, index: u32, e: String) {
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
        Watch::LongPoll | Watch::Sse => {
            return super::streams::run(spec, permit, ready, timeline, cancel, report).await;
        }
        Watch::Poll {
            interval,
            offset,
            kind,
        } => {
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
            let plan = PollPlan {
                interval: *interval,
                first: tl.start + *offset,
                kind: *kind,
            };
            poll(&mut client, &spec, plan, tl, &cancel, &mut report).await;
            report.bytes = client.bytes();
        }
        Watch::Push { endpoint } => {
            let mut conn = match super::push::push_setup(&spec, endpoint, &mut report).await {
                Ok(c) => c,
                Err(e) => return setup_failed(report, &ready, spec.index, e).await,
            };
            drop(permit);
            let _ = ready.send(Ok(())).await;
            // listen while waiting for the timeline too (updates already flow in warmup)
            let mut tl: Option<Timeline> = None;
            let mut window = WindowBytes::default();
            loop {
                let far = Instant::now() + Duration::from_secs(3600);
                let mark = tl.map_or(far, |t| window.next_mark(&t).unwrap_or(t.drain_end));
                tokio::select! {
                    r = conn.recv() => match r {
                        Ok(incoming) => {
                            let stamp = conn.last_rx();
                            let received =
                                ReceiveTime::new(Instant::now(), stamp, &spec.rx_clock);
                            super::push::on_push(incoming, received, &mut report, &spec);
                        }
                        Err(e) => {
                            report.error(spec.index, format!("connection lost: {e}"));
                            break;
                        }
                    },
                    changed = timeline.changed(), if tl.is_none() => match changed {
                        Ok(()) => tl = *timeline.borrow(),
                        Err(_) => break,
                    },
                    _ = tokio::time::sleep_until(mark.into()), if tl.is_some() => {
                        let t = tl.expect("guarded");
                        if Instant::now() >= t.drain_end {
                            break;
                        }
                        let b = conn.bytes();
                        window.sample(&t, b.out + b.r#in);
                    }
                    _ = cancel.cancelled() => break,
                }
            }
            report.window_bytes = window.total();
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

/// When and how a polling viewer polls.
#[derive(Debug, Clone, Copy)]
struct PollPlan {
    interval: Duration,
    first: Instant,
    kind: PollKind,
}

/// The polling loop: GET at `first`, `first + interval`, … until drain ends.
async fn poll(
    client: &mut HttpClient,
    spec: &ViewerSpec,
    plan: PollPlan,
    tl: Timeline,
    cancel: &CancellationToken,
    report: &mut ViewerReport,
) {
    let interval = plan.interval;
    let mut due = plan.first;
    let mut last_version: Option<u64> = None;
    let mut etag: Option<String> = None;
    let mut window = WindowBytes::default();
    let path = spec.path(match plan.kind {
        PollKind::Plain | PollKind::Etag => "/api/dashboard",
        PollKind::Cached => "/api/dashboard/cached",
    });
    while due < tl.drain_end {
        tokio::select! {
            _ = crate::engine::timer::sleep_until(due) => {}
            _ = cancel.cancelled() => return,
        }
        let sent_at = Instant::now();
        let b = client.bytes();
        window.sample_at(&tl, sent_at, b.out + b.r#in);
        report.poll_lag_us.record_us(micros(sent_at - due));
        let asked = async {
            match plan.kind {
                PollKind::Etag => client.get_conditional(&path, etag.as_deref()).await,
                PollKind::Plain | PollKind::Cached => client
                    .get_json(&path)
                    .await
                    .map(|(status, body)| (status, None, body)),
            }
        };
        let result = tokio::time::timeout(GET_TIMEOUT, asked).await;
        let done_at = Instant::now();
        let received = ReceiveTime::new(done_at, client.last_rx(), &spec.rx_clock);
        let failure = match result {
            Ok(Ok((200, tag, body))) => {
                etag = tag;
                match accept_row(&body, received, report, spec) {
                    Ok(v) if last_version == Some(v) => {
                        report.sights.pop(); // seen before: only the first sight counts
                        None
                    }
                    Ok(v) => {
                        last_version = Some(v);
                        None
                    }
                    Err(e) => e,
                }
            }
            Ok(Ok((304, _, _))) if plan.kind == PollKind::Etag => None,
            Ok(Ok((status, _, body))) => Some(format!(
                "GET {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )),
            Ok(Err(e)) => Some(format!("GET {path}: {e}")),
            Err(_) => Some(format!("GET {path}: no answer in {GET_TIMEOUT:?}")),
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
    let b = client.bytes();
    window.sample_at(&tl, tl.drain_end, b.out + b.r#in);
    report.window_bytes = window.total();
}

/// A dashboard row received by `spec`'s viewer: a sight of its version (returned), or an
/// isolation error when the writer tagged it with another workspace, or not a row at all.
pub(super) fn accept_row(
    body: &[u8],
    received: ReceiveTime,
    report: &mut ViewerReport,
    spec: &ViewerSpec,
) -> Result<u64, Option<String>> {
    match row_of(body) {
        Some((_, Some(w))) if w != spec.workspace => {
            report.isolation_errors += 1;
            Err(Some(format!(
                "workspace {}'s viewer received workspace {w}'s row: {}",
                spec.workspace,
                String::from_utf8_lossy(body)
            )))
        }
        Some((version, _)) => {
            report.sights.push(sight(version, received));
            Ok(version)
        }
        None => Err(Some(format!(
            "not a dashboard row: {}",
            String::from_utf8_lossy(body)
        ))),
    }
}

/// A sight of `version` received at `received`.
pub(super) fn sight(version: u64, received: ReceiveTime) -> Sight {
    Sight {
        version,
        at: received.instant(),
        read_lag_ns: received.read_lag_ns(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(workspace: u32) -> ViewerSpec {
        ViewerSpec {
            index: 0,
            http: "127.0.0.1:1".parse().unwrap(),
            host: "127.0.0.1:1".into(),
            watch: Watch::LongPoll,
            rx_clock: RxClock::measure(),
            workspace,
            workspaces: 3,
        }
    }

    #[test]
    fn another_workspaces_row_is_an_isolation_error_not_a_sight() {
        let s = spec(2);
        let mut report = ViewerReport::default();
        let now = ReceiveTime::new(Instant::now(), None, &s.rx_clock);
        let own = br#"{"version":4,"value":{"workspace":2,"n":7},"written_at":1}"#;
        assert_eq!(accept_row(own, now, &mut report, &s), Ok(4));
        let other = br#"{"version":5,"value":{"workspace":3,"n":8},"written_at":1}"#;
        let e = accept_row(other, now, &mut report, &s)
            .unwrap_err()
            .unwrap();
        assert!(
            e.contains("workspace 2's viewer received workspace 3's row"),
            "{e}"
        );
        assert!(accept_row(b"nope", now, &mut report, &s).is_err());
        assert_eq!(report.isolation_errors, 1);
        assert_eq!(report.sights.len(), 1);
        assert_eq!(
            s.path("/api/dashboard/wait?after=1"),
            "/api/dashboard/wait?after=1&workspace=2"
        );
        assert_eq!(s.room(), "dashboard:2");
        assert_eq!(spec(1).room(), "dashboard");
    }
}
