//! `wsbench compare <a> <b>`: match the rows of two runs by (scenario, variant, sweep,
//! target), summarise repeated trials by their median (with min–max), report b/a ratios per
//! metric, and check ratio thresholds such as `lat_p99_us>1.10` (the CLI exits 3 on a
//! violation, and on a threshold that no point could check: a gate that compares nothing
//! must not pass).

use std::fmt;

use crate::metric::{Metric, RowKey, Spread, group_by_key, human};
use crate::row::SummaryRow;

/// Metrics shown by [`Comparison::render_table`] (thresholds may name any [`Metric`]).
pub const TABLE_METRICS: [Metric; 12] = [
    Metric::LatP50,
    Metric::LatP90,
    Metric::LatP99,
    Metric::LatP999,
    Metric::DeliveriesPerS,
    Metric::ServerCpuS,
    Metric::ServerRssPeakKb,
    Metric::LoadgenCpuS,
    Metric::DbQueriesApp,
    Metric::StalenessP50,
    Metric::StalenessP99,
    Metric::BytesPerUpdate,
];

/// Two runs side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Points present in both runs, in key order.
    pub points: Vec<ComparedPoint>,
    /// Points only run `a` has.
    pub only_in_a: Vec<RowKey>,
    /// Points only run `b` has.
    pub only_in_b: Vec<RowKey>,
}

/// One measurement point present in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedPoint {
    pub key: RowKey,
    /// Trials in each run.
    pub trials_a: usize,
    pub trials_b: usize,
    /// Every metric both runs have for this point.
    pub metrics: Vec<MetricRatio>,
}

/// One metric of one point in both runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricRatio {
    pub metric: Metric,
    pub a: Spread,
    pub b: Spread,
    /// `b.median / a.median`; 1 when both are 0, infinite when only `a` is 0.
    pub ratio: f64,
}

/// "Fail if the b/a ratio of `metric` is `op` `ratio`."
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub metric: Metric,
    pub op: ThresholdOp,
    pub ratio: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdOp {
    /// Violated when the ratio is greater (a cost grew too much).
    Above,
    /// Violated when the ratio is smaller (throughput fell too much).
    Below,
}

/// A threshold that a point of run `b` broke.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub key: RowKey,
    pub threshold: Threshold,
    pub a: f64,
    pub b: f64,
    pub ratio: f64,
}

/// A `--fail-if` text that is not `metric>ratio` or `metric<ratio`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("threshold {text:?}: {reason} (expected e.g. lat_p99_us>1.10 or deliveries_per_s<0.95)")]
pub struct ThresholdError {
    pub text: String,
    pub reason: String,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            ThresholdOp::Above => '>',
            ThresholdOp::Below => '<',
        };
        write!(f, "{}{op}{}", self.metric.name(), self.ratio)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} is {} -> {} (x{:.3}), breaking {}",
            self.key,
            self.threshold.metric.name(),
            human(self.a),
            human(self.b),
            self.ratio,
            self.threshold
        )
    }
}

/// Parses `metric>ratio` / `metric<ratio` (spaces allowed), e.g. `lat_p99_us>1.10`.
pub fn parse_threshold(text: &str) -> Result<Threshold, ThresholdError> {
    let err = |reason: String| ThresholdError {
        text: text.to_owned(),
        reason,
    };
    let (at, op) = match (text.find('>'), text.find('<')) {
        (Some(i), None) => (i, ThresholdOp::Above),
        (None, Some(i)) => (i, ThresholdOp::Below),
        _ => return Err(err("needs exactly one of '>' or '<'".to_owned())),
    };
    let name = text[..at].trim();
    let metric = Metric::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        err(format!(
            "unknown metric {name:?}; known: {}",
            known.join(", ")
        ))
    })?;
    let value = text[at + 1..].trim();
    let ratio: f64 = value
        .parse()
        .map_err(|_| err(format!("{value:?} is not a number")))?;
    if !(ratio.is_finite() && ratio > 0.0) {
        return Err(err(format!("ratio must be a positive number, got {value}")));
    }
    Ok(Threshold { metric, op, ratio })
}

/// Matches the rows of `a` and `b` by key and computes b/a ratios of the trial medians.
pub fn compare(a: &[SummaryRow], b: &[SummaryRow]) -> Comparison {
    let ga = group_by_key(a);
    let gb = group_by_key(b);
    let mut points = Vec::new();
    let mut only_in_a = Vec::new();
    for (key, rows_a) in &ga {
        let Some(rows_b) = gb.get(key) else {
            only_in_a.push(key.clone());
            continue;
        };
        let metrics = Metric::ALL
            .into_iter()
            .filter_map(|metric| {
                let sa = Spread::of_metric(rows_a, metric)?;
                let sb = Spread::of_metric(rows_b, metric)?;
                Some(MetricRatio {
                    metric,
                    a: sa,
                    b: sb,
                    ratio: ratio(sa.median, sb.median),
                })
            })
            .collect();
        points.push(ComparedPoint {
            key: key.clone(),
            trials_a: rows_a.len(),
            trials_b: rows_b.len(),
            metrics,
        });
    }
    let only_in_b = gb
        .keys()
        .filter(|k| !ga.contains_key(*k))
        .cloned()
        .collect();
    Comparison {
        points,
        only_in_a,
        only_in_b,
    }
}

