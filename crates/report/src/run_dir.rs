//! A run directory as a whole: the names of its files, and `wsbench report <run-dir>` —
//! read `summary.csv`, the `.hgrm` files and `meta.json`, write `plots/*.svg` and
//! `report.md`. Optional files may be missing; the report says what it had to skip.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::markdown::{self, PlotLink};
use crate::meta::Meta;
use crate::plot::{PlotFile, PlotSet, capacity_svg, file_safe, plots_for_run};
use crate::row::SummaryRow;
use crate::{ReportError, atomic_file, capacity, csv, hgrm};

/// `summary.csv`: one row per target × sweep point × repeat.
pub const SUMMARY_CSV: &str = "summary.csv";
/// `meta.json`: machine, versions, scenario as run.
pub const META_JSON: &str = "meta.json";
/// `report.md`, written by [`report_dir`].
pub const REPORT_MD: &str = "report.md";
/// Directory of the SVG plots, written by [`report_dir`].
pub const PLOTS_DIR: &str = "plots";

/// What [`report_dir`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// Rows read from summary.csv.
    pub rows: usize,
    /// Rows that had a readable `.hgrm` file.
    pub histograms: usize,
    /// The report written.
    pub report: PathBuf,
    /// Plots written.
    pub plots: Vec<PathBuf>,
    /// What was skipped and why (also listed in the report).
    pub notes: Vec<String>,
}

/// File name (in the run dir) of the latency `.hgrm` of `row`:
/// `lat_<scenario>_<variant>_<sweep>_<target>_r<repeat>.hgrm`, unsafe characters as `_`.
/// The load generator writes it with [`hgrm::percentile_distribution`] (µs recorded,
/// [`hgrm::US_TO_MS`] scale); [`report_dir`] finds it by the same name.
pub fn hgrm_file_name(row: &SummaryRow) -> String {
    let mut parts = vec![row.scenario.as_str()];
    for p in [row.variant.as_str(), row.sweep.as_str()] {
        if !p.is_empty() {
            parts.push(p);
        }
    }
    parts.push(row.target.as_str());
    format!("lat_{}_r{}.hgrm", file_safe(&parts.join("_")), row.repeat)
}

/// Reads a run directory and writes `plots/*.svg` and `report.md` into it.
/// `summary.csv` is required; `meta.json` and `.hgrm` files are optional.
pub fn report_dir(run_dir: &Path) -> Result<ReportSummary, ReportError> {
    let rows = csv::read(&run_dir.join(SUMMARY_CSV))?;
    let mut notes = Vec::new();

    let meta_path = run_dir.join(META_JSON);
    let meta = if meta_path.exists() {
        match Meta::read(&meta_path) {
            Ok(m) => Some(m),
            Err(e) => {
                notes.push(format!("meta.json not used: {e}"));
                None
            }
        }
    } else {
        notes.push("no meta.json: machine facts and versions are unknown".to_owned());
        None
    };

    let mut curves: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    let mut missing = 0usize;
    for (i, r) in rows.iter().enumerate() {
        let p = run_dir.join(hgrm_file_name(r));
        match fs::read_to_string(&p) {
            Ok(text) => {
                let pts = hgrm::parse_hgrm(&text);
                if pts.is_empty() {
                    notes.push(format!("{} has no percentile rows", p.display()));
                } else {
                    curves.insert(i, pts);
                }
            }
            Err(_) => missing += 1,
        }
    }
    if missing > 0 {
        notes.push(format!(
            "{missing} of {} rows have no .hgrm file: their latency spectra are not plotted",
            rows.len()
        ));
    }

    let mut set = plots_for_run(&rows, &curves)?;
    let caps = capacity_plots(run_dir, &rows, &mut set, &mut notes)?;
    notes.extend(set.skipped.iter().cloned());
    let plots_dir = run_dir.join(PLOTS_DIR);
    let mut written = Vec::new();
    let mut links = Vec::new();
    if !set.files.is_empty() {
        fs::create_dir_all(&plots_dir).map_err(|source| ReportError::Write {
            path: plots_dir.clone(),
            source,
        })?;
    }
    for f in &set.files {
        let p = plots_dir.join(&f.file_name);
        atomic_file::write_atomic(&p, f.svg.as_bytes())?;
        written.push(p);
        links.push(PlotLink {
            title: f.title.clone(),
            path: format!("{PLOTS_DIR}/{}", f.file_name),
        });
    }

    let report = run_dir.join(REPORT_MD);
    let mut md = markdown::render(&rows, meta.as_ref(), &links, &notes);
    if let Some(caps) = caps {
        md.push_str(&capacity_section(&caps));
    }
    atomic_file::write_atomic(&report, md.as_bytes())?;
    Ok(ReportSummary {
        rows: rows.len(),
        histograms: curves.len(),
        report,
        plots: written,
        notes,
    })
}

