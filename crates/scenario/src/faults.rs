//! The fault tables `[restart]` and `[churn]` (docs/scenarios.md, "Faults"): what goes
//! wrong during a row, read once per file and checked against the rest of it.
//!
//! - `[restart]`: the server is killed with SIGKILL `kill_at_s` into the measure phase and
//!   restarted on the same port `down_ms` later; clients reconnect by their stack's policy
//!   ([`Backoff::SOCKET_IO`] for Socket.IO, the table's `backoff_*` keys for raw WebSocket
//!   and tcp).
//! - `[churn]`: besides the steady clients, clients connect, join a room of their own, echo,
//!   and disconnect at `connects_per_s` for the whole measure phase; the server's fds, rooms
//!   and RSS are compared with their baseline afterwards.
//!
//! Both go with the open-loop `echo` workload on servers the run starts (one node, no CPU
//! budget, no floor client): the traffic the fault interrupts is the simplest there is.

use std::time::Duration;

use toml::Spanned;

use crate::error::{Origin, ScenarioError, line_of};
use crate::model::{LoopMode, WorkloadKind};
use crate::raw::RawFile;
use crate::target::TargetSpec;

/// Keys of `[restart]`.
pub(crate) const RESTART_KEYS: &[&str] = &[
    "kill_at_s",
    "down_ms",
    "backoff_initial_ms",
    "backoff_max_ms",
    "backoff_factor",
    "backoff_jitter",
];
/// Keys of `[churn]`.
pub(crate) const CHURN_KEYS: &[&str] = &["connects_per_s", "lifetime_ms", "settle_s"];

/// `[restart]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRestart {
    pub kill_at_s: Option<Spanned<f64>>,
    pub down_ms: Option<Spanned<f64>>,
    pub backoff_initial_ms: Option<Spanned<f64>>,
    pub backoff_max_ms: Option<Spanned<f64>>,
    pub backoff_factor: Option<Spanned<f64>>,
    pub backoff_jitter: Option<Spanned<f64>>,
}

/// `[churn]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChurn {
    pub connects_per_s: Option<Spanned<f64>>,
    pub lifetime_ms: Option<Spanned<f64>>,
    pub settle_s: Option<Spanned<f64>>,
}

/// A fault a row injects.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Restart(Restart),
    Churn(Churn),
}

impl Fault {
    /// The table's name, also the row's `variant`.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Restart(_) => "restart",
            Fault::Churn(_) => "churn",
        }
    }
}

/// `[restart]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Restart {
    /// How far into the measure phase the server is killed (< `measure_s`).
    pub kill_at: Duration,
    /// How long the port stays closed before the server is started again.
    pub down: Duration,
    /// The reconnection policy of raw WebSocket and tcp clients.
    pub raw_backoff: Backoff,
}

/// `[churn]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Churn {
    /// Short-lived connections opened per second (each closes after `lifetime`).
    pub connects_per_s: f64,
    /// How long each short-lived client stays: it joins its room, echoes once, leaves.
    pub lifetime: Duration,
    /// After the row, how long the server gets to return to its baseline.
    pub settle: Duration,
}

/// Exponential reconnection backoff with jitter, as socket.io-client's `Backoff`: attempt
/// `n` (0-based) waits `min(initial × factor^n, max)`, moved at random by up to ± `jitter`
/// of itself, and never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    /// 0..=1.
    pub jitter: f64,
}

impl Backoff {
    /// socket.io-client's defaults: `reconnectionDelay` 1000 ms, `reconnectionDelayMax`
    /// 5000 ms, `randomizationFactor` 0.5, factor 2.
    pub const SOCKET_IO: Backoff = Backoff {
        initial: Duration::from_millis(1000),
        max: Duration::from_millis(5000),
        factor: 2.0,
        jitter: 0.5,
    };
    /// The raw clients' default, what an application commonly writes: 500 ms doubling to
    /// 5 s, ± 50 % jitter.
    pub const RAW_DEFAULT: Backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_millis(5000),
        factor: 2.0,
        jitter: 0.5,
    };

    /// The wait before attempt `attempt` (0-based); `unit` is a uniform random number in
    /// [0, 1) (0.5 gives the unjittered delay).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.powi(attempt.min(64) as i32);
        let base = base.min(self.max.as_secs_f64());
        let jittered = base * (1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0));
        Duration::from_secs_f64(jittered.clamp(0.0, self.max.as_secs_f64()))
    }
}

