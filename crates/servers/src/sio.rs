//! The `sio-socketioxide` target: axum + socketioxide (namespace `/`, default parser, both
//! Engine.IO transports) plus the REST routes, on one port.
//!
//! Events (docs/design.md §3): `join(room)`, `leave(room)`, `to_all(data)`, `to_others(data)`,
//! `to_room(room, data)`, `to_id(id, data)`, `echo(data)`; the server emits `msg(data)`.
//! With an ack id the server acks after the op: `echo` acks with `[data]` and then emits no
//! `msg`; every other op acks with no arguments (`43N[]`, what `emitWithAck` resolves on).
//! Malformed arguments get an `error(reason)` event and no ack; unknown events are ignored;
//! neither closes the connection. Committed dashboard writes are emitted as `update(row)`
//! to room `dashboard`. `/api/stats` adds `dropped` (deliveries socketioxide refused: full
//! queue or closed socket), `fault_dropped` (deliveries skipped by `drop_every`) and the
//! gauge `connected` (Socket.IO sockets connected now).
//!
//! Note (socketioxide 0.18): every event handler runs in its own task, so a client must
//! await the `join` ack before relying on membership, and events of one client may be
//! processed concurrently.

mod fanout;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef, State, TryData};
use socketioxide::handler::{FromMessageParts, Value as PacketValue};
use socketioxide::socket::{Sid, Socket};
use socketioxide::{SocketIo, TransportType};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use self::fanout::{Audience, Deliveries};
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::rest;

/// Per-server state every handler reads (socketioxide `State`).
#[derive(Clone)]
struct Shared(Arc<SharedInner>);

struct SharedInner {
    /// Fault injection and delivery counters.
    deliveries: Deliveries,
    /// Sockets connected now, against `max_connections` (and the `connected` gauge).
    connected: Arc<AtomicU64>,
    /// Connections served at once; a further CONNECT gets a connect error.
    max_connections: u64,
}

/// Whether the client asked for an ack (socketioxide's `AckSender` does not say).
struct WantsAck(bool);

impl<A: Adapter> FromMessageParts<A> for WantsAck {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut PacketValue,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(WantsAck(ack_id.is_some()))
    }
}

/// The ack payload for ops that ack with no arguments: an empty tuple, encoded `[]`.
const NO_ARGS: [(); 0] = [];

/// Serves the target on `listener` until `shutdown` completes, then closes every socket
/// and returns.
pub(crate) async fn run(
    listener: TcpListener,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if cfg.max_message_bytes == 0 || cfg.outbound_queue == 0 || cfg.max_connections == 0 {
        return Err(ServerError::Config(
            "sio-socketioxide: max_message_bytes, outbound_queue and max_connections must be > 0"
                .into(),
        ));
    }
    let shared = Shared(Arc::new(SharedInner {
        deliveries: Deliveries::new(cfg.faults.clone()),
        connected: Arc::new(AtomicU64::new(0)),
        max_connections: cfg.max_connections as u64,
    }));
    let (layer, io) = SocketIo::builder()
        .transports([TransportType::Polling, TransportType::Websocket])
        .ping_interval(cfg.sio_ping_interval)
        .ping_timeout(cfg.sio_ping_timeout)
        .max_payload(cfg.max_message_bytes as u64)
        .ws_max_message_size(cfg.max_message_bytes)
        .ws_max_frame_size(cfg.max_message_bytes)
        .max_buffer_size(cfg.outbound_queue)
        .with_state(shared.clone())
        .build_layer();
    // Handlers are registered in a connect middleware, which socketioxide awaits before it
    // sends the CONNECT reply; the connect handler itself is spawned after the reply, so a
    // client's first event could otherwise arrive before any handler exists.
    io.ns(
        "/",
        socketioxide::handler::ConnectHandler::with(async || {}, on_connect),
    );

    let (push_tx, push_rx) = mpsc::unbounded_channel::<(String, String)>();
    let pusher: rest::Pusher = Arc::new(move |room: &str, text: String| {
        // The receiver lives as long as the server; after shutdown a push has no viewers.
        let _ = push_tx.send((room.to_owned(), text));
    });
    let (rest_router, rest_handle) = rest::router(&cfg.database, &cfg.cache, pusher).await?;
    rest_handle.add_counter("dropped", shared.0.deliveries.dropped.clone());
    rest_handle.add_counter("fault_dropped", shared.0.deliveries.fault_dropped.clone());
    rest_handle.add_gauge("connected", shared.0.connected.clone());
    let pushing = tokio::spawn(push_updates(io.clone(), shared.clone(), push_rx));

    let app = rest_router.layer(layer);
    let closing = io.clone();
    let streams = rest_handle.stream_stopper();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            streams.cancel();
            closing.close().await;
        })
        .await;
    pushing.abort();
    rest_handle.close().await;
    served.map_err(|e| ServerError::Http(format!("sio-socketioxide: serving: {e}")))
}

