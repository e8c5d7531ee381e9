//! Validation rules on workload-specific keys, targets, sweeps, unknown keys and TOML
//! syntax: each error names the file, the line and the key.

mod common;

use common::{assert_invalid, run};
use wsbench_scenario::ScenarioError;

#[test]
fn polling_vs_push_needs_polling_settings() {
    let f = ["workload = \"polling-vs-push\"", "clients = 4"];
    assert_invalid(
        &f,
        1,
        "polling.poll_interval_ms",
        "required for polling-vs-push (ms)",
    );
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "",
        "[polling]",
        "update_rate = 1",
    ];
    assert_invalid(&f, 4, "polling.poll_interval_ms", "required");
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "[polling]",
        "poll_interval_ms = 0",
        "update_rate = 1",
    ];
    assert_invalid(&f, 4, "polling.poll_interval_ms", "must be > 0 ms (got 0)");
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 0",
    ];
    assert_invalid(
        &f,
        5,
        "polling.update_rate",
        "must be > 0 updates/s (got 0)",
    );
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "[polling]",
        "poll_interval_ms = 100",
    ];
    assert_invalid(&f, 3, "polling.update_rate", "required");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "[polling]",
        "update_rate = 1",
    ];
    assert_invalid(
        &f,
        4,
        "polling",
        "only for the polling-vs-push workload (this is echo)",
    );
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "[sweep]",
        "update_rate = [1, 2]",
    ];
    assert_invalid(
        &f,
        5,
        "sweep.update_rate",
        "only for the polling-vs-push workload",
    );
}

#[test]
fn polling_variants_are_known_and_distinct() {
    let head = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 1",
    ];
    let with = |l: &'static str| [head[0], head[1], head[2], head[3], head[4], l];
    assert_invalid(
        &with("variants = [\"poll\", \"pull\"]"),
        6,
        "polling.variants",
        "unknown variant 'pull' (expected one of: poll, poll-sio,",
    );
    assert_invalid(
        &with("variants = [\"poll\", \"poll\"]"),
        6,
        "polling.variants",
        "listed twice",
    );
    assert_invalid(
        &with("variants = []"),
        6,
        "polling.variants",
        "at least one",
    );
    let s = run(&with("variants = [\"push-ws\"]")).unwrap();
    let wsbench_scenario::Workload::PollingVsPush(p) = &s[0].workload else {
        panic!("a polling-vs-push workload")
    };
    assert_eq!(p.variants.len(), 1);
}

#[test]
fn op_only_for_broadcast() {
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "op = \"to_all\"",
    ];
    assert_invalid(
        &f,
        4,
        "op",
        "only for the broadcast workload (this is echo)",
    );
    let f = [
        "workload = \"broadcast\"",
        "clients = 4",
        "rate = 1",
        "op = \"to_some\"",
    ];
    assert_invalid(
        &f,
        4,
        "op",
        "unknown op 'to_some' (expected one of: to_all, to_others)",
    );
}

#[test]
fn unknown_targets_list_the_valid_ones() {
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "targets = [",
        "  \"tcp\",",
        "  \"ws-tungstenit\",",
        "]",
    ];
    assert_invalid(
        &f,
        6,
        "targets",
        "unknown target 'ws-tungstenit' (expected one of: tcp, ws-tungstenite,",
    );
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "targets = [\"sio=https://h:1\"]",
    ];
    assert_invalid(&f, 4, "targets", "no TLS");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "targets = []",
    ];
    assert_invalid(&f, 4, "targets", "at least one target");
    let f = [
        "workload = \"polling-vs-push\"",
        "targets = [\"ws-tungstenite\", \"tcp\"]",
        "clients = 4",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 1",
    ];
    assert_invalid(&f, 2, "targets", "target 'tcp' cannot run polling-vs-push");
}

#[test]
fn connect_rate_non_negative_and_only_for_connect() {
    let f = ["workload = \"connect\"", "clients = 4", "connect_rate = -1"];
    assert_invalid(&f, 3, "connect_rate", "must be >= 0 connections/s");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "connect_rate = 10",
    ];
    assert_invalid(&f, 4, "connect_rate", "only for the connect workload");
}

#[test]
fn sweep_mistakes_name_the_value_and_its_line() {
    let f = [
        "workload = \"broadcast\"",
        "rate = 10",
        "[sweep]",
        "clients = [",
        "  10,",
        "  0,",
        "]",
    ];
    assert_invalid(&f, 6, "sweep.clients", "must be >= 1 (got 0)");
    let f = [
        "workload = \"broadcast\"",
        "clients = 4",
        "rate = 10",
        "[sweep]",
        "op = [\"to_all\",",
        "\"to_none\"]",
    ];
    assert_invalid(&f, 6, "sweep.op", "unknown op 'to_none'");
    let f = [
        "workload = \"broadcast\"",
        "rate = 10",
        "[sweep]",
        "clients = [10, 20]",
        "publishers = [1,",
        "15]",
    ];
    assert_invalid(
        &f,
        6,
        "sweep.publishers",
        "must be <= clients (got 15 > 10) at sweep point clients=10;publishers=15",
    );
    let f = [
        "workload = \"broadcast\"",
        "clients = 4",
        "[sweep]",
        "rate = [1, \"fast\"]",
    ];
    assert_invalid(
        &f,
        4,
        "sweep.rate",
        "invalid type: string \"fast\", expected a number",
    );
    let f = ["workload = \"echo\"", "clients = 4", "[sweep]", "rate = []"];
    assert_invalid(&f, 4, "sweep.rate", "empty list");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "[sweep]",
        "clients = [1, 2]",
    ];
    assert_invalid(&f, 5, "sweep.clients", "'clients' is also set at line 2");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "[sweep]",
        "clients = 3",
    ];
    assert_invalid(&f, 5, "sweep.clients", "expected a list");
}

