//! Reassembly of fragmented WebSocket messages for `ws-fastwebsockets`, whose split read
//! half hands over single frames and checks sizes per frame only.
//!
//! [`Assembler`] caps a message's TOTAL size (over it: 1009), checks a fragmented text
//! message's UTF-8 as each fragment arrives, so a bad sequence fails at once rather than at
//! the last fragment (1007), and refuses fragments out of place (1002). fastwebsockets
//! itself checks the UTF-8 of a text message sent as one frame.

use bytes::BytesMut;
use fastwebsockets::OpCode;

/// A close code and its reason, for a message that cannot be accepted.
pub(super) type Refusal = (u16, &'static str);

/// What a data frame completed.
#[derive(Debug)]
pub(super) enum Step {
    /// A whole message: `Text` (valid UTF-8) or `Binary`, and its payload.
    Message(OpCode, BytesMut),
    /// A fragment was kept; the message is not complete yet.
    Pending,
    /// The connection must close with this code.
    Refuse(Refusal),
}

/// The fragmented message being collected.
#[derive(Debug)]
struct Partial {
    /// `Text` or `Binary`, from the first fragment.
    opcode: OpCode,
    /// The fragments so far.
    buf: BytesMut,
    /// Text only: how much of `buf` is known to be valid UTF-8 (what follows is at most an
    /// incomplete character cut by a fragment boundary).
    checked: usize,
}

/// Collects one connection's messages, frame by frame.
#[derive(Debug)]
pub(super) struct Assembler {
    /// `cfg.max_message_bytes`: the cap on a message after reassembly.
    max: usize,
    partial: Option<Partial>,
}

impl Assembler {
    pub(super) fn new(max: usize) -> Self {
        Assembler { max, partial: None }
    }

    /// Takes one data frame (`Text`, `Binary` or `Continuation`; control frames are not
    /// for this). A single-frame text message must already be UTF-8-checked.
    pub(super) fn push(&mut self, fin: bool, opcode: OpCode, payload: BytesMut) -> Step {
        match opcode {
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return Step::Refuse((1002, "expected a continuation frame"));
                }
                if payload.len() > self.max {
                    return Step::Refuse((1009, "message too big"));
                }
                if fin {
                    return Step::Message(opcode, payload);
                }
                let mut partial = Partial {
                    opcode,
                    buf: payload,
                    checked: 0,
                };
                if let Err(r) = partial.check_utf8(false) {
                    return Step::Refuse(r);
                }
                self.partial = Some(partial);
                Step::Pending
            }
            OpCode::Continuation => {
                let Some(partial) = self.partial.as_mut() else {
                    return Step::Refuse((1002, "unexpected continuation frame"));
                };
                if partial.buf.len() + payload.len() > self.max {
                    return Step::Refuse((1009, "message too big"));
                }
                partial.buf.extend_from_slice(&payload);
                if let Err(r) = partial.check_utf8(fin) {
                    return Step::Refuse(r);
                }
                if !fin {
                    return Step::Pending;
                }
                match self.partial.take() {
                    Some(p) => Step::Message(p.opcode, p.buf),
                    None => Step::Pending,
                }
            }
            _ => Step::Refuse((1002, "control frame given to the message assembler")),
        }
    }
}

impl Partial {
    /// Checks the text received since the last check; `fin`: the message must also end
    /// on a character boundary. Binary messages always pass.
    fn check_utf8(&mut self, fin: bool) -> Result<(), Refusal> {
        if self.opcode != OpCode::Text {
            return Ok(());
        }
        match std::str::from_utf8(&self.buf[self.checked..]) {
            Ok(_) => {
                self.checked = self.buf.len();
                Ok(())
            }
            // The tail is the start of a character that may still be completed.
            Err(e) if e.error_len().is_none() && !fin => {
                self.checked += e.valid_up_to();
                Ok(())
            }
            Err(_) => Err((1007, "invalid UTF-8")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &[u8]) -> BytesMut {
        BytesMut::from(s)
    }

    fn refused(step: Step) -> u16 {
        match step {
            Step::Refuse((code, _)) => code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn fragments_reassemble_across_a_split_character() {
        let mut a = Assembler::new(64);
        // "κα" with the first character split between fragments.
        assert!(matches!(
            a.push(false, OpCode::Text, b(b"x\xce")),
            Step::Pending
        ));
        assert!(matches!(
            a.push(false, OpCode::Continuation, b(b"\xba\xce")),
            Step::Pending
        ));
        match a.push(true, OpCode::Continuation, b(b"\xb1")) {
            Step::Message(OpCode::Text, m) => assert_eq!(&m[..], "xκα".as_bytes()),
            other => panic!("{other:?}"),
        }
        // Binary is not checked.
        assert!(matches!(
            a.push(false, OpCode::Binary, b(b"\xff")),
            Step::Pending
        ));
        assert!(matches!(
            a.push(true, OpCode::Continuation, b(b"\xfe")),
            Step::Message(OpCode::Binary, _)
        ));
    }

    #[test]
    fn invalid_utf8_fails_at_the_first_bad_fragment() {
        let mut a = Assembler::new(64);
        // 0xF4 0x90 can start no character: refused before the message ends.
        assert_eq!(refused(a.push(false, OpCode::Text, b(b"ok\xf4\x90"))), 1007);
        let mut a = Assembler::new(64);
        assert!(matches!(
            a.push(false, OpCode::Text, b(b"ok")),
            Step::Pending
        ));
        assert_eq!(
            refused(a.push(false, OpCode::Continuation, b(b"\xc0"))),
            1007
        );
        // A character cut off by the last fragment.
        let mut a = Assembler::new(64);
        assert!(matches!(
            a.push(false, OpCode::Text, b(b"ok")),
            Step::Pending
        ));
        assert_eq!(
            refused(a.push(true, OpCode::Continuation, b(b"\xe2\x82"))),
            1007
        );
    }

    #[test]
    fn fragments_out_of_place_and_over_the_cap() {
        let mut a = Assembler::new(4);
        assert_eq!(refused(a.push(true, OpCode::Continuation, b(b"x"))), 1002);
        assert!(matches!(
            a.push(false, OpCode::Text, b(b"ab")),
            Step::Pending
        ));
        assert_eq!(refused(a.push(true, OpCode::Text, b(b"c"))), 1002);
        let mut a = Assembler::new(4);
        assert!(matches!(
            a.push(false, OpCode::Binary, b(b"abc")),
            Step::Pending
        ));
        assert_eq!(refused(a.push(true, OpCode::Continuation, b(b"de"))), 1009);
        assert_eq!(
            refused(Assembler::new(4).push(true, OpCode::Binary, b(b"abcde"))),
            1009
        );
    }
}
