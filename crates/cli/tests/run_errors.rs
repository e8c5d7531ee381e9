//! `wsbench run` refuses bad input before any socket opens: exit 2 with a message naming the
//! file, the line and the key (or the flag).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).arg("run").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_value_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "workload = \"echo\"\nclients = 4\nrate = 0\n").unwrap();
    let (code, err) = run(&[
        f.to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.toml:3"), "{err}");
    assert!(err.contains("rate"), "{err}");
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written for a refused scenario"
    );
}

#[test]
fn an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("typo.toml");
    std::fs::write(&f, "workload = \"echo\"\nclients = 4\nrate = 10\nrat = 5\n").unwrap();
    let (code, err) = run(&[f.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("typo.toml:4") && err.contains("rat"), "{err}");
}

#[test]
fn a_bad_flag_names_the_flag() {
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/echo.toml");
    let (code, err) = run(&[scenarios, "--rate", "0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--rate"), "{err}");
    let (code, err) = run(&[scenarios, "--repeat", "0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--repeat"), "{err}");
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let (code, err) = run(&["/nonexistent/x.toml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent/x.toml"), "{err}");
}
