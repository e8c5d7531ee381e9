//! Validation rules on counts, rates, sizes and phases: each error names the file, the
//! line and the key.

mod common;

use common::{assert_invalid, run};

#[test]
fn open_loop_rate_must_be_positive() {
    let f = ["workload = \"echo\"", "clients = 4", "rate = 0"];
    let e = run(&f).unwrap_err().to_string();
    assert_eq!(
        e,
        "scenarios/t.toml:3: key 'rate': must be > 0 for an open-loop workload (got 0)"
    );
    let f = ["workload = \"broadcast\"", "clients = 4", "rate = -5.5"];
    assert_invalid(&f, 3, "rate", "(got -5.5)");
    let f = ["workload = \"broadcast\"", "clients = 4", "rate = nan"];
    assert_invalid(&f, 3, "rate", "must be > 0");
}

#[test]
fn open_loop_rate_is_required_but_not_for_closed_loop_or_connect() {
    let f = ["# header", "workload = \"ack\"", "clients = 4"];
    assert_invalid(&f, 2, "rate", "required for an open-loop ack workload");
    run(&["workload = \"ack\"", "clients = 4", "mode = \"closed\""]).unwrap();
    run(&["workload = \"connect\"", "clients = 4"]).unwrap();
    let f = ["workload = \"connect\"", "clients = 4", "rate = 10"];
    assert_invalid(
        &f,
        3,
        "rate",
        "not used by the connect workload (use connect_rate)",
    );
    let f = [
        "workload = \"polling-vs-push\"",
        "clients = 4",
        "rate = 10",
        "[polling]",
        "poll_interval_ms = 100",
        "update_rate = 1",
    ];
    assert_invalid(&f, 3, "rate", "(use polling.update_rate)");
}

#[test]
fn publishers_between_one_and_clients() {
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "publishers = 0",
        "rate = 1",
    ];
    assert_invalid(&f, 3, "publishers", "must be >= 1 (got 0)");
    let f = [
        "workload = \"broadcast\"",
        "clients = 4",
        "rate = 1",
        "publishers = 5",
    ];
    assert_invalid(&f, 4, "publishers", "must be <= clients (got 5 > 4)");
    let f = ["workload = \"connect\"", "clients = 4", "publishers = 1"];
    assert_invalid(&f, 3, "publishers", "not used by the connect workload");
}

#[test]
fn clients_at_least_one_and_required() {
    let f = ["workload = \"echo\"", "clients = 0", "rate = 1"];
    assert_invalid(&f, 2, "clients", "must be >= 1 (got 0)");
    let f = ["", "workload = \"echo\"", "rate = 1"];
    assert_invalid(&f, 2, "clients", "required");
    let f = ["workload = \"echo\"", "clients = 5000000000", "rate = 1"];
    assert_invalid(&f, 2, "clients", "too large");
}

#[test]
fn direct_needs_two_clients() {
    let f = ["workload = \"direct\"", "rate = 1", "clients = 1"];
    assert_invalid(&f, 3, "clients", "must be >= 2 for direct");
    run(&["workload = \"direct\"", "rate = 1", "clients = 2"]).unwrap();
}

#[test]
fn rooms_between_one_and_clients_and_only_for_rooms() {
    let f = [
        "workload = \"rooms\"",
        "clients = 4",
        "rate = 1",
        "rooms = 0",
    ];
    assert_invalid(&f, 4, "rooms", "must be >= 1 (got 0)");
    let f = [
        "workload = \"rooms\"",
        "clients = 4",
        "rate = 1",
        "rooms = 5",
    ];
    assert_invalid(&f, 4, "rooms", "every room has a member (got 5 > 4)");
    let f = ["workload = \"rooms\"", "clients = 4", "rate = 1"];
    assert_invalid(&f, 1, "rooms", "required");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "rooms = 2",
    ];
    assert_invalid(&f, 4, "rooms", "only for the rooms workload (this is echo)");
    let ok = run(&[
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "rooms = 0",
    ])
    .unwrap();
    assert_eq!(
        ok[0].workload,
        wsbench_scenario::Workload::Echo {
            mode: wsbench_scenario::LoopMode::Open
        },
        "rooms = 0 is accepted and leaves echo without rooms"
    );
}

