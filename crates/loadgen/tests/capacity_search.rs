//! The capacity search over a real server (in this process, on 127.0.0.1:0, reached as an
//! external target) that drops every k-th delivery: the steps below the first drop pass,
//! the search is limited by `lost`, the capacity is a load that passed, and every step is a
//! row of summary.csv.

mod run_support;

use std::time::Duration;

use run_support::{scenario, spec, start};
use wsbench_loadgen::capacity::{By, CapacityOptions, run_capacity};
use wsbench_report::capacity::LimitedBy;
use wsbench_report::capacity::slo::Slo;
use wsbench_scenario::{LoopMode, Phases, Scenario, Workload};
use wsbench_servers::config::Faults;
use wsbench_servers::{RustServer, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_drops_deliveries_is_limited_by_lost() {
    // Every 3rd delivery over the server's life is dropped: the first step (0.5/s for 4 s, no
    // warmup: 2 deliveries) loses none, the second (1/s) reaches the 3rd. Slow sends: one
    // may leave 100 ms late before a step counts as load-generator bound, so a busy shared
    // machine does not end the search early.
    let server = start(
        RustServer::Tcp,
        ServerConfig {
            faults: Faults {
                drop_every: Some(3),
                ..Faults::default()
            },
            ..ServerConfig::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = Scenario {
        clients: 1,
        publishers: 1,
        rate: 0.5,
        phases: Phases {
            warmup: Duration::ZERO,
            measure: Duration::from_secs(4),
            drain: Duration::from_millis(500),
        },
        ..scenario(
            "drop",
            Workload::Echo {
                mode: LoopMode::Open,
            },
            &spec(RustServer::Tcp, server.addr, ""),
        )
    };
    let mut run = wsbench_loadgen::RunOptions::new(Vec::new(), dir.path());
    run.progress = false;
    let opts = CapacityOptions {
        scenario: s,
        slo: Slo::parse("p99<=5s").unwrap(),
        by: By::Rate,
        max: 1000.0,
        // no bisection: 1/0.5 is within 1 + 1.5, so the search ends at the first failure
        precision: 1.5,
        run,
    };
    let out = tokio::time::timeout(Duration::from_secs(120), run_capacity(opts))
        .await
        .expect("search finished in time")
        .expect("search ran");
    assert!(!out.interrupted);
    assert_eq!(out.capacities.len(), 1);
    let c = &out.capacities[0];
    assert_eq!(c.limited_by, Some(LimitedBy::Lost), "{c:?}");
    assert!(c.capacity >= 0.5, "the first step lost nothing: {c:?}");
    let failed = c.failed_at.expect("a step failed");
    assert!((c.capacity, failed, c.steps) == (0.5, 1.0, 2), "{c:?}");
    assert!(c.note.contains("deliveries lost"), "{c:?}");
    // every step is a row; the passing ones lost nothing, the failing one at failed_at did
    assert_eq!(out.rows.len() as u32, c.steps);
    let at = |load: f64| {
        out.rows
            .iter()
            .find(|r| r.rate == load)
            .unwrap_or_else(|| panic!("no row at {load}: {:#?}", out.rows))
    };
    assert_eq!(at(c.capacity).lost, 0);
    assert!(at(failed).lost > 0, "{:#?}", at(failed));
    let on_disk = wsbench_report::csv::read(&dir.path().join("summary.csv")).unwrap();
    let key = |r: &wsbench_report::SummaryRow| (r.sweep.clone(), r.rate, r.lost);
    assert_eq!(
        on_disk.iter().map(key).collect::<Vec<_>>(),
        out.rows.iter().map(key).collect::<Vec<_>>()
    );
    let csv = wsbench_report::capacity::read(&out.capacity_csv).unwrap();
    assert_eq!(&csv, &out.capacities);
}
