//! The application protocol of the raw targets (docs/design.md §3), byte-exact.
//!
//! A client sends one JSON object per frame ([`Request::parse`]); a server answers with the
//! encoders below. `data` is opaque: servers keep it as the exact text they received
//! ([`RawValue`]) and relay it without re-serialising, so every target relays the same bytes.
//!
//! Server replies, exactly (no whitespace, this key order):
//! - `{"op":"welcome","id":"<id>"}` on connect;
//! - `{"op":"msg","data":<D>}` for a delivery;
//! - `{"op":"ack","ack":N}` after an op that carried `"ack":N`;
//!   for `echo`, `{"op":"ack","ack":N,"data":<D>}` instead of the `msg`;
//! - `{"op":"error","reason":"<text>"}` for a malformed or unknown request.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Socket ids are JSON strings on every target (Socket.IO's are too).
pub type SocketId = str;

/// What a request asks the server to do.
#[derive(Debug, Clone)]
pub enum Op<'a> {
    /// Join room `room`.
    Join { room: Cow<'a, str> },
    /// Leave room `room`.
    Leave { room: Cow<'a, str> },
    /// Every socket, sender included (`io.emit`).
    ToAll { data: &'a RawValue },
    /// Every socket but the sender (`socket.broadcast.emit`).
    ToOthers { data: &'a RawValue },
    /// Every member of `room`, sender included if a member (`io.to(room).emit`).
    ToRoom {
        room: Cow<'a, str>,
        data: &'a RawValue,
    },
    /// Only socket `id` (`io.to(id).emit`).
    ToId {
        id: Cow<'a, str>,
        data: &'a RawValue,
    },
    /// Back to the sender.
    Echo { data: &'a RawValue },
}

impl Op<'_> {
    /// The wire name of the op (`"to_all"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Join { .. } => "join",
            Op::Leave { .. } => "leave",
            Op::ToAll { .. } => "to_all",
            Op::ToOthers { .. } => "to_others",
            Op::ToRoom { .. } => "to_room",
            Op::ToId { .. } => "to_id",
            Op::Echo { .. } => "echo",
        }
    }
}

/// One parsed client request.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub op: Op<'a>,
    /// When present the server answers with an ack carrying this id after doing the op.
    pub ack: Option<u64>,
}

/// Two requests are equal when they encode to the same bytes (`RawValue` has no `==`).
impl PartialEq for Request<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.encode() == other.encode()
    }
}

/// Why a request was refused; its `Display` text is the `reason` of the error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unknown op {0:?}")]
    UnknownOp(String),
    #[error("op {op:?} needs field {field:?}")]
    MissingField {
        op: &'static str,
        field: &'static str,
    },
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default)]
    room: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    data: Option<&'a RawValue>,
    #[serde(default)]
    ack: Option<u64>,
}

/// `"data":null` is data (null), not a missing field: serde's `Option` would say `None`.
fn present_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

impl<'a> Request<'a> {
    /// Parses one frame. Unknown extra fields are ignored; missing required ones, wrong
    /// types and unknown ops are errors whose text goes back to the client.
    pub fn parse(frame: &'a [u8]) -> Result<Self, RequestError> {
        let f: Fields<'a> =
            serde_json::from_slice(frame).map_err(|e| RequestError::Malformed(e.to_string()))?;
        fn need<T>(v: Option<T>, op: &'static str, field: &'static str) -> Result<T, RequestError> {
            v.ok_or(RequestError::MissingField { op, field })
        }
        let op = match f.op.as_ref() {
            "join" => Op::Join {
                room: need(f.room, "join", "room")?,
            },
            "leave" => Op::Leave {
                room: need(f.room, "leave", "room")?,
            },
            "to_all" => Op::ToAll {
                data: need(f.data, "to_all", "data")?,
            },
            "to_others" => Op::ToOthers {
                data: need(f.data, "to_others", "data")?,
            },
            "to_room" => Op::ToRoom {
                room: need(f.room, "to_room", "room")?,
                data: need(f.data, "to_room", "data")?,
            },
            "to_id" => Op::ToId {
                id: need(f.id, "to_id", "id")?,
                data: need(f.data, "to_id", "data")?,
            },
            "echo" => Op::Echo {
                data: need(f.data, "echo", "data")?,
            },
            other => return Err(RequestError::UnknownOp(other.to_owned())),
        };
        Ok(Request { op, ack: f.ack })
    }

