//! The plain-HTTP variants of polling versus push (docs/polling-vs-push.md), on every HTTP
//! target beside `GET /api/dashboard`, and the workspaces they all take:
//!
//! - `poll-etag`: `GET /api/dashboard` with `If-None-Match: "V"` answers `304 Not Modified`
//!   (no body) when V is still the newest version, saying how it knows in
//!   `x-etag-source`: `memory` (the server has seen the newest row: no query) or `query`
//!   (it had not: one SELECT). A changed version is one SELECT and a 200 with the row.
//! - `poll-cached`: `GET /api/dashboard/cached` answers from the [`DashboardCache`]
//!   (`x-cache: hit`) or, on a miss, with one SELECT that fills it (`x-cache: miss`).
//! - `long-poll`: `GET /api/dashboard/wait?after=V[&timeout_ms=T]` hangs until a version
//!   after V is committed and returns the first one (the pushed text, no query), or
//!   `204 No Content` after T (default 25 s).
//! - `sse`: `GET /api/dashboard/events` is a `text/event-stream`: the newest row, then
//!   every committed row as one `data:` event each, until the server stops.
//! - `POST /api/workspaces` `{"count":W}` creates the rows of workspaces 1..=W (setup, not
//!   counted; a probe route like `/api/stats`). Every dashboard route takes
//!   `?workspace=K` (default 1); workspace K's push goes to room [`room_of`]`(K)`.
//!
//! The routes here count their request in `http_requests` when it arrives (under a
//! momentary database pass, so stats stay one cut) and take a pass of their own only for a
//! SELECT: a hanging long-poll or stream must not hold the gate. Their counters
//! (`etag_304_memory`, `etag_304_query`, `cache_hits`, `cache_misses`, `long_poll_timeouts`,
//! `sse_lagged`) are in `/api/stats` and zeroed by its reset.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::live::LiveRow;
use super::{RestState, RouteError, row_body};
use crate::db::{Dashboard, Pass};

/// Longest `timeout_ms` a long-poll may ask for.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// A long-poll's wait when it names none.
const DEFAULT_WAIT: Duration = Duration::from_secs(25);
/// Most workspaces one server holds.
pub const MAX_WORKSPACES: u32 = 100_000;

/// The room a workspace's dashboard updates are pushed to: `dashboard` for workspace 1
/// (docs/design.md §4), `dashboard:K` for workspace K > 1.
pub fn room_of(workspace: u32) -> String {
    if workspace == 1 {
        "dashboard".to_owned()
    } else {
        format!("dashboard:{workspace}")
    }
}

/// The counters of the variant routes, published in `/api/stats`.
#[derive(Default)]
pub(super) struct VariantCounters {
    pub(super) etag_304_memory: Arc<AtomicU64>,
    pub(super) etag_304_query: Arc<AtomicU64>,
    pub(super) cache_hits: Arc<AtomicU64>,
    pub(super) cache_misses: Arc<AtomicU64>,
    pub(super) long_poll_timeouts: Arc<AtomicU64>,
    pub(super) sse_lagged: Arc<AtomicU64>,
}

