//! One floor-client connection: the blocking connect and handshakes (tcp welcome; WebSocket
//! HTTP upgrade by hand, then the welcome), the request bytes built once, and the framing
//! that finds where each server reply ends without reading it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use wsbench_wire::payload::Stamp;

use super::{FloorError, FloorProto};
use crate::transport::codec::push_app_request;
use crate::transport::{OpKind, Outgoing};

/// Connect and handshake timeout per connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The RFC 6455 sample nonce and the accept value a server must answer it with.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// Largest reply frame accepted (the servers' own default limit is 1 MiB).
const MAX_FRAME: usize = 64 << 20;

/// A connected, handshaken connection and the one request it sends over and over.
pub(super) struct FloorConn {
    pub(super) stream: TcpStream,
    /// The echo request, framed (and for WebSocket masked) once.
    pub(super) request: Vec<u8>,
    /// Bytes read and not yet consumed (may hold a partial frame).
    pub(super) rbuf: Vec<u8>,
    /// When the outstanding request was written: its reply's round trip runs from here.
    pub(super) sent_at: std::time::Instant,
}

/// Where to connect, for error messages and the upgrade request.
pub(super) struct Dial<'a> {
    pub proto: FloorProto,
    pub addr: SocketAddr,
    pub host: &'a str,
    pub path: &'a str,
    pub endpoint: &'a str,
}

impl FloorConn {
    /// Connects client `index`, completes the handshakes and builds its request: the echo
    /// request wsbench sends, from the same encoders (`Stamp::encode_into`,
    /// `push_app_request`), padded to `payload_bytes`.
    pub(super) fn open(
        d: &Dial<'_>,
        index: u32,
        payload_bytes: usize,
    ) -> Result<FloorConn, FloorError> {
        let stream = TcpStream::connect_timeout(&d.addr, HANDSHAKE_TIMEOUT).map_err(|source| {
            FloorError::Connect {
                endpoint: d.endpoint.to_owned(),
                source,
            }
        })?;
        let handshake = |reason: String| FloorError::Handshake {
            endpoint: d.endpoint.to_owned(),
            reason,
        };
        let io = |e: std::io::Error| handshake(e.to_string());
        stream.set_nodelay(true).map_err(io)?;
        stream
            .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(io)?;
        let mut c = FloorConn {
            stream,
            request: Vec::new(),
            rbuf: Vec::with_capacity(16 << 10),
            sent_at: std::time::Instant::now(),
        };
        if d.proto == FloorProto::Ws {
            c.upgrade(d).map_err(handshake)?;
        }
        // the welcome is the first frame
        let welcome = loop {
            if let Some(f) = c.next_frame(d.proto).map_err(handshake)? {
                break f;
            }
            c.fill().map_err(handshake)?;
        };
        if !welcome.payload.starts_with(br#"{"op":"welcome""#) {
            return Err(handshake(format!(
                "expected the welcome, got {:?}",
                String::from_utf8_lossy(&welcome.payload[..welcome.payload.len().min(80)])
            )));
        }
        c.rbuf.drain(..welcome.len);
        c.request = request(d.proto, index, payload_bytes)?;
        c.stream.set_nonblocking(true).map_err(io)?;
        Ok(c)
    }

    /// Reads once more into `rbuf` (blocking, during the handshake).
    fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("connection closed by the server".to_owned()),
            Ok(n) => {
                self.rbuf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// `GET path` with the upgrade headers; checks the 101 and the accept key. Bytes after
    /// the response head stay in `rbuf`.
    fn upgrade(&mut self, d: &Dial<'_>) -> Result<(), String> {
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            d.path, d.host
        );
        self.stream
            .write_all(req.as_bytes())
            .map_err(|e| e.to_string())?;
        let head_end = loop {
            if let Some(i) = self.rbuf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.rbuf.len() > 16 << 10 {
                return Err("HTTP response head longer than 16 KiB".to_owned());
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.rbuf[..head_end]).into_owned();
        let status = head.lines().next().unwrap_or_default();
        if status.split_whitespace().nth(1) != Some("101") {
            return Err(format!("expected 101 Switching Protocols, got {status:?}"));
        }
        if !head.contains(WS_ACCEPT) {
            return Err("the 101 response lacks the right Sec-WebSocket-Accept".to_owned());
        }
        self.rbuf.drain(..head_end);
        Ok(())
    }

    /// The first complete frame in `rbuf`, if any (not consumed).
    fn next_frame(&self, proto: FloorProto) -> Result<Option<Frame<'_>>, String> {
        Ok(frame_at(&self.rbuf, proto)?.map(|(len, _)| Frame {
            len,
            payload: &self.rbuf[len - payload_len(&self.rbuf, proto)..len],
        }))
    }
}

/// A complete frame at the start of the read buffer.
struct Frame<'a> {
    /// Header and payload bytes.
    len: usize,
    payload: &'a [u8],
}

/// The payload length of the complete frame at the start of `b`.
fn payload_len(b: &[u8], proto: FloorProto) -> usize {
    match proto {
        FloorProto::Tcp => u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
        FloorProto::Ws => ws_header(b).ok().flatten().map_or(0, |(_, len, _)| len),
    }
}

