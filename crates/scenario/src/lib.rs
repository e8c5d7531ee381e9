//! Scenario files: TOML → one typed, validated [`Scenario`] per sweep point.
//!
//! - [`model`]: the validated types every other crate reads.
//!
//! serde only, no tokio: nothing here opens a socket.

pub mod model;

pub use model::*;
