//! Rows on a cluster (`nodes` > 1): the runner starts three `wsbench serve --adapter`
//! children per target on the Redis at `REDIS_URL`, spreads the clients over them, and the
//! row accounts for delivery exactly as on one node, with the cluster's columns filled
//! (`nodes`, `redis_cpu_s`, `redis_msgs_per_delivery`; `agents`, `loadgen_rss_peak_kb`).
//! A Redis that does not answer stops the run before any row.
//!
//! Needs the `wsbench` binary (the cli crate's; the test says so and passes when it is not
//! built) and Redis (skipped without `REDIS_URL`, failed under `WSBENCH_REQUIRE_SERVICES`).

mod run_support;

use std::path::PathBuf;
use std::time::Duration;

use run_support::scenario;
use wsbench_loadgen::runner::RunError;
use wsbench_scenario::{BroadcastOp, Scenario, Workload};

fn wsbench_binary() -> Option<PathBuf> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let exe = target_dir.join("debug/wsbench");
    exe.is_file().then_some(exe)
}

use wsbench_scenario::services::redis_url_or_skip as redis_url;

fn points(target: &str, nodes: u32) -> Vec<Scenario> {
    let base = |name, w| Scenario {
        nodes,
        clients: 6,
        publishers: 3,
        ..scenario(name, w, target)
    };
    vec![
        base(
            "cluster-all",
            Workload::Broadcast {
                op: BroadcastOp::ToAll,
            },
        ),
        base(
            "cluster-rooms",
            Workload::Rooms {
                rooms: std::num::NonZeroU32::new(2).unwrap(),
            },
        ),
        base("cluster-direct", Workload::Direct),
    ]
}

async fn run(exe: &std::path::Path, redis: &str, s: Vec<Scenario>) -> wsbench_loadgen::RunOutcome {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = wsbench_loadgen::RunOptions::new(s, dir.path());
    opts.progress = false;
    opts.wsbench_exe = exe.to_owned();
    opts.redis = redis.to_owned();
    tokio::time::timeout(Duration::from_secs(180), wsbench_loadgen::run(opts))
        .await
        .expect("in time")
        .expect("run ok")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_what_one_node_does() {
    let Some(redis) = redis_url("three_nodes_deliver_what_one_node_does") else {
        return;
    };
    let Some(exe) = wsbench_binary() else {
        eprintln!("SKIPPED: target/debug/wsbench is not built (cargo build -p wsbench-cli)");
        return;
    };
    for target in ["tcp", "sio-socketioxide"] {
        let one = run(&exe, &redis, points(target, 1)).await;
        let three = run(&exe, &redis, points(target, 3)).await;
        assert!(
            one.failures.is_empty() && three.failures.is_empty(),
            "{:?} {:?}",
            one.failures,
            three.failures
        );
        assert_eq!(one.rows.len(), 3);
        for (a, b) in one.rows.iter().zip(&three.rows) {
            let what = format!("{target} {}", b.scenario);
            assert_eq!((a.nodes, b.nodes), (Some(1), Some(3)), "{what}");
            assert_eq!((a.agents, b.agents), (Some(1), Some(1)), "{what}");
            // exact accounting on both: everything expected arrived, once
            for r in [a, b] {
                assert!(r.expected > 0, "{what}: {r:#?}");
                assert_eq!(r.delivered, r.expected, "{what}: {r:#?}");
                assert_eq!(
                    (r.lost, r.duplicated, r.errors),
                    (0, 0, 0),
                    "{what}: {r:#?}"
                );
                assert!(r.loadgen_rss_peak_kb.is_some_and(|k| k > 0), "{what}");
            }
            // the cluster's columns: Redis CPU and PUBLISH per delivery; none on one node
            assert_eq!(
                (a.redis_cpu_s, a.redis_msgs_per_delivery),
                (None, None),
                "{what}"
            );
            assert!(b.redis_cpu_s.is_some(), "{what}: {b:#?}");
            // to_id crosses nodes only when clients sit on different nodes
            assert!(
                b.redis_msgs_per_delivery.is_some_and(|m| m > 0.0),
                "{what}: {b:#?}"
            );
            // three server processes' CPU and memory
            assert!(
                b.server_cpu_s.is_some() && b.server_rss_peak_kb > a.server_rss_peak_kb,
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn a_redis_that_does_not_answer_stops_the_run_before_any_row() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = wsbench_loadgen::RunOptions::new(points("tcp", 2), dir.path());
    opts.progress = false;
    opts.redis = format!("redis://127.0.0.1:{port}");
    let e = wsbench_loadgen::run(opts).await.unwrap_err();
    assert!(matches!(e, RunError::Redis(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("does not answer") && text.contains("--redis"),
        "{text}"
    );
    assert!(!dir.path().join("summary.csv").exists());
}