/// The complete frame at the start of `b`, if any: (header + payload bytes, is a server
/// reply rather than WebSocket control chatter).
pub(super) fn frame_at(b: &[u8], proto: FloorProto) -> Result<Option<(usize, bool)>, String> {
    let (header, len, reply) = match proto {
        FloorProto::Tcp => {
            if b.len() < 4 {
                return Ok(None);
            }
            (
                4,
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                true,
            )
        }
        FloorProto::Ws => match ws_header(b)? {
            Some(h) => h,
            None => return Ok(None),
        },
    };
    if len > MAX_FRAME {
        return Err(format!("frame of {len} bytes exceeds {MAX_FRAME}"));
    }
    Ok((b.len() >= header + len).then_some((header + len, reply)))
}

/// An unmasked server frame's (header length, payload length, is a final data frame).
/// A close frame is an error that carries its reason.
fn ws_header(b: &[u8]) -> Result<Option<(usize, usize, bool)>, String> {
    if b.len() < 2 {
        return Ok(None);
    }
    let fin = b[0] & 0x80 != 0;
    let opcode = b[0] & 0x0f;
    if b[1] & 0x80 != 0 {
        return Err("the server sent a masked frame".to_owned());
    }
    let (header, len) = match b[1] & 0x7f {
        126 if b.len() < 4 => return Ok(None),
        126 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
        127 if b.len() < 10 => return Ok(None),
        127 => {
            let n = u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"));
            (10, usize::try_from(n).unwrap_or(usize::MAX))
        }
        n => (2, n as usize),
    };
    if opcode == 0x8 {
        let reason = b.get(header + 2..header + len.min(125)).unwrap_or_default();
        return Err(format!(
            "the server closed the WebSocket: {:?}",
            String::from_utf8_lossy(reason)
        ));
    }
    // text, binary or the last continuation frame ends a message; pings etc. do not
    Ok(Some((header, len, fin && opcode < 0x8)))
}

/// The framed echo request of client `index`.
fn request(proto: FloorProto, index: u32, payload_bytes: usize) -> Result<Vec<u8>, FloorError> {
    let mut payload = String::new();
    Stamp {
        from: index,
        seq: 0,
        t: crate::schedule::ns_since_epoch(std::time::Instant::now()),
    }
    .encode_into(payload_bytes, &mut payload);
    let mut json = String::new();
    push_app_request(
        &mut json,
        &Outgoing {
            op: OpKind::Echo,
            room: None,
            id: None,
            data: Some(&payload),
            ack: None,
        },
    )
    .map_err(|e| FloorError::Protocol(e.to_string()))?;
    Ok(match proto {
        FloorProto::Tcp => {
            let mut out = (json.len() as u32).to_be_bytes().to_vec();
            out.extend_from_slice(json.as_bytes());
            out
        }
        FloorProto::Ws => masked_text_frame(json.as_bytes(), index),
    })
}

/// A client text frame (RFC 6455 §5.2): FIN + text, masked with a key derived from `seed`.
fn masked_text_frame(payload: &[u8], seed: u32) -> Vec<u8> {
    let mut out = vec![0x81];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let key = (seed.wrapping_mul(0x9e37_79b9) | 1).to_be_bytes();
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_frames_unmask_to_the_payload() {
        for len in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let f = masked_text_frame(&payload, 7);
            assert_eq!(f[0], 0x81);
            let (header, n) = match f[1] & 0x7f {
                126 => (4, u16::from_be_bytes([f[2], f[3]]) as usize),
                127 => (
                    10,
                    u64::from_be_bytes(f[2..10].try_into().unwrap()) as usize,
                ),
                n => (2, n as usize),
            };
            assert_eq!(n, len);
            let key = &f[header..header + 4];
            let got: Vec<u8> = f[header + 4..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            assert_eq!(got, payload);
        }
    }

    #[test]
    fn server_frame_headers() {
        assert_eq!(ws_header(&[0x81]).unwrap(), None);
        assert_eq!(ws_header(&[0x81, 5]).unwrap(), Some((2, 5, true)));
        assert_eq!(ws_header(&[0x81, 126, 1]).unwrap(), None);
        assert_eq!(ws_header(&[0x81, 126, 1, 0]).unwrap(), Some((4, 256, true)));
        assert_eq!(ws_header(&[0x89, 0]).unwrap(), Some((2, 0, false)), "ping");
        assert_eq!(
            ws_header(&[0x01, 3]).unwrap(),
            Some((2, 3, false)),
            "not final"
        );
        assert!(ws_header(&[0x81, 0x85]).is_err(), "masked");
        let close = [0x88, 4, 0x03, 0xe8, b'b', b'y'];
        assert!(ws_header(&close).unwrap_err().contains("by"));
    }

    #[test]
    fn the_request_is_what_wsbench_sends() {
        let r = request(FloorProto::Tcp, 3, 100).unwrap();
        let len = u32::from_be_bytes(r[..4].try_into().unwrap()) as usize;
        assert_eq!(len, r.len() - 4);
        let req = wsbench_wire::app::Request::parse(&r[4..]).unwrap();
        let wsbench_wire::app::Op::Echo { data } = req.op else {
            panic!()
        };
        assert_eq!(data.get().len(), 100);
        assert_eq!(Stamp::decode(data.get().as_bytes()).unwrap().from, 3);
    }
}
