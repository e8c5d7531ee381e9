//! What every plot shares: one fixed colour per target name (the same in every SVG),
//! marker shapes per variant (hollow for load-generator-bound rows), axes (linear or log10, with tick positions and labels chosen
//! here), and the line chart that the spectrum, sweep and polling plots draw with.

use plotters::coord::Shift;
use plotters::prelude::*;
use wsbench_scenario::TARGETS;

use crate::ReportError;

pub use super::axis::{Axis, Scale, Ticked};
pub use super::legend::{LegendEntry, draw_legend, with_legend_column};
pub use super::marker::Glyph;

/// Canvas size of every plot, pixels.
pub const SIZE: (u32, u32) = (1000, 620);

/// One colour per built-in target, in the order of the target table (the array's length is
/// the table's, so a new target cannot be added without its colour). Tableau-10 hues, with
/// two from Tableau-20 for the transport variants.
const BUILTIN_COLOURS: [RGBColor; TARGETS.len()] = [
    RGBColor(127, 127, 127), // grey: tcp, the floor
    RGBColor(31, 119, 180),  // blue: ws-tungstenite
    RGBColor(44, 160, 44),   // green: ws-fastwebsockets
    RGBColor(255, 127, 14),  // orange: sio-socketioxide
    RGBColor(140, 86, 75),   // brown: sio-socketioxide-polling
    RGBColor(255, 187, 120), // light orange: sio-socketioxide-upgrade
    RGBColor(148, 103, 189), // purple: node-ws
    RGBColor(214, 39, 40),   // red: node-socketio
    RGBColor(255, 152, 150), // light red: node-socketio-polling
];

/// Colours for any other target (external servers), picked by a hash of the name.
const OTHER_COLOURS: [RGBColor; 3] = [
    RGBColor(23, 190, 207),  // cyan
    RGBColor(188, 189, 34),  // olive
    RGBColor(227, 119, 194), // pink
];

/// Position of a built-in target in the target table.
fn builtin_index(target: &str) -> Option<usize> {
    TARGETS.iter().position(|t| t.name == target)
}

/// The colour of a target in every plot: fixed for built-in targets, a stable FNV-1a hash
/// of the name otherwise.
pub fn target_colour(target: &str) -> RGBColor {
    if let Some(i) = builtin_index(target) {
        return BUILTIN_COLOURS[i];
    }
    let h = target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    OTHER_COLOURS[(h % 3) as usize]
}

/// Marker drawn at each data point; distinguishes variants of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    None,
    Circle,
    Triangle,
    Square,
    Cross,
}

impl Marker {
    /// A stable marker for the i-th variant.
    pub fn nth(i: usize) -> Marker {
        [
            Marker::Circle,
            Marker::Triangle,
            Marker::Square,
            Marker::Cross,
        ][i % 4]
    }
}

/// One line of a line chart. Points are in data units (the axis transforms them).
pub struct Series {
    pub colour: RGBColor,
    pub dashed: bool,
    pub marker: Marker,
    pub points: Vec<(f64, f64)>,
    /// Vertical min–max bars at x: (x, low, high), drawn thin.
    pub whiskers: Vec<(f64, f64, f64)>,
    /// The x of every point that comes from a load-generator-bound row: its marker is
    /// drawn hollow.
    pub bound_x: Vec<f64>,
}

/// Sort key that lists targets from the floor up (built-ins in table order, then others by
/// name), so legends read the same in every plot.
pub fn target_order(target: &str) -> (usize, String) {
    let i = builtin_index(target).unwrap_or(TARGETS.len());
    (i, target.to_owned())
}

pub(crate) fn plot_err(name: &str) -> impl Fn(String) -> ReportError + '_ {
    move |message| ReportError::Plot {
        name: name.to_owned(),
        message,
    }
}

pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws a titled line chart on `area`, with `legend` in a column on its right.
pub fn line_chart(
    area: &Area<'_>,
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
    legend: &[LegendEntry],
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let area = area
        .titled(title, ("sans-serif", 22))
        .map_err(|er| e(&er))?;
    let (plot, legend_area) = with_legend_column(&area, legend);
    let mut chart = ChartBuilder::on(&plot)
        .margin_left(12)
        .margin_right(36)
        .margin_top(12)
        .margin_bottom(8)
        .x_label_area_size(52)
        .y_label_area_size(78)
        .build_cartesian_2d(Ticked::of(x), Ticked::of(y))
        .map_err(|er| e(&er))?;
    chart
        .configure_mesh()
        .x_desc(x.title.as_str())
        .y_desc(y.title.as_str())
        .x_label_formatter(&|v| (x.label)(*v))
        .y_label_formatter(&|v| (y.label)(*v))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(|er| e(&er))?;
    for s in series {
        // (drawn point, from a load-generator-bound row)
        let pts: Vec<((f64, f64), bool)> = s
            .points
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            // A log axis has no place for zero: leave such points out rather than draw
            // them off the chart.
            .filter(|(a, b)| {
                (x.scale == Scale::Linear || *a > 0.0) && (y.scale == Scale::Linear || *b > 0.0)
            })
            .map(|&(a, b)| ((x.to_draw(a), y.to_draw(b)), s.bound_x.contains(&a)))
            .collect();
        let line: Vec<(f64, f64)> = pts.iter().map(|&(p, _)| p).collect();
        let style = ShapeStyle::from(&s.colour).stroke_width(if s.dashed { 2 } else { 3 });
        if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(line, 8, 5, style))
                .map_err(|er| e(&er))?;
        } else {
            chart
                .draw_series(LineSeries::new(line, style))
                .map_err(|er| e(&er))?;
        }
        for &(wx, wlo, whi) in &s.whiskers {
            let (dx, dlo, dhi) = (x.to_draw(wx), y.to_draw(wlo), y.to_draw(whi));
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(dx, dlo), (dx, dhi)],
                    ShapeStyle::from(&s.colour.mix(0.6)).stroke_width(2),
                )))
                .map_err(|er| e(&er))?;
        }
        if s.marker != Marker::None {
            chart
                .draw_series(pts.iter().map(|&(at, hollow)| Glyph {
                    at,
                    marker: s.marker,
                    colour: s.colour,
                    hollow,
                }))
                .map_err(|er| e(&er))?;
        }
    }
    if let Some(la) = legend_area {
        draw_legend(&la, legend)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_colours_are_fixed_and_stable() {
        assert_eq!(target_colour("tcp"), RGBColor(127, 127, 127));
        assert_eq!(target_colour("node-socketio"), RGBColor(214, 39, 40));
        let c = target_colour("sio=http://10.0.0.1:3000");
        assert_eq!(c, target_colour("sio=http://10.0.0.1:3000"));
        assert!(OTHER_COLOURS.contains(&c));
        // every built-in target has a colour of its own, none shared with other targets
        for (i, t) in TARGETS.iter().enumerate() {
            let c = target_colour(t.name);
            assert!(!OTHER_COLOURS.contains(&c), "{}", t.name);
            assert!(BUILTIN_COLOURS[..i].iter().all(|o| *o != c), "{}", t.name);
        }
    }

    #[test]
    fn targets_sort_from_the_floor_up() {
        let mut t = vec!["node-socketio", "custom", "tcp", "sio-socketioxide"];
        t.sort_by_key(|n| target_order(n));
        assert_eq!(t, ["tcp", "sio-socketioxide", "node-socketio", "custom"]);
    }
}
