//! The rules of one sweep point: every sweepable setting checked against the workload and
//! the others, then the validated [`Scenario`]. Each error names where the offending value
//! came from (file line and key, sweep element, or flag).

use std::time::Duration;

use crate::common::{Common, ENVELOPE_HEADROOM_BYTES};
use crate::error::{Origin, ScenarioError};
use crate::model::{Arrival, BroadcastOp, LoopMode, Polling, Scenario, Workload};
use crate::sweep::{Point, Val};

/// Default `payload_bytes`: a small message, just above the stamp's own size.
pub const DEFAULT_PAYLOAD_BYTES: usize = 64;

/// Validates one point and builds its [`Scenario`].
pub(crate) fn build_point(
    file: &str,
    c: &Common,
    p: &Point,
    sweep: Vec<(String, String)>,
) -> Result<Scenario, ScenarioError> {
    let w = c.workload;
    let wn = w.name();
    let err = |at: &Origin, msg: String| at.error(file, msg);
    let missing = |key: &str| Origin::Default {
        line: c.workload_line,
        key: key.to_string(),
    };
    // Cross-key mistakes depend on the point: say which.
    let label = sweep
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";");
    let at_point = if label.is_empty() {
        String::new()
    } else {
        format!(" at sweep point {label}")
    };
    let only_for = |v: Option<&Origin>, what: &str| match v {
        Some(at) => Err(err(
            at,
            format!("only for the {what} workload (this is {wn})"),
        )),
        None => Ok(()),
    };

    let mode = named(
        file,
        p.mode.as_ref(),
        "mode",
        &LoopMode::ALL,
        LoopMode::name,
    )?;
    if let (Some(m), LoopMode::Closed, false) = (&p.mode, mode, w.has_closed_loop()) {
        return Err(err(
            &m.at,
            format!("closed loop is only for echo and ack (this is {wn})"),
        ));
    }
    let arrival = named(
        file,
        p.arrival.as_ref(),
        "arrival",
        &Arrival::ALL,
        Arrival::name,
    )?;
    if w != Workload::Broadcast {
        only_for(p.op.as_ref().map(|v| &v.at), "broadcast")?;
    }
    let op = named(
        file,
        p.op.as_ref(),
        "op",
        &BroadcastOp::ALL,
        BroadcastOp::name,
    )?;

    let Some(clients) = &p.clients else {
        return Err(err(
            &missing("clients"),
            "required: the number of connected clients".into(),
        ));
    };
    let min_clients = if w == Workload::Direct { 2 } else { 1 };
    if clients.v < min_clients {
        let why = if w == Workload::Direct {
            " for direct (each publisher sends to another client)"
        } else {
            ""
        };
        return Err(err(
            &clients.at,
            format!("must be >= {min_clients}{why} (got {})", clients.v),
        ));
    }
    let clients_n = u32_of(file, clients)?;

    let publishers = match (&p.publishers, w.publishes()) {
        (Some(v), false) => return Err(err(&v.at, format!("not used by the {wn} workload"))),
        (None, false) => 0,
        (None, true) if matches!(w, Workload::Broadcast | Workload::Rooms) => 1,
        (None, true) => clients_n,
        (Some(v), true) => {
            if v.v < 1 {
                return Err(err(&v.at, format!("must be >= 1 (got {})", v.v)));
            }
            if v.v > clients.v {
                let msg = format!("must be <= clients (got {} > {}){at_point}", v.v, clients.v);
                return Err(err(&v.at, msg));
            }
            u32_of(file, v)?
        }
    };

    let rate = match (&p.rate, w.publishes(), mode) {
        (Some(v), false, _) => {
            let use_instead = if w == Workload::Connect {
                "connect_rate"
            } else {
                "polling.update_rate"
            };
            return Err(err(
                &v.at,
                format!("not used by the {wn} workload (use {use_instead})"),
            ));
        }
        (None, true, LoopMode::Closed) | (None, false, _) => 0.0,
        // closed loop: > 0 paces the sends (one outstanding, wrk2-style); 0 = ping-pong
        (Some(v), true, LoopMode::Closed) => {
            if !(v.v.is_finite() && v.v >= 0.0) {
                return Err(err(
                    &v.at,
                    format!(
                        "must be >= 0 in closed loop (0 = back-to-back ping-pong; got {})",
                        v.v
                    ),
                ));
            }
            v.v
        }
        (None, true, LoopMode::Open) => {
            let msg =
                format!("required for an open-loop {wn} workload: total msgs/s across publishers");
            return Err(err(&missing("rate"), msg));
        }
        (Some(v), true, LoopMode::Open) => {
            if !(v.v.is_finite() && v.v > 0.0) {
                return Err(err(
                    &v.at,
                    format!("must be > 0 for an open-loop workload (got {})", v.v),
                ));
            }
            v.v
        }
    };

    let payload = match (&p.payload_bytes, w.publishes()) {
        (Some(v), false) => return Err(err(&v.at, format!("not used by the {wn} workload"))),
        (None, _) => Val {
            v: DEFAULT_PAYLOAD_BYTES as i64,
            at: missing("payload_bytes"),
        },
        (Some(v), true) => v.clone(),
    };
    if payload.v < 0 {
        return Err(err(
            &payload.at,
            format!("must be >= 0 (got {})", payload.v),
        ));
    }
    let max = &c.max_message_bytes;
    if payload.v as u64 + ENVELOPE_HEADROOM_BYTES as u64 > max.v as u64 {
        let msg = format!(
            "payload_bytes + {ENVELOPE_HEADROOM_BYTES} bytes of envelope headroom must be <= \
             max_message_bytes (got {} + {ENVELOPE_HEADROOM_BYTES} > {}){at_point}",
            payload.v, max.v
        );
        // Blame what the user wrote: the payload, unless only the limit was written.
        let blame = if payload.at.is_given() {
            &payload.at
        } else {
            &max.at
        };
        return Err(err(blame, msg));
    }

    let rooms = match (&p.rooms, w) {
        (None, Workload::Rooms) => {
            return Err(err(
                &missing("rooms"),
                "required: the number of rooms".into(),
            ));
        }
        (Some(v), Workload::Rooms) => {
            if v.v < 1 {
                return Err(err(&v.at, format!("must be >= 1 (got {})", v.v)));
            }
            if v.v > clients.v {
                let msg = format!(
                    "must be <= clients, so every room has a member (got {} > {}){at_point}",
                    v.v, clients.v
                );
                return Err(err(&v.at, msg));
            }
            u32_of(file, v)?
        }
        (Some(v), _) if v.v != 0 => {
            only_for(Some(&v.at), "rooms")?;
            0
        }
        (_, _) => 0,
    };

    let connect_rate = match (&p.connect_rate, w) {
        (Some(v), Workload::Connect) => {
            if !(v.v.is_finite() && v.v >= 0.0) {
                let msg = format!("must be >= 0 connections/s, 0 = all at once (got {})", v.v);
                return Err(err(&v.at, msg));
            }
            v.v
        }
        (Some(v), _) => {
            only_for(Some(&v.at), "connect")?;
            0.0
        }
        (None, _) => 0.0,
    };

    let polling = if w == Workload::PollingVsPush {
        let pline = c.polling_line.unwrap_or(c.workload_line);
        let missing = |key: &str| Origin::Default {
            line: pline,
            key: key.to_string(),
        };
        let interval = positive(
            file,
            p.poll_interval_ms.as_ref(),
            &missing("polling.poll_interval_ms"),
            "ms",
        )?;
        let update_rate = positive(
            file,
            p.update_rate.as_ref(),
            &missing("polling.update_rate"),
            "updates/s",
        )?;
        let poll_interval = Duration::try_from_secs_f64(interval / 1000.0).map_err(|_| {
            let at = p
                .poll_interval_ms
                .as_ref()
                .map_or(missing("polling.poll_interval_ms"), |v| v.at.clone());
            err(&at, format!("too long (got {interval} ms)"))
        })?;
        if c.phases.drain < poll_interval {
            let at = p
                .poll_interval_ms
                .as_ref()
                .map_or(missing("polling.poll_interval_ms"), |v| v.at.clone());
            let msg = format!(
                "must be <= phases.drain_s ({} s), so every polling viewer polls once after the \
                 last write (got {interval} ms)",
                c.phases.drain.as_secs_f64()
            );
            return Err(err(&at, msg));
        }
        Some(Polling {
            poll_interval,
            update_rate,
            variants: c.variants.clone(),
        })
    } else {
        only_for(
            p.poll_interval_ms.as_ref().map(|v| &v.at),
            "polling-vs-push",
        )?;
        only_for(p.update_rate.as_ref().map(|v| &v.at), "polling-vs-push")?;
        None
    };

    Ok(Scenario {
        name: c.name.clone(),
        description: c.description.clone(),
        workload: w,
        targets: c.targets.clone(),
        clients: clients_n,
        publishers,
        rate,
        arrival,
        mode,
        payload_bytes: payload.v as usize,
        encoding: c.encoding,
        op,
        rooms,
        connect_rate,
        polling,
        phases: c.phases,
        max_message_bytes: max.v,
        sweep,
    })
}

