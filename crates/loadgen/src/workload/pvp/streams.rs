//! The viewers that get updates over plain HTTP without a poll schedule:
//!
//! - `long-poll`: a snapshot `GET /api/dashboard/wait` (no `after`: the newest row at
//!   once) before warmup, then back-to-back hanging `GET /api/dashboard/wait?after=V` on
//!   one keep-alive connection; each 200 is the first version after V (a sight), a 204 is
//!   the server's timeout (asked again at once). The request out at the end of drain is
//!   abandoned.
//! - `sse`: one `GET /api/dashboard/events` whose `text/event-stream` body carries the
//!   newest row (the snapshot, before warmup) and then every committed row, one `data:`
//!   event each.
//!
//! Both report sights, requests and window bytes as the other viewers do.

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::tally::Exchange;
use super::viewer::{Ready, Timeline, ViewerReport, ViewerSpec, Watch, WindowBytes, accept_row};
use super::window::sample_window;
use crate::recorder::micros;
use crate::transport::HttpClient;
use crate::transport::rxstamp::ReceiveTime;

/// Connect and the snapshot are bounded by this.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may hold a long-poll (`timeout_ms`); the request itself is bounded
/// by this plus [`LONG_POLL_SLACK`].
const LONG_POLL_WAIT: Duration = Duration::from_secs(25);
const LONG_POLL_SLACK: Duration = Duration::from_secs(5);

/// Runs a `long-poll` or `sse` viewer (setup, `ready`, watch until drain ends).
pub(super) async fn run(
    spec: ViewerSpec,
    permit: Option<OwnedSemaphorePermit>,
    ready: mpsc::Sender<Ready>,
    mut timeline: watch::Receiver<Option<Timeline>>,
    cancel: CancellationToken,
    mut report: ViewerReport,
) -> ViewerReport {
    let t0 = Instant::now();
    let mut client =
        match tokio::time::timeout(SETUP_TIMEOUT, HttpClient::connect(spec.http, &spec.host)).await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return failed(report, &ready, &spec, e.to_string()).await,
            Err(_) => {
                let e = format!("HTTP connect not done in {SETUP_TIMEOUT:?}");
                return failed(report, &ready, &spec, e).await;
            }
        };
    report.connect_us = Some(micros(t0.elapsed()).max(1));
    if matches!(spec.watch, Watch::Sse) {
        sse(
            &mut client,
            &spec,
            permit,
            &ready,
            &mut timeline,
            &cancel,
            &mut report,
        )
        .await;
        report.bytes = client.bytes();
        return report;
    }
    // long-poll: the snapshot, then wait for the timeline
    let snapshot = long_poll_once(&mut client, &spec, None, SETUP_TIMEOUT, &mut report).await;
    let mut version = match snapshot {
        Ok(Some(v)) => v,
        Ok(None) => {
            let e = "snapshot long-poll answered 204".to_owned();
            return failed(report, &ready, &spec, e).await;
        }
        Err(e) => return failed(report, &ready, &spec, format!("snapshot {e}")).await,
    };
    drop(permit);
    let _ = ready.send(Ok(())).await;
    let tl = tokio::select! {
        r = timeline.wait_for(Option::is_some) => r.ok().and_then(|t| *t),
        _ = cancel.cancelled() => None,
    };
    let Some(tl) = tl else {
        report.bytes = client.bytes();
        return report;
    };
    let sampler = sample_window(client.meter(), tl, cancel.clone());
    let watcher = async {
        loop {
            let cut = tokio::select! {
                r = long_poll_once(
                    &mut client,
                    &spec,
                    Some(version),
                    LONG_POLL_WAIT + LONG_POLL_SLACK,
                    &mut report,
                ) => Some(r),
                _ = tokio::time::sleep_until(tl.drain_end.into()) => None,
                _ = cancel.cancelled() => None,
            };
            match cut {
                None => break,
                Some(Ok(Some(v))) => version = version.max(v),
                Some(Ok(None)) => {}
                Some(Err(e)) => {
                    report.error(spec.index, e);
                    break;
                }
            }
        }
    };
    let (window, ()) = tokio::join!(sampler, watcher);
    report.window_bytes = window;
    report.bytes = client.bytes();
    report
}

async fn failed(
    mut report: ViewerReport,
    ready: &mpsc::Sender<Ready>,
    spec: &ViewerSpec,
    e: String,
) -> ViewerReport {
    report.error(spec.index, e.clone());
    let _ = ready.send(Err(format!("viewer {}: {e}", spec.index))).await;
    report
}

