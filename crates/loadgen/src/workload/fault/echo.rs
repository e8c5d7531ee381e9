//! The worker of the fault rows: one client echoing to itself on an open schedule that
//! outlives its connection. When the connection is lost it reconnects by its stack's
//! policy ([`Backoff`], the first attempt after one delay, as socket.io-client does) and
//! goes on; sends due while it is away are dropped ([`Away::Drop`], raw clients) or buffered
//! and sent on reconnection with their original stamp ([`Away::Buffer`], socket.io-client's
//! send buffer). It counts, for the measure phase: echoes due, sent, returned, and
//! dropped while away; and when it lost the connection and got it back.
//!
//! Timing is the message workers' ([`super::super::worker`]): scheduled sends wait on the
//! engine lane's precise timer, and their lateness is kept (`send_lag_p99_us`); an echo's
//! latency runs from its intended send time to the kernel's receive stamp of the read that
//! completed it (user time where a read carried none). Buffered sends, late on purpose,
//! are not in the send lag.
//!
//! The `[churn]` row's steady clients run it too, with no outage to meet.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::sleep_until;

use crate::engine::timer::SendTimer;
use crate::transport::rxstamp::{ReceiveTime, RxClock};
use tokio_util::sync::CancellationToken;
use wsbench_scenario::faults::Backoff;
use wsbench_wire::payload::Stamp;

use super::super::connect::{CONNECT_TIMEOUT, Connector};
use super::super::worker::PhaseTimes;
use crate::recorder::new_histogram;
use crate::schedule::ns_since_epoch;
use crate::transport::{ByteCounts, Endpoint, Incoming, OpKind, Outgoing, Transport};

/// What a client does with sends due while it has no connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Away {
    /// Counted as dropped (what a raw WebSocket application without a queue does).
    Drop,
    /// Kept and sent, with their original stamps, once connected again (socket.io-client).
    Buffer,
}

/// What every echo worker of a row shares.
#[derive(Debug)]
pub struct EchoShared {
    pub phases: PhaseTimes,
    pub cancel: CancellationToken,
    /// Where to reconnect: client `i` to `endpoints[i % len]`, the node it first connected
    /// to (every node of a cluster; else the one endpoint).
    pub endpoints: Vec<Endpoint>,
    pub backoff: Backoff,
    pub away: Away,
    /// Set when the server is killed (`[restart]`): reconnect times count from here.
    pub killed_at: OnceLock<Instant>,
    /// Kernel receive stamps to the monotonic clock, measured once for the row.
    pub rx_clock: RxClock,
}

/// One client's part.
#[derive(Debug, Clone, Copy)]
pub struct EchoSpec {
    pub index: u32,
    /// Gap between its sends.
    pub interval: Duration,
    /// Its first send (clients are spread over one interval).
    pub first_due: Instant,
    pub payload_bytes: usize,
    /// Seeds the backoff jitter.
    pub seed: u64,
}

/// What one echo worker hands back.
#[derive(Debug)]
pub struct EchoReport {
    /// Measure-phase echoes due on its schedule.
    pub due: u64,
    /// Of those, written to a connection.
    pub sent: u64,
    /// Of those, echoed back (first copy).
    pub delivered: u64,
    pub duplicated: u64,
    /// Due while away and dropped ([`Away::Drop`]), or still buffered at the end.
    pub unsent: u64,
    /// Latency of each delivered echo from its intended send time, µs.
    pub latency_us: Histogram<u64>,
    /// How late each scheduled measure-phase send left, µs (buffered ones are not in it).
    pub send_lag_us: Histogram<u64>,
    /// When it lost its connection, the first time.
    pub lost_at: Option<Instant>,
    /// When it was connected again, the first time after losing it.
    pub back_at: Option<Instant>,
    /// Connections lost.
    pub disconnects: u64,
    /// Reconnection attempts that failed.
    pub failed_attempts: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Bytes of every connection it had.
    pub bytes: ByteCounts,
}

