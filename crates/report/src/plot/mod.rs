//! SVG plots of a run (plotters, SVG backend; text needs no font files). Every function
//! here is pure: rows and parsed `.hgrm` curves in, SVG text out. [`plots_for_run`] picks
//! the plots a run's rows call for; `run_dir` writes them under `plots/`. Every plot marks
//! the rows where the load generator, not the server, was the limit ([`BOUND_NOTE`]).

mod axis;
mod capacity;
mod connect;
mod legend;
mod marker;
mod polling;
mod spectrum;
mod style;
mod sweep;

use std::collections::BTreeMap;

pub use capacity::{capacity_svg, step_load};
pub use connect::connect_svg;
pub use marker::BOUND_NOTE;
pub use polling::polling_svg;
pub use spectrum::{SpectrumCurve, spectrum_svg};
pub use style::{target_colour, target_order};
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
                    bound: r.loadgen_bound,
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
    fn bound_rows_are_marked_in_every_plot_and_others_are_not() {
        let sweep_rows = |bound: bool| {
            let mut rows = vec![row("tcp", "clients=1"), row("tcp", "clients=2")];
            for r in &mut rows {
                r.lat_p50_us = 100;
                r.lat_p99_us = 300;
                r.deliveries_per_s = 1000.0;
                r.connect_p50_us = 500;
                r.connect_p99_us = 900;
            }
            rows[1].loadgen_bound = bound;
            rows
        };
        let curves = BTreeMap::from([
            (0usize, vec![(0.1, 0.0), (0.3, 0.99)]),
            (1usize, vec![(0.2, 0.0), (0.5, 0.99)]),
        ]);
        let bound = plots_for_run(&sweep_rows(true), &curves).unwrap();
        let plain = plots_for_run(&sweep_rows(false), &curves).unwrap();
        assert_eq!(bound.files.len(), plain.files.len());
        let names: Vec<&str> = bound.files.iter().map(|f| f.file_name.as_str()).collect();
        for prefix in ["spectrum-", "sweep-", "connect-"] {
            assert!(names.iter().any(|n| n.starts_with(prefix)), "{names:?}");
        }
        for f in &bound.files {
            if f.file_name.contains("clients_1") {
                // the spectrum of the unbound point has nothing to mark
                assert!(!f.svg.contains(BOUND_NOTE), "{}", f.file_name);
            } else {
                assert!(f.svg.contains(BOUND_NOTE), "{} is not marked", f.file_name);
            }
        }
        for f in &plain.files {
            assert!(!f.svg.contains('⚑'), "{} is marked", f.file_name);
        }
        // the bound sweep point's marker is hollow: an outlined circle in the target's colour
        let latency = |set: &PlotSet| {
            let f = set
                .files
                .iter()
                .find(|f| f.file_name.ends_with("-latency.svg"));
            f.unwrap().svg.clone()
        };
        let hollow = r##"fill="none" stroke="#7F7F7F""##;
        let hollow_circles = |svg: &str| {
            svg.lines()
                .filter(|l| l.starts_with("<circle") && l.contains(hollow))
                .count()
        };
        assert_eq!(hollow_circles(&latency(&bound)), 1);
        assert_eq!(hollow_circles(&latency(&plain)), 0);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("a/b [c=1, d=2]"), "a_b_c_1_d_2");
        assert_eq!(file_safe("sio=http://x:3000"), "sio_http_x_3000");
    }
}
