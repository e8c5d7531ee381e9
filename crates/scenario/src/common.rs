//! The settings one scenario file shares across its sweep points — name, workload, targets,
//! encoding, message limit, phases, polling variants — read and validated once.

use std::path::Path;
use std::time::Duration;

use crate::error::{Origin, ScenarioError, line_of};
use crate::model::{Encoding, Phases, PvpVariant, VariantServers, WorkloadKind};
use crate::overrides::{Overrides, flag};
use crate::raw::RawFile;
use crate::sweep::Val;
use crate::target::{ALL_TARGETS, DEFAULT_TARGETS, TargetSpec, expand_targets};

/// Server default for the largest accepted message (`wsbench serve --max-message-bytes`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Room left in a message for the envelope around `data` (op, room, ids, Socket.IO framing).
pub const ENVELOPE_HEADROOM_BYTES: usize = 256;
/// Default phase lengths, seconds: warmup, measure, drain.
pub const DEFAULT_PHASES_S: (f64, f64, f64) = (2.0, 10.0, 2.0);

/// What every point of one file shares.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub name: String,
    pub description: String,
    pub workload: WorkloadKind,
    /// Line of `workload`: where a required key that is missing is reported.
    pub workload_line: usize,
    /// Expanded (`all` replaced), validated target specs.
    pub targets: Vec<String>,
    pub encoding: Encoding,
    pub max_message_bytes: Val<usize>,
    pub phases: Phases,
    /// `[polling].variants` (polling-vs-push only; all of them by default).
    pub variants: Vec<PvpVariant>,
    /// `[polling].workspaces` (1 by default).
    pub workspaces: u32,
    /// Line of `[polling]`, where a missing polling key is reported (else `workload_line`).
    pub polling_line: Option<usize>,
    /// `server_cpus` / `--server-cpus`, validated ([`crate::budget`]).
    pub server_cpus: Option<f64>,
    /// Where `floor = true` / `--floor` came from, when on ([`crate::floor`]).
    pub floor: Option<Origin>,
    /// `rate_limit` ([`crate::production`]).
    pub rate_limit: Option<u32>,
    /// `[restart]` or `[churn]` and where its table starts ([`crate::faults`]).
    pub fault: Option<(crate::faults::Fault, Origin)>,
    /// `slow_share` and `outbound_queue` ([`crate::slow`]).
    pub slow: crate::slow::SlowCommon,
    /// `[network]` but `delay_ms` ([`crate::network`]).
    pub network: crate::network::NetworkCommon,
}

