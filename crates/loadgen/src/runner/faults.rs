//! What the runner does about faults around a row: the server flags a fault row needs
//! (`node-socketio` runs `[restart]` rows with connection state recovery on), and a server
//! child that died on its own during its row. Such a row is still written with what was
//! measured until then; its notes, the progress line and `meta.json`'s notes say how the
//! server ended and what its stderr said last. A row that could not be measured at all
//! (the server died before every client connected) fails with the same words. The run goes
//! on with the next row, which starts a fresh server.

use wsbench_report::ResultsWriter;
use wsbench_scenario::faults::Fault;
use wsbench_scenario::{NodePeer, Scenario};

use super::progress::Progress;
use super::target::{ResolvedTarget, ServerKind, TargetSpec};
use crate::row::{PointFailure, PointResult, push_note};
use crate::supervise::ServerChild;

/// Server flags a fault row of `s` needs on target `spec`.
pub(super) fn serve_args(s: &Scenario, spec: &TargetSpec) -> Vec<String> {
    let node_sio = matches!(spec.server(), Some(ServerKind::Node(NodePeer::SocketIo)));
    match &s.fault {
        Some(Fault::Restart(_)) if node_sio => vec!["--connection-state-recovery".to_owned()],
        _ => Vec::new(),
    }
}

/// How the row's server ended, if it died on its own (a `[restart]` row kills its server
/// on purpose, so its death is not one).
pub(super) fn death_of(s: &Scenario, target: &mut ResolvedTarget) -> Option<String> {
    match &s.fault {
        Some(Fault::Restart(_)) => None,
        _ => target.child.as_mut().and_then(server_death),
    }
}

/// What a server child that ended says about it: how it ended and the last lines of its
/// stderr; `None` while it runs.
fn server_death(child: &mut ServerChild) -> Option<String> {
    let status = child.exited()?;
    let tail = child.stderr_tail();
    let last: Vec<&str> = tail.lines().rev().take(3).collect();
    let said = if last.is_empty() {
        String::new()
    } else {
        let lines: Vec<&str> = last.into_iter().rev().collect();
        format!("; its stderr ends: {}", lines.join(" | "))
    };
    Some(format!("server died during the row ({status}){said}"))
}

/// The row's result with the server's death (if any) recorded: in the row's notes and
/// `meta.json`'s notes when it was measured, in the failure's message when it was not.
pub(super) fn record_death(
    result: Result<PointResult, PointFailure>,
    died: Option<String>,
    label: &str,
    progress: &Progress,
    writer: &mut ResultsWriter,
) -> Result<Result<PointResult, PointFailure>, wsbench_report::ReportError> {
    let Some(died) = died else {
        return Ok(result);
    };
    Ok(match result {
        Ok(mut res) => {
            push_note(&mut res.row, died.clone());
            progress.println(&format!("{label}: {died}"));
            writer.update_meta(|m| {
                m.notes.push(format!(
                    "{label}: {died}; the row holds what was measured until then"
                ));
            })?;
            Ok(res)
        }
        Err(PointFailure::Failed(m)) => Err(PointFailure::Failed(format!("{m} ({died})"))),
        Err(PointFailure::Cancelled) => Err(PointFailure::Cancelled),
    })
}
