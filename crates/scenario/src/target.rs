//! Target names: the built-in targets `wsbench serve` / the Node peers provide, the word
//! `all`, and external servers written `kind=url`.

use std::fmt;
use std::str::FromStr;

use crate::model::WorkloadKind;

/// Every built-in target, in the order `all` expands to (Rust first, then the Node peers).
pub const BUILTIN_TARGETS: &[&str] = &[
    "tcp",
    "ws-tungstenite",
    "ws-fastwebsockets",
    "sio-socketioxide",
    "sio-socketioxide-polling",
    "sio-socketioxide-upgrade",
    "node-ws",
    "node-socketio",
    "node-socketio-polling",
];

/// The targets a scenario runs when it names none: the Rust ones (minus those that cannot
/// run the workload, see [`TargetSpec::supports`]).
pub const DEFAULT_TARGETS: &[&str] = &[
    "tcp",
    "ws-tungstenite",
    "ws-fastwebsockets",
    "sio-socketioxide",
    "sio-socketioxide-polling",
];

/// The word that stands for every built-in target.
pub const ALL_TARGETS: &str = "all";

/// What protocol an external server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalKind {
    /// Socket.IO v5 server over WebSocket: `sio=http://host:port`.
    Sio,
    /// The same server, client on Engine.IO long-polling only: `sio-polling=http://host:port`.
    SioPolling,
    /// The same server, client starts on polling and upgrades: `sio-upgrade=http://host:port`.
    SioUpgrade,
    /// Raw WebSocket server speaking the app protocol: `ws=ws://host:port/ws`.
    Ws,
    /// Length-prefixed TCP server speaking the app protocol: `tcp=host:port`.
    Tcp,
}

impl ExternalKind {
    pub fn name(self) -> &'static str {
        match self {
            ExternalKind::Sio => "sio",
            ExternalKind::SioPolling => "sio-polling",
            ExternalKind::SioUpgrade => "sio-upgrade",
            ExternalKind::Ws => "ws",
            ExternalKind::Tcp => "tcp",
        }
    }
}

/// One parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// One of [`BUILTIN_TARGETS`].
    Builtin(String),
    /// A server the user runs; the harness only connects to it.
    External { kind: ExternalKind, url: String },
}

/// Why a target string is not a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(
        "unknown target '{0}' (expected one of: {list}, {ALL_TARGETS}, or sio=http://HOST:PORT \
         (also sio-polling=, sio-upgrade=), ws=ws://HOST:PORT/PATH, tcp=HOST:PORT)",
        list = BUILTIN_TARGETS.join(", ")
    )]
    Unknown(String),
    #[error("target '{spec}': {reason}")]
    BadAddress { spec: String, reason: &'static str },
}

impl TargetSpec {
    /// Parses a built-in name or `kind=url`. `all` is not a target: expand it first
    /// ([`expand_targets`]).
    pub fn parse(s: &str) -> Result<TargetSpec, TargetError> {
        let Some((kind, url)) = s.split_once('=') else {
            return match BUILTIN_TARGETS.contains(&s) {
                true => Ok(TargetSpec::Builtin(s.to_string())),
                false => Err(TargetError::Unknown(s.to_string())),
            };
        };
        let bad = |reason| TargetError::BadAddress {
            spec: s.to_string(),
            reason,
        };
        let kind = match kind {
            "sio" => ExternalKind::Sio,
            "sio-polling" => ExternalKind::SioPolling,
            "sio-upgrade" => ExternalKind::SioUpgrade,
            "ws" => ExternalKind::Ws,
            "tcp" => ExternalKind::Tcp,
            _ => return Err(TargetError::Unknown(s.to_string())),
        };
        let host_port = match kind {
            ExternalKind::Sio | ExternalKind::SioPolling | ExternalKind::SioUpgrade => {
                url.strip_prefix("http://").ok_or_else(|| {
                    bad("a Socket.IO server is given as sio=http://HOST:PORT (no TLS)")
                })?
            }
            ExternalKind::Ws => url.strip_prefix("ws://").ok_or_else(|| {
                bad("a WebSocket server is given as ws=ws://HOST:PORT/PATH (no TLS)")
            })?,
            ExternalKind::Tcp => url,
        };
        let authority = host_port.split('/').next().unwrap_or_default();
        if kind == ExternalKind::Tcp && authority != host_port {
            return Err(bad(
                "a TCP server is given as tcp=HOST:PORT, without a path",
            ));
        }
        let port_ok = authority
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(bad(
                "the address needs a host and a numeric port (HOST:PORT)",
            ));
        }
        Ok(TargetSpec::External {
            kind,
            url: url.to_string(),
        })
    }

    /// Whether the target serves HTTP (the REST routes polling-vs-push needs): all but tcp.
    pub fn has_http(&self) -> bool {
        match self {
            TargetSpec::Builtin(name) => name != "tcp",
            TargetSpec::External { kind, .. } => *kind != ExternalKind::Tcp,
        }
    }

    /// Whether the target is a Socket.IO server (built-in `sio-*` / `node-socketio*`, or
    /// `sio*=http://…`); the polling-vs-push variants `poll-sio`, `push-sio` and
    /// `push-sio-polling` run on these, `poll` and `push-ws` on the raw WebSocket ones.
    pub fn is_socket_io(&self) -> bool {
        match self {
            TargetSpec::Builtin(name) => {
                name.starts_with("sio-") || name.starts_with("node-socketio")
            }
            TargetSpec::External { kind, .. } => matches!(
                kind,
                ExternalKind::Sio | ExternalKind::SioPolling | ExternalKind::SioUpgrade
            ),
        }
    }

    /// Whether the target can run `workload` (tcp has no HTTP, so no polling-vs-push).
    pub fn supports(&self, workload: WorkloadKind) -> bool {
        workload != WorkloadKind::PollingVsPush || self.has_http()
    }
}

