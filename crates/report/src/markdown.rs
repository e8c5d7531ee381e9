//! `report.md`: a run's results for people — machine facts, flags (partial rows, rows where
//! the load generator was the bottleneck, DB counts that disagree), per workload a table of
//! every target at every sweep point (medians, with min–max across `--repeat` trials),
//! ratios to the `tcp` floor and to the best target, and the plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::compare::ratio;
use crate::meta::Meta;
use crate::metric::{Metric, RowKey, Spread, group_by_key, human};
use crate::plot::target_order;
use crate::row::SummaryRow;

/// One measurement point and its trials.
type Point<'a> = (&'a RowKey, &'a Vec<&'a SummaryRow>);

/// A plot to embed: its title and its path relative to `report.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotLink {
    pub title: String,
    pub path: String,
}

/// The target every other is measured against where present: no WebSocket framing at all.
pub const FLOOR_TARGET: &str = "tcp";

/// Metrics of the ratio table: (metric, column title).
const RATIO_METRICS: [(Metric, &str); 5] = [
    (Metric::LatP50, "p50"),
    (Metric::LatP99, "p99"),
    (Metric::DeliveriesPerS, "deliv/s"),
    (Metric::ServerCpuMsPer1k, "CPU/1k"),
    (Metric::ServerRssPeakKb, "RSS"),
];

/// Renders `report.md`.
pub fn render(
    rows: &[SummaryRow],
    meta: Option<&Meta>,
    plots: &[PlotLink],
    notes: &[String],
) -> String {
    let mut md = String::new();
    let run_id = meta
        .map(|m| m.run_id.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| rows.first().map(|r| r.run_id.clone()))
        .unwrap_or_default();
    let _ = writeln!(md, "# wsbench report: {run_id}\n");
    machine_section(&mut md, meta);
    flags_section(&mut md, rows);

    let groups = group_by_key(rows);
    let mut scenarios: BTreeMap<String, Vec<(&RowKey, &Vec<&SummaryRow>)>> = BTreeMap::new();
    for (k, rs) in &groups {
        scenarios
            .entry(k.scenario.clone())
            .or_default()
            .push((k, rs));
    }
    if rows.is_empty() {
        md.push_str("No rows in summary.csv.\n\n");
    }
    for (scenario, mut points) in scenarios {
        // Sweep points and variants in run order; within one, targets from the `tcp` floor
        // up (built-ins in their fixed order, then others by name).
        let first = |k: &RowKey| {
            rows.iter()
                .position(|r| r.sweep == k.sweep && r.variant == k.variant)
                .unwrap_or(usize::MAX)
        };
        points.sort_by_key(|(k, _)| (first(k), target_order(&k.target)));
        let _ = writeln!(md, "## {scenario}\n");
        results_table(&mut md, &points);
        let all: Vec<&SummaryRow> = points
            .iter()
            .flat_map(|(_, rs)| rs.iter().copied())
            .collect();
        crate::fault_table::render(&mut md, &all);
        ratio_table(&mut md, &points);
    }

    if !plots.is_empty() {
        md.push_str("## Plots\n\n");
        for p in plots {
            let _ = writeln!(md, "### {}\n\n![{}]({})\n", p.title, p.title, p.path);
        }
    }
    if !notes.is_empty() {
        md.push_str("## Notes\n\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
        md.push('\n');
    }
    md
}

fn machine_section(md: &mut String, meta: Option<&Meta>) {
    let Some(m) = meta else {
        md.push_str("_No meta.json: machine and versions unknown._\n\n");
        return;
    };
    md.push_str("## Machine and versions\n\n| | |\n|---|---|\n");
    let mut row = |k: &str, v: String| {
        if !v.trim().is_empty() {
            let _ = writeln!(md, "| {k} | {} |", cell(&v));
        }
    };
    let mc = &m.machine;
    row(
        "CPU",
        format!("{} ({} logical CPUs)", mc.cpu_model, mc.cpu_count),
    );
    row(
        "memory",
        mc.memory_total_kb
            .map(|kb| format!("{:.1} GiB", kb as f64 / 1048576.0))
            .unwrap_or_default(),
    );
    row("OS / kernel", format!("{} / {}", mc.os, mc.kernel));
    row("host", mc.hostname.clone());
    row("compiler", mc.rustc.clone());
    row("wsbench", m.wsbench_version.clone());
    row("git commit", m.git_commit.clone().unwrap_or_default());
    row("started", m.started_at.clone());
    row("finished", m.finished_at.clone().unwrap_or_default());
    let pin = |s: &Option<String>| s.clone().unwrap_or_else(|| "not pinned".into());
    row(
        "CPU pinning",
        format!(
            "server {}, load generator {}",
            pin(&m.cpu_pinning.server),
            pin(&m.cpu_pinning.loadgen)
        ),
    );
    let crates: Vec<String> = m
        .crate_versions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    row("crates", crates.join(", "));
    if let Some(n) = &m.node_packages {
        let pk: Vec<String> = n.iter().map(|(k, v)| format!("{k} {v}")).collect();
        row("Node packages", pk.join(", "));
    }
    row("scenario file", m.scenario_file.clone().unwrap_or_default());
    row("command", m.command.join(" "));
    md.push('\n');
    if m.interrupted {
        md.push_str("**The run was interrupted: rows marked partial hold what was measured until then.**\n\n");
    }
    for n in &m.notes {
        let _ = writeln!(md, "> {n}\n");
    }
}

/// Short flags of a row for the table.
fn row_flags(r: &SummaryRow) -> Vec<&'static str> {
    let mut f = Vec::new();
    if r.partial {
        f.push("partial");
    }
    if r.loadgen_bound {
        f.push("loadgen-bound");
    }
    if r.db_counts_agree == Some(false) {
        f.push("db-counts-differ");
    }
    if r.lost > 0 || r.duplicated > 0 {
        f.push("loss");
    }
    if r.errors > 0 || r.connect_errors > 0 {
        f.push("errors");
    }
    f
}

