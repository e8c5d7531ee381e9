//! The production-feature keys that shape the traffic rather than the servers alone
//! (docs/scenarios.md), each sweepable and off by default:
//!
//! - `namespaces = K` (1 to [`MAX_NAMESPACES`]): every client follows the first K
//!   namespaces of [`namespace`] (Socket.IO: one connection, K CONNECTs; raw WebSocket: K
//!   connections, one per path of [`raw_path`]); publisher `i` broadcasts (`to_all`) in
//!   namespace `i % K`, so every point delivers the same number of messages whatever K.
//! - `over_limit = N`: with `rate_limit`, N more clients each send `echo` at twice the limit;
//!   the row's own clients (under the limit) are timed and accounted as usual, so their
//!   latency can be set beside a row with `over_limit = 0`.
//! - `cors = "preflight"`: Socket.IO long-polling clients send `Origin` and, before every
//!   POST, an `OPTIONS` preflight, as a browser does for a request it may not send
//!   unasked; servers run with `--cors-origin` [`CORS_ORIGIN`].

use crate::error::ScenarioError;
use crate::model::{BroadcastOp, Workload, WorkloadKind};
use crate::sweep::Val;
use crate::target::{Protocol, SioTransport, TargetSpec};

/// The namespaces every Socket.IO target serves by name (raw: [`RAW_NAMED`]).
pub const NAMED: [&str; 4] = ["/", "/chat", "/admin", "/notifications"];
/// The raw WebSocket paths that mirror [`NAMED`], in the same order.
pub const RAW_NAMED: [&str; 4] = ["/ws", "/ws/chat", "/ws/admin", "/ws/notifications"];
/// Generic namespaces every target serves after the named ones: `/ns/0` … `/ns/11`
/// (raw: `/ws/ns/0` …), so a client can follow more than four.
pub const GENERIC: u32 = 12;
/// The most namespaces a client may follow (`namespaces = K`).
pub const MAX_NAMESPACES: u32 = NAMED.len() as u32 + GENERIC;
/// The origin the load generator's browser-like clients present (`cors = "preflight"`).
pub const CORS_ORIGIN: &str = "http://wsbench.example";

/// The Socket.IO namespace of slot `k` (`/`, `/chat`, `/admin`, `/notifications`, `/ns/0`,
/// …); `None` past [`MAX_NAMESPACES`].
pub fn namespace(k: u32) -> Option<String> {
    match NAMED.get(k as usize) {
        Some(n) => Some((*n).to_owned()),
        None if k < MAX_NAMESPACES => Some(format!("/ns/{}", k - NAMED.len() as u32)),
        None => None,
    }
}

/// The raw WebSocket path of slot `k` (`/ws`, `/ws/chat`, …, `/ws/ns/0`, …).
pub fn raw_path(k: u32) -> Option<String> {
    match RAW_NAMED.get(k as usize) {
        Some(p) => Some((*p).to_owned()),
        None => namespace(k).map(|ns| format!("/ws{ns}")),
    }
}

/// `namespaces` of one point: 1 to [`MAX_NAMESPACES`], for the broadcast workload's
/// `to_all` on WebSocket targets (raw or Socket.IO; long-polling-only targets and tcp have
/// no way to follow several), on one node, without slow consumers (`slow` is whether the
/// point has `slow_share`).
pub(crate) fn namespaces(
    file: &str,
    v: Option<&Val<i64>>,
    workload: &Workload,
    targets: &[String],
    (nodes, slow): (u32, bool),
) -> Result<Option<u32>, ScenarioError> {
    let Some(v) = v else { return Ok(None) };
    let k = match u32::try_from(v.v) {
        Ok(k) if (1..=MAX_NAMESPACES).contains(&k) => k,
        _ => {
            let msg = format!(
                "must be a whole number of namespaces from 1 to {MAX_NAMESPACES} (got {}): \
                 the targets serve 4 named namespaces and {GENERIC} generic ones (/ns/0 …)",
                v.v
            );
            return Err(v.at.error(file, msg));
        }
    };
    if !matches!(
        workload,
        Workload::Broadcast {
            op: BroadcastOp::ToAll
        }
    ) {
        let msg = "only for workload = \"broadcast\" with op = \"to_all\" (a broadcast inside \
                   each namespace)";
        return Err(v.at.error(file, msg));
    }
    let unfit = targets.iter().find(|t| {
        !TargetSpec::parse(t).is_ok_and(|s| {
            matches!(
                s.protocol(),
                Protocol::Ws
                    | Protocol::Sio(SioTransport::WebSocket | SioTransport::PollingThenUpgrade)
            )
        })
    });
    if let Some(t) = unfit {
        let msg = format!(
            "target '{t}' cannot follow namespaces (tcp has no paths; a long-polling client \
             follows one): use raw or Socket.IO WebSocket targets"
        );
        return Err(v.at.error(file, msg));
    }
    if nodes > 1 {
        let msg = "cannot go with nodes > 1 yet (the Node ws peer clusters only /ws)";
        return Err(v.at.error(file, msg));
    }
    if slow && k > 1 {
        let msg = "cannot go with slow_share yet (slow consumers are accounted per client, and \
                   a raw client following K namespaces holds K connections)";
        return Err(v.at.error(file, msg));
    }
    Ok(Some(k))
}

