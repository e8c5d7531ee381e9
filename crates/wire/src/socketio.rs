//! Socket.IO v5 packets (default parser, text only) as a client sees them: encoders that
//! append to a caller's buffer without re-serialising arguments (they are JSON text already),
//! and a decoder that borrows from the frame.
//!
//! A packet is `<type>[/<ns>,][<ack id>][<json>]`; it travels inside an Engine.IO message
//! packet, so on the wire it is prefixed by `4` (`42["ev",…]`). The encoders here write the
//! Socket.IO part only: a transport pushes the `4` first, into the same buffer.
//!
//! | type | packet | client sends | server sends |
//! |---|---|---|---|
//! | 0 | CONNECT | `0`, `0/ns,`, `0{auth}` | `0{"sid":…}` |
//! | 1 | DISCONNECT | `1` | `1` |
//! | 2 | EVENT | `2["ev",args…]`, `2N[…]` (wants ack N) | same |
//! | 3 | ACK | `3N[args…]` | same |
//! | 4 | CONNECT_ERROR | | `4{"message":…}` |

use std::borrow::Cow;
use std::fmt;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// The namespace every wsbench target uses.
pub const DEFAULT_NS: &str = "/";

/// One decoded Socket.IO packet, borrowing from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Namespace (`/` when the packet names none).
    pub ns: &'a str,
    pub kind: PacketKind<'a>,
}

/// What a packet is; JSON parts are left as text for the caller to read lazily.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketKind<'a> {
    /// CONNECT; from a server, the payload `{"sid":…}` (read it with [`connect_sid`]).
    Connect(Option<&'a str>),
    /// DISCONNECT.
    Disconnect,
    /// EVENT: `args` is the JSON array `["name",arg…]` ([`event_head`] reads it); `ack` is
    /// set when the sender wants an acknowledgement.
    Event { ack: Option<u64>, args: &'a str },
    /// ACK of event `ack`: `args` is the JSON array of the acknowledgement's arguments.
    Ack { ack: u64, args: &'a str },
    /// CONNECT_ERROR: JSON payload, `{"message":…}` in v5 ([`connect_error_message`]).
    ConnectError(&'a str),
}

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty Socket.IO packet")]
    Empty,
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownType(char),
    #[error("binary Socket.IO packets are not supported by this client: {0:?}")]
    Binary(String),
    #[error("Socket.IO ACK without an ack id: {0:?}")]
    MissingAckId(String),
    #[error("ack id out of range in {0:?}")]
    BadAckId(String),
    #[error("bad Socket.IO {what}: {reason} in {text:?}")]
    BadJson {
        what: &'static str,
        reason: String,
        text: String,
    },
}

impl<'a> Packet<'a> {
    /// Decodes the Socket.IO packet an Engine.IO message carried (without the `4`).
    pub fn decode(text: &'a str) -> Result<Packet<'a>, DecodeError> {
        let first = text.chars().next().ok_or(DecodeError::Empty)?;
        // Every packet type is one ASCII digit; anything else (a multi-byte character
        // included, which `&text[1..]` would split) is not a packet.
        if !first.is_ascii() {
            return Err(DecodeError::UnknownType(first));
        }
        let kind = first as u8;
        let mut rest = &text[1..];
        if kind == b'5' || kind == b'6' {
            return Err(DecodeError::Binary(text.to_owned()));
        }
        let ns = if rest.starts_with('/') {
            match rest.find(',') {
                Some(i) => {
                    let ns = &rest[..i];
                    rest = &rest[i + 1..];
                    ns
                }
                // `1/admin` (no payload may follow the namespace without a comma)
                None => std::mem::take(&mut rest),
            }
        } else {
            DEFAULT_NS
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack = match digits {
            0 => None,
            _ => Some(
                rest[..digits]
                    .parse::<u64>()
                    .map_err(|_| DecodeError::BadAckId(text.to_owned()))?,
            ),
        };
        let payload = &rest[digits..];
        let kind = match kind {
            b'0' => PacketKind::Connect((!payload.is_empty()).then_some(payload)),
            b'1' => PacketKind::Disconnect,
            b'2' => PacketKind::Event { ack, args: payload },
            b'3' => PacketKind::Ack {
                ack: ack.ok_or_else(|| DecodeError::MissingAckId(text.to_owned()))?,
                args: payload,
            },
            b'4' => PacketKind::ConnectError(payload),
            _ => {
                let c = text.chars().next().unwrap_or('?');
                return Err(DecodeError::UnknownType(c));
            }
        };
        Ok(Packet { ns, kind })
    }
}

fn push_ns(buf: &mut String, ns: &str) {
    if !ns.is_empty() && ns != DEFAULT_NS {
        if !ns.starts_with('/') {
            buf.push('/');
        }
        buf.push_str(ns);
        buf.push(',');
    }
}

fn push_u64(buf: &mut String, n: u64) {
    use std::fmt::Write;
    // Writing to a String never fails.
    let _ = write!(buf, "{n}");
}

fn push_array(buf: &mut String, args: &[&str]) {
    buf.push('[');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        buf.push_str(a);
    }
    buf.push(']');
}

/// Appends CONNECT: `0`, `0/ns,`, with the optional auth object (JSON text).
pub fn push_connect(buf: &mut String, ns: &str, auth: Option<&str>) {
    buf.push('0');
    push_ns(buf, ns);
    if let Some(a) = auth {
        buf.push_str(a);
    }
}

/// Appends DISCONNECT: `1` / `1/ns,`.
pub fn push_disconnect(buf: &mut String, ns: &str) {
    buf.push('1');
    push_ns(buf, ns);
}

/// Appends EVENT `2[N]["event",args…]`; each of `args` is JSON text, copied as is.
pub fn push_event(buf: &mut String, ns: &str, ack: Option<u64>, event: &str, args: &[&str]) {
    push_event_start(buf, ns, ack, event);
    for a in args {
        buf.push(',');
        buf.push_str(a);
    }
    buf.push(']');
}

/// Appends the head of an EVENT, `2[N]["event"`, for a caller that appends each argument
/// as `,<json>` itself (say, a string it quotes with [`push_json_string`]) and then `]`.
pub fn push_event_start(buf: &mut String, ns: &str, ack: Option<u64>, event: &str) {
    buf.push('2');
    push_ns(buf, ns);
    if let Some(n) = ack {
        push_u64(buf, n);
    }
    buf.push('[');
    push_json_string(buf, event);
}

/// Appends ACK `3N[args…]`; each of `args` is JSON text, copied as is.
pub fn push_ack(buf: &mut String, ns: &str, ack: u64, args: &[&str]) {
    buf.push('3');
    push_ns(buf, ns);
    push_u64(buf, ack);
    push_array(buf, args);
}

/// Appends `s` as a JSON string literal (quoted, escaped).
pub fn push_json_string(buf: &mut String, s: &str) {
    buf.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        buf.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write;
            let _ = write!(buf, "\\u{b:04x}");
        } else {
            buf.push_str(esc);
        }
        start = i + 1;
    }
    buf.push_str(&s[start..]);
    buf.push('"');
}

fn bad_json(what: &'static str, text: &str, e: serde_json::Error) -> DecodeError {
    DecodeError::BadJson {
        what,
        reason: e.to_string(),
        text: text.to_owned(),
    }
}

/// The socket id in a server's CONNECT payload `{"sid":…}` (extra fields such as `pid`
/// are ignored).
pub fn connect_sid(payload: &str) -> Result<Cow<'_, str>, DecodeError> {
    #[derive(Deserialize)]
    struct Connect<'a> {
        #[serde(borrow)]
        sid: Cow<'a, str>,
    }
    serde_json::from_str::<Connect<'_>>(payload)
        .map(|c| c.sid)
        .map_err(|e| bad_json("CONNECT payload", payload, e))
}

