//! The one table of built-in targets: for each, its name, the protocol the load generator
//! speaks to it (with the Engine.IO transport for Socket.IO), the server that provides it
//! (a `wsbench serve <server>` or a Node reference peer), whether a scenario runs it by
//! default, and the line `wsbench list` prints. Every crate reads target facts from here;
//! no other list of target names exists (docs/design.md §2).

/// The Engine.IO transport a Socket.IO client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SioTransport {
    /// Connect straight over WebSocket (`transport=websocket`).
    WebSocket,
    /// HTTP long-polling only.
    Polling,
    /// Start with polling, then upgrade to WebSocket (the browser client's default).
    PollingThenUpgrade,
}

/// The protocol a target is spoken to with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// 4-byte big-endian length prefix + the app protocol's JSON.
    Tcp,
    /// Raw WebSocket, one JSON object per text frame.
    Ws,
    /// Socket.IO v5 over the given Engine.IO transport.
    Sio(SioTransport),
}

impl Protocol {
    /// The row's `transport` column.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Ws | Protocol::Sio(SioTransport::WebSocket) => "websocket",
            Protocol::Sio(SioTransport::Polling) => "polling",
            Protocol::Sio(SioTransport::PollingThenUpgrade) => "polling-upgrade",
        }
    }

    /// File descriptors one client holds (long-polling keeps a GET and a POST open).
    pub fn fds_per_client(self) -> u64 {
        match self {
            Protocol::Sio(SioTransport::Polling | SioTransport::PollingThenUpgrade) => 2,
            _ => 1,
        }
    }

    /// Whether a server spoken to this way serves HTTP (the REST routes polling-vs-push
    /// needs): all but tcp.
    pub fn has_http(self) -> bool {
        self != Protocol::Tcp
    }

    /// Whether this is Socket.IO (over any transport).
    pub fn is_socket_io(self) -> bool {
        matches!(self, Protocol::Sio(_))
    }

    /// Every protocol, in the order external kinds are listed.
    pub const ALL: [Protocol; 5] = [
        Protocol::Sio(SioTransport::WebSocket),
        Protocol::Sio(SioTransport::Polling),
        Protocol::Sio(SioTransport::PollingThenUpgrade),
        Protocol::Ws,
        Protocol::Tcp,
    ];

    /// The `kind` of an external target `kind=url` spoken to this way.
    pub fn external_kind(self) -> &'static str {
        match self {
            Protocol::Sio(SioTransport::WebSocket) => "sio",
            Protocol::Sio(SioTransport::Polling) => "sio-polling",
            Protocol::Sio(SioTransport::PollingThenUpgrade) => "sio-upgrade",
            Protocol::Ws => "ws",
            Protocol::Tcp => "tcp",
        }
    }

    /// The protocol of an external `kind`, if it is one.
    pub fn from_external_kind(kind: &str) -> Option<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.external_kind() == kind)
    }
}

/// A Rust server `wsbench serve <name>` runs (crate `wsbench-servers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RustServer {
    /// Length-prefixed JSON over plain TCP: the floor.
    Tcp,
    /// axum `extract::ws` (tokio-tungstenite).
    WsTungstenite,
    /// hyper 1 (through axum) + fastwebsockets.
    WsFastwebsockets,
    /// axum + socketioxide; serves both Engine.IO transports.
    SioSocketioxide,
}

impl RustServer {
    /// Every Rust server, in the order `wsbench serve` lists them.
    pub const ALL: [RustServer; 4] = [
        RustServer::Tcp,
        RustServer::WsTungstenite,
        RustServer::WsFastwebsockets,
        RustServer::SioSocketioxide,
    ];

