//! report.md's table of the fault rows (`[restart]`, `[churn]`; columns 61–68): how the
//! clients came back after the server was killed, and what the server kept after the churn.
//! Rendered under a scenario's results table when its rows carry those columns.

use std::fmt::Write as _;

use crate::row::{SummaryRow, format_float};

/// Appends the fault table for `rows` (one scenario's, in table order), if any has them.
pub(crate) fn render(md: &mut String, rows: &[&SummaryRow]) {
    let opt_f = |v: Option<f64>| v.map_or("–".to_owned(), format_float);
    let opt_u = |v: Option<u64>| v.map_or("–".to_owned(), |x| x.to_string());
    let opt_i = |v: Option<i64>| v.map_or("–".to_owned(), |x| x.to_string());
    if rows.iter().any(|r| r.reconnected.is_some()) {
        md.push_str(
            "| target | repeat | reconnected | reconnect p50 ms | reconnect p99 ms | \
             lost during outage | reconnect accept rate /s |\n|---|---|---|---|---|---|---|\n",
        );
        for r in rows.iter().filter(|r| r.reconnected.is_some()) {
            let _ = writeln!(
                md,
                "| {} | {} | {} of {} | {} | {} | {} | {} |",
                r.target,
                r.repeat,
                opt_u(r.reconnected),
                r.clients,
                opt_f(r.reconnect_p50_ms),
                opt_f(r.reconnect_p99_ms),
                opt_u(r.lost_during_outage),
                opt_f(r.reconnect_accept_rate.map(|v| v.round()))
            );
        }
        md.push('\n');
    }
    if rows.iter().any(|r| r.leak_fds.is_some()) {
        md.push_str(
            "| target | repeat | leaked fds | leaked rooms | RSS after − before KiB |\n\
             |---|---|---|---|---|\n",
        );
        for r in rows.iter().filter(|r| r.leak_fds.is_some()) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                r.target,
                r.repeat,
                opt_i(r.leak_fds),
                opt_i(r.leak_rooms),
                opt_i(r.leak_rss_kb)
            );
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rows_with_fault_columns_make_a_table() {
        let plain = SummaryRow::default();
        let mut md = String::new();
        render(&mut md, &[&plain]);
        assert!(md.is_empty());
        let restart = SummaryRow {
            target: "ws-tungstenite".into(),
            clients: 200,
            repeat: 1,
            reconnected: Some(199),
            reconnect_p50_ms: Some(812.5),
            reconnect_p99_ms: Some(1510.0),
            lost_during_outage: Some(1234),
            reconnect_accept_rate: Some(166.4),
            ..SummaryRow::default()
        };
        let churn = SummaryRow {
            target: "tcp".into(),
            repeat: 1,
            leak_fds: Some(0),
            leak_rss_kb: Some(-12),
            ..SummaryRow::default()
        };
        render(&mut md, &[&restart, &plain, &churn]);
        assert!(
            md.contains("| ws-tungstenite | 1 | 199 of 200 | 812.5 | 1510 | 1234 | 166 |"),
            "{md}"
        );
        assert!(md.contains("| tcp | 1 | 0 | – | -12 |"), "{md}");
        assert_eq!(md.matches("| target |").count(), 2, "{md}");
    }
}
