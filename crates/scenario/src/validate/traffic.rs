//! Load and rate of one point: loop mode, arrival, clients, publishers and the publish rate,
//! each checked against the workload (only `echo` and `ack` have a closed loop; `connect`
//! and `polling-vs-push` publish nothing).

use crate::error::ScenarioError;
use crate::model::{Arrival, LoopMode, WorkloadKind};

use super::Ctx;

/// `mode`: open by default; closed only where the workload has a closed loop.
pub(super) fn mode(cx: &Ctx) -> Result<LoopMode, ScenarioError> {
    let given = cx.point.mode.as_ref();
    let mode = cx.named(given, "mode", &LoopMode::ALL, LoopMode::name)?;
    if let (Some(m), LoopMode::Closed, false) = (given, mode, cx.kind().has_closed_loop()) {
        let msg = format!(
            "closed loop is only for echo and ack (this is {})",
            cx.kind().name()
        );
        return Err(cx.err(&m.at, msg));
    }
    Ok(mode)
}

/// `arrival`: constant by default.
pub(super) fn arrival(cx: &Ctx) -> Result<Arrival, ScenarioError> {
    let given = cx.point.arrival.as_ref();
    cx.named(given, "arrival", &Arrival::ALL, Arrival::name)
}

/// `clients`: required; at least 2 for `direct`, else at least 1.
pub(super) fn clients(cx: &Ctx) -> Result<u32, ScenarioError> {
    let direct = cx.kind() == WorkloadKind::Direct;
    let Some(clients) = &cx.point.clients else {
        return Err(cx.err(
            &cx.missing("clients"),
            "required: the number of connected clients".into(),
        ));
    };
    let min_clients = if direct { 2 } else { 1 };
    if clients.v < min_clients {
        let why = if direct {
            " for direct (each publisher sends to another client)"
        } else {
            ""
        };
        return Err(cx.err(
            &clients.at,
            format!("must be >= {min_clients}{why} (got {})", clients.v),
        ));
    }
    cx.u32_of(clients)
}

/// `publishers`: between 1 and `clients` where the workload publishes (default: one for
/// `broadcast` and `rooms`, every client otherwise); absent (0) where it does not.
pub(super) fn publishers(cx: &Ctx, clients: u32) -> Result<u32, ScenarioError> {
    let w = cx.kind();
    match (&cx.point.publishers, w.publishes()) {
        (Some(v), false) => Err(cx.err(&v.at, format!("not used by the {} workload", w.name()))),
        (None, false) => Ok(0),
        (None, true) if matches!(w, WorkloadKind::Broadcast | WorkloadKind::Rooms) => Ok(1),
        (None, true) => Ok(clients),
        (Some(v), true) => {
            if v.v < 1 {
                return Err(cx.err(&v.at, format!("must be >= 1 (got {})", v.v)));
            }
            if v.v > i64::from(clients) {
                let msg = format!(
                    "must be <= clients (got {} > {clients}){}",
                    v.v, cx.at_point
                );
                return Err(cx.err(&v.at, msg));
            }
            cx.u32_of(v)
        }
    }
}

