//! scenarios/auth.toml, scenarios/rate-limit.toml and scenarios/cors.toml through the real
//! CLI in `--quick` mode against the Rust targets (each a child `wsbench serve` started with
//! the scenario's `--jwt-secret` / `--rate-limit` / `--cors-origin`): valid tokens all
//! connect and bad ones all fail, counted; clients under the rate limit are never refused,
//! even beside clients over it, whose refusals the server counts in `rate_limited`; with
//! `cors = "preflight"` every request is preceded by a preflight the server allows, counted.
//! Client counts and rates are lowered for the debug build.

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
fn rate_limit_refuses_the_clients_over_it_and_not_the_others() {
    // The row's 10 clients at 50/s each, under the 100/s limit; the second point adds 10
    // clients at 200/s (`over_limit`), kept out of the row's counts.
    let rows = quick(
        "rate-limit.toml",
        &["--clients", "10", "--publishers", "10", "--rate", "500"],
    );
    assert_eq!(rows.len(), 6, "2 over_limit points x 3 targets");
    for r in &rows {
        let what = format!("{} {}: {}", r.target, r.sweep, r.notes);
        // nothing of the row's own clients refused or lost, with or without neighbours over it
        assert!(r.sent > 0 && r.delivered == r.sent, "{what}");
        assert_eq!((r.lost, r.errors), (0, 0), "{what}");
        match r.sweep.as_str() {
            "over_limit=0" => assert_eq!(r.rate_limited, Some(0), "{what}"),
            "over_limit=10" => {
                assert!(r.rate_limited.is_some_and(|n| n > 0), "{what}");
                assert!(r.notes.contains("over_limit: 10 more clients"), "{what}");
            }
            other => panic!("unexpected sweep point {other}"),
        }
    }
    // The row's own clients at 400/s each: most refused, every refusal answered (an error).
    let over = quick(
        "rate-limit.toml",
        &["--clients", "10", "--publishers", "10", "--rate", "4000"],
    );
    for r in over.iter().filter(|r| r.sweep == "over_limit=0") {
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

#[test]
fn cors_preflight_goes_before_every_request_and_is_allowed() {
    let out = tempfile::tempdir().unwrap();
    let res = Command::new(BIN)
        .arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/cors.toml"))
        .args([
            "--quick",
            "--no-progress",
            "--targets",
            "sio-socketioxide-polling",
            "--clients",
            "5",
            "--publishers",
            "5",
            "--rate",
            "50",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    assert_eq!(res.status.code(), Some(0), "{text}");
    let rows = wsbench_report::csv::read(&out.path().join("summary.csv")).unwrap();
    assert_eq!(rows.len(), 2, "{text}");
    for r in &rows {
        let what = format!("{}: {}", r.sweep, r.notes);
        assert!(r.sent > 0 && r.delivered == r.sent, "{what}");
        assert_eq!((r.lost, r.errors), (0, 0), "{what}");
    }
    assert_eq!(rows[0].cors_preflights, None, "cors=off sends no preflight");
    // one preflight before every request, so at least one per client (its handshake); the
    // pairing is checked at the transport (loadgen production_features.rs)
    let preflights = rows[1].cors_preflights.unwrap_or(0);
    assert!(preflights >= 5, "cors=preflight: {preflights} preflights");
}
