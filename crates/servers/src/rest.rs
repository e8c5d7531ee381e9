//! The REST routes of DESIGN.md §4 (dashboard, stats), shared by every HTTP target.
//!
//! - `GET /api/dashboard`: exactly one SELECT; `{"version":V,"value":…,"written_at":T}`
//!   with `T` the write's wall-clock time in unix **nanoseconds** (0 for the initial row).
//! - `POST /api/dashboard` with `{"value":…}`: exactly one UPDATE … RETURNING; after the
//!   commit the JSON text of the new row goes to the target's [`Pusher`] and is returned.
//! - `GET /api/stats`: `{"db_queries","db_queries_app","db_queries_engine","http_requests",
//!   "engine_count_source", …registered counters}`; `POST /api/stats/reset` zeroes the
//!   app counters and registered counters (not gauges) and re-baselines the engine count. Neither stats
//!   route is counted in `http_requests` nor runs a counted query: they are the harness's
//!   measurement probe. Table setup and the initial row are not counted either.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::DatabaseConfig;
use crate::db::Db;
use crate::error::ServerError;

/// Delivers a committed dashboard update to the target's viewers (room `dashboard`).
/// The argument is the JSON text of the update object.
pub type Pusher = Arc<dyn Fn(String) + Send + Sync>;

/// What the routes share.
struct RestState {
    /// The counted database.
    db: Db,
    /// Called after each committed POST.
    push: Pusher,
    /// Dashboard requests served since the last reset (stats routes excluded).
    http_requests: AtomicU64,
    /// Values a target registers to appear in `/api/stats` (e.g. sio `dropped`): name,
    /// value, and whether `/api/stats/reset` zeroes it (a counter) or not (a gauge).
    extra: std::sync::Mutex<Vec<(&'static str, Arc<AtomicU64>, bool)>>,
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

    /// The counted database (for tests and in-process harnesses).
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Removes the database objects this router created (PostgreSQL table) without
    /// blocking; dropping the handle does the same, blocking.
    pub async fn close(self) {
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
    value: Value,
}

/// Builds the REST routes over a fresh database (table created, initial row inserted;
/// not counted).
pub async fn router(
    db: &DatabaseConfig,
    push: Pusher,
) -> Result<(Router, RestHandle), ServerError> {
    let db = Db::open(db).await?;
    let state = Arc::new(RestState {
        db,
        push,
        http_requests: AtomicU64::new(0),
        extra: std::sync::Mutex::new(Vec::new()),
    });
    let counted = Router::new()
        .route("/api/dashboard", get(get_dashboard).post(post_dashboard))
        .route_layer(middleware::from_fn_with_state(state.clone(), count_request));
    let probes = Router::new()
        .route("/api/stats", get(get_stats))
        .route("/api/stats/reset", post(reset_stats));
    let router = counted.merge(probes).with_state(state.clone());
    Ok((router, RestHandle { state }))
}

async fn count_request(State(st): State<Arc<RestState>>, req: Request, next: Next) -> Response {
    st.http_requests.fetch_add(1, Ordering::Relaxed);
    next.run(req).await
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

async fn get_dashboard(State(st): State<Arc<RestState>>) -> Result<Json<Value>, RouteError> {
    let row = st.db.get_dashboard().await?;
    Ok(Json(json!(row)))
}

async fn post_dashboard(
    State(st): State<Arc<RestState>>,
    Json(body): Json<UpdateBody>,
) -> Result<Response, RouteError> {
    let row = st.db.update_dashboard(body.value).await?;
    let text = serde_json::to_string(&row)
        .map_err(|e| ServerError::Database(format!("encoding the dashboard row: {e}")))?;
    (st.push)(text.clone());
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response())
}

async fn get_stats(State(st): State<Arc<RestState>>) -> Result<Json<Value>, RouteError> {
    let counts = st.db.counts().await?;
    let mut out = Map::new();
    out.insert("db_queries".into(), counts.app.into());
    out.insert("db_queries_app".into(), counts.app.into());
    out.insert("db_queries_engine".into(), counts.engine.into());
    out.insert(
        "http_requests".into(),
        st.http_requests.load(Ordering::Relaxed).into(),
    );
    out.insert("engine_count_source".into(), counts.engine_source.into());
    for (name, c, _) in st.extra.lock().expect("stats counters lock").iter() {
        out.insert((*name).into(), c.load(Ordering::Relaxed).into());
    }
    Ok(Json(Value::Object(out)))
}

async fn reset_stats(State(st): State<Arc<RestState>>) -> Result<Json<Value>, RouteError> {
    st.db.reset_counts().await?;
    st.http_requests.store(0, Ordering::Relaxed);
    for (_, c, zero_on_reset) in st.extra.lock().expect("stats counters lock").iter() {
        if *zero_on_reset {
            c.store(0, Ordering::Relaxed);
        }
    }
    Ok(Json(json!({ "reset": true })))
}
