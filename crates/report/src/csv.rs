//! `summary.csv`: serialise rows (header = [`SummaryRow`] field names in struct order), parse
//! them back by header name (unknown columns ignored, missing ones defaulted, so files from
//! older or newer wsbench versions load), and replace the file atomically.

use std::path::Path;

use crate::ReportError;
use crate::atomic_file;
use crate::csv_cell::{Cell, quote, records};
use crate::row::SummaryRow;

/// Lists every field of [`SummaryRow`] once, in struct order, and hands the list to `$m`.
/// The generated writer destructures the row without `..`, so a new field that is not
/// listed here is a compile error rather than a silently missing column.
macro_rules! with_summary_fields {
    ($m:ident) => {
        $m! {
            run_id, scenario, target, transport, clients, publishers, rooms, rate,
            payload_bytes, measure_s, sent, expected, delivered, lost, duplicated, reordered,
            deliveries_per_s, lat_p50_us, lat_p90_us, lat_p99_us, lat_p999_us, lat_max_us,
            lat_mean_us, lat_uncorrected_p99_us, connect_p50_us, connect_p99_us,
            connect_errors, server_cpu_s, server_rss_peak_kb, loadgen_cpu_s, loadgen_bound,
            db_queries_app, db_queries_engine, http_requests, staleness_p50_ms,
            staleness_p99_ms, bytes_out, bytes_in, errors, repeat, sweep, variant, partial,
            versions_missed, db_counts_agree, send_lag_p99_us, notes
        }
    };
}

macro_rules! define_codec {
    ($($f:ident),* $(,)?) => {
        /// Column names of `summary.csv`, in order: docs/design.md §7's 39, then wsbench's additions.
        pub const COLUMNS: &[&str] = &[$(stringify!($f)),*];

        fn cells(row: &SummaryRow) -> Vec<String> {
            let SummaryRow { $($f),* } = row;
            vec![$(Cell::to_cell($f)),*]
        }

        /// `at[i]` is the file column holding `COLUMNS[i]`, if the file has it.
        fn from_cells(at: &[Option<usize>], cells: &[String]) -> Result<SummaryRow, String> {
            let mut row = SummaryRow::default();
            let mut i = 0usize;
            $(
                if let Some(ix) = at[i] {
                    let text = cells.get(ix).map(String::as_str).unwrap_or("");
                    row.$f = Cell::from_cell(text)
                        .map_err(|e| format!("column {}: {e}", stringify!($f)))?;
                }
                i += 1;
            )*
            let _ = i;
            Ok(row)
        }
    };
}
with_summary_fields!(define_codec);

