//! The fault rows through the real CLI, over real sockets, with `wsbench serve` children:
//! `[restart]` (SIGKILL mid-measure, restarted on its port, every client back, the outage
//! accounted exactly; on a cluster of two, only node 1's clients), `[churn]` (short-lived
//! clients come and go; the server's fds and rooms return to their baseline), and a server that dies on its own mid-row (the row is still
//! written and says so; the run goes on). Counts and columns only, no timing.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wsbench_report::SummaryRow;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

/// Writes `toml` to a file in `dir` and runs it; the exit status and the rows.
fn run(dir: &Path, name: &str, toml: &str) -> (Output, Vec<SummaryRow>) {
    run_with(dir, name, toml, &[])
}

/// [`run`] with more arguments after the file.
fn run_with(dir: &Path, name: &str, toml: &str, args: &[&str]) -> (Output, Vec<SummaryRow>) {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml).unwrap();
    let out_dir = dir.join("out");
    let out = Command::new(BIN)
        .arg("run")
        .arg(&file)
        .args(args)
        .args(["--no-progress", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let rows = wsbench_report::csv::read(&out_dir.join("summary.csv")).unwrap_or_default();
    (out, rows)
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const CLIENTS: u64 = 20;

/// A `[restart]` file on tcp, ws-tungstenite and sio-socketioxide, `nodes` servers each.
/// 10 echoes/s per client for 3 s: 30 due per client; raw clients wait 100 ms (no jitter)
/// before each attempt, as long as their send interval, so each drops at least one due
/// echo while away.
fn restart_toml(nodes: u32) -> String {
    format!(
        r#"workload = "echo"
description = "t"
targets = ["tcp", "ws-tungstenite", "sio-socketioxide"]
clients = {CLIENTS}
rate = {}
nodes = {nodes}
[phases]
warmup_s = 0.2
measure_s = 3
drain_s = 4
[restart]
kill_at_s = 1
backoff_initial_ms = 100
backoff_max_ms = 400
backoff_jitter = 0
"#,
        CLIENTS * 10
    )
}

/// The exact accounting every restart row keeps, whoever was killed: every due echo is
/// sent or not, every sent one returns or is lost; `away` clients lost their connection
/// and all came back.
fn assert_restart_accounting(r: &SummaryRow, away: u64) {
    let what = format!("{}: {}", r.target, r.notes);
    assert_eq!(r.variant, "restart", "{what}");
    assert_eq!(r.reconnected, Some(away), "{what}");
    assert!(r.reconnect_p50_ms.is_some_and(|v| v > 0.0), "{what}");
    assert!(r.reconnect_p99_ms >= r.reconnect_p50_ms, "{what}");
    assert!(r.reconnect_accept_rate.is_some(), "{what}");
    assert!(
        r.server_cpu_s.is_some() && r.server_rss_peak_kb.is_some(),
        "{what}"
    );
    let due = r.note_number("; of ").expect(&what);
    let unsent = r.note_number("echoes due, ").expect(&what);
    assert_eq!(due, CLIENTS * 30, "{what}");
    assert_eq!(due, r.sent + unsent, "{what}");
    assert_eq!(r.expected, r.sent, "{what}");
    assert_eq!(r.lost, r.sent - r.delivered, "{what}");
    assert_eq!(r.lost_during_outage, Some(due - r.delivered), "{what}");
    assert_eq!(r.duplicated, 0, "{what}");
    assert_eq!(r.errors, 0, "{what}");
    assert!(
        r.notes.contains(&format!(
            "{away} of {CLIENTS} clients lost their connection, {away} came back"
        )),
        "{what}"
    );
    if r.target == "sio-socketioxide" {
        assert!(r.notes.contains("no connection state recovery"), "{what}");
    } else {
        // raw clients drop what falls due while away: at least one echo each
        assert!(unsent >= away, "{what}");
        assert!(r.lost_during_outage >= Some(away), "{what}");
    }
}

#[test]
fn restart_brings_every_client_back_and_accounts_the_outage_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (out, rows) = run(dir.path(), "restart", &restart_toml(1));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rows.len(), 3, "{}", text(&out));
    for r in &rows {
        assert!(r.notes.contains("server killed (SIGKILL)"), "{}", r.notes);
        assert_restart_accounting(r, CLIENTS);
    }
}

