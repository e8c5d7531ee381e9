//! The fast decoders (`wsbench_wire::fast`) against the full parsers: on every input the fast
//! path answers, the full path gives the same answer. Inputs: exact layouts of random stamps,
//! then thousands of random mutations of them (byte flips, insertions, deletions) and a list
//! of adversarial spellings (escapes, whitespace, reordered keys, huge numbers).

use wsbench_wire::app::Reply;
use wsbench_wire::fast::{self, Fast};
use wsbench_wire::payload::Stamp;
use wsbench_wire::{engineio, socketio};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What the full parsers make of a raw-target reply: (is ack, ack id, stamp of the data).
fn full_app(frame: &[u8]) -> Option<(bool, u64, Option<Stamp>)> {
    match Reply::parse(frame).ok()? {
        Reply::Msg { data } => Some((
            false,
            0,
            Some(Stamp::decode_full(data.get().as_bytes()).ok()?),
        )),
        Reply::Ack { ack, data } => {
            let stamp = match data {
                Some(d) => Some(Stamp::decode_full(d.get().as_bytes()).ok()?),
                None => None,
            };
            Some((true, ack, stamp))
        }
        _ => None,
    }
}

/// The same for one Engine.IO packet from a Socket.IO server.
fn full_sio(text: &[u8]) -> Option<(bool, u64, Option<Stamp>)> {
    let text = std::str::from_utf8(text).ok()?;
    let engineio::Packet::Message(msg) = engineio::Packet::decode(text).ok()? else {
        return None;
    };
    let p = socketio::Packet::decode(msg).ok()?;
    if p.ns != socketio::DEFAULT_NS {
        return None;
    }
    match p.kind {
        socketio::PacketKind::Event { ack: None, args } => {
            let head = socketio::event_head(args).ok()?;
            (head.name == "msg").then_some(())?;
            let d = head.first?;
            Some((false, 0, Some(Stamp::decode_full(d.as_bytes()).ok()?)))
        }
        socketio::PacketKind::Ack { ack, args } => {
            let d = socketio::first_arg(args).ok()??;
            Some((true, ack, Some(Stamp::decode_full(d.as_bytes()).ok()?)))
        }
        _ => None,
    }
}

fn as_tuple(f: Fast<'_>) -> (bool, u64, Option<Stamp>) {
    match f {
        Fast::Msg { stamp, .. } => (false, 0, Some(stamp)),
        Fast::Ack { ack, data } => (true, ack, data.map(|(_, s)| s)),
    }
}

/// Asserts agreement on one input of each decoder; returns whether the fast path answered.
fn check(input: &[u8]) -> bool {
    let show = || String::from_utf8_lossy(input).into_owned();
    let mut answered = false;
    if let Some(s) = fast::stamp(input) {
        assert_eq!(Stamp::decode_full(input).ok(), Some(s), "stamp {}", show());
        answered = true;
    }
    if let Some(f) = fast::app_reply(input) {
        assert_eq!(full_app(input), Some(as_tuple(f)), "app {}", show());
        let data = match f {
            Fast::Msg { data, .. }
            | Fast::Ack {
                data: Some((data, _)),
                ..
            } => Some(data),
            Fast::Ack { data: None, .. } => None,
        };
        if let (
            Some(d),
            Ok(
                Reply::Msg { data: raw }
                | Reply::Ack {
                    data: Some(raw), ..
                },
            ),
        ) = (data, Reply::parse(input))
        {
            assert_eq!(d, raw.get().as_bytes(), "same data slice {}", show());
        }
        answered = true;
    }
    if let Some(f) = fast::sio_packet(input) {
        assert_eq!(full_sio(input), Some(as_tuple(f)), "sio {}", show());
        answered = true;
    }
    answered
}

fn random_stamp(rng: &mut Rng) -> Stamp {
    let pick = |rng: &mut Rng, max: u64| match rng.below(4) {
        0 => 0,
        1 => max,
        _ => rng.next() % max.saturating_add(1).max(1),
    };
    Stamp {
        from: pick(rng, u64::from(u32::MAX)) as u32,
        seq: pick(rng, u64::MAX),
        t: pick(rng, u64::MAX),
    }
}