/// An enum setting by name (default when absent); an unknown name lists the valid ones.
fn named<T: Copy + Default>(
    file: &str,
    v: Option<&Val<String>>,
    what: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, ScenarioError> {
    let Some(v) = v else { return Ok(T::default()) };
    all.iter()
        .copied()
        .find(|t| name(*t) == v.v)
        .ok_or_else(|| {
            let names = all.iter().map(|t| name(*t)).collect::<Vec<_>>().join(", ");
            v.at.error(
                file,
                format!("unknown {what} '{}' (expected one of: {names})", v.v),
            )
        })
}

/// A count that must fit the model's `u32`.
fn u32_of(file: &str, v: &Val<i64>) -> Result<u32, ScenarioError> {
    u32::try_from(v.v).map_err(|_| {
        v.at.error(file, format!("too large (got {}, max {})", v.v, u32::MAX))
    })
}

/// A required finite number > 0 (`missing` names where to report its absence).
fn positive(
    file: &str,
    v: Option<&Val<f64>>,
    missing: &Origin,
    unit: &str,
) -> Result<f64, ScenarioError> {
    let Some(v) = v else {
        return Err(missing.error(file, format!("required for polling-vs-push ({unit})")));
    };
    if !(v.v.is_finite() && v.v > 0.0) {
        return Err(v
            .at
            .error(file, format!("must be > 0 {unit} (got {})", v.v)));
    }
    Ok(v.v)
}
