//! The sio-socketioxide target, driven by a minimal Socket.IO client of its own over both
//! transports: the wire form of empty acks and malformed input. (Every op reaching exactly
//! its recipients is the contract test every target passes,
//! crates/loadgen/tests/protocol_contract.rs.)

mod sio_rest_common;

use serde_json::{Value, json};

use sio_rest_common::sio_client::{SioClient, SioPacket, Transport};
use sio_rest_common::{sio_config, start_sio};

const BOTH: [Transport; 2] = [Transport::WebSocket, Transport::Polling];

fn data(from: u32, seq: u64) -> Value {
    json!({"from": from, "seq": seq, "t": 0, "pad": "xx"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_acks_are_an_empty_array() {
    let server = start_sio(sio_config()).await;
    for t in BOTH {
        let mut c = SioClient::connect(server.addr, t).await;
        let (raw, args) = c.call("join", &[json!("r")]).await;
        assert!(args.is_empty(), "{t:?}: {raw}");
        assert!(
            raw.starts_with("43") && raw.ends_with("[]"),
            "{t:?}: wire form {raw}"
        );
        let (_, args) = c.call("leave", &[json!("r")]).await;
        assert!(args.is_empty());
        c.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_keeps_the_connection() {
    let server = start_sio(sio_config()).await;
    for t in BOTH {
        let mut c = SioClient::connect(server.addr, t).await;
        c.emit_with_ack("no_such_event", &[json!(1)]);
        c.emit("to_room", &[json!(42)]);
        match c.next().await {
            SioPacket::Event { name, args, .. } => {
                assert_eq!(name, "error", "{t:?}");
                assert!(args[0].as_str().unwrap().contains("to_room"), "{args:?}");
            }
            other => panic!("{t:?}: expected an error event, got {other:?}"),
        }
        c.emit("join", &[json!({"not": "a string"})]);
        assert!(matches!(c.next().await, SioPacket::Event { ref name, .. } if name == "error"));
        // Still served.
        let (_, args) = c.call("echo", &[data(4, 1)]).await;
        assert_eq!(args, vec![data(4, 1)], "{t:?}");
        c.close().await;
    }
    server.stop().await;
}