/// The message of a CONNECT_ERROR payload: `{"message":…}` (v5), else the payload as is.
pub fn connect_error_message(payload: &str) -> String {
    #[derive(Deserialize)]
    struct ConnectError {
        message: String,
    }
    match serde_json::from_str::<ConnectError>(payload) {
        Ok(e) => e.message,
        Err(_) => payload.to_owned(),
    }
}

/// The event name and first argument of an EVENT's array, borrowed where the JSON allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHead<'a> {
    /// The event name (borrowed unless it contains escapes).
    pub name: Cow<'a, str>,
    /// The first argument's JSON text, if any; further arguments are skipped.
    pub first: Option<&'a str>,
}

/// A JSON string that borrows from the input when it has no escapes.
#[derive(Deserialize)]
#[serde(transparent)]
struct BorrowedStr<'a>(#[serde(borrow)] Cow<'a, str>);

struct HeadVisitor<const NAMED: bool>;

/// (name, first) read from a JSON array without collecting it.
type Head<'a> = (Option<Cow<'a, str>>, Option<&'a RawValue>);

impl<'de, const NAMED: bool> Visitor<'de> for HeadVisitor<NAMED> {
    type Value = Head<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if NAMED {
            r#"an array ["event", args…]"#
        } else {
            "an array of arguments"
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Head<'de>, A::Error> {
        let name = if NAMED {
            let n: BorrowedStr<'de> = seq
                .next_element()?
                .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
            Some(n.0)
        } else {
            None
        };
        let first: Option<&'de RawValue> = seq.next_element()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok((name, first))
    }
}

