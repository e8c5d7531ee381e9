//! Protocol-neutral requests to wire text and wire text to [`Incoming`], for the raw app
//! protocol (docs/design.md §3, JSON objects) and for Socket.IO (events inside Engine.IO
//! messages). Encoders append to a reused buffer; decoders slice the received frame's
//! `Bytes` instead of copying the payload. Decoders try the exact-layout fast path
//! ([`wsbench_wire::fast`]: the servers' envelopes around our own payload) first and fall
//! back to the full parsers for anything else.

use std::fmt::Write as _;

use bytes::Bytes;
use wsbench_wire::app::Reply;
use wsbench_wire::{engineio, fast, socketio};

use super::{Incoming, OpKind, Outgoing, TransportError};

/// The arguments an op needs, checked before anything is written.
struct Parts<'a> {
    room: Option<&'a str>,
    id: Option<&'a str>,
    data: Option<&'a str>,
}

fn parts<'a>(req: &Outgoing<'a>) -> Result<Parts<'a>, TransportError> {
    let need = |v: Option<&'a str>, field: &str| {
        v.map(Some).ok_or_else(|| {
            TransportError::Protocol(format!("op {} needs field {field}", req.op.name()))
        })
    };
    let none = Parts {
        room: None,
        id: None,
        data: None,
    };
    Ok(match req.op {
        OpKind::Join | OpKind::Leave => Parts {
            room: need(req.room, "room")?,
            ..none
        },
        OpKind::ToAll | OpKind::ToOthers | OpKind::Echo => Parts {
            data: need(req.data, "data")?,
            ..none
        },
        OpKind::ToRoom => Parts {
            room: need(req.room, "room")?,
            data: need(req.data, "data")?,
            id: None,
        },
        OpKind::ToId => Parts {
            id: need(req.id, "id")?,
            data: need(req.data, "data")?,
            room: None,
        },
    })
}

