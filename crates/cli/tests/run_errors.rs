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

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_run_whose_rows_all_fail_says_why_in_meta_json_and_where_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("refused.toml");
    std::fs::write(
        &f,
        format!(
            "name = \"refused\"\nworkload = \"echo\"\nclients = 2\nrate = 10\n\
             targets = [\"tcp=127.0.0.1:{}\"]\n\
             [phases]\nwarmup_s = 0.1\nmeasure_s = 1\ndrain_s = 0.5\n",
            closed_port()
        ),
    )
    .unwrap();
    // no --out: the default results/<scenario>-<stamp> under the working directory
    let out = Command::new(BIN)
        .arg("run")
        .arg(&f)
        .arg("--no-progress")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let meta_path = runs[0].join("meta.json");
    assert!(
        err.contains(&meta_path.display().to_string()) || err.contains("meta.json"),
        "the terminal says where: {err}"
    );
    let meta = wsbench_report::meta::Meta::read(&meta_path).unwrap();
    assert_eq!(meta.failures.len(), 1, "{meta:?}");
    assert!(meta.failures[0].row.contains("refused"), "{meta:?}");
    assert!(
        meta.failures[0].message.contains("failed to connect"),
        "{meta:?}"
    );
    assert!(meta.finished_at.is_some(), "{meta:?}");

    // that directory's name is git-ignored in the repository; committed results are not
    let name = runs[0].file_name().unwrap().to_string_lossy().into_owned();
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let ignored = |path: &str| {
        Command::new("git")
            .args(["check-ignore", "-q", path])
            .current_dir(repo)
            .status()
            .map(|s| s.code())
    };
    match ignored("results/broadcast") {
        Err(e) => {
            println!("skipped the .gitignore check: cannot run git: {e}");
            return;
        }
        Ok(Some(128)) => {
            println!("skipped the .gitignore check: {repo} is not a git checkout");
            return;
        }
        Ok(code) => assert_eq!(code, Some(1), "results/broadcast stays tracked"),
    }
    for committed in ["results/pingpong-1", "results/polling-vs-push"] {
        assert_eq!(ignored(committed).unwrap(), Some(1), "{committed}");
    }
    assert_eq!(
        ignored(&format!("results/{name}")).unwrap(),
        Some(0),
        "a run's own directory results/{name} is git-ignored"
    );
}
