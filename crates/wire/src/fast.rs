//! Exact-layout fast decoders for the receive path of the load generator.
//!
//! The load generator knows the bytes it sent: its own payload [`Stamp`] layout
//! (`{"from":F,"seq":S,"t":T,"pad":"…"}`, written by [`Stamp::encode_into`]) and the envelopes
//! every wsbench server puts around it (`{"op":"msg","data":D}`, `{"op":"ack","ack":N}`,
//! `{"op":"ack","ack":N,"data":D}`, Socket.IO `42["msg",D]` and `43N[D]`). These functions
//! match exactly those bytes and nothing else: any other spelling (whitespace, reordered keys,
//! escapes, leading zeros, numbers that do not fit, extra arguments) gives `None`, and the
//! caller falls back to the full parser. So whenever a fast decoder answers, the full parser
//! gives the same answer (tested in `tests/fast_agrees.rs`), and correctness never depends on
//! the fast path.

use crate::payload::Stamp;

/// The Stamp fields of an exactly-laid-out payload, or `None` (use the full parser).
pub fn stamp(data: &[u8]) -> Option<Stamp> {
    let r = data.strip_prefix(br#"{"from":"#)?;
    let (from, r) = uint(r)?;
    let from = u32::try_from(from).ok()?;
    let r = r.strip_prefix(br#","seq":"#)?;
    let (seq, r) = uint(r)?;
    let r = r.strip_prefix(br#","t":"#)?;
    let (t, r) = uint(r)?;
    let pad = r.strip_prefix(br#","pad":""#)?.strip_suffix(br#""}"#)?;
    // the filler `Stamp::encode_into` writes, compared a chunk at a time (memcmp): any other
    // pad (escapes, quotes that could hide more keys) goes to the full parser
    let chunk = crate::payload::PAD_CHUNK.as_bytes();
    if !pad.chunks(chunk.len()).all(|c| c == &chunk[..c.len()]) {
        return None;
    }
    Some(Stamp { from, seq, t })
}

/// A decimal `u64` as JSON writes it (no sign, no leading zero, no fraction is checked by
/// the caller's next literal) and the rest of the input.
fn uint(r: &[u8]) -> Option<(u64, &[u8])> {
    let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || (n > 1 && r[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &b in &r[..n] {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((v, &r[n..]))
}

/// A server reply the fast path understood; `data` is a sub-slice of the input and
/// `stamp` its decoded fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast<'a> {
    /// A delivery: raw `{"op":"msg","data":D}`, Socket.IO `42["msg",D]`.
    Msg { data: &'a [u8], stamp: Stamp },
    /// An ack, with the echoed payload when the server sent one.
    Ack {
        ack: u64,
        data: Option<(&'a [u8], Stamp)>,
    },
}

/// A raw target's reply frame (docs/design.md §3) in its exact server spelling, carrying a
/// payload in the exact Stamp layout; `None` for anything else (welcome, error, other data).
pub fn app_reply(frame: &[u8]) -> Option<Fast<'_>> {
    if let Some(r) = frame.strip_prefix(br#"{"op":"msg","data":"#) {
        let data = r.strip_suffix(b"}")?;
        return Some(Fast::Msg {
            data,
            stamp: stamp(data)?,
        });
    }
    let r = frame.strip_prefix(br#"{"op":"ack","ack":"#)?;
    let (ack, r) = uint(r)?;
    if r == b"}" {
        return Some(Fast::Ack { ack, data: None });
    }
    let data = r.strip_prefix(br#","data":"#)?.strip_suffix(b"}")?;
    Some(Fast::Ack {
        ack,
        data: Some((data, stamp(data)?)),
    })
}

/// One Engine.IO packet from a Socket.IO server (the text of a WebSocket frame or of one
/// polling record), default namespace: `42["msg",D]` or `43N[D]` with D in the exact Stamp
/// layout; `None` for anything else.
pub fn sio_packet(text: &[u8]) -> Option<Fast<'_>> {
    if let Some(r) = text.strip_prefix(br#"42["msg","#) {
        let data = r.strip_suffix(b"]")?;
        return Some(Fast::Msg {
            data,
            stamp: stamp(data)?,
        });
    }
    let r = text.strip_prefix(b"43")?;
    let (ack, r) = uint(r)?;
    let data = r.strip_prefix(b"[")?.strip_suffix(b"]")?;
    Some(Fast::Ack {
        ack,
        data: Some((data, stamp(data)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[u8] = br#"{"from":3,"seq":10,"t":99,"pad":"xx"}"#;
    const STAMP: Stamp = Stamp {
        from: 3,
        seq: 10,
        t: 99,
    };

    #[test]
    fn reads_the_exact_layout() {
        assert_eq!(stamp(S), Some(STAMP));
        assert_eq!(
            stamp(br#"{"from":0,"seq":0,"t":0,"pad":""}"#),
            Some(Stamp {
                from: 0,
                seq: 0,
                t: 0
            })
        );
    }

    #[test]
    fn refuses_every_other_spelling() {
        for bad in [
            &br#"{"from":3, "seq":10,"t":99,"pad":"xx"}"#[..],
            br#"{"seq":10,"from":3,"t":99,"pad":"xx"}"#,
            br#"{"from":03,"seq":10,"t":99,"pad":"xx"}"#,
            br#"{"from":3,"seq":10,"t":9.9,"pad":"xx"}"#,
            br#"{"from":3,"seq":10,"t":1e3,"pad":"xx"}"#,
            br#"{"from":-3,"seq":10,"t":99,"pad":"xx"}"#,
            br#"{"from":4294967296,"seq":10,"t":99,"pad":"xx"}"#,
            br#"{"from":3,"seq":18446744073709551616,"t":99,"pad":"xx"}"#,
            br#"{"from":3,"seq":10,"t":99,"pad":"x\"x"}"#,
            br#"{"from":3,"seq":10,"t":99,"pad":"\u0078"}"#,
            br#"{"from":3,"seq":10,"t":99,"pad":"xx"} "#,
            br#"{"from":3,"seq":10,"t":99,"pad":"xx","k":1}"#,
            br#"{"from":3,"seq":10,"t":99}"#,
            b"{\"from\":3,\"seq\":10,\"t\":99,\"pad\":\"\xc3\xa9\"}",
            b"",
        ] {
            assert_eq!(stamp(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn envelopes() {
        let msg = [br#"{"op":"msg","data":"#, S, b"}"].concat();
        assert_eq!(
            app_reply(&msg),
            Some(Fast::Msg {
                data: S,
                stamp: STAMP
            })
        );
        let ack = [br#"{"op":"ack","ack":7,"data":"#, S, b"}"].concat();
        assert_eq!(
            app_reply(&ack),
            Some(Fast::Ack {
                ack: 7,
                data: Some((S, STAMP))
            })
        );
        assert_eq!(
            app_reply(br#"{"op":"ack","ack":7}"#),
            Some(Fast::Ack { ack: 7, data: None })
        );
        assert_eq!(app_reply(br#"{"op":"welcome","id":"1"}"#), None);
        assert_eq!(app_reply(br#"{"op":"msg","data":{"a":1}}"#), None);
        let sio = [br#"42["msg","#, S, b"]"].concat();
        assert_eq!(
            sio_packet(&sio),
            Some(Fast::Msg {
                data: S,
                stamp: STAMP
            })
        );
        let sack = [b"4312[", S, b"]"].concat();
        assert_eq!(
            sio_packet(&sack),
            Some(Fast::Ack {
                ack: 12,
                data: Some((S, STAMP))
            })
        );
        assert_eq!(sio_packet(&[br#"42["msg","#, S, b",1]"].concat()), None);
        assert_eq!(sio_packet(b"4312[]"), None);
    }
}
