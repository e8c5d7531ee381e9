//! The `rate_limited` column: with `rate_limit` set, after the row the server's own count of
//! requests it refused as `rate limited` is read from `GET /api/stats`. Built-in and Node
//! servers are started fresh for each row, so the count is the row's (warmup and drain
//! included); tcp has no HTTP, so its column stays empty and a note says why. The stats
//! request itself ([`server_stats`]) also serves the slow-consumer counts (`super::slow`).

use std::time::Duration;

use wsbench_report::row::SummaryRow;
use wsbench_scenario::Scenario;

use crate::row::{RowTarget, push_note};
use crate::transport::{Endpoint, HttpClient};

/// Bound of the stats request.
const STATS_TIMEOUT: Duration = Duration::from_secs(5);

/// Fills `row.rate_limited` from the server when the scenario limits the rate.
pub async fn fill_rate_limited(row: &mut SummaryRow, s: &Scenario, target: &RowTarget<'_>) {
    if s.production.rate_limit.is_none() {
        return;
    }
    if let Endpoint::Tcp(_) = target.endpoint {
        push_note(
            row,
            "rate_limited: tcp has no /api/stats (refusals are in errors)".into(),
        );
        return;
    }
    match stats_count(target.endpoint, "rate_limited").await {
        Ok(n) => row.rate_limited = Some(n),
        Err(why) => push_note(row, format!("rate_limited: {why}")),
    }
}

/// The server's count `field` from `GET /api/stats`.
pub(crate) async fn stats_count(endpoint: &Endpoint, field: &str) -> Result<u64, String> {
    server_stats(endpoint).await.and_then(|v| {
        v.get(field)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("the server's /api/stats has no {field} count"))
    })
}

/// The server's `GET /api/stats` (its counters since start: a fresh server per row), within
/// [`STATS_TIMEOUT`].
pub(crate) async fn server_stats(endpoint: &Endpoint) -> Result<serde_json::Value, String> {
    let (addr, host) = match endpoint {
        Endpoint::Tcp(_) => return Err("tcp has no /api/stats".into()),
        Endpoint::Ws { addr, host, .. } | Endpoint::Sio { addr, host, .. } => (*addr, host),
    };
    match tokio::time::timeout(STATS_TIMEOUT, get_stats(addr, host)).await {
        Ok(r) => r,
        Err(_) => Err("GET /api/stats timed out".into()),
    }
}

async fn get_stats(addr: std::net::SocketAddr, host: &str) -> Result<serde_json::Value, String> {
    let mut http = HttpClient::connect(addr, host)
        .await
        .map_err(|e| e.to_string())?;
    let (status, body) = http
        .get_json("/api/stats")
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("GET /api/stats answered HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET /api/stats: {e}"))
}
