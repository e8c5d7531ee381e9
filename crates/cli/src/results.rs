//! `wsbench report` and `wsbench compare`: thin calls into the report crate.

use std::path::Path;

use wsbench_report::{SummaryRow, Threshold};

use crate::args::{CompareArgs, ReportArgs};
use crate::exit;

pub fn report(a: ReportArgs) -> u8 {
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

fn rows(dir: &Path) -> Result<Vec<SummaryRow>, String> {
    let csv = if dir.is_file() {
        dir.to_path_buf()
    } else {
        dir.join("summary.csv")
    };
    wsbench_report::csv::read(&csv).map_err(|e| format!("{}: {e}", csv.display()))
}

pub fn compare(a: CompareArgs) -> u8 {
    let thresholds: Result<Vec<Threshold>, _> = a
        .fail_if
        .iter()
        .map(|t| wsbench_report::parse_threshold(t))
        .collect();
    let thresholds = match thresholds {
        Ok(t) => t,
        Err(e) => {
            eprintln!("wsbench compare: --fail-if: {e}");
            return exit::USAGE;
        }
    };
    let (ra, rb) = match (rows(&a.a), rows(&a.b)) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("wsbench compare: {e}");
            return exit::RUN_ERROR;
        }
    };
    let cmp = wsbench_report::compare(&ra, &rb);
    println!("{}", cmp.render_table());
    let violations = cmp.check(&thresholds);
    if violations.is_empty() {
        exit::OK
    } else {
        for v in &violations {
            eprintln!("threshold failed: {v}");
        }
        exit::THRESHOLD
    }
}
