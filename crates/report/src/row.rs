//! One row of `summary.csv`: one target × sweep point × repeat. The first columns are
//! docs/design.md §7's, in its order and with its names (checked from outside); columns after
//! `errors` are wsbench's additions.
//!
//! The serde form of [`SummaryRow`] is its `summary.csv` form: floats are written with at
//! most six decimals and no trailing zeros (`12.5`, `3`, `0.0004`: exact for every figure
//! wsbench records, short to read), `None` is an empty cell, bools are `true`/`false` (read
//! leniently: `1`, `0` and empty too).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A measured row. Latencies are microseconds from the intended send time (coordinated
/// omission corrected) unless the name says otherwise. `None` is written as an empty cell
/// (the metric does not apply to this workload).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SummaryRow {
    /// Identifies the run (directory name); shared by every row of one `wsbench run`.
    pub run_id: String,
    /// Scenario name (the TOML's `name`).
    pub scenario: String,
    /// Target name (`ws-tungstenite`, `node-socketio`, `sio=http://…`).
    pub target: String,
    /// What carried the messages: `tcp`, `websocket`, `polling`, `polling-upgrade`, `http`.
    pub transport: String,
    /// Connected clients.
    pub clients: u64,
    /// Clients that publish.
    pub publishers: u64,
    /// Rooms in use (0 where the workload has none).
    pub rooms: u64,
    /// Intended total publish rate, messages per second (0 for closed loop).
    #[serde(serialize_with = "float_cell")]
    pub rate: f64,
    /// Serialised size of each message's `data` object.
    pub payload_bytes: u64,
    /// Length of the measure phase, seconds.
    #[serde(serialize_with = "float_cell")]
    pub measure_s: f64,
    /// Messages published during the measure phase.
    pub sent: u64,
    /// Deliveries the semantics require for those messages (summed over recipients).
    pub expected: u64,
    /// Deliveries that arrived (first copies).
    pub delivered: u64,
    /// Expected deliveries that never arrived by the end of drain.
    pub lost: u64,
    /// Deliveries that arrived more than once (extra copies).
    pub duplicated: u64,
    /// Deliveries that arrived after a later `seq` from the same sender.
    pub reordered: u64,
    /// delivered / measure_s.
    #[serde(serialize_with = "float_cell")]
    pub deliveries_per_s: f64,
    pub lat_p50_us: u64,
    pub lat_p90_us: u64,
    pub lat_p99_us: u64,
    pub lat_p999_us: u64,
    pub lat_max_us: u64,
    #[serde(serialize_with = "float_cell")]
    pub lat_mean_us: f64,
    /// p99 measured from the actual send time (what a closed-loop tool would report).
    pub lat_uncorrected_p99_us: u64,
    pub connect_p50_us: u64,
    pub connect_p99_us: u64,
    pub connect_errors: u64,
    /// Server CPU time (user + system) during the measure phase; empty for external targets.
    #[serde(serialize_with = "opt_float_cell")]
    pub server_cpu_s: Option<f64>,
    /// Server peak resident set size (VmHWM); empty for external targets.
    pub server_rss_peak_kb: Option<u64>,
    /// Load generator CPU time during the measure phase.
    #[serde(serialize_with = "float_cell")]
    pub loadgen_cpu_s: f64,
    /// True when the load generator, not the server, was the limit (CPU saturated or sends
    /// lagging their schedule).
    #[serde(deserialize_with = "bool_cell")]
    pub loadgen_bound: bool,
    /// Queries counted by the server's DB layer (measure phase).
    pub db_queries_app: Option<u64>,
    /// Queries counted by the database engine (measure phase).
    pub db_queries_engine: Option<u64>,
    /// HTTP requests the server handled (measure phase).
    pub http_requests: Option<u64>,
    #[serde(serialize_with = "opt_float_cell")]
    pub staleness_p50_ms: Option<f64>,
    #[serde(serialize_with = "opt_float_cell")]
    pub staleness_p99_ms: Option<f64>,
    /// Bytes the load generator wrote / read on its sockets (handshakes included).
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Errors seen (failed sends, error replies, unexpected closes).
    pub errors: u64,
    // ---- wsbench additions (after the fixed columns) ----
    /// Trial number, 1-based (`--repeat`).
    pub repeat: u32,
    /// Sweep point as `key=value;key=value` (empty without sweeps).
    pub sweep: String,
    /// The workload variant (`to_all`, `poll`, `push-ws`, `closed-loop`, …).
    pub variant: String,
    /// True when the row was cut short (Ctrl-C) and holds what was measured until then.
    #[serde(deserialize_with = "bool_cell")]
    pub partial: bool,
    /// Versions a viewer never saw (polling-vs-push).
    pub versions_missed: Option<u64>,
    /// Whether `db_queries_app == db_queries_engine` (empty where not counted).
    pub db_counts_agree: Option<bool>,
    /// 99th percentile of how late sends left against their schedule, microseconds.
    pub send_lag_p99_us: u64,
    /// Free text: why a row is flagged.
    pub notes: String,
    /// Time the server waited for CPU under its CPU budget (`server_cpus`) during the
    /// measure phase, ms (CFS throttling); empty without a budget.
    #[serde(serialize_with = "opt_float_cell")]
    pub server_throttled_ms: Option<f64>,
    /// 99th percentile of the load generator's read lag: when a worker took a delivery
    /// minus when the kernel received the read that completed it, microseconds (measured
    /// deliveries with a kernel stamp); empty where none was recorded.
    pub read_lag_p99_us: Option<u64>,
    /// `floor = true` rows: round trips per second of the floor client (`wsbench floor`)
    /// run right after the row against the same server, pinning, clients, payload and
    /// measure time; empty otherwise.
    #[serde(serialize_with = "opt_float_cell")]
    pub floor_deliveries_per_s: Option<f64>,
    /// `floor = true` rows: the floor client's thread CPU time during its measure phase, s.
    #[serde(serialize_with = "opt_float_cell")]
    pub floor_loadgen_cpu_s: Option<f64>,
    /// `floor = true` rows: the server's CPU time while the floor client measured, s (empty
    /// for a server the run did not start).
    #[serde(serialize_with = "opt_float_cell")]
    pub floor_server_cpu_s: Option<f64>,
    /// Server processes of the target, one cluster over Redis when above 1 (`nodes`); empty
    /// in files written before the column existed.
    pub nodes: Option<u32>,
    /// Load-generator processes the row ran on (1: this process); empty in older files.
    pub agents: Option<u32>,
    /// CPU time Redis used during the measure phase (`INFO` `used_cpu_sys + used_cpu_user`
    /// delta), s; empty for a row without a cluster.
    #[serde(serialize_with = "opt_float_cell")]
    pub redis_cpu_s: Option<f64>,
    /// Peak resident memory of the load generator process so far (getrusage `ru_maxrss`),
    /// KB: the process's high-water mark at the end of the row, over the run until then.
    pub loadgen_rss_peak_kb: Option<u64>,
    /// PUBLISH commands Redis executed during the measure phase per delivery counted in
    /// the row (`INFO commandstats` delta / `delivered`); empty for a row without a cluster
    /// or without deliveries.
    #[serde(serialize_with = "opt_float_cell")]
    pub redis_msgs_per_delivery: Option<f64>,
    /// polling-vs-push: bytes on the wire (both ways, the viewers' connections) per viewer
    /// per dashboard version, over the measure window: window bytes ÷ (viewer, version)
    /// pairs due. Empty for other workloads.
    #[serde(serialize_with = "opt_float_cell")]
    pub bytes_per_update: Option<f64>,
    /// polling-vs-push: rows of another workspace that viewers received (each also an
    /// error). Empty for other workloads.
    pub isolation_errors: Option<u64>,
    /// `rate_limit` rows: requests the server refused as `rate limited` (its own count, from
    /// `/api/stats`); empty otherwise and for tcp.
    pub rate_limited: Option<u64>,
    /// `[restart]` rows: median time from the kill to a client's reconnection (handshake
    /// done), ms, over the clients that came back; empty otherwise.
    #[serde(serialize_with = "opt_float_cell")]
    pub reconnect_p50_ms: Option<f64>,
    /// `[restart]` rows: 99th percentile of the same, ms.
    #[serde(serialize_with = "opt_float_cell")]
    pub reconnect_p99_ms: Option<f64>,
    /// `[restart]` rows: clients connected again by the end of the drain (of `clients`).
    pub reconnected: Option<u64>,
    /// `[restart]` rows: echoes due in the measure phase that never came back: sent into
    /// the dying connection or due while the client was away (raw clients drop those;
    /// Socket.IO clients buffer them and send them on reconnection).
    pub lost_during_outage: Option<u64>,
    /// `[restart]` rows: clients the restarted server took back per second, from the
    /// first reconnection to the last (the reconnect storm as the server accepted it).
    #[serde(serialize_with = "opt_float_cell")]
    pub reconnect_accept_rate: Option<f64>,
    /// `[churn]` rows: the server's open file descriptors after the churn and settle minus
    /// before it (0: every connection's fd was closed); empty otherwise.
    pub leak_fds: Option<i64>,
    /// `[churn]` rows: the server's rooms after minus before (its `/api/stats` `rooms`);
    /// empty otherwise and where the server does not report rooms (tcp).
    pub leak_rooms: Option<i64>,
    /// `[churn]` rows: the server's resident memory after minus before, KB (allocators
    /// keep freed memory, so a small positive figure is not by itself a leak).
    pub leak_rss_kb: Option<i64>,
    /// `slow_share` rows: clients that stopped reading during the measure phase (the last
    /// by index); the row's `expected`, `delivered`, `lost` and latency are the others'.
    pub slow_clients: Option<u64>,
    /// `slow_share` rows: the servers' policy for a full outbound queue (`drop`,
    /// `disconnect`, or `none`: no bound).
    pub slow_policy: Option<String>,
    /// `slow_share` rows: deliveries the slow clients read once they read again after the
    /// drain (first copies of measure-phase messages).
    pub slow_delivered: Option<u64>,
    /// `slow_share` rows: deliveries owed to the slow clients that never reached them.
    pub slow_lost: Option<u64>,
    /// `slow_share` rows: slow clients the server closed.
    pub slow_closed: Option<u64>,
    /// `slow_share` rows: deliveries the server says it dropped (`/api/stats` `dropped`);
    /// empty for a server that keeps no such count.
    pub server_dropped: Option<u64>,
    /// `slow_share` rows: connections the server says it closed as slow consumers
    /// (`/api/stats` `slow_disconnects`); empty where it keeps no such count.
    pub server_slow_disconnects: Option<u64>,
    /// `[network]` rows: connections the fault proxy reset on purpose.
    pub proxy_resets: Option<u64>,
    /// `[network]` rows: stalls the fault proxy began.
    pub proxy_stalls: Option<u64>,
    /// `namespaces` rows: connections the load generator held (one per client on Socket.IO,
    /// which multiplexes; one per client and namespace on raw WebSocket); empty otherwise.
    pub sockets: Option<u64>,
    /// `cors = "preflight"` rows: CORS preflights (`OPTIONS`) the long-polling clients sent
    /// (one before every POST); empty otherwise.
    pub cors_preflights: Option<u64>,
}

