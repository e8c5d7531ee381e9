//! The raw targets' batched write path, end to end over real sockets: a client pipelines
//! many echo requests (sizes from a few bytes to past the writer's batch bound) while it
//! reads, so replies pile up in its queue and leave in batches; every reply must arrive in
//! order and intact. And a lone reply is written at once: it arrives with no further
//! traffic from the client.

#[macro_use]
mod common;

use bytes::Bytes;
use common::{Raw, RawClient, Server, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use wsbench_servers::config::ServerConfig;
use wsbench_servers::writer::WRITE_BATCH_BYTES;

per_target!(
    pipelined_replies_arrive_in_order_and_intact,
    a_lone_reply_is_written_at_once
);

/// Requests in the pipeline.
const N: u64 = 400;

/// Request `i`: an echo with ack `i` and filler whose size varies; a few are larger than
/// the writer's batch bound.
fn request(i: u64) -> String {
    let len = if i % 53 == 7 {
        WRITE_BATCH_BYTES + 100
    } else {
        ((i * 131) % 4000) as usize
    };
    let pad: String = (0..len)
        .map(|k| char::from(b'a' + ((i as usize + k) % 26) as u8))
        .collect();
    json!({"op":"echo","ack":i,"data":{"seq":i,"pad":pad}}).to_string()
}

/// The reply request `i` must get.
fn reply(i: u64) -> Value {
    let req: Value = serde_json::from_str(&request(i)).expect("request is JSON");
    json!({"op":"ack","ack":i,"data":req["data"]})
}

async fn pipelined_replies_arrive_in_order_and_intact(t: Raw) {
    let cfg = ServerConfig {
        max_message_bytes: 4 * WRITE_BATCH_BYTES,
        ..Default::default()
    };
    let server = Server::start(t, cfg).await;
    let (client, _) = server.connect().await;
    let requests: Vec<Bytes> = (0..N).map(|i| Bytes::from(request(i))).collect();
    let replies: Vec<Bytes> = match client {
        RawClient::Tcp(framed) => {
            let (mut tx, mut rx) = framed.split();
            let send = async move {
                for r in requests {
                    tx.feed(r).await.expect("send");
                }
                tx.flush().await.expect("flush");
                tx
            };
            let recv = async move {
                let mut got = Vec::new();
                while (got.len() as u64) < N {
                    got.push(rx.next().await.expect("a reply").expect("a frame").freeze());
                }
                got
            };
            let (_tx, got) = tokio::time::timeout(WAIT, async { tokio::join!(send, recv) })
                .await
                .expect("all replies in time");
            got
        }
        RawClient::Ws(ws) => {
            let (mut tx, mut rx) = ws.split();
            let send = async move {
                for r in requests {
                    let text = String::from_utf8(r.to_vec()).expect("UTF-8");
                    tx.feed(Message::text(text)).await.expect("send");
                }
                tx.flush().await.expect("flush");
                tx
            };
            let recv = async move {
                let mut got = Vec::new();
                while (got.len() as u64) < N {
                    match rx.next().await.expect("a reply").expect("a message") {
                        Message::Text(t) => got.push(Bytes::from(t.as_str().to_owned())),
                        Message::Ping(_) | Message::Pong(_) => {}
                        other => panic!("expected a text reply, got {other:?}"),
                    }
                }
                got
            };
            let (_tx, got) = tokio::time::timeout(WAIT, async { tokio::join!(send, recv) })
                .await
                .expect("all replies in time");
            got
        }
    };
    for (i, got) in replies.iter().enumerate() {
        let got: Value = serde_json::from_slice(got).expect("reply is JSON");
        assert!(got == reply(i as u64), "reply {i} changed or out of order");
    }
    server.stop().await.expect("server stops cleanly");
}

async fn a_lone_reply_is_written_at_once(t: Raw) {
    let server = Server::start(t, ServerConfig::default()).await;
    // The welcome was already a lone frame; now one request, then nothing: its reply
    // must come without anything else to fill a batch (RawClient::next is bounded).
    let (mut client, _) = server.connect().await;
    client
        .send(&json!({"op":"echo","ack":1,"data":{"alone":true}}).to_string())
        .await;
    assert_eq!(
        client.reply().await,
        json!({"op":"ack","ack":1,"data":{"alone":true}})
    );
    client.close().await;
    server.stop().await.expect("server stops cleanly");
}
