//! Engine.IO v4 packets as a client sees them, text only (the default Socket.IO parser never
//! needs binary): decode borrowing from the frame, encode by appending to a caller's buffer.
//!
//! A packet is one type digit followed by its data: `0{…}` open, `1` close, `2` ping,
//! `3` pong, `4…` message (carries a Socket.IO packet), `5` upgrade, `6` noop. During an
//! upgrade the probe packets are `2probe` / `3probe`. Over WebSocket one frame holds one
//! packet; over HTTP long-polling a body holds several, joined by the record separator
//! `\x1e` ([`SEPARATOR`], [`split_payload`], [`push_to_payload`]).

use serde::Deserialize;

/// The Engine.IO protocol revision this codec speaks (`EIO=4` in the query string).
pub const PROTOCOL: u8 = 4;

/// Separates packets inside one long-polling body.
pub const SEPARATOR: char = '\x1e';

/// Default `maxPayload` when a server's open packet leaves it out (Node's default).
pub const DEFAULT_MAX_PAYLOAD: u64 = 1_000_000;

/// The data of the open packet (`0{…}`) a server sends first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    /// Engine.IO session id: the `sid` query parameter of every later polling request and
    /// of the upgrade request.
    pub sid: String,
    /// Transports the session may upgrade to (`["websocket"]` when opened by polling).
    #[serde(default)]
    pub upgrades: Vec<String>,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong before closing.
    pub ping_timeout: u64,
    /// Largest polling body (bytes) the server accepts; a client batches up to it.
    #[serde(default = "default_max_payload")]
    pub max_payload: u64,
}

fn default_max_payload() -> u64 {
    DEFAULT_MAX_PAYLOAD
}

/// One decoded Engine.IO packet, borrowing from the frame or body it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0{…}`: the raw JSON of the open packet (parse it with [`Packet::open`]).
    Open(&'a str),
    /// `1`: the session is over.
    Close,
    /// `2` (or `2probe` when `probe`).
    Ping { probe: bool },
    /// `3` (or `3probe` when `probe`).
    Pong { probe: bool },
    /// `4<text>`: an application (Socket.IO) packet.
    Message(&'a str),
    /// `5`: the client switches to the probed transport.
    Upgrade,
    /// `6`: nothing (ends a pending poll during an upgrade).
    Noop,
}

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty Engine.IO packet")]
    Empty,
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownType(char),
    #[error("binary Engine.IO packets are not supported by this client")]
    Binary,
    #[error("unexpected data after Engine.IO packet type {kind}: {data:?}")]
    TrailingData { kind: char, data: String },
    #[error("bad Engine.IO open packet: {0}")]
    BadOpen(String),
}

impl<'a> Packet<'a> {
    /// Decodes one packet (one WebSocket text frame, or one record of a polling body).
    pub fn decode(text: &'a str) -> Result<Packet<'a>, DecodeError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(DecodeError::Empty)?;
        let rest = &text[kind.len_utf8()..];
        let bare = |p: Packet<'a>| {
            if rest.is_empty() {
                Ok(p)
            } else {
                Err(DecodeError::TrailingData {
                    kind,
                    data: rest.to_owned(),
                })
            }
        };
        match kind {
            '0' => Ok(Packet::Open(rest)),
            '1' => bare(Packet::Close),
            '2' if rest == "probe" => Ok(Packet::Ping { probe: true }),
            '2' => bare(Packet::Ping { probe: false }),
            '3' if rest == "probe" => Ok(Packet::Pong { probe: true }),
            '3' => bare(Packet::Pong { probe: false }),
            '4' => Ok(Packet::Message(rest)),
            '5' => bare(Packet::Upgrade),
            '6' => bare(Packet::Noop),
            'b' => Err(DecodeError::Binary),
            other => Err(DecodeError::UnknownType(other)),
        }
    }

    /// Parses the data of an open packet.
    pub fn open(json: &str) -> Result<Open, DecodeError> {
        serde_json::from_str(json).map_err(|e| DecodeError::BadOpen(format!("{e} in {json:?}")))
    }

    /// Appends this packet's text to `buf`.
    pub fn encode_into(&self, buf: &mut String) {
        match self {
            Packet::Open(json) => {
                buf.push('0');
                buf.push_str(json);
            }
            Packet::Close => buf.push('1'),
            Packet::Ping { probe } => {
                buf.push('2');
                if *probe {
                    buf.push_str("probe");
                }
            }
            Packet::Pong { probe } => {
                buf.push('3');
                if *probe {
                    buf.push_str("probe");
                }
            }
            Packet::Message(text) => {
                buf.push('4');
                buf.push_str(text);
            }
            Packet::Upgrade => buf.push('5'),
            Packet::Noop => buf.push('6'),
        }
    }

    /// This packet's text in a new string.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        self.encode_into(&mut s);
        s
    }
}

