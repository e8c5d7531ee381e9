//! The `[sweep]` matrix (order, labels, values) and CLI overrides, including `--quick`.

use std::time::Duration;

use wsbench_scenario::{
    Arrival, BUILTIN_TARGETS, LoopMode, Overrides, QUICK_PHASES, Scenario, ScenarioError, parse,
};

const FILE: &str = "scenarios/t.toml";

fn run_with(lines: &[&str], ov: &Overrides) -> Result<Vec<Scenario>, ScenarioError> {
    parse(&lines.join("\n"), FILE, ov)
}

fn run(lines: &[&str]) -> Vec<Scenario> {
    run_with(lines, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

const SWEPT: [&str; 8] = [
    "workload = \"broadcast\"",
    "publishers = 1",
    "[phases]",
    "measure_s = 10",
    "[sweep]",
    "rate = [10, 2.5]",
    "clients = [1, 2, 3]",
    "arrival = [\"constant\", \"poisson\"]",
];

#[test]
fn sweep_is_a_cartesian_product_in_file_order() {
    let points = run(&SWEPT);
    assert_eq!(points.len(), 2 * 3 * 2);
    let labels: Vec<String> = points.iter().map(Scenario::sweep_label).collect();
    assert_eq!(labels[0], "rate=10;clients=1;arrival=constant");
    assert_eq!(labels[1], "rate=10;clients=1;arrival=poisson");
    assert_eq!(labels[2], "rate=10;clients=2;arrival=constant");
    assert_eq!(labels[11], "rate=2.5;clients=3;arrival=poisson");
    let p = &points[11];
    assert_eq!((p.rate, p.clients, p.arrival), (2.5, 3, Arrival::Poisson));
    assert_eq!(p.sweep[0], ("rate".to_string(), "2.5".to_string()));
    // Distinct points, each value where its label says.
    for s in &points {
        assert_eq!(
            s.sweep_label(),
            format!(
                "rate={};clients={};arrival={}",
                s.rate,
                s.clients,
                s.arrival.name()
            )
        );
    }
}

#[test]
fn no_sweep_is_one_point_with_an_empty_label() {
    let points = run(&["workload = \"echo\"", "clients = 2", "rate = 10"]);
    assert_eq!(points.len(), 1);
    assert!(points[0].sweep.is_empty());
    assert_eq!(points[0].sweep_label(), "");
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let s = &run(&["workload = \"echo\"", "clients = 3", "rate = 10"])[0];
    assert_eq!(s.name, "t", "name defaults to the file stem");
    assert_eq!(s.publishers, 3, "echo: every client publishes");
    assert_eq!(s.payload_bytes, wsbench_scenario::DEFAULT_PAYLOAD_BYTES);
    assert_eq!(s.max_message_bytes, 1 << 20);
    assert_eq!(
        (s.workload.mode(), s.arrival),
        (LoopMode::Open, Arrival::Constant)
    );
    assert_eq!(s.targets, wsbench_scenario::DEFAULT_TARGETS);
    assert_eq!(s.phases.warmup, Duration::from_secs(2));
    let s = &run(&["workload = \"broadcast\"", "clients = 3", "rate = 10"])[0];
    assert_eq!(s.publishers, 1, "broadcast: one publisher");
    let pvp = [
        "workload = \"polling-vs-push\"",
        "clients = 3",
        "[polling]",
        "poll_interval_ms = 250",
        "update_rate = 2",
    ];
    let s = &run(&pvp)[0];
    assert!(!s.targets.contains(&"tcp".to_string()), "tcp has no HTTP");
    let wsbench_scenario::Workload::PollingVsPush(p) = &s.workload else {
        panic!("a polling-vs-push workload")
    };
    assert_eq!(p.poll_interval, Duration::from_millis(250));
}

#[test]
fn overrides_beat_file_and_replace_sweeps() {
    let ov = Overrides {
        clients: Some(7),
        rate: Some(99.0),
        payload_bytes: Some(512),
        ..Overrides::default()
    };
    let points = run_with(&SWEPT, &ov).unwrap();
    assert_eq!(
        points.len(),
        2,
        "rate and clients sweeps replaced, arrival still swept"
    );
    assert_eq!(points[0].sweep_label(), "arrival=constant");
    assert!(
        points
            .iter()
            .all(|s| s.clients == 7 && s.rate == 99.0 && s.payload_bytes == 512)
    );
    let ov = Overrides {
        publishers: Some(2),
        ..Overrides::default()
    };
    let points = run_with(&SWEPT, &ov).unwrap_err();
    // publishers 2 > clients 1 at the first point: the flag is named.
    assert_eq!(
        points.to_string(),
        "--publishers: must be <= clients (got 2 > 1) at sweep point rate=10;clients=1;arrival=constant"
    );
}

#[test]
fn override_errors_name_the_flag() {
    let f = ["workload = \"echo\"", "clients = 2", "rate = 10"];
    let cases: [(Overrides, &str); 7] = [
        (
            Overrides {
                rate: Some(0.0),
                ..Default::default()
            },
            "--rate: must be > 0 for an open-loop workload (got 0)",
        ),
        (
            Overrides {
                clients: Some(0),
                ..Default::default()
            },
            "--clients: must be >= 1 (got 0)",
        ),
        (
            Overrides {
                payload_bytes: Some(2 << 20),
                ..Default::default()
            },
            "--payload-bytes: payload_bytes + 256",
        ),
        (
            Overrides {
                measure_s: Some(0.0),
                ..Default::default()
            },
            "--measure-s: must be a number of seconds > 0",
        ),
        (
            Overrides {
                warmup_s: Some(-1.0),
                ..Default::default()
            },
            "--warmup-s: must be a number of seconds >= 0",
        ),
        (
            Overrides {
                drain_s: Some(f64::NAN),
                ..Default::default()
            },
            "--drain-s: must be a number of seconds >= 0",
        ),
        (
            Overrides {
                targets: Some(vec!["nope".into()]),
                ..Default::default()
            },
            "--targets: unknown target 'nope'",
        ),
    ];
    for (ov, want) in cases {
        let e = run_with(&f, &ov).unwrap_err();
        assert!(e.to_string().starts_with(want), "want {want:?}, got {e}");
        assert_eq!(e.line(), None);
    }
    let connect = ["workload = \"connect\"", "clients = 2"];
    let e = run_with(
        &connect,
        &Overrides {
            publishers: Some(1),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--publishers: not used by the connect workload"
    );
}

#[test]
fn target_override_expands_all_for_the_workload() {
    let f = [
        "workload = \"echo\"",
        "clients = 2",
        "rate = 10",
        "targets = [\"tcp\"]",
    ];
    let ov = Overrides {
        targets: Some(vec!["all".into(), "node-ws".into()]),
        ..Default::default()
    };
    assert_eq!(run_with(&f, &ov).unwrap()[0].targets, BUILTIN_TARGETS);
    let pvp = [
        "workload = \"polling-vs-push\"",
        "clients = 3",
        "[polling]",
        "poll_interval_ms = 250",
        "update_rate = 2",
    ];
    let s = &run_with(&pvp, &ov).unwrap()[0];
    assert_eq!(s.targets.len(), BUILTIN_TARGETS.len() - 1);
    assert!(!s.targets.contains(&"tcp".to_string()));
    let ov = Overrides {
        targets: Some(vec!["tcp".into()]),
        ..Default::default()
    };
    let e = run_with(&pvp, &ov).unwrap_err().to_string();
    assert!(
        e.starts_with("--targets: target 'tcp' cannot run polling-vs-push"),
        "{e}"
    );
}

#[test]
fn quick_shrinks_phases_only_where_longer() {
    let f = [
        "workload = \"echo\"",
        "clients = 2",
        "rate = 10",
        "[phases]",
        "warmup_s = 0.2",
        "measure_s = 30",
    ];
    let quick = Overrides {
        quick: true,
        ..Default::default()
    };
    let p = run_with(&f, &quick).unwrap()[0].phases;
    assert_eq!(
        p.warmup,
        Duration::from_millis(200),
        "shorter than quick: kept"
    );
    assert_eq!(p.measure, QUICK_PHASES.measure);
    assert_eq!(p.drain, QUICK_PHASES.drain, "default 2 s shrinks to 1 s");
    assert_eq!(
        (
            QUICK_PHASES.warmup.as_millis(),
            QUICK_PHASES.measure.as_secs()
        ),
        (500, 2)
    );
    // An explicit phase flag beats --quick, and a valid flag replaces an invalid file value.
    let ov = Overrides {
        quick: true,
        measure_s: Some(5.0),
        ..Default::default()
    };
    assert_eq!(
        run_with(&f, &ov).unwrap()[0].phases.measure,
        Duration::from_secs(5)
    );
    let bad = [
        "workload = \"echo\"",
        "clients = 2",
        "rate = 10",
        "[phases]",
        "measure_s = 0",
    ];
    let ov = Overrides {
        measure_s: Some(1.0),
        ..Default::default()
    };
    assert_eq!(
        run_with(&bad, &ov).unwrap()[0].phases.measure,
        Duration::from_secs(1)
    );
}

#[test]
fn load_names_the_path_and_reads_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.toml");
    std::fs::write(&path, "workload = \"echo\"\nclients = 2\nrate = 0\n").unwrap();
    let e = wsbench_scenario::load(&path, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "{}:3: key 'rate': must be > 0 for an open-loop workload (got 0)",
            path.display()
        )
    );
    let missing = dir.path().join("absent.toml");
    let e = wsbench_scenario::load(&missing, &Overrides::default()).unwrap_err();
    assert!(matches!(e, ScenarioError::Read { .. }), "{e}");
    assert!(e.to_string().starts_with(&missing.display().to_string()));
}