    /// Encodes this request as a client sends it (used by the load generator and tests).
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(64);
        s.push_str(r#"{"op":""#);
        s.push_str(self.op.name());
        s.push('"');
        match &self.op {
            Op::Join { room } | Op::Leave { room } => push_str_field(&mut s, "room", room),
            Op::ToAll { data } | Op::ToOthers { data } | Op::Echo { data } => {
                push_raw_field(&mut s, "data", data.get())
            }
            Op::ToRoom { room, data } => {
                push_str_field(&mut s, "room", room);
                push_raw_field(&mut s, "data", data.get());
            }
            Op::ToId { id, data } => {
                push_str_field(&mut s, "id", id);
                push_raw_field(&mut s, "data", data.get());
            }
        }
        if let Some(n) = self.ack {
            s.push_str(r#","ack":"#);
            s.push_str(&n.to_string());
        }
        s.push('}');
        s
    }
}

fn push_str_field(s: &mut String, key: &str, value: &str) {
    s.push_str(",\"");
    s.push_str(key);
    s.push_str("\":");
    s.push_str(&json_string(value));
}

fn push_raw_field(s: &mut String, key: &str, raw: &str) {
    s.push_str(",\"");
    s.push_str(key);
    s.push_str("\":");
    s.push_str(raw);
}

fn json_string(v: &str) -> String {
    serde_json::to_string(v).expect("a str always serialises")
}

/// `{"op":"welcome","id":"<id>"}`
pub fn welcome(id: &SocketId) -> Bytes {
    Bytes::from(format!(r#"{{"op":"welcome","id":{}}}"#, json_string(id)))
}

/// `{"op":"msg","data":<D>}`: encoded once per broadcast and shared by every recipient.
pub fn msg(data: &RawValue) -> Bytes {
    let d = data.get();
    let mut s = String::with_capacity(d.len() + 22);
    s.push_str(r#"{"op":"msg","data":"#);
    s.push_str(d);
    s.push('}');
    Bytes::from(s)
}

/// `{"op":"ack","ack":N}`, or with `data` (echo): `{"op":"ack","ack":N,"data":<D>}`.
pub fn ack(n: u64, data: Option<&RawValue>) -> Bytes {
    Bytes::from(match data {
        None => format!(r#"{{"op":"ack","ack":{n}}}"#),
        Some(d) => format!(r#"{{"op":"ack","ack":{n},"data":{}}}"#, d.get()),
    })
}

/// `{"op":"error","reason":"<text>"}`
pub fn error(reason: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"op":"error","reason":{}}}"#,
        json_string(reason)
    ))
}

/// A reply as a client sees it.
#[derive(Debug, Clone)]
pub enum Reply<'a> {
    Welcome {
        id: Cow<'a, str>,
    },
    Msg {
        data: &'a RawValue,
    },
    Ack {
        ack: u64,
        data: Option<&'a RawValue>,
    },
    Error {
        reason: Cow<'a, str>,
    },
}

#[derive(Deserialize)]
struct ReplyFields<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    data: Option<&'a RawValue>,
    #[serde(default)]
    ack: Option<u64>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
}

