//! The batching writer over real loopback sockets, with the `tcp` and `ws-fastwebsockets`
//! encoders: frames queued ahead of the writer leave in order, intact, in as few
//! `write_all`s as the byte bound allows; a lone frame leaves without waiting for more.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{BatchBuf, FrameSink, WRITE_BATCH_BYTES, pump};
use crate::hub::Outbound;
use crate::session::Control;
use crate::tcp::TcpSink;
use crate::ws_fastwebsockets::FwsSink;

/// Bound of every wait in these tests: a hang fails instead.
const WAIT: Duration = Duration::from_secs(10);

/// A connected pair: the server's write half and the client's read half.
async fn pair() -> (OwnedWriteHalf, OwnedReadHalf) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (_, wr) = accepted.expect("accept").0.into_split();
    let (rd, _) = client.expect("connect").into_split();
    (wr, rd)
}

/// How each encoder frames a payload on the wire, and how the client takes one frame
/// back off the bytes it read.
#[derive(Clone, Copy, Debug)]
enum Wire {
    Tcp,
    Ws,
}

impl Wire {
    fn overhead(self, len: usize) -> usize {
        match self {
            Wire::Tcp => 4,
            Wire::Ws if len < 126 => 2,
            Wire::Ws if len < 65536 => 4,
            Wire::Ws => 10,
        }
    }

    /// One whole frame's payload off the front of `buf`, if it has one.
    fn take(self, buf: &mut BytesMut) -> Option<Bytes> {
        let (head, len) = match self {
            Wire::Tcp => {
                let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
                (4, len)
            }
            Wire::Ws => {
                let (b0, b1) = (*buf.first()?, *buf.get(1)?);
                assert_eq!(
                    b0, 0x81,
                    "a final, unfragmented text frame, reserved bits clear"
                );
                assert_eq!(b1 & 0x80, 0, "server frames are not masked");
                match b1 & 0x7f {
                    126 => (
                        4,
                        u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
                    ),
                    127 => (
                        10,
                        u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
                    ),
                    n => (2, n as usize),
                }
            }
        };
        if buf.len() < head + len {
            return None;
        }
        buf.advance(head);
        Some(buf.split_to(len).freeze())
    }
}

/// Reads `n` frames off `rd`.
async fn read_frames(wire: Wire, rd: &mut OwnedReadHalf, n: usize) -> Vec<Bytes> {
    let mut buf = BytesMut::new();
    let mut got = Vec::with_capacity(n);
    let read = async {
        while got.len() < n {
            if let Some(f) = wire.take(&mut buf) {
                got.push(f);
                continue;
            }
            let k = rd.read_buf(&mut buf).await.expect("read");
            assert!(k > 0, "EOF after {} of {n} frames", got.len());
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("frames arrive in time");
    got
}

/// Frame `i`: its index, then filler up to a size that varies (a few over the batch bound).
fn frame(i: usize) -> Bytes {
    let len = if i % 97 == 13 {
        WRITE_BATCH_BYTES + 1000
    } else {
        20 + (i * 37) % 3000
    };
    let mut b = format!("{i:08}").into_bytes();
    b.extend((b.len()..len).map(|k| b'a' + ((i + k) % 26) as u8));
    Bytes::from(b)
}

/// `write_all`s the writer should make for frames queued all at once: one per batch, a
/// batch closing as soon as it holds [`WRITE_BATCH_BYTES`].
fn expected_writes(wire: Wire, frames: &[Bytes]) -> u64 {
    let (mut writes, mut pending) = (0, 0);
    for f in frames {
        pending += wire.overhead(f.len()) + f.len();
        if pending >= WRITE_BATCH_BYTES {
            writes += 1;
            pending = 0;
        }
    }
    writes + u64::from(pending > 0)
}

/// Queues `n` frames, then runs the writer while the client reads them; returns what the
/// client got and how many writes the writer made.
async fn queued<S>(wire: Wire, sink: &mut S, writes: impl Fn(&S) -> u64, mut rd: OwnedReadHalf)
where
    S: FrameSink<Bytes>,
{
    const N: usize = 600;
    let sent: Vec<Bytes> = (0..N).map(frame).collect();
    let (data_tx, data_rx) = mpsc::channel(N);
    for f in &sent {
        let out = Outbound {
            frame: f.clone(),
            due: None,
            charge: None,
        };
        data_tx.try_send(out).expect("queue has room");
    }
    let (ctrl_tx, ctrl_rx) = mpsc::channel(4);
    let client = async {
        let got = read_frames(wire, &mut rd, N).await;
        ctrl_tx
            .send(Control::Close {
                code: None,
                reason: "",
                drain: true,
            })
            .await
            .expect("writer is up");
        got
    };
    let (written, got) = tokio::join!(pump(data_rx, ctrl_rx, &mut *sink), client);
    written.expect("writer ends cleanly");
    assert_eq!(got.len(), sent.len());
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert!(g == s, "frame {i} arrived changed or out of order");
    }
    // Then the close: a close frame on WebSocket (one more write), a bare FIN on tcp.
    let close = u64::from(matches!(wire, Wire::Ws));
    assert_eq!(
        writes(sink),
        expected_writes(wire, &sent) + close,
        "one write per batch of up to {WRITE_BATCH_BYTES} bytes, then the close"
    );
}

/// Queues one frame and keeps both queues open: the client must get it with nothing
/// else sent or closed after it.
async fn lone<S: FrameSink<Bytes> + 'static>(wire: Wire, sink: S, mut rd: OwnedReadHalf) {
    let (data_tx, data_rx) = mpsc::channel(4);
    let (ctrl_tx, ctrl_rx) = mpsc::channel(4);
    let one = Bytes::from_static(br#"{"op":"msg","data":{"alone":true}}"#);
    data_tx
        .try_send(Outbound {
            frame: one.clone(),
            due: None,
            charge: None,
        })
        .expect("queue has room");
    let writer = tokio::spawn(pump(data_rx, ctrl_rx, sink));
    let got = read_frames(wire, &mut rd, 1).await;
    assert_eq!(got, vec![one]);
    assert!(
        !writer.is_finished(),
        "the writer is still waiting for more"
    );
    drop((data_tx, ctrl_tx));
    let done = tokio::time::timeout(WAIT, writer)
        .await
        .expect("writer ends");
    done.expect("writer task").expect("writer ends cleanly");
}

#[tokio::test]
async fn tcp_queued_frames_leave_in_order_intact_and_batched() {
    let (wr, rd) = pair().await;
    let mut sink = TcpSink(BatchBuf::new(wr));
    queued(Wire::Tcp, &mut sink, |s| s.0.writes(), rd).await;
}

#[tokio::test]
async fn ws_queued_frames_leave_in_order_intact_and_batched() {
    let (wr, rd) = pair().await;
    let mut sink = FwsSink(BatchBuf::new(wr));
    queued(Wire::Ws, &mut sink, |s| s.0.writes(), rd).await;
}

#[tokio::test]
async fn tcp_a_lone_frame_is_written_at_once() {
    let (wr, rd) = pair().await;
    lone(Wire::Tcp, TcpSink(BatchBuf::new(wr)), rd).await;
}

#[tokio::test]
async fn ws_a_lone_frame_is_written_at_once() {
    let (wr, rd) = pair().await;
    lone(Wire::Ws, FwsSink(BatchBuf::new(wr)), rd).await;
}