/// One long-poll: `Ok(Some(version))` for a row (a sight), `Ok(None)` for the server's
/// 204. The request is logged; if this future is dropped (end of drain) it is not.
async fn long_poll_once(
    client: &mut HttpClient,
    spec: &ViewerSpec,
    after: Option<u64>,
    limit: Duration,
    report: &mut ViewerReport,
) -> Result<Option<u64>, String> {
    let path = match after {
        Some(v) => spec.path(&format!(
            "/api/dashboard/wait?after={v}&timeout_ms={}",
            LONG_POLL_WAIT.as_millis()
        )),
        None => spec.path("/api/dashboard/wait"),
    };
    let sent_at = Instant::now();
    let result = tokio::time::timeout(limit, client.get_json(&path)).await;
    let done_at = Instant::now();
    let received = ReceiveTime::new(done_at, client.last_rx(), &spec.rx_clock);
    let out = match result {
        Ok(Ok((200, body))) => match accept_row(&body, received, report, spec) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(format!("GET {path}: {}", e.unwrap_or_default())),
        },
        Ok(Ok((204, _))) => Ok(None),
        Ok(Ok((status, body))) => Err(format!(
            "GET {path}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )),
        Ok(Err(e)) => Err(format!("GET {path}: {e}")),
        Err(_) => Err(format!("GET {path}: no answer in {limit:?}")),
    };
    report.gets.push(Exchange {
        sent_at,
        done_at,
        answered: out.is_ok(),
    });
    out
}

/// The SSE viewer: open the stream, take the first event as the snapshot, report ready,
/// then read events until drain ends (reading the window's byte counts on the way).
async fn sse(
    client: &mut HttpClient,
    spec: &ViewerSpec,
    permit: Option<OwnedSemaphorePermit>,
    ready: &mpsc::Sender<Ready>,
    timeline: &mut watch::Receiver<Option<Timeline>>,
    cancel: &CancellationToken,
    report: &mut ViewerReport,
) {
    let path = spec.path("/api/dashboard/events");
    let sent_at = Instant::now();
    let opened = tokio::time::timeout(SETUP_TIMEOUT, client.get_stream(&path)).await;
    let mut body = match opened {
        Ok(Ok((200, body))) => body,
        Ok(Ok((status, _))) => {
            let e = format!("GET {path}: HTTP {status}");
            report.error(spec.index, e.clone());
            let _ = ready.send(Err(format!("viewer {}: {e}", spec.index))).await;
            return;
        }
        Ok(Err(e)) => {
            let e = format!("GET {path}: {e}");
            report.error(spec.index, e.clone());
            let _ = ready.send(Err(format!("viewer {}: {e}", spec.index))).await;
            return;
        }
        Err(_) => {
            let e = format!("GET {path}: no answer in {SETUP_TIMEOUT:?}");
            report.error(spec.index, e.clone());
            let _ = ready.send(Err(format!("viewer {}: {e}", spec.index))).await;
            return;
        }
    };
    let mut events = EventBuffer::default();
    let mut permit = permit;
    let mut tl: Option<Timeline> = None;
    let mut window = WindowBytes::default();
    let mut answered = true;
    loop {
        let far = Instant::now() + Duration::from_secs(3600);
        let mark = match (tl, &permit) {
            (_, Some(_)) => sent_at + SETUP_TIMEOUT,
            (Some(t), None) => window.next_mark(&t).unwrap_or(t.drain_end),
            (None, None) => far,
        };
        tokio::select! {
            frame = body.frame() => match frame {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    let received =
                        ReceiveTime::new(Instant::now(), client.last_rx(), &spec.rx_clock);
                    events.push(&data);
                    while let Some(event) = events.next_event() {
                        if let Err(Some(e)) = accept_row(&event, received, report, spec) {
                            report.error(spec.index, format!("SSE event: {e}"));
                        }
                        if permit.take().is_some() {
                            let _ = ready.send(Ok(())).await;
                        }
                    }
                }
                Some(Err(e)) => {
                    report.error(spec.index, format!("SSE stream: {e}"));
                    answered = false;
                    break;
                }
                None => {
                    report.error(spec.index, "SSE stream ended by the server".to_owned());
                    break;
                }
            },
            changed = timeline.changed(), if tl.is_none() => match changed {
                Ok(()) => tl = *timeline.borrow(),
                Err(_) => break,
            },
            _ = tokio::time::sleep_until(mark.into()) => {
                if permit.is_some() {
                    let e = format!("GET {path}: no first event in {SETUP_TIMEOUT:?}");
                    report.error(spec.index, e.clone());
                    let _ = ready.send(Err(format!("viewer {}: {e}", spec.index))).await;
                    return;
                }
                let Some(t) = tl else { continue };
                if Instant::now() >= t.drain_end {
                    break;
                }
                let b = client.bytes();
                window.sample(&t, b.out + b.r#in);
            }
            _ = cancel.cancelled() => break,
        }
    }
    report.window_bytes = window.total();
    report.gets.push(Exchange {
        sent_at,
        done_at: Instant::now(),
        answered,
    });
}

/// Splits a `text/event-stream` into events: the `data:` lines of each (joined by `\n`),
/// comments and other fields skipped.
#[derive(Debug, Default)]
struct EventBuffer {
    buf: BytesMut,
}

impl EventBuffer {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The data of the next complete event that has any.
    fn next_event(&mut self) -> Option<Vec<u8>> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let block = self.buf.split_to(end);
            self.buf.advance(2);
            let mut data: Vec<u8> = Vec::new();
            for line in block[..].split(|b: &u8| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(d) = line.strip_prefix(b"data:") {
                    if !data.is_empty() {
                        data.push(b'\n');
                    }
                    data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
                }
            }
            if !data.is_empty() {
                return Some(data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_and_keep_data_only() {
        let mut e = EventBuffer::default();
        e.push(b": keep-alive\n\ndata: {\"version\":1}\n\ndata:{\"vers");
        assert_eq!(e.next_event().unwrap(), br#"{"version":1}"#);
        assert_eq!(e.next_event(), None);
        e.push(b"ion\":2}\nid: 2\n\n");
        assert_eq!(e.next_event().unwrap(), br#"{"version":2}"#);
        assert_eq!(e.next_event(), None);
    }
}