/// `rate`, total msgs/s: open loop needs it > 0; closed loop takes >= 0 (0 = ping-pong,
/// the default); the workloads that do not publish have their own rate key instead.
pub(super) fn rate(cx: &Ctx, mode: LoopMode) -> Result<f64, ScenarioError> {
    let w = cx.kind();
    let wn = w.name();
    match (&cx.point.rate, w.publishes(), mode) {
        (Some(v), false, _) => {
            let use_instead = if w == WorkloadKind::Connect {
                "connect_rate"
            } else {
                "polling.update_rate"
            };
            Err(cx.err(
                &v.at,
                format!("not used by the {wn} workload (use {use_instead})"),
            ))
        }
        (None, true, LoopMode::Closed) | (None, false, _) => Ok(0.0),
        // closed loop: > 0 paces the sends (one outstanding, wrk2-style); 0 = ping-pong
        (Some(v), true, LoopMode::Closed) => {
            if !(v.v.is_finite() && v.v >= 0.0) {
                return Err(cx.err(
                    &v.at,
                    format!(
                        "must be >= 0 in closed loop (0 = back-to-back ping-pong; got {})",
                        v.v
                    ),
                ));
            }
            Ok(v.v)
        }
        (None, true, LoopMode::Open) => {
            let msg =
                format!("required for an open-loop {wn} workload: total msgs/s across publishers");
            Err(cx.err(&cx.missing("rate"), msg))
        }
        (Some(v), true, LoopMode::Open) => {
            if !(v.v.is_finite() && v.v > 0.0) {
                return Err(cx.err(
                    &v.at,
                    format!("must be > 0 for an open-loop workload (got {})", v.v),
                ));
            }
            Ok(v.v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{FILE, at, common, message};
    use super::*;
    use crate::model::WorkloadKind as K;
    use crate::sweep::Point;

    fn check<T>(kind: K, p: Point, f: impl Fn(&Ctx) -> T) -> T {
        let c = common(kind);
        f(&Ctx::new(FILE, &c, &p, &[]))
    }

    #[test]
    fn closed_loop_only_for_echo_and_ack() {
        let closed = || Point {
            mode: at(3, "mode", "closed".into()),
            ..Point::default()
        };
        assert_eq!(check(K::Ack, closed(), mode).unwrap(), LoopMode::Closed);
        assert_eq!(
            message(check(K::Rooms, closed(), mode)),
            "t.toml:3: key 'mode': closed loop is only for echo and ack (this is rooms)"
        );
        assert_eq!(
            check(K::Rooms, Point::default(), mode).unwrap(),
            LoopMode::Open
        );
        let odd = Point {
            mode: at(3, "mode", "half".into()),
            ..Point::default()
        };
        assert_eq!(
            message(check(K::Echo, odd, mode)),
            "t.toml:3: key 'mode': unknown mode 'half' (expected one of: open, closed)"
        );
    }

    #[test]
    fn arrival_defaults_to_constant() {
        assert_eq!(
            check(K::Echo, Point::default(), arrival).unwrap(),
            Arrival::Constant
        );
    }

    #[test]
    fn clients_required_and_direct_needs_two() {
        assert_eq!(
            message(check(K::Echo, Point::default(), clients)),
            "t.toml:1: key 'clients': required: the number of connected clients"
        );
        let one = || Point {
            clients: at(2, "clients", 1),
            ..Point::default()
        };
        assert_eq!(check(K::Echo, one(), clients).unwrap(), 1);
        assert_eq!(
            message(check(K::Direct, one(), clients)),
            "t.toml:2: key 'clients': must be >= 2 for direct (each publisher sends to another \
             client) (got 1)"
        );
        let huge = Point {
            clients: at(2, "clients", 1 << 40),
            ..Point::default()
        };
        assert!(message(check(K::Echo, huge, clients)).contains("too large"));
    }

    #[test]
    fn publishers_default_per_workload_and_stay_within_clients() {
        let none = Point::default;
        assert_eq!(check(K::Echo, none(), |cx| publishers(cx, 5)).unwrap(), 5);
        assert_eq!(check(K::Rooms, none(), |cx| publishers(cx, 5)).unwrap(), 1);
        assert_eq!(
            check(K::Connect, none(), |cx| publishers(cx, 5)).unwrap(),
            0
        );
        let six = || Point {
            publishers: at(4, "publishers", 6),
            ..Point::default()
        };
        assert_eq!(
            message(check(K::Echo, six(), |cx| publishers(cx, 5))),
            "t.toml:4: key 'publishers': must be <= clients (got 6 > 5)"
        );
        assert_eq!(
            message(check(K::Connect, six(), |cx| publishers(cx, 5))),
            "t.toml:4: key 'publishers': not used by the connect workload"
        );
    }

    #[test]
    fn rate_follows_the_loop_and_the_workload() {
        assert_eq!(
            message(check(K::Echo, Point::default(), |cx| rate(
                cx,
                LoopMode::Open
            ))),
            "t.toml:1: key 'rate': required for an open-loop echo workload: total msgs/s \
             across publishers"
        );
        let zero = || Point {
            rate: at(3, "rate", 0.0),
            ..Point::default()
        };
        assert_eq!(
            check(K::Echo, zero(), |cx| rate(cx, LoopMode::Closed)).unwrap(),
            0.0
        );
        assert_eq!(
            message(check(K::Echo, zero(), |cx| rate(cx, LoopMode::Open))),
            "t.toml:3: key 'rate': must be > 0 for an open-loop workload (got 0)"
        );
        assert_eq!(
            message(check(K::PollingVsPush, zero(), |cx| rate(
                cx,
                LoopMode::Open
            ))),
            "t.toml:3: key 'rate': not used by the polling-vs-push workload (use \
             polling.update_rate)"
        );
    }
}
