//! The one worker loop: one connection, one task, `select!` between the next scheduled send
//! and [`Transport::recv`], parameterised by its [`Pacing`] (open schedule, closed loop at a
//! rate, closed-loop ping-pong, or none for a pure receiver) and the op it sends. Every workload that publishes runs this
//! loop; there is no per-workload copy of it.
//!
//! Phases are absolute instants shared by all workers of a row: sends start at
//! [`PhaseTimes::start`] (warmup), only sends whose intended time falls in
//! `[measure_start, measure_end)` are counted and timed, nothing is sent from `measure_end`
//! on, and deliveries are still taken until `drain_end`. Cancellation stops sending at once
//! and cuts the drain to [`CANCEL_GRACE`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;
use wsbench_wire::payload::Stamp;

use crate::accounting::{Delivery, ReceiverLedger, Tally, Violation};
use crate::recorder::{LiveStats, Recorder, SendLog};
use crate::schedule::{Pacing, ns_since_epoch};
use crate::transport::{ByteCounts, Incoming, OpKind, Outgoing, Transport};

/// How long deliveries are still taken after a cancellation.
pub const CANCEL_GRACE: Duration = Duration::from_millis(500);
/// How long a worker waits for its connection to close at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Live-latency batches are handed to the progress line at least this often.
const LIVE_FLUSH: Duration = Duration::from_millis(250);

/// The phase boundaries of one row, as instants and as ns on the epoch clock.
#[derive(Debug, Clone, Copy)]
pub struct PhaseTimes {
    /// Warmup starts: the first sends are due.
    pub start: Instant,
    pub measure_start: Instant,
    /// No send is due from here on.
    pub measure_end: Instant,
    /// Workers stop receiving.
    pub drain_end: Instant,
}

impl PhaseTimes {
    pub fn new(start: Instant, phases: &wsbench_scenario::Phases) -> PhaseTimes {
        let measure_start = start + phases.warmup;
        let measure_end = measure_start + phases.measure;
        PhaseTimes {
            start,
            measure_start,
            measure_end,
            drain_end: measure_end + phases.drain,
        }
    }

    fn in_measure(&self, t_ns: u64) -> bool {
        t_ns >= ns_since_epoch(self.measure_start) && t_ns < ns_since_epoch(self.measure_end)
    }
}

/// What every worker of a row shares.
#[derive(Debug)]
pub struct RowShared {
    pub phases: PhaseTimes,
    pub send_log: SendLog,
    pub live: LiveStats,
    /// Ctrl-C: stop sending, drain briefly.
    pub cancel: CancellationToken,
}

/// What one worker does.
#[derive(Debug)]
pub struct WorkerSpec {
    /// The client index (`from` of its messages).
    pub index: u32,
    /// The op it publishes and how it paces them; `None` for a pure receiver.
    pub publish: Option<(OpKind, Pacing)>,
    /// `to_room`: the room it publishes to.
    pub room: Option<String>,
    /// `to_id`: the socket id it publishes to.
    pub to_id: Option<String>,
    /// Requests carry ack id = seq, and the ack (with the echoed data) is the timed reply.
    pub acked: bool,
    pub payload_bytes: usize,
    /// Its accounting (knows the audience).
    pub ledger: ReceiverLedger,
}

/// What a worker hands over once, at the end.
#[derive(Debug, Default)]
pub struct WorkerReport {
    pub recorder: Recorder,
    pub tally: Tally,
    pub first_violation: Option<Violation>,
    /// Measure-phase messages this worker sent successfully.
    pub sent: u64,
    /// Failed sends, error replies, undecodable deliveries, unexpected closes.
    pub errors: u64,
    pub first_error: Option<String>,
    pub bytes: ByteCounts,
}

