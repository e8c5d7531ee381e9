//! The one seam every protocol the load generator speaks sits behind.
//!
//! A worker owns one connection and drives it from one task: it `select!`s between its send
//! schedule and [`Transport::recv`], so `recv` must be cancel-safe (dropping its future loses
//! nothing). Each implementation counts the bytes it moves on the socket itself.
//!
//! - [`connect`] / [`AnyTransport`]: any [`Endpoint`] to a connected transport.
//! - [`tcp`], [`ws`]: the raw targets (length-prefixed JSON, WebSocket text frames).
//! - [`sio_ws`], [`sio_polling`], [`sio_upgrade`]: Socket.IO on each Engine.IO transport.
//! - [`http`]: keep-alive HTTP/1.1 ([`HttpClient`] for the REST routes).
//! - [`rxstamp`]: kernel receive timestamps ([`Transport::last_rx`]) and their clock.

mod any;
pub(crate) mod codec;
mod counted;
pub mod http;
pub mod rxstamp;
pub mod sio_polling;
pub mod sio_upgrade;
pub mod sio_ws;
pub mod tcp;
pub mod ws;

pub use any::{AnyTransport, connect, describe};
pub use http::HttpClient;
pub use rxstamp::RxStamp;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

/// Which op a request asks for (docs/design.md §3; Socket.IO: the event of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Join,
    Leave,
    ToAll,
    ToOthers,
    ToRoom,
    ToId,
    Echo,
}

impl OpKind {
    /// Wire name, also the Socket.IO event name.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Join => "join",
            OpKind::Leave => "leave",
            OpKind::ToAll => "to_all",
            OpKind::ToOthers => "to_others",
            OpKind::ToRoom => "to_room",
            OpKind::ToId => "to_id",
            OpKind::Echo => "echo",
        }
    }
}

/// One request, protocol-neutral. `data` is JSON text the load generator built itself
/// (trusted, not re-validated).
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub op: OpKind,
    pub room: Option<&'a str>,
    pub id: Option<&'a str>,
    pub data: Option<&'a str>,
    /// Raw targets: the `"ack":N` field. Socket.IO: the packet's ack id.
    pub ack: Option<u64>,
}

/// What a connection received.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A delivery: raw `{"op":"msg","data":D}` or Socket.IO event `msg(D)`. Holds D's JSON text.
    Msg(Bytes),
    /// Another server event (Socket.IO `update(D)` in polling-vs-push): name and first arg.
    Event { name: String, data: Bytes },
    /// An ack for request `ack`; `data` is the echo payload where the server sent one.
    Ack { ack: u64, data: Option<Bytes> },
    /// The server refused a request (`{"op":"error",…}` / a Socket.IO error).
    Error(String),
}

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Length-prefixed JSON over TCP.
    Tcp(SocketAddr),
    /// Raw WebSocket; `path` is normally `/ws`.
    Ws {
        addr: SocketAddr,
        host: String,
        path: String,
    },
    /// Socket.IO, namespace `/`, at `http://host/socket.io/`.
    Sio {
        addr: SocketAddr,
        host: String,
        transport: SioTransport,
        /// The handshake's auth object as JSON text (`{"token":"…"}` for `--jwt-secret`),
        /// sent in the CONNECT packet; `None`: a bare CONNECT.
        auth: Option<String>,
        /// Long-polling as a browser on another origin (`cors = "preflight"`): every request
        /// carries `Origin`, every POST follows an `OPTIONS` preflight. `None`: same-origin.
        origin: Option<String>,
    },
}

/// The Engine.IO transport a Socket.IO client uses (defined with the target table).
pub use wsbench_scenario::SioTransport;

/// Bytes a connection moved on its socket, handshakes included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteCounts {
    pub out: u64,
    pub r#in: u64,
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connect to {endpoint} failed: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("handshake with {endpoint} failed: {reason}")]
    Handshake { endpoint: String, reason: String },
    #[error("connection closed by peer{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed { reason: Option<String> },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One client connection of any protocol.
pub trait Transport: Send + 'static {
    /// The server-assigned socket id (raw: from `welcome`; Socket.IO: from the CONNECT reply).
    fn socket_id(&self) -> &str;
    /// Time from starting the TCP connect to having the socket id (all handshakes).
    fn connect_time(&self) -> Duration;
    /// Sends one request (flushed).
    fn send(
        &mut self,
        req: Outgoing<'_>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Next application message. Cancel-safe. Protocol chatter (pings, noops) is handled
    /// inside and never returned.
    fn recv(&mut self) -> impl Future<Output = Result<Incoming, TransportError>> + Send;
    /// The kernel's receive stamp of the read that completed the message `recv` returned
    /// last (the last read before it was returned); `None` where the read carried no stamp.
    fn last_rx(&self) -> Option<RxStamp>;
    /// Closes cleanly (WebSocket close / Socket.IO disconnect).
    fn close(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Bytes moved so far.
    fn bytes(&self) -> ByteCounts;

    /// The namespace slot of the message `recv` returned last: 0 is the connection's own
    /// (`/` on Socket.IO; a raw connection has no other), `1 + i` the `i`-th of those it
    /// [`follow`](Transport::follow)s.
    fn last_ns(&self) -> usize {
        0
    }

    /// Socket.IO only: also CONNECT to the namespaces `more` (with the handshake's `auth`
    /// object, JSON text) over this connection and wait for every reply; from then on
    /// [`send`](Transport::send) emits in slot `send_in` (0: `/`). Other transports have one
    /// namespace per connection and refuse.
    fn follow(
        &mut self,
        more: &[String],
        auth: Option<&str>,
        send_in: usize,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = (more, auth, send_in);
        async {
            Err(TransportError::Protocol(
                "only a Socket.IO WebSocket connection multiplexes namespaces".into(),
            ))
        }
    }

    /// CORS preflights (`OPTIONS`) this connection sent (long-polling with a browser's
    /// `Origin`; 0 elsewhere).
    fn preflights(&self) -> u64 {
        0
    }
}
