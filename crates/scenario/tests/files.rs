//! Every file in scenarios/ parses and validates, and expands to the matrix it documents.

use std::path::{Path, PathBuf};

use wsbench_scenario::{
    BroadcastOp, LoopMode, Overrides, Polling, PvpVariant, Scenario, TargetSpec, Workload,
    WorkloadKind, load,
};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn polling(s: &Scenario) -> &Polling {
    match &s.workload {
        Workload::PollingVsPush(p) => p,
        w => panic!("a polling-vs-push workload, not {}", w.name()),
    }
}

fn load_named(name: &str) -> Vec<Scenario> {
    let path = scenarios_dir().join(name);
    load(&path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_scenario_file_parses_and_validates() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("scenarios/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "found {files:?}");
    let mut workloads = Vec::new();
    for path in &files {
        let points = load(path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!points.is_empty(), "{}", path.display());
        for s in &points {
            // The file name is the scenario name, so `wsbench list` and result dirs agree.
            assert_eq!(
                s.name,
                path.file_stem().unwrap().to_string_lossy(),
                "{}",
                path.display()
            );
            assert!(
                !s.description.is_empty(),
                "{}: no description",
                path.display()
            );
            assert!(!s.targets.is_empty());
            for t in &s.targets {
                let spec = TargetSpec::parse(t).unwrap();
                assert!(
                    spec.supports(s.workload.kind()),
                    "{t} in {}",
                    path.display()
                );
            }
            // Each full run stays under ~3 minutes per target set (a second of set-up per row).
            let row_s = s.phases.warmup + s.phases.measure + s.phases.drain;
            let rows = points.len()
                * match &s.workload {
                    Workload::PollingVsPush(p) => p.variants.len(),
                    _ => s.targets.len(),
                };
            let total = (row_s.as_secs_f64() + 1.0) * rows as f64;
            assert!(total <= 190.0, "{}: about {total:.0} s", path.display());
        }
        workloads.push(points[0].workload.kind());
    }
    for w in WorkloadKind::ALL {
        assert!(workloads.contains(&w), "no scenario file for {}", w.name());
    }
}

#[test]
fn echo_has_open_and_closed_loop() {
    let points = load_named("echo.toml");
    let modes: Vec<LoopMode> = points.iter().map(|s| s.workload.mode()).collect();
    assert_eq!(modes, [LoopMode::Open, LoopMode::Closed]);
    assert_eq!(points[0].rate, 5000.0);
    assert_eq!(
        points[1].rate, 5000.0,
        "closed loop at the file's rate (one outstanding per client, wrk2-style)"
    );
    assert_eq!(points[1].sweep_label(), "mode=closed");
}

#[test]
fn broadcast_sweeps_op_then_clients() {
    let points = load_named("broadcast.toml");
    let op = |s: &Scenario| match s.workload {
        Workload::Broadcast { op } => op,
        ref w => panic!("a broadcast workload, not {}", w.name()),
    };
    let got: Vec<(BroadcastOp, u32)> = points.iter().map(|s| (op(s), s.clients)).collect();
    let want: Vec<(BroadcastOp, u32)> = [BroadcastOp::ToAll, BroadcastOp::ToOthers]
        .into_iter()
        .flat_map(|op| [10, 100, 1000].map(|c| (op, c)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(points[5].sweep_label(), "op=to_others;clients=1000");
    assert!(points.iter().all(|s| s.publishers == 1));
}

#[test]
fn polling_vs_push_has_no_tcp_and_all_variants() {
    let points = load_named("polling-vs-push.toml");
    assert_eq!(points.len(), 8);
    assert!(points.iter().all(|s| !s.targets.iter().any(|t| t == "tcp")));
    let p = polling(&points[0]);
    assert_eq!(p.variants.len(), 5);
    assert_eq!(p.update_rate, 10.0);
    assert_eq!(points[1].sweep_label(), "clients=10;poll_interval_ms=1000");
    assert_eq!(polling(&points[1]).poll_interval.as_millis(), 1000);
    assert!(points.iter().any(|s| s.clients >= 1000));
}

#[test]
fn the_fair_and_workspace_files_show_every_variant_and_many_dashboards() {
    let fair = load_named("polling-vs-push-fair.toml");
    assert_eq!(fair.len(), 2, "update_rate 2 and 10");
    assert_eq!(polling(&fair[0]).variants, PvpVariant::ALL.to_vec());
    assert_eq!(fair[1].sweep_label(), "update_rate=10");
    let ws = load_named("polling-vs-push-workspaces.toml");
    assert_eq!(ws.len(), 1);
    assert_eq!(polling(&ws[0]).workspaces, 50);
    assert_eq!(
        ws[0].clients % polling(&ws[0]).workspaces,
        0,
        "viewers spread evenly"
    );
}

#[test]
fn rooms_connect_direct_ack_expand() {
    let rooms: Vec<u32> = load_named("rooms.toml")
        .iter()
        .map(|s| match s.workload {
            Workload::Rooms { rooms } => rooms.get(),
            ref w => panic!("a rooms workload, not {}", w.name()),
        })
        .collect();
    assert_eq!(rooms, [10, 100]);
    let connect = load_named("connect.toml");
    assert_eq!(connect.len(), 4);
    assert!(connect.iter().all(|s| s.publishers == 0 && s.rate == 0.0));
    assert_eq!(connect[3].sweep_label(), "clients=1000;connect_rate=500");
    let direct = load_named("direct.toml");
    assert_eq!(
        direct.iter().map(|s| s.payload_bytes).collect::<Vec<_>>(),
        [64, 4096]
    );
    let ack = load_named("ack.toml");
    assert_eq!(
        ack[0].publishers, 100,
        "ack: every client publishes by default"
    );
}

/// The worked example of docs/scenarios.md parses and expands as the doc says.
#[test]
fn docs_worked_example_expands_as_documented() {
    let doc = std::fs::read_to_string(scenarios_dir().join("../docs/scenarios.md")).unwrap();
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let text = &doc[start..start + doc[start..].find("```").unwrap()];
    let points = wsbench_scenario::parse(text, "fanout.toml", &Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<String> = points.iter().map(Scenario::sweep_label).collect();
    assert_eq!(
        labels,
        [
            "op=to_all;clients=10",
            "op=to_all;clients=1000",
            "op=to_others;clients=10",
            "op=to_others;clients=1000"
        ]
    );
    assert_eq!(points[0].targets, ["ws-tungstenite", "sio-socketioxide"]);

    let quick = Overrides {
        clients: Some(100),
        quick: true,
        ..Overrides::default()
    };
    let points = wsbench_scenario::parse(text, "fanout.toml", &quick).unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1].sweep_label(), "op=to_others");
    let ms = |d: std::time::Duration| d.as_millis();
    let p = points[0].phases;
    assert_eq!(
        (ms(p.warmup), ms(p.measure), ms(p.drain)),
        (500, 2000, 1000)
    );

    let bad = text.replace("publishers = 1", "publishers = 20");
    let e = wsbench_scenario::parse(&bad, "fanout.toml", &Overrides::default()).unwrap_err();
    let want = "fanout.toml:4: key 'publishers': must be <= clients (got 20 > 10) at sweep point \
                op=to_all;clients=10";
    assert_eq!(e.to_string(), want);
    assert!(doc.contains(want), "the doc quotes the real message");
}
