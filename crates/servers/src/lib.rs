//! Every Rust target wsbench measures, behind one entry point per target:
//! `run(listener, cfg, shutdown)`. The caller binds (tests bind `127.0.0.1:0`) and owns
//! shutdown.
//!
//! - [`config`]: limits, slow-consumer policy, database choice, fault injection.
//! - [`hub`] / [`session`]: the room hub the three raw targets share and the per-connection
//!   request handling (rooms, sockets, fan-out); framing is all that differs between them.
//! - [`tcp`], [`ws_tungstenite`], [`ws_fastwebsockets`]: the raw targets.
//! - [`sio`]: Socket.IO on socketioxide (WebSocket and long-polling transports).
//! - [`rest`] / [`db`]: the REST routes of docs/design.md §4 and the counted database layer.

pub mod config;
pub mod db;
pub mod error;
mod http_app;
pub mod hub;
pub mod rest;
pub mod session;
pub mod sio;
pub mod tcp;
pub mod ws_fastwebsockets;
pub mod ws_tungstenite;

pub use config::{ServerConfig, Target};
