//! Slow consumers (`slow_share`, scenario `slow-consumers`): the last clients by index stop
//! reading when the measure phase starts. Their deliveries are accounted apart from the fast
//! clients' (the row's `expected`, `delivered`, `lost` and latency are the fast clients'
//! alone), and exactly:
//!
//! - after the drain, each slow client reads again and asks for one control ack
//!   ([`SETTLE_ACK`], [`settle`]); a server answers a client in the order it queued, so when that ack
//!   arrives every delivery queued before it has been read ([`settle`]). What never came is
//!   `slow_lost`: the server dropped it, or closed the client (`slow_closed`) first;
//! - the server's own counts (`dropped`, `slow_disconnects` from `GET /api/stats`) go beside
//!   them in `server_dropped` and `server_slow_disconnects` ([`fill_server_counts`]).

use std::time::Duration;

use wsbench_report::row::SummaryRow;
use wsbench_scenario::slow::SlowConsumers;
use wsbench_scenario::{Scenario, ServerKind, TargetSpec};

use crate::accounting::{Audience, Tally};
use crate::row::{RowTarget, push_note};
use crate::transport::{Incoming, OpKind, Outgoing, RxStamp, Transport};

use super::worker::WorkerReport;

/// The ack id of a slow client's settle request (a control id: never timed, never a message).
pub const SETTLE_ACK: u64 = super::CONTROL_ACK_BASE - 1;
/// The room a slow client joins to get its settle ack.
pub const SETTLE_ROOM: &str = "wsbench-settle";
/// A settle request goes again after this long without a frame.
pub const SETTLE_RETRY: Duration = Duration::from_millis(500);
/// How long a slow client may take to read what the server kept for it.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How a slow client's settle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowEnd {
    /// The settle ack came back: everything the server queued was read.
    Settled,
    /// The server closed the connection (the `disconnect` policy, or a heartbeat it missed).
    Closed,
    /// Neither within [`SETTLE_TIMEOUT`].
    TimedOut,
}

/// Reads again: asks for the settle ack and hands every frame before it to `take`.
///
/// The request is a `join` of [`SETTLE_ROOM`] with the ack id [`SETTLE_ACK`] (a join's ack
/// is never counted as a delivery or a drop; an `echo`'s is, on sio-socketioxide). A server
/// may refuse the ack while the client's queue is still full (socketioxide drops it), so
/// when nothing at all arrives for [`SETTLE_RETRY`] the request goes again; the first ack
/// ends the settle.
pub async fn settle<T: Transport>(
    conn: &mut T,
    mut take: impl FnMut(Incoming, Option<RxStamp>),
) -> SlowEnd {
    let run = async {
        let req = Outgoing {
            op: OpKind::Join,
            room: Some(SETTLE_ROOM),
            id: None,
            data: None,
            ack: Some(SETTLE_ACK),
        };
        loop {
            // a send to a closed connection fails, but what was read before the close may
            // still be there: read on until the connection says it is closed
            let _ = conn.send(req).await;
            loop {
                let got = tokio::select! {
                    got = conn.recv() => got,
                    _ = tokio::time::sleep(SETTLE_RETRY) => break,
                };
                match got {
                    Ok(Incoming::Ack { ack, .. }) if ack == SETTLE_ACK => return SlowEnd::Settled,
                    Ok(frame) => take(frame, conn.last_rx()),
                    Err(_) => return SlowEnd::Closed,
                }
            }
        }
    };
    tokio::time::timeout(SETTLE_TIMEOUT, run)
        .await
        .unwrap_or(SlowEnd::TimedOut)
}

/// The `wsbench serve` flags of a slow-consumer point for a Rust server (`--slow-consumer`,
/// `--outbound-queue`); the Node peers run their own fixed policy and take none.
pub fn serve_args(s: &Scenario, spec: &TargetSpec) -> Vec<String> {
    let (Some(slow), Some(ServerKind::Serve(_))) = (&s.slow, spec.server()) else {
        return Vec::new();
    };
    let mut out = vec!["--slow-consumer".to_owned(), slow.policy.name().to_owned()];
    if let Some(q) = slow.outbound_queue {
        out.extend(["--outbound-queue".to_owned(), q.to_string()]);
    }
    out
}

