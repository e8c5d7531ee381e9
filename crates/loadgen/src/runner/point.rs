//! One row: the runner picks the row driver of the scenario's workload — the `connect`
//! storm, the message workloads (echo, broadcast, rooms, direct, ack), polling-vs-push, or
//! a fault row (`[restart]`, `[churn]`) — and hands it the row context and the target as
//! [`crate::row`] describes them.

use std::sync::Arc;

use wsbench_scenario::faults::Fault;
use wsbench_scenario::{Scenario, TargetSpec, Workload};

use super::target::ResolvedTarget;
use crate::row::{PointCtx, PointFailure, PointResult, RowTarget};
use crate::workload::connect::{Connector, run_storm_row};
use crate::workload::{Plan, fault, messages, pvp};

/// Runs one row with the driver of `s`'s workload.
pub async fn run_point<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    plan: &Plan,
    target: &ResolvedTarget,
    connector: Arc<C>,
) -> Result<PointResult, PointFailure> {
    let row_target = RowTarget {
        endpoint: &target.endpoint,
        transport: target.protocol.label(),
        server: target.child.as_ref(),
        cluster: target.cluster.as_ref(),
    };
    if let Some(f) = &s.fault {
        return match f {
            Fault::Restart(r) => {
                let spec = TargetSpec::parse(ctx.target_name)
                    .map_err(|e| PointFailure::Failed(e.to_string()))?;
                fault::restart::run_row(ctx, s, plan, r, &spec, &row_target, connector).await
            }
            Fault::Churn(c) => fault::churn::run_row(ctx, s, plan, c, &row_target, connector).await,
        };
    }
    match &s.workload {
        Workload::PollingVsPush(polling) => {
            let variant = ctx.pvp_variant.ok_or_else(|| {
                PointFailure::Failed("polling-vs-push row without a variant".into())
            })?;
            pvp::driver::run_row(ctx, s, polling, variant, &row_target).await
        }
        Workload::Connect { .. } => run_storm_row(ctx, s, plan, &row_target, connector).await,
        _ => messages::run_row(ctx, s, plan, &row_target, connector).await,
    }
}
