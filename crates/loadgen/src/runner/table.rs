//! The paired table printed at the end of a run: one line per row with the key columns, so
//! targets measured under the same point sit next to each other, the `tcp` floor first, and
//! rows where the load generator was the limit marked [`BOUND_MARK`].

use wsbench_report::plot::target_order;
use wsbench_report::row::SummaryRow;

/// Marks a row whose load generator, not its server, was the limit.
pub const BOUND_MARK: char = '⚑';

/// One line per row: target, delivered/expected, lost, p50, p99, p99.9, deliveries/s,
/// server CPU, server RSS. Rows are grouped by scenario and sweep point in run order, so the
/// interleaved repeats of one point (A B C A B C) print together; within a group targets
/// follow the target table's order, as in the plots (`tcp` first, externals last by name). A load-generator-bound row carries [`BOUND_MARK`] after its
/// target, explained by a legend line. When some row ran the floor client (`floor = true`),
/// a last column `vs floor` gives its deliveries/s over the floor client's.
pub fn format_table(rows: &[SummaryRow]) -> String {
    let with_floor = rows.iter().any(|r| r.floor_deliveries_per_s.is_some());
    let mut header = vec![
        "scenario",
        "sweep",
        "r",
        "target",
        "delivered/expected",
        "lost",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "deliv/s",
        "srv cpu s",
        "srv rss MB",
    ];
    if with_floor {
        header.push("vs floor");
    }
    let mut order: Vec<&SummaryRow> = Vec::with_capacity(rows.len());
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        let k = (r.scenario.as_str(), r.sweep.as_str());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for k in &keys {
        let mut group: Vec<&SummaryRow> = rows
            .iter()
            .filter(|r| (r.scenario.as_str(), r.sweep.as_str()) == *k)
            .collect();
        group.sort_by(|a, b| {
            target_order(&a.target)
                .cmp(&target_order(&b.target))
                .then(a.repeat.cmp(&b.repeat))
        });
        order.extend(group);
    }
    let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
    let cells: Vec<Vec<String>> = order
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.scenario.clone(),
                if r.sweep.is_empty() {
                    "-".into()
                } else {
                    r.sweep.clone()
                },
                format!("{}{}", r.repeat, if r.partial { "*" } else { "" }),
                if r.loadgen_bound {
                    format!("{} {BOUND_MARK}", r.target)
                } else {
                    r.target.clone()
                },
                format!("{}/{}", r.delivered, r.expected),
                r.lost.to_string(),
                ms(r.lat_p50_us),
                ms(r.lat_p99_us),
                ms(r.lat_p999_us),
                format!("{:.0}", r.deliveries_per_s),
                r.server_cpu_s.map_or("-".into(), |c| format!("{c:.2}")),
                r.server_rss_peak_kb
                    .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            ];
            if with_floor {
                cells.push(floor_ratio(r));
            }
            cells
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<String>| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            // text columns left, numbers right
            if i < 4 {
                s.push_str(&format!("{c:<w$}"))
            } else {
                s.push_str(&format!("{c:>w$}"))
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in cells {
        out.push_str(&line(row));
    }
    if rows.iter().any(|r| r.partial) {
        out.push_str("* partial row (interrupted)\n");
    }
    if with_floor {
        out.push_str(
            "vs floor: deliveries/s over the floor client's (`wsbench floor`, same server, \
             pinning, clients and payload, run right after the row)\n",
        );
    }
    if rows.iter().any(|r| r.loadgen_bound) {
        out.push_str(&format!(
            "{BOUND_MARK} load-generator bound: the load generator, not the server, was the \
             limit (a lower bound of the server's capacity)\n"
        ));
    }
    out
}

