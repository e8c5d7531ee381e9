//! The floor client beside a row (`floor = true`): right after a closed-loop echo row, the
//! floor client runs against the same server with the same clients, payload, warmup and
//! measure time, on a thread that inherits the load generator's pinning, and its figures
//! fill the row's `floor_*` columns.

use wsbench_report::row::SummaryRow;
use wsbench_scenario::Scenario;

use super::{FloorConfig, FloorProto, FloorTarget};
use crate::row::{RowTarget, push_note};
use crate::supervise::{ServerChild, proc_cpu_seconds};
use crate::transport::Endpoint;

/// Runs the floor client for `row` (when the scenario asks for it) and fills its columns;
/// a failure leaves them empty and says why in `notes`.
pub async fn fill_floor_columns(row: &mut SummaryRow, s: &Scenario, target: &RowTarget<'_>) {
    if !s.floor {
        return;
    }
    let (proto, addr, host, path) = match target.endpoint {
        Endpoint::Tcp(addr) => (FloorProto::Tcp, *addr, addr.to_string(), String::new()),
        Endpoint::Ws { addr, host, path } => (FloorProto::Ws, *addr, host.clone(), path.clone()),
        Endpoint::Sio { .. } => {
            push_note(
                row,
                "floor client: not run (it does not speak Socket.IO)".into(),
            );
            return;
        }
    };
    let cfg = FloorConfig {
        target: FloorTarget {
            proto,
            addr,
            host,
            path,
        },
        clients: s.clients,
        warmup: s.phases.warmup,
        measure: s.phases.measure,
        payload_bytes: s.payload_bytes,
    };
    // the server's CPU is sampled by the floor thread at its measure edges
    let pid = target.server.map(ServerChild::pid);
    let result = tokio::task::spawn_blocking(move || {
        let mut marks = Vec::with_capacity(2);
        let mut at_edge = || marks.push(pid.and_then(|p| proc_cpu_seconds(p).ok()));
        super::run(&cfg, &mut at_edge).map(|r| (r, marks))
    })
    .await;
    match result {
        Ok(Ok((r, marks))) => {
            row.floor_deliveries_per_s = Some(r.round_trips_per_s());
            row.floor_loadgen_cpu_s = Some(r.cpu_s);
            row.floor_server_cpu_s = match marks[..] {
                [Some(from), Some(to)] => Some(to - from),
                _ => None,
            };
        }
        Ok(Err(e)) => push_note(row, format!("floor client failed: {e}")),
        Err(e) => push_note(row, format!("floor client panicked: {e}")),
    }
}