/// `b / a`, defined for zeros: 0/0 = 1, x/0 = ∞.
pub fn ratio(a: f64, b: f64) -> f64 {
    if a == 0.0 {
        if b == 0.0 { 1.0 } else { f64::INFINITY }
    } else {
        b / a
    }
}

impl Comparison {
    /// Every threshold that some point breaks (points lacking the metric are skipped).
    pub fn check(&self, thresholds: &[Threshold]) -> Vec<Violation> {
        let mut out = Vec::new();
        for p in &self.points {
            for t in thresholds {
                let Some(m) = p.metrics.iter().find(|m| m.metric == t.metric) else {
                    continue;
                };
                let broken = match t.op {
                    ThresholdOp::Above => m.ratio > t.ratio,
                    ThresholdOp::Below => m.ratio < t.ratio,
                };
                if broken {
                    out.push(Violation {
                        key: p.key.clone(),
                        threshold: *t,
                        a: m.a.median,
                        b: m.b.median,
                        ratio: m.ratio,
                    });
                }
            }
        }
        out
    }

    /// The thresholds that no point could check: no point of both runs has their metric
    /// (every threshold, when no point is present in both runs).
    pub fn unchecked(&self, thresholds: &[Threshold]) -> Vec<Threshold> {
        thresholds
            .iter()
            .filter(|t| {
                !self
                    .points
                    .iter()
                    .any(|p| p.metrics.iter().any(|m| m.metric == t.metric))
            })
            .copied()
            .collect()
    }