/// On a cluster of two, node 1 is killed: the clients it served (every other one) come
/// back to it, the others never lose their connection, and the CPU and memory columns
/// still cover both nodes.
#[test]
fn restart_on_a_cluster_kills_one_node_and_only_its_clients_reconnect() {
    let test = "restart_on_a_cluster_kills_one_node_and_only_its_clients_reconnect";
    let Some(redis) = wsbench_scenario::services::redis_url_or_skip(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (out, rows) = run_with(
        dir.path(),
        "restart",
        &restart_toml(2),
        &["--redis", &redis],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rows.len(), 3, "{}", text(&out));
    for r in &rows {
        assert_eq!(r.nodes, Some(2), "{}", r.notes);
        assert!(
            r.notes
                .contains("node 1 of 2 (the clients i with i % 2 = 0) killed (SIGKILL)"),
            "{}",
            r.notes
        );
        assert_restart_accounting(r, CLIENTS / 2);
    }
}

#[test]
fn churn_leaves_the_servers_fds_and_rooms_where_they_were() {
    let dir = tempfile::tempdir().unwrap();
    // 50 short-lived clients/s for 2 s: exactly 100 of them, each in a room of its own
    let toml = r#"workload = "echo"
description = "t"
targets = ["tcp", "ws-tungstenite", "ws-fastwebsockets", "sio-socketioxide"]
clients = 5
rate = 50
[phases]
warmup_s = 0.2
measure_s = 2
drain_s = 0.5
[churn]
connects_per_s = 50
lifetime_ms = 200
settle_s = 10
"#;
    let (out, rows) = run(dir.path(), "churn", toml);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rows.len(), 4, "{}", text(&out));
    for r in &rows {
        let what = format!("{}: {}", r.target, r.notes);
        assert_eq!(r.variant, "churn", "{what}");
        assert!(
            r.notes
                .contains("churn: 100 of 100 short-lived clients connected, joined and left"),
            "{what}"
        );
        assert_eq!(r.leak_fds, Some(0), "{what}");
        assert!(r.leak_rss_kb.is_some(), "{what}");
        if r.target == "tcp" {
            assert_eq!(r.leak_rooms, None, "{what}");
        } else {
            assert_eq!(r.leak_rooms, Some(0), "{what}");
        }
        assert_eq!(r.delivered, r.expected, "{what}");
        assert_eq!((r.lost, r.errors, r.duplicated), (0, 0, 0), "{what}");
    }
}

/// The `wsbench serve` children of process `parent`.
fn serve_children(parent: u32) -> Vec<u32> {
    let parent = parent.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let pid: u32 = p.file_name()?.to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(p.join("stat")).ok()?;
            let ppid = stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?;
            let cmdline = std::fs::read_to_string(p.join("cmdline")).ok()?;
            (ppid == parent && cmdline.contains("serve")).then_some(pid)
        })
        .collect()
}

/// The port process `pid` listens on (its listening socket in /proc/net/tcp).
fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // local_address is f[1] (IP:PORT in hex), st is f[3] (0A: LISTEN), inode is f[9]
        (f.get(3) == Some(&"0A") && inodes.iter().any(|i| Some(&i.as_str()) == f.get(9)))
            .then(|| u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok())
            .flatten()
    })
}

