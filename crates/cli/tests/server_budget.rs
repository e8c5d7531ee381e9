//! `wsbench run --server-cpus F` through the real CLI: the server runs under a CFS quota of
//! F CPUs, each row carries `server_throttled_ms`, meta.json records the quota; a budget on
//! a server the run does not start, or a bad one, is refused before anything runs.
//!
//! Runs that need the machine's cgroup cpu controller print `skipped: …` where there is none
//! (or it is not writable); with `WSBENCH_REQUIRE_SERVICES` set (CI) they fail instead.

mod budget_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use budget_support::{budget_unavailable, text};
use wsbench_report::Meta;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

/// Ping-pong on `tcp`: the server is as busy as the generator can make it.
const PING_PONG: &str = "workload = \"echo\"\nmode = \"closed\"\nclients = 8\n\
                         targets = [\"tcp\"]\n";

fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(scenario)
        .args(["--quick", "--no-progress", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// A temporary directory holding [`PING_PONG`] as a file, and where its run goes.
fn pingpong() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pingpong.toml");
    std::fs::write(&file, PING_PONG).unwrap();
    let out = dir.path().join("out");
    (dir, file, out)
}

/// Whether budgets can be applied here; prints why not (panics under
/// `WSBENCH_REQUIRE_SERVICES`).
fn budgets_work(test: &str) -> bool {
    match budget_unavailable(test) {
        None => true,
        Some(e) => {
            println!("skipped: {test}: {e}");
            false
        }
    }
}

#[test]
fn a_run_with_a_budget_records_throttling_and_the_quota() {
    if !budgets_work("a_run_with_a_budget_records_throttling_and_the_quota") {
        return;
    }
    let (_dir, file, out) = pingpong();
    let res = run(&file, &out, &["--server-cpus", "0.5"]);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));

    let rows = wsbench_report::csv::read(&out.join("summary.csv")).unwrap();
    assert_eq!(rows.len(), 1, "{}", text(&res));
    let r = &rows[0];
    let throttled = r
        .server_throttled_ms
        .expect("server_throttled_ms is filled");
    assert!(throttled >= 0.0 && throttled <= r.measure_s * 1e3, "{r:#?}");
    // the quota is enforced: at most half a CPU (plus a tick of /proc rounding each end)
    let cpu = r.server_cpu_s.expect("server CPU is measured");
    assert!(cpu <= 0.5 * r.measure_s * 1.1 + 0.02, "{r:#?}");

    let meta_path = out.join("meta.json");
    let meta = Meta::from_json(&std::fs::read(&meta_path).unwrap(), &meta_path).unwrap();
    let budget = meta
        .server_cpu_budget
        .expect("meta.json records the budget");
    assert_eq!(
        (budget.server_cpus, budget.period_us, budget.quota_us),
        (0.5, 10_000, 5_000)
    );
    assert!(budget.controller.starts_with("cgroup v"), "{budget:?}");
}

#[test]
fn a_run_without_a_budget_leaves_the_column_empty() {
    let (_dir, file, out) = pingpong();
    let res = run(&file, &out, &["--measure-s", "0.5"]);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));
    let rows = wsbench_report::csv::read(&out.join("summary.csv")).unwrap();
    assert_eq!(rows[0].server_throttled_ms, None);
    let meta_path = out.join("meta.json");
    let meta = Meta::from_json(&std::fs::read(&meta_path).unwrap(), &meta_path).unwrap();
    assert_eq!(meta.server_cpu_budget, None);
}

#[test]
fn a_budget_needs_a_server_the_run_starts_and_a_sane_value() {
    let (dir, file, out) = pingpong();
    let res = run(
        &file,
        &out,
        &["--targets", "tcp=127.0.0.1:9", "--server-cpus", "0.5"],
    );
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(
        text(&res).contains("--server-cpus: needs a server the run starts"),
        "{}",
        text(&res)
    );
    // in the file: file, line and key
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, format!("{PING_PONG}server_cpus = 0\n")).unwrap();
    let res = run(&bad, &out, &[]);
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(
        text(&res).contains("bad.toml:5: key 'server_cpus': must be a number of CPUs > 0"),
        "{}",
        text(&res)
    );
    assert!(!out.exists(), "nothing is written for a refused budget");
}
