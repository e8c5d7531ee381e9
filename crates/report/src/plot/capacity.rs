//! Capacity plots (`wsbench capacity`): per target, latency percentiles (p50, p90, p99,
//! ms) against the offered load of each step, the SLO's bounds as grey dashed lines and the
//! capacity as a black vertical line. Steps that were load-generator bound are hollow.

use plotters::prelude::*;

use super::style::{Axis, LegendEntry, Marker, SIZE, Series, line_chart, plot_err, target_colour};
use crate::ReportError;
use crate::capacity::CapacityRow;
use crate::capacity::slo::Slo;
use crate::metric::sweep_pairs;
use crate::row::SummaryRow;

/// The offered load of a step row: its sweep value of `var` (`rate` or `clients`).
pub fn step_load(row: &SummaryRow, var: &str) -> Option<f64> {
    sweep_pairs(&row.sweep)
        .into_iter()
        .find(|(k, _)| k == var)
        .and_then(|(_, v)| v.parse().ok())
}

/// The plot of one target's search: `steps` are its rows (any order), `var` the load's
/// sweep key.
pub fn capacity_svg(
    cap: &CapacityRow,
    steps: &[&SummaryRow],
    var: &str,
) -> Result<String, ReportError> {
    let title = format!(
        "Capacity of {}: latency vs offered load ({}, {})",
        cap.target, cap.slo, cap.unit
    );
    let mut pts: Vec<(f64, &SummaryRow)> = steps
        .iter()
        .filter_map(|r| Some((step_load(r, var)?, *r)))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bound_x: Vec<f64> = pts
        .iter()
        .filter(|(_, r)| r.loadgen_bound)
        .map(|p| p.0)
        .collect();
    let colour = target_colour(&cap.target);
    let line = |f: fn(&SummaryRow) -> u64, dashed: bool, marker: Marker| Series {
        colour,
        dashed,
        marker,
        points: pts.iter().map(|(x, r)| (*x, f(r) as f64 / 1e3)).collect(),
        whiskers: Vec::new(),
        bound_x: bound_x.clone(),
    };
    let mut series = vec![
        line(|r| r.lat_p99_us, false, Marker::Circle),
        line(|r| r.lat_p90_us, false, Marker::Square),
        line(|r| r.lat_p50_us, true, Marker::Triangle),
    ];
    let mut legend = vec![
        LegendEntry::target(&cap.target, cap.target.clone(), Marker::None),
        LegendEntry::style("p99", false, Marker::Circle),
        LegendEntry::style("p90", false, Marker::Square),
        LegendEntry::style("p50", true, Marker::Triangle),
    ];
    let xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let (x_lo, x_hi) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(0.0f64, f64::max),
    );
    let mut ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let grey = RGBColor(90, 90, 90);
    if let Ok(slo) = Slo::parse(&cap.slo)
        && !xs.is_empty()
    {
        for b in &slo.bounds {
            let y = b.limit_us / 1e3;
            ys.push(y);
            series.push(Series {
                colour: grey,
                dashed: true,
                marker: Marker::None,
                points: vec![(x_lo, y), (x_hi, y)],
                whiskers: Vec::new(),
                bound_x: Vec::new(),
            });
        }
        legend.push(LegendEntry::style(
            &format!("SLO {}", cap.slo),
            true,
            Marker::None,
        ));
    }
    let x = Axis::auto(&xs, &format!("offered load ({})", cap.unit), 20.0);
    let y = Axis::auto(&ys, "latency (ms)", 20.0);
    if cap.capacity > 0.0 {
        let (y_lo, y_hi) = match y.scale {
            super::axis::Scale::Linear => (y.lo, y.hi),
            super::axis::Scale::Log10 => (10f64.powf(y.lo), 10f64.powf(y.hi)),
        };
        series.push(Series {
            colour: BLACK,
            dashed: false,
            marker: Marker::None,
            points: vec![(cap.capacity, y_lo), (cap.capacity, y_hi)],
            whiskers: Vec::new(),
            bound_x: Vec::new(),
        });
        legend.push(LegendEntry {
            colour: BLACK,
            ..LegendEntry::style(
                &format!("capacity {} {}", cap.capacity, cap.unit),
                false,
                Marker::None,
            )
        });
    }
    if !bound_x.is_empty() {
        legend.push(LegendEntry::bound("hollow marker", Marker::Circle, false));
    }
    let err = plot_err(&title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        line_chart(&root, &title, &x, &y, &series, &legend).map_err(&err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::LimitedBy;

    #[test]
    fn the_plot_shows_the_target_the_slo_and_the_capacity() {
        let steps: Vec<SummaryRow> = [(1000, 2_000), (2000, 9_000), (4000, 80_000)]
            .into_iter()
            .map(|(rate, p99)| SummaryRow {
                target: "tcp".into(),
                sweep: format!("rate={rate}"),
                lat_p50_us: p99 / 4,
                lat_p90_us: p99 / 2,
                lat_p99_us: p99,
                loadgen_bound: rate == 4000,
                ..SummaryRow::default()
            })
            .collect();
        let cap = CapacityRow {
            target: "tcp".into(),
            capacity: 2000.0,
            unit: "msgs/s".into(),
            slo: "p99<=50ms".into(),
            limited_by: Some(LimitedBy::Loadgen),
            ..CapacityRow::default()
        };
        let refs: Vec<&SummaryRow> = steps.iter().collect();
        let svg = capacity_svg(&cap, &refs, "rate").unwrap();
        for want in [
            "Capacity of tcp",
            "SLO p99&lt;=50ms",
            "capacity 2000 msgs/s",
            "load-generator bound",
        ] {
            assert!(svg.contains(want), "{want} missing");
        }
        assert_eq!(step_load(&steps[1], "rate"), Some(2000.0));
        assert_eq!(step_load(&steps[1], "clients"), None);
    }
}
