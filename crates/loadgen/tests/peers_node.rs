//! The Node reference peers (scripts/peers/node) driven by the load generator's own
//! transports, then through the runner: the Socket.IO client against `node-socketio` over
//! WebSocket, long-polling and polling → upgrade, the raw client against `node-ws` (connect,
//! echo, ack, to_all to two clients, to_room isolation, to_id), and quick broadcast rows
//! against every Node target with nothing lost.
//!
//! The locked packages are installed first if needed (`npm ci`). Where `node` or `npm` is
//! missing, each test prints "skipped: node not found" and passes (CI has node).

mod run_support;
mod transport_support;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use wsbench_loadgen::peers::{NodePeers, NodeServer, find_on_path};
use wsbench_loadgen::supervise::ServerChild;
use wsbench_loadgen::transport::{
    AnyTransport, Endpoint, Incoming, OpKind, Outgoing, SioTransport, Transport,
};
use wsbench_scenario::{BroadcastOp, Overrides, Workload};
use wsbench_wire::payload::Stamp;

use transport_support::{T, connect, recv, req, send};

/// Bound on installing the packages (a cold `npm ci` downloads them).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// `node` and the installed peers, or `None` (and the skip notice) without node / npm.
async fn peers() -> Option<NodePeers> {
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        eprintln!("skipped: node not found");
        return None;
    }
    let peers = tokio::time::timeout(INSTALL_TIMEOUT, NodePeers::prepare(|m| eprintln!("{m}")))
        .await
        .expect("npm ci in time")
        .expect("the Node peers are installed");
    Some(peers)
}

/// Starts one Node server on 127.0.0.1:0 as a supervised child.
async fn start(peers: &NodePeers, server: NodeServer) -> ServerChild {
    ServerChild::spawn_command(&peers.command(server, &[]), None, Duration::from_secs(30))
        .await
        .expect("the Node server prints its ready line")
}

fn endpoint(child: &ServerChild, sio: Option<SioTransport>) -> Endpoint {
    let addr = child.addr();
    match sio {
        Some(transport) => Endpoint::Sio {
            addr,
            host: addr.to_string(),
            transport,
        },
        None => Endpoint::Ws {
            addr,
            host: addr.to_string(),
            path: "/ws".into(),
        },
    }
}

/// `data` as JSON text, compared byte for byte (raw) or as JSON values (Socket.IO
/// re-serialises event arguments).
struct Data {
    byte_exact: bool,
}

