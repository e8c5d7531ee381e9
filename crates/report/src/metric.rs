//! Named metrics of a [`SummaryRow`] (including derived ones such as CPU per 1k deliveries),
//! the key that identifies "the same measurement" across trials and runs, and the
//! median / min–max summary of repeated trials.

use std::collections::BTreeMap;

use crate::row::SummaryRow;

/// A number read from a row; `None` where the row does not measure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    LatP50,
    LatP90,
    LatP99,
    LatP999,
    LatMax,
    DeliveriesPerS,
    ServerCpuS,
    /// Derived: server CPU milliseconds per 1,000 deliveries (efficiency, lower is better).
    ServerCpuMsPer1k,
    ServerRssPeakKb,
    LoadgenCpuS,
    DbQueriesApp,
    DbQueriesEngine,
    /// Derived: app-counted DB queries per second of the measure phase.
    DbQueriesPerS,
    StalenessP50,
    StalenessP99,
    ConnectP50,
    ConnectP99,
    Lost,
    Errors,
    /// polling-vs-push: bytes on the wire per viewer per dashboard version.
    BytesPerUpdate,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 20] = [
        Metric::LatP50,
        Metric::LatP90,
        Metric::LatP99,
        Metric::LatP999,
        Metric::LatMax,
        Metric::DeliveriesPerS,
        Metric::ServerCpuS,
        Metric::ServerCpuMsPer1k,
        Metric::ServerRssPeakKb,
        Metric::LoadgenCpuS,
        Metric::DbQueriesApp,
        Metric::DbQueriesEngine,
        Metric::DbQueriesPerS,
        Metric::StalenessP50,
        Metric::StalenessP99,
        Metric::ConnectP50,
        Metric::ConnectP99,
        Metric::Lost,
        Metric::Errors,
        Metric::BytesPerUpdate,
    ];

    /// The name used in thresholds and tables: the CSV column name, or a derived name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::LatP50 => "lat_p50_us",
            Metric::LatP90 => "lat_p90_us",
            Metric::LatP99 => "lat_p99_us",
            Metric::LatP999 => "lat_p999_us",
            Metric::LatMax => "lat_max_us",
            Metric::DeliveriesPerS => "deliveries_per_s",
            Metric::ServerCpuS => "server_cpu_s",
            Metric::ServerCpuMsPer1k => "server_cpu_ms_per_1k",
            Metric::ServerRssPeakKb => "server_rss_peak_kb",
            Metric::LoadgenCpuS => "loadgen_cpu_s",
            Metric::DbQueriesApp => "db_queries_app",
            Metric::DbQueriesEngine => "db_queries_engine",
            Metric::DbQueriesPerS => "db_queries_per_s",
            Metric::StalenessP50 => "staleness_p50_ms",
            Metric::StalenessP99 => "staleness_p99_ms",
            Metric::ConnectP50 => "connect_p50_us",
            Metric::ConnectP99 => "connect_p99_us",
            Metric::Lost => "lost",
            Metric::Errors => "errors",
            Metric::BytesPerUpdate => "bytes_per_update",
        }
    }

    /// Looks a metric up by [`Metric::name`].
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// True where a larger value is better (throughput); false for costs and latencies.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::DeliveriesPerS)
    }

    /// Reads the metric from a row.
    pub fn value(self, r: &SummaryRow) -> Option<f64> {
        let u = |v: u64| Some(v as f64);
        match self {
            Metric::LatP50 => u(r.lat_p50_us),
            Metric::LatP90 => u(r.lat_p90_us),
            Metric::LatP99 => u(r.lat_p99_us),
            Metric::LatP999 => u(r.lat_p999_us),
            Metric::LatMax => u(r.lat_max_us),
            Metric::DeliveriesPerS => Some(r.deliveries_per_s),
            Metric::ServerCpuS => r.server_cpu_s,
            Metric::ServerCpuMsPer1k => r
                .server_cpu_s
                .filter(|_| r.delivered > 0)
                .map(|s| s * 1000.0 / (r.delivered as f64 / 1000.0)),
            Metric::ServerRssPeakKb => r.server_rss_peak_kb.map(|v| v as f64),
            Metric::LoadgenCpuS => Some(r.loadgen_cpu_s),
            Metric::DbQueriesApp => r.db_queries_app.map(|v| v as f64),
            Metric::DbQueriesEngine => r.db_queries_engine.map(|v| v as f64),
            Metric::DbQueriesPerS => r
                .db_queries_app
                .filter(|_| r.measure_s > 0.0)
                .map(|q| q as f64 / r.measure_s),
            Metric::StalenessP50 => r.staleness_p50_ms,
            Metric::StalenessP99 => r.staleness_p99_ms,
            Metric::ConnectP50 => u(r.connect_p50_us),
            Metric::ConnectP99 => u(r.connect_p99_us),
            Metric::Lost => u(r.lost),
            Metric::Errors => u(r.errors),
            Metric::BytesPerUpdate => r.bytes_per_update,
        }
    }
}

