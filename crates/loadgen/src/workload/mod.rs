//! What each workload means for the one worker loop: which op publishers send, who must
//! receive it (the [`Audience`] accounting checks against), whether requests carry ack ids,
//! open or closed loop, and which client joins which room or targets which socket.
//!
//! - [`connect`]: opening the clients (paced, with connect-time histogram), the join
//!   barrier, and the row driver of the `connect` workload's storm.
//! - [`messages`]: the row driver of the message workloads (echo, broadcast, rooms, direct,
//!   ack).
//! - [`fault`]: the fault rows (`[restart]`, `[churn]`): echo clients that reconnect, the
//!   server killed and restarted, or short-lived clients coming and going.
//! - [`worker`]: the one worker loop every message workload runs, one per connection.
//! - [`rate_limit`]: the `rate_limited` column, read from the server after a row, and the
//!   clients over the limit (`over_limit`).
//! - [`seats`]: what each connection of a message row stands for (client, namespaces it
//!   follows, whether it publishes), and following namespaces (`namespaces = K`).
//! - [`slow`]: slow consumers: the settle after the drain, their accounting apart from the
//!   fast clients', and the server's drop counts.
//! - [`pvp`]: polling-vs-push (docs/design.md §4), which is not "publishers send an op, receivers
//!   time deliveries": a writer, viewers and a stats probe, with its own row driver.
//!
//! The drivers take their context from and hand their rows back through [`crate::row`];
//! nothing here imports the runner.

pub mod connect;
pub mod fault;
pub mod messages;
pub mod pvp;
pub mod rate_limit;
pub mod seats;
pub mod slow;
pub mod worker;

use wsbench_report::row::SummaryRow;
use wsbench_scenario::{BroadcastOp, LoopMode, Scenario, Workload, WorkloadKind};

use crate::accounting::Audience;
use crate::row::PointCtx;
use crate::transport::OpKind;

/// Ack ids at or above this are the runner's own (join barrier); message acks use `seq`.
/// Every id stays below 2^53 (`JS_MAX_SAFE_INTEGER`): JavaScript peers parse ack ids into a
/// double, and a larger id comes back rounded, so its ack never matches.
pub const CONTROL_ACK_BASE: u64 = 1 << 52;

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const JS_MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

#[cfg(test)]
mod ack_id_tests {
    use super::*;

    #[test]
    fn control_ack_ids_survive_a_javascript_peer() {
        // the largest control id in use: one per client, u32 clients at most
        let largest = CONTROL_ACK_BASE + u64::from(u32::MAX);
        assert!(largest <= JS_MAX_SAFE_INTEGER);
        // and the ids round-trip through an f64 exactly, as JSON.parse would read them
        assert_eq!(largest as f64 as u64, largest);
        assert_eq!(CONTROL_ACK_BASE as f64 as u64, CONTROL_ACK_BASE);
    }
}

/// Why a scenario cannot be run by this load generator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("workload {0:?} is not available in the load generator yet")]
    Unsupported(&'static str),
    #[error("scenario {scenario:?}: {reason}")]
    Impossible { scenario: String, reason: String },
}

/// The semantics of one scenario point, shared by all its workers.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub workload: WorkloadKind,
    /// The op publishers send (`None`: the `connect` workload sends nothing).
    pub op: Option<OpKind>,
    /// Who must receive each message.
    pub audience: Audience,
    /// Requests carry ack ids and the ack is the timed reply (`ack` workload).
    pub acked: bool,
    pub mode: LoopMode,
    pub clients: u32,
    pub publishers: u32,
    pub rooms: u32,
    /// `namespaces = K`: the namespaces every client follows; 0 when the key is not set.
    pub namespaces: u32,
    /// The row's `variant` column.
    pub variant: String,
}

