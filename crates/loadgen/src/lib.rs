//! The load generator: clients for every protocol behind one [`transport::Transport`] seam,
//! the open-loop scheduler, the recorder, the scenario runner and child-process supervision.
//!
//! - [`engine`]: where connections run (a current-thread runtime per load-generator core,
//!   a publisher lane) and the precise send timer.
//! - [`schedule`]: the process-wide clock and the open-loop send schedule.
//! - [`recorder`]: latency histograms and the send-lag log for uncorrected latency.
//! - [`accounting`]: delivered / lost / duplicated / reordered per receiver.
//! - [`workload`]: each workload's semantics, the one worker loop, connect and join phases.
//! - [`floor`]: the floor client (`wsbench floor`): epoll ping-pong with no runtime and no
//!   parse, the reference wsbench's own cost is compared with.
//! - [`row`]: the seam between the runner and the row drivers (row context, result,
//!   failure); both import it, neither imports the other.
//! - [`runner`]: scenario points × repeats × targets → rows, files, the paired table.
//! - [`capacity`]: `wsbench capacity`: the highest load within an SLO, step by step through
//!   the runner's seams.
//! - [`supervise`]: server child processes and their /proc figures.
//! - [`faultproxy`]: the user-space TCP proxy that adds delay, jitter, bandwidth caps,
//!   stalls and resets between the clients and the server (`[network]`).
//! - [`cluster`]: a row's cluster of server nodes over Redis, and Redis's own figures.
//! - [`credentials`]: the JWTs clients present to a server run with `--jwt-secret`.
//! - [`cgroup`]: server CPU budgets (a cgroup with a CFS quota) and their throttling.
//! - [`peers`]: the Node reference peers (folder, `npm ci`, the command that starts them).
//! - [`system`]: our own rlimit, CPU pinning and CPU time.

pub mod accounting;
pub mod capacity;
pub mod cgroup;
pub mod cluster;
pub mod credentials;
pub mod engine;
pub mod faultproxy;
pub mod floor;
pub mod peers;
pub mod recorder;
pub mod row;
pub mod runner;
pub mod schedule;
pub mod supervise;
pub mod system;
pub mod transport;
pub mod workload;

pub use row::RowFailure;
pub use runner::{RunError, RunOptions, RunOutcome, format_table, run, run_with};