impl SummaryRow {
    /// The count that follows `prefix` in the row's notes (`"; of "` in `…; of 600 echoes
    /// due` → 600): the counts a row states only in words (echoes not sent, attempts that
    /// failed), for tools and tests that check a row's accounting. `None` when the notes
    /// do not say it.
    pub fn note_number(&self, prefix: &str) -> Option<u64> {
        let at = self.notes.find(prefix)?;
        self.notes[at + prefix.len()..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
    }
}

/// Formats a float with at most six decimals and no trailing zeros (`12.5`, `0.0004`, `3`).
pub(crate) fn format_float(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn float_cell<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_float(*v))
}

fn opt_float_cell<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&format_float(*v)),
        None => s.serialize_none(),
    }
}

/// `true`/`1` and `false`/`0`/empty (older files and hand-edited ones).
fn bool_cell<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let text = String::deserialize(d)?;
    match text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected true or false, found {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_short_and_exact_to_six_decimals() {
        assert_eq!(format_float(12.5), "12.5");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(0.0004), "0.0004");
        assert_eq!(format_float(1.0 / 3.0), "0.333333");
        assert_eq!(format_float(-0.0000001), "0");
        assert_eq!(format_float(f64::INFINITY), "inf");
    }

    #[test]
    fn a_count_in_the_notes_is_read_after_its_prefix() {
        let row = SummaryRow {
            notes: "3 of 20 clients lost their connection; of 600 echoes due, 12 were not sent"
                .into(),
            ..SummaryRow::default()
        };
        assert_eq!(row.note_number("; of "), Some(600));
        assert_eq!(row.note_number("echoes due, "), Some(12));
        assert_eq!(row.note_number("not in the notes"), None);
        assert_eq!(row.note_number("were "), None);
    }
}
