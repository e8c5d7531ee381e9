//! Criterion benches of the raw app protocol's hot paths: parsing a request, encoding the
//! shared `msg` frame, building and reading a timed payload.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsbench_wire::app::{self, Op, Request};
use wsbench_wire::payload::Stamp;

fn envelope(c: &mut Criterion) {
    let mut g = c.benchmark_group("envelope");
    for size in [64usize, 1024, 16 * 1024] {
        let data = Stamp {
            from: 42,
            seq: 123_456,
            t: 9_876_543_210,
        }
        .encode(size);
        let req = format!(r#"{{"op":"to_room","room":"room-17","data":{data},"ack":99}}"#);
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_with_input(BenchmarkId::new("decode_request", size), &req, |b, req| {
            b.iter(|| Request::parse(black_box(req.as_bytes())).unwrap())
        });
        let parsed = Request::parse(req.as_bytes()).unwrap();
        let Op::ToRoom { data: raw, .. } = parsed.op else {
            unreachable!()
        };
        g.bench_with_input(BenchmarkId::new("encode_msg", size), &raw, |b, raw| {
            b.iter(|| app::msg(black_box(raw)))
        });
        let frame = app::msg(raw);
        g.bench_with_input(
            BenchmarkId::new("decode_reply_and_stamp", size),
            &frame,
            |b, f| {
                b.iter(|| {
                    let app::Reply::Msg { data } = app::Reply::parse(black_box(f)).unwrap() else {
                        unreachable!()
                    };
                    Stamp::decode(data.get().as_bytes()).unwrap()
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("encode_payload", size),
            &size,
            |b, &size| {
                b.iter(|| {
                    Stamp {
                        from: 1,
                        seq: black_box(77),
                        t: 1_000,
                    }
                    .encode(size)
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);
