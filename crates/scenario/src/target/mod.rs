//! Targets as written in scenarios and `--targets`: a built-in name from the one
//! [`table`] of targets, the word `all`, or a server someone else runs written `kind=url`.
//! [`TargetSpec::parse`] is the only parser of target strings; the load generator's runner
//! resolves the spec it returns.

pub mod table;

use std::fmt;
use std::str::FromStr;

use crate::model::WorkloadKind;

pub use table::{
    BUILTIN_TARGETS, BuiltinTarget, DEFAULT_TARGETS, EXTERNAL_FORMS, NodePeer, Protocol,
    RustServer, ServerKind, SioTransport, TARGETS, builtin,
};

/// The word that stands for every built-in target.
pub const ALL_TARGETS: &str = "all";

/// One parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A row of [`TARGETS`]: the run starts its server.
    Builtin(&'static BuiltinTarget),
    /// A server the user runs; the harness only connects to it.
    External {
        /// How it is spoken to (the `kind` of `kind=url`).
        protocol: Protocol,
        /// The url as written after `kind=` (printed back as it was given).
        url: String,
        /// `host:port` to connect to.
        host_port: String,
        /// The WebSocket path of a raw WebSocket server (`/ws` if the url has none); empty
        /// for the other protocols.
        path: String,
    },
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
            return builtin(s)
                .map(TargetSpec::Builtin)
                .ok_or_else(|| TargetError::Unknown(s.to_string()));
        };
        let bad = |reason| TargetError::BadAddress {
            spec: s.to_string(),
            reason,
        };
        let protocol = Protocol::from_external_kind(kind)
            .ok_or_else(|| TargetError::Unknown(s.to_string()))?;
        let rest = match protocol {
            Protocol::Sio(_) => url.strip_prefix("http://").ok_or_else(|| {
                bad("a Socket.IO server is given as sio=http://HOST:PORT (no TLS)")
            })?,
            Protocol::Ws => url.strip_prefix("ws://").ok_or_else(|| {
                bad("a WebSocket server is given as ws=ws://HOST:PORT/PATH (no TLS)")
            })?,
            Protocol::Tcp => url,
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if protocol == Protocol::Tcp && !path.is_empty() {
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
        let path = match protocol {
            Protocol::Ws if path.is_empty() => "/ws",
            Protocol::Ws => path,
            _ => "",
        };
        Ok(TargetSpec::External {
            protocol,
            url: url.to_string(),
            host_port: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// How the load generator speaks to the target.
    pub fn protocol(&self) -> Protocol {
        match self {
            TargetSpec::Builtin(t) => t.protocol,
            TargetSpec::External { protocol, .. } => *protocol,
        }
    }

    /// The server the run starts for it (`None`: an external server).
    pub fn server(&self) -> Option<ServerKind> {
        match self {
            TargetSpec::Builtin(t) => Some(t.server),
            TargetSpec::External { .. } => None,
        }
    }

    /// Whether the run starts this target's server (and so pins servers to their own core).
    pub fn spawns_server(&self) -> bool {
        self.server().is_some()
    }

    /// Whether the target serves HTTP (the REST routes polling-vs-push needs): all but tcp.
    pub fn has_http(&self) -> bool {
        self.protocol().has_http()
    }

    /// Whether the target is a Socket.IO server (built-in `sio-*` / `node-socketio*`, or
    /// `sio*=http://…`); the polling-vs-push variants `poll-sio`, `push-sio` and
    /// `push-sio-polling` run on these, `poll` and `push-ws` on the raw WebSocket ones.
    pub fn is_socket_io(&self) -> bool {
        self.protocol().is_socket_io()
    }

    /// Whether polling-vs-push runs `variant` on this target: the Socket.IO variants on
    /// Socket.IO servers, `poll` and `push-ws` on raw WebSocket servers, the plain-HTTP
    /// variants on every HTTP server.
    pub fn runs_variant(&self, variant: crate::PvpVariant) -> bool {
        if !self.has_http() {
            return false;
        }
        match variant.servers() {
            crate::VariantServers::SocketIo => self.is_socket_io(),
            crate::VariantServers::RawWebSocket => !self.is_socket_io(),
            crate::VariantServers::AnyHttp => true,
        }
    }

    /// Whether the target is a Node reference peer (which serves one workspace only).
    pub fn is_node_peer(&self) -> bool {
        matches!(self.server(), Some(ServerKind::Node(_)))
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
            TargetSpec::Builtin(t) => f.write_str(t.name),
            TargetSpec::External { protocol, url, .. } => {
                write!(f, "{}={url}", protocol.external_kind())
            }
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
        for row in TARGETS {
            let t = TargetSpec::parse(row.name).unwrap();
            assert_eq!(t, TargetSpec::Builtin(row));
            assert_eq!(t.to_string(), row.name);
            assert_eq!(t.to_string().parse::<TargetSpec>().unwrap(), t);
            assert_eq!(t.protocol(), row.protocol);
            assert!(t.spawns_server() && t.server() == Some(row.server));
        }
        assert!(DEFAULT_TARGETS.iter().all(|t| BUILTIN_TARGETS.contains(t)));
    }

    #[test]
    fn externals_parse() {
        use SioTransport::*;
        let cases = [
            (
                "sio=http://127.0.0.1:3000",
                Protocol::Sio(WebSocket),
                "127.0.0.1:3000",
                "",
            ),
            (
                "ws=ws://localhost:8080/ws",
                Protocol::Ws,
                "localhost:8080",
                "/ws",
            ),
            (
                "ws=ws://127.0.0.1:9000",
                Protocol::Ws,
                "127.0.0.1:9000",
                "/ws",
            ),
            ("ws=ws://h:1/other", Protocol::Ws, "h:1", "/other"),
            ("tcp=127.0.0.1:9000", Protocol::Tcp, "127.0.0.1:9000", ""),
            ("sio-polling=http://h:1", Protocol::Sio(Polling), "h:1", ""),
            (
                "sio-upgrade=http://h:1",
                Protocol::Sio(PollingThenUpgrade),
                "h:1",
                "",
            ),
            (
                "sio=http://localhost:3000/",
                Protocol::Sio(WebSocket),
                "localhost:3000",
                "",
            ),
        ];
        for (s, protocol, host_port, path) in cases {
            let t: TargetSpec = s.parse().unwrap();
            assert_eq!(
                t,
                TargetSpec::External {
                    protocol,
                    url: s.split_once('=').unwrap().1.to_string(),
                    host_port: host_port.to_string(),
                    path: path.to_string(),
                },
                "{s}"
            );
            assert_eq!(t.to_string(), s);
            assert!(!t.spawns_server() && t.server().is_none());
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