impl WorkerReport {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// Runs one connection through the row's phases and returns what it recorded.
pub async fn run_worker<T: Transport>(
    mut conn: T,
    spec: WorkerSpec,
    row: Arc<RowShared>,
) -> WorkerReport {
    let WorkerSpec {
        index,
        publish,
        room,
        to_id,
        acked,
        payload_bytes,
        mut ledger,
    } = spec;
    let (op, mut pacing) = match publish {
        Some((op, p)) => (Some(op), Some(p)),
        None => (None, None),
    };
    let phases = row.phases;
    let mut report = WorkerReport::default();
    let mut seq: u64 = 0;
    // closed loop (paced or not): the seq whose reply we wait for
    let mut awaiting: Option<u64> = None;
    let mut sending = pacing.is_some();
    let mut cancelled = false;
    let mut live_batch: Vec<u64> = Vec::new();
    let mut last_flush = Instant::now();

    let first_due = pacing
        .as_ref()
        .and_then(Pacing::schedule)
        .map_or(phases.start, |s| s.peek());
    let send_timer = sleep_until(first_due.into());
    let deadline = sleep_until(phases.drain_end.into());
    tokio::pin!(send_timer, deadline);

    loop {
        let can_send = sending && awaiting.is_none();
        tokio::select! {
            _ = row.cancel.cancelled(), if !cancelled => {
                cancelled = true;
                sending = false;
                let cut = (Instant::now() + CANCEL_GRACE).min(phases.drain_end);
                deadline.as_mut().reset(cut.into());
            }
            _ = &mut deadline => break,
            _ = due_or_sleep(send_timer.as_mut()), if can_send => {
                let Some(p) = pacing.as_mut() else { continue };
                // paced closed loop: due at its intended time even when it leaves late
                // because the previous reply was late (wrk2)
                let intended = match p {
                    Pacing::Open(s) | Pacing::ClosedPaced(s) => s.advance(),
                    Pacing::Closed => Instant::now(),
                };
                if intended >= phases.measure_end {
                    sending = false;
                    continue;
                }
                let t_ns = ns_since_epoch(intended);
                let this = seq;
                seq += 1;
                let data = Stamp { from: index, seq: this, t: t_ns }.encode(payload_bytes);
                let lag = Instant::now().saturating_duration_since(intended);
                row.send_log.record(index, this, lag);
                let req = Outgoing {
                    op: op.expect("publishers have an op"),
                    room: room.as_deref(),
                    id: to_id.as_deref(),
                    data: Some(&data),
                    ack: acked.then_some(this),
                };
                if let Err(e) = conn.send(req).await {
                    report.error(format!("client {index}: send failed: {e}"));
                    break;
                }
                if phases.in_measure(t_ns) {
                    report.sent += 1;
                    report.recorder.record_send_lag(lag);
                }
                match p {
                    Pacing::Open(s) => {
                        let next = s.peek();
                        if next >= phases.measure_end {
                            sending = false;
                        } else {
                            send_timer.as_mut().reset(next.into());
                        }
                    }
                    Pacing::ClosedPaced(_) | Pacing::Closed => awaiting = Some(this),
                }
            }
            got = conn.recv() => {
                let data = match got {
                    Ok(Incoming::Msg(d)) => Some(d),
                    Ok(Incoming::Ack { ack, data }) if acked && ack < crate::workload::CONTROL_ACK_BASE => {
                        match data {
                            Some(d) => Some(d),
                            None => {
                                report.error(format!("client {index}: ack {ack} carried no data"));
                                None
                            }
                        }
                    }
                    // control acks (join barrier) and other events are not timed
                    Ok(Incoming::Ack { .. } | Incoming::Event { .. }) => None,
                    Ok(Incoming::Error(reason)) => {
                        report.error(format!("client {index}: server error: {reason}"));
                        None
                    }
                    Err(e) => {
                        if !cancelled {
                            report.error(format!("client {index}: connection lost: {e}"));
                        }
                        break;
                    }
                };
                let Some(data) = data else { continue };
                let now = Instant::now();
                match on_delivery(&data, now, index, &phases, &row.send_log, &mut ledger, &mut report, &mut live_batch) {
                    Some(reply_seq) if awaiting == Some(reply_seq) => {
                        awaiting = None;
                        // paced: the next intended time, or now if it has passed
                        let next = pacing
                            .as_ref()
                            .and_then(Pacing::schedule)
                            .map_or(now, |s| s.peek());
                        send_timer.as_mut().reset(next.into());
                    }
                    _ => {}
                }
                if live_batch.len() >= 256 || now.duration_since(last_flush) >= LIVE_FLUSH {
                    row.live.push(&mut live_batch);
                    last_flush = now;
                }
            }
        }
    }
    row.live.push(&mut live_batch);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
    report.bytes = conn.bytes();
    report.tally = ledger.tally;
    report.first_violation = ledger.first_violation;
    report
}

/// Resolves at the timer's deadline, or at once when the deadline has passed. A tokio
/// `Sleep` reset to a past instant still waits for the timer driver's next tick (up to
/// 1 ms), which would add a millisecond to every ping-pong round trip and to every send
/// that is already behind its schedule.
async fn due_or_sleep(timer: std::pin::Pin<&mut tokio::time::Sleep>) {
    if timer.deadline() > tokio::time::Instant::now() {
        timer.await;
    }
}

/// Accounts and times one delivery; returns its seq when it is this client's own message
/// (the closed-loop reply).
#[allow(clippy::too_many_arguments)]
fn on_delivery(
    data: &Bytes,
    received: Instant,
    me: u32,
    phases: &PhaseTimes,
    send_log: &SendLog,
    ledger: &mut ReceiverLedger,
    report: &mut WorkerReport,
    live: &mut Vec<u64>,
) -> Option<u64> {
    let stamp = match Stamp::decode(data) {
        Ok(s) => s,
        Err(e) => {
            report.error(format!(
                "client {me}: undecodable delivery ({e}): {}",
                String::from_utf8_lossy(&data[..data.len().min(80)])
            ));
            return None;
        }
    };
    if phases.in_measure(stamp.t)
        && let Delivery::First { .. } = ledger.record(stamp.from, stamp.seq)
    {
        let received_ns = ns_since_epoch(received);
        let actual = send_log.actual_send_ns(stamp.from, stamp.seq, stamp.t);
        report
            .recorder
            .record_delivery(stamp.t, actual, received_ns);
        live.push(received_ns.saturating_sub(stamp.t) / 1_000);
    }
    (stamp.from == me).then_some(stamp.seq)
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use tokio::time::{Duration, Instant, sleep_until};

    use super::due_or_sleep;

    #[tokio::test]
    async fn a_passed_deadline_fires_on_the_first_poll() {
        let timer = sleep_until(Instant::now() - Duration::from_millis(5));
        tokio::pin!(timer);
        assert_eq!(due_or_sleep(timer.as_mut()).now_or_never(), Some(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_deadline_still_waits() {
        let timer = sleep_until(Instant::now() + Duration::from_millis(5));
        tokio::pin!(timer);
        assert_eq!(due_or_sleep(timer.as_mut()).now_or_never(), None);
        due_or_sleep(timer.as_mut()).await; // paused clock: auto-advances to the deadline
    }
}
