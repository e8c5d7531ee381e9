//! What the CLI tests that run servers under a CPU budget share: whether this machine can
//! apply one (the cgroup cpu controller, writable), with CI's rule that it must, and the
//! child's output as one text for assertion messages.

use std::process::Output;

use wsbench_loadgen::cgroup::{CgroupRoot, CpuQuota};

/// Why budgets cannot be applied here (`None`: they can). Panics under
/// `WSBENCH_REQUIRE_SERVICES`, where a missing controller is a failure, not a skip.
pub fn budget_unavailable(test: &str) -> Option<String> {
    let e = CgroupRoot::probe(CpuQuota::for_cpus(0.5)).err()?;
    let required = std::env::var_os("WSBENCH_REQUIRE_SERVICES").is_some_and(|v| !v.is_empty());
    assert!(!required, "{test}: WSBENCH_REQUIRE_SERVICES is set: {e}");
    Some(e.to_string())
}

/// A child's stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