struct HeadSeed<const NAMED: bool>;

impl<'de, const NAMED: bool> serde::de::DeserializeSeed<'de> for HeadSeed<NAMED> {
    type Value = Head<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Head<'de>, D::Error> {
        d.deserialize_seq(HeadVisitor::<NAMED>)
    }
}

fn read_head<'a, const NAMED: bool>(
    what: &'static str,
    array: &'a str,
) -> Result<Head<'a>, DecodeError> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(array);
    let head = HeadSeed::<NAMED>
        .deserialize(&mut de)
        .map_err(|e| bad_json(what, array, e))?;
    de.end().map_err(|e| bad_json(what, array, e))?;
    Ok(head)
}

/// Reads an EVENT's `["name",arg…]` array: the name and the first argument's text.
pub fn event_head(args: &str) -> Result<EventHead<'_>, DecodeError> {
    let (name, first) = read_head::<true>("EVENT arguments", args)?;
    Ok(EventHead {
        name: name.expect("a named head always has a name"),
        first: first.map(RawValue::get),
    })
}

/// The first argument's text of an ACK's `[arg…]` array, if any.
pub fn first_arg(args: &str) -> Result<Option<&str>, DecodeError> {
    let (_, first) = read_head::<false>("ACK arguments", args)?;
    Ok(first.map(RawValue::get))
}

