//! The HTTP plumbing both raw WebSocket targets share: the shutdown signal and the set of
//! live WebSockets ([`HttpConns`]), and [`serve_http`], which merges a target's `/ws` route
//! with the REST routes of docs/design.md §4, serves them until shutdown (through
//! `crate::http_server`, which owns the connection limit, timeouts and shutdown deadline),
//! closes open WebSockets and waits for them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::handler::Handler;
use axum::routing::get;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::{TaskTracker, task_tracker::TaskTrackerToken};

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::hub::{HubStats, OutFrame, RoomHub};

/// WebSocket connections of an HTTP target: the stop signal and the set of live
/// connections `serve_http` waits for. (Their `max_connections` slot is the TCP
/// connection's, taken at accept by `crate::http_server`.)
#[derive(Clone)]
pub(crate) struct HttpConns {
    /// Cancelled when the server shuts down: every connection closes with 1001.
    pub(crate) stop: CancellationToken,
    /// Every admitted connection holds a token; shutdown waits until all are dropped.
    tracker: TaskTracker,
}

/// Held by a WebSocket for its lifetime: a task the shutdown waits for.
pub(crate) type Admission = TaskTrackerToken;

impl HttpConns {
    pub(crate) fn new() -> Self {
        HttpConns {
            stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    /// Admits one more WebSocket, or `None` while shutting down.
    pub(crate) fn admit(&self) -> Option<Admission> {
        if self.stop.is_cancelled() {
            return None;
        }
        Some(self.tracker.token())
    }
}

/// What a raw WebSocket target's `/ws` handler needs. The two targets differ only in the
/// frame type their hub shares between recipients.
pub(crate) struct WsState<F> {
    pub(crate) hub: Arc<RoomHub<F>>,
    pub(crate) conns: HttpConns,
    /// `cfg.max_message_bytes`: the cap on a (reassembled) message.
    pub(crate) max: usize,
    /// `cfg.idle_timeout`.
    pub(crate) idle: Duration,
    /// `cfg.echo_only`: echo every message (Autobahn) instead of the app protocol.
    pub(crate) echo: bool,
}

/// Runs a raw WebSocket target until `shutdown`: one hub per raw path (`/ws`, `/ws/chat`,
/// …, each answered by `upgrade`), and the REST routes on the same port.
pub(crate) async fn serve_ws<F, H, T>(
    listener: TcpListener,
    cfg: ServerConfig,
    stats: Arc<HubStats>,
    upgrade: H,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError>
where
    F: OutFrame,
    H: Handler<T, Arc<WsState<F>>>,
    T: 'static,
{
    let conns = HttpConns::new();
    // One hub per raw path (namespace); the first, `/ws`, gets the dashboard pushes. In a
    // cluster each path is its own cluster (its channels carry the path), so rooms and ids
    // stay inside their namespace across nodes too.
    let mut ws = Router::new();
    let mut main_hub = None;
    for path in crate::production::namespaces::raw_paths() {
        let hub = Arc::new(RoomHub::<F>::new(&cfg, stats.clone()));
        if let Some(adapter) = &cfg.adapter {
            let mut adapter = adapter.clone();
            if path != "/ws" {
                adapter.prefix = format!("{}{path}", adapter.prefix);
            }
            crate::cluster::join(&hub, &adapter).await?;
        }
        main_hub.get_or_insert_with(|| hub.clone());
        let state = Arc::new(WsState {
            hub,
            conns: conns.clone(),
            max: cfg.max_message_bytes,
            idle: cfg.idle_timeout,
            echo: cfg.echo_only,
        });
        ws = ws.route(&path, get(upgrade.clone()).with_state(state));
    }
    let hub = main_hub.expect("raw_paths() is not empty");
    let ws = cfg.production.guard_sockets(ws);
    serve_http(listener, &cfg, hub, ws, conns, shutdown).await
}

/// Serves `ws` merged with the REST routes on `listener` until `shutdown`; then stops
/// accepting, closes WebSockets (`conns.stop`), waits for them (at most
/// `cfg.shutdown_timeout` in all) and releases the database.
/// The REST dashboard push goes to `hub`'s room `dashboard`, and `/api/stats` publishes
/// `hub`'s counters.
pub(crate) async fn serve_http<F: OutFrame>(
    listener: TcpListener,
    cfg: &ServerConfig,
    hub: Arc<RoomHub<F>>,
    ws: Router,
    conns: HttpConns,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let push_hub = hub.clone();
    let pusher: crate::rest::Pusher =
        Arc::new(
            move |room: &str, json: String| match RawValue::from_string(json) {
                Ok(raw) => {
                    push_hub.push_to_room(room, wsbench_wire::app::msg(&raw));
                }
                Err(e) => tracing::warn!("dashboard push: update is not JSON: {e}"),
            },
        );
    let (rest, rest_handle) = crate::rest::router(&cfg.database, &cfg.cache, pusher).await?;
    rest_handle.guard(cfg);
    for (name, counter) in hub.stats().published() {
        rest_handle.add_counter(name, counter);
    }
    for (name, gauge) in hub.stats().gauges() {
        rest_handle.add_gauge(name, gauge);
    }
    let app = cfg.production.with_cors(ws.merge(rest));
    let stop = conns.stop.clone();
    let streams = rest_handle.stream_stopper();
    let tracker = conns.tracker.clone();
    let drain = async move {
        stop.cancel();
        // long-polls answer and SSE streams end, so their connections can close
        streams.cancel();
        tracker.close();
        tracker.wait().await;
    };
    crate::http_server::serve_router(
        listener,
        app,
        crate::http_server::HttpLimits::new(cfg),
        shutdown,
        drain,
    )
    .await;
    conns.stop.cancel();
    rest_handle.close().await;
    Ok(())
}
