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
use wsbench_servers::{ServerConfig, Target};

/// Bound on every network await in these tests.
pub const T: Duration = Duration::from_secs(10);

/// A server running in this process until [`Server::stop`].
pub struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

pub async fn start(target: Target, cfg: ServerConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let handle = tokio::spawn(async move {
        let result = match target {
            Target::Tcp => wsbench_servers::tcp::run(listener, cfg, shutdown).await,
            Target::WsTungstenite => {
                wsbench_servers::ws_tungstenite::run(listener, cfg, shutdown).await
            }
            Target::WsFastwebsockets => {
                wsbench_servers::ws_fastwebsockets::run(listener, cfg, shutdown).await
            }
            Target::SioSocketioxide => wsbench_servers::sio::run(listener, cfg, shutdown).await,
        };
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

    pub fn raw_endpoint(&self, target: Target) -> Endpoint {
        match target {
            Target::Tcp => Endpoint::Tcp(self.addr),
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

/// `got` as `want` would be, with `data` compared as JSON values unless `byte_exact`
/// (socketioxide re-serialises event arguments: same JSON, other key order).
#[track_caller]
pub fn assert_incoming(got: &Incoming, want: &Incoming, byte_exact: bool) {
    fn json(b: &[u8]) -> serde_json::Value {
        serde_json::from_slice(b).expect("JSON data")
    }
    let same_data = |a: &bytes::Bytes, b: &bytes::Bytes| {
        if byte_exact {
            a == b
        } else {
            json(a) == json(b)
        }
    };
    let ok = match (got, want) {
        (Incoming::Msg(a), Incoming::Msg(b)) => same_data(a, b),
        (Incoming::Ack { ack: n, data: a }, Incoming::Ack { ack: m, data: b }) => {
            n == m
                && match (a, b) {
                    (Some(a), Some(b)) => same_data(a, b),
                    (a, b) => a == b,
                }
        }
        (a, b) => a == b,
    };
    assert!(ok, "got {got:?}, want {want:?}");
}

/// The whole contract of docs/design.md §3 that a transport must carry, on two clients.
pub async fn exercise(endpoint: &Endpoint, byte_exact: bool) {
    let data = wsbench_wire::payload::Stamp {
        from: 1,
        seq: 2,
        t: 3,
    }
    .encode(300);
    let data2 = wsbench_wire::payload::Stamp {
        from: 2,
        seq: 9,
        t: 4,
    }
    .encode(80);
    let msg = |d: &str| Incoming::Msg(bytes::Bytes::copy_from_slice(d.as_bytes()));

    let mut a = connect(endpoint).await;
    let mut b = connect(endpoint).await;
    assert!(!a.socket_id().is_empty());
    assert_ne!(a.socket_id(), b.socket_id());
    assert!(a.connect_time() > Duration::ZERO);
    let at_connect = a.bytes();
    // (a tcp client sends nothing before its first request; everything else handshakes)
    assert!(at_connect.r#in > 0, "{at_connect:?}");

    // echo, then echo with an ack (the ack carries the data, no msg)
    send(
        &mut a,
        Outgoing {
            data: Some(&data),
            ..req(OpKind::Echo)
        },
    )
    .await;
    assert_incoming(&recv(&mut a).await, &msg(&data), byte_exact);
    send(
        &mut a,
        Outgoing {
            data: Some(&data),
            ack: Some(7),
            ..req(OpKind::Echo)
        },
    )
    .await;
    let want = Incoming::Ack {
        ack: 7,
        data: Some(bytes::Bytes::copy_from_slice(data.as_bytes())),
    };
    assert_incoming(&recv(&mut a).await, &want, byte_exact);

    // to_all with an ack reaches both; the sender gets its msg and the ack in some order
    send(
        &mut a,
        Outgoing {
            data: Some(&data2),
            ack: Some(8),
            ..req(OpKind::ToAll)
        },
    )
    .await;
    let mut got = [recv(&mut a).await, recv(&mut a).await];
    got.sort_by_key(|i| matches!(i, Incoming::Ack { .. }));
    assert_incoming(&got[0], &msg(&data2), byte_exact);
    assert_eq!(got[1], Incoming::Ack { ack: 8, data: None });
    assert_incoming(&recv(&mut b).await, &msg(&data2), byte_exact);

    // join (acked, so membership is in place), to_room and to_id
    send(
        &mut b,
        Outgoing {
            room: Some("r 1"),
            ack: Some(1),
            ..req(OpKind::Join)
        },
    )
    .await;
    assert_incoming(
        &recv(&mut b).await,
        &Incoming::Ack { ack: 1, data: None },
        byte_exact,
    );
    send(
        &mut a,
        Outgoing {
            room: Some("r 1"),
            data: Some(&data),
            ..req(OpKind::ToRoom)
        },
    )
    .await;
    assert_incoming(&recv(&mut b).await, &msg(&data), byte_exact);
    let b_id = b.socket_id().to_owned();
    send(
        &mut a,
        Outgoing {
            id: Some(&b_id),
            data: Some(&data2),
            ..req(OpKind::ToId)
        },
    )
    .await;
    assert_incoming(&recv(&mut b).await, &msg(&data2), byte_exact);

    // clean close; the bytes grew
    let after = a.bytes();
    assert!(after.out > at_connect.out && after.r#in > at_connect.r#in);
    tokio::time::timeout(T, a.close())
        .await
        .expect("close in time")
        .expect("close a");
    tokio::time::timeout(T, b.close())
        .await
        .expect("close in time")
        .expect("close b");
}
