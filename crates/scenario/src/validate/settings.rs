//! The settings only one workload has — the broadcast op, `rooms`, `connect_rate`, the
//! `[polling]` values — checked for that workload and rejected for the others, then the
//! [`Workload`] that carries them.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::{Origin, ScenarioError};
use crate::model::{BroadcastOp, LoopMode, Polling, Workload, WorkloadKind};
use crate::sweep::Val;

use super::Ctx;

/// `op`: only for `broadcast` (`to_all` by default).
pub(super) fn broadcast_op(cx: &Ctx) -> Result<BroadcastOp, ScenarioError> {
    let given = cx.point.op.as_ref();
    if cx.kind() != WorkloadKind::Broadcast {
        cx.only_for(given.map(|v| &v.at), "broadcast")?;
    }
    cx.named(given, "op", &BroadcastOp::ALL, BroadcastOp::name)
}

/// The workload with its own settings, once `mode` and `op` are validated. The settings
/// keys are checked in one order for every workload (`rooms`, `connect_rate`, then
/// `[polling]`), so a file with two mistakes always reports the same one first.
pub(super) fn workload(
    cx: &Ctx,
    clients: u32,
    mode: LoopMode,
    op: BroadcastOp,
) -> Result<Workload, ScenarioError> {
    let none_of_the_others = |cx: &Ctx| {
        no_rooms(cx)?;
        no_connect_rate(cx)?;
        no_polling(cx)
    };
    Ok(match cx.kind() {
        WorkloadKind::Echo => {
            none_of_the_others(cx)?;
            Workload::Echo { mode }
        }
        WorkloadKind::Ack => {
            none_of_the_others(cx)?;
            Workload::Ack { mode }
        }
        WorkloadKind::Broadcast => {
            none_of_the_others(cx)?;
            Workload::Broadcast { op }
        }
        WorkloadKind::Direct => {
            none_of_the_others(cx)?;
            Workload::Direct
        }
        WorkloadKind::Rooms => {
            let rooms = rooms(cx, clients)?;
            no_connect_rate(cx)?;
            no_polling(cx)?;
            Workload::Rooms { rooms }
        }
        WorkloadKind::Connect => {
            no_rooms(cx)?;
            let connect_rate = connect_rate(cx)?;
            no_polling(cx)?;
            Workload::Connect { connect_rate }
        }
        WorkloadKind::PollingVsPush => {
            no_rooms(cx)?;
            no_connect_rate(cx)?;
            Workload::PollingVsPush(polling(cx)?)
        }
    })
}

/// `rooms` (the `rooms` workload): required, between 1 and `clients`.
fn rooms(cx: &Ctx, clients: u32) -> Result<NonZeroU32, ScenarioError> {
    let Some(v) = &cx.point.rooms else {
        return Err(cx.err(&cx.missing("rooms"), "required: the number of rooms".into()));
    };
    let at_least_one = || cx.err(&v.at, format!("must be >= 1 (got {})", v.v));
    if v.v < 1 {
        return Err(at_least_one());
    }
    if v.v > i64::from(clients) {
        let msg = format!(
            "must be <= clients, so every room has a member (got {} > {clients}){}",
            v.v, cx.at_point
        );
        return Err(cx.err(&v.at, msg));
    }
    NonZeroU32::new(cx.u32_of(v)?).ok_or_else(at_least_one)
}

/// Another workload may say `rooms = 0`, nothing more.
fn no_rooms(cx: &Ctx) -> Result<(), ScenarioError> {
    match &cx.point.rooms {
        Some(v) if v.v != 0 => cx.only_for(Some(&v.at), "rooms"),
        _ => Ok(()),
    }
}

/// `connect_rate` (the `connect` workload): connections/s >= 0, 0 (the default) = all at once.
fn connect_rate(cx: &Ctx) -> Result<f64, ScenarioError> {
    let Some(v) = &cx.point.connect_rate else {
        return Ok(0.0);
    };
    if !(v.v.is_finite() && v.v >= 0.0) {
        let msg = format!("must be >= 0 connections/s, 0 = all at once (got {})", v.v);
        return Err(cx.err(&v.at, msg));
    }
    Ok(v.v)
}

