//! The run: every scenario point × repeat × target (targets interleaved A B C A B C, so a
//! drift in the machine hits every target alike), one row each, written out after every row.
//!
//! - [`target`]: target specs → a spawned server child or an external address.
//! - [`point`]: one row (connect, join barrier, warmup / measure / drain, merge).
//! - [`progress`]: the live progress line.
//! - [`table`]: the paired table printed at the end.
//!
//! Files (through `wsbench_report`'s writers): `meta.json` at start (and again at the end
//! with the finish time), `summary.csv` rewritten atomically after every row (temp file +
//! rename: a crash loses at most the row in progress), and one `.hgrm` per row named by
//! [`wsbench_report::hgrm_file_name`] (the name `wsbench report` looks for).
//!
//! Pinning: when the run spawns servers and the process may use ≥ 2 CPUs, servers are pinned
//! to the first allowed CPU and the load generator's threads to the others (recorded in
//! `meta.json`).

pub mod point;
pub mod progress;
pub mod pvp_summary;
pub mod table;
pub mod target;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use wsbench_report::meta::{CpuPinning, Meta};
use wsbench_report::row::SummaryRow;
use wsbench_scenario::{PvpVariant, Scenario, Workload};

pub use table::format_table;

use self::point::{PointCtx, PointFailure, run_point};
use self::progress::Progress;
use self::target::{ServerKind, TargetSpec, resolve};
use crate::workload::connect::Connector;
use crate::workload::{Plan, PlanError, plan};

/// How long a server child gets to exit after SIGTERM before SIGKILL.
const SERVER_STOP_GRACE: Duration = Duration::from_secs(3);
/// File descriptors kept free for everything that is not a client socket.
const FD_RESERVE: u64 = 64;

/// What to run and where to put the results.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Validated, sweep-expanded scenario points, run in order.
    pub scenarios: Vec<Scenario>,
    /// Where summary.csv, the .hgrm files and meta.json go (created if missing).
    pub out_dir: PathBuf,
    /// Trials per point and target (≥ 1).
    pub repeat: u32,
    /// The `wsbench` executable servers are spawned with (`wsbench serve …`).
    pub wsbench_exe: PathBuf,
    /// Extra arguments for every `wsbench serve` (e.g. `--database URL`).
    pub serve_args: Vec<String>,
    /// Set on Ctrl-C: stop sending, drain briefly, write partial rows, return.
    pub cancel: CancellationToken,
    /// Show the live progress line on stderr.
    pub progress: bool,
    /// Identifies the run in every row; defaults to `out_dir`'s last component.
    pub run_id: Option<String>,
    /// The scenario text as given, for meta.json (defaults to a dump of `scenarios`).
    pub scenario_toml: Option<String>,
    /// The scenario file's path, for meta.json.
    pub scenario_file: Option<String>,
}

impl RunOptions {
    /// Defaults: one repeat, this executable, progress when stderr is a terminal.
    pub fn new(scenarios: Vec<Scenario>, out_dir: impl Into<PathBuf>) -> RunOptions {
        use std::io::IsTerminal;
        RunOptions {
            scenarios,
            out_dir: out_dir.into(),
            repeat: 1,
            wsbench_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("wsbench")),
            serve_args: Vec::new(),
            cancel: CancellationToken::new(),
            progress: std::io::stderr().is_terminal(),
            run_id: None,
            scenario_toml: None,
            scenario_file: None,
        }
    }
}

/// A row that could not be measured (target unavailable, clients could not connect, …).
#[derive(Debug, Clone, PartialEq)]
pub struct RowFailure {
    pub scenario: String,
    pub sweep: String,
    pub target: String,
    pub repeat: u32,
    pub message: String,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Every measured row, in run order (also in `summary.csv`).
    pub rows: Vec<SummaryRow>,
    /// Rows that could not be measured, with the reason.
    pub failures: Vec<RowFailure>,
    /// Ctrl-C cut the run short (the CLI exits 130); the last row may be `partial`.
    pub interrupted: bool,
    pub summary_csv: PathBuf,
}

/// Why a run could not start or write its results.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("nothing to run: no scenario points")]
    NoScenarios,
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("scenario {scenario:?}: {message}")]
    Target { scenario: String, message: String },
    #[error(
        "scenario {scenario:?} needs about {needed} file descriptors for {clients} clients, but the open-file \
         limit (RLIMIT_NOFILE, raised to its hard limit) is {limit}: raise it with `ulimit -n` or lower clients"
    )]
    FdLimit {
        scenario: String,
        clients: u32,
        needed: u64,
        limit: u64,
    },
    #[error("cannot create the output directory {path}: {source}")]
    OutDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write results: {0}")]
    Output(#[from] wsbench_report::ReportError),
}

