//! Property tests of every decoder in this crate (proptest, stable toolchain):
//!
//! - **No input panics**: the app-protocol request and reply parsers, the Engine.IO packet,
//!   payload and open decoders, the Socket.IO packet decoder and argument readers, and the
//!   exact-layout fast decoders, on arbitrary bytes and on near-miss inputs built from the
//!   protocols' own alphabet (which reach deeper than random bytes do).
//! - **Round-trips**: what the encoders write, the decoders read back unchanged (requests,
//!   replies, Engine.IO packets and polling payloads, Socket.IO events, acks, connects).
//!
//! Case counts are moderate ([`CASES`]) so CI stays fast; a failure prints its minimal
//! input, which belongs in a unit test next to the decoder once fixed.

use proptest::prelude::*;
use serde_json::value::RawValue;
use wsbench_wire::app::{self, Op, Reply, Request};
use wsbench_wire::{engineio, fast, payload, socketio};

/// Cases per property.
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Nothing is written into the repository; a failure prints its minimal input.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Near-miss text: pieces of the protocols' own spelling glued together at random.
fn protocolish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\\u".to_owned()),
        Just("\\ud800".to_owned()),
        Just("\"op\"".to_owned()),
        Just("\"echo\"".to_owned()),
        Just("\"join\"".to_owned()),
        Just("\"room\"".to_owned()),
        Just("\"data\"".to_owned()),
        Just("\"ack\"".to_owned()),
        Just("\"msg\"".to_owned()),
        Just("\"from\"".to_owned()),
        Just("\"seq\"".to_owned()),
        Just("\"t\"".to_owned()),
        Just("\"pad\"".to_owned()),
        Just("\"sid\"".to_owned()),
        Just("null".to_owned()),
        Just("/chat".to_owned()),
        Just("\u{1e}".to_owned()),
        Just("é".to_owned()),
        Just("💥".to_owned()),
        "[0-9]{1,25}",
        "-?[0-9]{1,3}\\.[0-9]e[0-9]{1,4}",
        "[a-z]{1,6}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// Arbitrary text: random bytes made UTF-8, or near-miss protocol text.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        any::<String>(),
        protocolish(),
        // An Engine.IO / Socket.IO type digit in front of near-miss text.
        ("[0-9b]", protocolish()).prop_map(|(d, s)| format!("{d}{s}")),
        ("4[0-9]{0,2}", protocolish()).prop_map(|(d, s)| format!("{d}{s}")),
    ]
}

/// A JSON value, as text (nested a few levels).
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z]{0,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    value.prop_map(|v| v.to_string())
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("generated JSON is valid")
}

