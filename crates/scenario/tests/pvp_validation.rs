//! polling-vs-push rules that combine keys: each variant needs a target of its kind
//! (Socket.IO or raw WebSocket; the plain-HTTP variants any HTTP target), `workspaces` is
//! 1..=100,000 and more than one needs Rust targets only, and the drain must last at least one poll interval so every
//! polling viewer polls after the last write.

mod common;

use common::{assert_invalid, run};

#[test]
fn a_variant_needs_a_target_of_its_kind() {
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "targets = [\"ws-tungstenite\"]",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 10",
        "variants = [\"poll\", \"push-sio\"]",
    ];
    assert_invalid(
        &f,
        7,
        "polling.variants",
        "variant 'push-sio' needs a Socket.IO target",
    );
    // the default variants (all of them) need both kinds
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "targets = [\"sio-socketioxide\"]",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 10",
    ];
    assert_invalid(
        &f,
        1,
        "polling.variants",
        "variant 'poll' needs a raw WebSocket target",
    );
    let ok = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "targets = [\"sio=http://127.0.0.1:3000\", \"ws=ws://127.0.0.1:3001/ws\"]",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 10",
    ];
    assert_eq!(run(&ok).unwrap().len(), 1);
}

#[test]
fn drain_must_cover_one_poll_interval() {
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "[polling]",
        "poll_interval_ms = 1500",
        "update_rate = 10",
        "[phases]",
        "drain_s = 1",
    ];
    assert_invalid(
        &f,
        4,
        "polling.poll_interval_ms",
        "must be <= phases.drain_s (1 s)",
    );
}

#[test]
fn plain_http_variants_run_on_every_http_target() {
    let ok = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "targets = [\"node-socketio\"]",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 10",
        "variants = [\"poll-etag\", \"poll-cached\", \"long-poll\", \"sse\"]",
    ];
    assert_eq!(run(&ok).unwrap().len(), 1);
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "targets = [\"tcp\", \"ws-tungstenite\"]",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 10",
        "variants = [\"sse\"]",
    ];
    assert!(run(&f).is_err(), "tcp serves no HTTP");
}

#[test]
fn workspaces_are_counted_from_one() {
    let with = |w: &'static str| {
        [
            "workload = \"polling-vs-push\"",
            "clients = 4",
            "targets = [\"ws-tungstenite\"]",
            "[polling]",
            "poll_interval_ms = 100",
            "update_rate = 10",
            "variants = [\"poll\"]",
            w,
        ]
    };
    assert_invalid(
        &with("workspaces = 0"),
        8,
        "polling.workspaces",
        "must be 1..=100000 dashboards (got 0)",
    );
    let points = run(&with("workspaces = 3")).unwrap();
    let mut node = with("workspaces = 3");
    node[2] = "targets = [\"ws-tungstenite\", \"node-ws\"]";
    assert_invalid(
        &node,
        8,
        "polling.workspaces",
        "the Node peers serve one workspace (got 3 with target node-ws)",
    );
    let wsbench_scenario::Workload::PollingVsPush(p) = &points[0].workload else {
        panic!("polling-vs-push")
    };
    assert_eq!(p.workspaces, 3);
}
