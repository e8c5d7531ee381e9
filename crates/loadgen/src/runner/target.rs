//! Target specs → where to connect: built-in names become a `wsbench serve` child on
//! 127.0.0.1:0; `node-ws`, `node-socketio` and `node-socketio-polling` become a Node peer
//! child (scripts/peers/node, see [`crate::peers`]) supervised the same way; `kind=url` specs
//! connect to a server someone else runs.
//!
//! Where `node` is missing, a Node target's row fails with "node not found on PATH: node-*
//! targets skipped" and the run goes on. The Node peers have no fault injection: a run whose
//! server options ask for faults refuses them by name.
//!
//! External kinds: `tcp=host:port`, `ws=ws://host:port/path`, `sio=http://host:port`
//! (WebSocket transport), and wsbench's additions `sio-polling=http://…` and
//! `sio-upgrade=http://…` (long-polling only / polling then upgrade).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::peers::{NodePeers, NodeServer, node_args};
use crate::supervise::ServerChild;
use crate::transport::{Endpoint, SioTransport};

/// How long a spawned server has to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Node loads its modules (and sql.js its WebAssembly) before it listens.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The protocol a target is spoken to with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Ws,
    Sio(SioTransport),
}

impl Protocol {
    /// The row's `transport` column.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Ws | Protocol::Sio(SioTransport::WebSocket) => "websocket",
            Protocol::Sio(SioTransport::Polling) => "polling",
            Protocol::Sio(SioTransport::PollingThenUpgrade) => "polling-upgrade",
        }
    }

    /// File descriptors one client holds (long-polling keeps a GET and a POST open).
    pub fn fds_per_client(self) -> u64 {
        match self {
            Protocol::Sio(SioTransport::Polling | SioTransport::PollingThenUpgrade) => 2,
            _ => 1,
        }
    }
}

/// A parsed target spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// Spawn `wsbench serve <server>` and speak `protocol` to it.
    BuiltIn {
        server: &'static str,
        protocol: Protocol,
    },
    /// Connect to `host_port` (+ `path` for raw WebSocket).
    External {
        protocol: Protocol,
        host_port: String,
        path: String,
    },
    /// Start a reference Node peer: its built-in name (`node-ws`, `node-socketio`,
    /// `node-socketio-polling`; [`parse_target`] accepts no other), which says the server
    /// ([`node_server`]) and the protocol ([`TargetSpec::protocol`]).
    Node(String),
}

impl TargetSpec {
    pub fn protocol(&self) -> Option<Protocol> {
        match self {
            TargetSpec::BuiltIn { protocol, .. } | TargetSpec::External { protocol, .. } => {
                Some(*protocol)
            }
            TargetSpec::Node(name) => node_server(name).map(|(_, p)| p),
        }
    }

    /// Whether the run starts this target's server (and so pins servers to their own core).
    pub fn spawns_server(&self) -> bool {
        !matches!(self, TargetSpec::External { .. })
    }
}

/// Parses a target spec as written in a scenario or `--targets`.
pub fn parse_target(spec: &str) -> Result<TargetSpec, String> {
    use SioTransport::*;
    let built_in = |server, protocol| Ok(TargetSpec::BuiltIn { server, protocol });
    match spec {
        "tcp" => return built_in("tcp", Protocol::Tcp),
        "ws-tungstenite" => return built_in("ws-tungstenite", Protocol::Ws),
        "ws-fastwebsockets" => return built_in("ws-fastwebsockets", Protocol::Ws),
        "sio-socketioxide" => return built_in("sio-socketioxide", Protocol::Sio(WebSocket)),
        "sio-socketioxide-polling" => return built_in("sio-socketioxide", Protocol::Sio(Polling)),
        "sio-socketioxide-upgrade" => {
            return built_in("sio-socketioxide", Protocol::Sio(PollingThenUpgrade));
        }
        _ if node_server(spec).is_some() => return Ok(TargetSpec::Node(spec.to_owned())),
        _ => {}
    }
    let Some((kind, url)) = spec.split_once('=') else {
        return Err(format!(
            "unknown target {spec:?}: use a built-in name (tcp, ws-tungstenite, ws-fastwebsockets, \
             sio-socketioxide, sio-socketioxide-polling, sio-socketioxide-upgrade, node-ws, \
             node-socketio, node-socketio-polling) or kind=url (tcp=host:port, ws=ws://host:port/ws, sio=http://host:port)"
        ));
    };
    let (protocol, scheme) = match kind {
        "tcp" => (Protocol::Tcp, None),
        "ws" => (Protocol::Ws, Some("ws://")),
        "sio" => (Protocol::Sio(WebSocket), Some("http://")),
        "sio-polling" => (Protocol::Sio(Polling), Some("http://")),
        "sio-upgrade" => (Protocol::Sio(PollingThenUpgrade), Some("http://")),
        other => {
            return Err(format!(
                "target {spec:?}: unknown kind {other:?} (tcp, ws, sio, sio-polling, sio-upgrade)"
            ));
        }
    };
    let rest = match scheme {
        Some(s) => url
            .strip_prefix(s)
            .ok_or_else(|| format!("target {spec:?}: the url must start with {s}"))?,
        None => url,
    };
    let (host_port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host_port
        .rsplit_once(':')
        .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        return Err(format!(
            "target {spec:?}: expected host:port, got {host_port:?}"
        ));
    }
    let path = match protocol {
        Protocol::Ws if path.is_empty() => "/ws".to_owned(),
        Protocol::Ws => path.to_owned(),
        _ => String::new(),
    };
    Ok(TargetSpec::External {
        protocol,
        host_port: host_port.to_owned(),
        path,
    })
}

