//! The sweepable settings of one scenario point ([`Point`]) and the `[sweep]` matrix:
//! axes in file order, expanded as a cartesian product (the first key varies slowest).

use toml::Spanned;

use crate::error::{Origin, line_of};
use crate::raw::{RawSweep, SpannedList};

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Val<T> {
    pub v: T,
    pub at: Origin,
}

impl<T: Clone> Val<T> {
    /// A value written in the file at `span`, under the dotted `key`.
    pub(crate) fn file(text: &str, key: &str, s: &Spanned<T>) -> Val<T> {
        let at = Origin::File {
            line: line_of(text, s.span().start),
            key: key.to_string(),
        };
        Val {
            v: s.get_ref().clone(),
            at,
        }
    }
}

/// The settings `[sweep]` can vary, before validation. `None`: not given anywhere.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Point {
    pub clients: Option<Val<i64>>,
    pub publishers: Option<Val<i64>>,
    pub rate: Option<Val<f64>>,
    pub payload_bytes: Option<Val<i64>>,
    pub rooms: Option<Val<i64>>,
    pub op: Option<Val<String>>,
    pub arrival: Option<Val<String>>,
    pub mode: Option<Val<String>>,
    pub connect_rate: Option<Val<f64>>,
    pub poll_interval_ms: Option<Val<f64>>,
    pub update_rate: Option<Val<f64>>,
    pub nodes: Option<Val<i64>>,
    pub jwt: Option<Val<String>>,
    pub slow_consumer: Option<Val<String>>,
    /// `network.delay_ms` (the sweep key `delay_ms`).
    pub delay_ms: Option<Val<f64>>,
    pub namespaces: Option<Val<i64>>,
    pub over_limit: Option<Val<i64>>,
    pub cors: Option<Val<String>>,
}

/// One value of a sweep list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SweepValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl SweepValue {
    /// The value as the sweep label shows it (`1000`, `0.5`, `to_all`).
    pub(crate) fn label(&self) -> String {
        match self {
            SweepValue::Int(i) => i.to_string(),
            SweepValue::Float(f) => f.to_string(),
            SweepValue::Text(s) => s.clone(),
        }
    }
}

/// One `[sweep]` key with its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    /// The key (`clients`), also the name of the setting it varies.
    pub key: &'static str,
    /// Byte offset of the list, to order axes as written.
    pub offset: usize,
    /// Line of the list (for "empty list" and "also set at top level").
    pub line: usize,
    /// Values, each with the origin of its own list element.
    pub values: Vec<Val<SweepValue>>,
}

impl Point {
    /// Whether the setting `key` has a value.
    pub(crate) fn has(&self, key: &str) -> Option<&Origin> {
        match key {
            "clients" => self.clients.as_ref().map(|v| &v.at),
            "publishers" => self.publishers.as_ref().map(|v| &v.at),
            "rate" => self.rate.as_ref().map(|v| &v.at),
            "payload_bytes" => self.payload_bytes.as_ref().map(|v| &v.at),
            "rooms" => self.rooms.as_ref().map(|v| &v.at),
            "op" => self.op.as_ref().map(|v| &v.at),
            "arrival" => self.arrival.as_ref().map(|v| &v.at),
            "mode" => self.mode.as_ref().map(|v| &v.at),
            "connect_rate" => self.connect_rate.as_ref().map(|v| &v.at),
            "poll_interval_ms" => self.poll_interval_ms.as_ref().map(|v| &v.at),
            "update_rate" => self.update_rate.as_ref().map(|v| &v.at),
            "nodes" => self.nodes.as_ref().map(|v| &v.at),
            "jwt" => self.jwt.as_ref().map(|v| &v.at),
            "slow_consumer" => self.slow_consumer.as_ref().map(|v| &v.at),
            "delay_ms" => self.delay_ms.as_ref().map(|v| &v.at),
            "namespaces" => self.namespaces.as_ref().map(|v| &v.at),
            "over_limit" => self.over_limit.as_ref().map(|v| &v.at),
            "cors" => self.cors.as_ref().map(|v| &v.at),
            _ => None,
        }
    }

