//! One row: the runner picks the row driver of the scenario's workload — the `connect`
//! storm, the message workloads (echo, broadcast, rooms, direct, ack), polling-vs-push, or
//! a fault row (`[restart]`, `[churn]`) — and hands it the row context and the target as
//! [`crate::row`] describes them.
//!
//! A point with `[network]` puts the fault proxy ([`crate::faultproxy`]) in front of the
//! target for the row: the driver's clients connect to the proxy, and the row gets the
//! proxy's counts (`proxy_resets`, `proxy_stalls`) and the faults in its notes. An
//! open-loop echo point whose proxy resets connections runs as [`fault::network`]'s row,
//! whose clients reconnect.

use std::net::SocketAddr;
use std::sync::Arc;

use wsbench_scenario::faults::Fault;
use wsbench_scenario::{Scenario, TargetSpec, Workload};

use super::target::ResolvedTarget;
use crate::faultproxy::FaultProxy;
use crate::row::{PointCtx, PointFailure, PointResult, RowTarget, push_note};
use crate::transport::Endpoint;
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
    let proxy = match &s.network {
        Some(faults) => Some(
            FaultProxy::start(endpoint_addr(&target.endpoint), *faults, ctx.seed)
                .map_err(|e| PointFailure::Failed(format!("fault proxy: {e}")))?,
        ),
        None => None,
    };
    let proxied = proxy
        .as_ref()
        .map(|p| with_addr(target.endpoint.clone(), p.addr()));
    let row_target = RowTarget {
        endpoint: proxied.as_ref().unwrap_or(&target.endpoint),
        transport: target.protocol.label(),
        server: target.child.as_ref(),
        cluster: target.cluster.as_ref(),
        proxy: proxy.as_ref(),
    };
    let mut result = if let Some(f) = &s.fault {
        match f {
            Fault::Restart(r) => {
                let spec = TargetSpec::parse(ctx.target_name)
                    .map_err(|e| PointFailure::Failed(e.to_string()))?;
                fault::restart::run_row(ctx, s, plan, r, &spec, &row_target, connector).await
            }
            Fault::Churn(c) => fault::churn::run_row(ctx, s, plan, c, &row_target, connector).await,
        }
    } else {
        match &s.workload {
            Workload::PollingVsPush(polling) => {
                let variant = ctx.pvp_variant.ok_or_else(|| {
                    PointFailure::Failed("polling-vs-push row without a variant".into())
                })?;
                pvp::driver::run_row(ctx, s, polling, variant, &row_target).await
            }
            Workload::Connect { .. } => run_storm_row(ctx, s, plan, &row_target, connector).await,
            _ if fault::network::applies(s) => {
                let spec = TargetSpec::parse(ctx.target_name)
                    .map_err(|e| PointFailure::Failed(e.to_string()))?;
                fault::network::run_row(ctx, s, plan, &spec, &row_target, connector).await
            }
            _ => messages::run_row(ctx, s, plan, &row_target, connector).await,
        }
    };
    if let (Some(p), Some(faults), Ok(res)) = (&proxy, &s.network, &mut result) {
        let counts = p.counts();
        res.row.proxy_resets = Some(counts.resets);
        res.row.proxy_stalls = Some(counts.stalls);
        push_note(
            &mut res.row,
            format!(
                "fault proxy: {} ({} connections)",
                faults.describe(),
                counts.connections
            ),
        );
    }
    result
}

/// The socket address an endpoint connects to.
pub fn endpoint_addr(e: &Endpoint) -> SocketAddr {
    match e {
        Endpoint::Tcp(addr) | Endpoint::Ws { addr, .. } | Endpoint::Sio { addr, .. } => *addr,
    }
}

/// `e`, connecting to `addr` instead (the Host header and path stay the server's).
pub fn with_addr(mut e: Endpoint, to: SocketAddr) -> Endpoint {
    match &mut e {
        Endpoint::Tcp(addr) | Endpoint::Ws { addr, .. } | Endpoint::Sio { addr, .. } => {
            *addr = to;
        }
    }
    e
}