impl EchoReport {
    fn new() -> EchoReport {
        EchoReport {
            due: 0,
            sent: 0,
            delivered: 0,
            duplicated: 0,
            unsent: 0,
            latency_us: new_histogram(),
            send_lag_us: new_histogram(),
            lost_at: None,
            back_at: None,
            disconnects: 0,
            failed_attempts: 0,
            errors: 0,
            first_error: None,
            bytes: ByteCounts::default(),
        }
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn add_bytes(&mut self, b: ByteCounts) {
        self.bytes.out += b.out;
        self.bytes.r#in += b.r#in;
    }
}

/// One echo client's state between events.
struct Echo<'r> {
    spec: EchoSpec,
    row: &'r EchoShared,
    report: EchoReport,
    /// Seq of the next send and its intended time.
    seq: u64,
    next_due: Instant,
    /// Sends due while away, kept for [`Away::Buffer`].
    buffered: Vec<(u64, Instant)>,
    /// Which measure-phase seqs came back (index: seq).
    returned: Vec<bool>,
    payload: String,
}

impl Echo<'_> {
    fn in_measure(&self, at: Instant) -> bool {
        at >= self.row.phases.measure_start && at < self.row.phases.measure_end
    }

    /// Takes the sends due by `now` off the schedule: `Some` while there is one due.
    fn take_due(&mut self, now: Instant) -> Option<(u64, Instant)> {
        if self.next_due > now || self.next_due >= self.row.phases.measure_end {
            return None;
        }
        let due = (self.seq, self.next_due);
        if self.in_measure(due.1) {
            self.report.due += 1;
        }
        self.seq += 1;
        self.next_due += self.spec.interval;
        Some(due)
    }

    /// Away: every send due by now is dropped or buffered.
    fn miss_due(&mut self, now: Instant) {
        while let Some((seq, at)) = self.take_due(now) {
            match self.row.away {
                Away::Buffer => self.buffered.push((seq, at)),
                Away::Drop if self.in_measure(at) => self.report.unsent += 1,
                Away::Drop => {}
            }
        }
    }

    async fn send<T: Transport>(&mut self, conn: &mut T, seq: u64, at: Instant) -> bool {
        Stamp {
            from: self.spec.index,
            seq,
            t: ns_since_epoch(at),
        }
        .encode_into(self.spec.payload_bytes, &mut self.payload);
        let req = Outgoing {
            op: OpKind::Echo,
            room: None,
            id: None,
            data: Some(&self.payload),
            ack: None,
        };
        match conn.send(req).await {
            Ok(()) => {
                if self.in_measure(at) {
                    self.report.sent += 1;
                }
                true
            }
            Err(_) => {
                // not written: due while the connection was going away
                match self.row.away {
                    Away::Buffer => self.buffered.push((seq, at)),
                    Away::Drop if self.in_measure(at) => self.report.unsent += 1,
                    Away::Drop => {}
                }
                false
            }
        }
    }

    /// A scheduled send, `at` being its intended time: its lateness is the generator's.
    async fn send_on_time<T: Transport>(&mut self, conn: &mut T, seq: u64, at: Instant) -> bool {
        if self.in_measure(at) {
            let lag = Instant::now().saturating_duration_since(at);
            let _ = self.report.send_lag_us.record(crate::recorder::micros(lag));
        }
        self.send(conn, seq, at).await
    }

    fn on_message(&mut self, incoming: Incoming, received: ReceiveTime) {
        let me = self.spec.index;
        let data = match incoming {
            Incoming::Msg(d) => d,
            Incoming::Error(reason) => {
                return self
                    .report
                    .error(format!("client {me}: server error: {reason}"));
            }
            Incoming::Ack { .. } | Incoming::Event { .. } => return,
        };
        let now_ns = received.ns();
        let stamp = match Stamp::decode(&data) {
            Ok(s) if s.from == me => s,
            Ok(s) => {
                return self
                    .report
                    .error(format!("client {me}: got client {}'s echo", s.from));
            }
            Err(e) => {
                return self
                    .report
                    .error(format!("client {me}: undecodable delivery ({e})"));
            }
        };
        let measure = ns_since_epoch(self.row.phases.measure_start)
            ..ns_since_epoch(self.row.phases.measure_end);
        if !measure.contains(&stamp.t) {
            return;
        }
        let Ok(seq) = usize::try_from(stamp.seq) else {
            return;
        };
        if self.returned.len() <= seq {
            self.returned.resize(seq + 1, false);
        }
        if std::mem::replace(&mut self.returned[seq], true) {
            self.report.duplicated += 1;
            return;
        }
        self.report.delivered += 1;
        let us = now_ns.saturating_sub(stamp.t) / 1_000;
        let _ = self.report.latency_us.record(us.max(1));
    }

    /// Connected: sends on schedule and takes echoes until the drain ends (`None`) or the
    /// connection is lost (`Some(conn)`, to be closed).
    async fn connected<T: Transport>(&mut self, mut conn: T) -> Option<T> {
        // buffered sends go first, in order, with their own stamps
        for (seq, at) in std::mem::take(&mut self.buffered) {
            if !self.send(&mut conn, seq, at).await {
                return Some(conn);
            }
        }
        let drain_end = self.row.phases.drain_end;
        let mut timer = SendTimer::at(self.next_due);
        loop {
            let sending = self.next_due < self.row.phases.measure_end;
            timer.reset(self.next_due);
            tokio::select! {
                _ = sleep_until(drain_end.into()) => {
                    self.report.add_bytes(conn.bytes());
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
                    return None;
                }
                _ = self.row.cancel.cancelled() => {
                    self.report.add_bytes(conn.bytes());
                    return None;
                }
                _ = timer.due(), if sending => {
                    while let Some((seq, at)) = self.take_due(Instant::now()) {
                        if !self.send_on_time(&mut conn, seq, at).await {
                            return Some(conn);
                        }
                    }
                }
                got = conn.recv() => match got {
                    Ok(m) => {
                        let received = ReceiveTime::new(Instant::now(), conn.last_rx(), &self.row.rx_clock);
                        self.on_message(m, received);
                    }
                    Err(_) => return Some(conn),
                },
            }
        }
    }

    /// Away: waits the policy's delays and tries again until connected, or the drain ends
    /// (`None`).
    async fn reconnect<C: Connector>(
        &mut self,
        connector: &C,
        rng: &mut SmallRng,
    ) -> Option<C::Conn> {
        let drain_end = self.row.phases.drain_end;
        for attempt in 0u32.. {
            let retry_at = Instant::now() + self.row.backoff.delay(attempt, rng.random());
            tokio::select! {
                _ = sleep_until(retry_at.min(drain_end).into()) => {}
                _ = self.row.cancel.cancelled() => return None,
            }
            self.miss_due(Instant::now());
            let left = drain_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let timeout = CONNECT_TIMEOUT.min(left);
            let endpoints = &self.row.endpoints;
            let endpoint = &endpoints[self.spec.index as usize % endpoints.len()];
            let r = tokio::time::timeout(timeout, connector.connect(endpoint, timeout)).await;
            self.miss_due(Instant::now());
            match r {
                Ok(Ok(conn)) => return Some(conn),
                Ok(Err(_)) | Err(_) => self.report.failed_attempts += 1,
            }
        }
        None
    }
}