impl VariantCounters {
    pub(super) fn published(&self) -> [(&'static str, Arc<AtomicU64>); 6] {
        [
            ("etag_304_memory", self.etag_304_memory.clone()),
            ("etag_304_query", self.etag_304_query.clone()),
            ("cache_hits", self.cache_hits.clone()),
            ("cache_misses", self.cache_misses.clone()),
            ("long_poll_timeouts", self.long_poll_timeouts.clone()),
            ("sse_lagged", self.sse_lagged.clone()),
        ]
    }
}

/// `?workspace=K`.
#[derive(Deserialize)]
pub(super) struct WorkspaceQuery {
    workspace: Option<u32>,
}

/// A request named a workspace this server does not have: 404.
pub(super) struct NoWorkspace {
    asked: u32,
    have: u32,
}

impl IntoResponse for NoWorkspace {
    fn into_response(self) -> Response {
        let msg = format!(
            "no workspace {}: this server has workspaces 1..={} (POST /api/workspaces)",
            self.asked, self.have
        );
        (StatusCode::NOT_FOUND, Json(json!({ "error": msg }))).into_response()
    }
}

/// The workspace a request names, or [`NoWorkspace`] when this server has no such one.
pub(super) fn workspace(st: &RestState, q: &WorkspaceQuery) -> Result<u32, NoWorkspace> {
    let asked = q.workspace.unwrap_or(1);
    let have = st.workspaces.load(Ordering::Acquire);
    if (1..=have).contains(&asked) {
        Ok(asked)
    } else {
        Err(NoWorkspace { asked, have })
    }
}

/// Counts the request in `http_requests` at arrival under a momentary pass, then runs it
/// without one (the routes here take a pass only for a SELECT).
pub(super) async fn count_arrival(
    State(st): State<Arc<RestState>>,
    req: Request,
    next: Next,
) -> Response {
    {
        let _pass = st.db.pass().await;
        st.http_requests.fetch_add(1, Ordering::Relaxed);
    }
    next.run(req).await
}

/// A row read from the database, learnt by the server's memory.
async fn select(st: &RestState, pass: Pass, workspace: u32) -> Result<LiveRow, RouteError> {
    let row: Dashboard = st.db.get_dashboard_with(pass, workspace).await?;
    let live = LiveRow {
        version: row.version as u64,
        text: row.to_json().into(),
    };
    st.live.learn(workspace, live.clone());
    Ok(live)
}

/// `"V"` as an entity tag.
fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("a number is a header value")
}

