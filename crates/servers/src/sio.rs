//! The `sio-socketioxide` target: axum + socketioxide (namespaces `/`, `/chat`, `/admin` and
//! `/notifications`, each with the full op set and its own broadcasts and rooms; default
//! parser; both Engine.IO transports) plus the REST routes, on one port. `--jwt-secret` and
//! `--rate-limit` are applied by [`guard`], namespaces by [`namespace`], CORS by
//! `crate::production`.
//!
//! Events (docs/design.md §3): `join(room)`, `leave(room)`, `to_all(data)`, `to_others(data)`,
//! `to_room(room, data)`, `to_id(id, data)`, `echo(data)`; the server emits `msg(data)`.
//! With an ack id the server acks after the op: `echo` acks with `[data]` and then emits no
//! `msg`; every other op acks with no arguments (`43N[]`, what `emitWithAck` resolves on).
//! Malformed arguments get an `error(reason)` event and no ack; unknown events are ignored;
//! neither closes the connection. Committed dashboard writes are emitted as `update(row)`
//! to room `dashboard`. `/api/stats` adds `dropped` (deliveries socketioxide refused: full
//! queue or closed socket), `fault_dropped` (deliveries skipped by `drop_every`) and the
//! gauge `connected` (Socket.IO sockets connected now), and `rate_limited` (events refused
//! by `--rate-limit`).
//!
//! Limits: `join` refuses a room name over `max_room_name_bytes` or a room beyond
//! `max_rooms_per_connection` with an `error(reason)` event and no ack ([`rooms`]). The
//! connection limit counts TCP connections (`crate::http_server`) and, on top, connected
//! Socket.IO sockets; a CONNECT over it gets a connect error "connection limit reached".
//! Engine.IO sessions that never CONNECT hold their TCP connection's slot and are closed
//! after the connect timeout (the Engine.IO ping timeout). What socketioxide cannot do is
//! refused at start or documented in docs/hardening.md: it has no byte bound on its
//! queues and cannot close a socket whose queue is full, so `--slow-consumer disconnect`
//! is refused; its own closes (oversize, invalid packets) carry no close code.
//!
//! Note (socketioxide 0.18): every event handler runs in its own task, so a client must
//! await the `join` ack before relying on membership, and events of one client may be
//! processed concurrently.

mod fanout;
mod guard;
mod namespace;
mod rooms;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts, Value as PacketValue};
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::{Sid, Socket};
use socketioxide::{SocketIo, TransportType};
use socketioxide_redis::{RedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use self::fanout::{Audience, Deliveries};
use self::guard::{Meter, Metered};
use self::namespace::Ns;
use crate::config::{ServerConfig, SlowConsumer};
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
    /// A node of a cluster (`--adapter`): `to_id` of a socket not on this node goes
    /// through the adapter (`io.to(sid)`).
    clustered: bool,
    /// Room limits of `join`.
    rooms: crate::room_limits::RoomLimits,
    /// `--rate-limit`: every socket gets a bucket of this rate.
    rate_limit: Option<crate::production::RateLimit>,
    /// Events refused by the rate limit (`rate_limited` in `/api/stats`).
    rate_limited: Arc<AtomicU64>,
}

/// Messages from Redis a node buffers per channel before socketioxide-redis drops them
/// (its default, 1,024, loses deliveries under a broadcast burst).
const ADAPTER_STREAM_BUFFER: usize = 1 << 16;

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
    if cfg.slow_consumer == SlowConsumer::Disconnect {
        return Err(ServerError::Config(SLOW_CONSUMER_DISCONNECT_REFUSED.into()));
    }
    let shared = Shared(Arc::new(SharedInner {
        deliveries: Deliveries::new(cfg.faults.clone()),
        connected: Arc::new(AtomicU64::new(0)),
        max_connections: cfg.max_connections as u64,
        clustered: cfg.adapter.is_some(),
        rooms: crate::room_limits::RoomLimits::new(&cfg),
        rate_limit: cfg.production.rate_limit,
        rate_limited: Arc::new(AtomicU64::new(0)),
    }));
    let builder = SocketIo::builder()
        .transports([TransportType::Polling, TransportType::Websocket])
        .ping_interval(cfg.sio_ping_interval)
        .ping_timeout(cfg.sio_ping_timeout)
        .max_payload(cfg.max_message_bytes as u64)
        .ws_max_message_size(cfg.max_message_bytes)
        .ws_max_frame_size(cfg.max_message_bytes)
        .max_buffer_size(cfg.outbound_queue)
        // An Engine.IO session that never CONNECTs is closed after this.
        .connect_timeout(cfg.sio_ping_timeout)
        .with_state(shared.clone());
    // Handlers are registered in a connect middleware, which socketioxide awaits before it
    // sends the CONNECT reply; the connect handler itself is spawned after the reply, so a
    // client's first event could otherwise arrive before any handler exists.
    // With `--jwt-secret` the token is checked first (a refused socket is never admitted).
    let Some(adapter) = &cfg.adapter else {
        let (layer, io) = builder.build_layer();
        for ns in crate::production::namespaces::namespaces() {
            let handler = ConnectHandler::with(async || {}, on_connect);
            match cfg.production.jwt.clone() {
                Some(jwt) => io.ns(ns, handler.with(guard::authorize(jwt))),
                None => io.ns(ns, handler),
            };
        }
        return serve_io(listener, cfg, shared, io, layer, shutdown).await;
    };
    let unreachable = |e: &dyn std::fmt::Display| {
        ServerError::Config(format!(
            "adapter {}: Redis does not answer: {e}",
            adapter.url
        ))
    };
    let client = redis::Client::open(adapter.resp3_url()).map_err(|e| unreachable(&e))?;
    let config = RedisAdapterConfig::new()
        .with_prefix(adapter.prefix.clone())
        .with_stream_buffer(ADAPTER_STREAM_BUFFER);
    let ctr = tokio::time::timeout(
        crate::cluster::REDIS_TIMEOUT,
        RedisAdapterCtr::new_with_redis_config(&client, config),
    )
    .await
    .map_err(|e| unreachable(&e))?
    .map_err(|e| unreachable(&e))?;
    let (layer, io) = builder.with_adapter::<RedisAdapter<_>>(ctr).build_layer();
    for ns in crate::production::namespaces::namespaces() {
        let handler = ConnectHandler::with(async || {}, on_connect);
        match cfg.production.jwt.clone() {
            Some(jwt) => io.ns(ns, handler.with(guard::authorize(jwt))).await,
            None => io.ns(ns, handler).await,
        }
        .map_err(|e| unreachable(&e))?;
    }
    serve_io(listener, cfg, shared, io, layer, shutdown).await
}

