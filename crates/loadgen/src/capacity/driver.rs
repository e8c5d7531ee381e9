//! Runs a capacity search through the runner's seams: everything that can be refused is
//! refused up front (`runner::prepare` at the highest load, so the open-file limit and the
//! CPU budget are checked before a socket opens), then per target the steps the
//! [`Search`] asks for, each one ordinary row (`runner::point::run_point`) against a server
//! started for that step alone (in its own budget cgroup), handed to the
//! [`ResultsWriter`] as it finishes. `capacity.csv` and the search in `meta.json` are
//! rewritten after every step, so Ctrl-C (or a crash) keeps everything measured.
//!
//! A fresh server per step, as `wsbench run` does per row: no backlog, memory or socket
//! state of a failed (overloaded) step carries into the next one, and the server columns
//! (CPU, peak RSS, throttling) of each row are that step's alone. It costs a server start
//! per step (milliseconds for the Rust servers, about a second for the Node peers).

use std::path::PathBuf;
use std::sync::Arc;

use wsbench_report::ResultsWriter;
use wsbench_report::capacity::slo::Slo;
use wsbench_report::capacity::{self, CapacityRow, CapacitySearch, LimitedBy, StepRecord};
use wsbench_report::row::SummaryRow;
use wsbench_scenario::Scenario;

use super::search::{Search, Verdict};
use super::{By, load_label, step_scenario, verdict};
use crate::row::{PointCtx, PointFailure};
use crate::runner::point::run_point;
use crate::runner::progress::Progress;
use crate::runner::target::resolve_in;
use crate::runner::{
    Lane, Pinning, RunError, RunOptions, SERVER_STOP_GRACE, budget, create_writer, pin, prepare,
    start_engine, start_meta,
};
use crate::workload::connect::{Connector, DefaultConnector};
use crate::workload::plan;

/// What to search and where to put the results.
#[derive(Debug, Clone)]
pub struct CapacityOptions {
    /// The scenario point (one; no sweep), with its targets.
    pub scenario: Scenario,
    pub slo: Slo,
    pub by: By,
    /// The highest load tried.
    pub max: f64,
    /// Bisection stops when failing/passing ≤ 1 + precision.
    pub precision: f64,
    /// Run options as `wsbench run` takes them (out_dir, exe, serve args, cancel, progress,
    /// scenario text); their `scenarios` are ignored.
    pub run: RunOptions,
}

/// What a search produced.
#[derive(Debug, Clone)]
pub struct CapacityOutcome {
    /// One per target searched (in target order), as in `capacity.csv`.
    pub capacities: Vec<CapacityRow>,
    /// Every step's row (also in `summary.csv`).
    pub rows: Vec<SummaryRow>,
    pub interrupted: bool,
    pub capacity_csv: PathBuf,
    pub meta_json: PathBuf,
}

/// Runs the search on every target of `opts.scenario`.
pub async fn run_capacity(opts: CapacityOptions) -> Result<CapacityOutcome, RunError> {
    run_capacity_with(opts, Arc::new(DefaultConnector)).await
}

