//! An open-loop echo row through the fault proxy (`[network]`) whose clients survive the
//! proxy's resets: each reset client reconnects by its stack's policy, as in a `[restart]`
//! row (Socket.IO clients with socket.io-client's defaults and their send buffer, raw
//! clients with the default backoff, dropping what falls due while away), and goes on
//! echoing. Without this a reset ended its client for the rest of the row.
//!
//! The row gets the reconnection columns, timed per client from its own loss:
//! `reconnected` (clients back of those reset), `reconnect_p50_ms` / `reconnect_p99_ms`
//! (loss → the new connection has its socket id), `lost_during_outage` (echoes due in the
//! measure phase that never came back). The proxy's counts are added by the runner.

use std::sync::Arc;
use std::time::Duration;

use wsbench_scenario::faults::Backoff;
use wsbench_scenario::{Protocol, Scenario, TargetSpec};

use super::echo::Away;
use super::{EchoRowSpec, echo_result, fill_reconnect_columns, start_echo_row};
use crate::row::{CpuMark, PointCtx, PointFailure, PointResult, RowTarget};
use crate::workload::Plan;
use crate::workload::connect::Connector;

/// Whether a point runs as this row: open-loop echo, every client echoing, through a proxy
/// that resets connections. Other `[network]` points run as ordinary message rows.
pub fn applies(s: &Scenario) -> bool {
    use wsbench_scenario::{LoopMode, Workload};
    matches!(
        s.workload,
        Workload::Echo {
            mode: LoopMode::Open
        }
    ) && s.publishers == s.clients
        && s.network.is_some_and(|n| n.reset_every.is_some())
}

/// Runs one row.
pub async fn run_row<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    plan: &Plan,
    spec: &TargetSpec,
    target: &RowTarget<'_>,
    connector: Arc<C>,
) -> Result<PointResult, PointFailure> {
    let policy = match spec.protocol() {
        Protocol::Sio(_) => (Backoff::SOCKET_IO, Away::Buffer),
        Protocol::Ws | Protocol::Tcp => (Backoff::RAW_DEFAULT, Away::Drop),
    };
    let echo_row = EchoRowSpec {
        variant: None,
        policy,
        stay_longer: Duration::ZERO,
    };
    let er = start_echo_row(ctx, s, plan, target, &connector, echo_row).await?;
    let measure_end = er.shared.phases.measure_end;
    ctx.progress.phase("measure");
    tokio::select! {
        _ = tokio::time::sleep_until(measure_end.into()) => {}
        _ = ctx.cancel.cancelled() => {}
    }
    let measure_to = CpuMark::now(target);
    ctx.progress.phase("drain");
    let (mut row, reports) = er.finish(ctx, s, target, measure_to).await;
    fill_reconnect_columns(&mut row, &reports, None);
    Ok(echo_result(row, &reports))
}
