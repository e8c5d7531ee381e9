//! One polling-vs-push row: open the stats probe and the writer's connection, set up N
//! viewers (connect; push viewers also join and snapshot) before warmup, start the writer
//! and the viewers on one timeline, reset the server's counts at measure start
//! (`POST /api/stats/reset`), read them at measure end (`GET /api/stats`, before drain),
//! then merge what the tasks hand over into a [`SummaryRow`].
//!
//! Checks in the row: `db_counts_agree` (app == engine); and the server's app count and
//! `http_requests` must lie within the bounds of what the load generator itself issued in
//! the window ([`Bounds`]: requests wholly inside the window ≤ count ≤ requests overlapping
//! it). A count outside its bounds is an error in the row, with a note.
//!
//! With W > 1 workspaces the probe creates the rows first (`POST /api/workspaces`, not
//! counted), viewer i watches workspace `i % W + 1` and the writer goes round-robin.
//!
//! Columns: `sent` = versions written in the window, `expected` = (viewer, version) pairs
//! due (each viewer the versions of its workspace; versions × viewers with one),
//! `delivered` = pairs seen, `versions_missed` = pairs never seen (a result for polling;
//! for push variants also `lost`, since a push should deliver every version). The `lat_*`
//! columns and the `.hgrm` hold the staleness histogram (µs), the same as
//! `staleness_p50_ms` / `staleness_p99_ms`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};
use wsbench_report::row::SummaryRow;
use wsbench_scenario::{Polling, PvpVariant, Scenario};

use super::probe::{PROBE_TIMEOUT, measure, probe_call, sleep_or_cancel};
use super::tally::{Bounds, Seen, staleness};
use super::viewer::{PollKind, Ready, Timeline, ViewerReport, ViewerSpec, Watch, run_viewer};
use super::writer::run_writer;
use super::{http_of, push_endpoint, transport_label};
use crate::recorder::{fill_latency_columns, new_histogram, quantile};
use crate::row::{
    OwnLag, PointCtx, PointFailure, PointResult, RowTarget, fill_cpu, fill_read_lag,
    flag_loadgen_bound,
};
use crate::transport::HttpClient;
use crate::transport::rxstamp::RxClock;

/// Viewers setting up at once (bounds the connect storm before warmup).
const SETUP_CONCURRENCY: usize = 256;
/// All viewers must be set up within this (plus 10 ms per viewer).
const SETUP_BUDGET: Duration = Duration::from_secs(20);
/// Head start of the timeline after setup.
const START_LEAD: Duration = Duration::from_millis(50);

