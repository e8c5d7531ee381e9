//! Polling versus push: database queries per second (left) and staleness p50 (dashed) /
//! p99 (solid) (right) against the number of viewers, one line per target and variant
//! (colour = target, marker = variant). A point where some trial was load-generator bound
//! has a hollow marker.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::style::{
    Axis, LegendEntry, Marker, Series, draw_legend, line_chart, plot_err, target_colour,
    target_order, with_legend_column,
};
use crate::ReportError;
use crate::metric::{Metric, Spread, sweep_pairs};
use crate::row::SummaryRow;

/// Canvas of the two-panel plot.
const SIZE: (u32, u32) = (1600, 620);

/// True when the rows carry polling-vs-push measurements (staleness or DB query counts).
pub fn applies(rows: &[&SummaryRow]) -> bool {
    rows.iter()
        .any(|r| r.staleness_p50_ms.is_some() || r.db_queries_app.is_some())
}

/// Series key: target, variant, and sweep variables other than the viewer count.
fn series_key(r: &SummaryRow) -> (String, String, String) {
    let other: Vec<String> = sweep_pairs(&r.sweep)
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "clients" | "viewers"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    (r.target.clone(), r.variant.clone(), other.join(" "))
}

/// Renders the two panels for the rows of one scenario.
pub fn polling_svg(title: &str, rows: &[&SummaryRow]) -> Result<String, ReportError> {
    let err = plot_err(title);
    let mut groups: BTreeMap<(String, String, String), BTreeMap<u64, Vec<&SummaryRow>>> =
        BTreeMap::new();
    for r in rows {
        groups
            .entry(series_key(r))
            .or_default()
            .entry(r.clients)
            .or_default()
            .push(r);
    }
    let variants: Vec<String> = {
        let mut v: Vec<String> = groups.keys().map(|k| k.1.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let mut legend: Vec<LegendEntry> = groups
        .keys()
        .map(|(target, variant, other)| {
            let vi = variants.iter().position(|v| v == variant).unwrap_or(0);
            let label = [target.as_str(), variant, other]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            LegendEntry::target(target, label, Marker::nth(vi))
        })
        .collect();
    legend.sort_by_key(|e| {
        let t = groups
            .keys()
            .find(|k| e.label.starts_with(k.0.as_str()))
            .map_or("", |k| k.0.as_str());
        (target_order(t), e.label.clone())
    });
    legend.push(LegendEntry::style("staleness p99", false, Marker::None));
    legend.push(LegendEntry::style("staleness p50", true, Marker::None));
    if rows.iter().any(|r| r.loadgen_bound) {
        legend.push(LegendEntry::bound("hollow marker", Marker::Circle, false));
    }
    let make = |metric: Metric, scale: f64, dashed: bool| -> Vec<Series> {
        groups
            .iter()
            .filter_map(|((target, variant, _), by_n)| {
                let pts: Vec<(f64, Spread)> = by_n
                    .iter()
                    .filter_map(|(n, rs)| Some((*n as f64, Spread::of_metric(rs, metric)?)))
                    .collect();
                if pts.is_empty() {
                    return None;
                }
                let vi = variants.iter().position(|v| v == variant).unwrap_or(0);
                Some(Series {
                    colour: target_colour(target),
                    dashed,
                    marker: Marker::nth(vi),
                    points: pts.iter().map(|(x, s)| (*x, s.median * scale)).collect(),
                    whiskers: pts
                        .iter()
                        .filter(|(_, s)| s.n > 1 && s.min < s.max)
                        .map(|(x, s)| (*x, s.min * scale, s.max * scale))
                        .collect(),
                    bound_x: by_n
                        .iter()
                        .filter(|(_, rs)| rs.iter().any(|r| r.loadgen_bound))
                        .map(|(n, _)| *n as f64)
                        .collect(),
                })
            })
            .collect()
    };
    let qps = make(Metric::DbQueriesPerS, 1.0, false);
    let mut stale = make(Metric::StalenessP99, 1.0, false);
    stale.extend(make(Metric::StalenessP50, 1.0, true));

    let xs: Vec<f64> = rows.iter().map(|r| r.clients as f64).collect();
    let values = |s: &[Series]| -> Vec<f64> {
        s.iter()
            .flat_map(|s| {
                s.points
                    .iter()
                    .map(|p| p.1)
                    .chain(s.whiskers.iter().map(|w| w.2))
            })
            .collect()
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let root = root
            .titled(title, ("sans-serif", 24))
            .map_err(|e| err(e.to_string()))?;
        let (charts, legend_area) = with_legend_column(&root, &legend);
        let panels = charts.split_evenly((1, 2));
        let x = Axis::auto(&xs, "viewers", 20.0);
        let y = Axis::auto(&values(&qps), "database queries per second", 20.0);
        line_chart(&panels[0], "Backend load", &x, &y, &qps, &[]).map_err(&err)?;
        let x = Axis::auto(&xs, "viewers", 20.0);
        let y = Axis::auto(&values(&stale), "staleness (ms)", 20.0);
        line_chart(
            &panels[1],
            "Staleness of what viewers see",
            &x,
            &y,
            &stale,
            &[],
        )
        .map_err(&err)?;
        if let Some(la) = legend_area {
            draw_legend(&la, &legend).map_err(&err)?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}