/// Runs every decoder on `bytes` (and its UTF-8 reading); none may panic.
fn decode_everything(bytes: &[u8]) {
    let _ = Request::parse(bytes);
    let _ = Reply::parse(bytes);
    let _ = fast::app_reply(bytes);
    let _ = fast::sio_packet(bytes);
    let _ = fast::stamp(bytes);
    let _ = payload::Stamp::decode(bytes);
    let _ = payload::Stamp::decode_full(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = engineio::Packet::decode(&text);
    let _ = engineio::Packet::open(&text);
    let _ = engineio::decode_payload(&text).count();
    if let Ok(p) = socketio::Packet::decode(&text) {
        match p.kind {
            socketio::PacketKind::Connect(Some(j)) => {
                let _ = socketio::connect_sid(j);
            }
            socketio::PacketKind::Event { args, .. } => {
                let _ = socketio::event_head(args);
                let _ = socketio::all_args(args);
            }
            socketio::PacketKind::Ack { args, .. } => {
                let _ = socketio::first_arg(args);
            }
            socketio::PacketKind::ConnectError(j) => {
                let _ = socketio::connect_error_message(j);
            }
            _ => {}
        }
    }
    let _ = socketio::event_head(&text);
    let _ = socketio::first_arg(&text);
    let _ = socketio::connect_sid(&text);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_byte_string_panics_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn no_text_panics_a_decoder(text in any_text()) {
        decode_everything(text.as_bytes());
    }

    #[test]
    fn requests_round_trip(
        op in 0..7u8,
        name in any::<String>(),
        data in json_value(),
        ack in proptest::option::of(any::<u64>()),
    ) {
        let data = raw(&data);
        let room = std::borrow::Cow::Borrowed(name.as_str());
        let op = match op {
            0 => Op::Join { room },
            1 => Op::Leave { room },
            2 => Op::ToAll { data: &data },
            3 => Op::ToOthers { data: &data },
            4 => Op::ToRoom { room, data: &data },
            5 => Op::ToId { id: room, data: &data },
            _ => Op::Echo { data: &data },
        };
        let sent = Request { op, ack };
        let text = sent.encode();
        let got = Request::parse(text.as_bytes()).expect("an encoded request parses");
        prop_assert_eq!(got.op.name(), sent.op.name());
        prop_assert_eq!(got.ack, ack);
        prop_assert_eq!(got.encode(), text);
    }

    #[test]
    fn replies_round_trip(
        id in any::<String>(),
        data in json_value(),
        n in any::<u64>(),
        reason in any::<String>(),
    ) {
        let data = raw(&data);
        let welcome = app::welcome(&id);
        match Reply::parse(&welcome) {
            Ok(Reply::Welcome { id: got }) => prop_assert_eq!(got.as_ref(), id.as_str()),
            other => prop_assert!(false, "welcome parsed as {:?}", other),
        }
        let msg = app::msg(&data);
        match Reply::parse(&msg) {
            Ok(Reply::Msg { data: got }) => prop_assert_eq!(got.get(), data.get()),
            other => prop_assert!(false, "msg parsed as {:?}", other),
        }
        for with in [None, Some(&*data)] {
            let ack = app::ack(n, with);
            match Reply::parse(&ack) {
                Ok(Reply::Ack { ack: got, data: d }) => {
                    prop_assert_eq!(got, n);
                    prop_assert_eq!(d.map(RawValue::get), with.map(RawValue::get));
                }
                other => prop_assert!(false, "ack parsed as {:?}", other),
            }
        }
        let error = app::error(&reason);
        match Reply::parse(&error) {
            Ok(Reply::Error { reason: got }) => prop_assert_eq!(got.as_ref(), reason.as_str()),
            other => prop_assert!(false, "error parsed as {:?}", other),
        }
    }

    #[test]
    fn engineio_packets_and_payloads_round_trip(
        texts in proptest::collection::vec("[^\u{1e}]{0,40}", 1..6),
        kinds in proptest::collection::vec(0..8u8, 1..6),
    ) {
        let packets: Vec<engineio::Packet<'_>> = kinds
            .iter()
            .zip(texts.iter().cycle())
            .map(|(k, t)| match k {
                0 => engineio::Packet::Open(t),
                1 => engineio::Packet::Close,
                2 => engineio::Packet::Ping { probe: t.len() % 2 == 0 },
                3 => engineio::Packet::Pong { probe: t.len() % 2 == 0 },
                4 => engineio::Packet::Upgrade,
                5 => engineio::Packet::Noop,
                _ => engineio::Packet::Message(t),
            })
            .collect();
        let mut body = String::new();
        for p in &packets {
            let text = p.encode();
            prop_assert_eq!(&engineio::Packet::decode(&text).expect("decodes"), p);
            engineio::push_to_payload(&mut body, &text);
        }
        let got: Vec<_> = engineio::decode_payload(&body)
            .collect::<Result<_, _>>()
            .expect("payload decodes");
        prop_assert_eq!(got, packets);
    }

    #[test]
    fn socketio_packets_round_trip(
        ns in prop_oneof![Just("/".to_owned()), "/[a-z]{1,8}"],
        ack in proptest::option::of(any::<u64>()),
        event in any::<String>(),
        args in proptest::collection::vec(json_value(), 0..4),
    ) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut buf = String::new();
        socketio::push_event(&mut buf, &ns, ack, &event, &args);
        let p = socketio::Packet::decode(&buf).expect("an encoded event decodes");
        prop_assert_eq!(p.ns, ns.as_str());
        match p.kind {
            socketio::PacketKind::Event { ack: got, args: array } => {
                prop_assert_eq!(got, ack);
                let head = socketio::event_head(array).expect("event head");
                prop_assert_eq!(head.name.as_ref(), event.as_str());
                prop_assert_eq!(head.first, args.first().copied());
                let all = socketio::all_args(array).expect("all args");
                prop_assert_eq!(&all[1..], &args[..]);
            }
            other => prop_assert!(false, "event decoded as {:?}", other),
        }

        let n = ack.unwrap_or(0);
        let mut buf = String::new();
        socketio::push_ack(&mut buf, &ns, n, &args);
        match socketio::Packet::decode(&buf).expect("an encoded ack decodes").kind {
            socketio::PacketKind::Ack { ack: got, args: array } => {
                prop_assert_eq!(got, n);
                prop_assert_eq!(socketio::all_args(array).expect("ack args"), args.clone());
                prop_assert_eq!(socketio::first_arg(array).expect("first"), args.first().copied());
            }
            other => prop_assert!(false, "ack decoded as {:?}", other),
        }

        let mut buf = String::new();
        socketio::push_connect(&mut buf, &ns, None);
        let p = socketio::Packet::decode(&buf).expect("connect decodes");
        prop_assert_eq!(p.ns, ns.as_str());
        prop_assert_eq!(p.kind, socketio::PacketKind::Connect(None));
        let mut buf = String::new();
        socketio::push_disconnect(&mut buf, &ns);
        prop_assert_eq!(
            socketio::Packet::decode(&buf).expect("disconnect decodes").kind,
            socketio::PacketKind::Disconnect
        );
    }
}