/// Runs every point × repeat × target with the real transports.
pub async fn run(opts: RunOptions) -> Result<RunOutcome, RunError> {
    run_with(opts, Arc::new(crate::workload::connect::DefaultConnector)).await
}

/// [`run`] with a chosen way of opening connections.
pub async fn run_with<C: Connector>(
    opts: RunOptions,
    connector: Arc<C>,
) -> Result<RunOutcome, RunError> {
    let _ = crate::schedule::epoch();
    if opts.scenarios.is_empty() {
        return Err(RunError::NoScenarios);
    }
    // everything that can be refused is refused before a socket opens
    let mut plans: Vec<Plan> = Vec::with_capacity(opts.scenarios.len());
    let mut specs: Vec<Vec<(String, TargetSpec)>> = Vec::new();
    for s in &opts.scenarios {
        plans.push(plan(s)?);
        let parsed = s
            .targets
            .iter()
            .map(|t| TargetSpec::parse(t).map(|p| (t.clone(), p)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RunError::Target {
                scenario: s.name.clone(),
                message: e.to_string(),
            })?;
        if parsed.is_empty() {
            return Err(RunError::Target {
                scenario: s.name.clone(),
                message: "no targets".into(),
            });
        }
        specs.push(parsed);
    }
    // polling-vs-push: one row per (target, variant of the target's kind)
    let mut lanes: Vec<Vec<(String, TargetSpec, Option<PvpVariant>)>> = Vec::new();
    for (s, targets) in opts.scenarios.iter().zip(&specs) {
        let Workload::PollingVsPush(polling) = &s.workload else {
            lanes.push(
                targets
                    .iter()
                    .map(|(n, t)| (n.clone(), t.clone(), None))
                    .collect(),
            );
            continue;
        };
        let l: Vec<_> = crate::workload::pvp::lanes(polling, targets)
            .into_iter()
            .map(|(n, t, v)| (n, t, Some(v)))
            .collect();
        if l.is_empty() {
            return Err(RunError::Target {
                scenario: s.name.clone(),
                message: "no target can run the polling-vs-push variants (raw WebSocket \
                          targets run poll and push-ws; Socket.IO targets the sio variants)"
                    .into(),
            });
        }
        lanes.push(l);
    }
    let limit = crate::system::raise_nofile_limit().unwrap_or(1024);
    for (s, targets) in opts.scenarios.iter().zip(&specs) {
        let per_client = match &s.workload {
            Workload::PollingVsPush(p) => crate::workload::pvp::fds_per_viewer(&p.variants),
            _ => targets
                .iter()
                .map(|(_, t)| t.protocol().fds_per_client())
                .max()
                .unwrap_or(1),
        };
        let needed = u64::from(s.clients) * per_client + FD_RESERVE;
        if needed > limit {
            return Err(RunError::FdLimit {
                scenario: s.name.clone(),
                clients: s.clients,
                needed,
                limit,
            });
        }
    }

    std::fs::create_dir_all(&opts.out_dir).map_err(|source| RunError::OutDir {
        path: opts.out_dir.clone(),
        source,
    })?;
    let run_id = opts.run_id.clone().unwrap_or_else(|| {
        opts.out_dir
            .file_name()
            .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned())
    });

    // pinning: servers on the first allowed CPU, the load generator on the rest
    let spawns_servers = specs.iter().flatten().any(|(_, t)| t.spawns_server());
    let cpus = crate::system::allowed_cpus();
    let mut loadgen_cores = cpus.len().max(1);
    let mut server_cpus = None;
    let mut meta_notes = Vec::new();
    if spawns_servers && cpus.len() >= 2 {
        match crate::system::pin_own_threads(&cpus[1..]) {
            Ok(()) => {
                server_cpus = Some(vec![cpus[0]]);
                loadgen_cores = cpus.len() - 1;
            }
            Err(e) => meta_notes.push(format!("CPU pinning failed, not pinned: {e}")),
        }
    } else if spawns_servers {
        meta_notes.push("one CPU only: server and load generator share it (not pinned)".to_owned());
    }

    let meta_path = opts.out_dir.join("meta.json");
    let scenario_text = opts
        .scenario_toml
        .clone()
        .unwrap_or_else(|| format!("{:#?}", opts.scenarios));
    let mut meta = Meta::new(&run_id, &scenario_text);
    meta.scenario_file = opts.scenario_file.clone();
    meta.git_commit = wsbench_report::meta::git_commit(Path::new("."));
    meta.cpu_pinning = CpuPinning {
        server: server_cpus.as_ref().map(|c| cpu_list(c)),
        loadgen: server_cpus.as_ref().map(|_| cpu_list(&cpus[1..])),
    };
    if specs
        .iter()
        .flatten()
        .any(|(_, t)| matches!(t.server(), Some(ServerKind::Node(_))))
        && let Ok(dir) = crate::peers::peers_dir()
    {
        meta.node_packages = Some(crate::peers::node_versions(&dir));
    }
    meta.notes = meta_notes;
    meta.write(&meta_path)?;

    let progress = Progress::start(opts.progress);
    let summary_csv = opts.out_dir.join("summary.csv");
    let mut rows: Vec<SummaryRow> = Vec::new();
    let mut failures = Vec::new();
    'points: for (si, (s, plan)) in opts.scenarios.iter().zip(&plans).enumerate() {
        for repeat in 1..=opts.repeat.max(1) {
            for (name, spec, pvp_variant) in &lanes[si] {
                if opts.cancel.is_cancelled() {
                    break 'points;
                }
                let variant = pvp_variant.map_or(String::new(), |v| format!(" {}", v.name()));
                let label = format!("{} {} r{repeat} {name}{variant}", s.name, s.sweep_label());
                progress.row(label.clone());
                let fail = |message: String| RowFailure {
                    scenario: s.name.clone(),
                    sweep: s.sweep_label(),
                    target: format!("{name}{variant}"),
                    repeat,
                    message,
                };
                let resolved = match resolve(
                    spec,
                    &opts.wsbench_exe,
                    &opts.serve_args,
                    server_cpus.clone(),
                )
                .await
                {
                    Ok(r) => r,
                    Err(m) => {
                        progress.println(&format!("{label}: {m}"));
                        failures.push(fail(m));
                        continue;
                    }
                };
                let ctx = PointCtx {
                    run_id: &run_id,
                    repeat,
                    target_name: name,
                    cancel: &opts.cancel,
                    progress: &progress,
                    loadgen_cores,
                    seed: 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(si as u64 + 1) ^ u64::from(repeat),
                    pvp_variant: *pvp_variant,
                };
                let result = run_point(&ctx, s, plan, &resolved, connector.clone()).await;
                if let Some(child) = resolved.child {
                    child.stop(SERVER_STOP_GRACE).await;
                }
                match result {
                    Ok(res) => {
                        // the report crate's name (scenario, variant, sweep, target, repeat),
                        // which `wsbench report` looks for
                        let file = wsbench_report::hgrm_file_name(&res.row);
                        let text = wsbench_report::hgrm::percentile_distribution(
                            &res.hgrm,
                            wsbench_report::hgrm::US_TO_MS,
                            wsbench_report::hgrm::DEFAULT_TICKS_PER_HALF,
                        );
                        rows.push(res.row);
                        wsbench_report::csv::write_atomic(&summary_csv, &rows)?;
                        wsbench_report::atomic_file::write_atomic(
                            &opts.out_dir.join(file),
                            text.as_bytes(),
                        )?;
                    }
                    Err(PointFailure::Cancelled) => break 'points,
                    Err(PointFailure::Failed(m)) => {
                        progress.println(&format!("{label}: {m}"));
                        failures.push(fail(m));
                    }
                }
            }
        }
    }
    drop(progress);
    let interrupted = opts.cancel.is_cancelled();
    meta.finished_at = Some(wsbench_report::meta::rfc3339_utc(SystemTime::now()));
    meta.interrupted = interrupted;
    meta.write(&meta_path)?;
    Ok(RunOutcome {
        rows,
        failures,
        interrupted,
        summary_csv,
    })
}

/// `0,2,3` style CPU list.
fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use wsbench_report::SummaryRow;

    #[test]
    fn hgrm_names_are_the_report_crates_and_file_safe() {
        let row = SummaryRow {
            target: "ws=ws://127.0.0.1:9/ws".into(),
            sweep: "clients=10;rate=100".into(),
            repeat: 2,
            scenario: "fan out".into(),
            ..SummaryRow::default()
        };
        let name = wsbench_report::hgrm_file_name(&row);
        assert!(name.ends_with("_r2.hgrm"), "{name}");
        assert!(!name.contains('/') && !name.contains(' '), "{name}");
    }
}
