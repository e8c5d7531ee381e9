//! The marker drawn at a data point and in a legend line: filled for an ordinary row,
//! hollow (white inside, coloured outline) for a row whose load generator, not its server,
//! was the limit ([`BOUND_NOTE`]), so a reader sees which points are only lower bounds of a
//! server's capacity. Charts and legends draw markers through [`Glyph`] alone.

use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};

use super::style::Marker;

/// The legend note of every plot that marks load-generator-bound rows.
pub const BOUND_NOTE: &str = "⚑ load-generator bound";

/// A [`Marker`] at a point: data coordinates in a chart, pixels in a legend.
pub struct Glyph<C> {
    pub at: C,
    pub marker: Marker,
    pub colour: RGBColor,
    /// Drawn as an outline: the point comes from a load-generator-bound row.
    pub hollow: bool,
}

impl<'a, C> PointCollection<'a, C> for &'a Glyph<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;
    fn point_iter(self) -> std::iter::Once<&'a C> {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for Glyph<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut points: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = points.next() else {
            return Ok(());
        };
        let fill = ShapeStyle::from(&self.colour).filled();
        let line = ShapeStyle::from(&self.colour).stroke_width(2);
        let blank = ShapeStyle::from(&WHITE).filled();
        let hollow = self.hollow;
        match self.marker {
            Marker::None => Ok(()),
            Marker::Circle if hollow => {
                backend.draw_circle((x, y), 4, &blank, true)?;
                backend.draw_circle((x, y), 4, &line, false)
            }
            Marker::Circle => backend.draw_circle((x, y), 4, &fill, true),
            Marker::Triangle if hollow => {
                let corners = triangle((x, y));
                backend.fill_polygon(corners.clone(), &blank)?;
                backend.draw_path(corners.iter().chain(corners.first()).copied(), &line)
            }
            Marker::Triangle => backend.fill_polygon(triangle((x, y)), &fill),
            Marker::Square => {
                let (ul, br) = ((x - 4, y - 4), (x + 4, y + 4));
                if hollow {
                    backend.draw_rect(ul, br, &blank, true)?;
                    backend.draw_rect(ul, br, &line, false)
                } else {
                    backend.draw_rect(ul, br, &fill, true)
                }
            }
            Marker::Cross => {
                if hollow {
                    // a cross has no inside: a bound one is ringed instead
                    backend.draw_circle((x, y), 7, &line, false)?;
                }
                backend.draw_line((x - 5, y - 5), (x + 5, y + 5), &line)?;
                backend.draw_line((x - 5, y + 5), (x + 5, y - 5), &line)
            }
        }
    }
}

/// A triangle marker's corners around `c` (pixels).
fn triangle((x, y): (i32, i32)) -> Vec<(i32, i32)> {
    vec![(x, y - 5), (x - 5, y + 4), (x + 5, y + 4)]
}
