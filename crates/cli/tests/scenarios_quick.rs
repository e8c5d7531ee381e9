//! Every scenario file runs in `--quick` mode through the real CLI (`wsbench run`, which
//! starts each Rust target as a child `wsbench serve`) against every Rust target, and again
//! against the Node peers given by URL (`ws=…`, `sio=…`), with nothing lost: every row has
//! delivered == expected (polling viewers: delivered + versions missed == expected),
//! lost == 0, no duplicates, no errors.
//!
//! Client counts and rates are lowered per file (the debug build on a shared 2-core machine
//! is the server here); the full-size runs are the committed ones under results/.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use wsbench_report::SummaryRow;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

/// `wsbench run <file> --quick <extra…> --out <tmp>`; exit 0; the rows of summary.csv.
fn quick(file: &str, extra: &[&str]) -> Vec<SummaryRow> {
    let out = tempfile::tempdir().unwrap();
    let res = Command::new(BIN)
        .arg("run")
        .arg(scenario(file))
        .args(["--quick", "--no-progress", "--out"])
        .arg(out.path())
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(
        res.status.code(),
        Some(0),
        "{file} {extra:?}\n{stdout}\n{stderr}"
    );
    let rows = wsbench_report::csv::read(&out.path().join("summary.csv")).unwrap();
    assert!(!rows.is_empty(), "{file}: no rows\n{stdout}\n{stderr}");
    rows
}

fn assert_nothing_lost(file: &str, rows: &[SummaryRow]) {
    for r in rows {
        let what = format!("{file} {} {} {}", r.target, r.variant, r.sweep);
        if r.variant.starts_with("poll") {
            // a polling viewer can skip versions: that is a result, not a loss
            let missed = r.versions_missed.unwrap_or(0);
            assert_eq!(
                r.delivered + missed,
                r.expected,
                "{what}: delivered + missed != expected"
            );
        } else {
            assert_eq!(r.delivered, r.expected, "{what}: delivered != expected");
        }
        assert_eq!(r.lost, 0, "{what}: lost");
        assert_eq!(r.duplicated, 0, "{what}: duplicated");
        assert_eq!(r.errors, 0, "{what}: errors ({})", r.notes);
        assert_eq!(r.connect_errors, 0, "{what}: connect errors");
        assert!(!r.partial, "{what}: partial");
        assert_ne!(r.db_counts_agree, Some(false), "{what}: db counts disagree");
    }
}

/// Each file with the smallest overrides that keep it valid.
const FILES: &[(&str, &[&str])] = &[
    ("broadcast.toml", &["--clients", "20"]),
    (
        "echo.toml",
        &["--clients", "20", "--publishers", "20", "--rate", "500"],
    ),
    ("pingpong.toml", &["--clients", "10"]),
    // 1,000 clients in 10 rooms is 20,000 deliveries/s: more than a debug-build load
    // generator reads over long-polling on 2 shared cores (it lost 1.5-6k of 40k before and
    // after the runner refactor alike), so fewer clients, every room still populated
    ("rooms.toml", &["--clients", "200", "--rate", "200"]),
    (
        "direct.toml",
        &["--clients", "20", "--publishers", "20", "--rate", "500"],
    ),
    (
        "ack.toml",
        &["--clients", "20", "--publishers", "20", "--rate", "500"],
    ),
    ("connect.toml", &["--clients", "50"]),
    ("polling-vs-push.toml", &["--clients", "20"]),
];

fn args_of(file: &str) -> &'static [&'static str] {
    FILES
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, a)| *a)
        .unwrap()
}

fn rust_targets(file: &str) {
    let rows = quick(file, args_of(file));
    let targets: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.target.as_str()).collect();
    let want: &[&str] = if file == "polling-vs-push.toml" {
        &["ws-tungstenite", "sio-socketioxide"]
    } else {
        &[
            "tcp",
            "ws-tungstenite",
            "ws-fastwebsockets",
            "sio-socketioxide",
            "sio-socketioxide-polling",
        ]
    };
    for t in want {
        assert!(targets.contains(t), "{file}: no row for {t}: {targets:?}");
    }
    assert_nothing_lost(file, &rows);
}

#[test]
fn broadcast_on_every_rust_target() {
    rust_targets("broadcast.toml");
}
#[test]
fn echo_on_every_rust_target() {
    rust_targets("echo.toml");
}
#[test]
fn pingpong_on_every_rust_target() {
    rust_targets("pingpong.toml");
}
#[test]
fn rooms_on_every_rust_target() {
    rust_targets("rooms.toml");
}
#[test]
fn direct_on_every_rust_target() {
    rust_targets("direct.toml");
}
#[test]
fn ack_on_every_rust_target() {
    rust_targets("ack.toml");
}
#[test]
fn connect_on_every_rust_target() {
    rust_targets("connect.toml");
}
#[test]
fn polling_vs_push_on_every_rust_target() {
    rust_targets("polling-vs-push.toml");
}

/// A Node peer started by hand, as a user's own server would be.
struct NodeServer(Child, String);

impl NodeServer {
    fn start(script: &str) -> NodeServer {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/node");
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .args(["--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{line:?}"));
        let addr = addr.to_owned();
        NodeServer(child, addr)
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The peers need node and their installed packages (scripts/test.sh installs them).
fn node_ready() -> bool {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/node/node_modules");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node || !dir.exists() {
        eprintln!("skipped: node or scripts/peers/node/node_modules missing (run `npm ci` there)");
        return false;
    }
    true
}

#[test]
fn every_scenario_against_the_node_peers_given_by_url() {
    if !node_ready() {
        return;
    }
    let ws = NodeServer::start("ws-server.js");
    let sio = NodeServer::start("socketio-server.js");
    let targets = format!("ws=ws://{}/ws,sio=http://{}", ws.1, sio.1);
    for (file, extra) in FILES {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--targets", &targets]);
        let rows = quick(file, &args);
        assert_nothing_lost(file, &rows);
        assert!(
            rows.iter().any(|r| r.target.starts_with("ws=")),
            "{file}: no ws= row"
        );
        assert!(
            rows.iter().any(|r| r.target.starts_with("sio=")),
            "{file}: no sio= row"
        );
    }
}
