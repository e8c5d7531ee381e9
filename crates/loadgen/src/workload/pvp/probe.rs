//! The stats probe of a polling-vs-push row: `POST /api/stats/reset` at measure start and
//! `GET /api/stats` at measure end on a connection of its own, with the server's CPU read
//! beside each, giving the measure [`Window`] and what the server counted in it.

use std::time::{Duration, Instant};

use super::tally::Window;
use crate::row::{CpuMark, PointCtx, RowTarget};
use crate::transport::HttpClient;

/// The stats probe's requests are bounded by this.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What `GET /api/stats` says (the fields the row needs).
#[derive(Debug, serde::Deserialize)]
pub(super) struct Stats {
    pub(super) db_queries_app: u64,
    /// `null` from a server whose database has no engine-side count (the Node peers on
    /// sql.js): the row leaves the cell empty and claims no agreement.
    pub(super) db_queries_engine: Option<u64>,
    pub(super) http_requests: u64,
    #[serde(default)]
    pub(super) engine_count_source: String,
    /// Conditional GETs answered 304 from memory / after a query (Rust servers only).
    #[serde(default)]
    pub(super) etag_304_memory: Option<u64>,
    #[serde(default)]
    pub(super) etag_304_query: Option<u64>,
    /// `poll-cached` answers from the cache / after a SELECT.
    #[serde(default)]
    pub(super) cache_hits: Option<u64>,
    #[serde(default)]
    pub(super) cache_misses: Option<u64>,
}

/// True when cancelled before `until`.
pub(super) async fn sleep_or_cancel(until: Instant, ctx: &PointCtx<'_>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(until.into()) => false,
        _ = ctx.cancel.cancelled() => true,
    }
}

/// Reset now, read at `end` (or on cancel): the window and the CPU and stats of it.
pub(super) async fn measure(
    probe: &mut HttpClient,
    ctx: &PointCtx<'_>,
    target: &RowTarget<'_>,
    end: Instant,
) -> Result<(Window, (CpuMark, CpuMark), Stats), String> {
    let from = CpuMark::now(target);
    let reset_sent = Instant::now();
    probe_call(
        probe.post_json("/api/stats/reset", "{}"),
        "POST /api/stats/reset",
    )
    .await?;
    let reset_done = Instant::now();
    sleep_or_cancel(end, ctx).await;
    let read_sent = Instant::now();
    let body = probe_call(probe.get_json("/api/stats"), "GET /api/stats").await?;
    let read_done = Instant::now();
    let to = CpuMark::now(target);
    let stats: Stats = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "GET /api/stats: unexpected answer ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    })?;
    let window = Window {
        reset_sent,
        reset_done,
        read_sent,
        read_done,
    };
    Ok((window, (from, to), stats))
}

pub(super) async fn probe_call(
    call: impl Future<Output = Result<(u16, bytes::Bytes), crate::transport::TransportError>>,
    what: &str,
) -> Result<bytes::Bytes, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, call).await {
        Ok(Ok((200, body))) => Ok(body),
        Ok(Ok((status, body))) => Err(format!(
            "{what}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer in {PROBE_TIMEOUT:?}")),
    }
}