/// [`run_capacity`] with a chosen way of opening connections.
pub async fn run_capacity_with<C: Connector>(
    opts: CapacityOptions,
    connector: Arc<C>,
) -> Result<CapacityOutcome, RunError> {
    let _ = crate::schedule::epoch();
    // Checked at the highest load: its clients need the most file descriptors.
    let mut check = opts.run.clone();
    check.scenarios = vec![step_scenario(&opts.scenario, opts.by, opts.max)];
    let prepared = prepare(&check)?;
    let run_id = opts.run.run_id.clone().unwrap_or_else(|| {
        opts.run.out_dir.file_name().map_or_else(
            || "capacity".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        )
    });
    let mut meta = start_meta(&check, &run_id, &prepared);
    let pinning = pin(prepared.spawns_servers);
    let engine = start_engine(&check, &pinning)?;
    meta.notes.extend(engine.refused());
    budget::record(
        &mut meta,
        prepared.cgroup_root.as_ref(),
        &check.scenarios,
        pinning.server_cpus.as_ref().map(Vec::len),
    );
    meta.capacity = Some(CapacitySearch {
        slo: opts.slo.to_string(),
        by: opts.by.key().to_owned(),
        unit: opts.by.unit().to_owned(),
        start: opts.by.start(&opts.scenario).min(opts.max),
        max: opts.max,
        precision: opts.precision,
        steps: Vec::new(),
    });
    let mut writer = create_writer(&opts.run.out_dir, pinning.record(meta))?;
    let capacity_csv = opts.run.out_dir.join(capacity::CAPACITY_CSV);
    let mut search = Searcher {
        opts: &opts,
        pinning: &pinning,
        engine: &engine,
        cgroup_root: prepared.cgroup_root.as_ref(),
        run_id: &run_id,
        progress: Progress::start(opts.run.progress),
        capacities: Vec::new(),
        capacity_csv: capacity_csv.clone(),
    };
    let lanes = prepared.lanes.first().cloned().unwrap_or_default();
    let result = async {
        for lane in &lanes {
            if opts.run.cancel.is_cancelled() {
                break;
            }
            search.target(lane, &mut writer, connector.clone()).await?;
        }
        Ok::<(), wsbench_report::ReportError>(())
    }
    .await;
    if let Err(e) = result {
        let message = format!("cannot write results: {e}");
        return Err(match writer.abort(&message) {
            Ok(meta) => RunError::Aborted { message, meta },
            Err(_) => RunError::Output(e),
        });
    }
    let interrupted = opts.run.cancel.is_cancelled();
    let meta_json = writer.meta_json();
    let capacities = search.capacities;
    let rows = writer.finish(interrupted)?;
    Ok(CapacityOutcome {
        capacities,
        rows,
        interrupted,
        capacity_csv,
        meta_json,
    })
}

/// The state shared by every target's search.
struct Searcher<'a> {
    opts: &'a CapacityOptions,
    pinning: &'a Pinning,
    engine: &'a crate::engine::Engine,
    cgroup_root: Option<&'a crate::cgroup::CgroupRoot>,
    run_id: &'a str,
    progress: Progress,
    /// Finished (and the current) targets' rows of `capacity.csv`.
    capacities: Vec<CapacityRow>,
    capacity_csv: PathBuf,
}

