//! `report_dir` end to end on a synthetic run directory: realistic rows and histograms
//! (recorded value by value), a meta.json, and rows without histograms. Set
//! `WSBENCH_REPORT_PREVIEW=<dir>` to keep a copy of the generated run dir for viewing.

use std::fs;
use std::path::Path;

use hdrhistogram::Histogram;
use wsbench_report::hgrm::{US_TO_MS, percentile_distribution};
use wsbench_report::{Meta, SummaryRow, csv, hgrm_file_name, report_dir};

/// Deterministic xorshift64* so runs are reproducible.
struct Rng(u64);
impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A latency histogram (µs): a body around `base_us`, an exponential tail, rare stalls.
fn latency_histogram(rng: &mut Rng, base_us: f64, n: usize) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
    for _ in 0..n {
        let u = rng.next_f64().max(1e-12);
        let mut v = base_us * (0.7 + 0.6 * rng.next_f64()) - base_us * 0.4 * u.ln();
        if rng.next_f64() < 0.001 {
            v *= 20.0;
        }
        h.record(v.max(1.0) as u64).unwrap();
    }
    h
}

fn row_from(
    h: &Histogram<u64>,
    scenario: &str,
    variant: &str,
    target: &str,
    clients: u64,
    repeat: u32,
) -> SummaryRow {
    // Broadcast of 1,000 msg/s to every client, up to what each stack can deliver.
    let cap = match target {
        "tcp" => 4.0e6,
        "ws-fastwebsockets" => 3.4e6,
        "ws-tungstenite" => 2.9e6,
        "sio-socketioxide" => 1.4e6,
        _ => 0.55e6,
    };
    let expected = clients * 1000 * 10;
    let delivered = (expected as f64).min(cap * 10.0 * (1.0 + h.len() as f64 % 7.0 / 100.0)) as u64;
    // Handshake cost grows with the stack: TCP < WebSocket upgrade < Engine.IO + Socket.IO.
    let hs = match target {
        "tcp" => 1.0,
        t if t.starts_with("ws-") => 1.6,
        "sio-socketioxide" => 2.5,
        _ => 3.2,
    };
    SummaryRow {
        run_id: "synthetic-1".into(),
        scenario: scenario.into(),
        target: target.into(),
        transport: if target == "tcp" { "tcp" } else { "websocket" }.into(),
        clients,
        publishers: 10,
        rate: 1000.0,
        payload_bytes: 128,
        measure_s: 10.0,
        sent: 10_000,
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        deliveries_per_s: delivered as f64 / 10.0,
        lat_p50_us: h.value_at_quantile(0.5),
        lat_p90_us: h.value_at_quantile(0.9),
        lat_p99_us: h.value_at_quantile(0.99),
        lat_p999_us: h.value_at_quantile(0.999),
        lat_max_us: h.max(),
        lat_mean_us: h.mean(),
        lat_uncorrected_p99_us: h.value_at_quantile(0.99) * 9 / 10,
        connect_p50_us: ((200 + clients / 4) as f64 * hs) as u64,
        connect_p99_us: ((900 + clients) as f64 * hs) as u64,
        server_cpu_s: Some(delivered as f64 * 2e-6),
        server_rss_peak_kb: Some(20_000 + clients * 30),
        loadgen_cpu_s: 5.0,
        bytes_out: 1_000_000,
        bytes_in: 100_000_000,
        repeat,
        sweep: format!("clients={clients}"),
        variant: variant.into(),
        ..SummaryRow::default()
    }
}

