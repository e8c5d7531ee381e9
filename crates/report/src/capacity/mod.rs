//! The results of `wsbench capacity`: `capacity.csv` (one row per target: the highest load
//! that met the SLO with nothing lost, and what stopped the search), its terminal table,
//! the search as `meta.json` records it, and the SLO grammar ([`slo`]). The step rows
//! themselves are ordinary `summary.csv` rows (sweep `rate=N` or `clients=N`).
//!
//! [`serialize`] and [`format_table`] are pure; [`write_atomic`] and [`read`] touch files.

pub mod slo;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::plot::target_order;
use crate::{ReportError, atomic_file};

/// `capacity.csv`, in a capacity run's directory.
pub const CAPACITY_CSV: &str = "capacity.csv";

/// What ended a target's search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitedBy {
    /// The first load over capacity broke the SLO.
    Slo,
    /// … lost deliveries (expected but never arrived).
    Lost,
    /// … had errors (failed sends, error replies, unexpected closes, clients that could not
    /// connect, or a row that could not be measured).
    Errors,
    /// A step was load-generator bound: the search stopped there; the capacity is the last
    /// passing load below it (no figure ever comes from a bound step).
    Loadgen,
    /// Every step passed up to `--max`.
    Max,
}

impl LimitedBy {
    pub const ALL: [LimitedBy; 5] = [
        LimitedBy::Slo,
        LimitedBy::Lost,
        LimitedBy::Errors,
        LimitedBy::Loadgen,
        LimitedBy::Max,
    ];

    /// The name in `capacity.csv` (`slo`, `lost`, …).
    pub fn name(self) -> &'static str {
        match self {
            LimitedBy::Slo => "slo",
            LimitedBy::Lost => "lost",
            LimitedBy::Errors => "errors",
            LimitedBy::Loadgen => "loadgen",
            LimitedBy::Max => "max",
        }
    }
}

/// One line of `capacity.csv`. The first five columns are the contract; the rest explain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapacityRow {
    pub target: String,
    /// The highest load that passed (0 when the first step failed).
    pub capacity: f64,
    /// `msgs/s` (total offered rate, `--by rate`) or `clients` (`--by clients`).
    pub unit: String,
    /// The SLO, canonical (`p99<=50ms`).
    pub slo: String,
    /// What ended the search; empty only on a `partial` row whose search had not found a
    /// limit yet.
    pub limited_by: Option<LimitedBy>,
    /// The lowest load that did not pass: failed, or was load-generator bound (empty when
    /// none).
    pub failed_at: Option<f64>,
    /// p99 latency of the step at `capacity`, µs (empty when nothing passed).
    pub p99_at_capacity_us: Option<u64>,
    /// Steps measured for this target.
    pub steps: u32,
    /// The servers' CPU budget, CPUs (empty without one).
    pub server_cpus: Option<f64>,
    /// The search was cut short (Ctrl-C): `capacity` is the highest load known to pass.
    pub partial: bool,
    /// Why the failing step failed, or why the search stopped.
    pub note: String,
}

/// `capacity.csv` text: header, then one line per row, LF ends.
pub fn serialize(rows: &[CapacityRow]) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(COLUMNS).expect("writing to memory");
    for r in rows {
        w.serialize(r)
            .expect("a CapacityRow serialises to one record");
    }
    w.into_inner().expect("flushing to memory")
}

/// The columns of `capacity.csv`, in order.
pub const COLUMNS: [&str; 11] = [
    "target",
    "capacity",
    "unit",
    "slo",
    "limited_by",
    "failed_at",
    "p99_at_capacity_us",
    "steps",
    "server_cpus",
    "partial",
    "note",
];

/// Parses `capacity.csv` text by header name.
pub fn parse(bytes: &[u8]) -> Result<Vec<CapacityRow>, ReportError> {
    let mut r = ::csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes);
    r.deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.map_err(|e| ReportError::Csv {
                line: i + 2,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Replaces `path` with `rows` atomically.
pub fn write_atomic(path: &Path, rows: &[CapacityRow]) -> Result<(), ReportError> {
    atomic_file::write_atomic(path, &serialize(rows))
}

/// Reads `capacity.csv` at `path`.
pub fn read(path: &Path) -> Result<Vec<CapacityRow>, ReportError> {
    let bytes = std::fs::read(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|e| e.in_file(path.to_path_buf()))
}

/// The search as `meta.json` records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapacitySearch {
    /// The SLO, canonical.
    pub slo: String,
    /// `rate` or `clients`.
    pub by: String,
    pub unit: String,
    /// The first load tried (the scenario's rate or clients).
    pub start: f64,
    /// The highest load tried (`--max`).
    pub max: f64,
    /// Bisection stops when failing/passing ≤ 1 + precision.
    pub precision: f64,
    /// Every step, in run order.
    pub steps: Vec<StepRecord>,
}

/// One step of a search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepRecord {
    pub target: String,
    pub load: f64,
    /// Passed: 0 lost, 0 errors, SLO met, not load-generator bound.
    pub pass: bool,
    /// When it failed: why (`slo`, `lost`, `errors`, `loadgen`).
    pub failed_by: Option<LimitedBy>,
    /// The details (`p99 73.2ms > 50ms`, `12 lost`).
    pub detail: String,
}

