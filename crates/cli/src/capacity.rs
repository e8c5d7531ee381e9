//! `wsbench capacity`: scenario file + SLO → the load generator's capacity search → the
//! capacity table, `capacity.csv`, the plots, an exit code. Usage errors (an SLO that does
//! not parse, a scenario with a sweep or without a rate) exit 2 before anything runs;
//! Ctrl-C stops the search, keeps every row measured and exits 130.

use std::path::Path;

use tokio_util::sync::CancellationToken;
use wsbench_loadgen::capacity::{By, CapacityOptions, check_searchable, run_capacity};
use wsbench_loadgen::runner::RunOptions;
use wsbench_report::capacity::slo::Slo;
use wsbench_report::capacity::{LimitedBy, format_table};
use wsbench_scenario::Overrides;

use crate::args::CapacityArgs;
use crate::exit;

/// `--max` when not given: this many times the starting load (six doublings).
const DEFAULT_MAX_FACTOR: f64 = 64.0;

pub fn main(a: CapacityArgs) -> u8 {
    let usage = |m: String| {
        eprintln!("wsbench capacity: {m}");
        exit::USAGE
    };
    let slo = match Slo::parse(&a.slo) {
        Ok(s) => s,
        Err(e) => return usage(format!("--slo: {e}")),
    };
    if !(a.precision > 0.0 && a.precision.is_finite()) {
        return usage(format!(
            "--precision must be more than 0, not {}",
            a.precision
        ));
    }
    if let Err(e) = wsbench_servers::config::DatabaseConfig::parse(&a.database) {
        return usage(format!("--database: {e}"));
    }
    let by = if a.by == "clients" {
        By::Clients
    } else {
        By::Rate
    };
    let overrides = Overrides {
        targets: a.targets.clone(),
        quick: a.quick,
        server_cpus: a.server_cpus,
        ..Overrides::default()
    };
    let mut points = match wsbench_scenario::load(&a.scenario, &overrides) {
        Ok(p) => p,
        Err(e) => return usage(e.to_string()),
    };
    if points.len() != 1 {
        return usage(format!(
            "{}: the scenario has a [sweep] ({} points); a capacity search needs one point: \
             remove the sweep (the search itself steps the {})",
            a.scenario.display(),
            points.len(),
            by.key()
        ));
    }
    let scenario = points.remove(0);
    if let Err(m) = check_searchable(&scenario, by) {
        return usage(m);
    }
    let start = by.start(&scenario);
    let max = a.max.unwrap_or(start * DEFAULT_MAX_FACTOR);
    if !(max > 0.0 && max.is_finite()) {
        return usage(format!("--max must be more than 0, not {max}"));
    }
    let out_dir = a
        .out
        .clone()
        .unwrap_or_else(|| crate::run::default_out_dir(&format!("{}-capacity", scenario.name)));
    let wsbench_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wsbench capacity: cannot find my own executable to start servers: {e}");
            return exit::RUN_ERROR;
        }
    };
    let cancel = CancellationToken::new();
    let mut run = RunOptions::new(Vec::new(), &out_dir);
    run.wsbench_exe = wsbench_exe;
    if a.database != "sqlite" {
        run.serve_args = vec!["--database".into(), a.database.clone()];
    }
    run.cancel = cancel.clone();
    run.progress = !a.no_progress;
    run.scenario_toml = std::fs::read_to_string(&a.scenario).ok();
    run.scenario_file = Some(a.scenario.display().to_string());
    eprintln!(
        "wsbench capacity: {} by {} from {} to at most {} {}, SLO {slo}, precision {}",
        scenario.name,
        by.key(),
        start.min(max),
        max,
        by.unit(),
        a.precision
    );
    let opts = CapacityOptions {
        scenario,
        slo,
        by,
        max,
        precision: a.precision,
        run,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wsbench capacity: cannot start the runtime: {e}");
            return exit::RUN_ERROR;
        }
    };
    let outcome = rt.block_on(async move {
        let watcher = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "\nwsbench capacity: interrupted: stopping, writing what was measured \
                     (Ctrl-C again to quit at once)"
                );
                watcher.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(i32::from(exit::INTERRUPTED));
                }
            }
        });
        run_capacity(opts).await
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("wsbench capacity: {e}");
            return exit::RUN_ERROR;
        }
    };
    println!("{}", format_table(&outcome.capacities));
    for c in &outcome.capacities {
        if c.capacity == 0.0 && c.limited_by.is_some() {
            eprintln!(
                "wsbench capacity: {}: capacity 0: the first step ({} {}) already failed; \
                 lower the scenario's starting {} to search below it",
                c.target,
                c.failed_at.unwrap_or(0.0),
                c.unit,
                by.key()
            );
        }
    }
    report(&out_dir, &outcome.capacity_csv);
    let unmeasured = outcome
        .capacities
        .iter()
        .any(|c| c.limited_by == Some(LimitedBy::Errors) && c.note.contains("not measured"));
    if outcome.interrupted {
        exit::INTERRUPTED
    } else if unmeasured {
        eprintln!(
            "wsbench capacity: some steps could not be measured; see {}",
            outcome.meta_json.display()
        );
        exit::RUN_ERROR
    } else {
        exit::OK
    }
}

/// Plots and report.md, when any row was measured.
fn report(out_dir: &Path, capacity_csv: &Path) {
    if !out_dir.join(wsbench_report::run_dir::SUMMARY_CSV).exists() {
        println!("results: {} (no step measured)", out_dir.display());
        return;
    }
    match wsbench_report::report_dir(out_dir) {
        Ok(r) => {
            for n in &r.notes {
                eprintln!("report: {n}");
            }
            println!(
                "results: {} (capacity: {}, report: {})",
                out_dir.display(),
                capacity_csv.display(),
                r.report.display()
            );
        }
        Err(e) => eprintln!(
            "wsbench capacity: results are in {}, but the report failed: {e}",
            out_dir.display()
        ),
    }
}
