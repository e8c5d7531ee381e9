//! Hand-made WebSocket traffic for the adversarial suite: a raw upgrade (any
//! `Sec-WebSocket-Version`), frames with any header bits (mask or not, RSV bits, reserved
//! opcodes, declared lengths up to 2^64 - 1), and reading server frames until a close.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Running, Target, WAIT};

/// What ended a raw WebSocket connection, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A close frame with this code (`None`: a close frame without a code).
    Close(Option<u16>),
    /// The TCP connection ended without a close frame.
    Eof,
}

/// Sends an upgrade request for `target`'s WebSocket path with `version`; returns the
/// stream and the response head.
pub async fn upgrade(server: &Running, version: &str) -> (TcpStream, String) {
    let mut s = server.tcp().await;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n",
        server.target.ws_path(),
        server.addr
    );
    s.write_all(req.as_bytes()).await.expect("write upgrade");
    let mut head = Vec::new();
    let read = async {
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b).await {
                Ok(1) => head.push(b[0]),
                _ => break,
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("upgrade response in time");
    (s, String::from_utf8_lossy(&head).into_owned())
}

/// An upgraded connection, ready for frames: for `sio` the Engine.IO open packet has been
/// read and the Socket.IO CONNECT answered; for the raw WebSocket targets the welcome read.
pub async fn open(server: &Running) -> TcpStream {
    let (mut s, head) = upgrade(server, "13").await;
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    let first = read_text(&mut s).await;
    if server.target == Target::Sio {
        assert!(first.starts_with('0'), "Engine.IO open packet, got {first}");
        s.write_all(&frame(true, 0, 1, true, b"40"))
            .await
            .expect("send CONNECT");
        loop {
            // The Engine.IO ping may come first: answer it.
            let reply = read_text(&mut s).await;
            if reply == "2" {
                s.write_all(&frame(true, 0, 1, true, b"3"))
                    .await
                    .expect("pong");
                continue;
            }
            assert!(reply.starts_with("40"), "CONNECT reply, got {reply}");
            break;
        }
    } else {
        assert!(first.contains("welcome"), "welcome, got {first}");
    }
    s
}

/// One frame as a client would send it: `rsv` is the three RSV bits (0..8), the mask key is
/// fixed, and the payload length field says `payload.len()`.
pub fn frame(fin: bool, rsv: u8, opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = header(fin, rsv, opcode, masked, payload.len() as u64);
    if masked {
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame header declaring `len` payload bytes (masked: the key follows).
pub fn header(fin: bool, rsv: u8, opcode: u8, masked: bool, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f)];
    let m = if masked { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len < 65536 {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if masked {
        out.extend_from_slice(&MASK);
    }
    out
}

/// Reads one server frame: (opcode, payload); `None` at EOF.
async fn read_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.ok()?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    assert!(h[1] & 0x80 == 0, "server frames are never masked");
    let mut payload = vec![0u8; usize::try_from(len).expect("frame fits in memory")];
    s.read_exact(&mut payload).await.ok()?;
    Some((h[0] & 0x0f, payload))
}

/// The next text frame's payload (pings and other frames skipped).
pub async fn read_text(s: &mut TcpStream) -> String {
    let fut = async {
        loop {
            match read_frame(s).await {
                Some((1, p)) => return String::from_utf8(p).expect("UTF-8 text"),
                Some((8, p)) => panic!("closed while text was expected: {p:?}"),
                Some(_) => continue,
                None => panic!("EOF while text was expected"),
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("text frame in time")
}

/// Reads server frames until a close frame or EOF.
pub async fn read_end(s: &mut TcpStream) -> End {
    let fut = async {
        loop {
            match read_frame(s).await {
                Some((8, p)) => {
                    return End::Close((p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]])));
                }
                Some(_) => continue,
                None => return End::Eof,
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("the server ends the connection in time")
}