impl Searcher<'_> {
    /// One target's search, step by step; `capacity.csv` is rewritten after each step.
    async fn target<C: Connector>(
        &mut self,
        lane: &Lane,
        writer: &mut ResultsWriter,
        connector: Arc<C>,
    ) -> Result<(), wsbench_report::ReportError> {
        let o = self.opts;
        let mut search = Search::new(
            o.by.start(&o.scenario),
            o.max,
            o.precision,
            o.by == By::Clients,
        );
        let mut detail_at_fail = String::new();
        let mut p99_at: Vec<(f64, u64)> = Vec::new();
        self.capacities.push(CapacityRow {
            target: lane.name.clone(),
            unit: o.by.unit().to_owned(),
            slo: o.slo.to_string(),
            server_cpus: o.scenario.server_cpus,
            partial: true,
            ..CapacityRow::default()
        });
        while let Some(load) = search.next_load() {
            if o.run.cancel.is_cancelled() {
                break;
            }
            let step = self.step(lane, load, writer, connector.clone()).await?;
            let Some((v, detail, p99)) = step else {
                break; // cancelled before anything was measured
            };
            if v == Verdict::Pass {
                p99_at.push((load, p99.unwrap_or(0)));
            } else {
                detail_at_fail = format!("at {} {}: {detail}", load_label(load), o.by.unit());
            }
            let failed_by = match v {
                Verdict::Pass => None,
                Verdict::Fail(l) => Some(l),
            };
            self.progress.println(&format!(
                "capacity {} {}={}: p99 {} -> {}",
                lane.name,
                o.by.key(),
                load_label(load),
                p99.map_or("-".to_owned(), |p| capacity::slo::human_us(p as f64)),
                match failed_by {
                    None => "pass".to_owned(),
                    Some(l) => format!("fail ({}: {detail})", l.name()),
                }
            ));
            writer.update_meta(|m| {
                if let Some(c) = m.capacity.as_mut() {
                    c.steps.push(StepRecord {
                        target: lane.name.clone(),
                        load,
                        pass: v == Verdict::Pass,
                        failed_by,
                        detail: detail.clone(),
                    });
                }
            })?;
            search.record(v);
            let found = search.found();
            let row = self.capacities.last_mut().expect("pushed above");
            row.capacity = found.capacity;
            row.limited_by = found.limited_by;
            row.failed_at = found.failed_at;
            row.steps = found.steps;
            row.p99_at_capacity_us = p99_at
                .iter()
                .find(|(l, _)| *l == found.capacity)
                .map(|p| p.1);
            row.partial = found.limited_by.is_none();
            row.note = match found.limited_by {
                Some(LimitedBy::Max) => format!(
                    "every step passed up to --max {} {}",
                    load_label(o.max),
                    o.by.unit()
                ),
                Some(_) if found.capacity == 0.0 => {
                    format!("the first step failed, so capacity is 0; {detail_at_fail}")
                }
                Some(_) => detail_at_fail.clone(),
                None => "interrupted: capacity is the highest load known to pass".to_owned(),
            };
            capacity::write_atomic(&self.capacity_csv, &self.capacities)?;
        }
        if self.capacities.last().is_some_and(|r| r.steps == 0) {
            self.capacities.pop();
        }
        capacity::write_atomic(&self.capacity_csv, &self.capacities)
    }

    /// One step: a fresh server at `load`, one row. `None` when cancelled before the
    /// measure phase; a row that could not be measured fails the step as `errors`.
    async fn step<C: Connector>(
        &self,
        lane: &Lane,
        load: f64,
        writer: &mut ResultsWriter,
        connector: Arc<C>,
    ) -> Result<Option<(Verdict, String, Option<u64>)>, wsbench_report::ReportError> {
        let o = self.opts;
        let s = step_scenario(&o.scenario, o.by, load);
        let label = format!("{} {} {}", s.name, s.sweep_label(), lane.name);
        self.progress.row(label.clone());
        let failed = |m: String| (Verdict::Fail(LimitedBy::Errors), m, None);
        let plan = match plan(&s) {
            Ok(p) => p,
            Err(e) => {
                writer.add_failure(&label, &e.to_string())?;
                return Ok(Some(failed(e.to_string())));
            }
        };
        let resolved = match budget::cgroup_for(self.cgroup_root, &s) {
            Ok(cgroup) => {
                resolve_in(
                    &lane.spec,
                    &o.run.wsbench_exe,
                    &o.run.serve_args,
                    self.pinning.server_cpus.clone(),
                    cgroup,
                )
                .await
            }
            Err(m) => Err(m),
        };
        let resolved = match resolved {
            Ok(r) => r,
            Err(m) => {
                writer.add_failure(&label, &m)?;
                return Ok(Some(failed(format!("not measured: {m}"))));
            }
        };
        let ctx = PointCtx {
            run_id: self.run_id,
            repeat: 1,
            target_name: &lane.name,
            cancel: &o.run.cancel,
            progress: &self.progress,
            loadgen_cores: self.pinning.loadgen_cores,
            seed: 0x9e37_79b9_7f4a_7c15_u64 ^ load.to_bits(),
            pvp_variant: None,
            engine: self.engine,
        };
        let result = run_point(&ctx, &s, &plan, &resolved, connector).await;
        if let Some(child) = resolved.child {
            child.stop(SERVER_STOP_GRACE).await;
        }
        match result {
            Ok(res) => {
                let (v, detail) = verdict(&res.row, &o.slo);
                // a step cut short by Ctrl-C is kept as a row but decides nothing
                let partial = res.row.partial;
                let p99 = res.row.lat_p99_us;
                writer.add_row(res.row, &res.hgrm)?;
                Ok((!partial).then_some((v, detail, Some(p99))))
            }
            Err(PointFailure::Cancelled) => Ok(None),
            Err(PointFailure::Failed(m)) => {
                writer.add_failure(&label, &m)?;
                Ok(Some(failed(format!("not measured: {m}"))))
            }
        }
    }
}