    /// Sets the setting `key` to one sweep value (the types match by construction in
    /// [`axes`]).
    fn set(&mut self, key: &str, value: &Val<SweepValue>) {
        let at = value.at.clone();
        let int = |v: &SweepValue| match v {
            SweepValue::Int(i) => *i,
            _ => unreachable!("sweep key {key} holds integers"),
        };
        let float = |v: &SweepValue| match v {
            SweepValue::Float(f) => *f,
            _ => unreachable!("sweep key {key} holds numbers"),
        };
        let text = |v: &SweepValue| match v {
            SweepValue::Text(s) => s.clone(),
            _ => unreachable!("sweep key {key} holds strings"),
        };
        let v = &value.v;
        match key {
            "clients" => self.clients = Some(Val { v: int(v), at }),
            "publishers" => self.publishers = Some(Val { v: int(v), at }),
            "payload_bytes" => self.payload_bytes = Some(Val { v: int(v), at }),
            "rooms" => self.rooms = Some(Val { v: int(v), at }),
            "nodes" => self.nodes = Some(Val { v: int(v), at }),
            "namespaces" => self.namespaces = Some(Val { v: int(v), at }),
            "over_limit" => self.over_limit = Some(Val { v: int(v), at }),
            "rate" => self.rate = Some(Val { v: float(v), at }),
            "connect_rate" => self.connect_rate = Some(Val { v: float(v), at }),
            "poll_interval_ms" => self.poll_interval_ms = Some(Val { v: float(v), at }),
            "update_rate" => self.update_rate = Some(Val { v: float(v), at }),
            "op" => self.op = Some(Val { v: text(v), at }),
            "arrival" => self.arrival = Some(Val { v: text(v), at }),
            "mode" => self.mode = Some(Val { v: text(v), at }),
            "jwt" => self.jwt = Some(Val { v: text(v), at }),
            "slow_consumer" => self.slow_consumer = Some(Val { v: text(v), at }),
            "delay_ms" => self.delay_ms = Some(Val { v: float(v), at }),
            "cors" => self.cors = Some(Val { v: text(v), at }),
            _ => unreachable!("{key} is not a sweep key"),
        }
    }
}

/// The axes of `[sweep]`, in the order their keys appear in the file.
pub(crate) fn axes(text: &str, sweep: &RawSweep) -> Vec<Axis> {
    fn axis<T: Clone>(
        text: &str,
        key: &'static str,
        list: &Option<SpannedList<T>>,
        wrap: fn(T) -> SweepValue,
    ) -> Option<Axis> {
        let list = list.as_ref()?;
        let values = list
            .get_ref()
            .iter()
            .map(|el| {
                let v = Val::file(text, &format!("sweep.{key}"), el);
                Val {
                    v: wrap(v.v),
                    at: v.at,
                }
            })
            .collect();
        let offset = list.span().start;
        Some(Axis {
            key,
            offset,
            line: line_of(text, offset),
            values,
        })
    }
    let mut out: Vec<Axis> = [
        axis(text, "clients", &sweep.clients, SweepValue::Int),
        axis(text, "publishers", &sweep.publishers, SweepValue::Int),
        axis(text, "rate", &sweep.rate, SweepValue::Float),
        axis(text, "payload_bytes", &sweep.payload_bytes, SweepValue::Int),
        axis(text, "rooms", &sweep.rooms, SweepValue::Int),
        axis(text, "op", &sweep.op, SweepValue::Text),
        axis(text, "arrival", &sweep.arrival, SweepValue::Text),
        axis(text, "mode", &sweep.mode, SweepValue::Text),
        axis(text, "connect_rate", &sweep.connect_rate, SweepValue::Float),
        axis(
            text,
            "poll_interval_ms",
            &sweep.poll_interval_ms,
            SweepValue::Float,
        ),
        axis(text, "update_rate", &sweep.update_rate, SweepValue::Float),
        axis(text, "nodes", &sweep.nodes, SweepValue::Int),
        axis(text, "jwt", &sweep.jwt, SweepValue::Text),
        axis(
            text,
            "slow_consumer",
            &sweep.slow_consumer,
            SweepValue::Text,
        ),
        axis(text, "delay_ms", &sweep.delay_ms, SweepValue::Float),
        axis(text, "namespaces", &sweep.namespaces, SweepValue::Int),
        axis(text, "over_limit", &sweep.over_limit, SweepValue::Int),
        axis(text, "cors", &sweep.cors, SweepValue::Text),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.sort_by_key(|a| a.offset);
    out
}

/// Every combination of the axes applied to `base`, with its `key=value` label; the first
/// axis varies slowest. No axes: just `base` with an empty label.
pub(crate) fn expand(base: &Point, axes: &[Axis]) -> Vec<(Point, Vec<(String, String)>)> {
    let mut points = vec![(base.clone(), Vec::new())];
    for axis in axes {
        let mut next = Vec::with_capacity(points.len() * axis.values.len());
        for (point, label) in &points {
            for value in &axis.values {
                let mut p = point.clone();
                p.set(axis.key, value);
                let mut l = label.clone();
                l.push((axis.key.to_string(), value.v.label()));
                next.push((p, l));
            }
        }
        points = next;
    }
    points
}
