//! `wsbench list` from outside the repository: with no `./scenarios` it lists the
//! scenarios of the source tree it was built from; with a scenarios folder that holds no
//! scenario files it still prints the targets, then an error naming the folder, and exits 2;
//! a reader that closes the pipe early ends it quietly.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

fn list_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("list")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run wsbench list")
}

#[test]
fn outside_the_repository_it_lists_the_built_trees_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let out = list_in(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for name in wsbench_scenario::BUILTIN_TARGETS {
        assert!(
            stdout.contains(&format!("  {name} ")),
            "{name} in\n{stdout}"
        );
    }
    let built =
        std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios")).unwrap();
    assert!(
        stdout.contains(&format!("scenarios ({}):", built.display())),
        "{stdout}"
    );
    assert!(stdout.contains("broadcast.toml"), "{stdout}");
    assert!(!stdout.contains("INVALID"), "{stdout}");
}

#[test]
fn a_folder_without_scenarios_prints_the_targets_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("scenarios");
    std::fs::create_dir(&empty).unwrap();
    for args in [
        vec!["--scenarios", "scenarios"],
        vec!["--scenarios", "missing"],
    ] {
        let out = list_in(dir.path(), &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}\n{stderr}");
        assert!(stdout.starts_with("targets:\n  tcp "), "{stdout}");
        assert!(
            stderr.contains(&format!("no scenario files found (tried {})", args[1])),
            "{stderr}"
        );
    }
}

/// `wsbench list | head`: the reader closes the pipe before `list` writes. `list` ends as a
/// Unix tool does (SIGPIPE), without a panic and backtrace on stderr.
#[test]
fn a_closed_stdout_ends_list_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let mut child = Command::new(BIN)
        .arg("list")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wsbench list");
    // close the only read end before the first write can be read
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
}