#[test]
fn closed_loop_only_for_echo_and_ack() {
    let f = [
        "workload = \"broadcast\"",
        "clients = 4",
        "mode = \"closed\"",
    ];
    assert_invalid(
        &f,
        3,
        "mode",
        "closed loop is only for echo and ack (this is broadcast)",
    );
    let f = ["workload = \"echo\"", "clients = 4", "mode = \"half-open\""];
    assert_invalid(
        &f,
        3,
        "mode",
        "unknown mode 'half-open' (expected one of: open, closed)",
    );
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "arrival = \"burst\"",
    ];
    assert_invalid(&f, 4, "arrival", "expected one of: constant, poisson");
}

#[test]
fn payload_fits_the_message_limit() {
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "payload_bytes = -1",
    ];
    assert_invalid(&f, 4, "payload_bytes", "must be >= 0 (got -1)");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "payload_bytes = 1048576",
    ];
    assert_invalid(&f, 4, "payload_bytes", "(got 1048576 + 256 > 1048576)");
    // At the limit is fine.
    run(&[
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "payload_bytes = 1048320",
    ])
    .unwrap();
    // Only the limit written: blame the limit.
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "max_message_bytes = 300",
    ];
    assert_invalid(&f, 4, "max_message_bytes", "(got 64 + 256 > 300)");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "rate = 1",
        "max_message_bytes = 10",
    ];
    assert_invalid(&f, 4, "max_message_bytes", "must be >= 256");
    let f = [
        "workload = \"connect\"",
        "clients = 4",
        "payload_bytes = 10",
    ];
    assert_invalid(&f, 3, "payload_bytes", "not used by the connect workload");
}

#[test]
fn phases_measure_positive_others_not_negative() {
    let base = ["workload = \"echo\"", "clients = 4", "rate = 1", "[phases]"];
    let with = |l: &'static str| [base[0], base[1], base[2], base[3], l];
    assert_invalid(
        &with("measure_s = 0"),
        5,
        "phases.measure_s",
        "must be a number of seconds > 0 (got 0)",
    );
    assert_invalid(
        &with("warmup_s = -1"),
        5,
        "phases.warmup_s",
        ">= 0 (got -1)",
    );
    assert_invalid(
        &with("drain_s = -0.5"),
        5,
        "phases.drain_s",
        ">= 0 (got -0.5)",
    );
    assert_invalid(&with("drain_s = inf"), 5, "phases.drain_s", "(got inf)");
    assert_invalid(&with("measure_s = 1e30"), 5, "phases.measure_s", "too long");
    let s = run(&with("warmup_s = 0")).unwrap();
    assert!(s[0].phases.warmup.is_zero());
    assert_eq!(s[0].phases.measure.as_secs(), 10, "default measure");
}

#[test]
fn closed_loop_takes_a_rate_or_none() {
    let closed = |rate: Option<&str>| {
        let mut f = vec!["workload = \"echo\"", "clients = 4", "mode = \"closed\""];
        f.extend(rate);
        run(&f).map(|p| p[0].rate)
    };
    assert_eq!(closed(None).unwrap(), 0.0, "no rate: ping-pong");
    assert_eq!(closed(Some("rate = 0")).unwrap(), 0.0, "0: ping-pong");
    assert_eq!(closed(Some("rate = 400")).unwrap(), 400.0, "paced");
    let f = [
        "workload = \"echo\"",
        "clients = 4",
        "mode = \"closed\"",
        "rate = -1",
    ];
    assert_invalid(&f, 4, "rate", "must be >= 0 in closed loop");
}