#[test]
fn workload_name_encoding_are_checked() {
    let f = ["clients = 4", "rate = 1"];
    assert_invalid(
        &f,
        1,
        "workload",
        "required (one of: echo, broadcast, rooms, direct, ack, polling-vs-push, connect)",
    );
    let f = ["clients = 4", "workload = \"ecko\""];
    assert_invalid(&f, 2, "workload", "unknown workload 'ecko'");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "name = \"my run\"",
    ];
    assert_invalid(&f, 4, "name", "(got 'my run')");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "encoding = \"msgpack\"",
    ];
    assert_invalid(
        &f,
        4,
        "encoding",
        "unknown encoding 'msgpack' (expected one of: json)",
    );
    let f = ["workload = \"echo\"", "clients = \"ten\""];
    assert_invalid(
        &f,
        2,
        "clients",
        "invalid type: string \"ten\", expected an integer",
    );
}

#[test]
fn unknown_keys_list_the_expected_ones() {
    let e = run(&["workload = \"echo\"", "", "rat = 5"]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "scenarios/t.toml:3: unknown key 'rat' (expected one of: name, description, workload,"
        ),
        "{msg}"
    );
    assert!(
        matches!(&e, ScenarioError::UnknownKey { line: 3, key, .. } if key == "rat"),
        "{e:?}"
    );
    let msg = run(&["workload = \"echo\"", "[phases]", "measure = 5"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "scenarios/t.toml:3: unknown key 'phases.measure' (expected one of: warmup_s, measure_s, drain_s)"
    );
    let msg = run(&[
        "workload = \"echo\"",
        "[sweep]",
        "clients = [1]",
        "targets = [\"tcp\"]",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        msg.starts_with(
            "scenarios/t.toml:4: unknown key 'sweep.targets' (expected one of: clients, publishers,"
        ),
        "{msg}"
    );
    let msg = run(&["workload = \"polling-vs-push\"", "polling = { every = 1 }"])
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("scenarios/t.toml:2: unknown key 'polling.every'"),
        "{msg}"
    );
}

#[test]
fn toml_syntax_errors_name_the_line() {
    let e = run(&["workload = \"echo\"", "clients = 4", "clients = 5"]).unwrap_err();
    assert_eq!(e.to_string(), "scenarios/t.toml:3: duplicate key 'clients'");
    let e = run(&["workload = \"echo\"", "clients = = 4"]).unwrap_err();
    assert!(matches!(e, ScenarioError::Syntax { line: 2, .. }), "{e}");
}

#[test]
fn every_key_at_once_is_accepted() {
    // Guards the key lists against the serde structs: both must know every key.
    let f = [
        "name = \"all-keys\"",
        "description = \"d\"",
        "workload = \"broadcast\"",
        "targets = [\"all\", \"sio=http://127.0.0.1:3000\", \"ws=ws://127.0.0.1:3001/ws\", \"tcp=127.0.0.1:3002\"]",
        "clients = 8",
        "publishers = 2",
        "rate = 100",
        "arrival = \"poisson\"",
        "mode = \"open\"",
        "payload_bytes = 128",
        "encoding = \"json\"",
        "op = \"to_others\"",
        "rooms = 0",
        "max_message_bytes = 4096",
        "[phases]",
        "warmup_s = 0.5",
        "measure_s = 1.5",
        "drain_s = 0.25",
    ];
    let s = run(&f).unwrap();
    assert_eq!(s.len(), 1);
    let s = &s[0];
    assert_eq!(s.name, "all-keys");
    assert_eq!(s.targets.len(), wsbench_scenario::BUILTIN_TARGETS.len() + 3);
    assert_eq!(
        (s.clients, s.publishers, s.rate, s.payload_bytes),
        (8, 2, 100.0, 128)
    );
    assert_eq!(s.arrival, wsbench_scenario::Arrival::Poisson);
    assert_eq!(
        s.workload,
        wsbench_scenario::Workload::Broadcast {
            op: wsbench_scenario::BroadcastOp::ToOthers
        }
    );
    assert_eq!(s.max_message_bytes, 4096);
    assert_eq!(s.phases.drain.as_millis(), 250);
    let f = [
        "workload = \"connect\"",
        "connect_rate = 100",
        "[sweep]",
        "clients = [1]",
        "connect_rate = [5]",
    ];
    assert!(run(&f).is_err(), "connect_rate both at top level and swept");
}