/// Serialises rows as `summary.csv` text: a header line, then one line per row, LF ends.
pub fn serialize(rows: &[SummaryRow]) -> Vec<u8> {
    let mut out = String::new();
    out.push_str(&COLUMNS.join(","));
    out.push('\n');
    for row in rows {
        let line: Vec<String> = cells(row).iter().map(|c| quote(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// Parses `summary.csv` text by header name. Unknown columns are ignored; columns this
/// version knows but the file lacks take their default (0, empty, false, None).
pub fn parse(bytes: &[u8]) -> Result<Vec<SummaryRow>, ReportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ReportError::Csv {
        line: 1,
        message: format!("not UTF-8: {e}"),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let recs = records(text).map_err(|(line, message)| ReportError::Csv { line, message })?;
    let Some((header, body)) = recs.split_first() else {
        return Err(ReportError::Csv {
            line: 1,
            message: "empty file: no header line".to_owned(),
        });
    };
    let names: Vec<&str> = header.cells.iter().map(|c| c.trim()).collect();
    for required in ["scenario", "target"] {
        if !names.contains(&required) {
            return Err(ReportError::Csv {
                line: 1,
                message: format!("header has no {required:?} column; is this a summary.csv?"),
            });
        }
    }
    let at: Vec<Option<usize>> = COLUMNS
        .iter()
        .map(|c| names.iter().position(|n| n == c))
        .collect();
    body.iter()
        .map(|rec| {
            if rec.cells.len() > names.len() {
                return Err(ReportError::Csv {
                    line: rec.line,
                    message: format!(
                        "{} cells but the header has {} columns",
                        rec.cells.len(),
                        names.len()
                    ),
                });
            }
            from_cells(&at, &rec.cells).map_err(|message| ReportError::Csv {
                line: rec.line,
                message,
            })
        })
        .collect()
}

/// Writes `rows` to `path` as `summary.csv` (temp file in the same directory, fsync,
/// rename): call it after every row so an interrupted run keeps what it measured.
pub fn write_atomic(path: &Path, rows: &[SummaryRow]) -> Result<(), ReportError> {
    atomic_file::write_atomic(path, &serialize(rows))
}

/// Reads and parses a `summary.csv` file.
pub fn read(path: &Path) -> Result<Vec<SummaryRow>, ReportError> {
    let bytes = std::fs::read(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|e| e.in_file(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The external contract: docs/design.md §7, in order. Checked from outside the project.
    const CONTRACT_COLUMNS: [&str; 39] = [
        "run_id",
        "scenario",
        "target",
        "transport",
        "clients",
        "publishers",
        "rooms",
        "rate",
        "payload_bytes",
        "measure_s",
        "sent",
        "expected",
        "delivered",
        "lost",
        "duplicated",
        "reordered",
        "deliveries_per_s",
        "lat_p50_us",
        "lat_p90_us",
        "lat_p99_us",
        "lat_p999_us",
        "lat_max_us",
        "lat_mean_us",
        "lat_uncorrected_p99_us",
        "connect_p50_us",
        "connect_p99_us",
        "connect_errors",
        "server_cpu_s",
        "server_rss_peak_kb",
        "loadgen_cpu_s",
        "loadgen_bound",
        "db_queries_app",
        "db_queries_engine",
        "http_requests",
        "staleness_p50_ms",
        "staleness_p99_ms",
        "bytes_out",
        "bytes_in",
        "errors",
    ];
    /// wsbench's additions, after the fixed columns.
    const ADDED_COLUMNS: [&str; 8] = [
        "repeat",
        "sweep",
        "variant",
        "partial",
        "versions_missed",
        "db_counts_agree",
        "send_lag_p99_us",
        "notes",
    ];

    pub(crate) fn sample_row(target: &str, p99: u64) -> SummaryRow {
        SummaryRow {
            run_id: "2026-11-23T10-00-00Z".into(),
            scenario: "broadcast".into(),
            target: target.into(),
            transport: "websocket".into(),
            clients: 1000,
            publishers: 10,
            rooms: 0,
            rate: 1000.0,
            payload_bytes: 128,
            measure_s: 10.0,
            sent: 10_000,
            expected: 10_000_000,
            delivered: 9_999_990,
            lost: 10,
            deliveries_per_s: 999_999.0,
            lat_p50_us: 800,
            lat_p90_us: 1500,
            lat_p99_us: p99,
            lat_p999_us: p99 * 2,
            lat_max_us: p99 * 5,
            lat_mean_us: 912.375,
            lat_uncorrected_p99_us: p99 / 2,
            connect_p50_us: 300,
            connect_p99_us: 2000,
            server_cpu_s: Some(7.25),
            server_rss_peak_kb: Some(81_920),
            loadgen_cpu_s: 12.5,
            staleness_p50_ms: None,
            bytes_out: 1_500_000,
            bytes_in: 1_400_000_000,
            repeat: 1,
            sweep: "clients=1000".into(),
            variant: "to_all".into(),
            send_lag_p99_us: 40,
            ..SummaryRow::default()
        }
    }

    #[test]
    fn header_is_the_design_list_followed_by_the_additions() {
        let text = String::from_utf8(serialize(&[])).unwrap();
        let expected: Vec<&str> = CONTRACT_COLUMNS
            .iter()
            .chain(&ADDED_COLUMNS)
            .copied()
            .collect();
        assert_eq!(text, format!("{}\n", expected.join(",")));
    }

    #[test]
    fn header_follows_the_struct_field_order() {
        // serde_json writes struct fields in declaration order; all keys of a default row
        // appear as `"name":` with no other quotes-colon pairs (strings are empty).
        let json = serde_json::to_string(&SummaryRow::default()).unwrap();
        let keys: Vec<&str> = json
            .split('"')
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[1].starts_with(':'))
            .map(|w| w[0])
            .collect();
        assert_eq!(keys, COLUMNS);
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let mut odd = sample_row("sio=http://127.0.0.1:3000", 4321);
        odd.notes = "loadgen cpu 98%, \"send lag\"\nsecond line".into();
        odd.loadgen_bound = true;
        odd.partial = true;
        odd.db_queries_app = Some(5);
        odd.db_queries_engine = Some(6);
        odd.db_counts_agree = Some(false);
        odd.staleness_p50_ms = Some(0.125);
        odd.staleness_p99_ms = Some(12.0);
        odd.versions_missed = Some(0);
        let rows = vec![sample_row("tcp", 1200), odd, SummaryRow::default()];
        let back = parse(&serialize(&rows)).unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn none_is_an_empty_cell_and_bools_are_words() {
        let text = String::from_utf8(serialize(&[sample_row("tcp", 1)])).unwrap();
        let line = text.lines().nth(1).unwrap();
        // server_rss_peak_kb=81920, loadgen_cpu_s=12.5, loadgen_bound=false, then 3 empty
        assert!(line.contains(",81920,12.5,false,,,,"), "{line}");
    }

    #[test]
    fn unknown_columns_are_ignored_and_missing_ones_default() {
        let text = "future_col,target,scenario,lat_p99_us\nzzz,tcp,echo,77\n";
        let rows = parse(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].target, "tcp");
        assert_eq!(rows[0].lat_p99_us, 77);
        assert_eq!(rows[0].server_cpu_s, None);
    }

    #[test]
    fn a_bad_cell_names_line_and_column() {
        let text = "scenario,target,lat_p99_us\necho,tcp,12\necho,tcp,fast\n";
        let e = parse(text.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("lat_p99_us"), "{e}");
    }

    #[test]
    fn a_file_without_the_key_columns_is_rejected() {
        let e = parse(b"a,b\n1,2\n").unwrap_err().to_string();
        assert!(e.contains("scenario"), "{e}");
        assert!(parse(b"").is_err());
    }

    #[test]
    fn write_atomic_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("summary.csv");
        let rows = vec![sample_row("ws-tungstenite", 900)];
        write_atomic(&p, &rows).unwrap();
        assert_eq!(read(&p).unwrap(), rows);
    }
}