/// Identifies one measurement point; trials (`repeat`) of a point share a key, and two runs
/// are compared key by key. `variant` is part of the key because one target can run several
/// variants of a workload in one scenario (polling vs push).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub scenario: String,
    pub variant: String,
    pub sweep: String,
    pub target: String,
}

impl RowKey {
    pub fn of(r: &SummaryRow) -> RowKey {
        RowKey {
            scenario: r.scenario.clone(),
            variant: r.variant.clone(),
            sweep: r.sweep.clone(),
            target: r.target.clone(),
        }
    }
}

impl std::fmt::Display for RowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.scenario)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        if !self.sweep.is_empty() {
            write!(f, " [{}]", self.sweep)?;
        }
        write!(f, " {}", self.target)
    }
}

/// Median and range of one metric over the trials of a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Trials that had a value.
    pub n: usize,
}

impl Spread {
    /// None when no value is present.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }

    /// Spread of `metric` over `rows`.
    pub fn of_metric(rows: &[&SummaryRow], metric: Metric) -> Option<Spread> {
        Spread::of(rows.iter().filter_map(|r| metric.value(r)))
    }
}

/// Groups rows by [`RowKey`], keeping the rows' order within a group (key order sorted).
pub fn group_by_key(rows: &[SummaryRow]) -> BTreeMap<RowKey, Vec<&SummaryRow>> {
    let mut m: BTreeMap<RowKey, Vec<&SummaryRow>> = BTreeMap::new();
    for r in rows {
        m.entry(RowKey::of(r)).or_default().push(r);
    }
    m
}

/// Parses a sweep label `key=value;key=value` into pairs (empty label → no pairs).
pub fn sweep_pairs(sweep: &str) -> Vec<(String, String)> {
    sweep
        .split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
            None => (p.trim().to_owned(), String::new()),
        })
        .collect()
}

/// A number for people: no decimals from 100 up, three significant digits below.
pub(crate) fn human(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "n/a".into()
        } else {
            "∞".into()
        };
    }
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        let decimals = (-(a.log10().floor()) as usize + 2).min(9);
        format!("{v:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
        }
        assert_eq!(Metric::from_name("nope"), None);
    }

    #[test]
    fn derived_metrics() {
        let r = SummaryRow {
            server_cpu_s: Some(2.0),
            delivered: 1_000_000,
            db_queries_app: Some(500),
            measure_s: 10.0,
            ..SummaryRow::default()
        };
        assert_eq!(Metric::ServerCpuMsPer1k.value(&r), Some(2.0));
        assert_eq!(Metric::DbQueriesPerS.value(&r), Some(50.0));
        let empty = SummaryRow::default();
        assert_eq!(Metric::ServerCpuMsPer1k.value(&empty), None);
    }

    #[test]
    fn spread_median_min_max() {
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(Spread::of([4.0, 1.0]).unwrap().median, 2.5);
        assert!(Spread::of([]).is_none());
    }

    #[test]
    fn sweep_labels_split_into_pairs() {
        assert_eq!(
            sweep_pairs("clients=100;rate=5000"),
            vec![
                ("clients".into(), "100".into()),
                ("rate".into(), "5000".into())
            ]
        );
        assert!(sweep_pairs("").is_empty());
    }
}