fn envelopes(payload: &str, ack: u64) -> Vec<Vec<u8>> {
    vec![
        payload.as_bytes().to_vec(),
        format!(r#"{{"op":"msg","data":{payload}}}"#).into_bytes(),
        format!(r#"{{"op":"ack","ack":{ack},"data":{payload}}}"#).into_bytes(),
        format!(r#"{{"op":"ack","ack":{ack}}}"#).into_bytes(),
        format!(r#"42["msg",{payload}]"#).into_bytes(),
        format!(r#"43{ack}[{payload}]"#).into_bytes(),
    ]
}

#[test]
fn exact_layouts_take_the_fast_path_and_agree() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2_000 {
        let s = random_stamp(&mut rng);
        let payload = s.encode(rng.below(300) as usize);
        assert_eq!(fast::stamp(payload.as_bytes()), Some(s));
        for e in envelopes(&payload, rng.next()) {
            assert!(
                check(&e),
                "fast path missed {}",
                String::from_utf8_lossy(&e)
            );
        }
    }
}

#[test]
fn random_mutations_never_disagree() {
    let mut rng = Rng(42);
    let alphabet = b"0123456789{}[]\",:. \\-+eEux\t\n\xc3\xa9";
    let mut answered = 0;
    for _ in 0..30_000 {
        let s = random_stamp(&mut rng);
        let payload = s.encode(rng.below(64) as usize);
        let all = envelopes(&payload, rng.below(1_000));
        let mut e = all[rng.below(all.len() as u64) as usize].clone();
        for _ in 0..=rng.below(3) {
            let at = rng.below(e.len() as u64 + 1) as usize;
            let b = alphabet[rng.below(alphabet.len() as u64) as usize];
            match rng.below(3) {
                0 if at < e.len() => e[at] = b,
                1 if at < e.len() => {
                    e.remove(at);
                }
                _ => e.insert(at, b),
            }
        }
        answered += usize::from(check(&e));
    }
    // some mutations keep the exact layout (a digit for a digit): the fast path was exercised
    assert!(
        answered > 100,
        "only {answered} mutated inputs took the fast path"
    );
}

#[test]
fn adversarial_spellings_fall_back_to_the_full_parser() {
    let cases: &[&str] = &[
        // whitespace
        r#"{ "from":1,"seq":2,"t":3,"pad":"x"}"#,
        r#"{"op":"msg", "data":{"from":1,"seq":2,"t":3,"pad":"x"}}"#,
        r#"{"op":"msg","data":{"from":1,"seq":2,"t":3,"pad":"x"} }"#,
        // reordered keys
        r#"{"t":3,"from":1,"seq":2,"pad":"x"}"#,
        r#"{"data":{"from":1,"seq":2,"t":3,"pad":"x"},"op":"msg"}"#,
        r#"{"op":"ack","data":{"from":1,"seq":2,"t":3,"pad":"x"},"ack":4}"#,
        // escapes
        r#"{"from":1,"seq":2,"t":3,"pad":"\"\\\n\u00e9"}"#,
        r#"{"\u0066rom":1,"seq":2,"t":3,"pad":"x"}"#,
        r#"{"op":"m\u0073g","data":{"from":1,"seq":2,"t":3,"pad":"x"}}"#,
        r#"42["m\u0073g",{"from":1,"seq":2,"t":3,"pad":"x"}]"#,
        // huge numbers, leading zeros, fractions, exponents
        r#"{"from":4294967296,"seq":2,"t":3,"pad":"x"}"#,
        r#"{"from":1,"seq":18446744073709551616,"t":3,"pad":"x"}"#,
        r#"{"from":1,"seq":2,"t":99999999999999999999999,"pad":"x"}"#,
        r#"{"from":01,"seq":2,"t":3,"pad":"x"}"#,
        r#"{"from":1,"seq":2.0,"t":3,"pad":"x"}"#,
        r#"{"from":1,"seq":2,"t":3e2,"pad":"x"}"#,
        r#"{"op":"ack","ack":007,"data":{"from":1,"seq":2,"t":3,"pad":"x"}}"#,
        r#"43007[{"from":1,"seq":2,"t":3,"pad":"x"}]"#,
        r#"4318446744073709551616[{"from":1,"seq":2,"t":3,"pad":"x"}]"#,
        // extra or missing parts
        r#"{"from":1,"seq":2,"t":3,"pad":"x","more":[1]}"#,
        r#"{"from":1,"seq":2,"t":3}"#,
        r#"42["msg",{"from":1,"seq":2,"t":3,"pad":"x"},{"extra":1}]"#,
        r#"42/admin,["msg",{"from":1,"seq":2,"t":3,"pad":"x"}]"#,
        r#"421["msg",{"from":1,"seq":2,"t":3,"pad":"x"}]"#,
        r#"{"op":"msg","data":{"from":1,"seq":2,"t":3,"pad":"x"}}}"#,
        r#"{"op":"msg","data":{"from":1,"seq":2,"t":3,"pad":"x"}"#,
    ];
    for c in cases {
        assert!(
            !check(c.as_bytes()),
            "the fast path should have declined {c}"
        );
    }
    // and the full parser still reads the valid ones
    assert_eq!(
        Stamp::decode(br#"{"t":3,"from":1,"seq":2,"pad":"x"}"#).unwrap(),
        Stamp {
            from: 1,
            seq: 2,
            t: 3
        }
    );
    assert!(full_app(cases[4].as_bytes()).is_some());
    assert!(full_sio(cases[9].as_bytes()).is_some());
}
