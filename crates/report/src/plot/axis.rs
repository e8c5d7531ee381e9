//! Plot axes: linear (1-2-5 steps) or log10 (whole decades, 1-2-5 ticks when few), with
//! tick positions and labels chosen here, and the plotters coordinate that draws exactly
//! those ticks.

use plotters::prelude::*;

use crate::metric::human;

/// How an axis maps data to the drawing: identity or log10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log10,
}

/// An axis: its scale, its extent and ticks in drawing units, and how to label a tick.
pub struct Axis {
    pub scale: Scale,
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub label: Box<dyn Fn(f64) -> String>,
    pub title: String,
}

impl Axis {
    pub fn to_draw(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log10 => v.max(f64::MIN_POSITIVE).log10(),
        }
    }

    /// A linear axis from 0 (or the smallest value if negative) to a round number above
    /// the largest, with 1-2-5 steps.
    pub fn linear(values: &[f64], title: &str) -> Axis {
        let max = values.iter().copied().fold(0.0f64, f64::max);
        let min = values.iter().copied().fold(0.0f64, f64::min);
        let span = if max - min > 0.0 { max - min } else { 1.0 };
        let raw = span / 6.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .into_iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        let lo = (min / step).floor() * step;
        let hi = ((max * 1.05) / step).ceil() * step;
        let ticks = (0..)
            .map(|i| lo + step * f64::from(i))
            .take_while(|t| *t <= hi + step * 1e-9)
            .collect();
        Axis {
            scale: Scale::Linear,
            lo,
            hi,
            ticks,
            label: Box::new(tick_label),
            title: title.to_owned(),
        }
    }

    /// A log10 axis covering the positive values, whole decades, ticks at 1-2-5 steps
    /// when it spans few decades.
    pub fn log(values: &[f64], title: &str) -> Axis {
        let pos: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0 && v.is_finite())
            .collect();
        let min = pos.iter().copied().fold(f64::INFINITY, f64::min);
        let max = pos.iter().copied().fold(0.0f64, f64::max);
        let (mut lo, mut hi) = if pos.is_empty() {
            (0.0, 1.0)
        } else {
            (min.log10().floor(), max.log10().ceil())
        };
        if hi <= lo {
            hi = lo + 1.0;
        }
        // Trim whole decades down to 1-2-5 steps that still hold the data.
        for m in [5.0f64, 2.0] {
            if !pos.is_empty() && (lo + m.log10()) <= min.log10() {
                lo += m.log10();
                break;
            }
        }
        for m in [0.2f64, 0.5] {
            if !pos.is_empty() && (hi + m.log10()) >= max.log10() {
                hi += m.log10();
                break;
            }
        }
        let decades = hi - lo;
        let mults: &[f64] = if decades <= 3.5 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        let mut ticks = Vec::new();
        for d in (lo.floor() as i32)..=(hi.ceil() as i32) {
            for m in mults {
                let t = f64::from(d) + m.log10();
                if t >= lo - 1e-9 && t <= hi + 1e-9 {
                    ticks.push(t);
                }
            }
        }
        // A little air above and below so lines at the extremes stay visible.
        let pad = (hi - lo) * 0.03;
        Axis {
            scale: Scale::Log10,
            lo: lo - pad,
            hi: hi + pad,
            ticks,
            label: Box::new(|t| tick_label(10f64.powf(t))),
            title: title.to_owned(),
        }
    }

    /// Log when positive values span more than `ratio` (a decade and a bit), else linear.
    pub fn auto(values: &[f64], title: &str, ratio: f64) -> Axis {
        let pos: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0 && v.is_finite())
            .collect();
        let min = pos.iter().copied().fold(f64::INFINITY, f64::min);
        let max = pos.iter().copied().fold(0.0f64, f64::max);
        if pos.len() == values.len() && !pos.is_empty() && max / min > ratio {
            Axis::log(values, title)
        } else {
            Axis::linear(values, title)
        }
    }
}

/// A linear coordinate whose key points (ticks, grid lines, labels) are exactly the given
/// positions; plotters' own `WithKeyPoints` over f64 cannot take a label formatter.
#[derive(Debug, Clone)]
pub struct Ticked {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
}

impl Ticked {
    pub fn of(a: &Axis) -> Ticked {
        Ticked {
            lo: a.lo,
            hi: a.hi,
            ticks: a.ticks.clone(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = if self.hi > self.lo {
            self.hi - self.lo
        } else {
            1.0
        };
        let r = (v - self.lo) / span;
        limit.0 + (r * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// A tick label: [`human`] without trailing zeros ("0.5", "20", "1.25"), with k / M
/// suffixes from 10,000 up ("50k", "1.5M").
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    let (v, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = human(v);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_covers_the_data_with_readable_ticks() {
        let a = Axis::log(&[0.12, 3.4], "ms");
        assert!(a.lo <= 0.12f64.log10() && a.hi >= 3.4f64.log10());
        let labels: Vec<String> = a.ticks.iter().map(|t| (a.label)(*t)).collect();
        assert!(labels.contains(&"1".to_owned()), "{labels:?}");
        assert!(labels.contains(&"0.2".to_owned()), "{labels:?}");
    }

    #[test]
    fn linear_axis_uses_round_steps() {
        let a = Axis::linear(&[0.0, 93.0], "x");
        assert_eq!(a.lo, 0.0);
        assert!(a.hi >= 93.0);
        assert!(
            a.ticks
                .windows(2)
                .all(|w| (w[1] - w[0] - 20.0).abs() < 1e-9),
            "{:?}",
            a.ticks
        );
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.5), "0.5");
        assert_eq!(tick_label(20.0), "20");
        assert_eq!(tick_label(50_000.0), "50k");
        assert_eq!(tick_label(1_500_000.0), "1.5M");
    }
}
