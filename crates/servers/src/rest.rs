//! The REST routes of docs/design.md §4 (dashboard, stats), shared by every HTTP target.
//!
//! - `GET /api/dashboard`: exactly one SELECT; `{"version":V,"value":…,"written_at":T}`
//!   with `T` the write's wall-clock time in unix **nanoseconds** (0 for the initial row).
//! - `POST /api/dashboard` with `{"value":…}`: exactly one UPDATE … RETURNING; after the
//!   commit the JSON text of the new row goes to the target's [`Pusher`] and is returned.
//!   GET, POST reply and push are the same text, in the documented key order ([`Dashboard::to_json`]);
//!   `value` is the writer's JSON as sent (key order kept, insignificant whitespace dropped).
//! - `GET /api/stats`: `{"db_queries","db_queries_app","db_queries_engine","http_requests",
//!   "engine_count_source","db_errors", …registered counters}`; `POST /api/stats/reset`
//!   zeroes the app counters and registered counters (not gauges) and re-baselines the
//!   engine count; by default only a loopback peer may reset (`--stats-reset-from`), others
//!   get 403. Neither stats route is counted in `http_requests` nor runs a counted
//!   query: they are the harness's measurement probe. Table setup and the initial row are
//!   not counted either.
//!
//! The plain-HTTP polling variants (conditional GET, cache, long-poll, SSE) and
//! workspaces (`?workspace=K`, `POST /api/workspaces`) are in [`variants`].
//!
//! Hostile input: a body over 2 MiB is answered 413, and a body that does not arrive
//! within the server's `http_read_timeout` 408 (both still counted as requests).
//!
//! Exactness under load: a dashboard request takes the database's [`Pass`] (after its
//! body has been read, so the gate never waits on a client's upload) before it bumps
//! `http_requests`, and holds it until its statement is counted; the stats routes read or
//! reset everything behind [`Db::quiesce`]. So every stats reply is a consistent cut:
//! `db_queries_app == db_queries_engine`, and `http_requests == db_queries_app` whenever
//! every counted request was a successful dashboard GET/POST.

mod cache;
mod live;
pub mod variants;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

pub use self::cache::CacheConfig;
use self::cache::DashboardCache;
use self::live::{LiveRow, LiveRows};
pub use self::variants::room_of;
use self::variants::{VariantCounters, WorkspaceQuery};

use crate::config::{DatabaseConfig, ServerConfig, StatsResetFrom};
use crate::db::{Dashboard, Db, Pass};
use crate::error::ServerError;

/// Largest dashboard request body read (axum's default JSON limit).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Delivers a committed dashboard update to the target's viewers: the room (`dashboard`,
/// or [`room_of`] the workspace) and the JSON text of the update object.
pub type Pusher = Arc<dyn Fn(&str, String) + Send + Sync>;

/// A value `/api/stats` reads when asked, for state that lives elsewhere (socketioxide's
/// rooms, in its adapter); `None` leaves it out of the answer.
pub type StatsProbe =
    Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, Option<u64>> + Send + Sync>;

