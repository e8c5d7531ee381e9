//! Scenario files: TOML → one typed, validated [`Scenario`] per sweep point.
//!
//! - [`model`]: the validated types every other crate reads.
//! - [`load`] / [`parse`]: file or text + CLI [`Overrides`] → `Vec<Scenario>`.
//! - [`target`]: the one table of built-in targets ([`target::table`]), `all`, external
//!   `kind=url` targets, and [`TargetSpec`], the one parsed form of a target.
//! - [`faults`]: the `[restart]` and `[churn]` tables (a fault injected during a row).
//! - [`production`]: the keys `jwt` and `rate_limit` (JWT at the handshake, rate limiting).
//! - [`slow`]: slow consumers (`slow_share`, `slow_consumer`, `outbound_queue`) and the
//!   policies each target runs; [`network`]: `[network]`, the fault proxy's settings.
//! - [`features`]: the keys `namespaces`, `over_limit` and `cors`, and the namespace names.
//! - [`services`]: the service URLs tests read (`REDIS_URL`), skipped or required.
//! - [`ScenarioError`]: every mistake names `file:line` and the key (or the CLI flag).
//!
//! Inside: `raw` (serde structs with spans), `common` (settings shared by a file's points),
//! `budget` (the servers' CPU budget, `server_cpus`), `nodes` (clusters), `floor` (the side-by-side floor client),
//! `sweep` (the matrix), `validate` (the rules of one point, one validator per concern:
//! load and rate, payload, each workload's own settings).
//!
//! serde only, no tokio: nothing here opens a socket.

mod budget;
mod common;
mod error;
pub mod faults;
pub mod features;
mod floor;
mod load;
pub mod model;
pub mod network;
mod nodes;
mod overrides;
pub mod production;
mod raw;
pub mod services;
pub mod slow;
mod sweep;
pub mod target;
mod validate;

pub use common::{DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PHASES_S, ENVELOPE_HEADROOM_BYTES};
pub use error::ScenarioError;
pub use load::{load, parse};
pub use model::*;
pub use overrides::{Overrides, QUICK_PHASES};
pub use target::{
    ALL_TARGETS, BUILTIN_TARGETS, BuiltinTarget, DEFAULT_TARGETS, NodePeer, Protocol, RustServer,
    ServerKind, SioTransport, TARGETS, TargetError, TargetSpec, expand_targets,
};
pub use validate::DEFAULT_PAYLOAD_BYTES;