/// `1.2k`-free plain figure for the table: integers without decimals, else one decimal.
fn figure(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The terminal table: target, capacity, unit, ratio to `tcp` (when `tcp` is among the
/// rows and its capacity is above 0), limited_by; targets in the plots' order.
pub fn format_table(rows: &[CapacityRow]) -> String {
    let mut sorted: Vec<&CapacityRow> = rows.iter().collect();
    sorted.sort_by_key(|r| target_order(&r.target));
    let tcp = rows
        .iter()
        .find(|r| r.target == "tcp" && r.capacity > 0.0)
        .map(|r| r.capacity);
    let mut header = vec!["target", "capacity", "unit"];
    if tcp.is_some() {
        header.push("vs tcp");
    }
    header.extend(["limited_by", "slo", "note"]);
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
    for r in sorted {
        let mut l = vec![r.target.clone(), figure(r.capacity), r.unit.clone()];
        if let Some(t) = tcp {
            l.push(format!("{:.2}", r.capacity / t));
        }
        let limit = r.limited_by.map_or("?", LimitedBy::name);
        l.push(if r.partial {
            format!("{limit} (partial)")
        } else {
            limit.to_owned()
        });
        l.push(r.slo.clone());
        l.push(r.note.clone());
        lines.push(l);
    }
    let cols = lines[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric = |c: usize| c == 1 || (tcp.is_some() && c == 3);
    lines
        .iter()
        .map(|l| {
            l.iter()
                .enumerate()
                .map(|(c, cell)| {
                    let pad = widths[c] - cell.chars().count();
                    if numeric(c) {
                        format!("{}{cell}", " ".repeat(pad))
                    } else if c + 1 == cols {
                        cell.clone()
                    } else {
                        format!("{cell}{}", " ".repeat(pad))
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, capacity: f64, limited_by: LimitedBy) -> CapacityRow {
        CapacityRow {
            target: target.into(),
            capacity,
            unit: "msgs/s".into(),
            slo: "p99<=50ms".into(),
            limited_by: Some(limited_by),
            steps: 5,
            ..CapacityRow::default()
        }
    }

    #[test]
    fn capacity_csv_has_the_contract_columns_first_and_reads_back() {
        let rows = vec![
            CapacityRow {
                failed_at: Some(2200.0),
                p99_at_capacity_us: Some(31_000),
                server_cpus: Some(0.5),
                note: "p99 61.0ms > 50ms, at 2200".into(),
                ..row("tcp", 2000.0, LimitedBy::Slo)
            },
            CapacityRow {
                partial: true,
                limited_by: None,
                ..row("sio-socketioxide", 0.0, LimitedBy::Max)
            },
        ];
        let text = String::from_utf8(serialize(&rows)).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "target,capacity,unit,slo,limited_by,failed_at,p99_at_capacity_us,steps,\
             server_cpus,partial,note"
        );
        assert_eq!(
            lines.next().unwrap(),
            "tcp,2000.0,msgs/s,p99<=50ms,slo,2200.0,31000,5,0.5,false,\"p99 61.0ms > 50ms, at 2200\""
        );
        assert_eq!(
            lines.next().unwrap(),
            "sio-socketioxide,0.0,msgs/s,p99<=50ms,,,,5,,true,"
        );
        assert_eq!(parse(text.as_bytes()).unwrap(), rows);
        assert_eq!(serialize(&[]), (COLUMNS.join(",") + "\n").into_bytes());
    }

    #[test]
    fn every_limit_has_its_contract_name() {
        let names: Vec<&str> = LimitedBy::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["slo", "lost", "errors", "loadgen", "max"]);
        for l in LimitedBy::ALL {
            let r = row("tcp", 1.0, l);
            let text = String::from_utf8(serialize(&[r])).unwrap();
            assert!(text.contains(&format!(",{},", l.name())), "{text}");
        }
    }

    #[test]
    fn the_table_sorts_targets_and_shows_the_ratio_to_tcp() {
        let t = format_table(&[
            row("sio-socketioxide", 1000.0, LimitedBy::Slo),
            row("tcp", 4000.0, LimitedBy::Max),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("target") && lines[0].contains("vs tcp"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("tcp ") && lines[1].contains("1.00"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("sio-socketioxide") && lines[2].contains("0.25"),
            "{t}"
        );
        assert!(lines[2].contains("slo"), "{t}");
        // without tcp (or with tcp at 0) there is no ratio column
        let t = format_table(&[row("tcp", 0.0, LimitedBy::Slo)]);
        assert!(!t.contains("vs tcp"), "{t}");
    }
}
