//! scenarios/auth.toml and scenarios/rate-limit.toml through the real CLI in `--quick` mode
//! against the Rust targets (each a child `wsbench serve` started with the scenario's
//! `--jwt-secret` / `--rate-limit`): valid tokens all connect and bad ones all fail, counted;
//! under the rate limit nothing is refused, over it the server's `rate_limited` count is in
//! the row. Client counts and rates are lowered for the debug build.

use std::path::Path;
use std::process::Command;

use wsbench_report::SummaryRow;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");
const TARGETS: &str = "ws-tungstenite,ws-fastwebsockets,sio-socketioxide";

fn quick(file: &str, extra: &[&str]) -> Vec<SummaryRow> {
    let out = tempfile::tempdir().unwrap();
    let res = Command::new(BIN)
        .arg("run")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scenarios")
                .join(file),
        )
        .args(["--quick", "--no-progress", "--targets", TARGETS, "--out"])
        .arg(out.path())
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(
        res.status.code(),
        Some(0),
        "{file} {extra:?}\n{stdout}\n{stderr}"
    );
    wsbench_report::csv::read(&out.path().join("summary.csv")).unwrap()
}

#[test]
fn auth_valid_tokens_connect_and_bad_tokens_are_all_refused() {
    let rows = quick(
        "auth.toml",
        &["--clients", "20", "--jwt-secret", "test-secret"],
    );
    assert_eq!(rows.len(), 9, "3 jwt points x 3 targets");
    for r in &rows {
        let what = format!("{} {}", r.target, r.sweep);
        match r.sweep.as_str() {
            "jwt=off" | "jwt=valid" => assert_eq!(r.connect_errors, 0, "{what}: {}", r.notes),
            "jwt=bad" => {
                assert_eq!(r.connect_errors, 20, "{what}: {}", r.notes);
                assert!(
                    r.notes.contains("401") || r.notes.contains("unauthorized"),
                    "{what}: {}",
                    r.notes
                );
            }
            other => panic!("unexpected sweep point {other}"),
        }
    }
}

#[test]
fn rate_limit_refusals_are_counted_by_the_server() {
    // 10 publishers at 50/s each: under the 100/s limit, nothing refused or lost.
    let under = quick(
        "rate-limit.toml",
        &["--clients", "10", "--publishers", "10", "--rate", "500"],
    );
    for r in &under {
        assert_eq!(r.rate_limited, Some(0), "{}: {}", r.target, r.notes);
        assert_eq!((r.lost, r.errors), (0, 0), "{}: {}", r.target, r.notes);
    }
    // 10 publishers at 400/s each: most requests refused, every refusal answered.
    let over = quick(
        "rate-limit.toml",
        &["--clients", "10", "--publishers", "10", "--rate", "4000"],
    );
    for r in &over {
        let refused = r.rate_limited.unwrap_or(0);
        assert!(refused > 0, "{}: {}", r.target, r.notes);
        assert!(
            r.errors > 0 && r.errors <= refused,
            "{}: errors {} vs {refused}",
            r.target,
            r.errors
        );
    }
}
