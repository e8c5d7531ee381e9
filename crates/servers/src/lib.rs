//! Every Rust target wsbench measures, behind one entry point: [`serve`]`(server,
//! listener, cfg, stats, shutdown)`. The caller binds (tests bind `127.0.0.1:0`) and owns
//! shutdown; `wsbench serve` and every test harness start servers through it. Which
//! servers exist is the target table's [`RustServer`] (crate `wsbench-scenario`).
//!
//! - [`cluster`]: clusters over Redis (`--adapter`): the raw targets' relay between nodes.
//! - [`config`]: limits, slow-consumer policy, database choice, fault injection.
//! - `http_server`: the HTTP accept loop of the HTTP targets (connection limit over every
//!   connection, read timeouts, shutdown deadline); [`room_limits`]: rooms per connection
//!   and room-name size (docs/hardening.md).
//! - [`hub`] / [`session`]: the room hub the three raw targets share and the per-connection
//!   request handling (rooms, sockets, fan-out); framing is all that differs between them.
//! - [`tcp`], [`ws_tungstenite`], [`ws_fastwebsockets`]: the raw targets.
//! - [`writer`]: their shared write path (one writer task per connection, batched writes).
//! - [`sio`]: Socket.IO on socketioxide (WebSocket and long-polling transports).
//! - [`production`]: JWT at the handshake, CORS, per-connection rate limiting.
//! - [`listen`]: listening sockets with a deep accept queue (connect storms).
//! - [`rest`] / [`db`]: the REST routes of docs/design.md §4 and the counted database layer.

pub mod cluster;
pub mod config;
pub mod db;
pub mod error;
mod http_app;
mod http_server;
pub mod hub;
pub mod listen;
pub mod production;
pub mod queue_bytes;
pub mod rest;
pub mod room_limits;
pub mod session;
pub mod sio;
pub mod tcp;
pub mod writer;
pub mod ws_fastwebsockets;
pub mod ws_tungstenite;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::ServerConfig;
use error::ServerError;
use hub::HubStats;
pub use wsbench_scenario::RustServer;

/// Serves `server` on `listener` until `shutdown` resolves, then closes every connection
/// (after flushing what is queued) and returns.
///
/// The raw targets (`tcp`, `ws-*`) count hub deliveries and drops into `stats`; the
/// Socket.IO target uses socketioxide's own rooms, not the hub, and leaves `stats` at zero.
pub async fn serve(
    server: RustServer,
    listener: TcpListener,
    cfg: ServerConfig,
    stats: Arc<HubStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    match server {
        RustServer::Tcp => tcp::run(listener, cfg, stats, shutdown).await,
        RustServer::WsTungstenite => ws_tungstenite::run(listener, cfg, stats, shutdown).await,
        RustServer::WsFastwebsockets => {
            ws_fastwebsockets::run(listener, cfg, stats, shutdown).await
        }
        RustServer::SioSocketioxide => sio::run(listener, cfg, shutdown).await,
    }
}

/// Whether `server` counts into the `stats` given to [`serve`] (the raw targets' hub).
pub fn counts_hub_stats(server: RustServer) -> bool {
    server != RustServer::SioSocketioxide
}
