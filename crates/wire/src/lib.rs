//! The bytes every wsbench part agrees on.
//!
//! - [`app`]: the application protocol of docs/design.md §3 for the raw targets (`tcp`, `ws-*`,
//!   `node-ws`): requests a client sends, replies a server sends, encoded byte-exact.
//! - [`payload`]: the opaque `data` object (`from`, `seq`, `t`, `pad`) the load generator
//!   sends and times.
//! - [`fast`]: exact-layout decoders of those payloads and the servers' envelopes (the load
//!   generator's receive path), falling back to the full parsers for anything else.
//! - [`tcp`]: the `tcp` floor's framing (4-byte big-endian length prefix).
//! - [`engineio`] / [`socketio`]: a lean Engine.IO v4 / Socket.IO v5 client codec.

pub mod app;
pub mod engineio;
pub mod fast;
pub mod payload;
pub mod socketio;
pub mod tcp;
