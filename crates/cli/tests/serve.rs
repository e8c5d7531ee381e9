//! The `wsbench serve` contract from outside: the exact first stdout line, a working
//! listener, a clean exit 0 on SIGTERM and SIGINT, usage errors with exit 2, and a `--help`
//! that documents every option with its default.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");
const TARGETS: [&str; 4] = [
    "tcp",
    "ws-tungstenite",
    "ws-fastwebsockets",
    "sio-socketioxide",
];

/// Starts `wsbench serve`, returns the child and the address from its first line.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn wsbench");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no listening line in 20 s");
    let line = line.trim_end_matches('\n');
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {line:?}"));
    let (ip, port) = addr.rsplit_once(':').expect("ip:port");
    assert_eq!(ip, "127.0.0.1", "binds loopback by default");
    assert!(port.parse::<u16>().unwrap() > 0);
    (child, addr.to_owned())
}

/// Waits for the child to exit (bounded) and returns its exit code.
fn wait_exit(mut child: Child) -> i32 {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().expect("exited, not killed by a signal");
        }
        // polling a child's exit status has no event to wait on short of a SIGCHLD handler
        std::thread::park_timeout(Duration::from_millis(50));
    }
    child.kill().ok();
    panic!("server did not exit within 10 s of the signal");
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[test]
fn every_target_prints_listening_serves_and_exits_0_on_sigterm() {
    for t in TARGETS {
        let (child, addr) = start(&[t, "--bind", "127.0.0.1:0"]);
        TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{t}: connect {addr}: {e}"));
        signal(&child, libc::SIGTERM);
        assert_eq!(wait_exit(child), 0, "{t}: exit code after SIGTERM");
    }
}

#[test]
fn sigint_with_an_open_connection_exits_0() {
    let (child, addr) = start(&["ws-tungstenite"]);
    let _conn = TcpStream::connect(&addr).unwrap();
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(child), 0);
}

#[test]
fn usage_errors_exit_2_and_say_why() {
    for (args, needle) in [
        (vec!["serve", "nope"], "unknown target"),
        (
            vec!["serve", "tcp", "--database", "mysql://x"],
            "--database",
        ),
        (vec!["serve", "tcp", "--echo"], "--echo"),
        (vec!["serve", "tcp", "--bogus"], "--bogus"),
        (vec!["serve", "tcp", "--adapter", "http://x:1"], "--adapter"),
        (vec!["serve", "tcp", "--adapter-prefix", "p"], "--adapter"),
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: stderr {err:?}");
    }
}

#[test]
fn serve_help_documents_every_option_and_limit() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--bind",
        "[default: 127.0.0.1:0]",
        "--database",
        "--max-message-bytes",
        "[default: 1048576]",
        "1009",
        "--max-connections",
        "--outbound-queue",
        "--slow-consumer",
        "--idle-timeout-s",
        "--sio-ping-interval-s",
        "--sio-ping-timeout-s",
        "--fault-delay-ms",
        "--fault-drop-every",
        "--fault-stall-once-ms",
        "--echo",
        "--adapter",
        "--adapter-prefix",
        "[default: wsbench]",
        "listening on",
    ] {
        assert!(
            help.contains(needle),
            "serve --help lacks {needle:?}:\n{help}"
        );
    }
}

/// A node of a cluster whose Redis does not answer exits 1 saying so, before any listening
/// line (a supervisor never takes it for ready).
#[test]
fn a_node_without_its_redis_exits_1_before_listening() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let adapter = format!("redis://127.0.0.1:{port}");
    for target in ["tcp", "sio-socketioxide"] {
        let out = Command::new(BIN)
            .args(["serve", target, "--adapter", &adapter])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{target}");
        assert!(out.stdout.is_empty(), "{target}: {:?}", out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Redis does not answer"), "{target}: {err}");
    }
}

