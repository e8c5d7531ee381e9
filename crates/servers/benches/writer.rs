//! Criterion bench of the batched write path (`servers::writer::BatchBuf`) over a real
//! loopback TCP socket: `n` queued 64-byte WebSocket text frames (fastwebsockets' header
//! format) written as one batch (one `write_all`) against one write per frame (what
//! fastwebsockets' `write_frame` did). A reader thread drains the other end, so the
//! socket never fills; each iteration waits until the reader has every byte.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fastwebsockets::{Frame, Payload};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::runtime::Runtime;
use wsbench_servers::writer::BatchBuf;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One server frame (header + payload) appended to the batch buffer.
fn encode(out: &mut BatchBuf<OwnedWriteHalf>, payload: &[u8]) {
    let mut frame = Frame::text(Payload::Borrowed(payload));
    let mut head = [0u8; 10];
    let n = frame.fmt_head(&mut head);
    out.buf().extend_from_slice(&head[..n]);
    out.buf().extend_from_slice(payload);
}

/// A loopback connection whose far end a thread reads and counts.
fn connection(rt: &Runtime) -> (BatchBuf<OwnedWriteHalf>, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            counter.fetch_add(n as u64, Ordering::Release);
        }
    });
    let stream = rt.block_on(TcpStream::connect(addr)).unwrap();
    stream.set_nodelay(true).unwrap();
    let (_, wr) = stream.into_split();
    (BatchBuf::new(wr), read)
}

fn writer(c: &mut Criterion) {
    let rt = runtime();
    let payload = Bytes::from(vec![b'x'; 64]);
    let wire = 2 + payload.len() as u64;
    let mut g = c.benchmark_group("writer");
    for n in [1u64, 16, 64] {
        g.throughput(Throughput::Elements(n));
        let (mut out, read) = connection(&rt);
        let mut sent = 0u64;
        g.bench_with_input(BenchmarkId::new("batched", n), &n, |b, &n| {
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..n {
                        encode(&mut out, &payload);
                    }
                    out.write_out().await.unwrap();
                });
                sent += n * wire;
                while read.load(Ordering::Acquire) < sent {
                    std::hint::spin_loop();
                }
            })
        });
        let (mut out, read) = connection(&rt);
        let mut sent = 0u64;
        g.bench_with_input(BenchmarkId::new("per_frame", n), &n, |b, &n| {
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..n {
                        encode(&mut out, &payload);
                        out.write_out().await.unwrap();
                    }
                });
                sent += n * wire;
                while read.load(Ordering::Acquire) < sent {
                    std::hint::spin_loop();
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, writer);
criterion_main!(benches);
