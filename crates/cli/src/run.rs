//! `wsbench run`: scenario file + flags → validated scenario points → the load generator's
//! runner → paired table, report, exit code. Ctrl-C stops the run, keeps what was measured
//! (marked partial) and exits 130; a second Ctrl-C exits at once.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;
use wsbench_loadgen::runner::{RunOptions, format_table};
use wsbench_scenario::Overrides;

use crate::args::RunArgs;
use crate::exit;

fn overrides(a: &RunArgs) -> Overrides {
    Overrides {
        targets: a.targets.clone(),
        clients: a.clients,
        publishers: a.publishers,
        rate: a.rate,
        payload_bytes: a.payload_bytes,
        warmup_s: a.warmup_s,
        measure_s: a.measure_s,
        drain_s: a.drain_s,
        quick: a.quick,
        server_cpus: a.server_cpus,
        floor: a.floor,
        nodes: a.nodes,
    }
}

/// `results/<name>-<UTC yyyymmdd-hhmmss>` (git-ignored by that shape, unlike the committed
/// result directories; see `.gitignore`)
pub(crate) fn default_out_dir(scenario_name: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .map(|c| if c == 'T' { '-' } else { c })
        .collect();
    Path::new("results").join(format!("{scenario_name}-{compact}"))
}

pub fn main(a: RunArgs) -> u8 {
    if a.repeat == 0 {
        eprintln!("wsbench run: --repeat must be at least 1");
        return exit::USAGE;
    }
    if let Err(e) = wsbench_servers::config::DatabaseConfig::parse(&a.database) {
        eprintln!("wsbench run: --database: {e}");
        return exit::USAGE;
    }
    let points = match wsbench_scenario::load(&a.scenario, &overrides(&a)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wsbench run: {e}");
            return exit::USAGE;
        }
    };
    let scenario_text = std::fs::read_to_string(&a.scenario).ok();
    let out_dir = a
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&points[0].name));
    let wsbench_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wsbench run: cannot find my own executable to start servers: {e}");
            return exit::RUN_ERROR;
        }
    };
    let cancel = CancellationToken::new();
    let mut opts = RunOptions::new(points, &out_dir);
    opts.repeat = a.repeat;
    opts.wsbench_exe = wsbench_exe;
    if a.database != "sqlite" {
        opts.serve_args = vec!["--database".into(), a.database.clone()];
    }
    opts.redis = a.redis.clone();
    opts.cancel = cancel.clone();
    // On a terminal a live line; piped (CI, logs) a plain line every few seconds.
    opts.progress = !a.no_progress;
    opts.scenario_toml = scenario_text;
    opts.scenario_file = Some(a.scenario.display().to_string());

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wsbench run: cannot start the runtime: {e}");
            return exit::RUN_ERROR;
        }
    };
    let outcome = rt.block_on(async move {
        let watcher = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nwsbench run: interrupted: stopping, draining, writing what was measured (Ctrl-C again to quit at once)");
                watcher.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(i32::from(exit::INTERRUPTED));
                }
            }
        });
        wsbench_loadgen::runner::run(opts).await
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("wsbench run: {e}");
            return exit::RUN_ERROR;
        }
    };

    println!("{}", format_table(&outcome.rows));
    if let Some(s) = wsbench_loadgen::runner::pvp_summary::format_pvp_summary(&outcome.rows) {
        println!("{s}");
    }
    for f in &outcome.failures {
        eprintln!(
            "wsbench run: {} (repeat {}): not measured: {}",
            f.target, f.repeat, f.message
        );
    }
    if !outcome.failures.is_empty() {
        eprintln!(
            "wsbench run: the rows not measured and why are recorded in {}",
            outcome.meta_json.display()
        );
    }
    if outcome.rows.is_empty() {
        println!(
            "results: {} (no row measured; see {})",
            out_dir.display(),
            outcome.meta_json.display()
        );
    } else {
        match wsbench_report::report_dir(&out_dir) {
            Ok(r) => {
                for n in &r.notes {
                    eprintln!("report: {n}");
                }
                println!(
                    "results: {} (report: {})",
                    out_dir.display(),
                    r.report.display()
                );
            }
            Err(e) => eprintln!(
                "wsbench run: results are in {}, but the report failed: {e}",
                out_dir.display()
            ),
        }
    }
    let disagree: Vec<_> = outcome
        .rows
        .iter()
        .filter(|r| r.db_counts_agree == Some(false))
        .collect();
    for r in &disagree {
        eprintln!(
            "wsbench run: {} {} {}: database query counts disagree: app {:?} vs engine {:?}",
            r.target, r.variant, r.sweep, r.db_queries_app, r.db_queries_engine
        );
    }
    if outcome.interrupted {
        exit::INTERRUPTED
    } else if !outcome.failures.is_empty() || !disagree.is_empty() {
        exit::RUN_ERROR
    } else {
        exit::OK
    }
}
