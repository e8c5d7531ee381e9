//! Echo mode of `ws-fastwebsockets` (`wsbench serve ws-fastwebsockets --echo`), for the
//! Autobahn|Testsuite fuzzingclient; never used in a benchmark.
//!
//! No welcome and no hub: one task reads and writes the unsplit socket, so an echo, a pong
//! and a close reply leave in the order their causes arrived. Every complete message
//! ([`Assembler`]: total cap 1009, UTF-8 checked per fragment 1007, fragments out of place
//! 1002) is sent back with its own opcode. fastwebsockets answers pings (auto-pong) and
//! refuses reserved bits and opcodes, fragmented control frames and pings over 125 bytes;
//! this module checks what it does not: pongs and closes over 125 bytes (1002) and the
//! close frame itself (auto-close is off): a 1-byte payload or a code that may not be sent
//! is 1002, a reason that is not UTF-8 1007; a valid close is echoed (code and reason).
//! Either way the connection ends right after the reply (the peer has closed, nothing is
//! left to wait for), so nothing after a close is answered. A connection that sends
//! nothing for `idle_timeout` is closed with 1001, without keep-alive pings.

use std::sync::Arc;

use bytes::BytesMut;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};

use super::assemble::{Assembler, Refusal, Step};
use super::{FwsState, Io, close_for};
use crate::http_app::Admission;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::session::{CLOSE_GRACE, IdleTimer, Keepalive};

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// Serves one echo connection until it closes.
pub(super) async fn connection(mut ws: WebSocket<Io>, st: Arc<FwsState>, _admission: Admission) {
    ws.set_auto_pong(true);
    ws.set_auto_close(false);
    // fastwebsockets refuses a frame whose length is >= this, at its header.
    ws.set_max_message_size(st.max.saturating_mul(2).saturating_add(1));
    let Some((code, reason)) = echo(&mut ws, &st).await else {
        return;
    };
    if ws
        .write_frame(Frame::close(code, reason.as_bytes()))
        .await
        .is_err()
    {
        return;
    }
    let _ = ws.flush().await;
    // We close first (RFC 6455 §7.1.1): half-close TCP, then read and discard until the peer
    // closes too (its close frame included), bounded. Parsing the peer's close is not
    // needed, and after a protocol error fastwebsockets' reader may not be able to.
    let mut io = ws.into_inner();
    let _ = io.shutdown().await;
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        let mut sink = [0u8; 4096];
        while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Echoes messages until the connection should close. Returns the close to send, or
/// `None` when the peer closed (and has its reply) or the socket is gone.
async fn echo(ws: &mut WebSocket<Io>, st: &FwsState) -> Option<Refusal> {
    let mut messages = Assembler::new(st.max);
    let mut idle = IdleTimer::new(st.idle);
    loop {
        // read_frame is not cancel-safe: keep the one read alive across timer ticks.
        let read = {
            let read = ws.read_frame();
            tokio::pin!(read);
            loop {
                tokio::select! {
                    r = &mut read => break r,
                    _ = st.conns.stop.cancelled() => return Some((1001, "server shutting down")),
                    k = idle.next() => match k {
                        Keepalive::Expired => return Some((1001, "idle timeout")),
                        Keepalive::Ping => {}
                    },
                }
            }
        };
        idle.seen();
        let mut frame = match read {
            Ok(frame) => frame,
            Err(e) => return close_for(e),
        };
        if !super::is_masked(&mut frame) {
            return Some(super::UNMASKED);
        }
        let (fin, opcode) = (frame.fin, frame.opcode);
        match opcode {
            OpCode::Close => return answer_close(ws, &frame.payload).await,
            // With auto-pong on, pings were answered inside read_frame.
            OpCode::Ping | OpCode::Pong => {
                if frame.payload.len() > MAX_CONTROL_PAYLOAD {
                    return Some((1002, "control frame over 125 bytes"));
                }
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                let payload = match frame.payload {
                    Payload::Bytes(b) => b,
                    other => BytesMut::from(&other[..]),
                };
                match messages.push(fin, opcode, payload) {
                    Step::Pending => {}
                    Step::Refuse(r) => return Some(r),
                    Step::Message(op, msg) => {
                        let echo = Frame::new(true, op, None, Payload::Borrowed(&msg));
                        if ws.write_frame(echo).await.is_err() {
                            return None;
                        }
                    }
                }
            }
        }
    }
}

/// Answers the peer's close: echoes a valid one, or sends the close a malformed one
/// deserves. Either way the connection then ends: the peer has closed, so there is no
/// close of its own left to wait for.
async fn answer_close(ws: &mut WebSocket<Io>, payload: &[u8]) -> Option<Refusal> {
    let reply = match check_close(payload) {
        Ok(()) => Frame::close_raw(Payload::Borrowed(payload)),
        Err((code, reason)) => Frame::close(code, reason.as_bytes()),
    };
    if ws.write_frame(reply).await.is_ok() {
        let _ = ws.flush().await;
    }
    None
}

/// A received close payload: empty, or a code a peer may send and a UTF-8 reason.
pub(super) fn check_close(payload: &[u8]) -> Result<(), Refusal> {
    match payload {
        [] => Ok(()),
        [_] => Err((1002, "close payload of 1 byte")),
        p if p.len() > MAX_CONTROL_PAYLOAD => Err((1002, "control frame over 125 bytes")),
        [hi, lo, reason @ ..] => {
            if !close_code_allowed(u16::from_be_bytes([*hi, *lo])) {
                return Err((1002, "invalid close code"));
            }
            match std::str::from_utf8(reason) {
                Ok(_) => Ok(()),
                Err(_) => Err((1007, "close reason is not UTF-8")),
            }
        }
    }
}

/// Codes a close frame may carry: those RFC 6455 §7.4.1 defines for sending, the later
/// IANA registrations 1012–1014, and the application ranges 3000–4999. 1004 is reserved;
/// 1005, 1006 and 1015 must never be sent.
fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_payloads() {
        assert_eq!(check_close(b""), Ok(()));
        assert_eq!(check_close(b"\x03\xe8bye"), Ok(()));
        assert_eq!(check_close(b"\x0f\xa0"), Ok(())); // 4000
        assert_eq!(check_close(b"\x03").unwrap_err().0, 1002);
        for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let p = bad.to_be_bytes();
            assert_eq!(check_close(&p).unwrap_err().0, 1002, "code {bad}");
        }
        assert_eq!(check_close(b"\x03\xe8\xff").unwrap_err().0, 1007);
        let mut long = b"\x03\xe8".to_vec();
        long.resize(126, b'x');
        assert_eq!(check_close(&long).unwrap_err().0, 1002);
    }
}