/// Appends the raw-target request `{"op":…,"room":…,"id":…,"data":…,"ack":N}`.
pub(crate) fn push_app_request(buf: &mut String, req: &Outgoing<'_>) -> Result<(), TransportError> {
    let p = parts(req)?;
    buf.push_str(r#"{"op":""#);
    buf.push_str(req.op.name());
    buf.push('"');
    if let Some(room) = p.room {
        buf.push_str(r#","room":"#);
        socketio::push_json_string(buf, room);
    }
    if let Some(id) = p.id {
        buf.push_str(r#","id":"#);
        socketio::push_json_string(buf, id);
    }
    if let Some(data) = p.data {
        buf.push_str(r#","data":"#);
        buf.push_str(data);
    }
    if let Some(n) = req.ack {
        let _ = write!(buf, r#","ack":{n}"#);
    }
    buf.push('}');
    Ok(())
}

/// Appends the Engine.IO message carrying the Socket.IO event for `req` in namespace `ns`:
/// `42[N]["op",room|id,data]` (`42/chat,…` outside `/`), the packet's ack id being
/// `req.ack`.
pub(crate) fn push_sio_event(
    buf: &mut String,
    ns: &str,
    req: &Outgoing<'_>,
) -> Result<(), TransportError> {
    let p = parts(req)?;
    buf.push('4');
    socketio::push_event_start(buf, ns, req.ack, req.op.name());
    for s in [p.room, p.id].into_iter().flatten() {
        buf.push(',');
        socketio::push_json_string(buf, s);
    }
    if let Some(data) = p.data {
        buf.push(',');
        buf.push_str(data);
    }
    buf.push(']');
    Ok(())
}

/// `frame[sub]` as shared `Bytes` (`sub` must lie inside `frame`).
fn share(frame: &Bytes, sub: &str) -> Bytes {
    frame.slice_ref(sub.as_bytes())
}

fn protocol(what: impl std::fmt::Display) -> TransportError {
    TransportError::Protocol(what.to_string())
}

/// The socket id of a raw target's `{"op":"welcome","id":…}`.
pub(crate) fn app_welcome(frame: &[u8]) -> Result<String, TransportError> {
    match Reply::parse(frame).map_err(protocol)? {
        Reply::Welcome { id } => Ok(id.into_owned()),
        _ => Err(protocol(format!(
            "expected welcome, got {:?}",
            String::from_utf8_lossy(frame)
        ))),
    }
}

/// A fast-path answer as [`Incoming`], slicing `frame`.
fn fast_incoming(frame: &Bytes, f: fast::Fast<'_>) -> Incoming {
    match f {
        fast::Fast::Msg { data, .. } => Incoming::Msg(frame.slice_ref(data)),
        fast::Fast::Ack { ack, data } => Incoming::Ack {
            ack,
            data: data.map(|(d, _)| frame.slice_ref(d)),
        },
    }
}

/// A raw target's reply as [`Incoming`]; `None` for a (repeated) welcome.
pub(crate) fn app_incoming(frame: Bytes) -> Result<Option<Incoming>, TransportError> {
    if let Some(f) = fast::app_reply(&frame) {
        return Ok(Some(fast_incoming(&frame, f)));
    }
    Ok(Some(match Reply::parse(&frame).map_err(protocol)? {
        Reply::Msg { data } => Incoming::Msg(share(&frame, data.get())),
        Reply::Ack { ack, data } => Incoming::Ack {
            ack,
            data: data.map(|d| share(&frame, d.get())),
        },
        Reply::Error { reason } => Incoming::Error(reason.into_owned()),
        Reply::Welcome { .. } => return Ok(None),
    }))
}

/// What one Engine.IO packet from a Socket.IO server means to a client.
#[derive(Debug)]
pub(crate) enum EioInbound {
    /// Something for the application.
    App(Incoming),
    /// A heartbeat ping: answer `3` at once.
    Ping,
    /// The Socket.IO CONNECT reply, with the socket id.
    Connected(String),
    /// The Engine.IO open packet (raw JSON), first thing on a new session.
    Open(String),
    /// The session or socket ended (close, DISCONNECT, CONNECT_ERROR), and why.
    Closed(String),
    /// Chatter with nothing to do (noop, pong, upgrade, a probe reply handled elsewhere).
    Nothing,
}

/// Decodes one Engine.IO packet `text`, which lies inside `frame`, for a client of namespace
/// `/` only (packets of any other namespace are [`EioInbound::Nothing`]).
pub(crate) fn eio_inbound(frame: &Bytes, text: &str) -> Result<EioInbound, TransportError> {
    eio_inbound_in(frame, text, &[]).map(|(_, p)| p)
}

/// Decodes one Engine.IO packet `text`, which lies inside `frame`, for a client that also
/// follows the namespaces `more` (`/chat`, …): returns the namespace's slot with it (0 for
/// `/`, `1 + i` for `more[i]`). Packets of a namespace it does not follow are
/// [`EioInbound::Nothing`] in slot 0.
pub(crate) fn eio_inbound_in(
    frame: &Bytes,
    text: &str,
    more: &[String],
) -> Result<(usize, EioInbound), TransportError> {
    use engineio::Packet as E;
    if let Some(f) = fast::sio_packet(text.as_bytes()) {
        return Ok((0, EioInbound::App(fast_incoming(frame, f))));
    }
    let only = |p: EioInbound| Ok((0, p));
    let msg = match engineio::Packet::decode(text).map_err(protocol)? {
        E::Message(msg) => msg,
        E::Ping { probe: false } => return only(EioInbound::Ping),
        E::Open(json) => return only(EioInbound::Open(json.to_owned())),
        E::Close => return only(EioInbound::Closed("Engine.IO close packet".into())),
        E::Ping { probe: true } | E::Pong { .. } | E::Upgrade | E::Noop => {
            return only(EioInbound::Nothing);
        }
    };
    let packet = socketio::Packet::decode(msg).map_err(protocol)?;
    let slot = if packet.ns == socketio::DEFAULT_NS {
        0
    } else {
        match more.iter().position(|n| *n == packet.ns) {
            Some(i) => i + 1,
            None => return only(EioInbound::Nothing),
        }
    };
    Ok((slot, sio_packet_inbound(frame, text, packet.kind)?))
}

/// What a decoded Socket.IO packet of a followed namespace means to the client.
fn sio_packet_inbound(
    frame: &Bytes,
    text: &str,
    kind: socketio::PacketKind<'_>,
) -> Result<EioInbound, TransportError> {
    use socketio::PacketKind as S;
    Ok(match kind {
        S::Event { args, .. } => {
            let head = socketio::event_head(args).map_err(protocol)?;
            let data = head.first.map(|d| share(frame, d)).unwrap_or_default();
            if head.name == "msg" {
                if head.first.is_none() {
                    return Err(protocol(format!("msg event without data: {text:?}")));
                }
                EioInbound::App(Incoming::Msg(data))
            } else if head.name == "error" {
                // The server refused a request: `error(reason)`.
                let raw = head.first.unwrap_or_default();
                let reason = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned());
                EioInbound::App(Incoming::Error(reason))
            } else {
                EioInbound::App(Incoming::Event {
                    name: head.name.into_owned(),
                    data,
                })
            }
        }
        S::Ack { ack, args } => {
            let first = socketio::first_arg(args).map_err(protocol)?;
            EioInbound::App(Incoming::Ack {
                ack,
                data: first.map(|d| share(frame, d)),
            })
        }
        S::Connect(Some(payload)) => EioInbound::Connected(
            socketio::connect_sid(payload)
                .map_err(protocol)?
                .into_owned(),
        ),
        S::Connect(None) => return Err(protocol("Socket.IO CONNECT reply without a sid")),
        S::Disconnect => EioInbound::Closed("Socket.IO DISCONNECT from the server".into()),
        S::ConnectError(p) => EioInbound::Closed(format!(
            "Socket.IO CONNECT_ERROR: {}",
            socketio::connect_error_message(p)
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out<'a>(
        op: OpKind,
        room: Option<&'a str>,
        id: Option<&'a str>,
        data: Option<&'a str>,
        ack: Option<u64>,
    ) -> Outgoing<'a> {
        Outgoing {
            op,
            room,
            id,
            data,
            ack,
        }
    }

    #[test]
    fn app_requests_parse_back() {
        let d = r#"{"from":1,"seq":2,"t":3,"pad":""}"#;
        let cases = [
            (
                out(OpKind::Join, Some("r\"1"), None, None, None),
                r#"{"op":"join","room":"r\"1"}"#.to_owned(),
            ),
            (
                out(OpKind::ToRoom, Some("r"), None, Some(d), Some(9)),
                format!(r#"{{"op":"to_room","room":"r","data":{d},"ack":9}}"#),
            ),
            (
                out(OpKind::ToId, None, Some("abc"), Some(d), None),
                format!(r#"{{"op":"to_id","id":"abc","data":{d}}}"#),
            ),
            (
                out(OpKind::Echo, Some("ignored"), None, Some(d), Some(0)),
                format!(r#"{{"op":"echo","data":{d},"ack":0}}"#),
            ),
        ];
        for (req, want) in cases {
            let mut s = String::new();
            push_app_request(&mut s, &req).unwrap();
            assert_eq!(s, want);
            let parsed = wsbench_wire::app::Request::parse(s.as_bytes()).unwrap();
            assert_eq!(parsed.op.name(), req.op.name());
            assert_eq!(parsed.ack, req.ack);
        }
        let err = push_app_request(
            &mut String::new(),
            &out(OpKind::ToRoom, None, None, Some(d), None),
        );
        assert!(matches!(err, Err(TransportError::Protocol(m)) if m.contains("room")));
    }

    #[test]
    fn sio_events_carry_args_in_order() {
        let mut s = String::new();
        push_sio_event(
            &mut s,
            "/",
            &out(OpKind::ToRoom, Some("r"), None, Some("{\"a\":1}"), Some(5)),
        )
        .unwrap();
        assert_eq!(s, r#"425["to_room","r",{"a":1}]"#);
        s.clear();
        push_sio_event(
            &mut s,
            "/",
            &out(OpKind::Join, Some("lobby"), None, None, None),
        )
        .unwrap();
        assert_eq!(s, r#"42["join","lobby"]"#);
        s.clear();
        push_sio_event(
            &mut s,
            "/",
            &out(OpKind::ToId, None, Some("x"), Some("1"), None),
        )
        .unwrap();
        assert_eq!(s, r#"42["to_id","x",1]"#);
        s.clear();
        push_sio_event(
            &mut s,
            "/chat",
            &out(OpKind::ToAll, None, None, Some("1"), None),
        )
        .unwrap();
        assert_eq!(s, r#"42/chat,["to_all",1]"#);
    }

    #[test]
    fn incoming_slices_the_frame() {
        let frame = Bytes::from_static(br#"{"op":"msg","data":{"from":1}}"#);
        let Some(Incoming::Msg(d)) = app_incoming(frame.clone()).unwrap() else {
            panic!()
        };
        assert_eq!(&d[..], br#"{"from":1}"#);
        assert_eq!(d.as_ptr(), frame[19..].as_ptr(), "no copy");
        assert_eq!(
            app_incoming(Bytes::from_static(br#"{"op":"welcome","id":"1"}"#)).unwrap(),
            None
        );
        assert_eq!(app_welcome(br#"{"op":"welcome","id":"7"}"#).unwrap(), "7");

        let sio = |t: &'static str| eio_inbound(&Bytes::from_static(t.as_bytes()), t).unwrap();
        assert!(
            matches!(sio(r#"42["msg",{"a":1},2]"#), EioInbound::App(Incoming::Msg(d)) if &d[..] == br#"{"a":1}"#)
        );
        assert!(
            matches!(sio(r#"42["update",{"v":1}]"#), EioInbound::App(Incoming::Event { name, data }) if name == "update" && &data[..] == br#"{"v":1}"#)
        );
        assert!(matches!(
            sio("4312[]"),
            EioInbound::App(Incoming::Ack {
                ack: 12,
                data: None
            })
        ));
        assert!(
            matches!(sio(r#"433["x"]"#), EioInbound::App(Incoming::Ack { ack: 3, data: Some(d) }) if &d[..] == br#""x""#)
        );
        assert!(matches!(sio(r#"40{"sid":"s1"}"#), EioInbound::Connected(s) if s == "s1"));
        assert!(matches!(sio(r#"44{"message":"no"}"#), EioInbound::Closed(m) if m.ends_with("no")));
        assert!(
            matches!(sio(r#"42["error","bad \"x\""]"#), EioInbound::App(Incoming::Error(r)) if r == r#"bad "x""#)
        );
        assert!(matches!(sio("2"), EioInbound::Ping));
        assert!(matches!(sio("6"), EioInbound::Nothing));
        assert!(matches!(sio("41"), EioInbound::Closed(_)));
        assert!(matches!(sio("1"), EioInbound::Closed(_)));
    }

    #[test]
    fn followed_namespaces_have_their_slot_and_others_are_ignored() {
        let more = ["/chat".to_owned(), "/ns/0".to_owned()];
        let at =
            |t: &'static str| eio_inbound_in(&Bytes::from_static(t.as_bytes()), t, &more).unwrap();
        assert!(matches!(
            at(r#"42["msg",{"a":1}]"#),
            (0, EioInbound::App(Incoming::Msg(_)))
        ));
        assert!(
            matches!(at(r#"42/chat,["msg",{"a":1}]"#), (1, EioInbound::App(Incoming::Msg(d))) if &d[..] == br#"{"a":1}"#)
        );
        assert!(
            matches!(at(r#"40/ns/0,{"sid":"s2"}"#), (2, EioInbound::Connected(s)) if s == "s2")
        );
        assert!(
            matches!(at(r#"44/ns/0,{"message":"unauthorized"}"#), (2, EioInbound::Closed(m)) if m.ends_with("unauthorized"))
        );
        assert!(matches!(
            at(r#"42/admin,["msg",{"a":1}]"#),
            (0, EioInbound::Nothing)
        ));
        // a client of `/` alone ignores the others, as before
        let t = r#"42/chat,["msg",1]"#;
        assert!(matches!(
            eio_inbound(&Bytes::from_static(t.as_bytes()), t).unwrap(),
            EioInbound::Nothing
        ));
    }

    #[test]
    fn our_own_payloads_take_the_fast_path_and_still_slice() {
        let d = r#"{"from":1,"seq":2,"t":3,"pad":"xx"}"#;
        let frame = Bytes::from(format!(r#"{{"op":"ack","ack":2,"data":{d}}}"#));
        let Some(Incoming::Ack {
            ack: 2,
            data: Some(got),
        }) = app_incoming(frame.clone()).unwrap()
        else {
            panic!()
        };
        assert_eq!(&got[..], d.as_bytes());
        assert_eq!(got.as_ptr(), frame[27..].as_ptr(), "no copy");
        let frame = Bytes::from(format!(r#"42["msg",{d}]"#));
        let text = std::str::from_utf8(&frame).unwrap();
        let EioInbound::App(Incoming::Msg(got)) = eio_inbound(&frame, text).unwrap() else {
            panic!()
        };
        assert_eq!(&got[..], d.as_bytes());
        assert_eq!(got.as_ptr(), frame[9..].as_ptr(), "no copy");
    }
}