fn no_connect_rate(cx: &Ctx) -> Result<(), ScenarioError> {
    cx.only_for(cx.point.connect_rate.as_ref().map(|v| &v.at), "connect")
}

/// `[polling]` (the `polling-vs-push` workload): interval and update rate required and > 0,
/// and the interval within the drain, so every polling viewer polls once after the last
/// write. The variants come from the file (`common`).
fn polling(cx: &Ctx) -> Result<Polling, ScenarioError> {
    let c = cx.common;
    let p = cx.point;
    let pline = c.polling_line.unwrap_or(c.workload_line);
    let missing = |key: &str| Origin::Default {
        line: pline,
        key: key.to_string(),
    };
    let interval = positive(
        cx,
        p.poll_interval_ms.as_ref(),
        &missing("polling.poll_interval_ms"),
        "ms",
    )?;
    let update_rate = positive(
        cx,
        p.update_rate.as_ref(),
        &missing("polling.update_rate"),
        "updates/s",
    )?;
    let interval_at = || {
        p.poll_interval_ms
            .as_ref()
            .map_or(missing("polling.poll_interval_ms"), |v| v.at.clone())
    };
    let poll_interval = Duration::try_from_secs_f64(interval / 1000.0)
        .map_err(|_| cx.err(&interval_at(), format!("too long (got {interval} ms)")))?;
    if c.phases.drain < poll_interval {
        let msg = format!(
            "must be <= phases.drain_s ({} s), so every polling viewer polls once after the \
             last write (got {interval} ms)",
            c.phases.drain.as_secs_f64()
        );
        return Err(cx.err(&interval_at(), msg));
    }
    Ok(Polling {
        poll_interval,
        update_rate,
        variants: c.variants.clone(),
        workspaces: c.workspaces,
    })
}

fn no_polling(cx: &Ctx) -> Result<(), ScenarioError> {
    let p = cx.point;
    cx.only_for(
        p.poll_interval_ms.as_ref().map(|v| &v.at),
        "polling-vs-push",
    )?;
    cx.only_for(p.update_rate.as_ref().map(|v| &v.at), "polling-vs-push")
}

