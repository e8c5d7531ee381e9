//! The file as written: serde structs that mirror the TOML keys one to one, every value
//! wrapped in `toml::Spanned` so a later error can name its line.
//!
//! Also the key lists of each table and the two span lookups the error messages need:
//! which keys are unknown (checked here, before serde, so the message can list the valid
//! keys) and which key a serde error's span falls in.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{ScenarioError, line_of};

/// Keys of the top-level table, in the order docs/scenarios.md lists them.
pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "workload",
    "targets",
    "clients",
    "publishers",
    "rate",
    "arrival",
    "mode",
    "payload_bytes",
    "encoding",
    "op",
    "rooms",
    "connect_rate",
    "max_message_bytes",
    "server_cpus",
    "nodes",
    "floor",
    "jwt",
    "rate_limit",
    "slow_share",
    "slow_consumer",
    "outbound_queue",
    "namespaces",
    "over_limit",
    "cors",
    "phases",
    "polling",
    "restart",
    "churn",
    "network",
    "sweep",
];
/// Keys of `[phases]`.
pub(crate) const PHASES_KEYS: &[&str] = &["warmup_s", "measure_s", "drain_s"];
/// Keys of `[polling]`.
pub(crate) const POLLING_KEYS: &[&str] =
    &["poll_interval_ms", "update_rate", "variants", "workspaces"];
/// Keys of `[network]`.
pub(crate) const NETWORK_KEYS: &[&str] = &[
    "delay_ms",
    "jitter_ms",
    "bandwidth_kbps",
    "stall_every_s",
    "stall_ms",
    "reset_every_s",
];
/// Keys of `[sweep]`: the scalar settings that may take a list of values.
pub(crate) const SWEEP_KEYS: &[&str] = &[
    "clients",
    "publishers",
    "rate",
    "payload_bytes",
    "rooms",
    "op",
    "arrival",
    "mode",
    "connect_rate",
    "poll_interval_ms",
    "update_rate",
    "nodes",
    "jwt",
    "slow_consumer",
    "delay_ms",
    "namespaces",
    "over_limit",
    "cors",
];

/// A list whose elements keep their own spans (sweep values, targets, variants).
pub(crate) type SpannedList<T> = Spanned<Vec<Spanned<T>>>;

/// The top-level table. Integers are read as `i64` and floats as `f64` so that range
/// mistakes (negative counts, zero rates) get our message, not serde's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub name: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub workload: Option<Spanned<String>>,
    pub targets: Option<SpannedList<String>>,
    pub clients: Option<Spanned<i64>>,
    pub publishers: Option<Spanned<i64>>,
    pub rate: Option<Spanned<f64>>,
    pub arrival: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub payload_bytes: Option<Spanned<i64>>,
    pub encoding: Option<Spanned<String>>,
    pub op: Option<Spanned<String>>,
    pub rooms: Option<Spanned<i64>>,
    pub connect_rate: Option<Spanned<f64>>,
    pub max_message_bytes: Option<Spanned<i64>>,
    pub server_cpus: Option<Spanned<f64>>,
    pub nodes: Option<Spanned<i64>>,
    pub floor: Option<Spanned<bool>>,
    pub jwt: Option<Spanned<String>>,
    pub rate_limit: Option<Spanned<i64>>,
    pub slow_share: Option<Spanned<f64>>,
    pub slow_consumer: Option<Spanned<String>>,
    pub outbound_queue: Option<Spanned<i64>>,
    pub namespaces: Option<Spanned<i64>>,
    pub over_limit: Option<Spanned<i64>>,
    pub cors: Option<Spanned<String>>,
    pub phases: Option<Spanned<RawPhases>>,
    pub polling: Option<Spanned<RawPolling>>,
    pub restart: Option<Spanned<crate::faults::RawRestart>>,
    pub churn: Option<Spanned<crate::faults::RawChurn>>,
    pub network: Option<Spanned<RawNetwork>>,
    pub sweep: Option<Spanned<RawSweep>>,
}

/// `[phases]`, seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPhases {
    pub warmup_s: Option<Spanned<f64>>,
    pub measure_s: Option<Spanned<f64>>,
    pub drain_s: Option<Spanned<f64>>,
}

/// `[polling]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolling {
    pub poll_interval_ms: Option<Spanned<f64>>,
    pub update_rate: Option<Spanned<f64>>,
    pub variants: Option<SpannedList<String>>,
    pub workspaces: Option<Spanned<i64>>,
}

/// `[network]`: the fault proxy between the clients and the server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub delay_ms: Option<Spanned<f64>>,
    pub jitter_ms: Option<Spanned<f64>>,
    pub bandwidth_kbps: Option<Spanned<i64>>,
    pub stall_every_s: Option<Spanned<f64>>,
    pub stall_ms: Option<Spanned<f64>>,
    pub reset_every_s: Option<Spanned<f64>>,
}

