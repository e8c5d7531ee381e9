//! `wsbench report` and `wsbench compare`: thin calls into the report crate, and their exit
//! codes. A path given on the command line that does not exist or holds no readable
//! summary.csv is a usage error (2), as for `wsbench run`. `compare` that compares nothing
//! fails: no point present in both runs exits 1, or 3 with `--fail-if`, and so does a
//! threshold whose metric no point has in both runs (3).

use std::fs::File;
use std::path::{Path, PathBuf};

use wsbench_report::{Comparison, SummaryRow, Threshold};

use crate::args::{CompareArgs, ReportArgs};
use crate::exit;

/// What went wrong, and the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: String) -> Failure {
        Failure {
            code: exit::USAGE,
            message,
        }
    }

    fn run(message: String) -> Failure {
        Failure {
            code: exit::RUN_ERROR,
            message,
        }
    }
}

/// The summary.csv that a command-line path names: the file itself, or `<dir>/summary.csv`.
/// Fails (usage) when the path does not exist, or the file cannot be opened; the message
/// names the path.
fn summary_csv(path: &Path) -> Result<PathBuf, Failure> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(Failure::usage(format!(
            "cannot read {}: {e}",
            path.display()
        )));
    }
    let csv = if path.is_file() {
        path.to_path_buf()
    } else {
        path.join(wsbench_report::run_dir::SUMMARY_CSV)
    };
    match File::open(&csv) {
        Ok(_) => Ok(csv),
        Err(e) => Err(Failure::usage(format!(
            "cannot read {}: {e} (is {} a run directory written by `wsbench run`?)",
            csv.display(),
            path.display()
        ))),
    }
}

pub fn report(a: ReportArgs) -> u8 {
    if let Err(f) = summary_csv(&a.run_dir) {
        eprintln!("wsbench report: {}", f.message);
        return f.code;
    }
    match wsbench_report::report_dir(&a.run_dir) {
        Ok(r) => {
            for n in &r.notes {
                eprintln!("note: {n}");
            }
            println!("{} rows, {} histograms", r.rows, r.histograms);
            println!("wrote {}", r.report.display());
            for p in &r.plots {
                println!("wrote {}", p.display());
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("wsbench report {}: {e}", a.run_dir.display());
            exit::RUN_ERROR
        }
    }
}

fn rows(path: &Path) -> Result<Vec<SummaryRow>, Failure> {
    let csv = summary_csv(path)?;
    wsbench_report::csv::read(&csv).map_err(|e| Failure::run(format!("{}: {e}", csv.display())))
}

pub fn compare(a: CompareArgs) -> u8 {
    match compare_runs(&a) {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("{}", f.message);
            f.code
        }
    }
}

fn compare_runs(a: &CompareArgs) -> Result<(), Failure> {
    let thresholds = a
        .fail_if
        .iter()
        .map(|t| wsbench_report::parse_threshold(t))
        .collect::<Result<Vec<Threshold>, _>>()
        .map_err(|e| Failure::usage(format!("wsbench compare: --fail-if: {e}")))?;
    let prefixed = |f: Failure| Failure {
        message: format!("wsbench compare: {}", f.message),
        ..f
    };
    let ra = rows(&a.a).map_err(prefixed)?;
    let rb = rows(&a.b).map_err(prefixed)?;
    let cmp = wsbench_report::compare(&ra, &rb);
    println!("{}", cmp.render_table());
    gate(&cmp, &thresholds)
}

/// The verdict on a comparison: nothing compared fails (1, or 3 under `--fail-if`); a
/// threshold that nothing checked or that a point broke fails with 3.
fn gate(cmp: &Comparison, thresholds: &[Threshold]) -> Result<(), Failure> {
    if cmp.points.is_empty() {
        let nothing = "no point is present in both runs: nothing was compared";
        return Err(if thresholds.is_empty() {
            Failure::run(format!("wsbench compare: {nothing}"))
        } else {
            Failure {
                code: exit::THRESHOLD,
                message: format!("threshold failed: {nothing}, so no --fail-if was checked"),
            }
        });
    }
    let mut failed: Vec<String> = cmp
        .unchecked(thresholds)
        .iter()
        .map(|t| {
            format!(
                "threshold failed: {t} checked nothing: no point has {} in both runs",
                t.metric.name()
            )
        })
        .collect();
    failed.extend(
        cmp.check(thresholds)
            .iter()
            .map(|v| format!("threshold failed: {v}")),
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            code: exit::THRESHOLD,
            message: failed.join("\n"),
        })
    }
}
