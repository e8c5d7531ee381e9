//! `wsbench report` and `wsbench compare` on committed runs (results/pingpong-1 and
//! results/pingpong-2, two runs of scenarios/pingpong.toml): the ratios print, and a
//! threshold's exit code is 3 when crossed, 0 when not, 2 when malformed.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

fn run_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results")
        .join(name)
}

fn compare(extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .arg("compare")
        .arg(run_dir("pingpong-1"))
        .arg(run_dir("pingpong-2"))
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn compare_prints_ratios_for_every_target() {
    let (code, out, err) = compare(&[]);
    assert_eq!(code, Some(0), "{err}");
    for target in [
        "tcp",
        "ws-tungstenite",
        "ws-fastwebsockets",
        "sio-socketioxide",
    ] {
        assert!(out.contains(target), "no row for {target}:\n{out}");
    }
    assert!(out.contains("lat_p99_us") || out.contains("p99"), "{out}");
}

#[test]
fn a_crossed_threshold_exits_3_and_names_it() {
    // two runs of the same scenario: p50 ratios are near 1, far above 0.01
    let (code, _, err) = compare(&["--fail-if", "lat_p50_us>0.01"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("lat_p50_us"), "{err}");
}

#[test]
fn an_uncrossed_threshold_exits_0() {
    let (code, _, err) = compare(&[
        "--fail-if",
        "lat_p50_us>100",
        "--fail-if",
        "deliveries_per_s<0.01",
    ]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_malformed_threshold_is_a_usage_error() {
    let (code, _, err) = compare(&["--fail-if", "lat_p50_us~2"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = compare(&["--fail-if", "no_such_metric>1.1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no_such_metric"), "{err}");
}

#[test]
fn report_renders_a_committed_run_into_a_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let src = run_dir("pingpong-1");
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let out = Command::new(BIN)
        .arg("report")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(md.contains("ws-tungstenite"), "{md}");
    let plots: Vec<_> = std::fs::read_dir(tmp.path().join("plots"))
        .unwrap()
        .collect();
    assert!(!plots.is_empty(), "no plots written");
}
