//! How the runner gets the Node peers ready, through whole runs: `node` missing (failure rows
//! "node not found on PATH: node-* targets skipped", the other targets still run), a fresh
//! copy of scripts/peers/node without node_modules (`npm ci` first, then a measured row),
//! a `WSBENCH_PEERS_DIR` that holds no peers, a failing `npm ci`, and a run asking for
//! fault injection.
//!
//! This binary holds one test, which changes PATH and WSBENCH_PEERS_DIR between runs while
//! no runtime (and no other thread) exists.

mod run_support;

use std::path::Path;
use std::time::Duration;

use run_support::{scenario, spec, start};
use wsbench_loadgen::RunOutcome;
use wsbench_loadgen::peers::{PEERS_DIR_ENV, find_on_path};
use wsbench_scenario::{BroadcastOp, Scenario, Workload};
use wsbench_servers::{RustServer, ServerConfig};

/// Runs `targets` (a small broadcast) on a fresh runtime; `ws-inproc` is an in-process
/// ws-tungstenite server reached as an external target.
fn run(targets: &[&str], serve_args: &[&str]) -> RunOutcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = start(RustServer::WsTungstenite, ServerConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let s = Scenario {
            targets: targets
                .iter()
                .map(|t| match *t {
                    "ws-inproc" => spec(RustServer::WsTungstenite, server.addr, ""),
                    t => t.to_owned(),
                })
                .collect(),
            ..scenario(
                "setup",
                Workload::Broadcast {
                    op: BroadcastOp::ToAll,
                },
                "",
            )
        };
        let mut opts = wsbench_loadgen::RunOptions::new(vec![s], dir.path());
        opts.progress = false;
        opts.serve_args = serve_args.iter().map(|a| a.to_string()).collect();
        let out = tokio::time::timeout(Duration::from_secs(700), wsbench_loadgen::run(opts))
            .await
            .expect("run finished in time")
            .expect("run succeeded");
        drop(server);
        out
    })
}

fn peers_src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/node")
}

/// Copies the peers' folder without node_modules.
fn copy_peers(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "node_modules" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_peers(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

#[track_caller]
fn only_failures_say(out: &RunOutcome, targets: &[&str], needle: &str) {
    let got: Vec<&str> = out.failures.iter().map(|f| f.target.as_str()).collect();
    assert_eq!(got, targets, "{:#?}", out.failures);
    for f in &out.failures {
        assert!(f.message.contains(needle), "want {needle:?}: {f:#?}");
    }
}

#[test]
fn the_runner_gets_the_node_peers_ready_or_says_why_not() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let node_found = find_on_path("node").is_some() && find_on_path("npm").is_some();

    // no node on PATH: the Node rows fail with the reason, the run goes on
    // SAFETY: no other thread exists here (one test in this binary, no runtime alive).
    unsafe { std::env::set_var("PATH", "/nonexistent-wsbench-bin") };
    let out = run(&["node-ws", "ws-inproc", "node-socketio"], &[]);
    unsafe { std::env::set_var("PATH", &path) };
    only_failures_say(
        &out,
        &["node-ws", "node-socketio"],
        "node not found on PATH: node-* targets skipped",
    );
    assert_eq!(out.rows.len(), 1);
    assert_eq!(out.rows[0].lost, 0, "{:#?}", out.rows[0]);

    // fault injection is refused by name, before anything starts
    let out = run(&["node-ws"], &["--fault-stall-once-ms", "300"]);
    only_failures_say(&out, &["node-ws"], "no fault injection");

    if !node_found {
        eprintln!("skipped: node not found");
        return;
    }

    // a folder that holds no peers is named
    unsafe { std::env::set_var(PEERS_DIR_ENV, "/nonexistent-wsbench-peers") };
    let out = run(&["node-ws"], &[]);
    only_failures_say(&out, &["node-ws"], PEERS_DIR_ENV);

    // a lockfile out of step with package.json: npm ci's failure is the row's failure
    let broken = tempfile::tempdir().unwrap();
    copy_peers(&peers_src(), broken.path());
    std::fs::write(
        broken.path().join("package-lock.json"),
        r#"{"name":"wsbench-node-peers","lockfileVersion":3,"packages":{}}"#,
    )
    .unwrap();
    unsafe { std::env::set_var(PEERS_DIR_ENV, broken.path()) };
    let out = run(&["node-socketio"], &[]);
    only_failures_say(&out, &["node-socketio"], "`npm ci` in");
    let m = &out.failures[0].message;
    assert!(
        m.contains("failed (exit status") && m.contains("npm"),
        "{m}"
    );

    // a fresh copy without node_modules: npm ci first, then a measured row (with the
    // database option passed through)
    let copy = tempfile::tempdir().unwrap();
    let peers = copy.path().join("node");
    copy_peers(&peers_src(), &peers);
    unsafe { std::env::set_var(PEERS_DIR_ENV, &peers) };
    let out = run(&["node-ws"], &["--database", "sqlite"]);
    unsafe { std::env::remove_var(PEERS_DIR_ENV) };
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    let r = &out.rows[0];
    assert_eq!((r.delivered, r.lost), (r.expected, 0), "{r:#?}");
    assert!(r.server_cpu_s.is_some(), "{r:#?}");
    assert!(peers.join("node_modules/ws/package.json").is_file());
    assert_eq!(wsbench_loadgen::peers::install_reason(&peers), None);
}
