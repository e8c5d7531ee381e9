//! Criterion benches of the load generator's receive path: the exact-layout fast decoders
//! (`wsbench_wire::fast`) against the full parsers they fall back to, for a raw `msg` reply
//! and a Socket.IO `42["msg",…]` packet, and encoding a payload into a reused buffer.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsbench_wire::app::Reply;
use wsbench_wire::payload::Stamp;
use wsbench_wire::{fast, socketio};

const STAMP: Stamp = Stamp {
    from: 42,
    seq: 123_456,
    t: 1_764_000_000_123_456_789,
};

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive_decode");
    for size in [64usize, 1024, 16 * 1024] {
        let data = STAMP.encode(size);
        let app = format!(r#"{{"op":"msg","data":{data}}}"#);
        let sio = format!(r#"42["msg",{data}]"#);
        g.throughput(Throughput::Bytes(app.len() as u64));
        g.bench_with_input(BenchmarkId::new("app_msg/fast", size), &app, |b, f| {
            b.iter(|| fast::app_reply(black_box(f.as_bytes())).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("app_msg/full", size), &app, |b, f| {
            b.iter(|| {
                let Reply::Msg { data } = Reply::parse(black_box(f.as_bytes())).unwrap() else {
                    unreachable!()
                };
                Stamp::decode_full(data.get().as_bytes()).unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("sio_msg/fast", size), &sio, |b, f| {
            b.iter(|| fast::sio_packet(black_box(f.as_bytes())).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("sio_msg/full", size), &sio, |b, f| {
            b.iter(|| {
                let text = black_box(f.as_str());
                let p = socketio::Packet::decode(&text[1..]).unwrap();
                let socketio::PacketKind::Event { args, .. } = p.kind else {
                    unreachable!()
                };
                let head = socketio::event_head(args).unwrap();
                Stamp::decode_full(head.first.unwrap().as_bytes()).unwrap()
            })
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload_encode");
    for size in [64usize, 1024] {
        g.bench_with_input(BenchmarkId::new("into_reused", size), &size, |b, &size| {
            let mut buf = String::new();
            b.iter(|| {
                Stamp {
                    seq: black_box(77),
                    ..STAMP
                }
                .encode_into(size, &mut buf)
            })
        });
        g.bench_with_input(BenchmarkId::new("fresh_string", size), &size, |b, &size| {
            b.iter(|| {
                Stamp {
                    seq: black_box(77),
                    ..STAMP
                }
                .encode(size)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