fn flags_section(md: &mut String, rows: &[SummaryRow]) {
    let list = |pred: &dyn Fn(&SummaryRow) -> bool| -> Vec<String> {
        rows.iter()
            .filter(|r| pred(r))
            .map(|r| format!("{} (trial {})", RowKey::of(r), r.repeat))
            .collect()
    };
    let sections: [(&str, Vec<String>); 3] = [
        (
            "partial rows (interrupted; numbers cover less than the measure phase)",
            list(&|r| r.partial),
        ),
        (
            "rows where the load generator, not the server, was the limit (read them as lower bounds of the server's capacity)",
            list(&|r| r.loadgen_bound),
        ),
        (
            "rows whose app and database-engine query counts disagree",
            list(&|r| r.db_counts_agree == Some(false)),
        ),
    ];
    if sections.iter().all(|(_, v)| v.is_empty()) {
        return;
    }
    md.push_str("## Flags\n\n");
    for (what, v) in sections {
        if !v.is_empty() {
            let _ = writeln!(md, "- {} {what}: {}", v.len(), v.join("; "));
        }
    }
    md.push('\n');
}

fn spread_cell(rs: &[&SummaryRow], m: Metric, scale: f64) -> String {
    match Spread::of_metric(rs, m) {
        None => "–".to_owned(),
        Some(s) if s.n > 1 && s.min != s.max => {
            format!(
                "{} ({}–{})",
                human(s.median * scale),
                human(s.min * scale),
                human(s.max * scale)
            )
        }
        Some(s) => human(s.median * scale),
    }
}

