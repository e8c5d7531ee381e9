//! A minimal Engine.IO v4 / Socket.IO v5 client for the tests, independent of the
//! production codec in crates/wire on purpose: WebSocket (tokio-tungstenite) or HTTP
//! long-polling, namespace `/`, JSON events and acks, answering pings at once.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::http::{STEP, request, try_request};

/// Which Engine.IO transport a client uses (no upgrade: one transport for its life).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Polling,
}

/// A Socket.IO packet the server sent, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum SioPacket {
    /// `42[name, args…]` (optionally `42N[…]`: the server wants an ack).
    Event {
        name: String,
        args: Vec<Value>,
        ack: Option<u64>,
        raw: String,
    },
    /// `43N[args…]`.
    Ack {
        id: u64,
        args: Vec<Value>,
        raw: String,
    },
    /// `44{…}`.
    ConnectError(Value),
    /// `41`, or the transport ended.
    Disconnected,
}

/// One connected Socket.IO client.
#[derive(Debug)]
pub struct SioClient {
    /// The socket id from the CONNECT reply.
    pub sid: String,
    /// Engine.IO packets to send (the transport task writes them).
    out: mpsc::UnboundedSender<String>,
    /// Socket.IO packets received, in order.
    inbox: mpsc::UnboundedReceiver<SioPacket>,
    /// Next ack id this client allocates.
    next_ack: u64,
}

/// Splits `4…` Engine.IO message text into a Socket.IO packet (namespace `/` only).
pub fn decode(sio: &str) -> SioPacket {
    let (kind, rest) = sio.split_at(1);
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let id = (digits > 0).then(|| rest[..digits].parse::<u64>().expect("ack id"));
    let body = &rest[digits..];
    match kind {
        "2" => {
            let mut arr: Vec<Value> = serde_json::from_str(body).expect("event array");
            let name = arr.remove(0).as_str().expect("event name").to_owned();
            SioPacket::Event {
                name,
                args: arr,
                ack: id,
                raw: format!("4{sio}"),
            }
        }
        "3" => SioPacket::Ack {
            id: id.expect("ack without id"),
            args: serde_json::from_str(body).expect("ack array"),
            raw: format!("4{sio}"),
        },
        "4" => SioPacket::ConnectError(serde_json::from_str(body).unwrap_or(Value::Null)),
        "1" => SioPacket::Disconnected,
        other => panic!("unexpected Socket.IO packet type {other}: {sio}"),
    }
}

impl SioClient {
    /// Opens the transport, sends CONNECT `40` and waits for `40{"sid":…}`.
    pub async fn connect(addr: SocketAddr, transport: Transport) -> SioClient {
        match Self::try_connect(addr, transport).await {
            Ok(c) => c,
            Err(p) => panic!("CONNECT refused: {p:?}"),
        }
    }