/// The version an `If-None-Match` names (`"V"` or `W/"V"`; a list or `*` is not ours).
fn if_none_match(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// A 200 with the row and its entity tag.
fn row_with_etag(row: &LiveRow) -> Response {
    let mut r = row_body(row.text.to_string());
    r.headers_mut().insert(header::ETAG, etag(row.version));
    r
}

/// `GET /api/dashboard` (under the request's pass): a conditional GET when it carries
/// `If-None-Match`, else exactly one SELECT.
pub(super) async fn get_dashboard(
    State(st): State<Arc<RestState>>,
    Extension(pass): Extension<Pass>,
    Query(q): Query<WorkspaceQuery>,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let w = match workspace(&st, &q) {
        Ok(w) => w,
        Err(r) => return Ok(r.into_response()),
    };
    let Some(known) = if_none_match(&headers) else {
        return Ok(row_with_etag(&select(&st, pass, w).await?));
    };
    let (row, source) = match st.live.newest(w) {
        Some(newest) if newest.version == known => (newest, "memory"),
        Some(_) => return Ok(row_with_etag(&select(&st, pass, w).await?)),
        None => (select(&st, pass, w).await?, "query"),
    };
    if row.version != known {
        return Ok(row_with_etag(&row));
    }
    let counter = if source == "memory" {
        &st.variants.etag_304_memory
    } else {
        &st.variants.etag_304_query
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    r.headers_mut().insert(header::ETAG, etag(row.version));
    r.headers_mut()
        .insert("x-etag-source", HeaderValue::from_static(source));
    Ok(r)
}

/// `GET /api/dashboard/cached`: the cache, or one SELECT on a miss.
pub(super) async fn get_cached(
    State(st): State<Arc<RestState>>,
    Query(q): Query<WorkspaceQuery>,
) -> Result<Response, RouteError> {
    let w = match workspace(&st, &q) {
        Ok(w) => w,
        Err(r) => return Ok(r.into_response()),
    };
    if let Some(text) = st.cache.get(w).await? {
        st.variants.cache_hits.fetch_add(1, Ordering::Relaxed);
        let mut r = row_body(text);
        r.headers_mut()
            .insert("x-cache", HeaderValue::from_static("hit"));
        return Ok(r);
    }
    st.variants.cache_misses.fetch_add(1, Ordering::Relaxed);
    let row = select(&st, st.db.pass().await, w).await?;
    st.cache.put(w, &row.text).await?;
    // a write that committed meanwhile has learnt its row before invalidating
    if st.live.newest(w).is_some_and(|n| n.version > row.version) {
        st.cache.invalidate(w).await?;
    }
    let mut r = row_body(row.text.to_string());
    r.headers_mut()
        .insert("x-cache", HeaderValue::from_static("miss"));
    Ok(r)
}

/// `?after=V&timeout_ms=T` of a long-poll.
#[derive(Deserialize)]
pub(super) struct WaitQuery {
    #[serde(flatten)]
    ws: WorkspaceQuery,
    after: Option<u64>,
    timeout_ms: Option<u64>,
}

/// `GET /api/dashboard/wait`: the first row after `after` (at once if the server knows one
/// already), or 204 after the timeout. Without `after`: the newest row at once.
pub(super) async fn get_wait(
    State(st): State<Arc<RestState>>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, RouteError> {
    let w = match workspace(&st, &q.ws) {
        Ok(w) => w,
        Err(r) => return Ok(r.into_response()),
    };
    let wait = q.timeout_ms.map_or(DEFAULT_WAIT, Duration::from_millis);
    if wait > MAX_WAIT {
        let msg = format!("timeout_ms must be <= {}", MAX_WAIT.as_millis());
        return Ok((StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response());
    }
    if st.live.newest(w).is_none() {
        select(&st, st.db.pass().await, w).await?;
    }
    let Some(after) = q.after else {
        let newest = st.live.newest(w).expect("learnt above");
        return Ok(row_with_etag(&newest));
    };
    let stop = st.stop.clone();
    let until = async move {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => {}
        }
    };
    match st.live.wait_after(w, after, until).await {
        Some(row) => Ok(row_with_etag(&row)),
        None => {
            st.variants
                .long_poll_timeouts
                .fetch_add(1, Ordering::Relaxed);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

/// `GET /api/dashboard/events`: the newest row, then every row committed, as SSE events.
pub(super) async fn get_events(
    State(st): State<Arc<RestState>>,
    Query(q): Query<WorkspaceQuery>,
) -> Result<Response, RouteError> {
    let w = match workspace(&st, &q) {
        Ok(w) => w,
        Err(r) => return Ok(r.into_response()),
    };
    // subscribe first, so no row committed after the snapshot is missed
    let rx = st.live.subscribe(w).expect("workspace checked");
    let first = match st.live.newest(w) {
        Some(row) => row,
        None => select(&st, st.db.pass().await, w).await?,
    };
    let stream = events(st.clone(), rx, first);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// The SSE stream: `first`, then each row newer than the last one sent, until the server
/// stops. A stream too slow for its queue skips rows (counted as `sse_lagged`).
fn events(
    st: Arc<RestState>,
    rx: tokio::sync::broadcast::Receiver<LiveRow>,
    first: LiveRow,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = (st, rx, Some(first), 0u64);
    futures_util::stream::unfold(state, |(st, mut rx, first, last)| async move {
        if let Some(row) = first {
            let ev = Event::default().data(&*row.text);
            return Some((Ok(ev), (st, rx, None, row.version)));
        }
        loop {
            let next = tokio::select! {
                r = rx.recv() => r,
                () = st.stop.cancelled() => return None,
            };
            match next {
                Ok(row) if row.version > last => {
                    let ev = Event::default().data(&*row.text);
                    return Some((Ok(ev), (st, rx, None, row.version)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    st.variants.sse_lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// `{"count":W}` of `POST /api/workspaces`.
#[derive(Deserialize)]
pub(super) struct WorkspacesBody {
    count: u32,
}

/// `POST /api/workspaces`: workspaces 1..=count exist afterwards (rows created, not
/// counted). Answers `{"workspaces":W}` (never fewer than before).
pub(super) async fn post_workspaces(
    State(st): State<Arc<RestState>>,
    Json(body): Json<WorkspacesBody>,
) -> Result<Response, RouteError> {
    if !(1..=MAX_WORKSPACES).contains(&body.count) {
        let msg = format!("count must be 1..={MAX_WORKSPACES} (got {})", body.count);
        return Ok((StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response());
    }
    st.db.ensure_workspaces(body.count).await?;
    st.live.ensure(body.count);
    let now = st
        .workspaces
        .fetch_max(body.count, Ordering::AcqRel)
        .max(body.count);
    Ok(Json(json!({ "workspaces": now })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tags_parse() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            if_none_match(&m)
        };
        assert_eq!(h("\"7\""), Some(7));
        assert_eq!(h("W/\"7\""), Some(7));
        assert_eq!(h("*"), None);
        assert_eq!(h("7"), None);
        assert_eq!(if_none_match(&HeaderMap::new()), None);
        assert_eq!(room_of(1), "dashboard");
        assert_eq!(room_of(3), "dashboard:3");
    }
}