impl Plan {
    /// The row's identity and shape columns, before anything is measured.
    pub fn base_row(&self, ctx: &PointCtx<'_>, s: &Scenario, transport: &str) -> SummaryRow {
        SummaryRow {
            run_id: ctx.run_id.to_owned(),
            scenario: s.name.clone(),
            target: ctx.target_name.to_owned(),
            transport: transport.to_owned(),
            clients: u64::from(s.clients),
            publishers: u64::from(self.publishers),
            rooms: u64::from(self.rooms),
            // closed loop: the pacing rate (0 = ping-pong)
            rate: if self.op.is_some() { s.rate } else { 0.0 },
            payload_bytes: s.payload_bytes as u64,
            repeat: ctx.repeat,
            sweep: s.sweep_label(),
            variant: self.variant.clone(),
            nodes: Some(s.nodes),
            agents: Some(1),
            ..SummaryRow::default()
        }
    }
}

/// The room client `i` joins in the `rooms` workload.
pub fn room_name(room: u32) -> String {
    format!("room-{room}")
}

impl Plan {
    /// The room client `index` is in (rooms workload), if any.
    pub fn room_of(&self, index: u32) -> Option<String> {
        (self.workload == WorkloadKind::Rooms && self.rooms > 0)
            .then(|| room_name(index % self.rooms))
    }

    /// The client publisher `index` sends `to_id` to (direct workload).
    pub fn direct_target_of(&self, index: u32) -> Option<u32> {
        (self.workload == WorkloadKind::Direct).then(|| (index + 1) % self.clients.max(1))
    }

    pub fn is_publisher(&self, index: u32) -> bool {
        self.op.is_some() && index < self.publishers
    }
}

/// Derives the plan of a validated scenario point.
///
/// What the [`Workload`] type carries (closed loop only for echo and ack, the broadcast op,
/// at least one room, the polling settings) needs no check here. The counts and rates are
/// plain numbers in [`Scenario`], which callers may build by hand: those few are checked.
pub fn plan(s: &Scenario) -> Result<Plan, PlanError> {
    let impossible = |reason: &str| PlanError::Impossible {
        scenario: s.name.clone(),
        reason: reason.to_owned(),
    };
    let clients = s.clients;
    if clients == 0 {
        return Err(impossible("needs at least one client"));
    }
    let publishers = s.publishers.min(clients);
    let mode = s.workload.mode();
    let closed = mode == LoopMode::Closed;
    if !closed && s.workload.kind().publishes() && !(s.rate.is_finite() && s.rate > 0.0) {
        return Err(impossible("an open-loop workload needs a positive rate"));
    }
    let mode_name = if closed { "closed-loop" } else { "open-loop" };
    let mut rooms = 0;
    let (op, audience, acked, variant) = match &s.workload {
        Workload::Echo { .. } => (
            Some(OpKind::Echo),
            Audience::Sender,
            false,
            mode_name.to_owned(),
        ),
        Workload::Ack { .. } => (
            Some(OpKind::Echo),
            Audience::Sender,
            true,
            format!("ack-{mode_name}"),
        ),
        Workload::Broadcast { op } => match op {
            BroadcastOp::ToAll => (
                Some(OpKind::ToAll),
                match s.production.namespaces {
                    Some(namespaces) => Audience::Namespaces {
                        clients,
                        namespaces,
                    },
                    None => Audience::All { clients },
                },
                false,
                "to_all".to_owned(),
            ),
            BroadcastOp::ToOthers => (
                Some(OpKind::ToOthers),
                Audience::Others { clients },
                false,
                "to_others".to_owned(),
            ),
        },
        Workload::Rooms { rooms: n } => {
            rooms = n.get();
            (
                Some(OpKind::ToRoom),
                Audience::Room { clients, rooms },
                false,
                "to_room".to_owned(),
            )
        }
        Workload::Direct => {
            if clients < 2 {
                return Err(impossible("the direct workload needs at least 2 clients"));
            }
            (
                Some(OpKind::ToId),
                Audience::Next { clients },
                false,
                "to_id".to_owned(),
            )
        }
        Workload::Connect { .. } => (None, Audience::Nobody, false, "connect".to_owned()),
        // the variant of each row is chosen per target (workload::pvp::lanes)
        Workload::PollingVsPush(_) => (None, Audience::Nobody, false, "polling-vs-push".to_owned()),
    };
    Ok(Plan {
        workload: s.workload.kind(),
        op,
        audience,
        acked,
        mode,
        clients,
        publishers: if op.is_some() { publishers } else { 0 },
        rooms,
        namespaces: s.production.namespaces.unwrap_or(0),
        variant,
    })
}
