//! `wsbench floor` as a user runs it: against a `wsbench serve tcp` child it prints round
//! trips per second and CPU per round trip and exits 0 by itself; a bad address is a usage
//! error (2) and a refused connection a run error (1), each saying what is wrong.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

#[test]
fn floor_against_a_served_tcp_target() {
    let mut server = Command::new(BIN)
        .args(["serve", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let out = Command::new(BIN)
        .args(["floor", "tcp", &addr, "--clients", "4", "--seconds", "0.3"])
        .args(["--warmup-s", "0.1"])
        .output()
        .unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("round trips/s") && stdout.contains("µs CPU per round trip"),
        "{stdout}"
    );
}

#[test]
fn bad_addresses_and_refused_connections_say_so() {
    let out = Command::new(BIN)
        .args(["floor", "ws", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad address") && err.contains("ws://HOST:PORT"),
        "{err}"
    );

    let freed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = freed.local_addr().unwrap().to_string();
    drop(freed);
    let out = Command::new(BIN)
        .args(["floor", "tcp", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("connect to tcp://{addr} failed")),
        "{err}"
    );
}
