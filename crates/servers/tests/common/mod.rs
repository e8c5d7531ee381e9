//! Shared harness of the raw-target tests: start a target on `127.0.0.1:0` with a
//! oneshot shutdown, and [`RawClient`], one client over tcp or WebSocket.
//!
//! Every network wait is bounded by [`WAIT`]; a test that would hang fails instead.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use wsbench_servers::RustServer;
use wsbench_servers::config::ServerConfig;
use wsbench_servers::error::ServerError;
use wsbench_servers::hub::HubStats;

/// Upper bound of any single wait on the network.
pub const WAIT: Duration = Duration::from_secs(10);

/// The three raw targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    Tcp,
    Tungstenite,
    Fastwebsockets,
}

impl Raw {
    pub fn is_ws(self) -> bool {
        self != Raw::Tcp
    }

    /// The server of the target table this is.
    pub fn server(self) -> RustServer {
        match self {
            Raw::Tcp => RustServer::Tcp,
            Raw::Tungstenite => RustServer::WsTungstenite,
            Raw::Fastwebsockets => RustServer::WsFastwebsockets,
        }
    }
}

/// Runs `$body(target)` once per raw target, each as its own test.
macro_rules! per_target {
    ($($name:ident),* $(,)?) => {
        mod tcp {
            $( #[tokio::test] async fn $name() { super::$name(crate::common::Raw::Tcp).await } )*
        }
        mod ws_tungstenite {
            $( #[tokio::test] async fn $name() { super::$name(crate::common::Raw::Tungstenite).await } )*
        }
        mod ws_fastwebsockets {
            $( #[tokio::test] async fn $name() { super::$name(crate::common::Raw::Fastwebsockets).await } )*
        }
    };
}

/// A target running in this process.
pub struct Server {
    pub target: Raw,
    pub addr: SocketAddr,
    /// The hub's counters.
    pub stats: Arc<HubStats>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Server {
    pub async fn start(target: Raw, cfg: ServerConfig) -> Server {
        let listener = wsbench_servers::listen::loopback().expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stats = Arc::new(HubStats::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(wsbench_servers::serve(
            target.server(),
            listener,
            cfg,
            stats.clone(),
            shutdown,
        ));
        Server {
            target,
            addr,
            stats,
            stop: Some(stop),
            task,
        }
    }

    pub async fn connect(&self) -> (RawClient, String) {
        RawClient::connect(self.target, self.addr).await
    }

    /// Resolves the shutdown future and returns what `run` returned.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        let _ = self.stop.take().expect("stopped once").send(());
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("server stops in time")
            .expect("server task does not panic")
    }
}

/// What a client saw next.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// One reply, parsed as JSON.
    Reply(Value),
    /// The connection ended: WebSocket close code if a close frame came, `None` for a
    /// close without code, EOF or reset.
    Closed(Option<u16>),
}

/// A test client of one raw target.
pub enum RawClient {
    Tcp(Framed<TcpStream, LengthDelimitedCodec>),
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
}

impl RawClient {
    /// Connects and reads the welcome; returns the client and its socket id.
    pub async fn connect(target: Raw, addr: SocketAddr) -> (RawClient, String) {
        let mut c = Self::connect_raw(target, addr).await.expect("connect");
        match c.next().await {
            Event::Reply(v) if v["op"] == "welcome" => {
                let id = v["id"]
                    .as_str()
                    .expect("welcome id is a JSON string")
                    .to_owned();
                assert!(id.parse::<u64>().is_ok(), "decimal socket id, got {id:?}");
                (c, id)
            }
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// Connects without reading anything.
    pub async fn connect_raw(target: Raw, addr: SocketAddr) -> Result<RawClient, String> {
        let fut = async {
            if target.is_ws() {
                let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(RawClient::Ws(Box::new(ws)))
            } else {
                let s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                s.set_nodelay(true).map_err(|e| e.to_string())?;
                Ok(RawClient::Tcp(Framed::new(
                    s,
                    wsbench_wire::tcp::codec(usize::MAX >> 1),
                )))
            }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("connect in time")
    }

    /// Sends one request frame (text).
    pub async fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes()).await;
    }

    /// Sends bytes as one request frame; on WebSocket a text frame even if not UTF-8.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let payload = Bytes::copy_from_slice(bytes);
        let fut = async {
            match self {
                RawClient::Tcp(f) => f.send(payload).await.map_err(|e| e.to_string()),
                RawClient::Ws(ws) => {
                    let frame = Frame::message(payload, OpCode::Data(Data::Text), true);
                    ws.send(Message::Frame(frame))
                        .await
                        .map_err(|e| e.to_string())
                }
            }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("send in time")
            .expect("send");
    }

    /// Sends one text message as WebSocket fragments of `chunk` bytes.
    pub async fn send_fragmented(&mut self, text: &str, chunk: usize) {
        let RawClient::Ws(ws) = self else {
            panic!("fragments are a WebSocket thing")
        };
        let parts: Vec<&[u8]> = text.as_bytes().chunks(chunk).collect();
        for (i, part) in parts.iter().enumerate() {
            let op = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = Frame::message(Bytes::copy_from_slice(part), op, i + 1 == parts.len());
            ws.feed(Message::Frame(frame)).await.expect("send fragment");
        }
        ws.flush().await.expect("flush fragments");
    }

    /// The next reply or the end of the connection (pings and pongs are skipped).
    pub async fn next(&mut self) -> Event {
        tokio::time::timeout(WAIT, self.next_unbounded())
            .await
            .expect("a reply or close in time")
    }

    async fn next_unbounded(&mut self) -> Event {
        loop {
            match self {
                RawClient::Tcp(f) => {
                    return match f.next().await {
                        Some(Ok(b)) => {
                            Event::Reply(serde_json::from_slice(&b).expect("reply is JSON"))
                        }
                        _ => Event::Closed(None),
                    };
                }
                RawClient::Ws(ws) => match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        return Event::Reply(serde_json::from_str(&t).expect("reply is JSON"));
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Event::Closed(frame.map(|f| u16::from(f.code)));
                    }
                    Some(Ok(Message::Binary(_))) => panic!("server sent a binary frame"),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Event::Closed(None),
                },
            }
        }
    }

    /// The next reply; panics on a close.
    pub async fn reply(&mut self) -> Value {
        match self.next().await {
            Event::Reply(v) => v,
            Event::Closed(code) => {
                panic!("connection closed ({code:?}) while a reply was expected")
            }
        }
    }

    /// Sends `req` and expects exactly `{"op":"ack","ack":n}` next.
    pub async fn acked(&mut self, req: Value, n: u64) {
        let mut req = req;
        req["ack"] = json!(n);
        self.send(&req.to_string()).await;
        assert_eq!(
            self.reply().await,
            json!({"op":"ack","ack":n}),
            "ack of {req}"
        );
    }

    /// Sends `req` with ack `n`; expects the `before` replies (in order), then the ack.
    pub async fn acked_after(&mut self, req: Value, n: u64, before: &[Value]) {
        let mut req = req;
        req["ack"] = json!(n);
        self.send(&req.to_string()).await;
        for want in before {
            assert_eq!(&self.reply().await, want, "reply to {req}");
        }
        assert_eq!(
            self.reply().await,
            json!({"op":"ack","ack":n}),
            "ack of {req}"
        );
    }

    /// Proves nothing is queued for this client: an echo with an ack must be the very next
    /// reply. Sound because a server handles a connection's requests in order and every
    /// fan-out finishes queueing before its sender's ack is queued: anything sent to this
    /// client by an op whose ack the test already has sits ahead of this echo's reply.
    pub async fn barrier(&mut self) {
        let tag = json!({ "barrier": rand_tag() });
        self.send(&json!({"op":"echo","data":tag,"ack":999_999}).to_string())
            .await;
        assert_eq!(
            self.reply().await,
            json!({"op":"ack","ack":999_999,"data":tag}),
            "nothing may be queued ahead of the barrier"
        );
    }

    /// Reads (discarding replies) until the connection ends; returns the close code.
    pub async fn until_closed(&mut self) -> Option<u16> {
        let fut = async {
            loop {
                if let Event::Closed(code) = self.next_unbounded().await {
                    return code;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), fut)
            .await
            .expect("connection ends in time")
    }

    /// Closes from the client side.
    pub async fn close(self) {
        match self {
            RawClient::Tcp(f) => drop(f),
            RawClient::Ws(mut ws) => {
                let _ = tokio::time::timeout(WAIT, WebSocketStream::close(&mut *ws, None)).await;
            }
        }
    }
}

fn rand_tag() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `{"op":"msg","data":data}`
pub fn msg(data: Value) -> Value {
    json!({"op":"msg","data":data})
}

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("connect for HTTP");
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes())
            .await
            .expect("write HTTP request");
        let mut out = String::new();
        s.read_to_string(&mut out)
            .await
            .expect("read HTTP response");
        let status = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status line");
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    };
    tokio::time::timeout(WAIT, fut).await.expect("HTTP in time")
}
