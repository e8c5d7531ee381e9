//! Two servers that break namespace isolation on purpose, so a test can show the load
//! generator counts what they leak (namespaces_isolation.rs). Each speaks just enough of
//! its protocol for a broadcast row, on 127.0.0.1:0, until the test process ends:
//!
//! - [`raw_ignoring_paths`]: raw WebSocket on any path, one hub for all of them, so a
//!   `to_all` on `/ws/chat` reaches the clients of `/ws` and `/ws/admin` too.
//! - [`sio_emitting_everywhere`]: Engine.IO v4 over WebSocket with Socket.IO namespaces;
//!   a `to_all` in one namespace is emitted to every socket in every namespace it joined.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// What every connection of a leaky server can be sent, and the namespaces it joined.
type Peers = Arc<Mutex<Vec<(mpsc::UnboundedSender<String>, Arc<Mutex<Vec<String>>>)>>>;

/// Accepts WebSocket connections (any path) and runs `serve` on each with its id, its
/// outgoing queue and the server's peers.
async fn listen<F, Fut>(greeting: fn(u64) -> String, serve: F) -> SocketAddr
where
    F: Fn(u64, String, mpsc::UnboundedSender<String>, Arc<Mutex<Vec<String>>>, Peers) -> Fut
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = wsbench_servers::listen::loopback().unwrap();
    let addr = listener.local_addr().unwrap();
    let peers: Peers = Arc::default();
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        let mut id = 0u64;
        while let Ok((stream, _)) = listener.accept().await {
            id += 1;
            tokio::spawn(connection(
                stream,
                id,
                greeting,
                serve.clone(),
                peers.clone(),
            ));
        }
    });
    addr
}

async fn connection<F, Fut>(
    stream: TcpStream,
    id: u64,
    greeting: fn(u64) -> String,
    serve: Arc<F>,
    peers: Peers,
) where
    F: Fn(u64, String, mpsc::UnboundedSender<String>, Arc<Mutex<Vec<String>>>, Peers) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut frames) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let joined = Arc::new(Mutex::new(vec!["/".to_owned()]));
    tx.send(greeting(id)).unwrap();
    peers.lock().unwrap().push((tx.clone(), joined.clone()));
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(frame)) = frames.next().await {
        if let Message::Text(text) = frame {
            serve(
                id,
                text.to_string(),
                tx.clone(),
                joined.clone(),
                peers.clone(),
            )
            .await;
        }
    }
    writer.abort();
}

/// A raw WebSocket server whose paths all share one hub.
pub async fn raw_ignoring_paths() -> SocketAddr {
    listen(
        |id| format!(r#"{{"op":"welcome","id":"{id}"}}"#),
        |_, text, _, _, peers: Peers| async move {
            let req = wsbench_wire::app::Request::parse(text.as_bytes()).unwrap();
            if let wsbench_wire::app::Op::ToAll { data } = req.op {
                let msg = wsbench_wire::app::msg(data);
                let msg = std::str::from_utf8(&msg).unwrap().to_owned();
                for (peer, _) in peers.lock().unwrap().iter() {
                    let _ = peer.send(msg.clone());
                }
            }
        },
    )
    .await
}

/// `/chat,` for a namespace other than `/` (the prefix of its packets), else nothing.
fn prefix(ns: &str) -> String {
    if ns == "/" {
        String::new()
    } else {
        format!("{ns},")
    }
}

/// A Socket.IO server (WebSocket transport) that emits each `to_all` into every namespace
/// every socket joined.
pub async fn sio_emitting_everywhere() -> SocketAddr {
    listen(
        |id| {
            format!(
                r#"0{{"sid":"e{id}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
            )
        },
        |id, text, tx, joined, peers: Peers| async move {
            let Some(packet) = text.strip_prefix('4') else {
                return; // pongs and the like
            };
            let kind = &packet[..1];
            let rest = &packet[1..];
            // the namespace: `/chat,` before the payload, else `/`
            let (ns, payload) = match rest.strip_prefix('/') {
                Some(_) => match rest.split_once(',') {
                    Some((ns, payload)) => (ns.to_owned(), payload),
                    None => (rest.to_owned(), ""),
                },
                None => ("/".to_owned(), rest),
            };
            match kind {
                "0" => {
                    if ns != "/" {
                        joined.lock().unwrap().push(ns.clone());
                    }
                    let _ = tx.send(format!(r#"40{}{{"sid":"s{id}{ns}"}}"#, prefix(&ns)));
                }
                "2" => {
                    let Some(data) = payload
                        .strip_prefix(r#"["to_all","#)
                        .and_then(|d| d.strip_suffix(']'))
                    else {
                        return;
                    };
                    for (peer, namespaces) in peers.lock().unwrap().iter() {
                        for ns in namespaces.lock().unwrap().iter() {
                            let _ = peer.send(format!(r#"42{}["msg",{data}]"#, prefix(ns)));
                        }
                    }
                }
                _ => {}
            }
        },
    )
    .await
}
