//! Sweep plots: latency (p50 dashed, p99 solid) and delivered rate against each numeric
//! sweep variable, one line per target, medians over trials with min–max bars; a point
//! where some trial was load-generator bound has a hollow marker.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::style::{
    Axis, LegendEntry, Marker, SIZE, Series, line_chart, plot_err, target_colour, target_order,
};

/// One target's line: (x, spread of the metric) sorted by x, and the x of every point where
/// some trial was load-generator bound.
struct Curve {
    target: String,
    points: Vec<(f64, Spread)>,
    bound_x: Vec<f64>,
}
use crate::ReportError;
use crate::metric::{Metric, Spread, sweep_pairs};
use crate::row::SummaryRow;

/// One sweep chart's data: rows of one (scenario, variant) whose sweep labels differ only in
/// `var` (the other variables fixed at `fixed`).
pub struct SweepSlice<'a> {
    pub scenario: String,
    pub variant: String,
    pub var: String,
    pub fixed: Vec<(String, String)>,
    pub rows: Vec<&'a SummaryRow>,
}

/// Finds every sweep variable with at least two numeric values in `rows` and slices the
/// rows by the values of the other variables.
pub fn sweep_slices(rows: &[SummaryRow]) -> Vec<SweepSlice<'_>> {
    let mut by_workload: BTreeMap<(String, String), Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows {
        by_workload
            .entry((r.scenario.clone(), r.variant.clone()))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for ((scenario, variant), rs) in by_workload {
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in &rs {
            for (k, v) in sweep_pairs(&r.sweep) {
                if let Ok(x) = v.parse::<f64>() {
                    values.entry(k).or_default().push(x);
                }
            }
        }
        for (var, mut xs) in values {
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            if xs.len() < 2 {
                continue;
            }
            let mut slices: BTreeMap<Vec<(String, String)>, Vec<&SummaryRow>> = BTreeMap::new();
            for r in &rs {
                let pairs = sweep_pairs(&r.sweep);
                if !pairs.iter().any(|(k, _)| *k == var) {
                    continue;
                }
                let fixed: Vec<_> = pairs.into_iter().filter(|(k, _)| *k != var).collect();
                slices.entry(fixed).or_default().push(r);
            }
            for (fixed, rows) in slices {
                out.push(SweepSlice {
                    scenario: scenario.clone(),
                    variant: variant.clone(),
                    var: var.clone(),
                    fixed,
                    rows,
                });
            }
        }
    }
    out
}

impl SweepSlice<'_> {
    /// Human title suffix: "scenario/variant vs var (k=v, …)".
    pub fn title(&self) -> String {
        let mut t = self.scenario.clone();
        if !self.variant.is_empty() {
            t = format!("{t}/{}", self.variant);
        }
        t = format!("{t} vs {}", self.var);
        if !self.fixed.is_empty() {
            let f: Vec<String> = self.fixed.iter().map(|(k, v)| format!("{k}={v}")).collect();
            t = format!("{t} ({})", f.join(", "));
        }
        t
    }

    /// Per target (floor first): its curve of `metric`.
    fn curves(&self, metric: Metric) -> Vec<Curve> {
        let mut pts: BTreeMap<String, BTreeMap<u64, Vec<&SummaryRow>>> = BTreeMap::new();
        for r in &self.rows {
            let Some(x) = sweep_pairs(&r.sweep)
                .into_iter()
                .find(|(k, _)| *k == self.var)
                .and_then(|(_, v)| v.parse::<f64>().ok())
            else {
                continue;
            };
            pts.entry(r.target.clone())
                .or_default()
                .entry(x.to_bits())
                .or_default()
                .push(r);
        }
        let mut curves: Vec<Curve> = pts
            .into_iter()
            .map(|(target, by_x)| {
                let bound_x = by_x
                    .iter()
                    .filter(|(_, rows)| rows.iter().any(|r| r.loadgen_bound))
                    .map(|(xb, _)| f64::from_bits(*xb))
                    .collect();
                let mut points: Vec<(f64, Spread)> = by_x
                    .into_iter()
                    .filter_map(|(xb, rows)| {
                        Some((f64::from_bits(xb), Spread::of_metric(&rows, metric)?))
                    })
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Curve {
                    target,
                    points,
                    bound_x,
                }
            })
            .collect();
        curves.sort_by_key(|c| target_order(&c.target));
        curves
    }
}

fn series_of(c: &Curve, dashed: bool, marker: Marker, scale: f64) -> Series {
    Series {
        colour: target_colour(&c.target),
        dashed,
        marker,
        points: c
            .points
            .iter()
            .map(|(x, s)| (*x, s.median * scale))
            .collect(),
        whiskers: c
            .points
            .iter()
            .filter(|(_, s)| s.n > 1 && s.min < s.max)
            .map(|(x, s)| (*x, s.min * scale, s.max * scale))
            .collect(),
        bound_x: c.bound_x.clone(),
    }
}

/// The legend note for hollow markers, when some point of `curves` is bound.
fn bound_note(curves: &[Curve]) -> Option<LegendEntry> {
    curves
        .iter()
        .any(|c| !c.bound_x.is_empty())
        .then(|| LegendEntry::bound("hollow marker", Marker::Circle, false))
}

fn render(
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
    legend: &[LegendEntry],
) -> Result<String, ReportError> {
    let err = plot_err(title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        line_chart(&root, title, x, y, series, legend).map_err(&err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Latency p50 (dashed) and p99 (solid) in ms against the sweep variable.
pub fn latency_svg(slice: &SweepSlice<'_>) -> Result<String, ReportError> {
    let p50 = slice.curves(Metric::LatP50);
    let p99 = slice.curves(Metric::LatP99);
    let mut series = Vec::new();
    let mut legend = Vec::new();
    for c in &p99 {
        series.push(series_of(c, false, Marker::Circle, 1e-3));
        legend.push(LegendEntry::target(
            &c.target,
            c.target.clone(),
            Marker::None,
        ));
    }
    for c in &p50 {
        series.push(series_of(c, true, Marker::Triangle, 1e-3));
    }
    legend.push(LegendEntry::style("p99", false, Marker::Circle));
    legend.push(LegendEntry::style("p50", true, Marker::Triangle));
    legend.extend(bound_note(&p99));
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.whiskers.iter().flat_map(|w| [w.1, w.2]))
        })
        .collect();
    let x = Axis::auto(&xs, &slice.var, 20.0);
    let y = Axis::auto(&ys, "latency (ms)", 20.0);
    render(
        &format!("Latency: {}", slice.title()),
        &x,
        &y,
        &series,
        &legend,
    )
}

/// Deliveries per second against the sweep variable.
pub fn rate_svg(slice: &SweepSlice<'_>) -> Result<String, ReportError> {
    let curves = slice.curves(Metric::DeliveriesPerS);
    let series: Vec<Series> = curves
        .iter()
        .map(|c| series_of(c, false, Marker::Circle, 1.0))
        .collect();
    let mut legend: Vec<LegendEntry> = curves
        .iter()
        .map(|c| LegendEntry::target(&c.target, c.target.clone(), Marker::Circle))
        .collect();
    legend.extend(bound_note(&curves));
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.whiskers.iter().map(|w| w.2))
        })
        .collect();
    let x = Axis::auto(&xs, &slice.var, 20.0);
    let y = Axis::auto(&ys, "deliveries per second", 50.0);
    render(
        &format!("Delivered rate: {}", slice.title()),
        &x,
        &y,
        &series,
        &legend,
    )
}