/// Runs one polling-vs-push row of `variant` against `target`, with the point's `polling`
/// settings.
pub async fn run_row(
    ctx: &PointCtx<'_>,
    s: &Scenario,
    polling: &Polling,
    variant: PvpVariant,
    target: &RowTarget<'_>,
) -> Result<PointResult, PointFailure> {
    let failed = |m: String| PointFailure::Failed(m);
    let (addr, host) = http_of(target.endpoint)
        .ok_or_else(|| failed(format!("{} serves no HTTP", ctx.target_name)))?;
    let mut row = base_row(ctx, s, variant, polling.update_rate);

    ctx.progress.phase("connect");
    let connect = |what: &'static str| {
        let host = host.clone();
        async move {
            match tokio::time::timeout(PROBE_TIMEOUT, HttpClient::connect(addr, &host)).await {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) => Err(format!("{what}: {e}")),
                Err(_) => Err(format!("{what}: no connection in {PROBE_TIMEOUT:?}")),
            }
        }
    };
    let mut probe = connect("stats probe").await.map_err(failed)?;
    if polling.workspaces > 1 {
        let body = format!("{{\"count\":{}}}", polling.workspaces);
        probe_call(
            probe.post_json("/api/workspaces", body),
            "POST /api/workspaces",
        )
        .await
        .map_err(failed)?;
    }
    // the writer is this row's publisher: it connects and runs on the publisher lane, the
    // viewers on the receiver lanes (crate::engine)
    let lanes = ctx.engine.placement(s.clients + 1, 1);
    let writer_client = lanes
        .handle(0)
        .spawn(connect("writer"))
        .await
        .map_err(|e| failed(format!("writer: connect task failed: {e}")))?
        .map_err(failed)?;

    // viewers: spawned now, set up before warmup
    let n = s.clients;
    let slots = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let (ready_tx, mut ready_rx) = mpsc::channel::<Ready>(1024);
    let (timeline_tx, timeline_rx) = watch::channel::<Option<Timeline>>(None);
    let stop = ctx.cancel.child_token();
    let push = push_endpoint(variant, target.endpoint);
    let mut viewers = Vec::with_capacity(n as usize);
    let rx_clock = RxClock::measure();
    for index in 0..n {
        let poll = |kind| Watch::Poll {
            interval: polling.poll_interval,
            offset: polling
                .poll_interval
                .mul_f64(f64::from(index) / f64::from(n)),
            kind,
        };
        let watch = match (&push, variant) {
            (Some(endpoint), _) => Watch::Push {
                endpoint: endpoint.clone(),
            },
            (None, PvpVariant::PollEtag) => poll(PollKind::Etag),
            (None, PvpVariant::PollCached) => poll(PollKind::Cached),
            (None, PvpVariant::LongPoll) => Watch::LongPoll,
            (None, PvpVariant::Sse) => Watch::Sse,
            (None, _) => poll(PollKind::Plain),
        };
        let spec = ViewerSpec {
            index,
            http: addr,
            host: host.clone(),
            watch,
            rx_clock,
            workspace: index % polling.workspaces + 1,
            workspaces: polling.workspaces,
        };
        viewers.push(lanes.handle(index + 1).spawn(run_viewer(
            spec,
            slots.clone(),
            ready_tx.clone(),
            timeline_rx.clone(),
            stop.clone(),
        )));
    }
    drop(ready_tx);
    let budget = SETUP_BUDGET + Duration::from_millis(10) * n;
    let setup_started = Instant::now();
    let mut setup_error = None;
    let mut ready = 0u32;
    while ready < n {
        let next = tokio::select! {
            r = tokio::time::timeout_at((setup_started + budget).into(), ready_rx.recv()) => r,
            _ = ctx.cancel.cancelled() => break,
        };
        match next {
            Ok(Some(Ok(()))) => ready += 1,
            Ok(Some(Err(e))) => {
                setup_error = Some(e);
                break;
            }
            Ok(None) => break,
            Err(_) => {
                setup_error = Some(format!("{} of {n} viewers set up within {budget:?}", ready));
                break;
            }
        }
    }
    if ready < n {
        stop.cancel();
        for v in viewers {
            let _ = v.await;
        }
        return Err(match setup_error {
            _ if ctx.cancel.is_cancelled() => PointFailure::Cancelled,
            Some(e) => failed(format!("viewer setup against {}: {e}", ctx.target_name)),
            None => failed(format!("{} of {n} viewers set up", ready)),
        });
    }

    // one timeline for the writer, the viewers and the probe
    let start = Instant::now() + START_LEAD;
    let measure_start = start + s.phases.warmup;
    let measure_end = measure_start + s.phases.measure;
    let drain_end = measure_end + s.phases.drain;
    let _ = timeline_tx.send(Some(Timeline {
        start,
        measure_start,
        measure_end,
        drain_end,
    }));
    let writer = lanes.handle(0).spawn(run_writer(
        writer_client,
        polling.update_rate,
        polling.workspaces,
        start,
        measure_end,
        rx_clock,
        stop.clone(),
    ));

    ctx.progress.phase("warmup");
    let cancelled_early = sleep_or_cancel(measure_start, ctx).await;
    ctx.progress.phase("measure");
    let probe_result = if cancelled_early {
        Err("cancelled before measure".to_owned())
    } else {
        measure(&mut probe, ctx, target, measure_end).await
    };
    ctx.progress.phase("drain");
    let writer = writer.await.unwrap_or_default();
    let mut reports: Vec<ViewerReport> = Vec::with_capacity(viewers.len());
    let mut panics = 0u64;
    for v in viewers {
        match v.await {
            Ok(r) => reports.push(r),
            Err(_) => panics += 1,
        }
    }
    if cancelled_early {
        return Err(PointFailure::Cancelled);
    }
    let (window, cpu, stats) = probe_result.map_err(failed)?;
    row.partial = ctx.cancel.is_cancelled();

    // counts: the server's, and the bounds of what we issued
    let gets = Bounds::of(&window, reports.iter().flat_map(|r| &r.gets));
    let posts = Bounds::of(&window, &writer.posts);
    let issued = gets.plus(posts);
    row.db_queries_app = Some(stats.db_queries_app);
    row.db_queries_engine = stats.db_queries_engine;
    row.http_requests = Some(stats.http_requests);
    row.db_counts_agree = stats.db_queries_engine.map(|e| e == stats.db_queries_app);
    row.measure_s = window.length().as_secs_f64();
    let mut notes = vec![format!(
        "engine count: {}; issued in window: GET {}..{}, POST {}..{}",
        stats.engine_count_source, gets.min, gets.max, posts.min, posts.max
    )];
    let mut errors = writer.errors + panics;
    // plain polling runs one SELECT per request; the other variants run fewer (a 304 from
    // memory, a cache hit, a long-poll or stream answered from the committed row) but
    // never fewer than the writes
    let queries = if matches!(variant, PvpVariant::Poll | PvpVariant::PollSio) {
        issued
    } else {
        Bounds {
            min: posts.min,
            max: issued.max,
        }
    };
    for (what, n, bounds) in [
        ("db_queries_app", stats.db_queries_app, queries),
        ("http_requests", stats.http_requests, issued),
    ] {
        if !bounds.contains(n) {
            errors += 1;
            notes.push(format!(
                "server {what} {n} outside what the load generator issued ({}..{})",
                bounds.min, bounds.max
            ));
        }
    }

    for (name, value) in [
        ("304 from memory", stats.etag_304_memory),
        ("304 after a query", stats.etag_304_query),
        ("cache hits", stats.cache_hits),
        ("cache misses", stats.cache_misses),
    ] {
        match (variant, name, value) {
            (PvpVariant::PollEtag, "304 from memory" | "304 after a query", Some(v))
            | (PvpVariant::PollCached, "cache hits" | "cache misses", Some(v)) => {
                notes.push(format!("{name}: {v}"));
            }
            _ => {}
        }
    }

    // staleness and versions missed
    let seen: Vec<Seen<'_>> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| Seen {
            workspace: i as u32 % polling.workspaces + 1,
            sights: &r.sights,
        })
        .collect();
    let st = staleness(&writer.writes, measure_start, measure_end, &seen);
    row.sent = st.versions;
    row.expected = st.expected;
    row.delivered = st.seen;
    row.versions_missed = Some(st.missed);
    // a push that was cut short may still have had versions in flight: not called lost
    row.lost = if variant.polls() || row.partial {
        0
    } else {
        st.missed
    };
    if row.partial && !variant.polls() && st.missed > 0 {
        notes.push(format!(
            "interrupted: {} versions not seen by the cut, not counted as lost",
            st.missed
        ));
    }
    let h = &st.histogram;
    fill_latency_columns(&mut row, h);
    row.lat_uncorrected_p99_us = row.lat_p99_us;
    if !h.is_empty() {
        row.staleness_p50_ms = Some(row.lat_p50_us as f64 / 1000.0);
        row.staleness_p99_ms = Some(row.lat_p99_us as f64 / 1000.0);
    }
    if st.early > 0 {
        notes.push(format!(
            "{} sights before the writer read its POST's response (staleness 0)",
            st.early
        ));
    }

    // viewers' own figures
    let mut connect = new_histogram();
    let mut poll_lag = new_histogram();
    let mut skipped = 0u64;
    let mut first_error = writer.first_error.clone();
    let mut window_bytes = Some(0u64);
    let mut isolation = 0u64;
    for r in &reports {
        window_bytes = window_bytes.zip(r.window_bytes).map(|(a, b)| a + b);
        isolation += r.isolation_errors;
        row.bytes_out += r.bytes.out;
        row.bytes_in += r.bytes.r#in;
        errors += r.errors;
        skipped += r.polls_skipped;
        if let Some(us) = r.connect_us {
            let _ = connect.record(us);
        }
        r.poll_lag_us.add_into(&mut poll_lag);
        if first_error.is_none() {
            first_error.clone_from(&r.first_error);
        }
    }
    row.bytes_out += writer.bytes.out;
    row.bytes_in += writer.bytes.r#in;
    row.isolation_errors = Some(isolation);
    if isolation > 0 {
        notes.push(format!(
            "{isolation} rows of another workspace received (isolation errors)"
        ));
    }
    row.bytes_per_update = window_bytes
        .filter(|_| st.expected > 0)
        .map(|b| b as f64 / st.expected as f64);
    row.connect_p50_us = quantile(&connect, 0.5);
    row.connect_p99_us = quantile(&connect, 0.99);
    row.errors = errors;
    row.send_lag_p99_us = if variant.polls() {
        quantile(&poll_lag, 0.99)
    } else {
        writer.lag_p99_us
    };
    if polling.workspaces > 1 {
        notes.push(format!("{} workspaces", polling.workspaces));
    }
    if variant.polls() {
        let intended = f64::from(n) / polling.poll_interval.as_secs_f64();
        let achieved = gets.min as f64 / row.measure_s.max(1e-9);
        notes.push(format!(
            "GETs/s in window {achieved:.0} of {intended:.0} intended"
        ));
        if skipped > 0 {
            notes.push(format!(
                "{skipped} polls skipped (previous GET still out when due)"
            ));
        }
    } else if variant == PvpVariant::Sse {
        notes.push(format!(
            "{n} streams opened before warmup (each counted once, outside the window)"
        ));
    } else {
        notes.push(format!(
            "{n} snapshot GETs before warmup (outside the window)"
        ));
    }
    if let Some(e) = first_error {
        notes.push(format!("{errors} error(s), first: {e}"));
    }

    fill_cpu(&mut row, target, cpu.0, cpu.1);
    if let (Some(cpu_s), true) = (row.server_cpu_s, st.seen > 0) {
        notes.push(format!(
            "server CPU per update delivered: {:.1} µs",
            cpu_s * 1e6 / st.seen as f64
        ));
    }
    row.notes = notes.join("; ");
    fill_sight_read_lag(&mut row, &reports, measure_start, measure_end);
    // the viewers' (polling) or the writer's (push) schedule is what sends may lag behind
    // a poll or a write waits for nothing of the server's before it leaves: all its lag is
    // the generator's own
    let own = if variant.polls() {
        OwnLag::of(&poll_lag)
    } else {
        OwnLag {
            p99_us: writer.lag_p99_us,
            late: writer.late_sends,
        }
    };
    flag_loadgen_bound(&mut row, ctx.loadgen_cores, Some(own));
    Ok(PointResult {
        row,
        hgrm: st.histogram,
    })
}