pub(crate) fn common(
    text: &str,
    file: &str,
    raw: &RawFile,
    ov: &Overrides,
) -> Result<Common, ScenarioError> {
    let err = |at: &Origin, msg: String| at.error(file, msg);
    let at = |key: &str, offset: usize| Origin::File {
        line: line_of(text, offset),
        key: key.into(),
    };

    let names = WorkloadKind::ALL.map(WorkloadKind::name).join(", ");
    let Some(w) = &raw.workload else {
        let at = Origin::Default {
            line: 1,
            key: "workload".into(),
        };
        return Err(err(&at, format!("required (one of: {names})")));
    };
    let workload_line = line_of(text, w.span().start);
    let workload = WorkloadKind::from_name(w.get_ref()).ok_or_else(|| {
        let msg = format!(
            "unknown workload '{}' (expected one of: {names})",
            w.get_ref()
        );
        err(&at("workload", w.span().start), msg)
    })?;

    let name = match &raw.name {
        Some(n) => Val::file(text, "name", n),
        None => {
            let stem = Path::new(file)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy();
            Val {
                v: stem.into_owned(),
                at: Origin::Default {
                    line: 1,
                    key: "name".into(),
                },
            }
        }
    };
    let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.v.is_empty() || !name.v.chars().all(name_ok) {
        let msg = format!(
            "must be non-empty and use only letters, digits, '-', '_' or '.' (got '{}')",
            name.v
        );
        return Err(err(&name.at, msg));
    }

    let targets = targets(text, file, raw, ov, workload)?;

    let encoding = match &raw.encoding {
        None => Encoding::default(),
        Some(e) => Encoding::from_name(e.get_ref()).ok_or_else(|| {
            let names = Encoding::ALL.map(Encoding::name).join(", ");
            let msg = format!(
                "unknown encoding '{}' (expected one of: {names})",
                e.get_ref()
            );
            err(&at("encoding", e.span().start), msg)
        })?,
    };

    let max_message_bytes = match &raw.max_message_bytes {
        None => Val {
            v: DEFAULT_MAX_MESSAGE_BYTES,
            at: Origin::Default {
                line: workload_line,
                key: "max_message_bytes".into(),
            },
        },
        Some(m) => {
            let v = Val::file(text, "max_message_bytes", m);
            let min = ENVELOPE_HEADROOM_BYTES as i64;
            if v.v < min {
                let msg = format!("must be >= {min} (the envelope headroom) (got {})", v.v);
                return Err(err(&v.at, msg));
            }
            Val {
                v: v.v as usize,
                at: v.at,
            }
        }
    };

    let phases = phases(text, file, raw, ov, workload_line)?;
    let server_cpus = crate::budget::server_cpus(text, file, raw, ov, &targets)?;
    let floor = crate::floor::common(text, file, raw, ov, workload, &targets)?;
    let rate_limit = crate::production::rate_limit(text, file, raw)?;
    let facts = crate::faults::FileFacts {
        workload,
        targets: &targets,
        server_cpus,
        floor: floor.is_some(),
        measure: phases.measure,
        measure_from_flag: ov.quick || ov.measure_s.is_some(),
    };
    let fault = crate::faults::common(text, file, raw, &facts)?;

    if let (Some(p), false) = (&raw.polling, workload == WorkloadKind::PollingVsPush) {
        let msg = format!(
            "[polling] is only for the polling-vs-push workload (this is {})",
            w.get_ref()
        );
        return Err(err(&at("polling", p.span().start), msg));
    }
    let variants = match raw
        .polling
        .as_ref()
        .and_then(|p| p.get_ref().variants.as_ref())
    {
        None => PvpVariant::ALL.to_vec(),
        Some(list) => {
            let names = PvpVariant::ALL.map(PvpVariant::name).join(", ");
            if list.get_ref().is_empty() {
                let msg = format!("must name at least one variant (of: {names})");
                return Err(err(&at("polling.variants", list.span().start), msg));
            }
            let mut out = Vec::new();
            for el in list.get_ref() {
                let at = at("polling.variants", el.span().start);
                let v = PvpVariant::from_name(el.get_ref()).ok_or_else(|| {
                    let msg = format!(
                        "unknown variant '{}' (expected one of: {names})",
                        el.get_ref()
                    );
                    err(&at, msg)
                })?;
                if out.contains(&v) {
                    return Err(err(&at, format!("variant '{}' is listed twice", v.name())));
                }
                out.push(v);
            }
            out
        }
    };

    let workspaces = match raw
        .polling
        .as_ref()
        .and_then(|p| p.get_ref().workspaces.as_ref())
    {
        None => 1,
        Some(w) => {
            let v = *w.get_ref();
            if !(1..=i64::from(MAX_WORKSPACES)).contains(&v) {
                let msg = format!("must be 1..={MAX_WORKSPACES} dashboards (got {v})");
                return Err(err(&at("polling.workspaces", w.span().start), msg));
            }
            let node = targets
                .iter()
                .find(|t| TargetSpec::parse(t).is_ok_and(|s| s.is_node_peer()));
            if let (Some(node), true) = (node, v > 1) {
                let msg = format!(
                    "the Node peers serve one workspace (got {v} with target {node}): list \
                     Rust targets only"
                );
                return Err(err(&at("polling.workspaces", w.span().start), msg));
            }
            v as u32
        }
    };

    if workload == WorkloadKind::PollingVsPush {
        pvp_variants_have_targets(file, text, raw, workload_line, &targets, &variants)?;
    }

    Ok(Common {
        name: name.v,
        description: raw
            .description
            .as_ref()
            .map(|d| d.get_ref().clone())
            .unwrap_or_default(),
        workload,
        workload_line,
        targets,
        encoding,
        max_message_bytes,
        phases,
        variants,
        workspaces,
        polling_line: raw.polling.as_ref().map(|p| line_of(text, p.span().start)),
        server_cpus,
        floor,
        rate_limit,
        fault,
        slow: crate::slow::common(text, raw),
        network: crate::network::common(text, raw),
    })
}

/// Most dashboards `[polling].workspaces` may ask for (the servers' own limit).
pub const MAX_WORKSPACES: u32 = 100_000;

/// polling-vs-push: each variant runs on the targets of its kind (Socket.IO or raw
/// WebSocket, [`TargetSpec::is_socket_io`]; the plain-HTTP variants on any HTTP target), so
/// each variant needs at least one of them. A target with no variant of its kind simply has
/// no rows.
fn pvp_variants_have_targets(
    file: &str,
    text: &str,
    raw: &RawFile,
    workload_line: usize,
    targets: &[String],
    variants: &[PvpVariant],
) -> Result<(), ScenarioError> {
    for v in variants {
        if targets
            .iter()
            .any(|t| TargetSpec::parse(t).is_ok_and(|s| s.runs_variant(*v)))
        {
            continue;
        }
        let kind = match v.servers() {
            VariantServers::SocketIo => {
                "a Socket.IO target (sio-socketioxide, node-socketio or sio=http://HOST:PORT)"
            }
            VariantServers::RawWebSocket => {
                "a raw WebSocket target (ws-tungstenite, ws-fastwebsockets, node-ws or ws=ws://HOST:PORT/PATH)"
            }
            VariantServers::AnyHttp => "an HTTP target (any but tcp)",
        };
        let line = raw
            .polling
            .as_ref()
            .and_then(|p| p.get_ref().variants.as_ref())
            .map_or(workload_line, |l| line_of(text, l.span().start));
        let at = Origin::File {
            line,
            key: "polling.variants".into(),
        };
        let msg = format!(
            "variant '{}' needs {kind} among the targets (got {})",
            v.name(),
            targets.join(", ")
        );
        return Err(at.error(file, msg));
    }
    Ok(())
}

