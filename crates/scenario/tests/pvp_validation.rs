//! polling-vs-push rules that combine keys: each variant needs a target of its kind
//! (Socket.IO or raw WebSocket), and the drain must last at least one poll interval so every
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
    // the default variants (all five) need both kinds
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