/// `over_limit` of one point: a count of extra clients, only beside `rate_limit` in the echo
/// workload.
pub(crate) fn over_limit(
    file: &str,
    v: Option<&Val<i64>>,
    kind: WorkloadKind,
    rate_limit: Option<u32>,
) -> Result<u32, ScenarioError> {
    let Some(v) = v else { return Ok(0) };
    let Ok(n) = u32::try_from(v.v) else {
        let msg = format!("must be a whole number of clients >= 0 (got {})", v.v);
        return Err(v.at.error(file, msg));
    };
    if n > 0 && rate_limit.is_none() {
        let msg = "needs rate_limit: the extra clients send at twice the limit";
        return Err(v.at.error(file, msg));
    }
    if n > 0 && kind != WorkloadKind::Echo {
        let msg = format!("only for the echo workload (this is {})", kind.name());
        return Err(v.at.error(file, msg));
    }
    Ok(n)
}

/// `cors` of one point: `"off"` or `"preflight"`, the latter only where every target is a
/// Socket.IO long-polling target and the workload sends messages.
pub(crate) fn cors(
    file: &str,
    v: Option<&Val<String>>,
    kind: WorkloadKind,
    targets: &[String],
) -> Result<bool, ScenarioError> {
    let Some(v) = v else { return Ok(false) };
    let on = match v.v.as_str() {
        "off" => return Ok(false),
        "preflight" => true,
        other => {
            let msg = format!("unknown value '{other}' (expected one of: off, preflight)");
            return Err(v.at.error(file, msg));
        }
    };
    if matches!(kind, WorkloadKind::PollingVsPush | WorkloadKind::Connect) {
        let msg = format!(
            "only for the message workloads (this is {}): preflights go before POSTs",
            kind.name()
        );
        return Err(v.at.error(file, msg));
    }
    let unfit = targets.iter().find(|t| {
        !TargetSpec::parse(t).is_ok_and(|s| s.protocol() == Protocol::Sio(SioTransport::Polling))
    });
    if let Some(t) = unfit {
        let msg = format!(
            "target '{t}' does not long-poll: a preflight goes before an HTTP POST, so use \
             Socket.IO polling targets (e.g. sio-socketioxide-polling)"
        );
        return Err(v.at.error(file, msg));
    }
    Ok(on)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Overrides, parse};

    fn load(body: &str) -> Result<Vec<crate::Scenario>, ScenarioError> {
        parse(body, "t.toml", &Overrides::default())
    }

    #[test]
    fn namespace_names_and_paths() {
        assert_eq!(namespace(0).as_deref(), Some("/"));
        assert_eq!(namespace(3).as_deref(), Some("/notifications"));
        assert_eq!(namespace(4).as_deref(), Some("/ns/0"));
        assert_eq!(namespace(15).as_deref(), Some("/ns/11"));
        assert_eq!(namespace(16), None);
        assert_eq!(raw_path(0).as_deref(), Some("/ws"));
        assert_eq!(raw_path(1).as_deref(), Some("/ws/chat"));
        assert_eq!(raw_path(9).as_deref(), Some("/ws/ns/5"));
        assert_eq!(raw_path(16), None);
    }

    #[test]
    fn namespaces_sweep_and_refuse_what_cannot_follow() {
        let ok = "workload = \"broadcast\"\ntargets = [\"ws-tungstenite\", \"sio-socketioxide\"]\nclients = 10\nrate = 10\n[sweep]\nnamespaces = [1, 3, 10]\n";
        let got: Vec<_> = load(ok)
            .unwrap()
            .iter()
            .map(|s| s.production.namespaces)
            .collect();
        assert_eq!(got, [Some(1), Some(3), Some(10)]);
        let cases = [
            (ok.replace("10]", "17]"), "from 1 to 16"),
            (
                ok.replace("rate = 10", "rate = 10\nop = \"to_others\""),
                "to_all",
            ),
            (ok.replace("\"ws-tungstenite\"", "\"tcp\""), "'tcp'"),
            (
                ok.replace("\"ws-tungstenite\"", "\"sio-socketioxide-polling\""),
                "long-polling",
            ),
            (ok.replace("rate = 10", "rate = 10\nnodes = 2"), "nodes"),
            (
                ok.replace("rate = 10", "rate = 10\nslow_share = 0.1"),
                "slow_share",
            ),
        ];
        for (text, needle) in cases {
            let e = load(&text).unwrap_err().to_string();
            assert!(e.contains("t.toml:") && e.contains(needle), "{needle}: {e}");
            assert!(e.contains("namespaces"), "{e}");
        }
    }

    #[test]
    fn over_limit_needs_a_limit_and_echo() {
        let base = "workload = \"echo\"\ntargets = [\"ws-tungstenite\"]\nclients = 10\nrate = 10\n";
        let points = load(&format!(
            "{base}rate_limit = 100\n[sweep]\nover_limit = [0, 5]\n"
        ))
        .unwrap();
        assert_eq!(points[1].production.over_limit, 5);
        assert_eq!(points[1].sweep_label(), "over_limit=5");
        let e = load(&format!("{base}over_limit = 5\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.toml:5") && e.contains("rate_limit"), "{e}");
        let e = load(&format!("{base}over_limit = -1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("over_limit") && e.contains(">= 0"), "{e}");
    }

    #[test]
    fn cors_preflight_is_for_long_polling_targets() {
        let base = "workload = \"echo\"\nclients = 10\nrate = 10\n";
        let points = load(&format!(
            "{base}targets = [\"sio-socketioxide-polling\"]\n[sweep]\ncors = [\"off\", \"preflight\"]\n"
        ))
        .unwrap();
        let got: Vec<_> = points.iter().map(|s| s.production.cors_preflight).collect();
        assert_eq!(got, [false, true]);
        let e = load(&format!(
            "{base}targets = [\"sio-socketioxide\"]\ncors = \"preflight\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.toml:5") && e.contains("long-poll"), "{e}");
        let e = load(&format!(
            "{base}targets = [\"sio-socketioxide-polling\"]\ncors = \"always\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("cors") && e.contains("preflight"), "{e}");
    }
}