    /// The argument of `wsbench serve` (also the name of the target that reaches this
    /// server over its primary transport).
    pub fn name(self) -> &'static str {
        match self {
            RustServer::Tcp => "tcp",
            RustServer::WsTungstenite => "ws-tungstenite",
            RustServer::WsFastwebsockets => "ws-fastwebsockets",
            RustServer::SioSocketioxide => "sio-socketioxide",
        }
    }

    /// The server `wsbench serve <name>` runs.
    pub fn from_name(name: &str) -> Option<RustServer> {
        RustServer::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the server speaks raw WebSocket (and so can run as an echo server).
    pub fn is_raw_websocket(self) -> bool {
        matches!(
            self,
            RustServer::WsTungstenite | RustServer::WsFastwebsockets
        )
    }
}

/// A Node reference peer (scripts/peers/node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodePeer {
    /// `ws-server.js`: http + `ws`, the raw protocol on `/ws`.
    Ws,
    /// `socketio-server.js`: socket.io 4.8, polling + websocket.
    SocketIo,
}

impl NodePeer {
    /// The script in the peers' folder.
    pub fn script(self) -> &'static str {
        match self {
            NodePeer::Ws => "ws-server.js",
            NodePeer::SocketIo => "socketio-server.js",
        }
    }
}

/// Which server process provides a built-in target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// `wsbench serve <server>`.
    Serve(RustServer),
    /// `node scripts/peers/node/<script>`.
    Node(NodePeer),
}

/// One built-in target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BuiltinTarget {
    /// The name in scenarios, `--targets`, result rows and plots.
    pub name: &'static str,
    /// How the load generator speaks to it; its `label` is the row's `transport` column.
    pub protocol: Protocol,
    /// The process the run starts for it.
    pub server: ServerKind,
    /// Whether a scenario that names no targets runs it.
    pub default: bool,
    /// What it is, in one line (`wsbench list`).
    pub description: &'static str,
}

impl BuiltinTarget {
    /// Whether it serves the REST routes (polling-vs-push needs them).
    pub fn has_http(&self) -> bool {
        self.protocol.has_http()
    }
}

use NodePeer as N;
use RustServer as R;
use SioTransport as T;

const fn row(
    name: &'static str,
    protocol: Protocol,
    server: ServerKind,
    default: bool,
    description: &'static str,
) -> BuiltinTarget {
    BuiltinTarget {
        name,
        protocol,
        server,
        default,
        description,
    }
}

/// Every built-in target, in the order `all` expands to (Rust first, from the floor up,
/// then the Node peers).
pub const TARGETS: &[BuiltinTarget] = &[
    row(
        "tcp",
        Protocol::Tcp,
        ServerKind::Serve(R::Tcp),
        true,
        "tokio TCP, 4-byte length prefix + JSON: the floor, no WebSocket framing",
    ),
    row(
        "ws-tungstenite",
        Protocol::Ws,
        ServerKind::Serve(R::WsTungstenite),
        true,
        "axum extract::ws (tokio-tungstenite): what most Rust apps use",
    ),
    row(
        "ws-fastwebsockets",
        Protocol::Ws,
        ServerKind::Serve(R::WsFastwebsockets),
        true,
        "hyper 1 + fastwebsockets: the fast raw stack",
    ),
    row(
        "sio-socketioxide",
        Protocol::Sio(T::WebSocket),
        ServerKind::Serve(R::SioSocketioxide),
        true,
        "axum + socketioxide, WebSocket transport",
    ),
    row(
        "sio-socketioxide-polling",
        Protocol::Sio(T::Polling),
        ServerKind::Serve(R::SioSocketioxide),
        true,
        "the same server, Engine.IO long-polling only",
    ),
    row(
        "sio-socketioxide-upgrade",
        Protocol::Sio(T::PollingThenUpgrade),
        ServerKind::Serve(R::SioSocketioxide),
        false,
        "the same server, polling then upgrade to WebSocket",
    ),
    row(
        "node-ws",
        Protocol::Ws,
        ServerKind::Node(N::Ws),
        false,
        "Node `ws` + http (scripts/peers/node)",
    ),
    row(
        "node-socketio",
        Protocol::Sio(T::WebSocket),
        ServerKind::Node(N::SocketIo),
        false,
        "Node socket.io 4.8, WebSocket transport (scripts/peers/node)",
    ),
    row(
        "node-socketio-polling",
        Protocol::Sio(T::Polling),
        ServerKind::Node(N::SocketIo),
        false,
        "Node socket.io 4.8, long-polling only",
    ),
];

