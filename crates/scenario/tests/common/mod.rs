//! Helpers shared by the validation tests: parse a file given as lines, and assert that
//! the error names the file, the line and the key.

use wsbench_scenario::{Overrides, ScenarioError, parse};

pub const FILE: &str = "scenarios/t.toml";

/// Parses `lines` joined by newlines (line N of the file is `lines[N-1]`).
pub fn run(lines: &[&str]) -> Result<Vec<wsbench_scenario::Scenario>, ScenarioError> {
    parse(&lines.join("\n"), FILE, &Overrides::default())
}

/// Asserts the error is `scenarios/t.toml:{line}: key '{key}': …{needle}…`.
#[track_caller]
pub fn assert_invalid(lines: &[&str], line: usize, key: &str, needle: &str) {
    let e = run(lines).expect_err("should be rejected");
    let msg = e.to_string();
    let head = format!("{FILE}:{line}: key '{key}': ");
    assert!(msg.starts_with(&head), "want prefix {head:?}, got {msg:?}");
    assert!(msg.contains(needle), "want {needle:?} in {msg:?}");
    assert_eq!((e.line(), e.key()), (Some(line), Some(key)), "{msg}");
}
