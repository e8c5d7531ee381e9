//! `[network]` (docs/scenarios.md): the faults the load generator's user-space proxy puts
//! between its clients and the server — delay, jitter, a bandwidth cap, periodic stalls and
//! periodic resets. `delay_ms` is also a `[sweep]` key (it stands for `network.delay_ms`).

use std::time::Duration;

use crate::common::Common;
use crate::error::{Origin, ScenarioError, line_of};
use crate::model::WorkloadKind;
use crate::raw::RawFile;
use crate::sweep::{Point, Val};

/// What the proxy does to every connection of a row (each direction on its own; each
/// client has its own link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkFaults {
    /// One-way delay added to every chunk of bytes, each direction (RTT = 2 × delay).
    pub delay: Duration,
    /// A further delay drawn uniformly from `0..=jitter` per chunk; chunks never overtake
    /// each other (TCP keeps order), so a later chunk waits for an earlier one.
    pub jitter: Duration,
    /// Each connection's bandwidth per direction, kilobits (1000 bits) per second.
    pub bandwidth_kbps: Option<u64>,
    /// Every `every`, nothing moves for `length` (every connection, both directions).
    pub stall: Option<Stall>,
    /// Every this long, the proxy resets one connection (RST to both ends), the oldest
    /// still open first.
    pub reset_every: Option<Duration>,
}

/// A periodic stall of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub every: Duration,
    pub length: Duration,
}

impl NetworkFaults {
    /// `delay=50ms jitter=10ms bw=512kbps stall=200ms/5s reset/4s`, for notes.
    pub fn describe(&self) -> String {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let mut parts = vec![format!("delay={}", ms(self.delay))];
        if !self.jitter.is_zero() {
            parts.push(format!("jitter={}", ms(self.jitter)));
        }
        if let Some(b) = self.bandwidth_kbps {
            parts.push(format!("bw={b}kbps"));
        }
        if let Some(s) = self.stall {
            parts.push(format!("stall={}/{}s", ms(s.length), s.every.as_secs_f64()));
        }
        if let Some(r) = self.reset_every {
            parts.push(format!("reset/{}s", r.as_secs_f64()));
        }
        parts.join(" ")
    }
}

/// `[network]` as the file gives it, all but `delay_ms` (a point setting).
#[derive(Debug, Clone, Default)]
pub(crate) struct NetworkCommon {
    /// Line of `[network]`, when the table is there.
    pub line: Option<usize>,
    pub jitter_ms: Option<Val<f64>>,
    pub bandwidth_kbps: Option<Val<i64>>,
    pub stall_every_s: Option<Val<f64>>,
    pub stall_ms: Option<Val<f64>>,
    pub reset_every_s: Option<Val<f64>>,
}

pub(crate) fn common(text: &str, raw: &RawFile) -> NetworkCommon {
    let Some(n) = &raw.network else {
        return NetworkCommon::default();
    };
    let t = n.get_ref();
    let v = |key: &str, s: &Option<toml::Spanned<f64>>| {
        s.as_ref()
            .map(|s| Val::file(text, &format!("network.{key}"), s))
    };
    NetworkCommon {
        line: Some(line_of(text, n.span().start)),
        jitter_ms: v("jitter_ms", &t.jitter_ms),
        bandwidth_kbps: t
            .bandwidth_kbps
            .as_ref()
            .map(|s| Val::file(text, "network.bandwidth_kbps", s)),
        stall_every_s: v("stall_every_s", &t.stall_every_s),
        stall_ms: v("stall_ms", &t.stall_ms),
        reset_every_s: v("reset_every_s", &t.reset_every_s),
    }
}

