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
//!
//! A delivery's receive time is the kernel's stamp of the read that completed it
//! ([`Transport::last_rx`], mapped by the row's [`RxClock`]); the time the worker took it is
//! kept too, and their difference is the row's read lag.
//!
//! A slow consumer (`WorkerSpec::slow`) stops taking frames when the measure phase starts and,
//! after the drain, settles what reached it (`super::slow::settle`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;
use wsbench_wire::payload::Stamp;

use crate::accounting::{Delivery, ReceiverLedger, Tally, Violation};
use crate::engine::timer::SendTimer;
use crate::recorder::{LiveStats, Recorder, SendLog};
use crate::schedule::{Pacing, ns_since_epoch};
use crate::transport::rxstamp::{ReceiveTime, RxClock};
use crate::transport::{
    ByteCounts, Incoming, OpKind, Outgoing, RxStamp, Transport, TransportError,
};

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
    /// Maps kernel receive stamps onto the epoch clock (measured when the row starts).
    pub rx_clock: RxClock,
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
    /// Its accounting (knows the audience), one ledger per namespace slot the connection
    /// follows ([`Transport::last_ns`]); one for every connection but a Socket.IO client of
    /// several namespaces.
    pub ledgers: Vec<ReceiverLedger>,
    /// A slow consumer (`slow_share`): it stops reading when the measure phase starts and
    /// reads again only after the drain, to settle what reached it (`super::slow`). Its
    /// deliveries are accounted, not timed.
    pub slow: bool,
}

/// What a worker hands over once, at the end.
#[derive(Debug, Default)]
pub struct WorkerReport {
    /// The client index its messages carry (`WorkerSpec::index`).
    pub from: u32,
    /// CORS preflights its connection sent.
    pub preflights: u64,
    pub recorder: Recorder,
    pub tally: Tally,
    pub first_violation: Option<Violation>,
    /// Measure-phase messages this worker sent successfully.
    pub sent: u64,
    /// Failed sends, error replies, undecodable deliveries, unexpected closes.
    pub errors: u64,
    pub first_error: Option<String>,
    pub bytes: ByteCounts,
    /// A slow consumer's end (`None` for the others).
    pub slow_end: Option<super::slow::SlowEnd>,
}

impl WorkerReport {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// What the select loop does after an arm ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing more: wait for the next event.
    Idle,
    /// The next send is due at this instant: reset the send timer to it.
    Rearm(Instant),
    /// The connection is unusable: leave the loop.
    Stop,
}

/// One worker's state between events of its select loop: what it publishes, its sequence
/// and closed-loop bookkeeping, and what it has recorded so far.
struct WorkerState<'r> {
    /// What it publishes, to whom, and its accounting.
    spec: WorkerSpec,
    row: &'r RowShared,
    report: WorkerReport,
    /// The seq of the next send.
    seq: u64,
    /// Closed loop (paced or not): the seq whose reply it waits for.
    awaiting: Option<u64>,
    /// False once the schedule has passed `measure_end`, a send failed or the row was cancelled.
    sending: bool,
    cancelled: bool,
    /// A slow consumer that has stopped reading.
    paused: bool,
    /// Live latencies (µs) not yet handed to the progress line.
    live_batch: Vec<u64>,
    last_flush: Instant,
    /// The payload of the next send, reused (no allocation per message).
    payload: String,
    /// The recent writes, (started, returned), oldest first: a write the server's
    /// backpressure held up delays the sends queued behind it (at most [`WRITES_KEPT`]).
    writes: std::collections::VecDeque<(Instant, Instant)>,
}