impl Data {
    #[track_caller]
    fn same(&self, got: &Bytes, want: &str) {
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

/// Proves `t` received nothing before this point: it echoes a fresh token to itself, and
/// that echo must be its very next delivery (the server wrote anything else first).
async fn nothing_pending(t: &mut AnyTransport, token: u64, d: &Data) {
    let data = Stamp {
        from: 99,
        seq: token,
        t: 0,
    }
    .encode(0);
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

/// The app protocol of docs/design.md §3 on three clients of one server.
async fn exercise(e: &Endpoint, byte_exact: bool) {
    let d = Data { byte_exact };
    let data = Stamp {
        from: 1,
        seq: 2,
        t: 3,
    }
    .encode(200);
    let data2 = Stamp {
        from: 2,
        seq: 9,
        t: 4,
    }
    .encode(60);

    // connect: distinct ids, handshake bytes counted
    let mut a = connect(e).await;
    let mut b = connect(e).await;
    assert!(!a.socket_id().is_empty() && a.socket_id() != b.socket_id());
    assert!(a.connect_time() > Duration::ZERO && a.bytes().r#in > 0);

    // echo; echo with an ack (the ack carries the data, no msg)
    send(
        &mut a,
        Outgoing {
            data: Some(&data),
            ..req(OpKind::Echo)
        },
    )
    .await;
    d.msg(&recv(&mut a).await, &data);
    send(
        &mut a,
        Outgoing {
            data: Some(&data),
            ack: Some(7),
            ..req(OpKind::Echo)
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

    // to_all to two clients, acked: the sender gets its msg and the ack, the other its msg
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
    d.msg(&got[0], &data2);
    assert_eq!(got[1], Incoming::Ack { ack: 8, data: None });
    d.msg(&recv(&mut b).await, &data2);

    // to_room isolation: b joins, c does not; a (not a member) sends to the room
    let mut c = connect(e).await;
    send(
        &mut b,
        Outgoing {
            room: Some("room 1"),
            ack: Some(1),
            ..req(OpKind::Join)
        },
    )
    .await;
    assert_eq!(recv(&mut b).await, Incoming::Ack { ack: 1, data: None });
    send(
        &mut a,
        Outgoing {
            room: Some("room 1"),
            data: Some(&data),
            ack: Some(9),
            ..req(OpKind::ToRoom)
        },
    )
    .await;
    assert_eq!(recv(&mut a).await, Incoming::Ack { ack: 9, data: None });
    d.msg(&recv(&mut b).await, &data);
    nothing_pending(&mut a, 100, &d).await;
    nothing_pending(&mut c, 101, &d).await;

    // to_id: only the addressed socket
    let c_id = c.socket_id().to_owned();
    send(
        &mut a,
        Outgoing {
            id: Some(&c_id),
            data: Some(&data2),
            ack: Some(10),
            ..req(OpKind::ToId)
        },
    )
    .await;
    assert_eq!(
        recv(&mut a).await,
        Incoming::Ack {
            ack: 10,
            data: None
        }
    );
    d.msg(&recv(&mut c).await, &data2);
    nothing_pending(&mut b, 102, &d).await;

    for mut t in [a, b, c] {
        tokio::time::timeout(T, t.close())
            .await
            .expect("close in time")
            .expect("close");
    }
}

async fn against(server: NodeServer, sio: Option<SioTransport>) {
    let Some(peers) = peers().await else { return };
    let child = start(&peers, server).await;
    exercise(&endpoint(&child, sio), sio.is_none()).await;
    child.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn raw_client_against_node_ws() {
    against(NodeServer::Ws, None).await;
}

#[tokio::test]
async fn sio_websocket_against_node_socketio() {
    against(NodeServer::SocketIo, Some(SioTransport::WebSocket)).await;
}

#[tokio::test]
async fn sio_long_polling_against_node_socketio() {
    against(NodeServer::SocketIo, Some(SioTransport::Polling)).await;
}

#[tokio::test]
async fn sio_polling_then_upgrade_against_node_socketio() {
    against(NodeServer::SocketIo, Some(SioTransport::PollingThenUpgrade)).await;
}

/// Node processes whose parent is this test process.
fn node_children() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split_whitespace().nth(1)?;
            (ppid == me && stat.contains("(node)")).then_some(stat)
        })
        .collect()
}

/// scenarios/broadcast.toml with `--targets all` and small N: the Node targets are in it;
/// run (quick) against them, every delivery arrives and the server is measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_rows_against_the_node_targets() {
    let Some(_) = peers().await else { return };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/broadcast.toml");
    let overrides = Overrides {
        targets: Some(vec!["all".into()]),
        clients: Some(8),
        rate: Some(50.0),
        warmup_s: Some(0.2),
        measure_s: Some(1.0),
        drain_s: Some(0.5),
        ..Overrides::default()
    };
    let mut points = wsbench_scenario::load(&file, &overrides).expect("broadcast.toml loads");
    let node = ["node-ws", "node-socketio", "node-socketio-polling"];
    for p in &mut points {
        assert!(
            node.iter().all(|n| p.targets.iter().any(|t| t == n)),
            "--targets all includes the Node peers: {:?}",
            p.targets
        );
        p.targets.retain(|t| t.starts_with("node-"));
    }
    let ops: Vec<BroadcastOp> = points
        .iter()
        .map(|p| match p.workload {
            Workload::Broadcast { op } => op,
            ref w => panic!("broadcast.toml is a broadcast workload, not {}", w.name()),
        })
        .collect();
    assert_eq!(ops, [BroadcastOp::ToAll, BroadcastOp::ToOthers]);

    let dir = tempfile::tempdir().unwrap();
    let out = run_support::run(points, dir.path()).await;
    assert!(out.failures.is_empty(), "{:#?}", out.failures);
    assert_eq!(out.rows.len(), 2 * node.len());
    for r in &out.rows {
        let ctx = format!("{} {} on {}: {r:#?}", r.scenario, r.sweep, r.target);
        let others = if r.sweep.contains("to_others") { 7 } else { 8 };
        assert!(r.sent >= 45 && r.expected == r.sent * others, "{ctx}");
        assert_eq!(r.delivered, r.expected, "{ctx}");
        assert_eq!((r.lost, r.duplicated, r.errors), (0, 0, 0), "{ctx}");
        assert!(r.server_cpu_s.is_some_and(|c| c > 0.0), "{ctx}");
        assert!(r.server_rss_peak_kb.is_some_and(|k| k > 10_000), "{ctx}");
    }
    let transports: Vec<&str> = out.rows[..3].iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(transports, ["websocket", "websocket", "polling"]);
    assert!(
        node_children().is_empty(),
        "Node servers still alive: {:?}",
        node_children()
    );
}
