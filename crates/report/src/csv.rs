//! `summary.csv` through the `csv` crate and [`SummaryRow`]'s serde form: serialise rows
//! (header = [`columns`], the field names in struct order), parse them back by header name
//! (unknown columns ignored, missing ones defaulted, so files from older or newer wsbench
//! versions load), and replace the file atomically. Cell formatting (floats with at most six
//! decimals, `None` as an empty cell, bools as words) lives in [`crate::row`]'s serde
//! attributes, so a file read and written back is byte for byte the same.

use std::path::Path;

use crate::ReportError;
use crate::atomic_file;
use crate::row::SummaryRow;

/// Column names of `summary.csv`, in order: docs/design.md §7's 39, then wsbench's additions
/// — [`SummaryRow`]'s fields in declaration order, as serde names them.
pub fn columns() -> Vec<String> {
    let header = serialize(&[]);
    String::from_utf8_lossy(&header)
        .trim_end()
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// Serialises rows as `summary.csv` text: a header line, then one line per row, LF ends.
pub fn serialize(rows: &[SummaryRow]) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // the header comes from the first row serialised: with no rows, a default row's
    let placeholder = [SummaryRow::default()];
    let header_only = rows.is_empty();
    for row in if header_only { &placeholder[..] } else { rows } {
        w.serialize(row)
            .expect("a SummaryRow serialises to one record");
    }
    let mut bytes = w.into_inner().expect("flushing to memory");
    if header_only {
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        bytes.truncate(end);
    }
    bytes
}

/// Parses `summary.csv` text by header name. Unknown columns are ignored; columns this
/// version knows but the file lacks take their default (0, empty, false, None).
pub fn parse(bytes: &[u8]) -> Result<Vec<SummaryRow>, ReportError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let err = |line: u64, message: String| ReportError::Csv {
        line: usize::try_from(line).unwrap_or(usize::MAX),
        message,
    };
    let mut r = ::csv::ReaderBuilder::new()
        .flexible(true)
        .trim(::csv::Trim::Headers)
        .from_reader(bytes);
    let header = r
        .headers()
        .map_err(|e| err(line_of(&e), e.to_string()))?
        .clone();
    if header.iter().all(str::is_empty) {
        return Err(err(1, "empty file: no header line".to_owned()));
    }
    for required in ["scenario", "target"] {
        if !header.iter().any(|n| n == required) {
            return Err(err(
                1,
                format!("header has no {required:?} column; is this a summary.csv?"),
            ));
        }
    }
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| err(line_of(&e), e.to_string()))?;
        let line = rec.position().map_or(0, ::csv::Position::line);
        if rec.len() > header.len() {
            return Err(err(
                line,
                format!(
                    "{} cells but the header has {} columns",
                    rec.len(),
                    header.len()
                ),
            ));
        }
        let row = rec
            .deserialize(Some(&header))
            .map_err(|e: ::csv::Error| match e.kind() {
                ::csv::ErrorKind::Deserialize { err: de, .. } => {
                    let column = de
                        .field()
                        .and_then(|i| header.get(usize::try_from(i).ok()?))
                        .map(str::to_owned)
                        .or_else(|| failing_column(&header, &rec))
                        .unwrap_or_else(|| "?".to_owned());
                    err(line, format!("column {column}: {}", de.kind()))
                }
                _ => err(line, e.to_string()),
            })?;
        rows.push(row);
    }
    Ok(rows)
}

/// The column whose cell does not parse, found one cell at a time (a field's own
/// `deserialize_with` error does not say which field it was).
fn failing_column(header: &::csv::StringRecord, rec: &::csv::StringRecord) -> Option<String> {
    header
        .iter()
        .zip(rec.iter())
        .find(|(name, cell)| {
            let one = ::csv::StringRecord::from(vec![*name]);
            ::csv::StringRecord::from(vec![*cell])
                .deserialize::<SummaryRow>(Some(&one))
                .is_err()
        })
        .map(|(name, _)| name.to_owned())
}