impl<'r> WorkerState<'r> {
    fn new(spec: WorkerSpec, row: &'r RowShared) -> WorkerState<'r> {
        WorkerState {
            sending: spec.publish.is_some(),
            spec,
            row,
            report: WorkerReport::default(),
            seq: 0,
            awaiting: None,
            cancelled: false,
            paused: false,
            live_batch: Vec::new(),
            last_flush: Instant::now(),
            writes: std::collections::VecDeque::new(),
            payload: String::new(),
        }
    }

    /// When the first send is due: the schedule's first instant, else warmup start.
    fn first_due(&self) -> Instant {
        self.spec
            .publish
            .as_ref()
            .and_then(|(_, p)| p.schedule())
            .map_or(self.row.phases.start, |s| s.peek())
    }

    /// A send may go out: still sending and not waiting for a closed-loop reply.
    fn can_send(&self) -> bool {
        self.sending && self.awaiting.is_none()
    }

    /// Ctrl-C: stop sending; returns the cut drain deadline.
    fn on_cancel(&mut self) -> Instant {
        self.cancelled = true;
        self.sending = false;
        (Instant::now() + CANCEL_GRACE).min(self.row.phases.drain_end)
    }

    /// The send timer fired: sends the next message, logs and times it, and says when the
    /// next one is due (open schedule) or starts waiting for its reply (closed loop).
    async fn on_send_due<T: Transport>(&mut self, conn: &mut T) -> Step {
        let phases = self.row.phases;
        let Some((op, pacing)) = self.spec.publish.as_mut() else {
            return Step::Idle;
        };
        // paced closed loop: due at its intended time even when it leaves late
        // because the previous reply was late (wrk2)
        let intended = match pacing {
            Pacing::Open(s) | Pacing::ClosedPaced(s) => s.advance(),
            Pacing::Closed => Instant::now(),
        };
        if intended >= phases.measure_end {
            self.sending = false;
            return Step::Idle;
        }
        let t_ns = ns_since_epoch(intended);
        let this = self.seq;
        self.seq += 1;
        Stamp {
            from: self.spec.index,
            seq: this,
            t: t_ns,
        }
        .encode_into(self.spec.payload_bytes, &mut self.payload);
        let started = Instant::now();
        let lag = started.saturating_duration_since(intended);
        // time spent inside earlier writes (the server's backpressure) is not the generator's
        let own = lag.saturating_sub(writing_between(&self.writes, intended, started));
        self.row.send_log.record(self.spec.index, this, lag);
        let req = Outgoing {
            op: *op,
            room: self.spec.room.as_deref(),
            id: self.spec.to_id.as_deref(),
            data: Some(&self.payload),
            ack: self.spec.acked.then_some(this),
        };
        if let Err(e) = conn.send(req).await {
            let index = self.spec.index;
            self.report
                .error(format!("client {index}: send failed: {e}"));
            return Step::Stop;
        }
        if self.writes.len() == WRITES_KEPT {
            self.writes.pop_front();
        }
        self.writes.push_back((started, Instant::now()));
        if phases.in_measure(t_ns) {
            self.report.sent += 1;
            self.report.recorder.record_send_lag(lag, own);
        }
        let Pacing::Open(s) = pacing else {
            self.awaiting = Some(this);
            return Step::Idle;
        };
        let next = s.peek();
        if next >= phases.measure_end {
            self.sending = false;
            return Step::Idle;
        }
        Step::Rearm(next)
    }

    /// A frame (or the connection's end) arrived: accounts and times a delivery, and when it
    /// is the awaited closed-loop reply says when the next send is due.
    fn on_frame(
        &mut self,
        got: Result<Incoming, TransportError>,
        rx: Option<RxStamp>,
        slot: usize,
    ) -> Step {
        let data = match got {
            Ok(incoming) => self.timed_payload(incoming),
            Err(e) => {
                if !self.cancelled {
                    let index = self.spec.index;
                    self.report
                        .error(format!("client {index}: connection lost: {e}"));
                }
                return Step::Stop;
            }
        };
        let Some(data) = data else {
            return Step::Idle;
        };
        let now = Instant::now();
        let received = ReceiveTime::new(now, rx, &self.row.rx_clock);
        let mut step = Step::Idle;
        if let Some(reply_seq) = self.on_delivery(&data, received, slot)
            && self.awaiting == Some(reply_seq)
        {
            self.awaiting = None;
            // paced: the next intended time, or now if it has passed
            let next = self
                .spec
                .publish
                .as_ref()
                .and_then(|(_, p)| p.schedule())
                .map_or(now, |s| s.peek());
            step = Step::Rearm(next);
        }
        if self.live_batch.len() >= 256 || now.duration_since(self.last_flush) >= LIVE_FLUSH {
            self.row.live.try_push(&mut self.live_batch);
            self.last_flush = now;
        }
        step
    }

    /// The payload to account and time, if `incoming` carries one: a delivery, or the echo
    /// in the ack of one of its own acked requests.
    fn timed_payload(&mut self, incoming: Incoming) -> Option<Bytes> {
        let index = self.spec.index;
        match incoming {
            Incoming::Msg(d) => Some(d),
            Incoming::Ack { ack, data }
                if self.spec.acked && ack < crate::workload::CONTROL_ACK_BASE =>
            {
                if data.is_none() {
                    self.report
                        .error(format!("client {index}: ack {ack} carried no data"));
                }
                data
            }
            // control acks (join barrier) and other events are not timed
            Incoming::Ack { .. } | Incoming::Event { .. } => None,
            Incoming::Error(reason) => {
                self.report
                    .error(format!("client {index}: server error: {reason}"));
                None
            }
        }
    }

    /// Accounts and times one delivery that arrived in namespace `slot`; returns its seq when
    /// it is this client's own message (the closed-loop reply).
    fn on_delivery(&mut self, data: &Bytes, received: ReceiveTime, slot: usize) -> Option<u64> {
        let me = self.spec.index;
        let stamp = match Stamp::decode(data) {
            Ok(s) => s,
            Err(e) => {
                self.report.error(format!(
                    "client {me}: undecodable delivery ({e}): {}",
                    String::from_utf8_lossy(&data[..data.len().min(80)])
                ));
                return None;
            }
        };
        let Some(ledger) = self.spec.ledgers.get_mut(slot) else {
            self.report.error(format!(
                "client {me}: delivery in namespace slot {slot}, which it does not follow"
            ));
            return None;
        };
        if self.row.phases.in_measure(stamp.t)
            && let Delivery::First { .. } = ledger.record(stamp.from, stamp.seq)
            && !self.spec.slow
        {
            let received_ns = received.ns();
            self.report.recorder.record_receive(&received);
            let actual = self
                .row
                .send_log
                .actual_send_ns(stamp.from, stamp.seq, stamp.t);
            self.report
                .recorder
                .record_delivery(stamp.t, actual, received_ns);
            self.live_batch
                .push(received_ns.saturating_sub(stamp.t) / 1_000);
        }
        (stamp.from == me).then_some(stamp.seq)
    }

    /// The report, with the connection's byte counts and preflights and the ledgers' tally.
    fn finish(self, bytes: ByteCounts, preflights: u64) -> WorkerReport {
        let mut report = self.report;
        report.from = self.spec.index;
        report.bytes = bytes;
        report.preflights = preflights;
        for ledger in &self.spec.ledgers {
            report.tally.add(&ledger.tally);
            report.first_violation = report.first_violation.or(ledger.first_violation);
        }
        report
    }
}

/// Recent writes a worker keeps to tell its own send lag from the server's backpressure.
const WRITES_KEPT: usize = 64;

/// How much of `[from, to)` the connection spent inside earlier writes (`writes`: sequential,
/// oldest first). A send that waited behind a write the server was slow to take is late by
/// that much through the server, not through the load generator: its own send lag is its
/// lag minus this.
fn writing_between(
    writes: &std::collections::VecDeque<(Instant, Instant)>,
    from: Instant,
    to: Instant,
) -> Duration {
    let mut total = Duration::ZERO;
    for &(s, e) in writes.iter().rev() {
        if e <= from {
            break;
        }
        total += e.min(to).saturating_duration_since(s.max(from));
    }
    total
}

/// Runs one connection through the row's phases and returns what it recorded.
pub async fn run_worker<T: Transport>(
    mut conn: T,
    spec: WorkerSpec,
    row: Arc<RowShared>,
) -> WorkerReport {
    let mut state = WorkerState::new(spec, &row);
    // the engine's precise timer (a passed deadline fires on the first poll)
    let mut send_timer = SendTimer::at(state.first_due());
    let deadline = sleep_until(row.phases.drain_end.into());
    tokio::pin!(deadline);
    let pause = sleep_until(row.phases.measure_start.into());
    tokio::pin!(pause);
    let mut stopped = false;

    loop {
        let step = tokio::select! {
            _ = row.cancel.cancelled(), if !state.cancelled => {
                deadline.as_mut().reset(state.on_cancel().into());
                Step::Idle
            }
            _ = &mut deadline => break,
            _ = &mut pause, if state.spec.slow && !state.paused => {
                state.paused = true;
                Step::Idle
            }
            _ = send_timer.due(), if state.can_send() => {
                state.on_send_due(&mut conn).await
            }
            got = conn.recv(), if !state.paused => {
                state.on_frame(got, conn.last_rx(), conn.last_ns())
            }
        };
        match step {
            Step::Idle => {}
            Step::Rearm(next) => send_timer.reset(next),
            Step::Stop => {
                stopped = true;
                break;
            }
        }
    }
    if state.spec.slow && !state.cancelled && !stopped {
        // a slow client follows one namespace (`namespaces` refuses `slow_share`): slot 0
        let end = super::slow::settle(&mut conn, |got, rx| {
            state.on_frame(Ok(got), rx, 0);
        })
        .await;
        state.report.slow_end = Some(end);
    }
    state.row.live.push(&mut state.live_batch);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
    state.finish(conn.bytes(), conn.preflights())
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::{Duration, Instant};

    use super::writing_between;

    #[test]
    fn only_writes_inside_the_wait_are_the_servers() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // a write from 10 to 50 ms (blocked by backpressure), then one from 50 to 51 ms
        let writes = VecDeque::from([(ms(0), ms(1)), (ms(10), ms(50)), (ms(50), ms(51))]);
        // a send due at 20 ms that started at 51 ms: 31 of its 31 ms lag were writes
        assert_eq!(
            writing_between(&writes, ms(20), ms(51)),
            Duration::from_millis(31)
        );
        // a send due at 60 ms, started at 70 ms: no write in between, all 10 ms its own
        assert_eq!(writing_between(&writes, ms(60), ms(70)), Duration::ZERO);
        // due at 5 ms, started at 60 ms: the writes cover 41 of the 55 ms
        assert_eq!(
            writing_between(&writes, ms(5), ms(60)),
            Duration::from_millis(41)
        );
    }
}
