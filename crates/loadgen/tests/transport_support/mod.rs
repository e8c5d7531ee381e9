//! Shared by the transport integration tests: start a real wsbench server on
//! `127.0.0.1:0`, build endpoints for it, and bounded receive helpers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wsbench_loadgen::transport::{
    AnyTransport, Endpoint, Incoming, OpKind, Outgoing, SioTransport, Transport,
};
use wsbench_servers::{RustServer, ServerConfig};

/// Bound on every network await in these tests.
pub const T: Duration = Duration::from_secs(10);

/// A server running in this process until [`Server::stop`].
pub struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

pub async fn start(target: RustServer, cfg: ServerConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let handle = tokio::spawn(async move {
        let result =
            wsbench_servers::serve(target, listener, cfg, Default::default(), shutdown).await;
        result.expect("server ran");
    });
    Server { addr, stop, handle }
}

impl Server {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(T, self.handle)
            .await
            .expect("server stops")
            .expect("server task");
    }

    pub fn raw_endpoint(&self, target: RustServer) -> Endpoint {
        match target {
            RustServer::Tcp => Endpoint::Tcp(self.addr),
            _ => Endpoint::Ws {
                addr: self.addr,
                host: self.addr.to_string(),
                path: "/ws".into(),
            },
        }
    }

    pub fn sio_endpoint(&self, transport: SioTransport) -> Endpoint {
        Endpoint::Sio {
            addr: self.addr,
            host: self.addr.to_string(),
            transport,
            auth: None,
            origin: None,
        }
    }
}

pub async fn connect(endpoint: &Endpoint) -> AnyTransport {
    wsbench_loadgen::transport::connect(endpoint, T)
        .await
        .unwrap_or_else(|err| panic!("connect to {endpoint:?}: {err}"))
}

pub async fn recv(t: &mut AnyTransport) -> Incoming {
    tokio::time::timeout(T, t.recv())
        .await
        .expect("a message in time")
        .expect("recv")
}

pub async fn send(t: &mut AnyTransport, req: Outgoing<'_>) {
    tokio::time::timeout(T, t.send(req))
        .await
        .expect("send in time")
        .expect("send");
}

pub fn req<'a>(op: OpKind) -> Outgoing<'a> {
    Outgoing {
        op,
        room: None,
        id: None,
        data: None,
        ack: None,
    }
}

/// `data` as JSON text, compared byte for byte (raw) or as JSON values (Socket.IO
/// re-serialises event arguments: same JSON, other key order).
struct Data {
    byte_exact: bool,
}

impl Data {
    #[track_caller]
    fn same(&self, got: &bytes::Bytes, want: &str) {
        if self.byte_exact {
            assert_eq!(got, want.as_bytes(), "data");
        } else {
            let a: serde_json::Value = serde_json::from_slice(got).expect("JSON data");
            let b: serde_json::Value = serde_json::from_str(want).unwrap();
            assert_eq!(a, b, "data");
        }
    }

    #[track_caller]
    fn msg(&self, got: &Incoming, want: &str) {
        match got {
            Incoming::Msg(d) => self.same(d, want),
            other => panic!("want msg {want}, got {other:?}"),
        }
    }
}

fn stamp(from: u32, seq: u64, pad: usize) -> String {
    wsbench_wire::payload::Stamp { from, seq, t: 3 }.encode(pad)
}

/// Proves `t` received nothing before this point: it echoes a fresh token to itself, and
/// that echo must be its very next delivery (the server wrote anything else first).
async fn nothing_pending(t: &mut AnyTransport, token: u64, d: &Data) {
    let data = stamp(99, token, 0);
    send(
        t,
        Outgoing {
            data: Some(&data),
            ..req(OpKind::Echo)
        },
    )
    .await;
    d.msg(&recv(t).await, &data);
}

/// Sends `out` with ack `n` from `t`: the ack comes next, preceded (in either order) by the
/// sender's own copy `own` when the op reaches the sender.
async fn acked(t: &mut AnyTransport, out: Outgoing<'_>, n: u64, own: Option<&str>, d: &Data) {
    send(
        t,
        Outgoing {
            ack: Some(n),
            ..out
        },
    )
    .await;
    let ack = Incoming::Ack { ack: n, data: None };
    match own {
        None => assert_eq!(recv(t).await, ack),
        Some(want) => {
            let mut got = [recv(t).await, recv(t).await];
            got.sort_by_key(|i| matches!(i, Incoming::Ack { .. }));
            d.msg(&got[0], want);
            assert_eq!(got[1], ack);
        }
    }
}

