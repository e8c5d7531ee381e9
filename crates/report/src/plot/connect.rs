//! Connect-time bars: per sweep point, one bar per target — a wide light bar for p99 with a
//! narrow solid bar for p50 inside it — so handshake costs (TCP vs WebSocket upgrade vs
//! Engine.IO open + Socket.IO CONNECT) can be read side by side. Where some trial was
//! load-generator bound the p50 bar is outlined, not solid.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::style::{
    Axis, LegendEntry, Marker, SIZE, Ticked, draw_legend, plot_err, target_colour, target_order,
    with_legend_column,
};
use crate::ReportError;
use crate::metric::{Metric, Spread};
use crate::row::SummaryRow;

/// Bars for rows of one (scenario, variant); categories are sweep points (or one, unnamed).
pub fn connect_svg(title: &str, rows: &[&SummaryRow]) -> Result<String, ReportError> {
    let err = plot_err(title);
    let mut cats: Vec<String> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    let mut cells: BTreeMap<(usize, usize), Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows {
        let c = index_of(&mut cats, &r.sweep);
        let t = index_of(&mut targets, &r.target);
        cells.entry((c, t)).or_default().push(r);
    }
    // Floor first, in every plot the same order.
    let mut order: Vec<usize> = (0..targets.len()).collect();
    order.sort_by_key(|&i| target_order(&targets[i]));
    let slot_of = |t: usize| order.iter().position(|&i| i == t).unwrap_or(t);
    let ms =
        |rows: &[&SummaryRow], m| Spread::of_metric(rows, m).map_or(0.0, |s| s.median / 1000.0);
    // (sweep point, target, p50, p99, load-generator bound)
    let bars: Vec<(usize, usize, f64, f64, bool)> = cells
        .iter()
        .map(|(&(c, t), rs)| {
            let bound = rs.iter().any(|r| r.loadgen_bound);
            (
                c,
                t,
                ms(rs, Metric::ConnectP50),
                ms(rs, Metric::ConnectP99),
                bound,
            )
        })
        .collect();
    let ys: Vec<f64> = bars.iter().map(|b| b.3.max(b.2)).collect();
    let y = Axis::linear(&ys, "connect time (ms)");
    let n_t = targets.len().max(1) as f64;
    let slot = 0.8 / n_t;
    let mut svg = String::new();
    {
        let canvas = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        canvas.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let titled = canvas
            .titled(title, ("sans-serif", 22))
            .map_err(|e| err(e.to_string()))?;
        let mut legend: Vec<LegendEntry> = order
            .iter()
            .map(|&i| &targets[i])
            .map(|t| LegendEntry {
                swatch: true,
                ..LegendEntry::target(t, t.clone(), Marker::None)
            })
            .collect();
        legend.push(LegendEntry {
            swatch: true,
            colour: RGBColor(200, 200, 200),
            ..LegendEntry::style("p99 (wide, light)", false, Marker::None)
        });
        legend.push(LegendEntry {
            swatch: true,
            ..LegendEntry::style("p50 (narrow, solid)", false, Marker::None)
        });
        if bars.iter().any(|b| b.4) {
            legend.push(LegendEntry::bound("outlined p50", Marker::None, true));
        }
        let (root, legend_area) = with_legend_column(&titled, &legend);
        let cat_labels = cats.clone();
        let mut chart = ChartBuilder::on(&root)
            .margin_left(12)
            .margin_right(24)
            .margin_top(12)
            .x_label_area_size(52)
            .y_label_area_size(78)
            .build_cartesian_2d(
                Ticked {
                    lo: -0.5,
                    hi: cats.len() as f64 - 0.5,
                    ticks: (0..cats.len()).map(|i| i as f64).collect(),
                },
                Ticked::of(&y),
            )
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(if cats.iter().all(String::is_empty) {
                ""
            } else {
                "sweep point"
            })
            .y_desc(y.title.as_str())
            .x_label_formatter(&|v| {
                let i = v.round() as usize;
                cat_labels
                    .get(i)
                    .map_or(String::new(), |s| s.replace(';', " "))
            })
            .y_label_formatter(&|v| (y.label)(*v))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .disable_x_mesh()
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (ti, t) in targets.iter().enumerate() {
            let colour = target_colour(t);
            let mine: Vec<_> = bars.iter().filter(|b| b.1 == ti).collect();
            let left = |c: usize| c as f64 - 0.4 + slot * slot_of(ti) as f64;
            chart
                .draw_series(mine.iter().map(|b| {
                    Rectangle::new(
                        [
                            (left(b.0) + slot * 0.05, 0.0),
                            (left(b.0) + slot * 0.95, b.3),
                        ],
                        colour.mix(0.35).filled(),
                    )
                }))
                .map_err(|e| err(e.to_string()))?;
            chart
                .draw_series(mine.iter().map(|b| {
                    Rectangle::new(
                        [(left(b.0) + slot * 0.3, 0.0), (left(b.0) + slot * 0.7, b.2)],
                        if b.4 {
                            colour.stroke_width(2)
                        } else {
                            colour.filled()
                        },
                    )
                }))
                .map_err(|e| err(e.to_string()))?;
        }
        if let Some(la) = legend_area {
            draw_legend(&la, &legend).map_err(&err)?;
        }
        canvas.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

fn index_of(v: &mut Vec<String>, s: &str) -> usize {
    v.iter().position(|x| x == s).unwrap_or_else(|| {
        v.push(s.to_owned());
        v.len() - 1
    })
}
