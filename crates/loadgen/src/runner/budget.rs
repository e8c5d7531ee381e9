//! The servers' CPU budget in a run (`server_cpus`, `--server-cpus`): refused before any
//! socket opens when it cannot be applied (a target the run does not start, no writable
//! cgroup cpu controller), one cgroup with the quota per server child, and the record in
//! `meta.json`. The cgroups themselves are [`crate::cgroup`]'s.

use wsbench_report::meta::{Meta, ServerCpuBudget};
use wsbench_scenario::Scenario;

use super::{Lane, RunError};
use crate::cgroup::{CgroupRoot, CpuQuota, ServerCgroup};

/// Checks every point's budget: only servers the run starts, and a cgroup with the first
/// quota can be made (and is removed again). `None` when no point has a budget.
pub(super) fn prepare(
    scenarios: &[Scenario],
    lanes: &[Vec<Lane>],
) -> Result<Option<CgroupRoot>, RunError> {
    let mut budgets = scenarios
        .iter()
        .zip(lanes)
        .filter_map(|(s, l)| s.server_cpus.map(|cpus| (s, l, cpus)));
    let Some(first) = budgets.next() else {
        return Ok(None);
    };
    for (s, lanes, _) in std::iter::once(first).chain(budgets) {
        if let Some(external) = lanes.iter().find(|l| !l.spec.spawns_server()) {
            return Err(RunError::Target {
                scenario: s.name.clone(),
                message: format!(
                    "--server-cpus needs a server the run starts, but target {} is run by \
                     someone else",
                    external.name
                ),
            });
        }
    }
    Ok(Some(CgroupRoot::probe(CpuQuota::for_cpus(first.2))?))
}

/// A fresh cgroup with `s`'s budget, for one server child (`None` without a budget).
pub(crate) fn cgroup_for(
    root: Option<&CgroupRoot>,
    s: &Scenario,
) -> Result<Option<ServerCgroup>, String> {
    match (root, s.server_cpus) {
        (Some(root), Some(cpus)) => root
            .create(CpuQuota::for_cpus(cpus))
            .map(Some)
            .map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}

/// Records the (first) budget in `meta`, with a note when the servers are pinned to fewer
/// CPUs than it grants.
pub(crate) fn record(
    meta: &mut Meta,
    root: Option<&CgroupRoot>,
    scenarios: &[Scenario],
    pinned_server_cpus: Option<usize>,
) {
    let (Some(root), Some(cpus)) = (root, scenarios.iter().find_map(|s| s.server_cpus)) else {
        return;
    };
    let quota = CpuQuota::for_cpus(cpus);
    meta.server_cpu_budget = Some(ServerCpuBudget {
        server_cpus: cpus,
        period_us: quota.period_us,
        quota_us: quota.quota_us,
        controller: root.controller.name().to_owned(),
    });
    if let Some(n) = pinned_server_cpus
        && cpus > n as f64
    {
        meta.notes.push(format!(
            "server_cpus {cpus} is more than the {n} CPU(s) servers are pinned to: \
             the pinning, not the budget, is their limit"
        ));
    }
}