/// `--targets`, else `targets`, else [`DEFAULT_TARGETS`]; each checked, then `all`
/// expanded to the built-ins that can run the workload.
fn targets(
    text: &str,
    file: &str,
    raw: &RawFile,
    ov: &Overrides,
    workload: WorkloadKind,
) -> Result<Vec<String>, ScenarioError> {
    let given: Vec<Val<String>> = match (&ov.targets, &raw.targets) {
        (Some(list), _) => {
            let at = Origin::Flag(flag::TARGETS);
            list.iter()
                .map(|t| Val {
                    v: t.trim().to_string(),
                    at: at.clone(),
                })
                .collect()
        }
        (None, Some(list)) if list.get_ref().is_empty() => {
            let at = Origin::File {
                line: line_of(text, list.span().start),
                key: "targets".into(),
            };
            return Err(at.error(file, "must name at least one target"));
        }
        (None, Some(list)) => list
            .get_ref()
            .iter()
            .map(|t| Val::file(text, "targets", t))
            .collect(),
        (None, None) => {
            let defaults = DEFAULT_TARGETS
                .iter()
                .filter_map(|t| TargetSpec::parse(t).ok());
            return Ok(defaults
                .filter(|t| t.supports(workload))
                .map(|t| t.to_string())
                .collect());
        }
    };
    if given.is_empty() {
        return Err(Origin::Flag(flag::TARGETS).error(file, "must name at least one target"));
    }
    for t in &given {
        if t.v == ALL_TARGETS {
            continue;
        }
        let spec = TargetSpec::parse(&t.v).map_err(|e| t.at.error(file, e.to_string()))?;
        if !spec.supports(workload) {
            let msg = format!(
                "target '{}' cannot run {} (it serves no HTTP for the REST routes)",
                t.v,
                workload.name()
            );
            return Err(t.at.error(file, msg));
        }
    }
    let names: Vec<String> = given.into_iter().map(|t| t.v).collect();
    let expanded = expand_targets(&names).into_iter();
    Ok(expanded
        .filter(|t| TargetSpec::parse(t).is_ok_and(|s| s.supports(workload)))
        .collect())
}

/// `[phases]` with defaults, then `--quick`, then the phase flags.
fn phases(
    text: &str,
    file: &str,
    raw: &RawFile,
    ov: &Overrides,
    workload_line: usize,
) -> Result<Phases, ScenarioError> {
    let p = raw.phases.as_ref().map(|p| p.get_ref());
    let (dw, dm, dd) = DEFAULT_PHASES_S;
    let pick = |key: &str, v: Option<&toml::Spanned<f64>>, default: f64| match v {
        Some(s) => Val::file(text, &format!("phases.{key}"), s),
        None => Val {
            v: default,
            at: Origin::Default {
                line: workload_line,
                key: format!("phases.{key}"),
            },
        },
    };
    let chosen = |f: &'static str, over: Option<f64>, key: &str, v, default| match over {
        Some(v) => Val {
            v,
            at: Origin::Flag(f),
        },
        None => pick(key, v, default),
    };
    let warmup = chosen(
        flag::WARMUP_S,
        ov.warmup_s,
        "warmup_s",
        p.and_then(|p| p.warmup_s.as_ref()),
        dw,
    );
    let measure = chosen(
        flag::MEASURE_S,
        ov.measure_s,
        "measure_s",
        p.and_then(|p| p.measure_s.as_ref()),
        dm,
    );
    let drain = chosen(
        flag::DRAIN_S,
        ov.drain_s,
        "drain_s",
        p.and_then(|p| p.drain_s.as_ref()),
        dd,
    );
    let seconds = |v: &Val<f64>, positive: bool| -> Result<Duration, ScenarioError> {
        let ok = v.v.is_finite() && if positive { v.v > 0.0 } else { v.v >= 0.0 };
        if !ok {
            let rule = if positive { "> 0" } else { ">= 0" };
            return Err(v.at.error(
                file,
                format!("must be a number of seconds {rule} (got {})", v.v),
            ));
        }
        Duration::try_from_secs_f64(v.v)
            .map_err(|_| v.at.error(file, format!("too long (got {} s)", v.v)))
    };
    let given = Phases {
        warmup: seconds(&warmup, false)?,
        measure: seconds(&measure, true)?,
        drain: seconds(&drain, false)?,
    };
    // --quick shrinks what the file (or the defaults) say; an explicit phase flag stands.
    let quick = ov.quicken(given);
    let flagged = |v: &Val<f64>| matches!(v.at, Origin::Flag(_));
    let phases = Phases {
        warmup: if flagged(&warmup) {
            given.warmup
        } else {
            quick.warmup
        },
        measure: if flagged(&measure) {
            given.measure
        } else {
            quick.measure
        },
        drain: if flagged(&drain) {
            given.drain
        } else {
            quick.drain
        },
    };
    Ok(phases)
}