/// Serves `io` (standalone or clustered) and the REST routes until `shutdown`.
async fn serve_io<A: Adapter>(
    listener: TcpListener,
    cfg: ServerConfig,
    shared: Shared,
    io: SocketIo<A>,
    layer: SocketIoLayer<A>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (push_tx, push_rx) = mpsc::unbounded_channel::<(String, String)>();
    let pusher: rest::Pusher = Arc::new(move |room: &str, text: String| {
        // The receiver lives as long as the server; after shutdown a push has no viewers.
        let _ = push_tx.send((room.to_owned(), text));
    });
    let (rest_router, rest_handle) = rest::router(&cfg.database, &cfg.cache, pusher).await?;
    rest_handle.guard(&cfg);
    rest_handle.add_counter("dropped", shared.0.deliveries.dropped.clone());
    rest_handle.add_counter("fault_dropped", shared.0.deliveries.fault_dropped.clone());
    rest_handle.add_counter("rate_limited", shared.0.rate_limited.clone());
    rest_handle.add_gauge("connected", shared.0.connected.clone());
    rest_handle.add_probe("rooms", rooms_probe(io.clone()));
    let pushing = tokio::spawn(push_updates(io.clone(), shared.clone(), push_rx));

    let app = cfg.production.with_cors(rest_router.layer(layer));
    let closing = io.clone();
    let streams = rest_handle.stream_stopper();
    crate::http_server::serve_router(
        listener,
        app,
        crate::http_server::HttpLimits::new(&cfg),
        shutdown,
        async move {
            // long-polls answer and SSE streams end, so their connections can close
            streams.cancel();
            closing.close().await;
        },
    )
    .await;
    pushing.abort();
    rest_handle.close().await;
    Ok(())
}

/// `/api/stats` `rooms`: the rooms of every namespace as socketioxide's adapter has them
/// (on a cluster, the adapter asks the other nodes too).
fn rooms_probe<A: Adapter>(io: SocketIo<A>) -> rest::StatsProbe {
    Arc::new(move || {
        let io = io.clone();
        Box::pin(async move {
            let mut n = 0u64;
            for ns in crate::production::namespaces::namespaces() {
                if let Some(op) = io.of(ns) {
                    n += op.rooms().await.ok()?.len() as u64;
                }
            }
            Some(n)
        })
    })
}

/// Why `sio-socketioxide` refuses `--slow-consumer disconnect` at start.
pub const SLOW_CONSUMER_DISCONNECT_REFUSED: &str = "sio-socketioxide cannot honour \
     slow-consumer disconnect: socketioxide has no way to close a socket whose queue is full \
     (its disconnect packet needs room in that queue); use drop, its own behaviour";

