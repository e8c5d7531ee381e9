//! `wsbench report` and `wsbench compare` on committed runs (results/pingpong-1 and
//! results/pingpong-2, two runs of scenarios/pingpong.toml): the ratios print, and a
//! threshold's exit code is 3 when crossed, 0 when not, 2 when malformed, and 3 when it
//! checks nothing; a comparison with no point in common fails; a missing input path is a
//! usage error (2) naming the path, for `report` and `compare` alike.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

fn run_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results")
        .join(name)
}

/// Runs `wsbench <args>`: exit code, stdout, stderr.
fn wsbench<I, S>(args: I) -> (Option<i32>, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `wsbench compare results/<a> results/<b> <extra>`.
fn compare_runs(a: &str, b: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec![
        "compare".into(),
        run_dir(a).into_os_string(),
        run_dir(b).into_os_string(),
    ];
    args.extend(extra.iter().map(Into::into));
    wsbench(args)
}

fn compare(extra: &[&str]) -> (Option<i32>, String, String) {
    compare_runs("pingpong-1", "pingpong-2", extra)
}

/// Two runs with no point in common.
fn compare_disjoint(extra: &[&str]) -> (Option<i32>, String, String) {
    compare_runs("pingpong-1", "broadcast", extra)
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

#[test]
fn a_gate_with_no_point_in_common_exits_3_and_says_so() {
    let (code, out, err) = compare_disjoint(&["--fail-if", "lat_p99_us>1.10"]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(err.contains("no point is present in both runs"), "{err}");
    assert!(err.contains("threshold failed"), "{err}");
}

#[test]
fn a_comparison_with_no_point_in_common_exits_1() {
    let (code, out, err) = compare_disjoint(&[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("no point is present in both runs"), "{err}");
    assert!(out.contains("only in a: pingpong"), "{out}");
}

#[test]
fn a_threshold_on_a_metric_neither_run_has_exits_3() {
    // pingpong has no staleness (a polling-vs-push metric): the gate checks nothing
    let (code, _, err) = compare(&["--fail-if", "staleness_p99_ms>1.5"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("staleness_p99_ms>1.5 checked nothing"),
        "{err}"
    );
    // beside a threshold that does check and pass, it still fails
    let (code, _, err) = compare(&[
        "--fail-if",
        "lat_p50_us>100",
        "--fail-if",
        "staleness_p99_ms>1.5",
    ]);
    assert_eq!(code, Some(3), "{err}");
    assert!(!err.contains("lat_p50_us"), "{err}");
}

#[test]
fn a_missing_input_path_is_a_usage_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-run");
    let shown = missing.display().to_string();

    let (code, _, err) = wsbench(["report".as_ref(), missing.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&shown), "{err}");

    let pingpong = run_dir("pingpong-1");
    let (code, _, err) = wsbench([
        "compare".as_ref(),
        missing.as_os_str(),
        pingpong.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&shown), "{err}");
    let (code, _, err) = wsbench([
        "compare".as_ref(),
        pingpong.as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&shown), "{err}");

    // a directory that is not a run directory: its summary.csv is named
    let (code, _, err) = wsbench(["report".as_ref(), tmp.path().as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("summary.csv"), "{err}");
}