    /// A plain-text table: per point, one line per metric with a and b (median, and
    /// [min–max] over trials when there are several) and b/a.
    pub fn render_table(&self) -> String {
        let mut lines: Vec<[String; 4]> = Vec::new();
        let mut out = String::new();
        for p in &self.points {
            lines.clear();
            for m in p
                .metrics
                .iter()
                .filter(|m| TABLE_METRICS.contains(&m.metric))
            {
                lines.push([
                    m.metric.name().to_owned(),
                    spread_text(&m.a),
                    spread_text(&m.b),
                    ratio_text(m.ratio),
                ]);
            }
            out.push_str(&format!(
                "{}  (trials: a {}, b {})\n",
                p.key, p.trials_a, p.trials_b
            ));
            let header = ["metric", "a", "b", "b/a"].map(String::from);
            let mut w = [0usize; 4];
            for l in std::iter::once(&header).chain(&lines) {
                for (i, c) in l.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            for l in std::iter::once(&header).chain(&lines) {
                out.push_str(&format!(
                    "  {:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}\n",
                    l[0],
                    l[1],
                    l[2],
                    l[3],
                    w0 = w[0],
                    w1 = w[1],
                    w2 = w[2],
                    w3 = w[3]
                ));
            }
            out.push('\n');
        }
        for k in &self.only_in_a {
            out.push_str(&format!("only in a: {k}\n"));
        }
        for k in &self.only_in_b {
            out.push_str(&format!("only in b: {k}\n"));
        }
        if self.points.is_empty() {
            out.push_str("no point is present in both runs\n");
        }
        out
    }
}

fn spread_text(s: &Spread) -> String {
    if s.n > 1 && s.min != s.max {
        format!("{} [{}–{}]", human(s.median), human(s.min), human(s.max))
    } else {
        human(s.median)
    }
}

fn ratio_text(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.3}")
    } else {
        "∞".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, repeat: u32, p99: u64, rate: f64) -> SummaryRow {
        SummaryRow {
            scenario: "broadcast".into(),
            variant: "to_all".into(),
            sweep: "clients=100".into(),
            target: target.into(),
            repeat,
            lat_p50_us: p99 / 4,
            lat_p99_us: p99,
            deliveries_per_s: rate,
            server_cpu_s: Some(1.0),
            ..SummaryRow::default()
        }
    }

    #[test]
    fn parses_thresholds() {
        let t = parse_threshold("lat_p99_us>1.10").unwrap();
        assert_eq!(
            (t.metric, t.op, t.ratio),
            (Metric::LatP99, ThresholdOp::Above, 1.10)
        );
        let t = parse_threshold(" deliveries_per_s < 0.9 ").unwrap();
        assert_eq!(
            (t.metric, t.op, t.ratio),
            (Metric::DeliveriesPerS, ThresholdOp::Below, 0.9)
        );
        assert_eq!(t.to_string(), "deliveries_per_s<0.9");
        for bad in [
            "lat_p99_us=1.1",
            "lat_p99_us>>1",
            "latency>1.1",
            "lat_p99_us>fast",
            "lat_p99_us>0",
            "a<b>c",
        ] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
        let e = parse_threshold("latency>1.1").unwrap_err().to_string();
        assert!(
            e.contains("unknown metric") && e.contains("lat_p99_us"),
            "{e}"
        );
    }

    #[test]
    fn matches_by_key_and_takes_medians_of_trials() {
        let a = vec![
            row("tcp", 1, 1000, 100.0),
            row("tcp", 2, 1200, 110.0),
            row("tcp", 3, 5000, 90.0),
            row("ws", 1, 2000, 50.0),
        ];
        let b = vec![row("tcp", 1, 1320, 100.0), row("sio", 1, 3000, 40.0)];
        let c = compare(&a, &b);
        assert_eq!(c.points.len(), 1);
        let p = &c.points[0];
        assert_eq!(p.key.target, "tcp");
        assert_eq!((p.trials_a, p.trials_b), (3, 1));
        let p99 = p
            .metrics
            .iter()
            .find(|m| m.metric == Metric::LatP99)
            .unwrap();
        assert_eq!(
            (p99.a.median, p99.a.min, p99.a.max),
            (1200.0, 1000.0, 5000.0)
        );
        assert!((p99.ratio - 1.1).abs() < 1e-9);
        assert_eq!(c.only_in_a.len(), 1);
        assert_eq!(c.only_in_a[0].target, "ws");
        assert_eq!(c.only_in_b[0].target, "sio");
        // staleness is absent on both sides: not compared
        assert!(p.metrics.iter().all(|m| m.metric != Metric::StalenessP99));
    }

    #[test]
    fn different_sweep_points_do_not_match() {
        let a = vec![row("tcp", 1, 1000, 1.0)];
        let mut r = row("tcp", 1, 1000, 1.0);
        r.sweep = "clients=200".into();
        let c = compare(&a, &[r]);
        assert!(c.points.is_empty());
        assert!(
            c.render_table()
                .contains("no point is present in both runs")
        );
    }

    #[test]
    fn ratios_handle_zero() {
        assert_eq!(ratio(0.0, 0.0), 1.0);
        assert!(ratio(0.0, 3.0).is_infinite());
        assert_eq!(ratio(4.0, 2.0), 0.5);
    }

    #[test]
    fn thresholds_pass_and_fail() {
        let a = vec![row("tcp", 1, 1000, 100.0)];
        let b = vec![row("tcp", 1, 1200, 80.0)];
        let c = compare(&a, &b);
        let pass = [
            parse_threshold("lat_p99_us>1.25").unwrap(),
            parse_threshold("deliveries_per_s<0.75").unwrap(),
        ];
        assert!(c.check(&pass).is_empty());
        let fail = [
            parse_threshold("lat_p99_us>1.10").unwrap(),
            parse_threshold("deliveries_per_s<0.9").unwrap(),
            parse_threshold("staleness_p99_ms>1.0").unwrap(),
        ];
        let v = c.check(&fail);
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[0].threshold.metric, Metric::LatP99);
        let text = v[0].to_string();
        assert!(
            text.contains("tcp")
                && text.contains("lat_p99_us>1.1")
                && text.contains("1000 -> 1200"),
            "{text}"
        );
    }

    #[test]
    fn a_threshold_no_point_has_is_unchecked() {
        let a = vec![row("tcp", 1, 1000, 100.0)];
        let c = compare(&a, &[row("tcp", 1, 1000, 100.0)]);
        let p99 = parse_threshold("lat_p99_us>1.1").unwrap();
        let stale = parse_threshold("staleness_p99_ms>1.1").unwrap();
        assert_eq!(c.unchecked(&[p99, stale]), vec![stale]);
        // present in a only: still nothing to compare it with
        let mut with_rss = row("tcp", 1, 1000, 100.0);
        with_rss.server_rss_peak_kb = Some(1000);
        let c = compare(&[with_rss], &a);
        let rss = parse_threshold("server_rss_peak_kb>1.1").unwrap();
        assert_eq!(c.unchecked(&[rss]), vec![rss]);
    }

    #[test]
    fn with_no_common_point_every_threshold_is_unchecked() {
        let mut r = row("tcp", 1, 1000, 1.0);
        r.sweep = "clients=200".into();
        let c = compare(&[row("tcp", 1, 1000, 1.0)], &[r]);
        let p99 = parse_threshold("lat_p99_us>1.1").unwrap();
        assert_eq!(c.unchecked(&[p99]), vec![p99]);
        assert!(c.check(&[p99]).is_empty());
    }

    #[test]
    fn table_shows_spread_and_ratio() {
        let a = vec![row("tcp", 1, 1000, 100.0), row("tcp", 2, 1400, 100.0)];
        let b = vec![row("tcp", 1, 1800, 100.0)];
        let t = compare(&a, &b).render_table();
        assert!(
            t.contains("broadcast/to_all [clients=100] tcp  (trials: a 2, b 1)"),
            "{t}"
        );
        assert!(t.contains("1200 [1000–1400]"), "{t}");
        assert!(t.contains("1.500"), "{t}");
    }
}
