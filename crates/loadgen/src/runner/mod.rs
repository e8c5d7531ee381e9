//! The run: every scenario point × repeat × target (targets interleaved A B C A B C, so a
//! drift in the machine hits every target alike), one row each, written out after every row.
//!
//! - `prepare`: everything a run can refuse, refused before a socket opens (plans,
//!   targets, the rows of each point, the open-file limit, the CPU budget, Redis).
//! - [`budget`]: the servers' CPU budget (checked up front, a cgroup per server child).
//! - [`target`]: target specs → a spawned server child or an external address.
//! - [`cluster`]: a row's N server nodes on one Redis (`nodes` > 1).
//! - `faults`: server flags of fault rows, and a server that died during its row (the
//!   row is still written and says so).
//! - [`point`]: one row: picks the row driver of the workload (`crate::workload`), which
//!   meets the runner only through [`crate::row`].
//! - [`lanes`]: which (target, variant) rows a polling-vs-push point runs.
//! - [`progress`]: the live progress line.
//! - [`table`]: the paired table printed at the end.
//!
//! Files: the runner hands every finished row, every failure and the end of the run to
//! [`wsbench_report::ResultsWriter`], which owns the file names and writes `meta.json`,
//! `summary.csv` and the row's `.hgrm` at once (atomically: a crash loses at most the row in
//! progress, and `meta.json` always says which rows failed and why).
//!
//! Pinning: when the run spawns servers and the process may use ≥ 2 CPUs, servers are pinned
//! to the first allowed CPU and the load generator's threads to the others (recorded in
//! `meta.json`). The run then starts its [`Engine`]: one lane thread per load-generator
//! CPU (pinned to it) and a publisher lane; every row's connections run there.

pub mod budget;
pub mod cluster;
mod faults;
pub mod lanes;
pub mod point;
mod prepare;
pub mod progress;
pub mod pvp_summary;
pub mod table;
pub mod target;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wsbench_report::ResultsWriter;
use wsbench_report::meta::{CpuPinning, Meta};
use wsbench_report::row::SummaryRow;
use wsbench_scenario::Scenario;

pub(crate) use self::prepare::{Lane, Prepared, prepare};
pub use table::format_table;

use self::point::run_point;
use self::progress::Progress;
use self::target::resolve_in;
use crate::engine::Engine;
use crate::row::{PointCtx, PointFailure, RowFailure};
use crate::workload::PlanError;
use crate::workload::connect::Connector;

/// How long a server child gets to exit after SIGTERM before SIGKILL.
pub(crate) const SERVER_STOP_GRACE: Duration = Duration::from_secs(3);

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
    /// `run --jwt-secret`: the secret servers are started with and clients sign with, for
    /// points with `jwt` on (and it turns `jwt` on where a point leaves it off). `None`: a
    /// random secret per run.
    pub jwt_secret: Option<String>,
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
    /// The lane threads to run connections on; `None`: the run starts its own, one per
    /// load-generator core after pinning (a test passes its own to reach the lanes).
    pub engine: Option<Arc<Engine>>,
    /// The Redis the clusters of rows with `nodes` > 1 share (`--redis`).
    pub redis: String,
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
            jwt_secret: None,
            cancel: CancellationToken::new(),
            progress: std::io::stderr().is_terminal(),
            run_id: None,
            scenario_toml: None,
            scenario_file: None,
            engine: None,
            redis: crate::cluster::DEFAULT_REDIS.to_owned(),
        }
    }
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
    /// The run's `meta.json`, which also records the failures and why.
    pub meta_json: PathBuf,
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
    /// A server CPU budget that cannot be applied (no writable cgroup cpu controller).
    #[error(transparent)]
    Budget(#[from] crate::cgroup::CgroupError),
    /// A point runs a cluster (`nodes` > 1) and its Redis does not answer.
    #[error("{0}")]
    Redis(String),
    #[error("cannot start the load generator's lane threads: {0}")]
    Engine(std::io::Error),
    /// The run stopped after its directory was made; `meta` records why.
    #[error("{message} (recorded in {})", meta.display())]
    Aborted { message: String, meta: PathBuf },
}

/// Runs every point × repeat × target with the real transports.
pub async fn run(opts: RunOptions) -> Result<RunOutcome, RunError> {
    run_with(opts, Arc::new(crate::workload::connect::DefaultConnector)).await
}

/// The results writer of a run (or a capacity search) in `out_dir`: a directory that cannot
/// be made is [`RunError::OutDir`], any other write error [`RunError::Output`].
pub(crate) fn create_writer(
    out_dir: &std::path::Path,
    meta: wsbench_report::meta::Meta,
) -> Result<ResultsWriter, RunError> {
    ResultsWriter::create(out_dir, meta).map_err(|e| match e {
        wsbench_report::ReportError::Write { path, source } if path == out_dir => {
            RunError::OutDir { path, source }
        }
        e => RunError::Output(e),
    })
}

