//! Echo mode (`cfg.echo_only`, `wsbench serve … --echo`) of the raw WebSocket targets, the
//! mode the Autobahn|Testsuite drives: no welcome, every message back verbatim with its
//! opcode, fragments reassembled, pings answered, the close handshake echoed, and the
//! RFC 6455 failures: 1009 over the limit, 1007 for invalid UTF-8, 1002 for protocol
//! violations.
//!
//! The client is [`Peer`]: a manual HTTP upgrade on a `TcpStream`, then hand-built masked
//! frames, so malformed frames can be sent and every server frame is checked byte by byte
//! (unmasked, reserved bits clear).

#[allow(unused_macros)]
mod common;

use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use common::{Raw, Server, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_servers::config::ServerConfig;

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONT: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Runs `$name(target)` for both WebSocket targets, each as its own test.
macro_rules! per_ws_target {
    ($($name:ident),* $(,)?) => {
        mod ws_tungstenite {
            $( #[tokio::test] async fn $name() { super::$name(crate::common::Raw::Tungstenite).await } )*
        }
        mod ws_fastwebsockets {
            $( #[tokio::test] async fn $name() { super::$name(crate::common::Raw::Fastwebsockets).await } )*
        }
    };
}

per_ws_target!(
    messages_come_back_verbatim_without_a_welcome,
    fragments_are_echoed_as_one_message,
    over_the_limit_is_1009,
    invalid_utf8_is_1007,
    protocol_violations_are_1002,
    close_is_echoed_and_nothing_after_it_is_answered,
    shutdown_closes_with_1001,
);

const MAX: usize = 1024;

async fn echo_server(t: Raw) -> Server {
    let cfg = ServerConfig {
        echo_only: true,
        max_message_bytes: MAX,
        ..Default::default()
    };
    Server::start(t, cfg).await
}

/// One frame as a client sends it (masked). `rsv` goes to bits 4–6 of the first byte.
fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

fn whole(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, 0, opcode, payload)
}

fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    whole(CLOSE, &p)
}

/// A frame the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rx {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

/// A WebSocket client that writes raw bytes.
struct Peer {
    tcp: TcpStream,
    /// Bytes read but not yet parsed into frames.
    buf: BytesMut,
}

impl Peer {
    /// TCP connect and the HTTP upgrade to `/ws`; panics unless the answer is 101.
    async fn connect(addr: SocketAddr) -> Peer {
        let fut = async {
            let mut tcp = TcpStream::connect(addr).await.expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let req = format!(
                "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            );
            tcp.write_all(req.as_bytes()).await.expect("write upgrade");
            let mut buf = BytesMut::new();
            let end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let n = tcp.read_buf(&mut buf).await.expect("read upgrade");
                assert!(n > 0, "connection closed during the upgrade");
            };
            let head = buf.split_to(end);
            assert!(
                head.starts_with(b"HTTP/1.1 101"),
                "upgrade refused: {}",
                String::from_utf8_lossy(&head)
            );
            Peer { tcp, buf }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("upgrade in time")
    }

    /// Writes `bytes` as they are (one or more frames, or anything else).
    async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.tcp.write_all(bytes))
            .await
            .expect("write in time")
            .expect("write");
    }

    /// The next frame, or `None` at EOF (or a reset).
    async fn next(&mut self) -> Option<Rx> {
        let fut = async {
            loop {
                if let Some(f) = parse(&mut self.buf) {
                    return Some(f);
                }
                match self.tcp.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("a frame or EOF in time")
    }

    /// The next frame must be exactly a final `opcode` frame with `payload`.
    async fn expect(&mut self, opcode: u8, payload: &[u8]) {
        let want = Rx {
            fin: true,
            opcode,
            payload: payload.to_vec(),
        };
        assert_eq!(self.next().await, Some(want));
    }

    /// The next frame must be a close with a status code; returns the code.
    async fn expect_close(&mut self) -> u16 {
        match self.next().await {
            Some(Rx {
                fin: true,
                opcode: CLOSE,
                payload,
            }) if payload.len() >= 2 => u16::from_be_bytes([payload[0], payload[1]]),
            other => panic!("expected a close with a code, got {other:?}"),
        }
    }

    /// Nothing more: the server has closed the TCP connection.
    async fn expect_eof(&mut self) {
        assert_eq!(self.next().await, None, "expected the connection to end");
    }
}

/// Takes one complete server frame off `buf`, checking it is unmasked with clear reserved
/// bits.
fn parse(buf: &mut BytesMut) -> Option<Rx> {
    if buf.len() < 2 {
        return None;
    }
    let (b0, b1) = (buf[0], buf[1]);
    assert_eq!(b0 & 0x70, 0, "server frame with reserved bits set");
    assert_eq!(b1 & 0x80, 0, "server frames must not be masked");
    let (len, head) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let n = u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes"));
            (usize::try_from(n).expect("length fits usize"), 10)
        }
        126 | 127 => return None,
        n => (usize::from(n), 2),
    };
    if buf.len() < head + len {
        return None;
    }
    buf.advance(head);
    let payload = buf.split_to(len).to_vec();
    Some(Rx {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        payload,
    })
}