/// The records of a long-polling body, in order (an empty body has none).
pub fn split_payload(body: &str) -> impl Iterator<Item = &str> {
    body.split(SEPARATOR).filter(|p| !p.is_empty())
}

/// Decodes every packet of a long-polling body.
pub fn decode_payload(body: &str) -> impl Iterator<Item = Result<Packet<'_>, DecodeError>> {
    split_payload(body).map(Packet::decode)
}

/// Appends an already-encoded packet to a polling body under construction.
pub fn push_to_payload(body: &mut String, packet: &str) {
    if !body.is_empty() {
        body.push(SEPARATOR);
    }
    body.push_str(packet);
}

/// The query string of an Engine.IO request: `EIO=4&transport=<t>` plus `&sid=<sid>`.
pub fn query(transport: &str, sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("EIO={PROTOCOL}&transport={transport}&sid={sid}"),
        None => format!("EIO={PROTOCOL}&transport={transport}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_packet_type() {
        let open = r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let cases = [
            (format!("0{open}"), Packet::Open(open)),
            ("1".into(), Packet::Close),
            ("2".into(), Packet::Ping { probe: false }),
            ("2probe".into(), Packet::Ping { probe: true }),
            ("3".into(), Packet::Pong { probe: false }),
            ("3probe".into(), Packet::Pong { probe: true }),
            (r#"42["msg",1]"#.into(), Packet::Message(r#"2["msg",1]"#)),
            ("5".into(), Packet::Upgrade),
            ("6".into(), Packet::Noop),
        ];
        for (text, want) in cases {
            let got = Packet::decode(&text).unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(got.encode(), text, "re-encode of {text}");
        }
    }

    #[test]
    fn parses_open_data() {
        let o = Packet::open(
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert_eq!(o.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!(o.upgrades, ["websocket"]);
        assert_eq!(
            (o.ping_interval, o.ping_timeout, o.max_payload),
            (25000, 20000, 1_000_000)
        );
        // maxPayload and upgrades are optional; extra fields are ignored.
        let o =
            Packet::open(r#"{"sid":"x","pingInterval":1,"pingTimeout":2,"extra":true}"#).unwrap();
        assert_eq!(o.max_payload, DEFAULT_MAX_PAYLOAD);
        assert!(o.upgrades.is_empty());
        assert!(matches!(
            Packet::open(r#"{"sid":1}"#),
            Err(DecodeError::BadOpen(_))
        ));
    }

    #[test]
    fn refuses_bad_packets() {
        assert_eq!(Packet::decode(""), Err(DecodeError::Empty));
        assert_eq!(Packet::decode("7"), Err(DecodeError::UnknownType('7')));
        assert_eq!(Packet::decode("bAQID"), Err(DecodeError::Binary));
        assert!(matches!(
            Packet::decode("1x"),
            Err(DecodeError::TrailingData { kind: '1', .. })
        ));
        assert!(matches!(
            Packet::decode("2pro"),
            Err(DecodeError::TrailingData { .. })
        ));
    }

    #[test]
    fn polling_payload_round_trip() {
        let body = "0{\"sid\":\"s\",\"pingInterval\":1,\"pingTimeout\":1}\x1e40\x1e2\x1e42[\"msg\",\"a\x1fb\"]";
        let packets: Vec<_> = decode_payload(body).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 4);
        assert_eq!(packets[1], Packet::Message("0"));
        assert_eq!(packets[2], Packet::Ping { probe: false });
        assert_eq!(packets[3], Packet::Message("2[\"msg\",\"a\x1fb\"]"));
        let mut again = String::new();
        for p in &packets {
            push_to_payload(&mut again, &p.encode());
        }
        assert_eq!(again, body);
        assert_eq!(decode_payload("").count(), 0);
    }

    #[test]
    fn query_strings() {
        assert_eq!(query("polling", None), "EIO=4&transport=polling");
        assert_eq!(
            query("websocket", Some("a-b")),
            "EIO=4&transport=websocket&sid=a-b"
        );
    }
}
