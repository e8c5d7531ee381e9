//! Criterion benches of WebSocket framing in memory: a server writes one unmasked text
//! frame and a client reads it, over a `tokio::io::duplex` pipe, on tokio-tungstenite and
//! on fastwebsockets. No sockets, so what differs is the framing code alone.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fastwebsockets::{Frame, OpCode, Payload, Role as FwsRole, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::runtime::Runtime;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn frames(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("ws_frame");
    for size in [64usize, 1024, 16 * 1024] {
        let text = "x".repeat(size);
        g.throughput(Throughput::Bytes(size as u64));

        let (mut server, mut client) = rt.block_on(async {
            let (a, b) = tokio::io::duplex(1 << 20);
            (
                WebSocketStream::<DuplexStream>::from_raw_socket(a, Role::Server, None).await,
                WebSocketStream::<DuplexStream>::from_raw_socket(b, Role::Client, None).await,
            )
        });
        let msg = Message::text(text.clone());
        g.bench_with_input(
            BenchmarkId::new("tungstenite_write_read", size),
            &size,
            |b, _| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            // Utf8Bytes: a refcount bump per send, as a broadcast does
                            server.send(msg.clone()).await.unwrap();
                            black_box(client.next().await.unwrap().unwrap());
                        }
                        start.elapsed()
                    })
                })
            },
        );

        let (mut fserver, mut fclient) = {
            let (a, b) = tokio::io::duplex(1 << 20);
            let mut s = WebSocket::after_handshake(a, FwsRole::Server);
            s.set_auto_close(false);
            let mut c = WebSocket::after_handshake(b, FwsRole::Client);
            c.set_auto_close(false);
            (s, c)
        };
        let bytes = bytes::Bytes::from(text.clone());
        g.bench_with_input(
            BenchmarkId::new("fastwebsockets_write_read", size),
            &size,
            |b, _| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            // Server frames are unmasked: borrow the shared bytes, no copy.
                            let frame = Frame::text(Payload::Borrowed(&bytes));
                            fserver.write_frame(frame).await.unwrap();
                            let f = fclient.read_frame().await.unwrap();
                            assert_eq!(f.opcode, OpCode::Text);
                            black_box(f.payload.len());
                        }
                        start.elapsed()
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