fn synthetic_run(dir: &Path) -> Vec<SummaryRow> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut rows = Vec::new();
    let targets = [
        ("tcp", 60.0),
        ("ws-tungstenite", 110.0),
        ("ws-fastwebsockets", 90.0),
        ("sio-socketioxide", 180.0),
        ("node-socketio", 420.0),
    ];
    for clients in [100u64, 1000, 5000] {
        for (target, base) in targets {
            for repeat in 1..=2 {
                let h = latency_histogram(&mut rng, base * (1.0 + clients as f64 / 2000.0), 20_000);
                let mut r = row_from(&h, "broadcast", "to_all", target, clients, repeat);
                if target == "node-socketio" && clients == 5000 {
                    r.loadgen_bound = true;
                }
                fs::write(
                    dir.join(hgrm_file_name(&r)),
                    percentile_distribution(&h, US_TO_MS, 5),
                )
                .unwrap();
                rows.push(r);
            }
        }
    }
    // Polling vs push: no histograms (the report must say so), DB counts and staleness.
    for viewers in [10u64, 100, 1000] {
        for (target, variant) in [
            ("ws-tungstenite", "poll-500ms"),
            ("ws-tungstenite", "push"),
            ("sio-socketioxide", "push"),
        ] {
            let h = latency_histogram(&mut rng, 300.0, 2000);
            let mut r = row_from(&h, "polling-vs-push", variant, target, viewers, 1);
            r.sweep = format!("viewers={viewers}");
            let poll = variant.starts_with("poll");
            let q = if poll {
                viewers * 20 + 100
            } else {
                100 + viewers
            };
            r.db_queries_app = Some(q);
            r.db_queries_engine = Some(if poll && viewers == 1000 { q + 3 } else { q });
            r.db_counts_agree = Some(r.db_queries_app == r.db_queries_engine);
            r.http_requests = Some(q);
            let sio = if target.starts_with("sio") { 1.5 } else { 1.0 };
            r.staleness_p50_ms = Some(if poll {
                250.0
            } else {
                sio * (0.4 + viewers as f64 / 1000.0)
            });
            r.staleness_p99_ms = Some(if poll {
                495.0
            } else {
                sio * (2.0 + viewers as f64 / 200.0)
            });
            r.versions_missed = Some(0);
            r.partial = poll && viewers == 1000;
            rows.push(r);
        }
    }
    csv::write_atomic(&dir.join("summary.csv"), &rows).unwrap();
    let mut meta = Meta::new(
        "synthetic-1",
        "name = \"broadcast\"\nworkload = \"broadcast\"\n",
    );
    meta.git_commit = Some("0123456789abcdef".into());
    meta.write(&dir.join("meta.json")).unwrap();
    rows
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn full_run_dir_gets_plots_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let rows = synthetic_run(dir.path());
    let s = report_dir(dir.path()).unwrap();
    if let Ok(p) = std::env::var("WSBENCH_REPORT_PREVIEW") {
        copy_dir(dir.path(), Path::new(&p));
    }
    assert_eq!(s.rows, rows.len());
    assert_eq!(s.histograms, 30);
    let names: Vec<String> = s
        .plots
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "spectrum-broadcast_to_all_clients_1000.svg",
        "sweep-broadcast_to_all-clients-latency.svg",
        "sweep-broadcast_to_all-clients-rate.svg",
        "connect-broadcast_to_all.svg",
        "polling-polling-vs-push.svg",
        "sweep-polling-vs-push_push-viewers-latency.svg",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    for p in &s.plots {
        let svg = fs::read_to_string(p).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{}",
            p.display()
        );
    }
    let md = fs::read_to_string(&s.report).unwrap();
    for needle in [
        "# wsbench report: synthetic-1",
        "## Machine and versions",
        "socketioxide",
        "## broadcast",
        "p99 ×tcp",
        "loadgen-bound",
        "db-counts-differ",
        "partial",
        "![Latency by percentile: broadcast/to_all [clients=100]](plots/spectrum-broadcast_to_all_clients_100.svg)",
        "rows have no .hgrm file",
        "latency spectrum of polling-vs-push/push [viewers=10]: no .hgrm files",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}");
    }
    // The tcp row of every broadcast point is its own floor.
    let tcp_line = md
        .lines()
        .find(|l| l.starts_with("| clients=100 | tcp | 1.00 | 1.00 |"))
        .is_some();
    assert!(tcp_line, "{md}");
}

#[test]
fn a_bare_summary_is_enough() {
    let dir = tempfile::tempdir().unwrap();
    let r = SummaryRow {
        run_id: "bare".into(),
        scenario: "echo".into(),
        target: "tcp".into(),
        lat_p99_us: 100,
        ..SummaryRow::default()
    };
    csv::write_atomic(&dir.path().join("summary.csv"), &[r]).unwrap();
    let s = report_dir(dir.path()).unwrap();
    assert_eq!(s.histograms, 0);
    assert!(
        s.notes.iter().any(|n| n.contains("no meta.json")),
        "{:?}",
        s.notes
    );
    let md = fs::read_to_string(&s.report).unwrap();
    assert!(
        md.contains("No meta.json") && md.contains("| tcp |"),
        "{md}"
    );
}