/// Every argument's text of a JSON array (not for the hot path: it collects).
pub fn all_args(args: &str) -> Result<Vec<&str>, DecodeError> {
    let v: Vec<&RawValue> =
        serde_json::from_str(args).map_err(|e| bad_json("arguments", args, e))?;
    Ok(v.into_iter().map(RawValue::get).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketioxide_core::packet::Packet as RefPacket;
    use socketioxide_core::parser::{Parse, ParseConfig, ParserState};
    use socketioxide_core::{Str, Value};
    use socketioxide_parser_common::CommonParser;

    fn reference_encode(p: RefPacket) -> String {
        match CommonParser.encode(p) {
            Value::Str(s, _) => s.as_str().to_owned(),
            Value::Bytes(_) => panic!("common parser encodes text"),
        }
    }

    fn reference_decode(text: &str) -> RefPacket {
        CommonParser
            .decode_str(
                &ParseConfig::default(),
                &ParserState::default(),
                Str::from(text.to_owned()),
            )
            .unwrap()
    }

    fn text(v: &str) -> Value {
        Value::Str(Str::from(v.to_owned()), None)
    }

    fn event(ns: &str, ack: Option<u64>, name: &str, args: &[&str]) -> String {
        let mut s = String::new();
        push_event(&mut s, ns, ack, name, args);
        s
    }

    #[test]
    fn a_multibyte_first_character_is_not_a_packet() {
        assert_eq!(
            Packet::decode("🕴2[\"x\"]"),
            Err(DecodeError::UnknownType('🕴'))
        );
        assert_eq!(Packet::decode("é"), Err(DecodeError::UnknownType('é')));
    }

    #[test]
    fn events_match_the_reference_parser() {
        let data = r#"{"from":1,"seq":2,"t":3,"pad":"xx"}"#;
        let cases: [(&str, Option<u64>, &str, &[&str]); 5] = [
            ("/", None, "to_all", &[data]),
            ("/", Some(7), "echo", &[data]),
            ("/", Some(0), "join", &[r#""room 1""#]),
            ("/admin", Some(12), "to_room", &[r#""r""#, data]),
            ("/", None, "weird \"name\"\n", &[]),
        ];
        for (ns, ack, name, args) in cases {
            let mine = event(ns, ack, name, args);
            let array = &mine[mine.find('[').unwrap()..];
            let mut reference = RefPacket::event(ns, text(array));
            if let Some(n) = ack {
                reference.inner.set_ack_id(n as i64);
            }
            assert_eq!(mine, reference_encode(reference.clone()), "encode {name}");
            assert_eq!(
                reference_decode(&mine),
                reference,
                "reference decodes {mine}"
            );
            let got = Packet::decode(&mine).unwrap();
            assert_eq!(
                got,
                Packet {
                    ns,
                    kind: PacketKind::Event { ack, args: array }
                }
            );
            let head = event_head(array).unwrap();
            assert_eq!(head.name, name);
            assert_eq!(head.first, args.first().copied());
        }
    }

    #[test]
    fn acks_connects_and_disconnects_match_the_reference_parser() {
        let mut s = String::new();
        push_ack(&mut s, "/", 42, &[r#"{"a":[1,2]}"#]);
        assert_eq!(
            s,
            reference_encode(RefPacket::ack("/", text(r#"[{"a":[1,2]}]"#), 42))
        );
        assert_eq!(
            Packet::decode(&s).unwrap().kind,
            PacketKind::Ack {
                ack: 42,
                args: r#"[{"a":[1,2]}]"#
            }
        );
        assert_eq!(
            first_arg(r#"[{"a":[1,2]}]"#).unwrap(),
            Some(r#"{"a":[1,2]}"#)
        );

        for (ns, auth) in [
            ("/", None),
            ("/", Some(r#"{"token":"t"}"#)),
            ("/admin", None),
        ] {
            let mut s = String::new();
            push_connect(&mut s, ns, auth);
            let reference = RefPacket::connect(ns, auth.map(text));
            assert_eq!(s, reference_encode(reference.clone()));
            assert_eq!(reference_decode(&s), reference);
            assert_eq!(
                Packet::decode(&s).unwrap(),
                Packet {
                    ns,
                    kind: PacketKind::Connect(auth)
                }
            );
        }

        let mut s = String::new();
        push_disconnect(&mut s, "/admin");
        assert_eq!(s, reference_encode(RefPacket::disconnect("/admin")));
        assert_eq!(Packet::decode(&s).unwrap().kind, PacketKind::Disconnect);
        assert_eq!(Packet::decode("1/admin").unwrap().ns, "/admin");
    }

    #[test]
    fn decodes_what_a_server_sends() {
        // The CONNECT reply, as the reference parser (and Node) encode it.
        let reply = reference_encode(RefPacket::connect("/", Some(text(r#"{"sid":"Ab_9-x"}"#))));
        assert_eq!(reply, r#"0{"sid":"Ab_9-x"}"#);
        let PacketKind::Connect(Some(p)) = Packet::decode(&reply).unwrap().kind else {
            panic!()
        };
        assert_eq!(connect_sid(p).unwrap(), "Ab_9-x");
        assert!(matches!(
            connect_sid(r#"{"sid":"s","pid":"p"}"#),
            Ok(Cow::Borrowed("s"))
        ));

        // CONNECT_ERROR: the reference parser encodes it but cannot decode it.
        let err = reference_encode(RefPacket::connect_error("/", "not \"authorized\""));
        let PacketKind::ConnectError(p) = Packet::decode(&err).unwrap().kind else {
            panic!()
        };
        assert_eq!(connect_error_message(p), r#"not "authorized""#);
        assert_eq!(connect_error_message(r#""plain""#), r#""plain""#);

        // An event with several args from the server: name borrowed, first arg exact.
        let server = reference_encode(RefPacket::event("/", text(r#"["msg", {"k":"\u00e9"} ,2]"#)));
        let PacketKind::Event { ack: None, args } = Packet::decode(&server).unwrap().kind else {
            panic!()
        };
        let head = event_head(args).unwrap();
        assert!(matches!(head.name, Cow::Borrowed("msg")));
        assert_eq!(head.first, Some(r#"{"k":"\u00e9"}"#));
        assert_eq!(
            all_args(args).unwrap(),
            [r#""msg""#, r#"{"k":"\u00e9"}"#, "2"]
        );
        assert_eq!(event_head(r#"["ping"]"#).unwrap().first, None);
        assert_eq!(first_arg("[]").unwrap(), None);
    }

    #[test]
    fn refuses_bad_packets() {
        assert_eq!(Packet::decode(""), Err(DecodeError::Empty));
        assert_eq!(Packet::decode("9"), Err(DecodeError::UnknownType('9')));
        assert!(matches!(
            Packet::decode("51-[\"a\"]"),
            Err(DecodeError::Binary(_))
        ));
        assert!(matches!(
            Packet::decode("3[]"),
            Err(DecodeError::MissingAckId(_))
        ));
        assert!(matches!(
            Packet::decode("299999999999999999999[]"),
            Err(DecodeError::BadAckId(_))
        ));
        assert!(matches!(event_head("[]"), Err(DecodeError::BadJson { .. })));
        assert!(matches!(
            event_head("[1]"),
            Err(DecodeError::BadJson { .. })
        ));
        assert!(matches!(
            event_head(r#"["a",1] x"#),
            Err(DecodeError::BadJson { .. })
        ));
        assert!(matches!(first_arg("{}"), Err(DecodeError::BadJson { .. })));
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        for v in ["plain", "q\"b\\", "\u{1}\t\n\r\u{8}\u{c}", "é\u{1f}x"] {
            s.clear();
            push_json_string(&mut s, v);
            assert_eq!(s, serde_json::to_string(v).unwrap(), "{v:?}");
        }
    }
}
