//! Every Rust target wsbench measures, behind one entry point per target:
//! `run(listener, cfg, shutdown)`. The caller binds (tests bind `127.0.0.1:0`) and owns
//! shutdown.
//!
//! - [`config`]: limits, slow-consumer policy, database choice, fault injection.
//! - [`hub`]: the room hub the three raw targets share (rooms, sockets, fan-out).
//! - [`tcp`], [`ws_tungstenite`], [`ws_fastwebsockets`]: the raw targets (framing only differs).
//! - [`sio`]: Socket.IO on socketioxide (WebSocket and long-polling transports).
//! - [`rest`] / [`db`]: the REST routes of DESIGN.md §4 and the counted database layer.

pub mod config;

pub use config::{ServerConfig, Target};