/// A required finite number > 0 (`missing` names where to report its absence).
fn positive(
    cx: &Ctx,
    v: Option<&Val<f64>>,
    missing: &Origin,
    unit: &str,
) -> Result<f64, ScenarioError> {
    let Some(v) = v else {
        return Err(cx.err(missing, format!("required for polling-vs-push ({unit})")));
    };
    if !(v.v.is_finite() && v.v > 0.0) {
        return Err(cx.err(&v.at, format!("must be > 0 {unit} (got {})", v.v)));
    }
    Ok(v.v)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{FILE, at, common, message};
    use super::*;
    use crate::model::PvpVariant;
    use crate::model::WorkloadKind as K;
    use crate::sweep::Point;

    fn build(kind: K, p: Point, clients: u32) -> Result<Workload, ScenarioError> {
        let c = common(kind);
        let cx = Ctx::new(FILE, &c, &p, &[]);
        workload(&cx, clients, LoopMode::Open, BroadcastOp::ToAll)
    }

    #[test]
    fn op_only_for_broadcast() {
        let c = common(K::Echo);
        let p = Point {
            op: at(2, "op", "to_all".into()),
            ..Point::default()
        };
        assert_eq!(
            message(broadcast_op(&Ctx::new(FILE, &c, &p, &[]))),
            "t.toml:2: key 'op': only for the broadcast workload (this is echo)"
        );
        let c = common(K::Broadcast);
        let cx = Ctx::new(FILE, &c, &p, &[]);
        assert_eq!(broadcast_op(&cx).unwrap(), BroadcastOp::ToAll);
    }

    #[test]
    fn rooms_carry_their_count_within_clients() {
        let rooms = |n| Point {
            rooms: at(3, "rooms", n),
            ..Point::default()
        };
        assert_eq!(
            build(K::Rooms, rooms(2), 4).unwrap(),
            Workload::Rooms {
                rooms: NonZeroU32::new(2).unwrap()
            }
        );
        assert_eq!(
            message(build(K::Rooms, rooms(5), 4)),
            "t.toml:3: key 'rooms': must be <= clients, so every room has a member (got 5 > 4)"
        );
        assert_eq!(
            message(build(K::Rooms, rooms(0), 4)),
            "t.toml:3: key 'rooms': must be >= 1 (got 0)"
        );
        assert_eq!(
            message(build(K::Rooms, Point::default(), 4)),
            "t.toml:1: key 'rooms': required: the number of rooms"
        );
        // another workload may say 0, not more
        assert_eq!(
            build(K::Echo, rooms(0), 4).unwrap(),
            Workload::Echo {
                mode: LoopMode::Open
            }
        );
        assert_eq!(
            message(build(K::Direct, rooms(2), 4)),
            "t.toml:3: key 'rooms': only for the rooms workload (this is direct)"
        );
    }

    #[test]
    fn connect_rate_only_for_connect() {
        let rate = |r| Point {
            connect_rate: at(3, "connect_rate", r),
            ..Point::default()
        };
        assert_eq!(
            build(K::Connect, Point::default(), 4).unwrap(),
            Workload::Connect { connect_rate: 0.0 }
        );
        assert!(message(build(K::Connect, rate(-1.0), 4)).contains("must be >= 0 connections/s"));
        assert_eq!(
            message(build(K::Broadcast, rate(5.0), 4)),
            "t.toml:3: key 'connect_rate': only for the connect workload (this is broadcast)"
        );
    }

    #[test]
    fn polling_settings_are_required_positive_and_within_the_drain() {
        let polling = |ms: f64| Point {
            poll_interval_ms: at(5, "polling.poll_interval_ms", ms),
            update_rate: at(6, "polling.update_rate", 2.0),
            ..Point::default()
        };
        let Workload::PollingVsPush(p) = build(K::PollingVsPush, polling(250.0), 4).unwrap() else {
            panic!("a polling-vs-push workload")
        };
        assert_eq!(p.poll_interval, Duration::from_millis(250));
        assert_eq!(p.variants.len(), PvpVariant::ALL.len());
        assert_eq!(p.workspaces, 1);
        assert_eq!(
            message(build(K::PollingVsPush, polling(1500.0), 4)),
            "t.toml:5: key 'polling.poll_interval_ms': must be <= phases.drain_s (1 s), so every \
             polling viewer polls once after the last write (got 1500 ms)"
        );
        assert_eq!(
            message(build(K::PollingVsPush, polling(0.0), 4)),
            "t.toml:5: key 'polling.poll_interval_ms': must be > 0 ms (got 0)"
        );
        assert_eq!(
            message(build(K::PollingVsPush, Point::default(), 4)),
            "t.toml:1: key 'polling.poll_interval_ms': required for polling-vs-push (ms)"
        );
        assert_eq!(
            message(build(K::Ack, polling(250.0), 4)),
            "t.toml:5: key 'polling.poll_interval_ms': only for the polling-vs-push workload \
             (this is ack)"
        );
    }

    #[test]
    fn settings_keys_are_checked_in_one_order() {
        // rooms before connect_rate, whichever of the two is the workload's own
        let both = Point {
            rooms: at(3, "rooms", 9),
            connect_rate: at(4, "connect_rate", -1.0),
            ..Point::default()
        };
        assert!(message(build(K::Rooms, both.clone(), 4)).starts_with("t.toml:3: key 'rooms'"));
        assert!(message(build(K::Connect, both, 4)).starts_with("t.toml:3: key 'rooms'"));
    }
}