/// The run's engine: the one the options bring (tests), else lanes on the load generator's
/// pinned CPUs (all allowed CPUs when not pinned).
pub(crate) fn start_engine(opts: &RunOptions, pinning: &Pinning) -> Result<Arc<Engine>, RunError> {
    if let Some(e) = opts.engine.clone() {
        return Ok(e);
    }
    let cpus = pinning
        .loadgen_cpus
        .clone()
        .unwrap_or_else(crate::system::allowed_cpus);
    Ok(Arc::new(Engine::start(&cpus).map_err(RunError::Engine)?))
}

/// [`run`] with a chosen way of opening connections: prepare (refuse what cannot run before
/// a socket opens), pin, run the rows through the results writer, finish.
pub async fn run_with<C: Connector>(
    opts: RunOptions,
    connector: Arc<C>,
) -> Result<RunOutcome, RunError> {
    let _ = crate::schedule::epoch();
    let prepared = prepare(&opts)?;
    let run_id = opts.run_id.clone().unwrap_or_else(|| {
        opts.out_dir
            .file_name()
            .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned())
    });
    let mut meta = start_meta(&opts, &run_id, &prepared);
    let pinning = pin(prepared.spawns_servers);
    let engine = start_engine(&opts, &pinning)?;
    meta.notes.extend(engine.refused());
    budget::record(
        &mut meta,
        prepared.cgroup_root.as_ref(),
        &opts.scenarios,
        pinning.server_cpus.as_ref().map(Vec::len),
    );
    let mut writer = create_writer(&opts.out_dir, pinning.record(meta))?;
    let env = RowsEnv {
        prepared: &prepared,
        pinning: &pinning,
        engine: &engine,
        run_id: &run_id,
    };
    let failures = match run_rows(&opts, &env, &mut writer, connector).await {
        Ok(f) => f,
        Err(e) => {
            let message = format!("cannot write results: {e}");
            return Err(match writer.abort(&message) {
                Ok(meta) => RunError::Aborted { message, meta },
                Err(_) => RunError::Output(e),
            });
        }
    };
    let interrupted = opts.cancel.is_cancelled();
    let summary_csv = writer.summary_csv();
    let meta_json = writer.meta_json();
    let rows = writer.finish(interrupted)?;
    Ok(RunOutcome {
        rows,
        failures,
        interrupted,
        summary_csv,
        meta_json,
    })
}

/// The run's `meta.json` before any row: scenario, commit, Node versions.
pub(crate) fn start_meta(opts: &RunOptions, run_id: &str, prepared: &Prepared) -> Meta {
    let scenario_text = opts
        .scenario_toml
        .clone()
        .unwrap_or_else(|| format!("{:#?}", opts.scenarios));
    let mut meta = Meta::new(run_id, &scenario_text);
    meta.scenario_file = opts.scenario_file.clone();
    meta.git_commit = wsbench_report::meta::git_commit(Path::new("."));
    if prepared.uses_node
        && let Ok(dir) = crate::peers::peers_dir()
    {
        meta.node_packages = Some(crate::peers::node_versions(&dir));
    }
    meta
}

/// Where the server and the load generator run.
#[derive(Debug)]
pub(crate) struct Pinning {
    /// CPU cores the load generator may run on (for `loadgen_bound`).
    pub(crate) loadgen_cores: usize,
    /// The CPUs servers are pinned to, when pinned.
    pub(crate) server_cpus: Option<Vec<usize>>,
    loadgen_cpus: Option<Vec<usize>>,
    notes: Vec<String>,
}

impl Pinning {
    /// Records the pinning in `meta`.
    pub(crate) fn record(&self, mut meta: Meta) -> Meta {
        meta.cpu_pinning = CpuPinning {
            server: self.server_cpus.as_deref().map(cpu_list),
            loadgen: self.loadgen_cpus.as_deref().map(cpu_list),
        };
        meta.notes.extend(self.notes.iter().cloned());
        meta
    }
}

/// When the run spawns servers and may use ≥ 2 CPUs: servers on the first allowed CPU, the
/// load generator's threads on the others.
pub(crate) fn pin(spawns_servers: bool) -> Pinning {
    let cpus = crate::system::allowed_cpus();
    let mut p = Pinning {
        loadgen_cores: cpus.len().max(1),
        server_cpus: None,
        loadgen_cpus: None,
        notes: Vec::new(),
    };
    if spawns_servers && cpus.len() >= 2 {
        match crate::system::pin_own_threads(&cpus[1..]) {
            Ok(()) => {
                p.server_cpus = Some(vec![cpus[0]]);
                p.loadgen_cpus = Some(cpus[1..].to_vec());
                p.loadgen_cores = cpus.len() - 1;
            }
            Err(e) => p.notes.push(format!("CPU pinning failed, not pinned: {e}")),
        }
    } else if spawns_servers {
        p.notes
            .push("one CPU only: server and load generator share it (not pinned)".to_owned());
    }
    p
}

