//! The one-screen polling-vs-push summary printed after the paired table: for every sweep
//! point (poll interval, update rate, …) and viewer count N, each variant's database
//! queries per second and staleness, then the ratio of polling to push. The CLI prints
//! [`format_pvp_summary`] when it returns `Some`.

use std::fmt::Write as _;

use wsbench_report::row::SummaryRow;
use wsbench_scenario::PvpVariant;

/// A polling-vs-push row: a variant name of the five, and database counts.
fn is_pvp(r: &SummaryRow) -> bool {
    PvpVariant::from_name(&r.variant).is_some() && r.db_queries_app.is_some()
}

/// The row's sweep label without the viewer count (`poll_interval_ms=100`), the group key.
fn group_of(r: &SummaryRow) -> String {
    let rest: Vec<&str> = r
        .sweep
        .split(';')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("clients="))
        .collect();
    if rest.is_empty() {
        "(no sweep)".into()
    } else {
        rest.join(" ")
    }
}

fn qps(r: &SummaryRow, n: Option<u64>) -> Option<f64> {
    let n = n?;
    (r.measure_s > 0.0).then(|| n as f64 / r.measure_s)
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.prec$}"))
}

/// The summary, or `None` when `rows` hold no polling-vs-push rows.
pub fn format_pvp_summary(rows: &[SummaryRow]) -> Option<String> {
    let rows: Vec<&SummaryRow> = rows.iter().filter(|r| is_pvp(r)).collect();
    if rows.is_empty() {
        return None;
    }
    let mut groups: Vec<String> = Vec::new();
    for r in &rows {
        let g = group_of(r);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "polling vs push: database queries/s and staleness in the measure window (ratio = poll ÷ push)"
    );
    for g in &groups {
        let in_group: Vec<&&SummaryRow> = rows.iter().filter(|r| group_of(r) == *g).collect();
        let mut ns: Vec<u64> = in_group.iter().map(|r| r.clients).collect();
        ns.sort_unstable();
        ns.dedup();
        let _ = writeln!(out, "\n{g}");
        let _ = writeln!(
            out,
            "{:>6}  {:<17} {:>10} {:>9} {:>10} {:>9} {:>9} {:>8} {:>7}  flags",
            "N", "variant", "queries/s", "http/s", "stale p50", "p99 ms", "missed", "B/upd", "r"
        );
        for n in ns {
            let at_n: Vec<&&&SummaryRow> = in_group.iter().filter(|r| r.clients == n).collect();
            for r in &at_n {
                let mut flags = Vec::new();
                if r.db_counts_agree == Some(false) {
                    flags.push("COUNTS DISAGREE");
                }
                if r.loadgen_bound {
                    flags.push("loadgen-bound");
                }
                if r.errors > 0 {
                    flags.push("errors");
                }
                if r.partial {
                    flags.push("partial");
                }
                let _ = writeln!(
                    out,
                    "{:>6}  {:<17} {:>10} {:>9} {:>10} {:>9} {:>9} {:>8} {:>7}  {}",
                    n,
                    r.variant,
                    opt(qps(r, r.db_queries_app), 1),
                    opt(qps(r, r.http_requests), 1),
                    opt(r.staleness_p50_ms, 1),
                    opt(r.staleness_p99_ms, 1),
                    r.versions_missed
                        .map_or_else(|| "-".into(), |m| m.to_string()),
                    opt(r.bytes_per_update, 0),
                    r.repeat,
                    flags.join(", ")
                );
            }
            // poll ÷ push on the same server kind, first repeat of each
            let first = |v: &str| at_n.iter().find(|r| r.variant == v).map(|r| ***r);
            let mut ratios = Vec::new();
            for (poll, push) in [
                ("poll", "push-ws"),
                ("poll-etag", "push-ws"),
                ("poll-cached", "push-ws"),
                ("poll-sio", "push-sio"),
                ("poll-sio", "push-sio-polling"),
                ("poll", "sse"),
            ] {
                let (Some(a), Some(b)) = (first(poll), first(push)) else {
                    continue;
                };
                let q = match (qps(a, a.db_queries_app), qps(b, b.db_queries_app)) {
                    (Some(x), Some(y)) if y > 0.0 => format!("{:.1}x queries", x / y),
                    _ => "queries -".into(),
                };
                let st = match (a.staleness_p50_ms, b.staleness_p50_ms) {
                    (Some(x), Some(y)) if y > 0.0 => format!("{:.0}x staleness p50", x / y),
                    (Some(x), Some(_)) => format!("staleness p50 {x:.1} ms vs ~0"),
                    _ => "staleness -".into(),
                };
                ratios.push(format!("{poll}/{push} {q}, {st}"));
            }
            if !ratios.is_empty() {
                let _ = writeln!(out, "{:>6}  ratio: {}", "", ratios.join("; "));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(variant: &str, clients: u64, app: u64, p50: f64) -> SummaryRow {
        SummaryRow {
            variant: variant.into(),
            clients,
            sweep: format!("clients={clients};poll_interval_ms=100"),
            measure_s: 2.0,
            db_queries_app: Some(app),
            db_queries_engine: Some(app),
            http_requests: Some(app),
            db_counts_agree: Some(true),
            staleness_p50_ms: Some(p50),
            staleness_p99_ms: Some(p50 * 2.0),
            versions_missed: Some(0),
            repeat: 1,
            ..SummaryRow::default()
        }
    }

    #[test]
    fn prints_rates_and_ratios_per_viewer_count() {
        let rows = [
            row("poll", 10, 220, 50.0),
            row("push-ws", 10, 20, 0.5),
            SummaryRow {
                db_counts_agree: Some(false),
                ..row("poll-sio", 10, 200, 50.0)
            },
        ];
        let text = format_pvp_summary(&rows).unwrap();
        assert!(text.contains("poll_interval_ms=100"), "{text}");
        assert!(text.contains("110.0"), "{text}");
        assert!(
            text.contains("poll/push-ws 11.0x queries, 100x staleness p50"),
            "{text}"
        );
        assert!(text.contains("COUNTS DISAGREE"), "{text}");
        assert!(format_pvp_summary(&[SummaryRow::default()]).is_none());
    }
}
