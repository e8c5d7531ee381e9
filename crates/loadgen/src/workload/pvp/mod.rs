//! Polling versus push (docs/design.md §4, docs/polling-vs-push.md): a writer changes the
//! dashboard row at rate U through `POST /api/dashboard`; N viewers want every change, by
//! polling `GET /api/dashboard` every P or by listening on a socket after one snapshot.
//!
//! - [`tally`]: the pure arithmetic (request bounds of the measure window, staleness,
//!   versions missed).
//! - [`writer`]: the open-loop writer.
//! - [`viewer`]: one task per viewer, polling or pushed.
//! - [`driver`]: one row: setup, phases, the stats probe (reset at measure start, read at
//!   measure end), the merge into a [`wsbench_report::SummaryRow`].
//!
//! Variants and targets: each variant runs on the targets of its kind — `poll` and
//! `push-ws` on raw WebSocket targets, `poll-sio`, `push-sio` and `push-sio-polling` on
//! Socket.IO targets — one row per (target, variant), each with a fresh server when the
//! runner spawns it. The variant, not the target name, picks the client transport, so
//! `sio-socketioxide-polling` names the same server as `sio-socketioxide` and runs no rows of
//! its own when both are listed ([`lanes`]).

pub mod driver;
pub mod tally;
pub mod viewer;
pub mod writer;

use wsbench_scenario::{Polling, PvpVariant};

use crate::runner::target::{Protocol, TargetSpec};
use crate::transport::{Endpoint, SioTransport};

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

/// The row's `transport` column: what carried the viewers' updates.
pub fn transport_label(v: PvpVariant) -> &'static str {
    match v {
        PvpVariant::Poll | PvpVariant::PollSio => "http",
        PvpVariant::PushWs | PvpVariant::PushSio => "websocket",
        PvpVariant::PushSioPolling => "polling",
    }
}

/// The push endpoint of `v` on the server `target` reaches (`None` for polling variants).
pub fn push_endpoint(v: PvpVariant, target: &Endpoint) -> Option<Endpoint> {
    let (addr, host) = http_of(target)?;
    let sio = |transport| Endpoint::Sio {
        addr,
        host: host.clone(),
        transport,
    };
    match v {
        PvpVariant::Poll | PvpVariant::PollSio => None,
        PvpVariant::PushWs => Some(match target {
            Endpoint::Ws { path, .. } => Endpoint::Ws {
                addr,
                host: host.clone(),
                path: path.clone(),
            },
            _ => Endpoint::Ws {
                addr,
                host: host.clone(),
                path: "/ws".into(),
            },
        }),
        PvpVariant::PushSio => Some(sio(SioTransport::WebSocket)),
        PvpVariant::PushSioPolling => Some(sio(SioTransport::Polling)),
    }
}

/// The HTTP address and Host header of a target (its REST routes share the port).
pub fn http_of(target: &Endpoint) -> Option<(std::net::SocketAddr, String)> {
    match target {
        Endpoint::Tcp(_) => None,
        Endpoint::Ws { addr, host, .. } | Endpoint::Sio { addr, host, .. } => {
            Some((*addr, host.clone()))
        }
    }
}

/// File descriptors one viewer of `variants` holds at most (long-polling keeps two HTTP
/// connections; a push viewer briefly holds its snapshot connection beside its socket).
pub fn fds_per_viewer(variants: &[PvpVariant]) -> u64 {
    variants
        .iter()
        .map(|v| match v {
            PvpVariant::Poll | PvpVariant::PollSio => 1,
            PvpVariant::PushWs | PvpVariant::PushSio => 2,
            PvpVariant::PushSioPolling => 3,
        })
        .max()
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

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