/// The built-in target called `name`.
pub fn builtin(name: &str) -> Option<&'static BuiltinTarget> {
    TARGETS.iter().find(|t| t.name == name)
}

const fn default_count() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < TARGETS.len() {
        if TARGETS[i].default {
            n += 1;
        }
        i += 1;
    }
    n
}

const NAMES: [&str; TARGETS.len()] = {
    let mut out = [""; TARGETS.len()];
    let mut i = 0;
    while i < TARGETS.len() {
        out[i] = TARGETS[i].name;
        i += 1;
    }
    out
};

const DEFAULT_NAMES: [&str; default_count()] = {
    let mut out = [""; default_count()];
    let (mut i, mut n) = (0, 0);
    while i < TARGETS.len() {
        if TARGETS[i].default {
            out[n] = TARGETS[i].name;
            n += 1;
        }
        i += 1;
    }
    out
};

/// The names of [`TARGETS`], in order.
pub const BUILTIN_TARGETS: &[&str] = &NAMES;

/// The targets a scenario runs when it names none: the Rust ones marked `default` (minus
/// those that cannot run the workload, see [`super::TargetSpec::supports`]).
pub const DEFAULT_TARGETS: &[&str] = &DEFAULT_NAMES;

/// Servers of your own, given by address: the form and what it is (`wsbench list`).
pub const EXTERNAL_FORMS: &[(&str, &str)] = &[
    (
        "sio=http://host:port",
        "your own Socket.IO server (also sio-polling=, sio-upgrade=)",
    ),
    (
        "ws=ws://host:port/ws",
        "your own raw WebSocket server (the protocol of docs/protocol.md)",
    ),
    ("tcp=host:port", "your own length-prefixed TCP server"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_are_rust_targets() {
        for (i, t) in TARGETS.iter().enumerate() {
            assert!(
                TARGETS[..i].iter().all(|u| u.name != t.name),
                "{} twice",
                t.name
            );
            assert!(!t.description.is_empty(), "{}", t.name);
        }
        for name in DEFAULT_TARGETS {
            let t = builtin(name).unwrap();
            assert!(
                t.default && matches!(t.server, ServerKind::Serve(_)),
                "{name}"
            );
        }
        assert_eq!(NAMES.len(), TARGETS.len());
    }

    #[test]
    fn every_rust_server_has_the_target_of_its_name() {
        for s in RustServer::ALL {
            assert_eq!(RustServer::from_name(s.name()), Some(s));
            let t = builtin(s.name()).unwrap();
            assert_eq!(t.server, ServerKind::Serve(s), "{}", s.name());
        }
        assert_eq!(RustServer::from_name("nope"), None);
        // and every Rust server is reached by some target
        for s in RustServer::ALL {
            assert!(TARGETS.iter().any(|t| t.server == ServerKind::Serve(s)));
        }
    }

    #[test]
    fn protocol_facts() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_external_kind(p.external_kind()), Some(p));
        }
        assert_eq!(Protocol::from_external_kind("mqtt"), None);
        let t = builtin("sio-socketioxide-upgrade").unwrap();
        assert_eq!(t.protocol.label(), "polling-upgrade");
        assert_eq!(t.protocol.fds_per_client(), 2);
        assert!(!builtin("tcp").unwrap().has_http());
        assert!(builtin("node-ws").unwrap().has_http());
        // the Node Socket.IO peer is Socket.IO, the Node ws peer is not
        assert!(
            builtin("node-socketio-polling")
                .unwrap()
                .protocol
                .is_socket_io()
        );
        assert!(!builtin("node-ws").unwrap().protocol.is_socket_io());
    }
}
