//! The `[restart]` row: every client echoes on an open schedule; `kill_at` into the measure
//! phase the server gets SIGKILL, and once it is dead (its pidfd says so) and `down` has
//! passed it is started again on the same port. On a cluster (`nodes` > 1) that is node 1:
//! the clients it served reconnect to it, the others go on echoing on their nodes. The
//! clients notice, wait their policy's delays and reconnect ([`super::echo`]): Socket.IO
//! clients with socket.io-client's defaults, raw clients with the scenario's backoff.
//!
//! The row: `reconnect_p50_ms` / `reconnect_p99_ms` from the kill to each client's first
//! reconnection, `reconnected` (clients back by the end of the drain),
//! `lost_during_outage` (echoes due in the measure phase that never came back),
//! `reconnect_accept_rate` (clients back per second from the first reconnection to the
//! last); the server's CPU is both processes' (the killed one up to its death) plus the
//! other nodes', its peak RSS the larger of the two plus the other nodes' peaks. The notes say how long the server was down, how many
//! attempts failed, and what the target does about missed packets: Node socket.io runs
//! with `connectionStateRecovery`, socketioxide has no such feature.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsbench_scenario::faults::{Backoff, Restart};
use wsbench_scenario::{NodePeer, Protocol, Scenario, ServerKind, TargetSpec};

use super::echo::Away;
use super::{EchoRowSpec, echo_result, fill_reconnect_columns, start_echo_row};
use crate::row::{CpuMark, PointCtx, PointFailure, PointResult, RowTarget, push_note};
use crate::workload::Plan;
use crate::workload::connect::Connector;

/// How long the restarted server gets to exit after SIGTERM at the end of the row.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How long the restarted server has to print its ready line.
const RESTART_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The reconnection policy and away behaviour of a target's clients.
pub fn client_policy(protocol: Protocol, restart: &Restart) -> (Backoff, Away) {
    match protocol {
        Protocol::Sio(_) => (Backoff::SOCKET_IO, Away::Buffer),
        Protocol::Ws | Protocol::Tcp => (restart.raw_backoff, Away::Drop),
    }
}

/// What the target does about packets missed while a client was away (for the notes).
pub fn recovery_note(spec: &TargetSpec) -> Option<&'static str> {
    match spec.server() {
        Some(ServerKind::Node(NodePeer::SocketIo)) => Some(
            "connectionStateRecovery on (the peer runs with --connection-state-recovery); its \
             session store is the killed process's memory, so a restart recovers nothing",
        ),
        _ if spec.is_socket_io() => Some(
            "socketioxide has no connection state recovery: packets missed while away are \
             not replayed",
        ),
        _ => None,
    }
}

/// Runs one `[restart]` row.
pub async fn run_row<C: Connector>(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    plan: &Plan,
    restart: &Restart,
    spec: &TargetSpec,
    target: &RowTarget<'_>,
    connector: Arc<C>,
) -> Result<PointResult, PointFailure> {
    let Some(server) = target.server else {
        return Err(PointFailure::Failed(
            "[restart] needs a server the run starts".into(),
        ));
    };
    let echo_row = EchoRowSpec {
        variant: Some("restart"),
        policy: client_policy(spec.protocol(), restart),
        stay_longer: Duration::ZERO,
    };
    let mut er = start_echo_row(ctx, s, plan, target, &connector, echo_row).await?;
    let shared = er.shared.clone();
    let phases = shared.phases;
    // node 1 (the one killed) and, on a cluster, the nodes that stay up
    let killed_from = server.cpu_seconds().ok();
    let others_from = target.more_nodes_cpu_seconds();
    ctx.progress.phase("measure");
    tokio::select! {
        _ = tokio::time::sleep_until((phases.measure_start + restart.kill_at).into()) => {}
        _ = ctx.cancel.cancelled() => {}
    }
    let mut replacement = None;
    let mut old_cpu = None;
    let mut old_peak = None;
    if !ctx.cancel.is_cancelled() {
        ctx.progress.phase("restart");
        let nodes = target.endpoints().len();
        let which = if nodes > 1 {
            format!("node 1 of {nodes} (the clients i with i % {nodes} = 0)")
        } else {
            "server".to_owned()
        };
        old_cpu = server.cpu_seconds().ok();
        old_peak = server.peak_rss_kb().ok();
        let killed = Instant::now();
        let _ = shared.killed_at.set(killed);
        match server.kill_and_wait_dead().await {
            Ok(()) => {
                tokio::time::sleep(restart.down).await;
                match server.start_again(RESTART_READY_TIMEOUT).await {
                    Ok(child) => {
                        push_note(
                            &mut er.row,
                            format!(
                                "{which} killed (SIGKILL) {:.3} s into measure, listening again after {:.0} ms",
                                restart.kill_at.as_secs_f64(),
                                killed.elapsed().as_secs_f64() * 1e3
                            ),
                        );
                        replacement = Some(child);
                    }
                    Err(e) => push_note(&mut er.row, format!("server killed, restart failed: {e}")),
                }
            }
            Err(e) => push_note(&mut er.row, format!("could not kill the server: {e}")),
        }
        ctx.progress.phase("measure");
    }
    tokio::select! {
        _ = tokio::time::sleep_until(phases.measure_end.into()) => {}
        _ = ctx.cancel.cancelled() => {}
    }
    let measure_to = CpuMark::now(target);
    let others_to = target.more_nodes_cpu_seconds();
    let new_cpu = replacement.as_ref().and_then(|c| c.cpu_seconds().ok());
    ctx.progress.phase("drain");
    let (mut row, reports) = er.finish(ctx, s, target, measure_to).await;
    // the killed process up to its death, then its replacement, plus the nodes that stayed
    if let (Some(from), Some(old)) = (killed_from, old_cpu) {
        let others = match (others_from, others_to) {
            (Some(a), Some(b)) => (b - a).max(0.0),
            _ => 0.0,
        };
        row.server_cpu_s = Some((old - from).max(0.0) + new_cpu.unwrap_or(0.0) + others);
    }
    let new_peak = replacement.as_ref().and_then(|c| c.peak_rss_kb().ok());
    let others_peak = target.more_nodes_peak_rss_kb().unwrap_or(0);
    row.server_rss_peak_kb = old_peak.max(new_peak).map(|p| p + others_peak);
    if let Some(killed) = shared.killed_at.get() {
        fill_reconnect_columns(&mut row, &reports, Some(*killed));
    }
    if let Some(note) = recovery_note(spec) {
        push_note(&mut row, note.into());
    }
    if let Some(child) = replacement {
        child.stop(STOP_GRACE).await;
    }
    Ok(echo_result(row, &reports))
}
