//! The raw WebSocket client (tokio-tungstenite on our counted stream) and `WsLink`, the
//! WebSocket plumbing the Socket.IO WebSocket client shares: one reused send buffer, text
//! frames in and out, WebSocket pings answered by tungstenite on the next read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use super::codec::{app_incoming, app_welcome, push_app_request};
use super::counted::{CountedStream, Counters, dial};
use super::{ByteCounts, Incoming, Outgoing, RxStamp, Transport, TransportError};

/// How long `close` waits for the server's close frame.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// tungstenite's defaults (128 KiB each way) cost too much memory at 10k+ connections.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 << 10)
        .write_buffer_size(0)
        .max_write_buffer_size(64 << 20)
}

pub(crate) fn ws_error(e: tungstenite::Error) -> TransportError {
    use tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => TransportError::Closed { reason: None },
        E::Io(io) => TransportError::Io(io),
        other => TransportError::Protocol(format!("websocket: {other}")),
    }
}

/// A client WebSocket on a counted TCP stream.
pub(crate) struct WsLink {
    pub(crate) ws: WebSocketStream<CountedStream>,
    /// Outgoing frame payloads are built here and handed to tungstenite as `Bytes`; the
    /// allocation comes back once tungstenite has copied (masked) it into its write buffer.
    out: BytesMut,
}

impl WsLink {
    /// Opens TCP to `addr` and upgrades with `GET <path_and_query>` and `Host: host`.
    pub(crate) async fn open(
        addr: SocketAddr,
        host: &str,
        path_and_query: &str,
        counters: &Arc<Counters>,
    ) -> Result<WsLink, TransportError> {
        let url = format!("ws://{host}{path_and_query}");
        let stream = dial(addr, counters).await?;
        let handshake = |reason: String| TransportError::Handshake {
            endpoint: url.clone(),
            reason,
        };
        let request = url
            .as_str()
            .into_client_request()
            .map_err(|e| handshake(e.to_string()))?;
        let (ws, _resp) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
                .await
                .map_err(|e| handshake(e.to_string()))?;
        Ok(WsLink {
            ws,
            out: BytesMut::with_capacity(256),
        })
    }

    /// Sends `text` as one text frame and flushes.
    pub(crate) async fn send_text(&mut self, text: &str) -> Result<(), TransportError> {
        let msg = self.frame(text);
        self.ws.send(msg).await.map_err(ws_error)
    }

    /// Puts a static text frame in tungstenite's write buffer without flushing. Cancel-safe
    /// in effect: the frame is queued in the same poll that completes the future.
    pub(crate) async fn feed_static(&mut self, text: &'static str) -> Result<(), TransportError> {
        self.ws
            .feed(Message::Text(Utf8Bytes::from_static(text)))
            .await
            .map_err(ws_error)
    }

    /// Flushes queued frames; cancel-safe (unwritten bytes stay in tungstenite's buffer).
    pub(crate) async fn flush(&mut self) -> Result<(), TransportError> {
        self.ws.flush().await.map_err(ws_error)
    }

    fn frame(&mut self, text: &str) -> Message {
        self.out.clear();
        self.out.extend_from_slice(text.as_bytes());
        let bytes = self.out.split().freeze();
        // SAFETY: the bytes were copied from a `&str`, so they are valid UTF-8.
        Message::Text(unsafe { Utf8Bytes::from_bytes_unchecked(bytes) })
    }

    /// Next text frame. Cancel-safe. Pings are
    /// skipped (tungstenite queues the pong and writes it on this same read loop).
    pub(crate) async fn next_text(&mut self) -> Result<Utf8Bytes, TransportError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(t),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(b))) => {
                    return Err(TransportError::Protocol(format!(
                        "unexpected binary frame of {} bytes",
                        b.len()
                    )));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(TransportError::Closed {
                        reason: frame.map(|f| format!("close {}: {}", u16::from(f.code), f.reason)),
                    });
                }
                Some(Err(e)) => return Err(ws_error(e)),
                None => return Err(TransportError::Closed { reason: None }),
            }
        }
    }

    /// The kernel stamp of the last read of the socket under the WebSocket.
    pub(crate) fn last_rx(&self) -> Option<RxStamp> {
        self.ws.get_ref().last_rx()
    }

    /// Sends a close frame and waits (bounded) for the server's close or EOF.
    pub(crate) async fn close(&mut self) -> Result<(), TransportError> {
        match self.ws.close(None).await {
            Ok(()) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(());
            }
            Err(e) => return Err(ws_error(e)),
        }
        let drain = async {
            loop {
                match self.ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => continue,
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
        Ok(())
    }
}

/// One connection to a raw WebSocket target (`ws-*`, `node-ws`).
pub struct WsTransport {
    link: WsLink,
    counters: Arc<Counters>,
    /// The request's JSON, reused between sends.
    json: String,
    id: String,
    connect_time: Duration,
}

impl WsTransport {
    /// Connects to `ws://host{path}` at `addr` and waits for the welcome.
    pub async fn connect(
        addr: SocketAddr,
        host: &str,
        path: &str,
    ) -> Result<WsTransport, TransportError> {
        let started = Instant::now();
        let counters = Arc::new(Counters::default());
        let mut link = WsLink::open(addr, host, path, &counters).await?;
        let welcome = link
            .next_text()
            .await
            .map_err(|e| TransportError::Handshake {
                endpoint: format!("ws://{host}{path}"),
                reason: format!("no welcome: {e}"),
            })?;
        let id = app_welcome(welcome.as_bytes())?;
        Ok(WsTransport {
            link,
            counters,
            json: String::with_capacity(256),
            id,
            connect_time: started.elapsed(),
        })
    }
}

impl Transport for WsTransport {
    fn socket_id(&self) -> &str {
        &self.id
    }

    fn connect_time(&self) -> Duration {
        self.connect_time
    }

    async fn send(&mut self, req: Outgoing<'_>) -> Result<(), TransportError> {
        self.json.clear();
        push_app_request(&mut self.json, &req)?;
        self.link.send_text(&self.json).await
    }

    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        loop {
            let text = self.link.next_text().await?;
            if let Some(incoming) = app_incoming(Bytes::from(text))? {
                return Ok(incoming);
            }
        }
    }

    fn last_rx(&self) -> Option<RxStamp> {
        self.link.last_rx()
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        self.link.close().await
    }

    fn bytes(&self) -> ByteCounts {
        self.counters.snapshot()
    }
}