impl<'a> Reply<'a> {
    /// Parses a server frame (client side).
    pub fn parse(frame: &'a [u8]) -> Result<Self, RequestError> {
        let f: ReplyFields<'a> =
            serde_json::from_slice(frame).map_err(|e| RequestError::Malformed(e.to_string()))?;
        let missing = |op, field| RequestError::MissingField { op, field };
        Ok(match f.op.as_ref() {
            "welcome" => Reply::Welcome {
                id: f.id.ok_or(missing("welcome", "id"))?,
            },
            "msg" => Reply::Msg {
                data: f.data.ok_or(missing("msg", "data"))?,
            },
            "ack" => Reply::Ack {
                ack: f.ack.ok_or(missing("ack", "ack"))?,
                data: f.data,
            },
            "error" => Reply::Error {
                reason: f.reason.ok_or(missing("error", "reason"))?,
            },
            other => return Err(RequestError::UnknownOp(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn parses_every_op() {
        let cases: &[(&str, &str)] = &[
            (r#"{"op":"join","room":"r1"}"#, "join"),
            (r#"{"op":"leave","room":"r1"}"#, "leave"),
            (r#"{"op":"to_all","data":{"a":1}}"#, "to_all"),
            (r#"{"op":"to_others","data":1}"#, "to_others"),
            (r#"{"op":"to_room","room":"r","data":"x"}"#, "to_room"),
            (r#"{"op":"to_id","id":"7","data":[1]}"#, "to_id"),
            (r#"{"op":"echo","data":null,"ack":3}"#, "echo"),
        ];
        for (text, name) in cases {
            let r = Request::parse(text.as_bytes()).unwrap();
            assert_eq!(r.op.name(), *name);
            assert_eq!(Request::parse(r.encode().as_bytes()).unwrap(), r, "{text}");
        }
        assert_eq!(Request::parse(cases[6].0.as_bytes()).unwrap().ack, Some(3));
    }

    #[test]
    fn data_is_relayed_byte_for_byte() {
        let r =
            Request::parse(br#"{"op":"echo","data":{"from":1, "seq":2,"pad":"\u00e9"}}"#).unwrap();
        let Op::Echo { data } = r.op else { panic!() };
        assert_eq!(
            &msg(data)[..],
            br#"{"op":"msg","data":{"from":1, "seq":2,"pad":"\u00e9"}}"#
        );
    }

    #[test]
    fn refusals_say_why() {
        assert!(matches!(
            Request::parse(b"not json"),
            Err(RequestError::Malformed(_))
        ));
        assert_eq!(
            Request::parse(br#"{"op":"fly"}"#),
            Err(RequestError::UnknownOp("fly".into()))
        );
        assert_eq!(
            Request::parse(br#"{"op":"to_room","data":1}"#),
            Err(RequestError::MissingField {
                op: "to_room",
                field: "room"
            })
        );
        assert!(matches!(
            Request::parse(br#"{"op":"join","room":5}"#),
            Err(RequestError::Malformed(_))
        ));
    }

    #[test]
    fn replies_are_byte_exact() {
        assert_eq!(&welcome("12")[..], br#"{"op":"welcome","id":"12"}"#);
        assert_eq!(&ack(4, None)[..], br#"{"op":"ack","ack":4}"#);
        assert_eq!(
            &ack(4, Some(&raw("[1]")))[..],
            br#"{"op":"ack","ack":4,"data":[1]}"#
        );
        assert_eq!(
            &error("bad \"x\"")[..],
            br#"{"op":"error","reason":"bad \"x\""}"#
        );
    }

    #[test]
    fn replies_round_trip() {
        let d = raw(r#"{"k":1}"#);
        for bytes in [
            welcome("a"),
            msg(&d),
            ack(9, None),
            ack(9, Some(&d)),
            error("e"),
        ] {
            let r = Reply::parse(&bytes).unwrap();
            let again = match &r {
                Reply::Welcome { id } => welcome(id),
                Reply::Msg { data } => msg(data),
                Reply::Ack { ack: n, data } => ack(*n, *data),
                Reply::Error { reason } => error(reason),
            };
            assert_eq!(bytes, again);
        }
    }
}