/// Emits each committed dashboard row, in commit order, as `update(row)` to its workspace's
/// room (`dashboard` for workspace 1). The row goes out as its REST text (a `RawValue`, not
/// a `Value`, which would sort keys).
async fn push_updates(
    io: SocketIo,
    shared: Shared,
    mut rx: mpsc::UnboundedReceiver<(String, String)>,
) {
    while let Some((room, text)) = rx.recv().await {
        match serde_json::value::RawValue::from_string(text) {
            Ok(row) => shared
                .0
                .deliveries
                .count_broadcast(io.to(room).emit("update", &row).await),
            Err(e) => tracing::warn!("sio: dashboard update is not JSON: {e}"),
        }
    }
}

/// Connect middleware: admits the socket (or refuses it over `max_connections`) and
/// registers the event handlers.
async fn on_connect(socket: SocketRef, State(shared): State<Shared>) -> Result<(), ServerError> {
    let inner = &shared.0;
    let admitted = inner
        .connected
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < inner.max_connections).then_some(n + 1)
        });
    if admitted.is_err() {
        return Err(ServerError::Config(format!(
            "connection limit {} reached",
            inner.max_connections
        )));
    }
    socket.on_disconnect(async |State(shared): State<Shared>| {
        shared.0.connected.fetch_sub(1, Ordering::AcqRel);
    });
    socket.on("join", on_join);
    socket.on("leave", on_leave);
    socket.on("to_all", on_to_all);
    socket.on("to_others", on_to_others);
    socket.on("to_room", on_to_room);
    socket.on("to_id", on_to_id);
    socket.on("echo", on_echo);
    Ok(())
}

/// Tells the client its arguments were malformed (the raw protocol's `error` reply).
fn reject(socket: &SocketRef, event: &str, reason: impl std::fmt::Display) {
    let _ = socket.emit("error", &format!("{event}: malformed arguments: {reason}"));
}

async fn on_join(socket: SocketRef, TryData(room): TryData<String>, ack: AckSender) {
    match room {
        Ok(room) => {
            socket.join(room);
            let _ = ack.send(&NO_ARGS);
        }
        Err(e) => reject(&socket, "join", e),
    }
}

async fn on_leave(socket: SocketRef, TryData(room): TryData<String>, ack: AckSender) {
    match room {
        Ok(room) => {
            socket.leave(room);
            let _ = ack.send(&NO_ARGS);
        }
        Err(e) => reject(&socket, "leave", e),
    }
}

async fn on_to_all(
    io: SocketIo,
    State(shared): State<Shared>,
    Data(data): Data<Value>,
    ack: AckSender,
) {
    shared.0.deliveries.deliver(&io, Audience::All, &data).await;
    let _ = ack.send(&NO_ARGS);
}

async fn on_to_others(
    io: SocketIo,
    socket: SocketRef,
    State(shared): State<Shared>,
    Data(data): Data<Value>,
    ack: AckSender,
) {
    shared
        .0
        .deliveries
        .deliver(&io, Audience::Others(socket), &data)
        .await;
    let _ = ack.send(&NO_ARGS);
}

async fn on_to_room(
    io: SocketIo,
    socket: SocketRef,
    State(shared): State<Shared>,
    TryData(args): TryData<(String, Value)>,
    ack: AckSender,
) {
    match args {
        Ok((room, data)) => {
            shared
                .0
                .deliveries
                .deliver(&io, Audience::Room(room), &data)
                .await;
            let _ = ack.send(&NO_ARGS);
        }
        Err(e) => reject(&socket, "to_room", e),
    }
}

async fn on_to_id(
    io: SocketIo,
    socket: SocketRef,
    State(shared): State<Shared>,
    TryData(args): TryData<(String, Value)>,
    ack: AckSender,
) {
    match args {
        Ok((id, data)) => {
            let target = id.parse::<Sid>().ok().and_then(|sid| io.get_socket(sid));
            shared
                .0
                .deliveries
                .deliver(&io, Audience::One(target), &data)
                .await;
            let _ = ack.send(&NO_ARGS);
        }
        Err(e) => reject(&socket, "to_id", e),
    }
}

/// `echo`: with an ack id the data comes back in the ack (and no `msg`), else as `msg`.
async fn on_echo(
    io: SocketIo,
    socket: SocketRef,
    State(shared): State<Shared>,
    Data(data): Data<Value>,
    WantsAck(wants_ack): WantsAck,
    ack: AckSender,
) {
    let deliveries = &shared.0.deliveries;
    if wants_ack {
        deliveries.before_delivery().await;
        if !deliveries.skip_this() {
            deliveries.count_send(ack.send(&data));
        }
    } else {
        deliveries
            .deliver(&io, Audience::One(Some(socket)), &data)
            .await;
    }
}