    /// Like [`connect`](Self::connect), but a refusal (`44…`) is returned as `Err`.
    pub async fn try_connect(
        addr: SocketAddr,
        transport: Transport,
    ) -> Result<SioClient, SioPacket> {
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (in_tx, inbox) = mpsc::unbounded_channel();
        let (sid_tx, sid_rx) = tokio::sync::oneshot::channel();
        match transport {
            Transport::WebSocket => {
                let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
                let (ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url))
                    .await
                    .expect("ws connect timed out")
                    .expect("ws connect");
                tokio::spawn(run_websocket(ws, out_tx.clone(), out_rx, in_tx, sid_tx));
            }
            Transport::Polling => {
                let (status, open) =
                    request(addr, "GET", "/socket.io/?EIO=4&transport=polling", None).await;
                assert_eq!(status, 200, "polling handshake: {open}");
                let eio_sid = open_sid(open.split('\x1e').next().expect("open packet"));
                tokio::spawn(run_polling(
                    addr,
                    eio_sid,
                    out_tx.clone(),
                    out_rx,
                    in_tx,
                    sid_tx,
                ));
            }
        }
        out_tx.send("40".into()).expect("transport task alive");
        let mut client = SioClient {
            sid: String::new(),
            out: out_tx,
            inbox,
            next_ack: 0,
        };
        let reply = tokio::time::timeout(STEP, async {
            tokio::select! {
                sid = sid_rx => Ok(sid.expect("transport ended before the CONNECT reply")),
                refused = client.inbox.recv() => Err(refused.unwrap_or(SioPacket::Disconnected)),
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no CONNECT reply within {STEP:?}"));
        reply.map(|sid| {
            client.sid = sid;
            client
        })
    }

    /// Sends raw Engine.IO text (e.g. a malformed packet).
    pub fn send_raw(&self, eio_text: impl Into<String>) {
        let _ = self.out.send(eio_text.into());
    }

    /// Emits `event(args…)` without an ack.
    pub fn emit(&self, event: &str, args: &[Value]) {
        self.send_raw(format!("42{}", event_array(event, args)));
    }

    /// A fresh ack id, for a packet built by hand ([`send_raw`](Self::send_raw)).
    pub fn next_ack_id(&mut self) -> u64 {
        let id = self.next_ack;
        self.next_ack += 1;
        id
    }

    /// Emits `event(args…)` with a fresh ack id, returned.
    pub fn emit_with_ack(&mut self, event: &str, args: &[Value]) -> u64 {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_raw(format!("42{id}{}", event_array(event, args)));
        id
    }

    /// Emits with an ack and waits for that ack, returning its raw text and arguments.
    /// Any other packet arriving first fails the test.
    pub async fn call(&mut self, event: &str, args: &[Value]) -> (String, Vec<Value>) {
        let id = self.emit_with_ack(event, args);
        match self.next().await {
            SioPacket::Ack { id: got, args, raw } if got == id => (raw, args),
            other => panic!("{event}: expected ack {id}, got {other:?}"),
        }
    }

    /// Emits with an ack for an op that also delivers to the sender: the `msg` comes
    /// first (the server emits, then acks, on the same socket), then the ack. Returns the
    /// `msg` data.
    pub async fn call_and_receive(&mut self, event: &str, args: &[Value]) -> Value {
        let id = self.emit_with_ack(event, args);
        let data = self.expect_msg().await;
        match self.next().await {
            SioPacket::Ack { id: got, args, .. } if got == id && args.is_empty() => data,
            other => panic!("{event}: expected empty ack {id} after the msg, got {other:?}"),
        }
    }

    /// The next packet (bounded wait).
    pub async fn next(&mut self) -> SioPacket {
        tokio::time::timeout(STEP, self.inbox.recv())
            .await
            .expect("no Socket.IO packet within the step timeout")
            .unwrap_or(SioPacket::Disconnected)
    }

    /// The next packet must be `msg(data)`; returns `data`.
    pub async fn expect_msg(&mut self) -> Value {
        match self.next().await {
            SioPacket::Event { name, mut args, .. } if name == "msg" && args.len() == 1 => {
                args.remove(0)
            }
            other => panic!("expected msg, got {other:?}"),
        }
    }

    /// Barrier: echo a marker with an ack; everything before it must already have arrived,
    /// so the ack must be the very next packet.
    pub async fn assert_nothing_pending(&mut self) {
        let marker = serde_json::json!({"barrier": self.sid});
        let (_, args) = self.call("echo", std::slice::from_ref(&marker)).await;
        assert_eq!(args, vec![marker], "barrier echo ack");
    }

    /// Closes the transport (the server sees the disconnect at once).
    pub async fn close(self) {
        let _ = self.out.send(CLOSE.into());
    }
}

/// Sentinel on the outgoing queue: close the transport.
const CLOSE: &str = "\u{0}close";

fn event_array(event: &str, args: &[Value]) -> String {
    let mut arr = vec![Value::String(event.into())];
    arr.extend_from_slice(args);
    Value::Array(arr).to_string()
}

fn open_sid(open: &str) -> String {
    let body = open.strip_prefix('0').expect("Engine.IO open packet");
    let v: Value = serde_json::from_str(body).expect("open JSON");
    v["sid"].as_str().expect("open sid").to_owned()
}

/// Handles one received Engine.IO packet: answers pings, forwards Socket.IO packets.
fn on_eio_packet(
    text: &str,
    out: &mpsc::UnboundedSender<String>,
    inbox: &mpsc::UnboundedSender<SioPacket>,
    sid_tx: &mut Option<tokio::sync::oneshot::Sender<String>>,
) -> bool {
    match text.as_bytes().first() {
        Some(b'0') => true,
        Some(b'2') => out.send("3".into()).is_ok(),
        Some(b'1') => false,
        Some(b'6') => true,
        Some(b'4') => {
            if let Some(reply) = text.strip_prefix("40") {
                let v: Value = serde_json::from_str(reply).expect("CONNECT reply JSON");
                if let Some(tx) = sid_tx.take() {
                    let _ = tx.send(v["sid"].as_str().expect("sid").to_owned());
                }
                true
            } else {
                inbox.send(decode(&text[1..])).is_ok()
            }
        }
        _ => panic!("unexpected Engine.IO packet {text:?}"),
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run_websocket(
    ws: Ws,
    out: mpsc::UnboundedSender<String>,
    mut out_rx: mpsc::UnboundedReceiver<String>,
    inbox: mpsc::UnboundedSender<SioPacket>,
    sid_tx: tokio::sync::oneshot::Sender<String>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut sid_tx = Some(sid_tx);
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if !on_eio_packet(t.as_str(), &out, &inbox, &mut sid_tx) { break; }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            text = out_rx.recv() => match text {
                Some(t) if t != CLOSE => {
                    if sink.send(Message::text(t)).await.is_err() { break; }
                }
                _ => { let _ = sink.close().await; break; }
            },
        }
    }
    let _ = inbox.send(SioPacket::Disconnected);
}

async fn run_polling(
    addr: SocketAddr,
    eio_sid: String,
    out: mpsc::UnboundedSender<String>,
    mut out_rx: mpsc::UnboundedReceiver<String>,
    inbox: mpsc::UnboundedSender<SioPacket>,
    sid_tx: tokio::sync::oneshot::Sender<String>,
) {
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={eio_sid}");
    // Writer: one POST at a time (Engine.IO refuses overlapping POSTs), batching what queued.
    let post_path = path.clone();
    let writer = tokio::spawn(async move {
        while let Some(first) = out_rx.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = out_rx.try_recv() {
                batch.push(more);
            }
            let closing = batch.iter().any(|t| t == CLOSE);
            batch.retain(|t| t != CLOSE);
            if closing {
                batch.push("1".into());
            }
            let sent = try_request(addr, "POST", &post_path, Some(batch.join("\x1e"))).await;
            let Some((status, body)) = sent else { break };
            if status != 200 || closing {
                if status != 200 {
                    eprintln!("polling POST failed: {status} {body}");
                }
                break;
            }
        }
    });
    let mut sid_tx = Some(sid_tx);
    'poll: loop {
        let Some((200, body)) = try_request(addr, "GET", &path, None).await else {
            break;
        };
        for packet in body.split('\x1e') {
            if !on_eio_packet(packet, &out, &inbox, &mut sid_tx) {
                break 'poll;
            }
        }
    }
    writer.abort();
    let _ = inbox.send(SioPacket::Disconnected);
}
