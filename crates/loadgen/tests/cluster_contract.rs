//! Clusters over Redis (docs/cluster.md): every target with an adapter, run as three nodes
//! on one Redis, keeps the ops' meaning across nodes. Four clients (a, b on node 1, c on
//! node 2, d on node 3) through the load generator's own transports: `to_all`,
//! `to_others`, `to_room` (members on two nodes; from a member, from a non-member on a node
//! without members, after a leave) and `to_id` (to each other node, to the same node, to
//! nobody) each reach exactly their recipients, once; socket ids are unique across nodes.
//!
//! "Exactly" without sleeps: after each op (acked) the same client sends a `to_all` marker,
//! and every client collects its deliveries up to the marker. One sender's ops reach every
//! node in order (one publishing connection per node), so whatever the op delivered to a
//! client arrives before the marker, and a duplicate would too.
//!
//! The Rust targets run in this process (three servers each); the Node peers as child
//! processes, started as a run starts them. Needs Redis at `REDIS_URL`: without it the tests
//! print `skipped: … REDIS_URL not set` and pass, unless `WSBENCH_REQUIRE_SERVICES` is set
//! (CI), where they fail.

mod transport_support;

use std::path::Path;
use std::time::Duration;

use transport_support::{T, connect, recv, req, send, start};
use wsbench_loadgen::peers::find_on_path;
use wsbench_loadgen::runner::target::{endpoint, resolve};
use wsbench_loadgen::transport::{AnyTransport, Endpoint, Incoming, OpKind, Outgoing, Transport};
use wsbench_scenario::{ServerKind, TARGETS, TargetSpec};
use wsbench_servers::ServerConfig;
use wsbench_servers::cluster::AdapterConfig;

use wsbench_scenario::services::redis_url_or_skip as redis_url;

/// A channel prefix of its own per cluster, so tests running at once never share channels.
fn prefix(name: &str) -> String {
    format!("wsbench-test-{name}-{}", std::process::id())
}

/// The data of op number `seq` from client `from`.
fn stamp(from: u32, seq: u64) -> String {
    wsbench_wire::payload::Stamp { from, seq, t: 1 }.encode(40)
}

fn seq_of(data: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(data).expect("JSON data");
    v["seq"].as_u64().expect("a stamped delivery")
}

const MARK: u64 = 1_000_000;

/// The four clients and their node of every cluster test.
struct Clients {
    c: Vec<AnyTransport>,
    next_ack: u64,
}

impl Clients {
    /// a, b on node 1, c on node 2, d on node 3.
    async fn connect(nodes: &[Endpoint]) -> Clients {
        assert_eq!(nodes.len(), 3);
        let mut c = Vec::new();
        for node in [0, 0, 1, 2] {
            c.push(connect(&nodes[node]).await);
        }
        let mut ids: Vec<&str> = c.iter().map(|t| t.socket_id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4, "socket ids unique across nodes");
        Clients { c, next_ack: 1 }
    }

    fn id(&self, i: usize) -> String {
        self.c[i].socket_id().to_owned()
    }

    /// Client `i` sends `out` and waits for its ack; returns the deliveries it got meanwhile.
    async fn acked(&mut self, i: usize, out: Outgoing<'_>) -> Vec<u64> {
        let n = self.next_ack;
        self.next_ack += 1;
        send(
            &mut self.c[i],
            Outgoing {
                ack: Some(n),
                ..out
            },
        )
        .await;
        let mut got = Vec::new();
        loop {
            match recv(&mut self.c[i]).await {
                Incoming::Ack { ack, .. } if ack == n => return got,
                Incoming::Msg(d) => got.push(seq_of(&d)),
                other => panic!("client {i}: unexpected {other:?} before ack {n}"),
            }
        }
    }

    /// Client `i` does `op` with `data` stamped `seq`; then every client must have received
    /// it exactly when `reach[client]`, proved by a marker from the same client.
    async fn check(&mut self, what: &str, i: usize, out: Outgoing<'_>, seq: u64, reach: [bool; 4]) {
        let mut got = vec![Vec::new(); 4];
        got[i] = self.acked(i, out).await;
        let marker = stamp(i as u32, MARK + seq);
        let to_all = Outgoing {
            data: Some(&marker),
            ..req(OpKind::ToAll)
        };
        got[i].extend(self.acked(i, to_all).await);
        for (k, t) in self.c.iter_mut().enumerate() {
            if let Some(at) = got[k].iter().position(|s| *s == MARK + seq) {
                got[k].truncate(at);
                continue;
            }
            loop {
                match recv(t).await {
                    Incoming::Msg(d) => match seq_of(&d) {
                        s if s == MARK + seq => break,
                        s => got[k].push(s),
                    },
                    other => panic!("{what}: client {k}: unexpected {other:?}"),
                }
            }
        }
        for (k, want) in reach.iter().enumerate() {
            let want = if *want { vec![seq] } else { Vec::new() };
            assert_eq!(got[k], want, "{what}: client {k} (a b c d = 0 1 2 3)");
        }
    }