/// What the routes share.
struct RestState {
    /// The counted database.
    db: Db,
    /// Called after each committed POST.
    push: Pusher,
    /// Dashboard requests served since the last reset (stats routes excluded); bumped
    /// under the request's database pass, so it is read consistently with the counts.
    http_requests: AtomicU64,
    /// Values a target registers to appear in `/api/stats` (e.g. sio `dropped`): name,
    /// value, and whether `/api/stats/reset` zeroes it (a counter) or not (a gauge).
    extra: std::sync::Mutex<Vec<(&'static str, Arc<AtomicU64>, bool)>>,
    /// Values read when `/api/stats` is asked ([`StatsProbe`]).
    probes: std::sync::Mutex<Vec<(&'static str, StatsProbe)>>,
    /// Rows the server has committed or read lately, per workspace (no query needed).
    live: LiveRows,
    /// The `poll-cached` rows.
    cache: DashboardCache,
    /// Workspaces 1..=this have a row.
    workspaces: AtomicU32,
    /// Cancelled when the server stops: ends long-polls and SSE streams.
    stop: CancellationToken,
    /// Counters of the variant routes.
    variants: VariantCounters,
    /// The server's limits on hostile clients, set once by [`RestHandle::guard`].
    guards: OnceLock<Guards>,
}

/// What the routes take from the server's config to defend themselves.
#[derive(Debug, Clone, Copy)]
struct Guards {
    /// A request body must arrive within this.
    body_timeout: Duration,
    /// Who may `POST /api/stats/reset`.
    reset_from: StatsResetFrom,
}

impl Guards {
    fn of(cfg: &ServerConfig) -> Self {
        Guards {
            body_timeout: cfg.http_read_timeout,
            reset_from: cfg.stats_reset_from,
        }
    }
}

impl RestState {
    fn guards(&self) -> Guards {
        *self
            .guards
            .get_or_init(|| Guards::of(&ServerConfig::default()))
    }
}

/// Owns the database behind a router: keep it alive as long as the router serves. On drop
/// a temporary SQLite database is removed and a PostgreSQL table dropped; [`close`]
/// does the same without blocking.
///
/// [`close`]: RestHandle::close
pub struct RestHandle {
    state: Arc<RestState>,
}

impl RestHandle {
    /// Publishes `counter` in `/api/stats` under `name`; `/api/stats/reset` zeroes it.
    pub fn add_counter(&self, name: &'static str, counter: Arc<AtomicU64>) {
        self.state
            .extra
            .lock()
            .expect("stats counters lock")
            .push((name, counter, true));
    }

    /// Publishes `gauge` in `/api/stats` under `name`; reset leaves it alone.
    pub fn add_gauge(&self, name: &'static str, gauge: Arc<AtomicU64>) {
        self.state
            .extra
            .lock()
            .expect("stats counters lock")
            .push((name, gauge, false));
    }

    /// Publishes what `probe` reads, when `/api/stats` is asked, under `name`.
    pub fn add_probe(&self, name: &'static str, probe: StatsProbe) {
        self.state
            .probes
            .lock()
            .expect("stats probes lock")
            .push((name, probe));
    }

    /// Applies `cfg`'s body-read timeout and stats-reset rule (the defaults apply until
    /// then; only the first call counts).
    pub fn guard(&self, cfg: &ServerConfig) {
        let _ = self.state.guards.set(Guards::of(cfg));
    }

    /// The counted database (for tests and in-process harnesses).
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Cancelling it ends the hanging requests (long-polls answer 204, SSE streams end),
    /// so a graceful shutdown does not wait for them: cancel it when shutdown starts.
    pub fn stream_stopper(&self) -> CancellationToken {
        self.state.stop.clone()
    }

    /// Removes the database objects this router created (PostgreSQL table) and this
    /// instance's Redis cache keys without blocking; dropping the handle drops the table,
    /// blocking.
    pub async fn close(self) {
        self.state.stop.cancel();
        let workspaces = self.state.workspaces.load(Ordering::Acquire);
        self.state.cache.clear(workspaces).await;
        self.state.db.cleanup().await;
    }
}

impl Drop for RestHandle {
    /// The server is done with its database: drop the PostgreSQL table now, even if the
    /// router is still winding down (a no-op after [`RestHandle::close`]).
    fn drop(&mut self) {
        self.state.db.cleanup_blocking();
    }
}

#[derive(Deserialize)]
struct UpdateBody {
    /// Kept as sent (key order included), stored compacted.
    value: Box<RawValue>,
}

/// Builds the REST routes over a fresh database (table created, initial row inserted;
/// not counted) and the `poll-cached` cache.
pub async fn router(
    db: &DatabaseConfig,
    cache: &CacheConfig,
    push: Pusher,
) -> Result<(Router, RestHandle), ServerError> {
    let cache = DashboardCache::open(cache).await?;
    let db = Db::open(db).await?;
    let variants = VariantCounters::default();
    let extra = variants
        .published()
        .into_iter()
        .map(|(name, c)| (name, c, true))
        .collect();
    let state = Arc::new(RestState {
        db,
        push,
        http_requests: AtomicU64::new(0),
        extra: std::sync::Mutex::new(extra),
        probes: std::sync::Mutex::new(Vec::new()),
        live: LiveRows::new(),
        cache,
        workspaces: AtomicU32::new(1),
        stop: CancellationToken::new(),
        variants,
        guards: OnceLock::new(),
    });
    let counted = Router::new()
        .route(
            "/api/dashboard",
            get(variants::get_dashboard).post(post_dashboard),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), count_request));
    let arrivals = Router::new()
        .route("/api/dashboard/cached", get(variants::get_cached))
        .route("/api/dashboard/wait", get(variants::get_wait))
        .route("/api/dashboard/events", get(variants::get_events))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            variants::count_arrival,
        ));
    let probes = Router::new()
        .route("/api/stats", get(get_stats))
        .route("/api/stats/reset", post(reset_stats))
        .route("/api/workspaces", post(variants::post_workspaces));
    let router = counted
        .merge(arrivals)
        .merge(probes)
        .with_state(state.clone());
    Ok((router, RestHandle { state }))
}

/// Reads the body, then takes the database pass, counts the request and hands the pass to
/// the handler (as an extension) for its statement. From the count on, the request runs in
/// a task of its own: a client that goes away cannot leave a request counted in
/// `http_requests` whose statement never ran (or ran without its push).
async fn count_request(State(st): State<Arc<RestState>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = tokio::time::timeout(
        st.guards().body_timeout,
        axum::body::to_bytes(body, BODY_LIMIT),
    )
    .await;
    let pass = st.db.pass().await;
    st.http_requests.fetch_add(1, Ordering::Relaxed);
    let body = match body {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return body_refused(e),
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                Json(json!({ "error": "the request body did not arrive in time" })),
            )
                .into_response();
        }
    };
    let mut req = Request::from_parts(parts, Body::from(body));
    req.extensions_mut().insert(pass);
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(e) => {
            RouteError(ServerError::Http(format!("dashboard request task: {e}"))).into_response()
        }
    }
}