/// The accept queue is deep enough for connection storms (tokio's default of 128 turned a
/// 1,000-client storm into 1 s SYN retransmits). `ss` shows a listener's backlog as Send-Q.
#[test]
fn listen_backlog_is_deep() {
    let (child, addr) = start(&["tcp"]);
    let port = addr.rsplit_once(':').unwrap().1.to_owned();
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output();
    signal(&child, libc::SIGTERM);
    assert_eq!(wait_exit(child), 0);
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            eprintln!("skipped: `ss` (iproute2) is not available to read the backlog");
            return;
        }
    };
    let send_q: u32 = out
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4096);
    assert_eq!(
        send_q,
        somaxconn.min(4096),
        "listen backlog in `ss` output {out:?}"
    );
}

#[test]
fn serve_help_documents_the_hardening_limits() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--outbound-queue-bytes",
        "[default: 16777216]",
        "--max-rooms-per-connection",
        "[default: 1000]",
        "--max-room-name-bytes",
        "[default: 256]",
        "--http-read-timeout-s",
        "--shutdown-timeout-s",
        "second signal",
        "--stats-reset-from",
        "of every kind",
    ] {
        assert!(
            help.contains(needle),
            "serve --help lacks {needle:?}:\n{help}"
        );
    }
}

#[test]
fn what_socketioxide_cannot_do_is_a_usage_error() {
    for (flag, value) in [
        ("--slow-consumer", "disconnect"),
        ("--outbound-queue-bytes", "1000000"),
    ] {
        let out = Command::new(BIN)
            .args(["serve", "sio-socketioxide", flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}: stderr {err:?}");
    }
}

/// Writes half a request head and half a request body (tcp: half a frame) and keeps both
/// connections open.
fn half_sent_requests(target: &str, addr: &str) -> [TcpStream; 2] {
    use std::io::Write;
    let mut head = TcpStream::connect(addr).unwrap();
    let mut body = TcpStream::connect(addr).unwrap();
    if target == "tcp" {
        head.write_all(&[0, 0, 3, 232, b'{']).unwrap();
        body.write_all(&[0, 0]).unwrap();
    } else {
        head.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n").unwrap();
        body.write_all(
            b"POST /api/dashboard HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n123456789",
        )
        .unwrap();
    }
    accepted_before(target, addr);
    [head, body]
}

/// Returns once the server has answered a third connection opened after the held ones. The
/// listener's queue is first in, first out and the server accepts in order, so the held
/// connections are accepted by then (a signal sent earlier could find them still queued,
/// and a shutdown that drops its queue has nothing to wait for).
fn accepted_before(target: &str, addr: &str) {
    use std::io::{Read, Write};
    let mut probe = TcpStream::connect(addr).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    if target != "tcp" {
        // the tcp target greets first; an HTTP target answers a request
        probe
            .write_all(b"GET /api/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    let mut first = [0u8; 4];
    probe
        .read_exact(&mut first)
        .unwrap_or_else(|e| panic!("{target}: no answer on a probe connection: {e}"));
}

/// Half-sent requests used to hold SIGTERM up forever; now shutdown has a deadline.
#[test]
fn sigterm_with_half_sent_requests_exits_within_the_shutdown_deadline() {
    for t in TARGETS {
        let (child, addr) = start(&[
            t,
            "--shutdown-timeout-s",
            "1",
            "--http-read-timeout-s",
            "600",
        ]);
        let _held = half_sent_requests(t, &addr);
        signal(&child, libc::SIGTERM);
        assert_eq!(wait_exit(child), 0, "{t}: exit code after SIGTERM");
    }
}

/// With a long shutdown deadline and a half-sent request holding it up, a second signal
/// ends the process at once with 130.
#[test]
fn a_second_signal_forces_exit() {
    let (child, addr) = start(&[
        "ws-tungstenite",
        "--shutdown-timeout-s",
        "600",
        "--http-read-timeout-s",
        "600",
    ]);
    let _held = half_sent_requests("ws-tungstenite", &addr);
    signal(&child, libc::SIGTERM);
    // Shutdown has begun once the listener is closed (two signals sent before the first
    // is handled would count as one).
    let mut closed = false;
    for _ in 0..200 {
        if TcpStream::connect(&addr).is_err() {
            closed = true;
            break;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
    assert!(closed, "the listener never closed after SIGTERM");
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(child), 130, "exit code after the second signal");
}