/// The file's fault, checked against its workload, targets and other settings.
pub(crate) fn common(
    text: &str,
    file: &str,
    raw: &RawFile,
    c: &FileFacts<'_>,
) -> Result<Option<(Fault, Origin)>, ScenarioError> {
    let at = |key: &str, offset: usize| Origin::File {
        line: line_of(text, offset),
        key: key.into(),
    };
    let (table, offset) = match (&raw.restart, &raw.churn) {
        (None, None) => return Ok(None),
        (Some(_), Some(ch)) => {
            let msg = "a row injects one fault: [restart] or [churn], not both".to_owned();
            return Err(at("churn", ch.span().start).error(file, msg));
        }
        (Some(r), None) => ("restart", r.span().start),
        (None, Some(ch)) => ("churn", ch.span().start),
    };
    let whole = at(table, offset);
    if c.workload != WorkloadKind::Echo {
        let msg = format!(
            "[{table}] goes with the echo workload (this is {})",
            c.workload.name()
        );
        return Err(whole.error(file, msg));
    }
    if c.server_cpus.is_some() {
        let msg = format!(
            "[{table}] cannot go with server_cpus (the server is restarted or measured from outside its budget)"
        );
        return Err(whole.error(file, msg));
    }
    if c.floor {
        return Err(whole.error(file, format!("[{table}] cannot go with the floor client")));
    }
    if let Some(t) = c
        .targets
        .iter()
        .find(|t| TargetSpec::parse(t).is_ok_and(|s| !s.spawns_server()))
    {
        let msg = format!(
            "[{table}] needs servers the run starts (it kills them or reads their /proc), \
             but target '{t}' is run by someone else"
        );
        return Err(whole.error(file, msg));
    }
    let measure = c.measure;
    let num = |key: &str, v: &Option<Spanned<f64>>, ok: &dyn Fn(f64) -> bool, rule: &str| match v {
        None => Ok(None),
        Some(s) if ok(*s.get_ref()) => Ok(Some(*s.get_ref())),
        Some(s) => Err(at(&format!("{table}.{key}"), s.span().start)
            .error(file, format!("{rule} (got {})", s.get_ref()))),
    };
    let ms = |v: f64| Duration::from_secs_f64(v / 1000.0);
    if let Some(r) = &raw.restart {
        let r = r.get_ref();
        let m = measure.as_secs_f64();
        let kill_rule = format!("must be > 0 and < phases.measure_s ({m} s)");
        // a measure phase a flag shortened (`--quick`, `--measure-s`) moves the kill to its
        // middle rather than refusing the file
        let moved = |v: f64| c.measure_from_flag && v >= m;
        let kill_at = match &r.kill_at_s {
            Some(v) if v.get_ref().is_finite() && moved(*v.get_ref()) => m / 2.0,
            _ => num("kill_at_s", &r.kill_at_s, &|v| v > 0.0 && v < m, &kill_rule)?
                .unwrap_or(m / 2.0),
        };
        let finite_ms = |v: f64| v.is_finite() && (0.0..=3_600_000.0).contains(&v);
        let down = num("down_ms", &r.down_ms, &finite_ms, "must be 0..=3600000 ms")?.unwrap_or(0.0);
        let d = Backoff::RAW_DEFAULT;
        let positive_ms = |v: f64| v.is_finite() && v > 0.0 && v <= 3_600_000.0;
        let initial = num(
            "backoff_initial_ms",
            &r.backoff_initial_ms,
            &positive_ms,
            "must be > 0 and <= 3600000 ms",
        )?
        .map_or(d.initial, ms);
        let max = num(
            "backoff_max_ms",
            &r.backoff_max_ms,
            &positive_ms,
            "must be > 0 and <= 3600000 ms",
        )?
        .map_or(d.max, ms);
        if max < initial {
            let key = if r.backoff_max_ms.is_some() {
                "backoff_max_ms"
            } else {
                "backoff_initial_ms"
            };
            let s = r.backoff_max_ms.as_ref().or(r.backoff_initial_ms.as_ref());
            let msg = format!(
                "backoff_max_ms ({} ms) must be >= backoff_initial_ms ({} ms)",
                max.as_millis(),
                initial.as_millis()
            );
            return Err(at(
                &format!("restart.{key}"),
                s.map_or(offset, |s| s.span().start),
            )
            .error(file, msg));
        }
        let factor = num(
            "backoff_factor",
            &r.backoff_factor,
            &|v| v.is_finite() && (1.0..=100.0).contains(&v),
            "must be 1..=100",
        )?
        .unwrap_or(d.factor);
        let jitter = num(
            "backoff_jitter",
            &r.backoff_jitter,
            &|v| (0.0..=1.0).contains(&v),
            "must be 0..=1",
        )?
        .unwrap_or(d.jitter);
        let fault = Fault::Restart(Restart {
            kill_at: Duration::from_secs_f64(kill_at),
            down: ms(down),
            raw_backoff: Backoff {
                initial,
                max,
                factor,
                jitter,
            },
        });
        return Ok(Some((fault, whole)));
    }
    let ch = raw.churn.as_ref().expect("one table is set").get_ref();
    let connects_per_s = num(
        "connects_per_s",
        &ch.connects_per_s,
        &|v| v.is_finite() && v > 0.0 && v <= 100_000.0,
        "must be > 0 and <= 100000 connections/s",
    )?
    .ok_or_else(|| {
        let missing = Origin::Default {
            line: line_of(text, offset),
            key: "churn.connects_per_s".into(),
        };
        missing.error(file, "required (short-lived connections per second)")
    })?;
    let lifetime = num(
        "lifetime_ms",
        &ch.lifetime_ms,
        &|v| v.is_finite() && v > 0.0 && v <= 3_600_000.0,
        "must be > 0 and <= 3600000 ms",
    )?
    .map_or(Duration::from_secs(1), ms);
    let settle = num(
        "settle_s",
        &ch.settle_s,
        &|v| v.is_finite() && (0.0..=600.0).contains(&v),
        "must be 0..=600 s",
    )?
    .map_or(Duration::from_secs(5), Duration::from_secs_f64);
    let fault = Fault::Churn(Churn {
        connects_per_s,
        lifetime,
        settle,
    });
    Ok(Some((fault, whole)))
}

