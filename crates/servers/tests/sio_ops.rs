//! The sio-socketioxide target, driven by a real Socket.IO client over both transports:
//! connect, every op, acks, malformed input.

mod sio_rest_common;

use serde_json::{Value, json};

use sio_rest_common::sio_client::{SioClient, SioPacket, Transport};
use sio_rest_common::{sio_config, start_sio};

const BOTH: [Transport; 2] = [Transport::WebSocket, Transport::Polling];

fn data(from: u32, seq: u64) -> Value {
    json!({"from": from, "seq": seq, "t": 0, "pad": "xx"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_gives_a_sid_and_echo_works() {
    let server = start_sio(sio_config()).await;
    for t in BOTH {
        let mut c = SioClient::connect(server.addr, t).await;
        assert!(!c.sid.is_empty(), "{t:?}: empty sid");
        c.emit("echo", &[data(0, 1)]);
        assert_eq!(c.expect_msg().await, data(0, 1), "{t:?}: echo without ack");
        let (raw, args) = c.call("echo", &[data(0, 2)]).await;
        assert_eq!(
            args,
            vec![data(0, 2)],
            "{t:?}: echo ack carries data: {raw}"
        );
        // The ack replaces the msg: nothing else is pending.
        c.assert_nothing_pending().await;
        c.close().await;
    }
    server.stop().await;
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
async fn to_all_includes_the_sender_and_to_others_excludes_it() {
    let server = start_sio(sio_config()).await;
    for t in BOTH {
        let mut a = SioClient::connect(server.addr, t).await;
        let mut b = SioClient::connect(server.addr, Transport::WebSocket).await;
        let got = a.call_and_receive("to_all", &[data(1, 1)]).await;
        assert_eq!(got, data(1, 1), "{t:?}: to_all reaches the sender");
        assert_eq!(
            b.expect_msg().await,
            data(1, 1),
            "{t:?}: to_all reaches others"
        );

        a.call("to_others", &[data(1, 2)]).await;
        assert_eq!(
            b.expect_msg().await,
            data(1, 2),
            "{t:?}: to_others reaches others"
        );
        a.assert_nothing_pending().await;
        b.assert_nothing_pending().await;
        a.close().await;
        b.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn to_room_reaches_members_only() {
    let server = start_sio(sio_config()).await;
    for t in BOTH {
        let mut member = SioClient::connect(server.addr, t).await;
        let mut sender = SioClient::connect(server.addr, t).await;
        let mut outsider = SioClient::connect(server.addr, t).await;
        member.call("join", &[json!("room-a")]).await;
        outsider.call("join", &[json!("room-b")]).await;

        // Sender not a member: only the member receives.
        sender.call("to_room", &[json!("room-a"), data(2, 1)]).await;
        assert_eq!(member.expect_msg().await, data(2, 1), "{t:?}: member");
        sender.assert_nothing_pending().await;
        outsider.assert_nothing_pending().await;

        // Sender a member: it receives too.
        sender.call("join", &[json!("room-a")]).await;
        let got = sender
            .call_and_receive("to_room", &[json!("room-a"), data(2, 2)])
            .await;
        assert_eq!(got, data(2, 2), "{t:?}: sender in the room receives");
        assert_eq!(member.expect_msg().await, data(2, 2));
        outsider.assert_nothing_pending().await;

        // After leave, the member no longer receives.
        member.call("leave", &[json!("room-a")]).await;
        let got = sender
            .call_and_receive("to_room", &[json!("room-a"), data(2, 3)])
            .await;
        assert_eq!(got, data(2, 3));
        member.assert_nothing_pending().await;
        for c in [member, sender, outsider] {
            c.close().await;
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn to_id_reaches_exactly_one() {
    let server = start_sio(sio_config()).await;
    for t in BOTH {
        let mut a = SioClient::connect(server.addr, t).await;
        let mut b = SioClient::connect(server.addr, t).await;
        let mut c = SioClient::connect(server.addr, t).await;
        let b_id = b.sid.clone();
        a.call("to_id", &[json!(b_id), data(3, 1)]).await;
        assert_eq!(b.expect_msg().await, data(3, 1), "{t:?}: to_id target");
        for x in [&mut a, &mut b, &mut c] {
            x.assert_nothing_pending().await;
        }
        // An unknown id delivers nothing but still acks.
        a.call("to_id", &[json!("not-a-socket"), data(3, 2)]).await;
        a.assert_nothing_pending().await;
        for x in [a, b, c] {
            x.close().await;
        }
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