/// Emits each committed dashboard row, in commit order, as `update(row)` to its workspace's
/// room (`dashboard` for workspace 1) through the adapter, so a cluster's other nodes
/// deliver it too. The row goes out as its REST text (a `RawValue`, not a `Value`, which
/// would sort keys).
async fn push_updates<A: Adapter>(
    io: SocketIo<A>,
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
async fn on_connect<A: Adapter>(
    socket: SocketRef<A>,
    State(shared): State<Shared>,
) -> Result<(), ConnectRefused> {
    let inner = &shared.0;
    let admitted = inner
        .connected
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < inner.max_connections).then_some(n + 1)
        });
    if admitted.is_err() {
        return Err(ConnectRefused::Limit);
    }
    if inner.clustered {
        // socketioxide does not put a socket in the room of its own id (socket.io does):
        // `to_id` of a socket on another node reaches it through that room.
        socket.join(socket.id);
    }
    socket.extensions.insert(rooms::Joined::default());
    if let Some(limit) = inner.rate_limit {
        Meter::install(&socket, limit, inner.rate_limited.clone());
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

/// Why a CONNECT is refused; the text is the connect error's `message`.
#[derive(Debug, thiserror::Error)]
enum ConnectRefused {
    #[error("connection limit reached")]
    Limit,
}

/// The event's data, or `None` after telling the client why it could not be read (JSON
/// nested past serde_json's recursion limit, a lone UTF-16 surrogate, …): socketioxide
/// would otherwise drop such an event without a word.
fn accepted<A: Adapter, T, E: std::fmt::Display>(
    socket: &SocketRef<A>,
    event: &str,
    data: Result<T, E>,
) -> Option<T> {
    match data {
        Ok(d) => Some(d),
        Err(e) => {
            reject(socket, event, e);
            None
        }
    }
}

/// Tells the client its arguments were malformed (the raw protocol's `error` reply).
fn reject<A: Adapter>(socket: &SocketRef<A>, event: &str, reason: impl std::fmt::Display) {
    let _ = socket.emit("error", &format!("{event}: malformed arguments: {reason}"));
}

async fn on_join<A: Adapter>(
    _: Metered,
    socket: SocketRef<A>,
    State(shared): State<Shared>,
    TryData(room): TryData<String>,
    ack: AckSender<A>,
) {
    match room {
        Ok(room) => match rooms::join(&shared.0.rooms, &socket, room) {
            Ok(()) => {
                let _ = ack.send(&NO_ARGS);
            }
            Err(refused) => {
                let _ = socket.emit("error", &format!("join: {refused}"));
            }
        },
        Err(e) => reject(&socket, "join", e),
    }
}

async fn on_leave<A: Adapter>(
    _: Metered,
    socket: SocketRef<A>,
    TryData(room): TryData<String>,
    ack: AckSender<A>,
) {
    match room {
        Ok(room) => {
            rooms::leave(&socket, room);
            let _ = ack.send(&NO_ARGS);
        }
        Err(e) => reject(&socket, "leave", e),
    }
}

async fn on_to_all<A: Adapter>(
    _: Metered,
    Ns(io): Ns<A>,
    socket: SocketRef<A>,
    State(shared): State<Shared>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
) {
    let Some(data) = accepted(&socket, "to_all", data) else {
        return;
    };
    shared.0.deliveries.deliver(io, Audience::All, &data).await;
    let _ = ack.send(&NO_ARGS);
}

async fn on_to_others<A: Adapter>(
    _: Metered,
    Ns(io): Ns<A>,
    socket: SocketRef<A>,
    State(shared): State<Shared>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
) {
    let Some(data) = accepted(&socket, "to_others", data) else {
        return;
    };
    shared
        .0
        .deliveries
        .deliver(io, Audience::Others(socket), &data)
        .await;
    let _ = ack.send(&NO_ARGS);
}

async fn on_to_room<A: Adapter>(
    _: Metered,
    Ns(io): Ns<A>,
    socket: SocketRef<A>,
    State(shared): State<Shared>,
    TryData(args): TryData<(String, Value)>,
    ack: AckSender<A>,
) {
    match args {
        Ok((room, data)) => {
            shared
                .0
                .deliveries
                .deliver(io, Audience::Room(room), &data)
                .await;
            let _ = ack.send(&NO_ARGS);
        }
        Err(e) => reject(&socket, "to_room", e),
    }
}

async fn on_to_id<A: Adapter>(
    _: Metered,
    Ns(io): Ns<A>,
    socket: SocketRef<A>,
    State(shared): State<Shared>,
    TryData(args): TryData<(String, Value)>,
    ack: AckSender<A>,
) {
    match args {
        Ok((id, data)) => {
            let sid = id.parse::<Sid>().ok();
            let local = sid.and_then(|sid| io.get_socket(sid));
            // Every socket is in the room named by its id, on whichever node it is.
            let audience = match (local, sid) {
                (None, Some(_)) if shared.0.clustered => Audience::Room(id),
                (local, _) => Audience::One(local),
            };
            shared.0.deliveries.deliver(io, audience, &data).await;
            let _ = ack.send(&NO_ARGS);
        }
        Err(e) => reject(&socket, "to_id", e),
    }
}

/// `echo`: with an ack id the data comes back in the ack (and no `msg`), else as `msg`.
async fn on_echo<A: Adapter>(
    _: Metered,
    Ns(io): Ns<A>,
    socket: SocketRef<A>,
    State(shared): State<Shared>,
    TryData(data): TryData<Value>,
    WantsAck(wants_ack): WantsAck,
    ack: AckSender<A>,
) {
    let Some(data) = accepted(&socket, "echo", data) else {
        return;
    };
    let deliveries = &shared.0.deliveries;
    if wants_ack {
        deliveries.before_delivery().await;
        if !deliveries.skip_this() {
            deliveries.count_send(ack.send(&data));
        }
    } else {
        deliveries
            .deliver(io, Audience::One(Some(socket)), &data)
            .await;
    }
}