/// What [`common`] needs to know of the rest of the file.
pub(crate) struct FileFacts<'a> {
    pub workload: WorkloadKind,
    pub targets: &'a [String],
    pub server_cpus: Option<f64>,
    pub floor: bool,
    pub measure: Duration,
    /// `--quick` or `--measure-s` set the measure phase.
    pub measure_from_flag: bool,
}

/// One point: a fault needs the open loop and every client echoing; churn, one server.
pub(crate) fn point(
    file: &str,
    fault: Option<&(Fault, Origin)>,
    mode: LoopMode,
    nodes: u32,
    (clients, publishers): (u32, u32),
) -> Result<(), ScenarioError> {
    let Some((fault, at)) = fault else {
        return Ok(());
    };
    if publishers != clients {
        let msg = format!(
            "[{}] rows have every client echo: leave publishers at clients (got {publishers} of {clients})",
            fault.name()
        );
        return Err(at.error(file, msg));
    }
    if mode != LoopMode::Open {
        let msg = format!("[{}] needs the open loop (mode = \"open\")", fault.name());
        return Err(at.error(file, msg));
    }
    // a restart kills node 0 of a cluster; churn reads one server's fds and rooms
    if nodes > 1 && matches!(fault, Fault::Churn(_)) {
        let msg = "[churn] runs on one server (nodes = 1): it reads that server's fds and rooms";
        return Err(at.error(file, msg.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Overrides;

    fn load(text: &str) -> Result<Vec<crate::Scenario>, String> {
        crate::parse(text, "f.toml", &Overrides::default()).map_err(|e| e.to_string())
    }

    const ECHO: &str = "workload = \"echo\"\nclients = 4\nrate = 100\ntargets = [\"ws-tungstenite\"]\n[phases]\nmeasure_s = 3\n";

    #[test]
    fn restart_defaults_and_keys() {
        let s = load(&format!("{ECHO}[restart]\n")).unwrap();
        let Some(Fault::Restart(r)) = &s[0].fault else {
            panic!("{:?}", s[0].fault)
        };
        assert_eq!(r.kill_at, Duration::from_millis(1500));
        assert_eq!(r.down, Duration::ZERO);
        assert_eq!(r.raw_backoff, Backoff::RAW_DEFAULT);
        let s = load(&format!(
            "{ECHO}[restart]\nkill_at_s = 2\ndown_ms = 300\nbackoff_initial_ms = 100\nbackoff_max_ms = 800\nbackoff_factor = 1.5\nbackoff_jitter = 0\n"
        ))
        .unwrap();
        let Some(Fault::Restart(r)) = &s[0].fault else {
            panic!()
        };
        assert_eq!(r.kill_at, Duration::from_secs(2));
        assert_eq!(r.down, Duration::from_millis(300));
        assert_eq!(
            r.raw_backoff,
            Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(800),
                factor: 1.5,
                jitter: 0.0
            }
        );
        assert!(load(ECHO).unwrap()[0].fault.is_none());
    }

    #[test]
    fn mistakes_name_line_and_key() {
        let cases = [
            (
                format!("{ECHO}[restart]\nkill_at_s = 3\n"),
                "f.toml:8: key 'restart.kill_at_s': must be > 0 and < phases.measure_s (3 s) (got 3)",
            ),
            (
                format!("{ECHO}[restart]\nkil_at_s = 1\n"),
                "f.toml:8: unknown key 'restart.kil_at_s'",
            ),
            (
                format!("{ECHO}[restart]\nbackoff_initial_ms = 900\nbackoff_max_ms = 800\n"),
                "f.toml:9: key 'restart.backoff_max_ms': backoff_max_ms (800 ms) must be >= backoff_initial_ms (900 ms)",
            ),
            (
                format!("{ECHO}[restart]\nbackoff_jitter = 2\n"),
                "f.toml:8: key 'restart.backoff_jitter': must be 0..=1 (got 2)",
            ),
            (
                format!("{ECHO}[churn]\n"),
                "f.toml:7: key 'churn.connects_per_s': required",
            ),
            (
                format!("{ECHO}[churn]\nconnects_per_s = 0\n"),
                "f.toml:8: key 'churn.connects_per_s': must be > 0",
            ),
            (
                format!("{ECHO}[churn]\nconnects_per_s = 5\n[restart]\n"),
                "[restart] or [churn], not both",
            ),
            (
                ECHO.replace("\"echo\"", "\"broadcast\"") + "[churn]\nconnects_per_s = 5\n",
                "[churn] goes with the echo workload (this is broadcast)",
            ),
            (
                ECHO.replace("ws-tungstenite", "ws=ws://127.0.0.1:9/ws") + "[restart]\n",
                "target 'ws=ws://127.0.0.1:9/ws' is run by someone else",
            ),
            (
                format!("mode = \"closed\"\n{ECHO}[restart]\n"),
                "f.toml:8: key 'restart': [restart] needs the open loop",
            ),
            (
                format!("nodes = 2\n{ECHO}[churn]\nconnects_per_s = 5\n"),
                "[churn] runs on one server (nodes = 1)",
            ),
            (
                format!("publishers = 2\n{ECHO}[churn]\nconnects_per_s = 5\n"),
                "leave publishers at clients (got 2 of 4)",
            ),
        ];
        for (text, want) in cases {
            let e = load(&text).unwrap_err();
            assert!(e.contains(want), "{text}\n=> {e}\nwant {want}");
        }
    }

    #[test]
    fn a_flag_that_shortens_measure_moves_the_kill_to_its_middle() {
        let text = format!("{ECHO}[restart]\nkill_at_s = 2.5\n");
        let quick = Overrides {
            quick: true,
            ..Overrides::default()
        };
        let s = crate::parse(&text, "f.toml", &quick).unwrap();
        let Some(Fault::Restart(r)) = &s[0].fault else {
            panic!()
        };
        assert_eq!(r.kill_at, s[0].phases.measure / 2);
        // without the flag the same value is an error
        assert!(load(&format!("{ECHO}[restart]\nkill_at_s = 3.5\n")).is_err());
    }

    #[test]
    fn churn_defaults() {
        let s = load(&format!("{ECHO}[churn]\nconnects_per_s = 20\n")).unwrap();
        assert_eq!(
            s[0].fault,
            Some(Fault::Churn(Churn {
                connects_per_s: 20.0,
                lifetime: Duration::from_secs(1),
                settle: Duration::from_secs(5),
            }))
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff::SOCKET_IO;
        assert_eq!(b.delay(0, 0.5), Duration::from_millis(1000));
        assert_eq!(b.delay(1, 0.5), Duration::from_millis(2000));
        assert_eq!(b.delay(2, 0.5), Duration::from_millis(4000));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(5000));
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(1500));
        // the cap holds after jitter too
        assert_eq!(b.delay(40, 1.0), Duration::from_millis(5000));
    }
}
