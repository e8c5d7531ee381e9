//! The repository's test command and packaging: what `scripts/test.sh` skips, and why, where a
//! tool or service is absent (checked through its `--plan` mode, which goes through the same
//! decisions as a real run without running any step), and that no npm lockfile carries a
//! download address (docs/peers.md).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A directory holding a link to every executable on this PATH except `without`: the same
/// machine, minus those tools.
fn path_without(without: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = HashSet::new();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(n) = name.to_str() else { continue };
            if without.contains(&n) || !seen.insert(n.to_owned()) {
                continue;
            }
            std::os::unix::fs::symlink(e.path(), dir.path().join(n)).unwrap();
        }
    }
    dir
}

/// `bash scripts/test.sh --plan` with PATH limited to `bin` and the given environment.
fn plan(bin: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new("bash");
    cmd.arg("scripts/test.sh")
        .arg("--plan")
        .current_dir(repo())
        .env("PATH", bin);
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "WSBENCH_REQUIRE_SERVICES",
        "WSBENCH_PY27",
        "WSBENCH_TEST_PLAN",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

/// The planned Rust test step (nextest, or `cargo test` where nextest is absent).
fn rust_tests(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("would run: cargo ") && l.contains("(Rust tests)"))
        .unwrap_or_else(|| panic!("no Rust test step in:\n{out}"))
}

const NO_PY27_NODE: &[&str] = &["python2.7", "python2", "python", "pyenv", "node", "npm"];

#[test]
fn plan_skips_autobahn_node_and_the_database_tests_where_absent() {
    let bin = path_without(NO_PY27_NODE);
    let (code, out) = plan(bin.path(), &[]);
    assert_eq!(code, Some(0), "{out}");
    line(
        &out,
        "skipped: Autobahn|Testsuite (cases 1-10): no Python 2.7 found",
    );
    line(
        &out,
        "skipped: Node conformance tests and the Node peers' own tests: node and npm are not on PATH",
    );
    line(
        &out,
        "skipped: the Rust tests named *postgres*: DATABASE_URL not set",
    );
    let rust = rust_tests(&out);
    assert!(
        rust.contains(r"-E not\ test\(postgres\)") || rust.contains("-- --skip postgres"),
        "the runner leaves the PostgreSQL tests out by name, so its summary counts them: {rust}"
    );
    assert!(!out.contains("would run: Autobahn"), "{out}");
    assert!(!out.contains("would run: official clients"), "{out}");
    line(
        &out,
        "skipped: the Rust cluster tests (Redis): REDIS_URL not set",
    );
    let summary = &out[out.find("skipped steps (4):").expect(&out)..];
    for step in [
        "Autobahn|Testsuite",
        "Node conformance",
        "named *postgres*",
        "cluster tests (Redis)",
    ] {
        assert!(summary.contains(step), "{step} in the closing list: {out}");
    }
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn plan_fails_where_services_are_required_but_absent() {
    let bin = path_without(NO_PY27_NODE);
    let (code, out) = plan(bin.path(), &[("WSBENCH_REQUIRE_SERVICES", "1")]);
    assert_eq!(code, Some(1), "{out}");
    line(
        &out,
        "FAILED: the Rust tests named *postgres*: DATABASE_URL not set",
    );
    line(
        &out,
        "FAILED: the Rust cluster tests (Redis): REDIS_URL not set",
    );
    // Python 2.7 is optional everywhere: Autobahn is skipped, visibly, never failed
    line(
        &out,
        "skipped: Autobahn|Testsuite (cases 1-10): no Python 2.7",
    );
    assert!(!out.contains("FAILED: Autobahn"), "{out}");
    let skipped: Vec<&str> = out.lines().filter(|l| l.starts_with("skipped:")).collect();
    assert_eq!(
        skipped.len(),
        1,
        "only Autobahn may be skipped in CI: {out}"
    );
    let rust = rust_tests(&out);
    assert!(
        !rust.contains("postgres"),
        "the PostgreSQL tests run (and fail without a database): {rust}"
    );
}

#[test]
fn plan_runs_the_database_tests_when_database_url_is_set() {
    let bin = path_without(NO_PY27_NODE);
    let (code, out) = plan(
        bin.path(),
        &[("DATABASE_URL", "postgres://127.0.0.1:1/none")],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("named *postgres*"), "{out}");
    assert!(!rust_tests(&out).contains("postgres"), "{out}");
}

#[test]
fn plan_names_no_redis_step_when_redis_url_is_set() {
    let bin = path_without(NO_PY27_NODE);
    let (code, out) = plan(
        bin.path(),
        &[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("WSBENCH_REQUIRE_SERVICES", "1"),
        ],
    );
    assert!(!out.contains("cluster tests (Redis)"), "{out}");
    // (it still fails: DATABASE_URL is missing)
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn plan_skips_autobahn_when_the_given_python_is_not_2_7() {
    let bin = path_without(NO_PY27_NODE);
    let py3 = bin.path().join("python3");
    if !py3.exists() {
        // Without python3 the previous tests already cover "no Python 2.7".
        println!("skipped: python3 not on PATH");
        return;
    }
    let (code, out) = plan(bin.path(), &[("WSBENCH_PY27", py3.to_str().unwrap())]);
    assert_eq!(code, Some(0), "{out}");
    let skip = line(&out, "skipped: Autobahn|Testsuite (cases 1-10): ");
    assert!(skip.contains("is not a working Python 2.7"), "{skip}");
}

/// Every package-lock.json outside node_modules and target.
fn lockfiles(dir: &Path, found: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        if e.file_type().unwrap().is_dir() {
            if !matches!(name.to_str(), Some("node_modules" | "target" | ".git")) {
                lockfiles(&p, found);
            }
        } else if name == "package-lock.json" {
            found.push(p);
        }
    }
}

#[test]
fn package_lockfiles_carry_no_download_addresses() {
    let mut found = Vec::new();
    lockfiles(&repo(), &mut found);
    assert!(
        found.len() >= 2,
        "the Node peers' and Artillery's: {found:?}"
    );
    for lock in &found {
        let text = std::fs::read_to_string(lock).unwrap();
        assert!(
            !text.contains("\"resolved\""),
            "{} carries download addresses: regenerate it with \
             omit-lockfile-registry-resolved=true (`npm install --package-lock-only`)",
            lock.display()
        );
        let npmrc = lock.with_file_name(".npmrc");
        let rc = std::fs::read_to_string(&npmrc).unwrap_or_default();
        assert!(
            rc.lines()
                .any(|l| l.trim() == "omit-lockfile-registry-resolved=true"),
            "{} must keep npm from writing them back",
            npmrc.display()
        );
    }
}
