//! Criterion benches of the Socket.IO client codec's hot paths: encoding an event with a
//! pre-serialised payload (`42["to_all",{…}]`), decoding a server event and reading its
//! name and first argument, and splitting a long-polling body of many packets.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsbench_wire::payload::Stamp;
use wsbench_wire::{engineio, socketio};

fn sio_packet(c: &mut Criterion) {
    let mut g = c.benchmark_group("sio_packet");
    for size in [64usize, 1024, 16 * 1024] {
        let data = Stamp {
            from: 42,
            seq: 123_456,
            t: 9_876_543_210,
        }
        .encode(size);
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = String::with_capacity(size + 64);
        g.bench_with_input(BenchmarkId::new("encode_event", size), &data, |b, data| {
            b.iter(|| {
                buf.clear();
                buf.push('4'); // Engine.IO message
                socketio::push_event(&mut buf, socketio::DEFAULT_NS, Some(7), "to_all", &[data]);
                black_box(buf.len())
            })
        });
        let frame = format!(r#"2["msg",{data}]"#);
        g.bench_with_input(
            BenchmarkId::new("decode_event", size),
            &frame,
            |b, frame| {
                b.iter(|| {
                    let p = socketio::Packet::decode(black_box(frame)).unwrap();
                    let socketio::PacketKind::Event { args, .. } = p.kind else {
                        unreachable!()
                    };
                    let head = socketio::event_head(args).unwrap();
                    Stamp::decode(head.first.unwrap().as_bytes()).unwrap()
                })
            },
        );
        let mut body = String::new();
        for _ in 0..32 {
            engineio::push_to_payload(&mut body, &format!("4{frame}"));
        }
        g.bench_with_input(
            BenchmarkId::new("split_polling_body_x32", size),
            &body,
            |b, body| {
                b.iter(|| {
                    engineio::decode_payload(black_box(body))
                        .filter(|p| p.is_ok())
                        .count()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, sio_packet);
criterion_main!(benches);