/// `deliveries_per_s / floor_deliveries_per_s` as `0.87×`, or `-`.
fn floor_ratio(r: &SummaryRow) -> String {
    match r.floor_deliveries_per_s {
        Some(f) if f > 0.0 => format!("{:.2}×", r.deliveries_per_s / f),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_row_with_key_columns() {
        let row = |target: &str, repeat, p99| SummaryRow {
            scenario: "fanout".into(),
            target: target.into(),
            repeat,
            delivered: 990,
            expected: 1000,
            lost: 10,
            lat_p50_us: 1500,
            lat_p99_us: p99,
            lat_p999_us: 9000,
            deliveries_per_s: 990.0,
            server_cpu_s: Some(0.25),
            server_rss_peak_kb: Some(10240),
            ..SummaryRow::default()
        };
        let rows = [
            row("b", 1, 4000),
            row("a", 1, 3000),
            row("b", 2, 4100),
            row("a", 2, 3100),
        ];
        let t = format_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert!(lines[0].starts_with("scenario"));
        assert!(
            lines[1].contains(" a ") && lines[2].contains(" a ") && lines[3].contains(" b "),
            "{t}"
        );
        assert!(
            lines[1].contains("990/1000")
                && lines[1].contains("3.000")
                && lines[1].contains("10.0"),
            "{t}"
        );
        let partial = [SummaryRow {
            partial: true,
            server_cpu_s: None,
            ..rows[0].clone()
        }];
        let t = format_table(&partial);
        assert!(
            t.contains("1*") && t.contains("partial") && t.contains(" - "),
            "{t}"
        );
        assert!(!t.contains(BOUND_MARK), "{t}");
    }

    #[test]
    fn the_tcp_floor_comes_first_and_externals_last() {
        let row = |target: &str, sweep: &str| SummaryRow {
            scenario: "broadcast".into(),
            sweep: sweep.into(),
            target: target.into(),
            repeat: 1,
            ..SummaryRow::default()
        };
        let rows = [
            row("ws-tungstenite", "clients=10"),
            row("sio=http://10.0.0.1:3000", "clients=10"),
            row("node-ws", "clients=10"),
            row("tcp", "clients=10"),
            row("sio-socketioxide", "clients=100"),
            row("tcp", "clients=100"),
        ];
        let t = format_table(&rows);
        let targets: Vec<&str> = t
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().nth(3).unwrap())
            .collect();
        assert_eq!(
            targets,
            [
                "tcp",
                "ws-tungstenite",
                "node-ws",
                "sio=http://10.0.0.1:3000",
                "tcp",
                "sio-socketioxide"
            ],
            "{t}"
        );
    }

    #[test]
    fn a_loadgen_bound_row_is_marked_with_a_legend() {
        let row = |target: &str, bound| SummaryRow {
            scenario: "broadcast".into(),
            target: target.into(),
            repeat: 1,
            loadgen_bound: bound,
            ..SummaryRow::default()
        };
        let t = format_table(&[row("sio-socketioxide", true), row("tcp", false)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(
            lines[1].contains(" tcp ") && !lines[1].contains(BOUND_MARK),
            "{t}"
        );
        assert!(
            lines[2].contains(&format!("sio-socketioxide {BOUND_MARK}")),
            "{t}"
        );
        assert!(
            lines[3].starts_with(BOUND_MARK) && lines[3].contains("load-generator bound"),
            "{t}"
        );
        // columns stay aligned: the marker counts as one character
        let col = |l: &str| l.find("0/0").map(|b| l[..b].chars().count());
        assert_eq!(col(lines[1]), col(lines[2]), "{t}");
    }

    #[test]
    fn floor_rows_show_the_ratio_to_the_floor_client() {
        let row = |target: &str, floor: Option<f64>| SummaryRow {
            scenario: "floor".into(),
            target: target.into(),
            repeat: 1,
            deliveries_per_s: 90_000.0,
            floor_deliveries_per_s: floor,
            ..SummaryRow::default()
        };
        let plain = format_table(&[row("tcp", None)]);
        assert!(!plain.contains("vs floor"), "{plain}");
        let t = format_table(&[row("tcp", Some(100_000.0)), row("ws-tungstenite", None)]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("vs floor"), "{t}");
        assert!(lines[1].ends_with("0.90×"), "{t}");
        assert!(lines[2].ends_with('-'), "{t}");
        assert!(lines[3].starts_with("vs floor:"), "{t}");
    }
}
