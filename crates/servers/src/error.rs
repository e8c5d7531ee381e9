//! ServerError, the one error type of this crate (bind, database, I/O).

use std::net::SocketAddr;

/// Everything a server target can fail with. Messages say what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An I/O operation on a socket or file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Binding or inspecting a listening socket failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The database behind the REST routes failed (open, schema, query).
    #[error("database error: {0}")]
    Database(String),
    /// The configuration cannot be served (e.g. a limit of zero).
    #[error("invalid server configuration: {0}")]
    Config(String),
    /// The HTTP server (hyper/axum) failed while serving.
    #[error("http server error: {0}")]
    Http(String),
}