/// What every row of a run shares.
struct RowsEnv<'a> {
    prepared: &'a Prepared,
    pinning: &'a Pinning,
    engine: &'a Engine,
    run_id: &'a str,
}

/// Every point × repeat × lane, one row each, handed to `writer` as it finishes; failures
/// are recorded there as they happen. Stops early on Ctrl-C.
async fn run_rows<C: Connector>(
    opts: &RunOptions,
    env: &RowsEnv<'_>,
    writer: &mut ResultsWriter,
    connector: Arc<C>,
) -> Result<Vec<RowFailure>, wsbench_report::ReportError> {
    let RowsEnv {
        prepared,
        pinning,
        engine,
        run_id,
    } = *env;
    let progress = Progress::start(opts.progress);
    let mut failures = Vec::new();
    let jwt_secret = opts
        .jwt_secret
        .clone()
        .unwrap_or_else(crate::credentials::random_secret);
    let points = opts
        .scenarios
        .iter()
        .zip(&prepared.plans)
        .zip(&prepared.lanes);
    'points: for (si, ((s, plan), lanes)) in points.enumerate() {
        for repeat in 1..=opts.repeat.max(1) {
            for lane in lanes {
                if opts.cancel.is_cancelled() {
                    break 'points;
                }
                let variant = lane
                    .variant
                    .map_or(String::new(), |v| format!(" {}", v.name()));
                let failure = |message: String| RowFailure {
                    scenario: s.name.clone(),
                    sweep: s.sweep_label(),
                    target: format!("{}{variant}", lane.name),
                    repeat,
                    message,
                };
                let label = failure(String::new()).label();
                progress.row(label.clone());
                let creds = crate::credentials::for_point(
                    &s.production,
                    &jwt_secret,
                    opts.jwt_secret.is_some(),
                )
                .map(|mut c| {
                    c.serve_args
                        .extend(crate::workload::slow::serve_args(s, &lane.spec));
                    c
                });
                let resolved = match (
                    budget::cgroup_for(prepared.cgroup_root.as_ref(), s),
                    creds,
                    &prepared.redis,
                ) {
                    (Err(m), _, _) | (_, Err(m), _) => Err(m),
                    (Ok(_), Ok(creds), Some(redis)) if s.nodes > 1 => {
                        if creds.token.is_some() {
                            Err(
                                "`jwt` tokens are not presented to a cluster (`nodes` > 1) yet: \
                                 run `jwt` rows on one node"
                                    .to_string(),
                            )
                        } else {
                            let serve_args = [opts.serve_args.clone(), creds.serve_args].concat();
                            cluster::resolve_nodes(
                                &lane.spec,
                                &opts.wsbench_exe,
                                &serve_args,
                                pinning.server_cpus.clone(),
                                s.nodes,
                                redis,
                            )
                            .await
                        }
                    }
                    (Ok(cgroup), Ok(creds), _) => {
                        let serve_args = [
                            opts.serve_args.clone(),
                            creds.serve_args.clone(),
                            faults::serve_args(s, &lane.spec),
                        ]
                        .concat();
                        resolve_in(
                            &lane.spec,
                            &opts.wsbench_exe,
                            &serve_args,
                            pinning.server_cpus.clone(),
                            cgroup,
                        )
                        .await
                        .map(|mut r| {
                            r.endpoint = creds.apply(r.endpoint.clone());
                            r
                        })
                    }
                };
                let mut resolved = match resolved {
                    Ok(r) => r,
                    Err(m) => {
                        progress.println(&format!("{label}: {m}"));
                        writer.add_failure(&label, &m)?;
                        failures.push(failure(m));
                        continue;
                    }
                };
                let ctx = PointCtx {
                    run_id,
                    repeat,
                    target_name: &lane.name,
                    cancel: &opts.cancel,
                    progress: &progress,
                    loadgen_cores: pinning.loadgen_cores,
                    seed: 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(si as u64 + 1) ^ u64::from(repeat),
                    pvp_variant: lane.variant,
                    engine,
                };
                let result = run_point(&ctx, s, plan, &resolved, connector.clone()).await;
                let died = faults::death_of(s, &mut resolved);
                resolved.stop(SERVER_STOP_GRACE).await;
                let result = faults::record_death(result, died, &label, &progress, writer)?;
                match result {
                    Ok(res) => writer.add_row(res.row, &res.hgrm)?,
                    Err(PointFailure::Cancelled) => break 'points,
                    Err(PointFailure::Failed(m)) => {
                        progress.println(&format!("{label}: {m}"));
                        writer.add_failure(&label, &m)?;
                        failures.push(failure(m));
                    }
                }
            }
        }
    }
    Ok(failures)
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
