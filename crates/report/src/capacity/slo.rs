//! The service-level objective of a capacity search (`wsbench capacity --slo 'p99<=50ms'`):
//! one or more latency bounds joined by `,`, each `STAT <= N UNIT` with STAT one of `p50`,
//! `p90`, `p99`, `p999`, `max` and UNIT one of `us` (or `µs`), `ms`, `s`. A row meets the
//! SLO when every bound holds on its coordinated-omission-corrected latency columns
//! (`lat_p50_us` … `lat_max_us`). Parse errors quote the part that is wrong.

use std::fmt;

use crate::row::SummaryRow;

/// Which latency column a bound limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    P50,
    P90,
    P99,
    P999,
    Max,
}

impl Stat {
    const ALL: [Stat; 5] = [Stat::P50, Stat::P90, Stat::P99, Stat::P999, Stat::Max];

    /// The name in an SLO (`p99`).
    pub fn name(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
        }
    }

    /// The row's value of this statistic, µs.
    pub fn of(self, row: &SummaryRow) -> u64 {
        match self {
            Stat::P50 => row.lat_p50_us,
            Stat::P90 => row.lat_p90_us,
            Stat::P99 => row.lat_p99_us,
            Stat::P999 => row.lat_p999_us,
            Stat::Max => row.lat_max_us,
        }
    }
}

/// One bound: `stat <= limit_us`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub stat: Stat,
    /// The limit in µs.
    pub limit_us: f64,
    /// The limit as written, normalised (`50ms`).
    pub limit_text: String,
}

/// A parsed SLO: every bound must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub bounds: Vec<Bound>,
}

/// Why an SLO does not parse; the message quotes the whole SLO and the bad part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "SLO {slo:?}: {part:?}: {reason} (expected STAT<=N UNIT, e.g. 'p99<=50ms' or 'p50<=5ms,p99<=50ms'; STAT is p50, p90, p99, p999 or max; UNIT is us, ms or s)"
)]
pub struct SloError {
    pub slo: String,
    pub part: String,
    pub reason: String,
}

impl Slo {
    /// Parses `p99<=50ms`, `p50 <= 2 ms, p99<=0.5s`, ….
    pub fn parse(text: &str) -> Result<Slo, SloError> {
        let err = |part: &str, reason: String| SloError {
            slo: text.to_owned(),
            part: part.trim().to_owned(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(err(text, "empty SLO".into()));
        }
        let mut bounds = Vec::new();
        for part in text.split(',') {
            let Some((stat, limit)) = part.split_once("<=") else {
                return Err(err(
                    part,
                    "no `<=` (only upper bounds are supported)".into(),
                ));
            };
            let stat = stat.trim().to_ascii_lowercase();
            let stat = Stat::ALL
                .into_iter()
                .find(|s| s.name() == stat)
                .ok_or_else(|| err(part, format!("unknown statistic {stat:?}")))?;
            let limit = limit.trim();
            let split = limit
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(limit.len());
            let (num, unit) = (limit[..split].trim(), limit[split..].trim());
            let value: f64 = num
                .parse()
                .map_err(|_| err(part, format!("{num:?} is not a number")))?;
            let scale = match unit {
                "us" | "µs" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                "" => return Err(err(part, "no unit after the number".into())),
                u => return Err(err(part, format!("unknown unit {u:?}"))),
            };
            if !(value > 0.0 && value.is_finite()) {
                return Err(err(part, "the limit must be more than 0".into()));
            }
            bounds.push(Bound {
                stat,
                limit_us: value * scale,
                limit_text: format!("{num}{}", if unit == "µs" { "us" } else { unit }),
            });
        }
        Ok(Slo { bounds })
    }

    /// `Ok` when `row` meets every bound, else the bounds it broke (`p99 73.2ms > 50ms`).
    pub fn check(&self, row: &SummaryRow) -> Result<(), String> {
        let broken: Vec<String> = self
            .bounds
            .iter()
            .filter(|b| b.stat.of(row) as f64 > b.limit_us)
            .map(|b| {
                format!(
                    "{} {} > {}",
                    b.stat.name(),
                    human_us(b.stat.of(row) as f64),
                    b.limit_text
                )
            })
            .collect();
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken.join(", "))
        }
    }
}

impl fmt::Display for Slo {
    /// The canonical form: `p50<=5ms,p99<=50ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .bounds
            .iter()
            .map(|b| format!("{}<={}", b.stat.name(), b.limit_text))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `850us`, `12.4ms`, `1.20s`.
pub fn human_us(us: f64) -> String {
    if us < 1e3 {
        format!("{us:.0}us")
    } else if us < 1e6 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_or_more_bounds_in_any_unit() {
        let s = Slo::parse("p99<=50ms").unwrap();
        assert_eq!(s.bounds.len(), 1);
        assert_eq!(s.bounds[0].stat, Stat::P99);
        assert_eq!(s.bounds[0].limit_us, 50_000.0);
        let s = Slo::parse(" P50 <= 500 us , p999<=0.25s,max<=2s").unwrap();
        let got: Vec<(Stat, f64)> = s.bounds.iter().map(|b| (b.stat, b.limit_us)).collect();
        assert_eq!(
            got,
            [
                (Stat::P50, 500.0),
                (Stat::P999, 250_000.0),
                (Stat::Max, 2e6)
            ]
        );
        assert_eq!(s.to_string(), "p50<=500us,p999<=0.25s,max<=2s");
        assert_eq!(Slo::parse("p90<=3µs").unwrap().to_string(), "p90<=3us");
    }

    #[test]
    fn errors_quote_the_bad_part_and_say_why() {
        let cases = [
            ("", "empty SLO"),
            (
                "p99<=50ms,p98<=1ms",
                "\"p98<=1ms\": unknown statistic \"p98\"",
            ),
            ("p99<50ms", "\"p99<50ms\": no `<=`"),
            ("p99<=fast", "\"p99<=fast\": \"\" is not a number"),
            ("p99<=50", "no unit after the number"),
            ("p99<=50min", "unknown unit \"min\""),
            ("p99<=0ms", "must be more than 0"),
            ("p99<=1.2.3ms", "\"1.2.3\" is not a number"),
        ];
        for (slo, want) in cases {
            let e = Slo::parse(slo).unwrap_err().to_string();
            assert!(e.contains(want), "{slo:?}: {e}");
            assert!(e.contains(&format!("SLO {slo:?}")), "{e}");
        }
    }

    #[test]
    fn a_row_meets_the_slo_only_when_every_bound_holds() {
        let row = SummaryRow {
            lat_p50_us: 900,
            lat_p99_us: 50_000,
            lat_max_us: 73_200,
            ..SummaryRow::default()
        };
        assert_eq!(Slo::parse("p99<=50ms").unwrap().check(&row), Ok(()));
        assert_eq!(
            Slo::parse("p50<=1ms,p99<=49ms,max<=70ms")
                .unwrap()
                .check(&row),
            Err("p99 50.0ms > 49ms, max 73.2ms > 70ms".into())
        );
    }
}
