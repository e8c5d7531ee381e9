//! Adversarial suite, WebSocket framing: hostile frames against every WebSocket target
//! (`ws-tungstenite`, `ws-fastwebsockets`, `sio-socketioxide`), each on a connection of
//! its own while a well-behaved client keeps getting prompt echoes. The raw targets close
//! with the RFC 6455 code; socketioxide (engineioxide) closes its connection with a close
//! frame that has no code, which docs/hardening.md records and these tests pin.
//! Also: an upgrade asking for a WebSocket version other than 13 gets 426.

#[macro_use]
#[allow(unused_macros)]
mod common;
#[macro_use]
mod adversarial_support;
mod sio_rest_common;

use adversarial_support::ws::{End, frame, header, open, read_end, upgrade};
use adversarial_support::{Probe, Rss, Running, Target, config, serial};
use tokio::io::AsyncWriteExt;

/// RSS growth allowed over a whole case.
const RSS_BOUND_MIB: u64 = 48;

/// One hostile frame and the end it must get from a raw target and from socketioxide.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    raw: End,
    sio: End,
}

/// A text payload the target would accept, with `data` spliced in raw.
fn echo_text(t: Target, data: &[u8]) -> Vec<u8> {
    let (head, tail): (&[u8], &[u8]) = if t == Target::Sio {
        (b"42[\"echo\",\"", b"\"]")
    } else {
        (b"{\"op\":\"echo\",\"data\":\"", b"\"}")
    };
    [head, data, tail].concat()
}

fn cases(t: Target) -> Vec<Case> {
    // socketioxide ends every refused frame with a close frame without a code.
    let sio = End::Close(None);
    let declared = |len: u64| {
        let mut b = header(true, 0, 1, true, len);
        b.extend_from_slice(b"0123456789");
        b
    };
    vec![
        Case {
            name: "declared length 4 MiB",
            bytes: declared(4 << 20),
            raw: End::Close(Some(1009)),
            sio: sio.clone(),
        },
        Case {
            name: "declared length 2^32",
            bytes: declared(1 << 32),
            raw: End::Close(Some(1009)),
            sio: sio.clone(),
        },
        Case {
            name: "declared length 2^63 - 1",
            bytes: declared((1 << 63) - 1),
            raw: End::Close(Some(1009)),
            sio: sio.clone(),
        },
        Case {
            name: "declared length 2^64 - 1 (most significant bit set)",
            bytes: declared(u64::MAX),
            raw: End::Close(Some(1009)),
            sio: sio.clone(),
        },
        Case {
            name: "invalid UTF-8 text",
            bytes: frame(true, 0, 1, true, &echo_text(t, b"\xc3\x28")),
            raw: End::Close(Some(1007)),
            sio: sio.clone(),
        },
        Case {
            name: "RSV1 set without an extension",
            bytes: frame(true, 4, 1, true, &echo_text(t, b"x")),
            raw: End::Close(Some(1002)),
            sio: sio.clone(),
        },
        Case {
            name: "reserved data opcode 3",
            bytes: frame(true, 0, 3, true, b"x"),
            raw: End::Close(Some(1002)),
            sio: sio.clone(),
        },
        Case {
            name: "reserved control opcode 0xB",
            bytes: frame(true, 0, 0xb, true, b""),
            raw: End::Close(Some(1002)),
            sio: sio.clone(),
        },
        Case {
            name: "unmasked client frame",
            bytes: frame(true, 0, 1, false, &echo_text(t, b"x")),
            raw: End::Close(Some(1002)),
            sio: sio.clone(),
        },
        Case {
            name: "continuation with nothing to continue",
            bytes: frame(true, 0, 0, true, b"x"),
            raw: End::Close(Some(1002)),
            sio: sio.clone(),
        },
        Case {
            name: "ping over 125 bytes",
            bytes: frame(true, 0, 9, true, &[b'p'; 126]),
            raw: End::Close(Some(1002)),
            sio: sio.clone(),
        },
        Case {
            name: "fragmented ping",
            bytes: frame(false, 0, 9, true, b"p"),
            raw: End::Close(Some(1002)),
            sio,
        },
    ]
}

adversarial!(hostile_frames: Tungstenite, Fastwebsockets, Sio);

async fn hostile_frames(t: Target) {
    let _one_at_a_time = serial().await;
    let rss = Rss::now();
    let server = Running::start(t, config()).await;
    let probe = Probe::start(&server).await;
    for case in cases(t) {
        let mut s = open(&server).await;
        s.write_all(&case.bytes).await.expect("send the frame");
        let want = if t == Target::Sio { case.sio } else { case.raw };
        assert_eq!(read_end(&mut s).await, want, "{t:?}: {}", case.name);
    }
    probe.finish().await;
    rss.assert_grew_at_most(RSS_BOUND_MIB, "hostile frames");
    server.stop().await;
}

adversarial!(websocket_version_8_is_426: Tungstenite, Fastwebsockets, Sio);

async fn websocket_version_8_is_426(t: Target) {
    let _one_at_a_time = serial().await;
    let server = Running::start(t, config()).await;
    let probe = Probe::start(&server).await;
    for version in ["8", "", "13, 8"] {
        let (_, head) = upgrade(&server, version).await;
        assert!(
            head.starts_with("HTTP/1.1 426"),
            "{t:?}: version {version:?} answered {head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-version: 13"),
            "{t:?}: 426 names the version: {head}"
        );
    }
    probe.finish().await;
    server.stop().await;
}
