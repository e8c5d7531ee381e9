//! Server CPU budgets on the machine's real cgroup cpu controller: a busy child under a
//! 0.2 CPU quota gets about a fifth of the CPU time an unthrottled one would, the kernel
//! reports it throttled, and its cgroup is gone once it is stopped.
//!
//! Where the machine has no cgroup cpu controller (or it cannot be written: not root, a
//! read-only mount) the tests print `skipped: …` and pass; with `WSBENCH_REQUIRE_SERVICES`
//! set (CI) they fail instead.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wsbench_loadgen::cgroup::{CgroupError, CgroupRoot, CpuQuota};
use wsbench_loadgen::supervise::{ServerChild, ServerCommand, proc_cpu_seconds};

/// The machine's controller, if budgets can be applied here; else prints why and returns
/// `None` (panics under `WSBENCH_REQUIRE_SERVICES`).
fn writable_root(test: &str) -> Option<CgroupRoot> {
    match CgroupRoot::probe(CpuQuota::for_cpus(0.2)) {
        Ok(root) => Some(root),
        Err(e) => {
            let required =
                std::env::var_os("WSBENCH_REQUIRE_SERVICES").is_some_and(|v| !v.is_empty());
            assert!(
                !required,
                "{test}: WSBENCH_REQUIRE_SERVICES is set, so CPU budgets must work here: {e}"
            );
            let why = match e {
                CgroupError::NoController { .. } => "no cgroup cpu controller",
                CgroupError::Access { .. } => "the cgroup cpu controller is not writable",
            };
            println!("skipped: {test}: {why}: {e}");
            None
        }
    }
}

/// A server-shaped child (it prints the ready line) that then spins forever.
fn busy_loop() -> ServerCommand {
    ServerCommand {
        program: PathBuf::from("sh"),
        args: vec![
            "-c".into(),
            "echo 'listening on 127.0.0.1:9'; while :; do :; done".into(),
        ],
        cwd: None,
    }
}

#[tokio::test]
async fn a_busy_child_under_a_fifth_of_a_cpu_is_throttled_to_it() {
    let Some(root) = writable_root("a_busy_child_under_a_fifth_of_a_cpu_is_throttled_to_it") else {
        return;
    };
    let cgroup = root.create(CpuQuota::for_cpus(0.2)).unwrap();
    let dir = cgroup.dir().to_owned();
    let started = Instant::now();
    let child =
        ServerChild::spawn_command_in(&busy_loop(), None, Some(cgroup), Duration::from_secs(10))
            .await
            .unwrap();
    // the child joined before it ran: its pid is listed in the cgroup
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l == child.pid().to_string()),
        "{procs}"
    );
    // wait (on the kernel's counter, not a clock) for 100 throttled 10 ms periods: >= 1 s
    let cgroup = child.cgroup().expect("the child keeps its cgroup");
    let deadline = Instant::now() + Duration::from_secs(30);
    let throttling = loop {
        let t = cgroup.throttling().unwrap();
        if t.nr_throttled >= 100 {
            break t;
        }
        assert!(Instant::now() < deadline, "never throttled: {t:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    let cpu = proc_cpu_seconds(child.pid()).unwrap();
    assert!(throttling.throttled_ns > 0, "{throttling:?}");
    assert!(child.throttled_ns().is_some_and(|ns| ns > 0));
    // unthrottled it would get ~all of `wall`; under 0.2 CPU about a fifth
    assert!(
        cpu <= 0.5 * wall,
        "{cpu:.3} s of CPU in {wall:.3} s under a 0.2 CPU quota: not enforced"
    );
    child.stop(Duration::from_secs(2)).await;
    assert!(!dir.exists(), "the cgroup {} is removed", dir.display());
}

#[tokio::test]
async fn a_child_that_cannot_join_its_cgroup_does_not_start() {
    let Some(root) = writable_root("a_child_that_cannot_join_its_cgroup_does_not_start") else {
        return;
    };
    let cgroup = root.create(CpuQuota::for_cpus(0.5)).unwrap();
    let dir = cgroup.dir().to_owned();
    // take the cgroup away under the child's feet: joining it fails, so does the spawn
    std::fs::remove_dir(&dir).unwrap();
    let err =
        ServerChild::spawn_command_in(&busy_loop(), None, Some(cgroup), Duration::from_secs(10))
            .await
            .unwrap_err();
    assert!(err.to_string().starts_with("cannot start `sh -c"), "{err}");
}
