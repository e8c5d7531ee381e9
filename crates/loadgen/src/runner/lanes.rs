//! Which rows a polling-vs-push point runs: each variant on the targets of its kind (`poll`
//! and `push-ws` on raw WebSocket targets, the `sio` variants on Socket.IO targets), one row
//! per (target, variant). The variant, not the target name, picks the client transport, so
//! `sio-socketioxide-polling` names the same server as `sio-socketioxide` and runs no rows of
//! its own when both are listed.

use wsbench_scenario::{Polling, PvpVariant};

use super::target::{Protocol, TargetSpec};

/// Whether `spec` is a Socket.IO server (`None`: it cannot serve polling-vs-push at all).
fn socket_io(spec: &TargetSpec) -> Option<bool> {
    spec.has_http().then(|| spec.is_socket_io())
}

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
        let Some(sio) = socket_io(spec) else { continue };
        for v in variants.iter().filter(|v| v.socket_io() == sio) {
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
            ("ws-tungstenite", "push-ws"),
            ("sio-socketioxide", "poll-sio"),
            ("sio-socketioxide", "push-sio"),
            ("sio-socketioxide", "push-sio-polling"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b)));
        polling.variants = vec![PvpVariant::PushSio];
        assert_eq!(lanes(&polling, &targets).len(), 1);
        assert_eq!(fds_per_viewer(&PvpVariant::ALL), 3);
    }
}
