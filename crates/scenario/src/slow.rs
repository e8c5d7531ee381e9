//! The slow-consumer keys of a scenario (docs/scenarios.md): `slow_share` (the share of
//! clients that stop reading during the measure phase), `slow_consumer` (the servers'
//! policy for a full outbound queue, sweepable) and `outbound_queue` (the queue bound the
//! servers the run starts are given), and which policy each target can run.

use crate::common::Common;
use crate::error::{Origin, ScenarioError};
use crate::model::WorkloadKind;
use crate::raw::RawFile;
use crate::sweep::{Point, Val};
use crate::target::{NodePeer, RustServer, ServerKind, TargetSpec};

/// What a server does with a client whose outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowPolicy {
    /// The delivery to that client is dropped and counted (`wsbench serve --slow-consumer
    /// drop`; node-ws's own byte bound).
    #[default]
    Drop,
    /// The client is closed (`--slow-consumer disconnect`: WebSocket close 1008).
    Disconnect,
    /// No bound: the server buffers whatever the client does not read (node-socketio).
    None,
}

impl SlowPolicy {
    pub const ALL: [SlowPolicy; 3] = [SlowPolicy::Drop, SlowPolicy::Disconnect, SlowPolicy::None];
    pub fn name(self) -> &'static str {
        match self {
            SlowPolicy::Drop => "drop",
            SlowPolicy::Disconnect => "disconnect",
            SlowPolicy::None => "none",
        }
    }
    pub fn from_name(name: &str) -> Option<SlowPolicy> {
        SlowPolicy::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The policies a target can run: the raw Rust targets drop or disconnect (their
/// `--slow-consumer`), sio-socketioxide only drops (it cannot close a socket whose queue is
/// full, docs/hardening.md), node-ws drops past its byte bound, node-socketio buffers
/// without bound. A server someone else runs cannot be told a policy: none.
pub fn policies_of(spec: &TargetSpec) -> &'static [SlowPolicy] {
    match spec.server() {
        Some(ServerKind::Serve(RustServer::SioSocketioxide)) => &[SlowPolicy::Drop],
        Some(ServerKind::Serve(_)) => &[SlowPolicy::Drop, SlowPolicy::Disconnect],
        Some(ServerKind::Node(NodePeer::Ws)) => &[SlowPolicy::Drop],
        Some(ServerKind::Node(NodePeer::SocketIo)) => &[SlowPolicy::None],
        None => &[],
    }
}

/// The slow consumers of one scenario point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowConsumers {
    /// `slow_share`: the share of clients that stop reading, 0 < share < 1.
    pub share: f64,
    /// How many clients that is: the last `count` by index (never a publisher), >= 1.
    pub count: u32,
    /// `slow_consumer`: the policy every server of the point runs with; a target that
    /// cannot run it has no row at this point ([`policies_of`]).
    pub policy: SlowPolicy,
    /// `outbound_queue`: the frames (Socket.IO: packets) a Rust server queues per client
    /// before the policy applies (`serve --outbound-queue`); `None`: the server's default.
    pub outbound_queue: Option<u32>,
}

impl SlowConsumers {
    /// Client index of the first slow client (`clients - count`).
    pub fn first(&self, clients: u32) -> u32 {
        clients.saturating_sub(self.count)
    }
}

/// `slow_share` and `outbound_queue` as the file gives them (the same for every point).
#[derive(Debug, Clone, Default)]
pub(crate) struct SlowCommon {
    pub share: Option<Val<f64>>,
    pub outbound_queue: Option<Val<i64>>,
}

pub(crate) fn common(text: &str, raw: &RawFile) -> SlowCommon {
    SlowCommon {
        share: raw
            .slow_share
            .as_ref()
            .map(|v| Val::file(text, "slow_share", v)),
        outbound_queue: raw
            .outbound_queue
            .as_ref()
            .map(|v| Val::file(text, "outbound_queue", v)),
    }
}

