//! Everything a run can refuse, refused before a socket opens: each point's plan, its
//! targets parsed into the rows it runs ([`Lane`]s: polling-vs-push variants, slow-consumer
//! policies), the open-file limit, the servers' CPU budget and the clusters' Redis.

use wsbench_scenario::slow::policies_of;
use wsbench_scenario::{PvpVariant, Workload};

use super::target::{ServerKind, TargetSpec};
use super::{RunError, RunOptions, budget, lanes};
use crate::workload::{Plan, plan};

/// File descriptors kept free for everything that is not a client socket.
const FD_RESERVE: u64 = 64;

/// One row's target: its name, spec, and (polling-vs-push) variant.
#[derive(Debug, Clone)]
pub(crate) struct Lane {
    pub(crate) name: String,
    pub(crate) spec: TargetSpec,
    pub(crate) variant: Option<PvpVariant>,
}

/// What [`prepare`] checked and planned.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) plans: Vec<Plan>,
    /// `lanes[i]`: the rows of scenario point `i`, per repeat, in run order.
    pub(crate) lanes: Vec<Vec<Lane>>,
    pub(crate) spawns_servers: bool,
    pub(crate) uses_node: bool,
    /// Where server cgroups are made, when a point has a CPU budget.
    pub(crate) cgroup_root: Option<crate::cgroup::CgroupRoot>,
    /// The clusters' Redis (checked to answer), when a point has `nodes` > 1.
    pub(crate) redis: Option<crate::cluster::RedisProbe>,
}

/// Plans every point, parses its targets, picks the polling-vs-push lanes and checks the
/// open-file limit and the servers' CPU budget: everything that can be refused is refused
/// before a socket opens.
pub(crate) fn prepare(opts: &RunOptions) -> Result<Prepared, RunError> {
    if opts.scenarios.is_empty() {
        return Err(RunError::NoScenarios);
    }
    let mut plans: Vec<Plan> = Vec::with_capacity(opts.scenarios.len());
    let mut all_lanes = Vec::with_capacity(opts.scenarios.len());
    for s in &opts.scenarios {
        plans.push(plan(s)?);
        let target_err = |message: String| RunError::Target {
            scenario: s.name.clone(),
            message,
        };
        let parsed = s
            .targets
            .iter()
            .map(|t| TargetSpec::parse(t).map(|p| (t.clone(), p)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| target_err(e.to_string()))?;
        if parsed.is_empty() {
            return Err(target_err("no targets".into()));
        }
        // polling-vs-push: one row per (target, variant of the target's kind)
        let l: Vec<Lane> = if let Workload::PollingVsPush(polling) = &s.workload {
            lanes::lanes(polling, &parsed)
                .into_iter()
                .map(|(name, spec, v)| Lane {
                    name,
                    spec,
                    variant: Some(v),
                })
                .collect()
        } else {
            parsed
                .into_iter()
                .map(|(name, spec)| Lane {
                    name,
                    spec,
                    variant: None,
                })
                .collect()
        };
        // slow consumers: a point's rows are the targets that run its policy (a server
        // someone else runs, which only a hand-made scenario can name, runs as it is set)
        let l: Vec<Lane> = match &s.slow {
            Some(slow) => l
                .into_iter()
                .filter(|lane| {
                    lane.spec.server().is_none() || policies_of(&lane.spec).contains(&slow.policy)
                })
                .collect(),
            None => l,
        };
        if l.is_empty() {
            return Err(target_err(
                "no target can run the polling-vs-push variants (raw WebSocket \
                 targets run poll and push-ws; Socket.IO targets the sio variants)"
                    .into(),
            ));
        }
        all_lanes.push(l);
    }
    let limit = crate::system::raise_nofile_limit().unwrap_or(1024);
    for (s, lanes) in opts.scenarios.iter().zip(&all_lanes) {
        let per_client = match &s.workload {
            Workload::PollingVsPush(p) => crate::workload::pvp::fds_per_viewer(&p.variants),
            _ => lanes
                .iter()
                .map(|l| l.spec.protocol().fds_per_client())
                .max()
                .unwrap_or(1),
        };
        // raw WebSocket clients of `namespaces = K` hold K connections each (an upper bound
        // for Socket.IO, which multiplexes); `over_limit` clients come on top
        let conns = u64::from(s.clients) * u64::from(s.production.namespaces.unwrap_or(1))
            + u64::from(s.production.over_limit);
        let needed = conns * per_client + FD_RESERVE;
        if needed > limit {
            return Err(RunError::FdLimit {
                scenario: s.name.clone(),
                clients: s.clients,
                needed,
                limit,
            });
        }
    }
    let cgroup_root = budget::prepare(&opts.scenarios, &all_lanes)?;
    let redis = if opts.scenarios.iter().any(|s| s.nodes > 1) {
        if opts
            .scenarios
            .iter()
            .any(|s| s.nodes > 1 && s.server_cpus.is_some())
        {
            return Err(RunError::Redis(
                "nodes > 1 cannot go with a server CPU budget (a budget is per server process)"
                    .into(),
            ));
        }
        Some(crate::cluster::RedisProbe::connect(&opts.redis).map_err(RunError::Redis)?)
    } else {
        None
    };
    let specs = || all_lanes.iter().flatten().map(|l| &l.spec);
    Ok(Prepared {
        cgroup_root,
        spawns_servers: specs().any(TargetSpec::spawns_server),
        uses_node: specs().any(|t| matches!(t.server(), Some(ServerKind::Node(_)))),
        plans,
        lanes: all_lanes,
        redis,
    })
}