/// 413 for a body over [`BODY_LIMIT`], 400 for any other failure to read it.
fn body_refused(e: axum::Error) -> Response {
    let inner = e.into_inner();
    let too_big = {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&*inner);
        std::iter::from_fn(|| {
            let c = cause?;
            cause = c.source();
            Some(c)
        })
        .any(|c| c.is::<http_body_util::LengthLimitError>())
    };
    if too_big {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({ "error": format!("request body over {BODY_LIMIT} bytes") })),
        )
            .into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("reading the request body: {inner}") })),
        )
            .into_response()
    }
}

/// A route failure: 500 with the error text (a database error is a server fault).
struct RouteError(ServerError);

impl IntoResponse for RouteError {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": self.0.to_string() })),
        )
            .into_response()
    }
}

impl From<ServerError> for RouteError {
    fn from(e: ServerError) -> Self {
        RouteError(e)
    }
}

/// The dashboard row as a JSON body, byte for byte what is pushed.
fn row_body(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// One UPDATE; after the commit the server learns the row (SSE, long-poll, ETag memory),
/// pushes it to the workspace's room and invalidates its cache entry, in that order.
async fn post_dashboard(
    State(st): State<Arc<RestState>>,
    Extension(pass): Extension<Pass>,
    Query(q): Query<WorkspaceQuery>,
    Json(body): Json<UpdateBody>,
) -> Result<Response, RouteError> {
    let w = match variants::workspace(&st, &q) {
        Ok(w) => w,
        Err(r) => return Ok(r.into_response()),
    };
    let row: Dashboard = st.db.update_dashboard_with(pass, w, &body.value).await?;
    let text = row.to_json();
    st.live.learn(
        w,
        LiveRow {
            version: row.version as u64,
            text: text.as_str().into(),
        },
    );
    (st.push)(&room_of(w), text.clone());
    if let Err(e) = st.cache.invalidate(w).await {
        // the write is committed and pushed: report it, but the cache may now be stale
        tracing::warn!("dashboard write of workspace {w}: {e}");
    }
    Ok(row_body(text))
}

/// Counts, `http_requests` and the registered values, read as one cut behind the gate.
async fn get_stats(State(st): State<Arc<RestState>>) -> Result<Json<Value>, RouteError> {
    let quiet = st.db.quiesce().await;
    let counts = quiet.counts().await?;
    let mut out = Map::new();
    out.insert("db_queries".into(), counts.app.into());
    out.insert("db_queries_app".into(), counts.app.into());
    out.insert("db_queries_engine".into(), counts.engine.into());
    out.insert(
        "http_requests".into(),
        st.http_requests.load(Ordering::Relaxed).into(),
    );
    out.insert("engine_count_source".into(), counts.engine_source.into());
    out.insert("db_errors".into(), counts.errors.into());
    out.insert("cache".into(), st.cache.kind().into());
    out.insert(
        "workspaces".into(),
        st.workspaces.load(Ordering::Acquire).into(),
    );
    for (name, c, _) in st.extra.lock().expect("stats counters lock").iter() {
        out.insert((*name).into(), c.load(Ordering::Relaxed).into());
    }
    drop(quiet);
    let probes: Vec<_> = st
        .probes
        .lock()
        .expect("stats probes lock")
        .iter()
        .cloned()
        .collect();
    for (name, probe) in probes {
        if let Some(v) = probe().await {
            out.insert(name.into(), v.into());
        }
    }
    Ok(Json(Value::Object(out)))
}

/// Zeroes the counts, `http_requests` and registered counters as one cut behind the gate.
/// Only from a loopback peer unless the server allows any (`StatsResetFrom::Any`); a
/// router served without a peer address (in-process) allows it.
async fn reset_stats(State(st): State<Arc<RestState>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if let Some(peer) = peer
        && st.guards().reset_from == StatsResetFrom::Loopback
        && !peer.ip().is_loopback()
    {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "stats reset is allowed from loopback only (see --stats-reset-from)" })),
        )
            .into_response();
    }
    match reset_counts(&st).await {
        Ok(j) => j.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn reset_counts(st: &RestState) -> Result<Json<Value>, RouteError> {
    let quiet = st.db.quiesce().await;
    quiet.reset_counts().await?;
    st.http_requests.store(0, Ordering::Relaxed);
    for (_, c, zero_on_reset) in st.extra.lock().expect("stats counters lock").iter() {
        if *zero_on_reset {
            c.store(0, Ordering::Relaxed);
        }
    }
    drop(quiet);
    Ok(Json(json!({ "reset": true })))
}