/// The network faults of point `p` (`None` without `[network]` or a `delay_ms` sweep).
pub(crate) fn point(
    file: &str,
    c: &Common,
    p: &Point,
    nodes: u32,
    floor: bool,
) -> Result<Option<NetworkFaults>, ScenarioError> {
    let n = &c.network;
    let at = match (&p.delay_ms, n.line) {
        (Some(v), _) => v.at.clone(),
        (None, Some(line)) => Origin::File {
            line,
            key: "network".into(),
        },
        (None, None) => return Ok(None),
    };
    let err = |msg: &str| Err(at.error(file, msg));
    if c.workload == WorkloadKind::PollingVsPush {
        return err("only for the message and connect workloads (not polling-vs-push)");
    }
    if nodes > 1 {
        return err("needs one server (nodes = 1): the proxy stands in front of one");
    }
    if floor {
        return err("cannot go with the floor client (it connects to the server directly)");
    }
    let ms =
        |v: &Option<Val<f64>>, positive: bool| duration(file, v, positive, 1e-3, "milliseconds");
    let secs = |v: &Option<Val<f64>>| duration(file, v, true, 1.0, "seconds");
    let delay = ms(&p.delay_ms, false)?.unwrap_or_default();
    let jitter = ms(&n.jitter_ms, false)?.unwrap_or_default();
    let bandwidth_kbps = match &n.bandwidth_kbps {
        None => None,
        Some(v) if v.v >= 1 => Some(v.v as u64),
        Some(v) => {
            let msg = format!(
                "must be a whole number of kilobits per second >= 1 (got {})",
                v.v
            );
            return Err(v.at.error(file, msg));
        }
    };
    let stall = match (secs(&n.stall_every_s)?, ms(&n.stall_ms, true)?) {
        (None, None) => None,
        (Some(every), Some(length)) if length < every => Some(Stall { every, length }),
        (Some(_), Some(_)) => {
            let v = n.stall_ms.as_ref().expect("given");
            return Err(v.at.error(file, "must be shorter than stall_every_s"));
        }
        (Some(_), None) => {
            let v = n.stall_every_s.as_ref().expect("given");
            return Err(v
                .at
                .error(file, "needs stall_ms (how long each stall lasts)"));
        }
        (None, Some(_)) => {
            let v = n.stall_ms.as_ref().expect("given");
            return Err(v
                .at
                .error(file, "needs stall_every_s (how often a stall starts)"));
        }
    };
    let reset_every = secs(&n.reset_every_s)?;
    Ok(Some(NetworkFaults {
        delay,
        jitter,
        bandwidth_kbps,
        stall,
        reset_every,
    }))
}

/// A length of time in `unit`s (`scale` seconds each): >= 0, or > 0 when `positive`, and at
/// most an hour.
fn duration(
    file: &str,
    v: &Option<Val<f64>>,
    positive: bool,
    scale: f64,
    unit: &str,
) -> Result<Option<Duration>, ScenarioError> {
    let Some(v) = v else { return Ok(None) };
    let s = v.v * scale;
    let ok = s.is_finite() && s <= 3600.0 && if positive { s > 0.0 } else { s >= 0.0 };
    if !ok {
        let rule = if positive { "> 0" } else { ">= 0" };
        let msg = format!(
            "must be a number of {unit} {rule}, at most an hour (got {})",
            v.v
        );
        return Err(v.at.error(file, msg));
    }
    Ok(Some(Duration::from_secs_f64(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Overrides, parse};

    fn load(extra: &str) -> Result<Vec<crate::Scenario>, ScenarioError> {
        let text = format!("workload = \"echo\"\nclients = 2\nrate = 10\n{extra}");
        parse(&text, "t.toml", &Overrides::default())
    }

    #[test]
    fn the_table_and_the_delay_sweep_make_each_points_faults() {
        let points = load(
            "[network]\njitter_ms = 10\nbandwidth_kbps = 512\nstall_every_s = 5\nstall_ms = 200\nreset_every_s = 4\n[sweep]\ndelay_ms = [50, 150]\n",
        )
        .unwrap();
        let n: Vec<_> = points.iter().map(|s| s.network.unwrap()).collect();
        assert_eq!(n[0].delay, Duration::from_millis(50));
        assert_eq!(n[1].delay, Duration::from_millis(150));
        assert_eq!(
            n[1].stall,
            Some(Stall {
                every: Duration::from_secs(5),
                length: Duration::from_millis(200)
            })
        );
        assert_eq!(
            n[0].describe(),
            "delay=50ms jitter=10ms bw=512kbps stall=200ms/5s reset/4s"
        );
        assert_eq!(points[1].sweep_label(), "delay_ms=150");
        assert!(load("").unwrap()[0].network.is_none());
        let only = load("[network]\ndelay_ms = 20\n").unwrap();
        assert_eq!(only[0].network.unwrap().delay, Duration::from_millis(20));
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        for (extra, line, key, needle) in [
            ("[network]\ndelay_ms = -1\n", 5, "network.delay_ms", ">= 0"),
            (
                "[network]\nstall_ms = 100\n",
                5,
                "network.stall_ms",
                "stall_every_s",
            ),
            (
                "[network]\nstall_every_s = 1\nstall_ms = 1000\n",
                6,
                "network.stall_ms",
                "shorter",
            ),
            (
                "[network]\nbandwidth_kbps = 0\n",
                5,
                "network.bandwidth_kbps",
                ">= 1",
            ),
            (
                "[network]\nreset_every_s = 0\n",
                5,
                "network.reset_every_s",
                "> 0",
            ),
            (
                "[network]\nlatency_ms = 1\n",
                5,
                "network.latency_ms",
                "unknown key",
            ),
            ("nodes = 2\n[network]\n", 5, "network", "nodes = 1"),
        ] {
            let e = load(extra).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("t.toml:{line}:")) && e.contains(key) && e.contains(needle),
                "{extra}: {e}"
            );
        }
    }
}
