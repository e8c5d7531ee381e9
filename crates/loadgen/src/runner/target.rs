//! Target specs (parsed once, by [`TargetSpec::parse`] in the scenario crate, from the one
//! target table) → where to connect: a built-in target served by `wsbench serve <server>`
//! becomes that child on 127.0.0.1:0; one served by a Node peer becomes a Node child
//! (scripts/peers/node, see [`crate::peers`]) supervised the same way; `kind=url` specs
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

pub use wsbench_scenario::{Protocol, ServerKind, TargetSpec};

use crate::cgroup::ServerCgroup;
use crate::peers::{NodePeers, node_args};
use crate::supervise::{ServerChild, ServerCommand};
use crate::transport::Endpoint;

/// How long a spawned server has to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Node loads its modules (and sql.js its WebAssembly) before it listens.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A target ready to be connected to.
#[derive(Debug)]
pub struct ResolvedTarget {
    pub endpoint: Endpoint,
    pub protocol: Protocol,
    /// The server child, for built-in and Node targets (its CPU and RSS go into the row).
    pub child: Option<ServerChild>,
    /// Nodes 2..N and their Redis when the row runs a cluster (`nodes` > 1).
    pub cluster: Option<crate::cluster::Cluster>,
}

impl ResolvedTarget {
    /// Stops every server the run started for this target.
    pub async fn stop(self, grace: Duration) {
        if let Some(child) = self.child {
            child.stop(grace).await;
        }
        if let Some(cluster) = self.cluster {
            cluster.stop(grace).await;
        }
    }
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
            auth: None,
            origin: None,
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
    resolve_in(spec, exe, serve_args, server_cpus, None).await
}

/// [`resolve`], with a server the run starts in `cgroup` (its CPU budget) when given; an
/// external target cannot have one.
pub async fn resolve_in(
    spec: &TargetSpec,
    exe: &Path,
    serve_args: &[String],
    server_cpus: Option<Vec<usize>>,
    cgroup: Option<ServerCgroup>,
) -> Result<ResolvedTarget, String> {
    let name = spec.to_string();
    let protocol = spec.protocol();
    let child = match spec {
        TargetSpec::Builtin(t) => match t.server {
            ServerKind::Serve(server) => {
                let command = ServerCommand::wsbench_serve(exe, server.name(), serve_args);
                ServerChild::spawn_command_in(&command, server_cpus, cgroup, READY_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())?
            }
            ServerKind::Node(peer) => {
                let args = node_args(&name, serve_args)?;
                let peers = NodePeers::prepare(|m| eprintln!("{m}"))
                    .await
                    .map_err(|e| format!("target {name}: {e}"))?;
                ServerChild::spawn_command_in(
                    &peers.command(peer, &args),
                    server_cpus,
                    cgroup,
                    NODE_READY_TIMEOUT,
                )
                .await
                .map_err(|e| format!("target {name}: {e}"))?
            }
        },
        TargetSpec::External { .. } if cgroup.is_some() => {
            return Err(format!(
                "--server-cpus needs a server the run starts, but {name} is run by someone else"
            ));
        }
        TargetSpec::External {
            host_port, path, ..
        } => {
            let addr = tokio::net::lookup_host(host_port.as_str())
                .await
                .map_err(|e| format!("cannot resolve {host_port}: {e}"))?
                .next()
                .ok_or_else(|| format!("{host_port} resolves to no address"))?;
            return Ok(ResolvedTarget {
                endpoint: endpoint(protocol, addr, host_port.clone(), path),
                protocol,
                child: None,
                cluster: None,
            });
        }
    };
    let addr = child.addr();
    Ok(ResolvedTarget {
        endpoint: endpoint(protocol, addr, addr.to_string(), "/ws"),
        protocol,
        child: Some(child),
        cluster: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn node_targets_refuse_fault_injection() {
        let e = resolve(
            &TargetSpec::parse("node-socketio").unwrap(),
            Path::new("wsbench"),
            &["--fault-stall-once-ms".into(), "300".into()],
            None,
        )
        .await
        .unwrap_err();
        assert!(e.contains("no fault injection"), "{e}");
    }
}
