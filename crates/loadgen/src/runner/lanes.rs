//! Which rows a polling-vs-push point runs: each variant on the targets of its kind (`poll`
//! and `push-ws` on raw WebSocket targets, the `sio` variants on Socket.IO targets, the
//! plain-HTTP variants `poll-etag`, `poll-cached`, `long-poll` and `sse` on every HTTP
//! target), one row per (target, variant). The variant, not the target name, picks the client transport, so
//! `sio-socketioxide-polling` names the same server as `sio-socketioxide` and runs no rows of
//! its own when both are listed.

use wsbench_scenario::{Polling, PvpVariant};

use super::target::{Protocol, TargetSpec};

/// Which server a spec reaches, ignoring the client transport its name implies.
fn server_key(spec: &TargetSpec) -> String {
    match spec {
        TargetSpec::Builtin(t) => format!("builtin:{:?}", t.server),
        TargetSpec::External {
            protocol,
            host_port,
            ..
        } => format!("{}:{host_port}", matches!(protocol, Protocol::Sio(_))),
    }
}

/// The rows of a polling-vs-push point: `(target name, spec, variant)` in target order, then
/// variant order; a target naming a server already listed adds nothing.
pub fn lanes(
    polling: &Polling,
    targets: &[(String, TargetSpec)],
) -> Vec<(String, TargetSpec, PvpVariant)> {
    let variants = &polling.variants;
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (name, spec) in targets {
        let key = server_key(spec);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        for v in variants.iter().filter(|v| spec.runs_variant(**v)) {
            out.push((name.clone(), spec.clone(), *v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::pvp::fds_per_viewer;

    #[test]
    fn variants_pair_with_targets_of_their_kind() {
        let mut polling = Polling {
            poll_interval: std::time::Duration::from_millis(100),
            update_rate: 10.0,
            variants: PvpVariant::ALL.to_vec(),
            workspaces: 1,
        };
        let t = |n: &str| (n.to_owned(), TargetSpec::parse(n).unwrap());
        let targets = [
            t("ws-tungstenite"),
            t("sio-socketioxide"),
            t("sio-socketioxide-polling"),
        ];
        let got: Vec<(String, &str)> = lanes(&polling, &targets)
            .into_iter()
            .map(|(n, _, v)| (n, v.name()))
            .collect();
        let want = [
            ("ws-tungstenite", "poll"),
            ("ws-tungstenite", "poll-etag"),
            ("ws-tungstenite", "poll-cached"),
            ("ws-tungstenite", "long-poll"),
            ("ws-tungstenite", "sse"),
            ("ws-tungstenite", "push-ws"),
            ("sio-socketioxide", "poll-sio"),
            ("sio-socketioxide", "poll-etag"),
            ("sio-socketioxide", "poll-cached"),
            ("sio-socketioxide", "long-poll"),
            ("sio-socketioxide", "sse"),
            ("sio-socketioxide", "push-sio"),
            ("sio-socketioxide", "push-sio-polling"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b)));
        polling.variants = vec![PvpVariant::PushSio];
        assert_eq!(lanes(&polling, &targets).len(), 1);
        polling.variants = vec![PvpVariant::Sse];
        let both = [t("node-ws"), t("tcp"), t("ws-tungstenite")];
        let got: Vec<String> = lanes(&polling, &both).into_iter().map(|l| l.0).collect();
        assert_eq!(
            got,
            ["node-ws", "ws-tungstenite"],
            "SSE on every HTTP target"
        );
        assert_eq!(fds_per_viewer(&PvpVariant::ALL), 3);
    }
}
