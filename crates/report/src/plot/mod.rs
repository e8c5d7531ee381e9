//! SVG plots of a run (plotters, SVG backend; text needs no font files). Every function
//! here is pure: rows and parsed `.hgrm` curves in, SVG text out. [`plots_for_run`] picks
//! the plots a run's rows call for; `run_dir` writes them under `plots/`.

mod axis;
mod connect;
mod legend;
mod polling;
mod spectrum;
mod style;
mod sweep;

use std::collections::BTreeMap;

pub use connect::connect_svg;
pub use polling::polling_svg;
pub use spectrum::{SpectrumCurve, spectrum_svg};
pub use style::target_colour;
pub use sweep::{SweepSlice, latency_svg, rate_svg, sweep_slices};

use crate::ReportError;
use crate::row::SummaryRow;

/// One rendered plot.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotFile {
    /// File name under `plots/` (`spectrum-broadcast-to_all.svg`).
    pub file_name: String,
    /// What it shows, for the report's headings.
    pub title: String,
    pub svg: String,
}

/// The plots of a run, and why any expected plot was not drawn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlotSet {
    pub files: Vec<PlotFile>,
    pub skipped: Vec<String>,
}

/// Renders every plot the rows call for. `curves[i]` is row `i`'s latency spectrum (parsed
/// `.hgrm`, ms), absent when the run has no histogram for that row.
pub fn plots_for_run(
    rows: &[SummaryRow],
    curves: &BTreeMap<usize, Vec<(f64, f64)>>,
) -> Result<PlotSet, ReportError> {
    let mut set = PlotSet::default();

    // Spectra: one per (scenario, variant, sweep point), every target overlaid.
    let mut points: BTreeMap<(String, String, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        points
            .entry((r.scenario.clone(), r.variant.clone(), r.sweep.clone()))
            .or_default()
            .push(i);
    }
    for ((scenario, variant, sweep), idx) in &points {
        let name = point_name(scenario, variant, sweep);
        let cs: Vec<SpectrumCurve> = idx
            .iter()
            .filter_map(|i| {
                let r = &rows[*i];
                let pts = curves.get(i)?;
                Some(SpectrumCurve {
                    target: r.target.clone(),
                    repeat: r.repeat,
                    points: pts.clone(),
                })
            })
            .collect();
        if cs.is_empty() {
            set.skipped
                .push(format!("latency spectrum of {name}: no .hgrm files"));
            continue;
        }
        let title = format!("Latency by percentile: {name}");
        set.files.push(PlotFile {
            file_name: format!("spectrum-{}.svg", file_safe(&name)),
            svg: spectrum_svg(&title, &cs)?,
            title,
        });
    }

    // Sweeps: latency and rate against each numeric sweep variable.
    for slice in sweep_slices(rows) {
        let base = file_safe(&slice.title().replace(" vs ", "-"));
        let title = slice.title();
        set.files.push(PlotFile {
            file_name: format!("sweep-{base}-latency.svg"),
            title: format!("Latency: {title}"),
            svg: latency_svg(&slice)?,
        });
        set.files.push(PlotFile {
            file_name: format!("sweep-{base}-rate.svg"),
            title: format!("Delivered rate: {title}"),
            svg: rate_svg(&slice)?,
        });
    }

    // Per (scenario, variant): connect times, and polling vs push where it applies.
    let mut workloads: BTreeMap<(String, String), Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows {
        workloads
            .entry((r.scenario.clone(), r.variant.clone()))
            .or_default()
            .push(r);
    }
    for ((scenario, variant), rs) in &workloads {
        let name = point_name(scenario, variant, "");
        if rs.iter().any(|r| r.connect_p99_us > 0) {
            let title = format!("Connect time: {name}");
            set.files.push(PlotFile {
                file_name: format!("connect-{}.svg", file_safe(&name)),
                svg: connect_svg(&title, rs)?,
                title,
            });
        } else {
            set.skipped
                .push(format!("connect time of {name}: no connect measurements"));
        }
    }
    let mut scenarios: BTreeMap<&str, Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows {
        scenarios.entry(r.scenario.as_str()).or_default().push(r);
    }
    for (scenario, rs) in scenarios {
        if polling::applies(&rs) {
            let title = format!("Polling vs push: {scenario}");
            set.files.push(PlotFile {
                file_name: format!("polling-{}.svg", file_safe(scenario)),
                svg: polling_svg(&title, &rs)?,
                title,
            });
        }
    }
    Ok(set)
}

/// "scenario/variant [sweep]" for titles.
fn point_name(scenario: &str, variant: &str, sweep: &str) -> String {
    let mut s = scenario.to_owned();
    if !variant.is_empty() {
        s = format!("{s}/{variant}");
    }
    if !sweep.is_empty() {
        s = format!("{s} [{}]", sweep.replace(';', ", "));
    }
    s
}

/// Keeps `[A-Za-z0-9._-]`, maps every other run of characters to one `_`.
pub fn file_safe(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, sweep: &str) -> SummaryRow {
        SummaryRow {
            scenario: "echo".into(),
            target: target.into(),
            sweep: sweep.into(),
            repeat: 1,
            ..SummaryRow::default()
        }
    }

    #[test]
    fn degenerate_rows_still_render() {
        // All-zero measurements, one target, no sweep, a spectrum of zeros.
        let rows = vec![row("tcp", "")];
        let curves = BTreeMap::from([(0usize, vec![(0.0, 0.0), (0.0, 1.0)])]);
        let set = plots_for_run(&rows, &curves).unwrap();
        assert_eq!(set.files.len(), 1, "{:?}", set.skipped);
        assert!(set.files[0].svg.contains("</svg>"));
        assert!(set.skipped.iter().any(|s| s.contains("connect")));
        // Zeros on a sweep, with a non-numeric sweep value beside numeric ones.
        let rows = vec![
            row("tcp", "clients=1"),
            row("tcp", "clients=2"),
            row("ws", "clients=many"),
        ];
        let set = plots_for_run(&rows, &BTreeMap::new()).unwrap();
        assert!(
            set.files
                .iter()
                .any(|f| f.file_name == "sweep-echo-clients-latency.svg")
        );
        assert_eq!(
            set.skipped
                .iter()
                .filter(|s| s.contains("no .hgrm"))
                .count(),
            3
        );
    }

    #[test]
    fn every_target_keeps_its_colour_in_the_svg() {
        let mut a = row("sio-socketioxide", "");
        a.connect_p50_us = 500;
        a.connect_p99_us = 900;
        let svg = &plots_for_run(&[a], &BTreeMap::new()).unwrap().files[0].svg;
        let c = target_colour("sio-socketioxide");
        let hex = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
        assert!(svg.contains(&hex), "{hex} not in svg");
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("a/b [c=1, d=2]"), "a_b_c_1_d_2");
        assert_eq!(file_safe("sio=http://x:3000"), "sio_http_x_3000");
    }
}