/// The 1-based line a csv error points at (1 when it names none).
fn line_of(e: &::csv::Error) -> u64 {
    e.position().map_or(1, ::csv::Position::line)
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
    const ADDED_COLUMNS: [&str; 40] = [
        "repeat",
        "sweep",
        "variant",
        "partial",
        "versions_missed",
        "db_counts_agree",
        "send_lag_p99_us",
        "notes",
        "server_throttled_ms",
        "read_lag_p99_us",
        "floor_deliveries_per_s",
        "floor_loadgen_cpu_s",
        "floor_server_cpu_s",
        "nodes",
        "agents",
        "redis_cpu_s",
        "loadgen_rss_peak_kb",
        "redis_msgs_per_delivery",
        "bytes_per_update",
        "isolation_errors",
        "rate_limited",
        "reconnect_p50_ms",
        "reconnect_p99_ms",
        "reconnected",
        "lost_during_outage",
        "reconnect_accept_rate",
        "leak_fds",
        "leak_rooms",
        "leak_rss_kb",
        "slow_clients",
        "slow_policy",
        "slow_delivered",
        "slow_lost",
        "slow_closed",
        "server_dropped",
        "server_slow_disconnects",
        "proxy_resets",
        "proxy_stalls",
        "sockets",
        "cors_preflights",
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
        assert_eq!(keys, columns());
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
        odd.nodes = Some(3);
        odd.agents = Some(1);
        odd.redis_cpu_s = Some(0.5);
        odd.loadgen_rss_peak_kb = Some(65_536);
        odd.redis_msgs_per_delivery = Some(0.125);
        odd.bytes_per_update = Some(212.5);
        odd.isolation_errors = Some(0);
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
    fn quoted_cells_keep_commas_quotes_and_newlines() {
        let text = "scenario,target,notes\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\n\necho,,6";
        let rows = parse(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].scenario, "x,1");
        assert_eq!(rows[0].target, "say \"hi\"");
        assert_eq!(rows[0].notes, "two\nlines");
        assert_eq!(rows[1].notes, "6");
    }

    #[test]
    fn float_cells_are_short_and_exact_to_six_decimals() {
        let cell = |v: f64| {
            let row = SummaryRow {
                rate: v,
                ..SummaryRow::default()
            };
            let text = String::from_utf8(serialize(&[row])).unwrap();
            let line = text.lines().nth(1).unwrap().to_owned();
            line.split(',').nth(7).unwrap().to_owned()
        };
        assert_eq!(cell(12.5), "12.5");
        assert_eq!(cell(3.0), "3");
        assert_eq!(cell(0.0004), "0.0004");
        assert_eq!(cell(1.0 / 3.0), "0.333333");
        assert_eq!(cell(-0.0000001), "0");
    }

    #[test]
    fn bools_read_as_words_digits_or_empty() {
        let text =
            "scenario,target,partial,loadgen_bound,db_counts_agree\ne,t,1,,\ne,t,true,0,false\n";
        let rows = parse(text.as_bytes()).unwrap();
        assert!(rows[0].partial && !rows[0].loadgen_bound);
        assert_eq!(rows[0].db_counts_agree, None);
        assert!(rows[1].partial);
        assert_eq!(rows[1].db_counts_agree, Some(false));
        let e = parse(b"scenario,target,partial\ne,t,maybe\n").unwrap_err();
        assert!(e.to_string().contains("partial"), "{e}");
    }

    #[test]
    fn too_many_cells_name_the_line() {
        let e = parse(b"scenario,target\ne,t\ne,t,x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("3 cells"), "{e}");
    }

    #[test]
    fn committed_results_read_and_write_back_byte_for_byte() {
        let results = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
        let mut checked = 0;
        for entry in std::fs::read_dir(&results).unwrap() {
            let p = entry.unwrap().path().join("summary.csv");
            let Ok(before) = std::fs::read(&p) else {
                continue;
            };
            let rows = parse(&before).unwrap();
            let before = String::from_utf8(before).unwrap();
            let after = String::from_utf8(serialize(&rows)).unwrap();
            // a run written before a column was added lacks it: the rewrite is the original
            // with those columns appended empty, every other cell byte for byte
            let old_columns = before.lines().next().unwrap().split(',').count();
            let new_columns = after.lines().next().unwrap().split(',').count();
            assert!(new_columns >= old_columns, "{}", p.display());
            let added = new_columns - old_columns;
            assert!(
                after
                    .lines()
                    .next()
                    .unwrap()
                    .starts_with(before.lines().next().unwrap()),
                "{}: the columns keep their order, new ones last",
                p.display()
            );
            let expected: Vec<String> = before
                .lines()
                .enumerate()
                .map(|(i, l)| match i {
                    0 => after.lines().next().unwrap().to_owned(),
                    _ => format!("{l}{}", ",".repeat(added)),
                })
                .collect();
            assert_eq!(
                after.lines().collect::<Vec<_>>(),
                expected,
                "{}",
                p.display()
            );
            checked += 1;
        }
        assert!(
            checked >= 1,
            "no committed summary.csv under {}",
            results.display()
        );
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