    async fn join_or_leave(&mut self, i: usize, op: OpKind, room: &str) {
        let got = self
            .acked(
                i,
                Outgoing {
                    room: Some(room),
                    ..req(op)
                },
            )
            .await;
        assert!(got.is_empty(), "{got:?}");
    }

    async fn close(self) {
        for mut t in self.c {
            let _ = tokio::time::timeout(T, t.close()).await;
        }
    }
}

fn with(op: OpKind, data: &str) -> Outgoing<'_> {
    Outgoing {
        data: Some(data),
        ..req(op)
    }
}

fn to_room(data: &str) -> Outgoing<'_> {
    Outgoing {
        room: Some("room 1"),
        data: Some(data),
        ..req(OpKind::ToRoom)
    }
}

/// Every op across three nodes.
async fn exercise_cluster(nodes: &[Endpoint]) {
    let mut c = Clients::connect(nodes).await;
    let (a, b, cc, d) = (0, 1, 2, 3);
    let data = |seq| stamp(9, seq);
    // to_all from node 1 and from node 3
    let d1 = data(1);
    c.check("to_all", a, with(OpKind::ToAll, &d1), 1, [true; 4])
        .await;
    let d2 = data(2);
    c.check("to_all", d, with(OpKind::ToAll, &d2), 2, [true; 4])
        .await;
    // to_others: everyone but the sender, on every node
    let d3 = data(3);
    c.check(
        "to_others",
        cc,
        with(OpKind::ToOthers, &d3),
        3,
        [true, true, false, true],
    )
    .await;
    // rooms: members b (node 1) and c (node 2)
    c.join_or_leave(b, OpKind::Join, "room 1").await;
    c.join_or_leave(cc, OpKind::Join, "room 1").await;
    let d4 = data(4);
    c.check(
        "to_room from a non-member on a node without members",
        d,
        to_room(&d4),
        4,
        [false, true, true, false],
    )
    .await;
    let d5 = data(5);
    c.check(
        "to_room from a member",
        cc,
        to_room(&d5),
        5,
        [false, true, true, false],
    )
    .await;
    c.join_or_leave(cc, OpKind::Leave, "room 1").await;
    let d6 = data(6);
    c.check(
        "to_room after a leave",
        a,
        to_room(&d6),
        6,
        [false, true, false, false],
    )
    .await;
    // to_id: to another node, back, on the same node, and to nobody
    let to_id = |id: String, d: String| (id, d);
    for (n, (from, to, reach)) in [
        (d, a, [true, false, false, false]),
        (a, d, [false, false, false, true]),
        (a, cc, [false, false, true, false]),
        (b, a, [true, false, false, false]),
    ]
    .into_iter()
    .enumerate()
    {
        let seq = 10 + n as u64;
        let (id, dd) = to_id(c.id(to), data(seq));
        let out = Outgoing {
            id: Some(&id),
            data: Some(&dd),
            ..req(OpKind::ToId)
        };
        c.check("to_id", from, out, seq, reach).await;
    }
    let d20 = data(20);
    let nobody = Outgoing {
        id: Some("8589934999"),
        data: Some(&d20),
        ..req(OpKind::ToId)
    };
    c.check("to_id to nobody", a, nobody, 20, [false; 4]).await;
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rust_target_keeps_the_contract_across_three_nodes() {
    let Some(url) = redis_url("every_rust_target_keeps_the_contract_across_three_nodes") else {
        return;
    };
    let mut tested = 0;
    for row in TARGETS {
        let ServerKind::Serve(server) = row.server else {
            continue;
        };
        eprintln!("cluster contract: {}", row.name);
        let adapter = AdapterConfig::parse(&url, &prefix(row.name)).expect("REDIS_URL");
        let mut servers = Vec::new();
        for _ in 0..3 {
            let cfg = ServerConfig {
                adapter: Some(adapter.clone()),
                ..ServerConfig::default()
            };
            servers.push(start(server, cfg).await);
        }
        let nodes: Vec<Endpoint> = servers
            .iter()
            .map(|s| endpoint(row.protocol, s.addr, s.addr.to_string(), "/ws"))
            .collect();
        exercise_cluster(&nodes).await;
        for s in servers {
            s.stop().await;
        }
        tested += 1;
    }
    assert!(tested >= 5, "the table lost its Rust targets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_target_keeps_the_contract_across_three_nodes() {
    let Some(url) = redis_url("every_node_target_keeps_the_contract_across_three_nodes") else {
        return;
    };
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        eprintln!("skipped: node not found");
        return;
    }
    for row in TARGETS
        .iter()
        .filter(|t| matches!(t.server, ServerKind::Node(_)))
    {
        eprintln!(
            "cluster contract: {} over {}",
            row.name,
            row.protocol.label()
        );
        let spec = TargetSpec::parse(row.name).unwrap();
        let args = [
            "--adapter".to_owned(),
            url.clone(),
            "--adapter-prefix".to_owned(),
            prefix(row.name),
        ];
        let mut children = Vec::new();
        for _ in 0..3 {
            let resolved = tokio::time::timeout(
                Duration::from_secs(700),
                resolve(&spec, Path::new("wsbench"), &args, None),
            )
            .await
            .expect("the Node peer starts in time (a cold npm ci included)")
            .unwrap_or_else(|e| panic!("{}: {e}", row.name));
            children.push(resolved.child.expect("a Node target runs as a child"));
        }
        let nodes: Vec<Endpoint> = children
            .iter()
            .map(|c| endpoint(row.protocol, c.addr(), c.addr().to_string(), "/ws"))
            .collect();
        exercise_cluster(&nodes).await;
        for c in children {
            c.stop(Duration::from_secs(5)).await;
        }
    }
}

/// `POST /api/dashboard` on `addr` with `body`; returns the status code.
async fn post(addr: std::net::SocketAddr, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /api/dashboard HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(T, s.read_to_string(&mut out))
        .await
        .expect("HTTP reply in time")
        .unwrap();
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The dashboard push of a write on node 1 reaches the viewers of room `dashboard` on every
/// node, once, and nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_push_reaches_viewers_on_every_node() {
    let Some(url) = redis_url("the_dashboard_push_reaches_viewers_on_every_node") else {
        return;
    };
    for row in TARGETS {
        let ServerKind::Serve(server) = row.server else {
            continue;
        };
        if !row.has_http() || !row.default {
            continue;
        }
        eprintln!("cluster dashboard push: {}", row.name);
        let adapter = AdapterConfig::parse(&url, &prefix(&format!("push-{}", row.name))).unwrap();
        let mut servers = Vec::new();
        for _ in 0..2 {
            let cfg = ServerConfig {
                adapter: Some(adapter.clone()),
                ..ServerConfig::default()
            };
            servers.push(start(server, cfg).await);
        }
        let ep = |s: &transport_support::Server| {
            endpoint(row.protocol, s.addr, s.addr.to_string(), "/ws")
        };
        // w views on node 1, v on node 2; x on node 2 does not view
        let mut c = Clients {
            c: vec![
                connect(&ep(&servers[0])).await,
                connect(&ep(&servers[1])).await,
                connect(&ep(&servers[1])).await,
            ],
            next_ack: 1,
        };
        c.join_or_leave(0, OpKind::Join, "dashboard").await;
        c.join_or_leave(1, OpKind::Join, "dashboard").await;
        assert_eq!(post(servers[0].addr, r#"{"value":{"k":1}}"#).await, 200);
        for k in [0, 1] {
            match recv(&mut c.c[k]).await {
                Incoming::Msg(d) | Incoming::Event { data: d, .. } => {
                    let v: serde_json::Value = serde_json::from_slice(&d).unwrap();
                    assert!(v["version"].is_u64(), "{}: {v}", row.name);
                }
                other => panic!("{}: viewer {k}: want the push, got {other:?}", row.name),
            }
        }
        // nothing else, in particular no second copy: a marker from node 1 comes next
        let marker = stamp(0, MARK);
        let got = c.acked(0, with(OpKind::ToAll, &marker)).await;
        assert_eq!(got, [MARK], "{}", row.name);
        for k in [1, 2] {
            match recv(&mut c.c[k]).await {
                Incoming::Msg(d) => assert_eq!(seq_of(&d), MARK, "{}: client {k}", row.name),
                other => panic!("{}: client {k}: want the marker, got {other:?}", row.name),
            }
        }
        c.close().await;
        for s in servers {
            s.stop().await;
        }
    }
}

#[tokio::test]
async fn a_node_whose_redis_does_not_answer_fails_at_start() {
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let adapter = AdapterConfig::parse(&format!("redis://127.0.0.1:{port}"), "x").unwrap();
    for server in [
        wsbench_servers::RustServer::Tcp,
        wsbench_servers::RustServer::SioSocketioxide,
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cfg = ServerConfig {
            adapter: Some(adapter.clone()),
            ..ServerConfig::default()
        };
        let e = tokio::time::timeout(
            Duration::from_secs(20),
            wsbench_servers::serve(server, listener, cfg, Default::default(), async {}),
        )
        .await
        .expect("fails in time")
        .unwrap_err()
        .to_string();
        assert!(e.contains("Redis does not answer"), "{server:?}: {e}");
    }
}