fn base_row(ctx: &PointCtx<'_>, s: &Scenario, variant: PvpVariant, rate: f64) -> SummaryRow {
    SummaryRow {
        run_id: ctx.run_id.to_owned(),
        scenario: s.name.clone(),
        target: ctx.target_name.to_owned(),
        transport: transport_label(variant).to_owned(),
        clients: u64::from(s.clients),
        publishers: 1,
        rooms: 0,
        rate,
        payload_bytes: 0,
        repeat: ctx.repeat,
        sweep: s.sweep_label(),
        variant: variant.name().to_owned(),
        nodes: Some(s.nodes),
        agents: Some(1),
        ..SummaryRow::default()
    }
}

/// `read_lag_p99_us` over the sights received in the measure window (and the count of those
/// without a kernel stamp).
fn fill_sight_read_lag(row: &mut SummaryRow, reports: &[ViewerReport], from: Instant, to: Instant) {
    let mut read_lag = new_histogram();
    let mut fallbacks = 0u64;
    let measured = reports
        .iter()
        .flat_map(|r| &r.sights)
        .filter(|s| s.at >= from && s.at < to);
    for s in measured {
        match s.read_lag_ns {
            Some(ns) => {
                let _ = read_lag.record(ns / 1_000);
            }
            None => fallbacks += 1,
        }
    }
    fill_read_lag(row, &read_lag, fallbacks);
}