/// Runs one echo client through the row, reconnecting whenever its connection is lost.
pub async fn run_echo<C: Connector>(
    conn: C::Conn,
    connector: Arc<C>,
    spec: EchoSpec,
    row: Arc<EchoShared>,
) -> EchoReport {
    let mut rng = SmallRng::seed_from_u64(spec.seed ^ u64::from(spec.index));
    let mut e = Echo {
        spec,
        row: &row,
        report: EchoReport::new(),
        seq: 0,
        next_due: spec.first_due,
        buffered: Vec::new(),
        returned: Vec::new(),
        payload: String::new(),
    };
    let mut conn = Some(conn);
    while let Some(c) = conn.take() {
        // the lost connection's bytes count; it is dropped, not closed (it is gone)
        let Some(dead) = e.connected(c).await else {
            break;
        };
        e.report.add_bytes(dead.bytes());
        drop(dead);
        e.report.disconnects += 1;
        let now = Instant::now();
        e.report.lost_at.get_or_insert(now);
        conn = e.reconnect(connector.as_ref(), &mut rng).await;
        if conn.is_some() && e.report.back_at.is_none() {
            e.report.back_at = Some(Instant::now());
        }
    }
    e.report.unsent += e
        .buffered
        .iter()
        .filter(|(_, at)| *at >= row.phases.measure_start && *at < row.phases.measure_end)
        .count() as u64;
    e.report
}
