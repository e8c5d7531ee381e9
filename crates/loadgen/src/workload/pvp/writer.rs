//! The dashboard writer of polling-vs-push: one keep-alive HTTP connection that POSTs
//! `{"value":k}` to `/api/dashboard` at `update_rate` per second, on a schedule of intended
//! times (open loop; a slow POST makes the next one late, never skipped), from the start of
//! warmup to the end of measure. With W > 1 workspaces write k goes to workspace
//! `k % W + 1` (`?workspace=K`) with the value `{"workspace":K,"n":k}`, so a viewer can tell
//! whose update it received. Each write is logged with the version the server returned
//! and when its response was received (the kernel's stamp of the read that completed it).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::tally::{Exchange, Write, version_of};
use crate::transport::rxstamp::{ReceiveTime, RxClock};
use crate::transport::{ByteCounts, HttpClient};

/// A single POST is bounded by this.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the writer did.
#[derive(Debug, Default)]
pub struct WriterReport {
    /// Every write the server confirmed, in order.
    pub writes: Vec<Write>,
    /// Every POST issued (for the window's request bounds).
    pub posts: Vec<Exchange>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub bytes: ByteCounts,
    /// 99th percentile of how late POSTs left against their schedule, µs.
    pub lag_p99_us: u64,
    /// Writes that left later than the load-generator-bound limit.
    pub late_sends: u64,
}

/// Writes from `start` until `until` (exclusive) at `rate` per second over `workspaces`
/// dashboards, or until `cancel`; `rx_clock` maps the responses' kernel stamps.
pub async fn run_writer(
    mut client: HttpClient,
    rate: f64,
    workspaces: u32,
    start: Instant,
    until: Instant,
    rx_clock: RxClock,
    cancel: CancellationToken,
) -> WriterReport {
    let mut report = WriterReport::default();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut lags = crate::recorder::new_histogram();
    let mut k: u64 = 0;
    loop {
        let due = start + interval.mul_f64(k as f64);
        if due >= until {
            break;
        }
        tokio::select! {
            _ = crate::engine::timer::sleep_until(due) => {}
            _ = cancel.cancelled() => break,
        }
        let sent_at = Instant::now();
        let _ = lags.record(crate::recorder::micros(sent_at - due));
        let workspace = (k % u64::from(workspaces)) as u32 + 1;
        let (path, body) = if workspaces == 1 {
            ("/api/dashboard".to_owned(), format!("{{\"value\":{k}}}"))
        } else {
            (
                format!("/api/dashboard?workspace={workspace}"),
                format!("{{\"value\":{{\"workspace\":{workspace},\"n\":{k}}}}}"),
            )
        };
        let result = tokio::time::timeout(POST_TIMEOUT, client.post_json(&path, body)).await;
        let done_at = Instant::now();
        let received = ReceiveTime::new(done_at, client.last_rx(), &rx_clock);
        let failure = match result {
            Ok(Ok((200, resp))) => match version_of(&resp) {
                Some(version) => {
                    report.writes.push(Write {
                        workspace,
                        version,
                        returned_at: received.instant(),
                    });
                    None
                }
                None => Some(format!(
                    "POST /api/dashboard: response is not a dashboard row: {}",
                    String::from_utf8_lossy(&resp)
                )),
            },
            Ok(Ok((status, resp))) => Some(format!(
                "POST /api/dashboard: HTTP {status}: {}",
                String::from_utf8_lossy(&resp)
            )),
            Ok(Err(e)) => Some(format!("POST /api/dashboard: {e}")),
            Err(_) => Some(format!(
                "POST /api/dashboard: no answer in {POST_TIMEOUT:?}"
            )),
        };
        report.posts.push(Exchange {
            sent_at,
            done_at,
            answered: failure.is_none(),
        });
        if let Some(e) = failure {
            report.errors += 1;
            report.first_error.get_or_insert(format!("writer: {e}"));
        }
        k += 1;
    }
    report.bytes = client.bytes();
    report.lag_p99_us = crate::recorder::quantile(&lags, 0.99);
    report.late_sends = crate::row::late_sends(&lags);
    report
}