impl FromStr for TargetSpec {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TargetSpec::parse(s)
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Builtin(name) => f.write_str(name),
            TargetSpec::External { kind, url } => write!(f, "{}={url}", kind.name()),
        }
    }
}

/// Replaces `all` by every built-in target and drops repeats, keeping first-seen order.
pub fn expand_targets(targets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        let names = match t.as_str() {
            ALL_TARGETS => BUILTIN_TARGETS.iter().map(|s| s.to_string()).collect(),
            _ => vec![t.clone()],
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_print_back() {
        for name in BUILTIN_TARGETS {
            let t = TargetSpec::parse(name).unwrap();
            assert_eq!(t, TargetSpec::Builtin(name.to_string()));
            assert_eq!(t.to_string(), *name);
        }
        assert!(DEFAULT_TARGETS.iter().all(|t| BUILTIN_TARGETS.contains(t)));
    }

    #[test]
    fn externals_parse() {
        let cases = [
            (
                "sio=http://127.0.0.1:3000",
                ExternalKind::Sio,
                "http://127.0.0.1:3000",
            ),
            (
                "ws=ws://localhost:8080/ws",
                ExternalKind::Ws,
                "ws://localhost:8080/ws",
            ),
            ("tcp=127.0.0.1:9000", ExternalKind::Tcp, "127.0.0.1:9000"),
            (
                "sio-polling=http://h:1",
                ExternalKind::SioPolling,
                "http://h:1",
            ),
            (
                "sio-upgrade=http://h:1",
                ExternalKind::SioUpgrade,
                "http://h:1",
            ),
        ];
        for (s, kind, url) in cases {
            let t: TargetSpec = s.parse().unwrap();
            assert_eq!(
                t,
                TargetSpec::External {
                    kind,
                    url: url.to_string()
                }
            );
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn bad_targets_are_named() {
        let e = TargetSpec::parse("ws-tungstenit").unwrap_err().to_string();
        assert!(
            e.starts_with("unknown target 'ws-tungstenit' (expected one of: tcp, "),
            "{e}"
        );
        assert!(
            e.contains("node-socketio-polling, all, or sio=http://HOST:PORT (also sio-polling="),
            "{e}"
        );
        assert!(matches!(
            TargetSpec::parse("all"),
            Err(TargetError::Unknown(_))
        ));
        assert!(matches!(
            TargetSpec::parse("mqtt=x:1"),
            Err(TargetError::Unknown(_))
        ));
        for s in [
            "sio=https://h:1",
            "sio=http://h",
            "ws=http://h:1/ws",
            "ws=ws://:1/ws",
            "tcp=h:port",
            "tcp=h:1/x",
        ] {
            let e = TargetSpec::parse(s).unwrap_err();
            assert!(matches!(e, TargetError::BadAddress { .. }), "{s}: {e}");
            assert!(e.to_string().starts_with(&format!("target '{s}': ")), "{e}");
        }
    }

    #[test]
    fn all_expands_once_in_order() {
        let t = expand_targets(&["node-ws".to_string(), "all".to_string(), "tcp".to_string()]);
        assert_eq!(t[0], "node-ws");
        assert_eq!(t.len(), BUILTIN_TARGETS.len());
        assert_eq!(t[1], "tcp");
    }

    #[test]
    fn tcp_cannot_poll() {
        let tcp = TargetSpec::parse("tcp").unwrap();
        assert!(!tcp.supports(WorkloadKind::PollingVsPush) && tcp.supports(WorkloadKind::Echo));
        assert!(
            !TargetSpec::parse("tcp=h:1")
                .unwrap()
                .supports(WorkloadKind::PollingVsPush)
        );
        assert!(
            TargetSpec::parse("node-ws")
                .unwrap()
                .supports(WorkloadKind::PollingVsPush)
        );
    }
}
