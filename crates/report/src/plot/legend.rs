//! Legends drawn in a column beside the chart, never over the data: a line sample (solid
//! or dashed) with the series marker, or a filled box for bars, then the label. A hollow
//! sample explains the marking of load-generator-bound rows.

use plotters::prelude::*;

use super::marker::{BOUND_NOTE, Glyph};
use super::style::{Area, Marker, target_colour};

/// One legend line: a sample of the line style and marker (or a filled box), and text.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    pub colour: RGBColor,
    pub dashed: bool,
    pub marker: Marker,
    /// Draw a filled box (bars) instead of a line sample.
    pub swatch: bool,
    /// Draw the marker (or box) hollow: the marking of load-generator-bound rows.
    pub hollow: bool,
}

impl LegendEntry {
    /// A solid line in the target's colour, with a marker.
    pub fn target(target: &str, label: String, marker: Marker) -> LegendEntry {
        LegendEntry {
            label,
            colour: target_colour(target),
            dashed: false,
            marker,
            swatch: false,
            hollow: false,
        }
    }

    /// The note that explains hollow `marker`s (or outlined boxes, for bars): "⚑
    /// load-generator bound", prefixed with how it is drawn.
    pub fn bound(how: &str, marker: Marker, swatch: bool) -> LegendEntry {
        LegendEntry {
            hollow: true,
            swatch,
            ..LegendEntry::style(&format!("{how}: {BOUND_NOTE}"), false, marker)
        }
    }

    /// A grey sample explaining a line style ("dashed = p50").
    pub fn style(label: &str, dashed: bool, marker: Marker) -> LegendEntry {
        LegendEntry {
            label: label.to_owned(),
            colour: RGBColor(90, 90, 90),
            dashed,
            marker,
            swatch: false,
            hollow: false,
        }
    }
}

/// Width of a legend column that fits the longest label (the SVG font is estimated).
pub fn legend_width(entries: &[LegendEntry]) -> u32 {
    let longest = entries
        .iter()
        .map(|e| e.label.chars().count())
        .max()
        .unwrap_or(0) as u32;
    (longest * 8 + 64).clamp(140, 340)
}

/// Splits off a legend column on the right of `area` (none when there are no entries).
pub fn with_legend_column<'a>(
    area: &Area<'a>,
    entries: &[LegendEntry],
) -> (Area<'a>, Option<Area<'a>>) {
    if entries.is_empty() {
        return (area.clone(), None);
    }
    let w = area.dim_in_pixel().0;
    let lw = legend_width(entries).min(w / 2);
    let (plot, legend) = area.split_horizontally(w - lw);
    (plot, Some(legend))
}

/// Draws legend entries top-down in a column beside the chart (never over the data).
pub fn draw_legend(area: &Area<'_>, entries: &[LegendEntry]) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let row_h = 24;
    let top = 36;
    for (i, en) in entries.iter().enumerate() {
        let y = top + row_h * i as i32;
        let st = ShapeStyle::from(&en.colour).stroke_width(if en.dashed { 2 } else { 3 });
        if en.swatch {
            let style = if en.hollow {
                ShapeStyle::from(&en.colour).stroke_width(2)
            } else {
                ShapeStyle::from(&en.colour).filled()
            };
            area.draw(&Rectangle::new([(8, y - 7), (34, y + 7)], style))
                .map_err(|er| e(&er))?;
        } else if en.dashed {
            for (a, b) in [(4, 12), (17, 25), (30, 38)] {
                area.draw(&PathElement::new(vec![(a, y), (b, y)], st))
                    .map_err(|er| e(&er))?;
            }
        } else {
            area.draw(&PathElement::new(vec![(4, y), (38, y)], st))
                .map_err(|er| e(&er))?;
        }
        let glyph = Glyph {
            at: (21, y),
            marker: en.marker,
            colour: en.colour,
            hollow: en.hollow,
        };
        area.draw(&glyph).map_err(|er| e(&er))?;
        area.draw(&Text::new(
            en.label.clone(),
            (46, y - 8),
            ("sans-serif", 15).into_font().color(&BLACK),
        ))
        .map_err(|er| e(&er))?;
    }
    Ok(())
}