/// A capacity run (`capacity.csv` beside `summary.csv`): one plot per target of latency
/// against offered load, with the SLO and the capacity marked, instead of a latency
/// spectrum per step (tens of one-line plots; the `.hgrm` files stay). Returns the
/// capacities read.
fn capacity_plots(
    run_dir: &Path,
    rows: &[SummaryRow],
    set: &mut PlotSet,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<capacity::CapacityRow>>, ReportError> {
    let path = run_dir.join(capacity::CAPACITY_CSV);
    if !path.exists() {
        return Ok(None);
    }
    let caps = match capacity::read(&path) {
        Ok(c) => c,
        Err(e) => {
            notes.push(format!("capacity plots not drawn: {e}"));
            return Ok(None);
        }
    };
    let spectra = set.files.len();
    set.files.retain(|f| !f.file_name.starts_with("spectrum-"));
    let dropped = spectra - set.files.len();
    if dropped > 0 {
        notes.push(format!(
            "capacity run: the {dropped} per-step latency spectra are not drawn (each step's \
             .hgrm is kept); the capacity plots show the percentiles against load"
        ));
    }
    for cap in &caps {
        let var = if cap.unit == "clients" {
            "clients"
        } else {
            "rate"
        };
        let steps: Vec<&SummaryRow> = rows.iter().filter(|r| r.target == cap.target).collect();
        if steps.is_empty() {
            set.skipped
                .push(format!("capacity of {}: no step rows", cap.target));
            continue;
        }
        let title = format!("Capacity of {} ({})", cap.target, cap.slo);
        set.files.push(PlotFile {
            file_name: format!("capacity-{}.svg", file_safe(&cap.target)),
            svg: capacity_svg(cap, &steps, var)?,
            title,
        });
    }
    Ok(Some(caps))
}

/// The capacity table of report.md (the terminal's, in a code block).
fn capacity_section(caps: &[capacity::CapacityRow]) -> String {
    format!(
        "\n## Capacity\n\nFrom `capacity.csv`: the highest load that met the SLO with 0 lost, \
         0 errors and the load generator not the limit.\n\n```\n{}\n```\n",
        capacity::format_table(caps)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_names_are_file_safe_and_distinct_per_row() {
        let mut r = SummaryRow {
            scenario: "broadcast".into(),
            variant: "to_all".into(),
            sweep: "clients=100;rate=5000".into(),
            target: "sio=http://127.0.0.1:3000".into(),
            repeat: 2,
            ..SummaryRow::default()
        };
        assert_eq!(
            hgrm_file_name(&r),
            "lat_broadcast_to_all_clients_100_rate_5000_sio_http_127.0.0.1_3000_r2.hgrm"
        );
        r.sweep.clear();
        r.variant.clear();
        r.target = "tcp".into();
        assert_eq!(hgrm_file_name(&r), "lat_broadcast_tcp_r2.hgrm");
    }

    #[test]
    fn a_missing_summary_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = report_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("summary.csv"), "{e}");
    }
}
