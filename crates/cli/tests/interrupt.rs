//! Ctrl-C during `wsbench run`: the run stops, keeps every finished row, marks what it cut
//! short, records the interruption in meta.json and exits 130.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

#[test]
fn sigint_during_measure_keeps_the_partial_row_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("long.toml");
    std::fs::write(
        &scenario,
        "workload = \"echo\"\nclients = 4\nrate = 200\ntargets = [\"tcp\"]\n\
         [phases]\nwarmup_s = 0.2\nmeasure_s = 60\ndrain_s = 0.5\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut status = None;
    for _ in 0..400 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        // no event to wait on for another process's exit short of a SIGCHLD handler
        std::thread::park_timeout(Duration::from_millis(50));
    }
    let Some(status) = status else {
        child.kill().ok();
        panic!("wsbench run did not stop within 20 s of SIGINT");
    };
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