/// A target ready to be connected to.
#[derive(Debug)]
pub struct ResolvedTarget {
    pub endpoint: Endpoint,
    pub protocol: Protocol,
    /// The server child, for built-in and Node targets (its CPU and RSS go into the row).
    pub child: Option<ServerChild>,
}

/// The endpoint of `protocol` at `addr` (Host header `host`).
pub fn endpoint(protocol: Protocol, addr: SocketAddr, host: String, path: &str) -> Endpoint {
    match protocol {
        Protocol::Tcp => Endpoint::Tcp(addr),
        Protocol::Ws => Endpoint::Ws {
            addr,
            host,
            path: path.to_owned(),
        },
        Protocol::Sio(transport) => Endpoint::Sio {
            addr,
            host,
            transport,
        },
    }
}

/// Starts (built-in, Node) or looks up (external) a target.
pub async fn resolve(
    spec: &TargetSpec,
    exe: &Path,
    serve_args: &[String],
    server_cpus: Option<Vec<usize>>,
) -> Result<ResolvedTarget, String> {
    match spec {
        TargetSpec::Node(name) => {
            let (server, protocol) = node_server(name)
                .ok_or_else(|| format!("target {name}: not a Node peer target"))?;
            let args = node_args(name, serve_args)?;
            let peers = NodePeers::prepare(|m| eprintln!("{m}"))
                .await
                .map_err(|e| format!("target {name}: {e}"))?;
            let child = ServerChild::spawn_command(
                &peers.command(server, &args),
                server_cpus,
                NODE_READY_TIMEOUT,
            )
            .await
            .map_err(|e| format!("target {name}: {e}"))?;
            let addr = child.addr();
            Ok(ResolvedTarget {
                endpoint: endpoint(protocol, addr, addr.to_string(), "/ws"),
                protocol,
                child: Some(child),
            })
        }
        TargetSpec::BuiltIn { server, protocol } => {
            let child = ServerChild::spawn(exe, server, serve_args, server_cpus, READY_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            let addr = child.addr();
            Ok(ResolvedTarget {
                endpoint: endpoint(*protocol, addr, addr.to_string(), "/ws"),
                protocol: *protocol,
                child: Some(child),
            })
        }
        TargetSpec::External {
            protocol,
            host_port,
            path,
        } => {
            let addr = tokio::net::lookup_host(host_port.as_str())
                .await
                .map_err(|e| format!("cannot resolve {host_port}: {e}"))?
                .next()
                .ok_or_else(|| format!("{host_port} resolves to no address"))?;
            Ok(ResolvedTarget {
                endpoint: endpoint(*protocol, addr, host_port.clone(), path),
                protocol: *protocol,
                child: None,
            })
        }
    }
}

/// The Node server and the protocol of a Node target name (`None`: not one).
pub fn node_server(name: &str) -> Option<(NodeServer, Protocol)> {
    match name {
        "node-ws" => Some((NodeServer::Ws, Protocol::Ws)),
        "node-socketio" => Some((NodeServer::SocketIo, Protocol::Sio(SioTransport::WebSocket))),
        "node-socketio-polling" => {
            Some((NodeServer::SocketIo, Protocol::Sio(SioTransport::Polling)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_built_in_and_external_specs() {
        assert_eq!(
            parse_target("sio-socketioxide-polling").unwrap(),
            TargetSpec::BuiltIn {
                server: "sio-socketioxide",
                protocol: Protocol::Sio(SioTransport::Polling)
            }
        );
        assert_eq!(
            parse_target("ws=ws://127.0.0.1:9000").unwrap(),
            TargetSpec::External {
                protocol: Protocol::Ws,
                host_port: "127.0.0.1:9000".into(),
                path: "/ws".into()
            }
        );
        assert_eq!(
            parse_target("sio=http://localhost:3000/").unwrap(),
            TargetSpec::External {
                protocol: Protocol::Sio(SioTransport::WebSocket),
                host_port: "localhost:3000".into(),
                path: String::new()
            }
        );
        assert_eq!(
            parse_target("tcp=127.0.0.1:1").unwrap().protocol(),
            Some(Protocol::Tcp)
        );
        assert_eq!(
            parse_target("node-ws").unwrap(),
            TargetSpec::Node("node-ws".into())
        );
        assert_eq!(
            parse_target("node-socketio-polling").unwrap().protocol(),
            Some(Protocol::Sio(SioTransport::Polling))
        );
        for name in wsbench_scenario::target::BUILTIN_TARGETS {
            let t = parse_target(name).unwrap();
            assert!(t.spawns_server() && t.protocol().is_some(), "{name}");
        }
        for bad in [
            "nope",
            "ws=http://x:1",
            "tcp=hostonly",
            "quic=x:1",
            "sio=http://:80",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn node_targets_refuse_fault_injection() {
        let e = resolve(
            &parse_target("node-socketio").unwrap(),
            Path::new("wsbench"),
            &["--fault-stall-once-ms".into(), "300".into()],
            None,
        )
        .await
        .unwrap_err();
        assert!(e.contains("no fault injection"), "{e}");
    }
}