/// The protocol contract of docs/design.md §3 through the load generator's transports, on
/// three clients of one server: connect (distinct ids), echo with and without an ack, and
/// every fan-out op reaching exactly its recipients (to_all, to_others, join, to_room from a
/// non-member and from a member, leave, to_id, to_id to nobody). "Receives nothing" is
/// proved with [`nothing_pending`], never with a sleep. `byte_exact`: raw targets pass
/// `data` through untouched; Socket.IO servers re-serialise it.
pub async fn exercise(e: &Endpoint, byte_exact: bool) {
    let d = Data { byte_exact };
    let data = stamp(1, 2, 200);
    let data2 = stamp(2, 9, 60);

    // connect: distinct ids, handshake bytes counted
    let mut a = connect(e).await;
    let mut b = connect(e).await;
    let mut c = connect(e).await;
    assert!(!a.socket_id().is_empty());
    assert!(a.socket_id() != b.socket_id() && b.socket_id() != c.socket_id());
    assert!(a.connect_time() > Duration::ZERO);
    let at_connect = a.bytes();
    // (a tcp client sends nothing before its first request; everything else handshakes)
    assert!(at_connect.r#in > 0, "{at_connect:?}");

    // echo; echo with an ack (the ack carries the data, no msg)
    let echo = Outgoing {
        data: Some(&data),
        ..req(OpKind::Echo)
    };
    send(&mut a, echo).await;
    d.msg(&recv(&mut a).await, &data);
    send(
        &mut a,
        Outgoing {
            ack: Some(7),
            ..echo
        },
    )
    .await;
    match recv(&mut a).await {
        Incoming::Ack {
            ack: 7,
            data: Some(got),
        } => d.same(&got, &data),
        other => panic!("want ack 7 with data, got {other:?}"),
    }
    nothing_pending(&mut a, 100, &d).await;

    // to_all: everyone, the sender included
    let to_all = Outgoing {
        data: Some(&data2),
        ..req(OpKind::ToAll)
    };
    acked(&mut a, to_all, 8, Some(&data2), &d).await;
    d.msg(&recv(&mut b).await, &data2);
    d.msg(&recv(&mut c).await, &data2);

    // to_others: everyone but the sender
    let to_others = Outgoing {
        data: Some(&data),
        ..req(OpKind::ToOthers)
    };
    acked(&mut b, to_others, 9, None, &d).await;
    d.msg(&recv(&mut a).await, &data);
    d.msg(&recv(&mut c).await, &data);
    nothing_pending(&mut b, 101, &d).await;

    // to_room from a non-member: the members only (b joined, c did not)
    let join = Outgoing {
        room: Some("room 1"),
        ..req(OpKind::Join)
    };
    acked(&mut b, join, 1, None, &d).await;
    let to_room = |data| Outgoing {
        room: Some("room 1"),
        data: Some(data),
        ..req(OpKind::ToRoom)
    };
    acked(&mut a, to_room(&data), 10, None, &d).await;
    d.msg(&recv(&mut b).await, &data);
    nothing_pending(&mut a, 102, &d).await;
    nothing_pending(&mut c, 103, &d).await;

    // to_room from a member: the sender too
    acked(&mut b, to_room(&data2), 11, Some(&data2), &d).await;
    nothing_pending(&mut c, 104, &d).await;

    // leave: the room is empty, a to_room reaches nobody
    let leave = Outgoing {
        room: Some("room 1"),
        ..req(OpKind::Leave)
    };
    acked(&mut b, leave, 2, None, &d).await;
    acked(&mut a, to_room(&data), 12, None, &d).await;
    nothing_pending(&mut b, 105, &d).await;

    // to_id: only the addressed socket; an unknown id reaches nobody and is still acked
    let c_id = c.socket_id().to_owned();
    let to_id = |id, data| Outgoing {
        id: Some(id),
        data: Some(data),
        ..req(OpKind::ToId)
    };
    acked(&mut a, to_id(&c_id, &data2), 13, None, &d).await;
    d.msg(&recv(&mut c).await, &data2);
    acked(&mut a, to_id("424242", &data), 14, None, &d).await;
    for (t, token) in [(&mut a, 106), (&mut b, 107), (&mut c, 108)] {
        nothing_pending(t, token, &d).await;
    }

    // clean close; the bytes grew
    let after = a.bytes();
    assert!(after.out > at_connect.out && after.r#in > at_connect.r#in);
    for mut t in [a, b, c] {
        tokio::time::timeout(T, t.close())
            .await
            .expect("close in time")
            .expect("close");
    }
}
