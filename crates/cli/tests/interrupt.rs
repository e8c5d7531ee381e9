//! Ctrl-C during `wsbench run`: the run stops, keeps every finished row, marks what it cut
//! short, records the interruption in meta.json and exits 130. A terminal's Ctrl-C signals
//! the whole foreground process group; the server children lead groups of their own, so they
//! serve through the drain and the partial row shows no spurious losses or errors.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

/// Starts `wsbench run` of a 60 s echo scenario against the built-in TCP server (a child)
/// and returns once its progress line says it is measuring. `own_group`: start it in a
/// process group of its own, as a shell starts a foreground job.
fn run_until_measuring(dir: &Path, own_group: bool) -> (Child, PathBuf) {
    let scenario = dir.join("long.toml");
    std::fs::write(
        &scenario,
        "workload = \"echo\"\nclients = 4\nrate = 200\ntargets = [\"tcp\"]\n\
         [phases]\nwarmup_s = 0.2\nmeasure_s = 60\ndrain_s = 0.5\n",
    )
    .unwrap();
    let out = dir.join("out");
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if own_group {
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().unwrap();
    // Piped stderr gets a plain progress line every few seconds: wait for the measure phase.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("| measure") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        child.kill().ok();
        panic!("no progress line in the measure phase within 60 s");
    }
    (child, out)
}

/// Waits up to 20 s for `child` to exit.
fn wait_exit(child: &mut Child) -> ExitStatus {
    for _ in 0..400 {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        // no event to wait on for another process's exit short of a SIGCHLD handler
        std::thread::park_timeout(Duration::from_millis(50));
    }
    child.kill().ok();
    panic!("wsbench run did not stop within 20 s of SIGINT");
}

#[test]
fn sigint_during_measure_keeps_the_partial_row_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, out) = run_until_measuring(dir.path(), false);
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(130));
    let rows = wsbench_report::csv::read(&out.join("summary.csv")).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert!(r.partial, "the interrupted row is marked partial: {r:?}");
    assert!(
        r.sent > 0 && r.delivered > 0,
        "what was measured is kept: {r:?}"
    );
    assert!(
        r.measure_s < 60.0,
        "measure_s is the time actually measured: {r:?}"
    );
    let meta = std::fs::read_to_string(out.join("meta.json")).unwrap();
    assert!(meta.contains("\"interrupted\": true"), "{meta}");
}

#[test]
fn a_terminal_ctrl_c_to_the_process_group_leaves_the_server_serving_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, out) = run_until_measuring(dir.path(), true);
    let group = child.id() as i32;
    // what a terminal does on Ctrl-C: SIGINT to every process of the foreground group
    // SAFETY: kill(2) on the process group our own child leads.
    assert_eq!(unsafe { libc::kill(-group, libc::SIGINT) }, 0);
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(130));
    let rows = wsbench_report::csv::read(&out.join("summary.csv")).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert!(r.partial && r.sent > 0, "{r:?}");
    assert!(
        !r.notes.contains("closed by peer") && !r.notes.contains("connection lost"),
        "no spurious errors from a server killed by the terminal's SIGINT: {r:?}"
    );
    assert_eq!(r.errors, 0, "{r:?}");
    // the server, outside the signalled group, answered every echo sent before the cut
    assert_eq!(r.lost, 0, "{r:?}");
    assert_eq!(r.delivered, r.expected, "{r:?}");
}
