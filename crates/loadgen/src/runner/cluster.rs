//! Starting a row's cluster (`nodes` > 1): the target's N server processes, each
//! `serve --adapter <redis> --adapter-prefix <fresh prefix>` (so two rows never share
//! channels), returned as one target whose `cluster` holds nodes 2..N. Clients are spread
//! round-robin over the nodes by the row drivers (client `i` on node `i mod N`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::target::{ResolvedTarget, TargetSpec, resolve_in};
use crate::cluster::{Cluster, RedisProbe};

/// A channel prefix no other row (of this or another run on the same Redis) uses.
fn fresh_prefix() -> String {
    static ROW: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "wsbench-{}-{nanos:x}-{}",
        std::process::id(),
        ROW.fetch_add(1, Ordering::Relaxed)
    )
}

/// Starts `nodes` servers of `spec` as one cluster on `redis` and returns them as one
/// target: node 1 as its `child` and `endpoint`, the rest in its `cluster`. A node that
/// fails to start stops the ones already running.
pub async fn resolve_nodes(
    spec: &TargetSpec,
    exe: &Path,
    serve_args: &[String],
    server_cpus: Option<Vec<usize>>,
    nodes: u32,
    redis: &RedisProbe,
) -> Result<ResolvedTarget, String> {
    let mut args = serve_args.to_vec();
    args.extend([
        "--adapter".to_owned(),
        redis.url.clone(),
        "--adapter-prefix".to_owned(),
        fresh_prefix(),
    ]);
    let mut started: Vec<ResolvedTarget> = Vec::with_capacity(nodes as usize);
    for n in 1..=nodes {
        match resolve_in(spec, exe, &args, server_cpus.clone(), None).await {
            Ok(t) if t.child.is_some() => started.push(t),
            Ok(_) => {
                return Err(format!(
                    "target {spec}: a cluster needs servers the run starts"
                ));
            }
            Err(e) => {
                for t in started {
                    if let Some(c) = t.child {
                        c.stop(super::SERVER_STOP_GRACE).await;
                    }
                }
                return Err(format!("node {n} of {nodes}: {e}"));
            }
        }
    }
    let endpoints = started.iter().map(|t| t.endpoint.clone()).collect();
    let mut it = started.into_iter();
    let mut first = it.next().ok_or("a cluster has at least one node")?;
    first.cluster = Some(Cluster {
        endpoints,
        more: it.filter_map(|t| t.child).collect(),
        redis: redis.clone(),
    });
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_fresh() {
        assert_ne!(fresh_prefix(), fresh_prefix());
        assert!(!fresh_prefix().contains('#'));
    }
}