fn results_table(md: &mut String, points: &[Point<'_>]) {
    let all: Vec<&SummaryRow> = points
        .iter()
        .flat_map(|(_, rs)| rs.iter().copied())
        .collect();
    let backend = all
        .iter()
        .any(|r| r.staleness_p50_ms.is_some() || r.db_queries_app.is_some());
    let swept = all.iter().any(|r| !r.sweep.is_empty());
    let varied = points.iter().any(|(k, _)| k.variant != points[0].0.variant);
    let mut head = vec![
        "target",
        "transport",
        "clients",
        "trials",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "lost",
        "errors",
        "server CPU ms/1k deliv",
        "server RSS MiB",
        "connect p99 ms",
    ];
    if backend {
        head.extend([
            "DB queries/s",
            "staleness p50 ms",
            "staleness p99 ms",
            "bytes/update",
            "DB app/engine",
        ]);
    }
    head.push("flags");
    if varied {
        head.insert(0, "variant");
    }
    if swept {
        head.insert(0, "sweep");
    }
    md.push_str(&format!(
        "| {} |\n|{}\n",
        head.join(" | "),
        "---|".repeat(head.len())
    ));
    let ms = 1e-3;
    for (k, rs) in points {
        let first = rs[0];
        let mut c = vec![
            cell(&k.target),
            cell(&first.transport),
            first.clients.to_string(),
            rs.len().to_string(),
            spread_cell(rs, Metric::DeliveriesPerS, 1.0),
            spread_cell(rs, Metric::LatP50, ms),
            spread_cell(rs, Metric::LatP99, ms),
            spread_cell(rs, Metric::LatP999, ms),
            spread_cell(rs, Metric::LatMax, ms),
            spread_cell(rs, Metric::Lost, 1.0),
            spread_cell(rs, Metric::Errors, 1.0),
            spread_cell(rs, Metric::ServerCpuMsPer1k, 1.0),
            spread_cell(rs, Metric::ServerRssPeakKb, 1.0 / 1024.0),
            spread_cell(rs, Metric::ConnectP99, ms),
        ];
        if backend {
            c.push(spread_cell(rs, Metric::DbQueriesPerS, 1.0));
            c.push(spread_cell(rs, Metric::StalenessP50, 1.0));
            c.push(spread_cell(rs, Metric::StalenessP99, 1.0));
            c.push(spread_cell(rs, Metric::BytesPerUpdate, 1.0));
            let counts: Vec<String> = rs
                .iter()
                .map(|r| {
                    let o = |v: Option<u64>| v.map_or("–".to_owned(), |x| x.to_string());
                    format!("{}/{}", o(r.db_queries_app), o(r.db_queries_engine))
                })
                .collect();
            c.push(counts.join(", "));
        }
        let mut flags: Vec<&str> = rs.iter().flat_map(|r| row_flags(r)).collect();
        flags.sort();
        flags.dedup();
        c.push(flags.join(" "));
        if varied {
            c.insert(0, cell(&k.variant));
        }
        if swept {
            c.insert(0, cell(&k.sweep.replace(';', " ")));
        }
        md.push_str(&format!("| {} |\n", c.join(" | ")));
    }
    md.push('\n');
}

fn ratio_table(md: &mut String, points: &[Point<'_>]) {
    // Targets are compared within one variant at one sweep point.
    let mut by_sweep: Vec<(&RowKey, Vec<Point<'_>>)> = Vec::new();
    for (k, rs) in points {
        match by_sweep
            .iter_mut()
            .find(|(g, _)| g.sweep == k.sweep && g.variant == k.variant)
        {
            Some((_, v)) => v.push((k, rs)),
            None => by_sweep.push((k, vec![(k, rs)])),
        }
    }
    let varied = points.iter().any(|(k, _)| k.variant != points[0].0.variant);
    if by_sweep.iter().all(|(_, v)| v.len() < 2) {
        return;
    }
    let has_floor = points.iter().any(|(k, _)| k.target == FLOOR_TARGET);
    let swept = points.iter().any(|(k, _)| !k.sweep.is_empty());
    let mut head: Vec<String> = Vec::new();
    if swept {
        head.push("sweep".into());
    }
    if varied {
        head.push("variant".into());
    }
    head.push("target".into());
    if has_floor {
        head.extend(RATIO_METRICS.iter().map(|(_, t)| format!("{t} ×tcp")));
    }
    head.extend(RATIO_METRICS.iter().map(|(_, t)| format!("{t} ×best")));
    md.push_str(if has_floor {
        "Ratios of medians: ×tcp = this target ÷ the `tcp` floor; ×best = this target ÷ the best target at the same point (lowest latency, CPU and memory; highest deliveries/s). 1.00 is as good as the reference.\n\n"
    } else {
        "Ratios of medians: ×best = this target ÷ the best target at the same point (lowest latency, CPU and memory; highest deliveries/s). 1.00 is as good as the best.\n\n"
    });
    md.push_str(&format!(
        "| {} |\n|{}\n",
        head.join(" | "),
        "---|".repeat(head.len())
    ));
    for (group, pts) in &by_sweep {
        let med = |rs: &[&SummaryRow], m: Metric| Spread::of_metric(rs, m).map(|s| s.median);
        let floor = pts
            .iter()
            .find(|(k, _)| k.target == FLOOR_TARGET)
            .map(|(_, rs)| rs);
        for (k, rs) in pts {
            let mut c: Vec<String> = Vec::new();
            if swept {
                c.push(cell(&group.sweep.replace(';', " ")));
            }
            if varied {
                c.push(cell(&group.variant));
            }
            c.push(cell(&k.target));
            if has_floor {
                for (m, _) in RATIO_METRICS {
                    let r = match (med(rs, m), floor.and_then(|f| med(f, m))) {
                        (Some(v), Some(f)) => ratio_text(ratio(f, v)),
                        _ => "–".into(),
                    };
                    c.push(r);
                }
            }
            for (m, _) in RATIO_METRICS {
                let vals: Vec<f64> = pts.iter().filter_map(|(_, o)| med(o, m)).collect();
                let best = if m.higher_is_better() {
                    vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    vals.iter().copied().fold(f64::INFINITY, f64::min)
                };
                c.push(match med(rs, m) {
                    Some(v) if best.is_finite() => ratio_text(ratio(best, v)),
                    _ => "–".into(),
                });
            }
            md.push_str(&format!("| {} |\n", c.join(" | ")));
        }
    }
    md.push('\n');
}

fn ratio_text(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}")
    } else {
        "∞".into()
    }
}

/// Escapes a table cell (pipes and newlines would break the row).
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, repeat: u32, p50: u64, rate: f64) -> SummaryRow {
        SummaryRow {
            run_id: "r".into(),
            scenario: "echo".into(),
            target: target.into(),
            repeat,
            lat_p50_us: p50,
            lat_p99_us: p50 * 3,
            deliveries_per_s: rate,
            delivered: (rate * 10.0) as u64,
            server_cpu_s: Some(1.0),
            server_rss_peak_kb: Some(10_240),
            ..SummaryRow::default()
        }
    }

    #[test]
    fn repeats_show_median_and_range_and_ratios_use_medians() {
        let rows = vec![
            row("tcp", 1, 100, 1000.0),
            row("tcp", 2, 120, 1000.0),
            row("tcp", 3, 110, 1000.0),
            row("ws-tungstenite", 1, 220, 500.0),
        ];
        let md = render(&rows, None, &[], &[]);
        // tcp p50 median 110 µs (100–120) = 0.110 ms (0.100–0.120)
        assert!(
            md.contains("| tcp |  | 0 | 3 | 1000 | 0.110 (0.100–0.120) |"),
            "{md}"
        );
        // ws p50 220 / tcp median 110 = 2.00; its rate is half the best
        assert!(
            md.contains("| ws-tungstenite | 2.00 | 2.00 | 0.50 |"),
            "{md}"
        );
        assert!(md.contains("| ws-tungstenite | 2.00 | 2.00 | 0.50 | 2.00 | 1.00 | 2.00 | 2.00 | 0.50 | 2.00 | 1.00 |"), "{md}");
        assert!(md.contains("No meta.json"));
    }

    #[test]
    fn the_tcp_floor_is_listed_first_whatever_the_run_order() {
        let rows = vec![
            row("sio-socketioxide", 1, 400, 250.0),
            row("ws-tungstenite", 1, 200, 500.0),
            row("tcp", 1, 100, 1000.0),
        ];
        let md = render(&rows, None, &[], &[]);
        let at = |t: &str| md.find(&format!("| {t} |")).unwrap();
        assert!(at("tcp") < at("ws-tungstenite"), "{md}");
        assert!(at("ws-tungstenite") < at("sio-socketioxide"), "{md}");
    }

    #[test]
    fn without_a_tcp_row_only_best_ratios_are_shown() {
        let rows = vec![
            row("ws-tungstenite", 1, 200, 500.0),
            row("sio-socketioxide", 1, 400, 250.0),
        ];
        let md = render(&rows, None, &[], &[]);
        assert!(!md.contains("×tcp |"), "{md}");
        assert!(
            md.contains("| sio-socketioxide | 2.00 | 2.00 | 0.50 |"),
            "{md}"
        );
    }

    #[test]
    fn flags_and_plots_and_notes_are_listed() {
        let mut a = row("tcp", 1, 100, 1.0);
        a.loadgen_bound = true;
        let mut b = row("ws-tungstenite", 1, 100, 1.0);
        b.partial = true;
        b.db_counts_agree = Some(false);
        b.target = "a|b".into();
        let plots = [PlotLink {
            title: "Spectrum".into(),
            path: "plots/s.svg".into(),
        }];
        let md = render(&[a, b], None, &plots, &["no .hgrm".into()]);
        assert!(md.contains("## Flags"));
        assert!(md.contains("1 rows where the load generator"));
        assert!(md.contains("1 partial rows"));
        assert!(md.contains("1 rows whose app and database-engine query counts disagree"));
        assert!(md.contains("| a\\|b |"), "pipes in cells are escaped: {md}");
        assert!(md.contains("db-counts-differ partial"));
        assert!(md.contains("![Spectrum](plots/s.svg)"));
        assert!(md.contains("- no .hgrm"));
    }

    #[test]
    fn machine_facts_come_from_meta() {
        let mut m = Meta::new("run-7", "");
        m.node_packages = Some(BTreeMap::from([(
            "socket.io".to_owned(),
            "4.8.1".to_owned(),
        )]));
        m.interrupted = true;
        let md = render(&[], Some(&m), &[], &[]);
        assert!(md.starts_with("# wsbench report: run-7"));
        assert!(
            md.contains("| CPU |") && md.contains("socket.io 4.8.1"),
            "{md}"
        );
        assert!(md.contains("interrupted"));
        assert!(md.contains("No rows in summary.csv."));
    }
}