/// `[sweep]`: each key a list of values for the top-level (or `[polling]`) key of that name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSweep {
    pub clients: Option<SpannedList<i64>>,
    pub publishers: Option<SpannedList<i64>>,
    pub rate: Option<SpannedList<f64>>,
    pub payload_bytes: Option<SpannedList<i64>>,
    pub rooms: Option<SpannedList<i64>>,
    pub op: Option<SpannedList<String>>,
    pub arrival: Option<SpannedList<String>>,
    pub mode: Option<SpannedList<String>>,
    pub connect_rate: Option<SpannedList<f64>>,
    pub poll_interval_ms: Option<SpannedList<f64>>,
    pub update_rate: Option<SpannedList<f64>>,
    pub nodes: Option<SpannedList<i64>>,
    pub jwt: Option<SpannedList<String>>,
    pub slow_consumer: Option<SpannedList<String>>,
    pub delay_ms: Option<SpannedList<f64>>,
    pub namespaces: Option<SpannedList<i64>>,
    pub over_limit: Option<SpannedList<i64>>,
    pub cors: Option<SpannedList<String>>,
}

/// Parses `text` into [`RawFile`], turning every toml / serde error into a
/// [`ScenarioError`] that names the line and, where the span falls in one, the key.
pub(crate) fn parse_raw(text: &str, file: &str) -> Result<RawFile, ScenarioError> {
    let doc = DeTable::parse(text).map_err(|e| syntax_error(&e, text, file))?;
    check_keys(doc.get_ref(), "", TOP_KEYS, text, file)?;
    toml::from_str::<RawFile>(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        match e.span().and_then(|s| locate_key(doc.get_ref(), &s)) {
            Some(key) => ScenarioError::Invalid {
                file: file.to_string(),
                line,
                key,
                message: plain_types(e.message().trim()),
            },
            None => syntax_error(&e, text, file),
        }
    })
}

fn syntax_error(e: &toml::de::Error, text: &str, file: &str) -> ScenarioError {
    let mut message = e.message().trim().replace('\n', "; ");
    // Name the key a duplicate-key error points at.
    if let Some(key) = e
        .span()
        .and_then(|s| text.get(s))
        .filter(|k| !k.trim().is_empty())
        && message.starts_with("duplicate key")
    {
        message = format!("duplicate key '{}'", key.trim());
    }
    ScenarioError::Syntax {
        file: file.to_string(),
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message,
    }
}

/// serde's Rust type names in TOML words.
fn plain_types(message: &str) -> String {
    message
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected a list")
}

/// Reports the first (by position) key of `table` not in `known`, then recurses into the
/// known sub-tables.
fn check_keys(
    table: &DeTable<'_>,
    prefix: &str,
    known: &'static [&'static str],
    text: &str,
    file: &str,
) -> Result<(), ScenarioError> {
    let unknown = table
        .iter()
        .filter(|(k, _)| !known.contains(&&**k.get_ref()))
        .min_by_key(|(k, _)| k.span().start);
    if let Some((k, _)) = unknown {
        return Err(ScenarioError::UnknownKey {
            file: file.to_string(),
            line: line_of(text, k.span().start),
            key: format!("{prefix}{}", k.get_ref()),
            expected: known.to_vec(),
        });
    }
    if !prefix.is_empty() {
        return Ok(());
    }
    let tables = [
        ("phases", PHASES_KEYS),
        ("polling", POLLING_KEYS),
        ("restart", crate::faults::RESTART_KEYS),
        ("churn", crate::faults::CHURN_KEYS),
        ("network", NETWORK_KEYS),
        ("sweep", SWEEP_KEYS),
    ];
    for (k, v) in table.iter() {
        let sub_keys = tables.iter().find(|(name, _)| *name == &**k.get_ref());
        if let (Some((name, keys)), DeValue::Table(sub)) = (sub_keys, v.get_ref()) {
            check_keys(sub, &format!("{name}."), keys, text, file)?;
        }
    }
    Ok(())
}

/// The dotted path of the innermost key whose key or value span contains `span.start`.
fn locate_key(table: &DeTable<'_>, span: &Range<usize>) -> Option<String> {
    let inside = |r: Range<usize>| r.start <= span.start && span.start < r.end.max(r.start + 1);
    for (k, v) in table.iter() {
        if let DeValue::Table(sub) = v.get_ref()
            && let Some(inner) = locate_key(sub, span)
        {
            return Some(format!("{}.{inner}", k.get_ref()));
        }
        if inside(k.span()) || inside(v.span()) {
            return Some(k.get_ref().to_string());
        }
    }
    None
}