async fn messages_come_back_verbatim_without_a_welcome(t: Raw) {
    let server = echo_server(t).await;
    let mut p = Peer::connect(server.addr).await;
    // The first frame the server sends is the echo: no welcome.
    p.send(&whole(TEXT, "héllo".as_bytes())).await;
    p.expect(TEXT, "héllo".as_bytes()).await;
    p.send(&whole(BINARY, &[0, 0x9f, 0xff])).await;
    p.expect(BINARY, &[0, 0x9f, 0xff]).await;
    // Not JSON, not the app protocol: still echoed.
    p.send(&whole(TEXT, br#"{"op":"to_all","data":1}"#)).await;
    p.expect(TEXT, br#"{"op":"to_all","data":1}"#).await;
    p.send(&whole(TEXT, b"")).await;
    p.expect(TEXT, b"").await;
    // 16-bit length, exactly at the limit.
    let big = vec![0xa5u8; MAX];
    p.send(&whole(BINARY, &big)).await;
    p.expect(BINARY, &big).await;
    p.send(&whole(PING, b"are you there")).await;
    p.expect(PONG, b"are you there").await;
    // An unsolicited pong is not answered: the next frame is the text's echo.
    p.send(&whole(PONG, b"unasked")).await;
    p.send(&whole(TEXT, b"after pong")).await;
    p.expect(TEXT, b"after pong").await;
    p.send(&close(1000, b"")).await;
    assert_eq!(p.expect_close().await, 1000);
    p.expect_eof().await;
    server.stop().await.expect("clean shutdown");
}

async fn fragments_are_echoed_as_one_message(t: Raw) {
    let server = echo_server(t).await;
    let mut p = Peer::connect(server.addr).await;
    // "κόσμε" cut inside its first and third characters, with a ping in the middle.
    let text = "κόσμε".as_bytes();
    let mut bytes = frame(false, 0, TEXT, &text[..1]);
    bytes.extend(frame(false, 0, CONT, &text[1..5]));
    bytes.extend(whole(PING, b"mid"));
    bytes.extend(frame(false, 0, CONT, &[]));
    bytes.extend(frame(true, 0, CONT, &text[5..]));
    p.send(&bytes).await;
    p.expect(PONG, b"mid").await;
    p.expect(TEXT, text).await;
    let mut bytes = frame(false, 0, BINARY, &[1, 2]);
    bytes.extend(frame(true, 0, CONT, &[3]));
    p.send(&bytes).await;
    p.expect(BINARY, &[1, 2, 3]).await;
    drop(p);
    server.stop().await.expect("clean shutdown");
}

async fn over_the_limit_is_1009(t: Raw) {
    let server = echo_server(t).await;
    let mut p = Peer::connect(server.addr).await;
    p.send(&whole(BINARY, &vec![0u8; MAX + 1])).await;
    assert_eq!(p.expect_close().await, 1009);
    drop(p);
    // Every fragment is under the limit, the message is not.
    let mut p = Peer::connect(server.addr).await;
    let half = vec![b'a'; MAX / 2 + 1];
    let mut bytes = frame(false, 0, TEXT, &half);
    bytes.extend(frame(true, 0, CONT, &half));
    p.send(&bytes).await;
    assert_eq!(p.expect_close().await, 1009);
    drop(p);
    server.stop().await.expect("clean shutdown");
}

async fn invalid_utf8_is_1007(t: Raw) {
    let server = echo_server(t).await;
    let mut p = Peer::connect(server.addr).await;
    p.send(&whole(TEXT, b"caf\xc3\x28")).await;
    assert_eq!(p.expect_close().await, 1007);
    drop(p);
    // Fail fast: 0xF4 0x90 can start no character, so the first fragment is enough; the
    // rest of the message is never sent.
    let mut p = Peer::connect(server.addr).await;
    p.send(&frame(false, 0, TEXT, b"ok\xf4\x90")).await;
    assert_eq!(p.expect_close().await, 1007);
    drop(p);
    // A character cut off by the last fragment.
    let mut p = Peer::connect(server.addr).await;
    let mut bytes = frame(false, 0, TEXT, b"ok");
    bytes.extend(frame(true, 0, CONT, b"\xe2\x82"));
    p.send(&bytes).await;
    assert_eq!(p.expect_close().await, 1007);
    drop(p);
    // A close reason that is not UTF-8.
    let mut p = Peer::connect(server.addr).await;
    p.send(&close(1000, b"\xff\xfe")).await;
    assert_eq!(p.expect_close().await, 1007);
    drop(p);
    server.stop().await.expect("clean shutdown");
}

async fn protocol_violations_are_1002(t: Raw) {
    let server = echo_server(t).await;
    let mut start_then_text = frame(false, 0, TEXT, b"a");
    start_then_text.extend(whole(TEXT, b"b"));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("reserved data opcode", whole(0x3, b"x")),
        ("reserved control opcode", whole(0xb, b"")),
        ("reserved bit", frame(true, 0b100, TEXT, b"x")),
        ("fragmented ping", frame(false, 0, PING, b"x")),
        ("pong over 125 bytes", whole(PONG, &[b'p'; 126])),
        ("close over 125 bytes", close(1000, &[b'r'; 124])),
        ("close payload of 1 byte", whole(CLOSE, &[0x03])),
        ("continuation without a start", frame(true, 0, CONT, b"x")),
        ("new message inside a fragmented one", start_then_text),
        ("close code 999", close(999, b"")),
        ("close code 1005", close(1005, b"")),
        ("close code 1016", close(1016, b"")),
        ("close code 5000", close(5000, b"")),
    ];
    for (what, bytes) in cases {
        let mut p = Peer::connect(server.addr).await;
        p.send(&bytes).await;
        assert_eq!(p.expect_close().await, 1002, "{what}");
    }
    server.stop().await.expect("clean shutdown");
}

async fn close_is_echoed_and_nothing_after_it_is_answered(t: Raw) {
    let server = echo_server(t).await;
    for code in [1000u16, 1001, 3000, 4999] {
        let mut p = Peer::connect(server.addr).await;
        // A text and a ping right behind the close, in the same write: not answered.
        let mut bytes = close(code, b"bye");
        bytes.extend(whole(TEXT, b"too late"));
        bytes.extend(whole(PING, b"too late"));
        p.send(&bytes).await;
        assert_eq!(p.expect_close().await, code);
        p.expect_eof().await;
    }
    // An empty close is answered.
    let mut p = Peer::connect(server.addr).await;
    p.send(&whole(CLOSE, b"")).await;
    match p.next().await {
        Some(Rx {
            fin: true,
            opcode: CLOSE,
            ..
        }) => {}
        other => panic!("expected a close, got {other:?}"),
    }
    p.expect_eof().await;
    server.stop().await.expect("clean shutdown");
}

async fn shutdown_closes_with_1001(t: Raw) {
    let server = echo_server(t).await;
    let mut p = Peer::connect(server.addr).await;
    p.send(&whole(TEXT, b"up")).await;
    p.expect(TEXT, b"up").await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(p.expect_close().await, 1001);
    p.send(&close(1001, b"")).await;
    p.expect_eof().await;
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("server stops in time")
        .expect("stop task does not panic")
        .expect("clean shutdown");
}