/// The slow consumers of point `p` (`None` without `slow_share`).
pub(crate) fn point(
    file: &str,
    c: &Common,
    p: &Point,
    clients: u32,
    publishers: u32,
    nodes: u32,
) -> Result<Option<SlowConsumers>, ScenarioError> {
    let Some(share) = &c.slow.share else {
        let needs = |at: &Origin, key: &str| {
            at.error(file, format!("needs slow_share (the share of clients that stop reading) to apply to: set it, or drop {key}"))
        };
        if let Some(v) = &p.slow_consumer {
            return Err(needs(&v.at, "slow_consumer"));
        }
        if let Some(v) = &c.slow.outbound_queue {
            return Err(needs(&v.at, "outbound_queue"));
        }
        return Ok(None);
    };
    let err = |msg: String| Err(share.at.error(file, msg));
    if c.workload != WorkloadKind::Broadcast {
        return err(format!(
            "only for the broadcast workload (this is {})",
            c.workload.name()
        ));
    }
    if !(share.v.is_finite() && share.v > 0.0 && share.v < 1.0) {
        return err(format!(
            "must be a share of the clients between 0 and 1, both excluded (got {})",
            share.v
        ));
    }
    if nodes > 1 {
        return err("needs one server (nodes = 1): the drop counts are read from it".into());
    }
    if let Some(t) = c
        .targets
        .iter()
        .find(|t| TargetSpec::parse(t).is_ok_and(|s| s.server().is_none()))
    {
        return err(format!(
            "needs servers the run starts (their policy and counts are set and read by the \
             run), but target '{t}' is run by someone else"
        ));
    }
    let count = (share.v * f64::from(clients)).round() as u32;
    if count == 0 || count > clients.saturating_sub(publishers) {
        return err(format!(
            "{} of {clients} clients is {count} slow clients: it must be at least 1 and leave \
             the {publishers} publisher(s) reading",
            share.v
        ));
    }
    let policy = match &p.slow_consumer {
        None => SlowPolicy::default(),
        Some(v) => SlowPolicy::from_name(&v.v).ok_or_else(|| {
            let names = SlowPolicy::ALL.map(SlowPolicy::name).join(", ");
            v.at.error(
                file,
                format!("unknown policy '{}' (expected one of: {names})", v.v),
            )
        })?,
    };
    let runs = |t: &String| TargetSpec::parse(t).is_ok_and(|s| policies_of(&s).contains(&policy));
    if !c.targets.iter().any(runs) {
        let at = p.slow_consumer.as_ref().map_or(&share.at, |v| &v.at);
        return Err(at.error(
            file,
            format!(
                "no target runs the policy '{}' (drop: the Rust targets and node-ws; \
                 disconnect: tcp, ws-tungstenite, ws-fastwebsockets; none: node-socketio) \
                 (got {})",
                policy.name(),
                c.targets.join(", ")
            ),
        ));
    }
    let outbound_queue = match &c.slow.outbound_queue {
        None => None,
        Some(v) => match u32::try_from(v.v) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                let msg = format!("must be a whole number of frames >= 1 (got {})", v.v);
                return Err(v.at.error(file, msg));
            }
        },
    };
    Ok(Some(SlowConsumers {
        share: share.v,
        count,
        policy,
        outbound_queue,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Overrides, parse};

    fn load(extra: &str, targets: &str) -> Result<Vec<crate::Scenario>, ScenarioError> {
        let text = format!(
            "workload = \"broadcast\"\ntargets = [{targets}]\nclients = 20\nrate = 10\n{extra}"
        );
        parse(&text, "t.toml", &Overrides::default())
    }

    #[test]
    fn the_policy_sweeps_and_the_last_clients_are_slow() {
        let points = load(
            "slow_share = 0.1\noutbound_queue = 64\n[sweep]\nslow_consumer = [\"drop\", \"disconnect\", \"none\"]\n",
            "\"ws-tungstenite\", \"node-socketio\"",
        )
        .unwrap();
        let got: Vec<_> = points.iter().map(|s| s.slow.unwrap()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].policy, SlowPolicy::Disconnect);
        assert_eq!((got[0].count, got[0].first(20)), (2, 18));
        assert_eq!(got[2].outbound_queue, Some(64));
        assert_eq!(points[2].sweep_label(), "slow_consumer=none");
        assert!(load("", "\"tcp\"").unwrap()[0].slow.is_none());
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        let t = "\"ws-tungstenite\"";
        for (extra, targets, line, needle) in [
            ("slow_share = 1.0\n", t, 5, "between 0 and 1"),
            ("slow_share = 0.01\n", t, 5, "at least 1"),
            ("slow_consumer = \"drop\"\n", t, 5, "needs slow_share"),
            ("outbound_queue = 8\n", t, 5, "needs slow_share"),
            (
                "slow_share = 0.1\nslow_consumer = \"none\"\n",
                t,
                6,
                "no target runs",
            ),
            (
                "slow_share = 0.1\nslow_consumer = \"later\"\n",
                t,
                6,
                "unknown policy",
            ),
            ("slow_share = 0.1\noutbound_queue = 0\n", t, 6, ">= 1"),
            (
                "slow_share = 0.1\n",
                "\"ws=ws://127.0.0.1:9/ws\"",
                5,
                "someone else",
            ),
        ] {
            let e = load(extra, targets).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("t.toml:{line}:")) && e.contains(needle),
                "{extra}: {e}"
            );
        }
        let text = "workload = \"echo\"\nclients = 20\nrate = 10\nslow_share = 0.1\n";
        let e = parse(text, "t.toml", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.toml:4") && e.contains("broadcast"), "{e}");
    }
}
