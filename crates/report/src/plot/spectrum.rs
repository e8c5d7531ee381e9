//! The latency percentile spectrum (HdrHistogram style): every target's `.hgrm` overlaid,
//! x = percentile on a log scale of 1/(1−p) labelled 0%, 90%, 99%, 99.9%…, y = latency in ms.
//! The curve of a load-generator-bound row is dashed, and its target's legend line says ⚑.

use plotters::prelude::*;

use super::style::{
    Axis, LegendEntry, Marker, SIZE, Scale, Series, line_chart, plot_err, target_colour,
    target_order,
};
use crate::ReportError;

/// One target's percentile curve, from a `.hgrm` file (values in ms, percentiles 0..=1).
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumCurve {
    pub target: String,
    /// Trial number (curves of one target share its colour and one legend entry).
    pub repeat: u32,
    /// The row was load-generator bound: the curve is dashed.
    pub bound: bool,
    pub points: Vec<(f64, f64)>,
}

/// Renders the overlaid spectrum as SVG text. Curves without points are left out; the
/// 100% row (infinite 1/(1−p)) is drawn at the right edge.
pub fn spectrum_svg(title: &str, curves: &[SpectrumCurve]) -> Result<String, ReportError> {
    let err = plot_err(title);
    let inv = |p: f64| 1.0 / (1.0 - p);
    let max_inv = curves
        .iter()
        .flat_map(|c| c.points.iter())
        .map(|&(_, p)| inv(p))
        .filter(|v| v.is_finite())
        .fold(100.0f64, f64::max);
    let decades = max_inv.log10().ceil().max(2.0);
    let edge = 10f64.powf(decades);
    let ticks: Vec<f64> = (0..=decades as i32).map(f64::from).collect();
    let x = Axis {
        scale: Scale::Log10,
        lo: 0.0,
        hi: decades,
        ticks,
        label: Box::new(percentile_label),
        title: "percentile".to_owned(),
    };
    let values: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|&(v, _)| v))
        .collect();
    let y = Axis::log(&values, "latency (ms, log scale)");
    let series: Vec<Series> = curves
        .iter()
        .filter(|c| !c.points.is_empty())
        .map(|c| Series {
            colour: target_colour(&c.target),
            dashed: c.bound,
            marker: Marker::None,
            points: c
                .points
                .iter()
                .map(|&(v, p)| (inv(p).min(edge), v))
                .collect(),
            whiskers: vec![],
            bound_x: vec![],
        })
        .collect();
    let mut legend: Vec<LegendEntry> = Vec::new();
    // per target: trials drawn, and whether any of them was bound
    let mut seen: Vec<(&str, usize, bool)> = Vec::new();
    for c in curves.iter().filter(|c| !c.points.is_empty()) {
        match seen.iter_mut().find(|(t, _, _)| *t == c.target) {
            Some((_, n, bound)) => {
                *n += 1;
                *bound |= c.bound;
            }
            None => seen.push((c.target.as_str(), 1, c.bound)),
        }
    }
    seen.sort_by_key(|(t, _, _)| target_order(t));
    let any_bound = seen.iter().any(|(_, _, bound)| *bound);
    for (t, n, bound) in seen {
        let mut label = if n > 1 {
            format!("{t} ({n} trials)")
        } else {
            t.to_owned()
        };
        if bound {
            label.push_str(" ⚑");
        }
        legend.push(LegendEntry::target(t, label, Marker::None));
    }
    if any_bound {
        legend.push(LegendEntry {
            dashed: true,
            ..LegendEntry::bound("dashed", Marker::None, false)
        });
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        line_chart(&root, title, &x, &y, &series, &legend).map_err(&err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Tick label at log10(1/(1−p)) = t: 0 → "0%", 1 → "90%", 2 → "99%", 3 → "99.9%", …
fn percentile_label(t: f64) -> String {
    let n = t.round() as i32;
    match n {
        i32::MIN..=0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        _ => format!("99.{}%", "9".repeat((n - 2) as usize)).replace("99.%", "99%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels() {
        let l: Vec<String> = (0..6).map(|t| percentile_label(f64::from(t))).collect();
        assert_eq!(l, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }
}
