//! The one test that spawns the real `wsbench` binary as a server child: built-in target
//! names, CPU/RSS read from /proc, the child stopped and reaped after the row.
//! The binary belongs to the cli crate, so it is looked up in the target directory; when it
//! has not been built, the test says so and passes without running.

mod run_support;

use std::path::PathBuf;
use std::time::Duration;

use run_support::scenario;
use wsbench_scenario::{BroadcastOp, Workload};

fn wsbench_binary() -> Option<PathBuf> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let exe = target_dir.join("debug/wsbench");
    exe.is_file().then_some(exe)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_target_runs_as_a_child_process() {
    let Some(exe) = wsbench_binary() else {
        eprintln!("SKIPPED: target/debug/wsbench is not built (cargo build -p wsbench-cli)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(
        "child",
        Workload::Broadcast {
            op: BroadcastOp::ToAll,
        },
        "ws-tungstenite",
    );
    let mut opts = wsbench_loadgen::RunOptions::new(vec![s], dir.path());
    opts.progress = false;
    opts.wsbench_exe = exe;
    let out = tokio::time::timeout(Duration::from_secs(60), wsbench_loadgen::run(opts))
        .await
        .expect("in time")
        .expect("run ok");
    assert_eq!(out.rows.len(), 1, "{out:#?}");
    let r = &out.rows[0];
    assert_eq!(r.target, "ws-tungstenite");
    assert_eq!(r.lost, 0, "{r:#?}");
    assert_eq!(r.delivered, r.expected);
    assert!(r.server_cpu_s.is_some_and(|c| c > 0.0), "{r:#?}");
    assert!(r.server_rss_peak_kb.is_some_and(|k| k > 0), "{r:#?}");
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    // no child outlives the run
    let me = std::process::id().to_string();
    let children: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stat = std::fs::read_to_string(p.join("stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split_whitespace().nth(1)?;
            (ppid == me && stat.contains("(wsbench)")).then_some(stat)
        })
        .collect();
    assert!(
        children.is_empty(),
        "server children still alive: {children:?}"
    );
}