/// The server's `deliveries` count from `GET /api/stats` (0 when it cannot be read).
fn deliveries(port: u16) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let req = "GET /api/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut body = String::new();
    if c.write_all(req.as_bytes()).is_err() || c.read_to_string(&mut body).is_err() {
        return 0;
    }
    let Some(at) = body.find("\"deliveries\":") else {
        return 0;
    };
    body[at + 13..]
        .split(|ch: char| !ch.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A plain echo file on `targets` (20 clients at 200/s), measured `measure_s`, and the
/// `wsbench run` command for it, writing to `dir/out`.
fn echo_run(dir: &Path, targets: &str, measure_s: f64) -> Command {
    let file = dir.join("echo.toml");
    std::fs::write(
        &file,
        format!(
            r#"workload = "echo"
description = "t"
targets = [{targets}]
clients = {CLIENTS}
rate = 200
[phases]
warmup_s = 0
measure_s = {measure_s}
drain_s = 0.5
"#
        ),
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg(&file)
        .args(["--no-progress", "--out"])
        .arg(dir.join("out"));
    cmd
}

/// Servers that abort at their 5th accepted connection, while the row's 20 clients are
/// still connecting (`WSBENCH_FAULT_ABORT_AFTER_ACCEPTS`, which `wsbench serve` reads): no
/// row can be measured, so each is a failure in meta.json whose message names the death,
/// and the run goes on to the next target (which dies the same way) and exits non-zero.
#[test]
fn a_server_that_dies_before_every_client_connected_is_a_failure_naming_the_death() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = echo_run(dir.path(), r#""ws-tungstenite", "tcp""#, 1.0)
        .env("WSBENCH_FAULT_ABORT_AFTER_ACCEPTS", "5")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let rows = wsbench_report::csv::read(&out_dir.join("summary.csv")).unwrap_or_default();
    assert!(rows.is_empty(), "{rows:?}");
    let meta = wsbench_report::meta::Meta::read(&out_dir.join("meta.json")).unwrap();
    assert_eq!(meta.failures.len(), 2, "{:?}", meta.failures);
    for (f, target) in meta.failures.iter().zip(["ws-tungstenite", "tcp"]) {
        assert!(f.row.contains(target), "{f:?}");
        assert!(
            f.message
                .contains(&format!("failed to connect to {target}")),
            "{f:?}"
        );
        assert!(
            f.message
                .contains("server died during the row (signal: 6 (SIGABRT)"),
            "{f:?}"
        );
    }
}

#[test]
fn a_server_that_dies_mid_row_still_gets_its_row_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let child = echo_run(dir.path(), r#""ws-tungstenite", "ws-fastwebsockets""#, 6.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // the first row's server, once echoes flow (it has delivered some): clients send
    // only after every one of them has connected
    let deadline = Instant::now() + Duration::from_secs(60);
    let server = loop {
        assert!(Instant::now() < deadline, "no server with echoes flowing");
        if let Some(&pid) = serve_children(child.id()).first()
            && listening_port(pid).is_some_and(|port| deliveries(port) > 0)
        {
            break pid;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // SAFETY: kill(2) on a pid we just read; at worst it names a process that has exited.
    assert_eq!(
        unsafe { libc::kill(server as libc::pid_t, libc::SIGKILL) },
        0
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows = wsbench_report::csv::read(&out_dir.join("summary.csv")).unwrap();
    assert_eq!(rows.len(), 2, "{}", text(&out));
    let died = &rows[0];
    assert_eq!(died.target, "ws-tungstenite");
    assert!(
        died.notes
            .contains("server died during the row (signal: 9 (SIGKILL))"),
        "{}",
        died.notes
    );
    // what was measured before the death stays; every client's connection was lost once
    assert!(died.delivered > 0, "{}", died.notes);
    assert_eq!(died.errors, CLIENTS, "{}", died.notes);
    assert_eq!(died.lost, died.expected - died.delivered);
    let meta = wsbench_report::meta::Meta::read(&out_dir.join("meta.json")).unwrap();
    assert!(
        meta.notes
            .iter()
            .any(|n| n.contains("ws-tungstenite") && n.contains("server died during the row")),
        "{:?}",
        meta.notes
    );
    // the next row started a fresh server and measured normally
    let next = &rows[1];
    assert_eq!(next.target, "ws-fastwebsockets");
    assert_eq!((next.errors, next.lost), (0, 0), "{}", next.notes);
    assert!(!next.notes.contains("server died"), "{}", next.notes);
}

/// The Node peers need node and their installed packages (scripts/test.sh installs them).
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
fn the_node_peers_are_restarted_and_churned_too() {
    if !node_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Node takes a second or two to listen again: the drain leaves room for socket.io's
    // 1 s, 2 s, 4 s delays
    let toml = format!(
        r#"workload = "echo"
description = "t"
targets = ["node-ws", "node-socketio"]
clients = {CLIENTS}
rate = {}
[phases]
warmup_s = 0.2
measure_s = 2
drain_s = 10
[restart]
kill_at_s = 1
backoff_initial_ms = 200
backoff_max_ms = 1000
"#,
        CLIENTS * 10
    );
    let (out, rows) = run(dir.path(), "restart", &toml);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rows.len(), 2, "{}", text(&out));
    for r in &rows {
        let what = format!("{}: {}", r.target, r.notes);
        assert_eq!(r.reconnected, Some(CLIENTS), "{what}");
        let due = r.note_number("; of ").expect(&what);
        assert_eq!(due, CLIENTS * 20, "{what}");
        assert_eq!(r.lost_during_outage, Some(due - r.delivered), "{what}");
        assert_eq!(r.errors, 0, "{what}");
    }
    let sio = rows.iter().find(|r| r.target == "node-socketio").unwrap();
    assert!(
        sio.notes.contains("connectionStateRecovery on"),
        "{}",
        sio.notes
    );

    let dir = tempfile::tempdir().unwrap();
    let toml = r#"workload = "echo"
description = "t"
targets = ["node-ws", "node-socketio"]
clients = 5
rate = 50
[phases]
warmup_s = 0.2
measure_s = 1
drain_s = 0.5
[churn]
connects_per_s = 50
lifetime_ms = 200
settle_s = 10
"#;
    let (out, rows) = run(dir.path(), "churn", toml);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rows.len(), 2, "{}", text(&out));
    for r in &rows {
        let what = format!("{}: {}", r.target, r.notes);
        assert!(
            r.notes
                .contains("churn: 50 of 50 short-lived clients connected, joined and left"),
            "{what}"
        );
        assert_eq!((r.leak_fds, r.leak_rooms), (Some(0), Some(0)), "{what}");
    }
}
