//! Entry points: a scenario file (or its text) plus CLI overrides → one validated
//! [`Scenario`] per sweep point, in sweep order.

use std::path::Path;

use crate::common::common;
use crate::error::{Origin, ScenarioError};
use crate::model::Scenario;
use crate::overrides::{Overrides, flag};
use crate::raw::{RawFile, parse_raw};
use crate::sweep::{Axis, Point, Val, axes, expand};
use crate::validate::build_point;

/// Reads and validates the scenario file at `path`. Errors name the path as given.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Vec<Scenario>, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string(), overrides)
}

/// Validates scenario `text`; `file` is the name errors show (and whose stem is the
/// default `name`).
pub fn parse(
    text: &str,
    file: &str,
    overrides: &Overrides,
) -> Result<Vec<Scenario>, ScenarioError> {
    let raw = parse_raw(text, file)?;
    let common = common(text, file, &raw, overrides)?;
    let base = base_point(text, &raw);
    let mut axes = raw
        .sweep
        .as_ref()
        .map(|s| axes(text, s.get_ref()))
        .unwrap_or_default();
    check_axes(file, &base, &axes)?;
    let base = apply_overrides(base, &mut axes, overrides);
    expand(&base, &axes)
        .into_iter()
        .map(|(point, label)| build_point(file, &common, &point, label))
        .collect()
}

/// The sweepable settings as written outside `[sweep]`.
fn base_point(text: &str, raw: &RawFile) -> Point {
    let polling = raw.polling.as_ref().map(|p| p.get_ref());
    Point {
        clients: raw.clients.as_ref().map(|v| Val::file(text, "clients", v)),
        publishers: raw
            .publishers
            .as_ref()
            .map(|v| Val::file(text, "publishers", v)),
        rate: raw.rate.as_ref().map(|v| Val::file(text, "rate", v)),
        payload_bytes: raw
            .payload_bytes
            .as_ref()
            .map(|v| Val::file(text, "payload_bytes", v)),
        rooms: raw.rooms.as_ref().map(|v| Val::file(text, "rooms", v)),
        op: raw.op.as_ref().map(|v| Val::file(text, "op", v)),
        arrival: raw.arrival.as_ref().map(|v| Val::file(text, "arrival", v)),
        mode: raw.mode.as_ref().map(|v| Val::file(text, "mode", v)),
        connect_rate: raw
            .connect_rate
            .as_ref()
            .map(|v| Val::file(text, "connect_rate", v)),
        poll_interval_ms: polling
            .and_then(|p| p.poll_interval_ms.as_ref())
            .map(|v| Val::file(text, "polling.poll_interval_ms", v)),
        update_rate: polling
            .and_then(|p| p.update_rate.as_ref())
            .map(|v| Val::file(text, "polling.update_rate", v)),
        nodes: raw.nodes.as_ref().map(|v| Val::file(text, "nodes", v)),
        jwt: raw.jwt.as_ref().map(|v| Val::file(text, "jwt", v)),
        slow_consumer: raw
            .slow_consumer
            .as_ref()
            .map(|v| Val::file(text, "slow_consumer", v)),
        delay_ms: raw
            .network
            .as_ref()
            .and_then(|n| n.get_ref().delay_ms.as_ref())
            .map(|v| Val::file(text, "network.delay_ms", v)),
        namespaces: raw
            .namespaces
            .as_ref()
            .map(|v| Val::file(text, "namespaces", v)),
        over_limit: raw
            .over_limit
            .as_ref()
            .map(|v| Val::file(text, "over_limit", v)),
        cors: raw.cors.as_ref().map(|v| Val::file(text, "cors", v)),
    }
}

/// A sweep list must have values, and its key must not also be set outside `[sweep]`.
fn check_axes(file: &str, base: &Point, axes: &[Axis]) -> Result<(), ScenarioError> {
    for axis in axes {
        let at = Origin::File {
            line: axis.line,
            key: format!("sweep.{}", axis.key),
        };
        if axis.values.is_empty() {
            return Err(at.error(file, "empty list: give at least one value"));
        }
        if let Some(Origin::File { line, key }) = base.has(axis.key) {
            let msg = format!("'{key}' is also set at line {line}: set it in one place");
            return Err(at.error(file, msg));
        }
    }
    Ok(())
}

/// Flags replace file values; a flag on a swept key removes that axis.
fn apply_overrides(mut p: Point, axes: &mut Vec<Axis>, ov: &Overrides) -> Point {
    let mut drop_axis = |key: &str| axes.retain(|a| a.key != key);
    if let Some(v) = ov.clients {
        drop_axis("clients");
        p.clients = Some(Val {
            v: v.into(),
            at: Origin::Flag(flag::CLIENTS),
        });
    }
    if let Some(v) = ov.publishers {
        drop_axis("publishers");
        p.publishers = Some(Val {
            v: v.into(),
            at: Origin::Flag(flag::PUBLISHERS),
        });
    }
    if let Some(v) = ov.rate {
        drop_axis("rate");
        p.rate = Some(Val {
            v,
            at: Origin::Flag(flag::RATE),
        });
    }
    if let Some(v) = ov.payload_bytes {
        drop_axis("payload_bytes");
        let v = i64::try_from(v).unwrap_or(i64::MAX);
        p.payload_bytes = Some(Val {
            v,
            at: Origin::Flag(flag::PAYLOAD_BYTES),
        });
    }
    if let Some(v) = ov.nodes {
        drop_axis("nodes");
        p.nodes = Some(Val {
            v: v.into(),
            at: Origin::Flag(flag::NODES),
        });
    }
    p
}