/// Deliveries owed to the slow clients (index `first..clients`) for what each publisher sent.
pub fn slow_expected(audience: Audience, sent: &[u64], first: u32, clients: u32) -> u64 {
    (first..clients)
        .map(|r| {
            sent.iter()
                .enumerate()
                .filter(|(from, _)| audience.accepts(*from as u32, r))
                .map(|(_, n)| n)
                .sum::<u64>()
        })
        .sum()
}

/// Fills the generator's slow columns from the slow clients' tally and reports.
pub fn fill_slow_columns(
    row: &mut SummaryRow,
    slow: &SlowConsumers,
    tally: &Tally,
    expected: u64,
    reports: &[WorkerReport],
) {
    row.slow_clients = Some(u64::from(slow.count));
    row.slow_policy = Some(slow.policy.name().to_owned());
    row.slow_delivered = Some(tally.delivered);
    row.slow_lost = Some(expected.saturating_sub(tally.delivered));
    let ended = |e: SlowEnd| reports.iter().filter(|r| r.slow_end == Some(e)).count();
    row.slow_closed = Some(ended(SlowEnd::Closed) as u64);
    let timed_out = ended(SlowEnd::TimedOut);
    if timed_out > 0 {
        push_note(
            row,
            format!(
                "{timed_out} slow client(s) had not read everything within {} s after the \
                 drain: what they had not read yet counts in slow_lost",
                SETTLE_TIMEOUT.as_secs()
            ),
        );
    }
    if tally.duplicated + tally.reordered > 0 {
        push_note(
            row,
            format!(
                "slow clients: {} duplicated, {} reordered",
                tally.duplicated, tally.reordered
            ),
        );
    }
}

/// Fills `server_dropped` and `server_slow_disconnects` from the server's `/api/stats`
/// (built-in servers are fresh for each row, so the counts are the row's); a server that
/// keeps no such count leaves its column empty and says why.
pub async fn fill_server_counts(row: &mut SummaryRow, s: &Scenario, target: &RowTarget<'_>) {
    let Some(slow) = &s.slow else { return };
    let stats = match super::rate_limit::server_stats(target.endpoint).await {
        Ok(v) => v,
        Err(why) => {
            push_note(row, format!("server_dropped: {why}"));
            return;
        }
    };
    let count = |k: &str| stats.get(k).and_then(serde_json::Value::as_u64);
    row.server_dropped = count("dropped");
    row.server_slow_disconnects = count("slow_disconnects");
    if row.server_dropped.is_none() {
        push_note(
            row,
            "server_dropped: the server counts no drops (it buffers without bound)".into(),
        );
    }
    if let (Some(q), true) = (slow.outbound_queue, row.target.starts_with("node-")) {
        push_note(
            row,
            format!("outbound_queue {q} not applied: the Node peers keep their own bound"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slow_clients_are_owed_what_their_audience_says() {
        // 5 clients, publishers 0 and 1 sent 3 and 4; clients 3 and 4 are slow
        let sent = [3, 4];
        let all = Audience::All { clients: 5 };
        assert_eq!(slow_expected(all, &sent, 3, 5), 14);
        let others = Audience::Others { clients: 5 };
        assert_eq!(slow_expected(others, &sent, 3, 5), 14);
        // a slow publisher (not what validation allows, but the sum stays right)
        assert_eq!(slow_expected(others, &sent, 1, 5), 3 + 7 + 7 + 7);
        assert_eq!(slow_expected(all, &sent, 5, 5), 0);
    }

    #[test]
    fn slow_columns_count_closed_clients_and_note_timeouts() {
        let slow = SlowConsumers {
            share: 0.5,
            count: 2,
            policy: wsbench_scenario::slow::SlowPolicy::Disconnect,
            outbound_queue: Some(8),
        };
        let tally = Tally {
            delivered: 7,
            ..Tally::default()
        };
        let reports = [
            WorkerReport {
                slow_end: Some(SlowEnd::Closed),
                ..WorkerReport::default()
            },
            WorkerReport {
                slow_end: Some(SlowEnd::TimedOut),
                ..WorkerReport::default()
            },
        ];
        let mut row = SummaryRow::default();
        fill_slow_columns(&mut row, &slow, &tally, 10, &reports);
        assert_eq!(
            (
                row.slow_clients,
                row.slow_delivered,
                row.slow_lost,
                row.slow_closed
            ),
            (Some(2), Some(7), Some(3), Some(1))
        );
        assert_eq!(row.slow_policy.as_deref(), Some("disconnect"));
        assert!(row.notes.contains("1 slow client(s)"), "{}", row.notes);
    }
}
