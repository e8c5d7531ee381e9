//! Socket.IO over a WebSocket Engine.IO transport: straight (`transport=websocket`) or
//! after a polling session upgraded (see `sio_upgrade`). Engine.IO pings are answered with
//! `3` before anything else is read; events go out as `42[N]["op",…]`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use super::codec::{EioInbound, eio_inbound_in, push_sio_event};
use super::counted::Counters;
use super::ws::WsLink;
use super::{ByteCounts, Incoming, Outgoing, RxStamp, Transport, TransportError};

/// Path and query of a direct WebSocket Engine.IO session.
pub(crate) fn ws_path(sid: Option<&str>) -> String {
    format!(
        "/socket.io/?{}",
        wsbench_wire::engineio::query("websocket", sid)
    )
}

/// One Socket.IO client whose Engine.IO transport is a WebSocket.
pub struct SioWsTransport {
    link: WsLink,
    counters: Arc<Counters>,
    /// The outgoing packet, reused between sends.
    pkt: String,
    /// The Socket.IO socket id (from the CONNECT reply).
    id: String,
    connect_time: Duration,
    /// Engine.IO pings received (each answered); a watch so tests can wait on it.
    pings: watch::Sender<u64>,
    /// Pongs not yet queued; kept here so a cancelled `recv` still answers every ping.
    pongs_owed: u32,
    /// Queued pongs not yet flushed.
    flush_pending: bool,
    /// Messages that arrived before the transport was ready (over polling, before an
    /// upgrade, or ahead of the CONNECT reply), delivered first.
    early: VecDeque<Incoming>,
    /// Namespaces followed beside `/` ([`Transport::follow`]); slot `1 + i` is `more[i]`.
    more: Vec<String>,
    /// The slot events are sent in (0: `/`).
    send_in: usize,
    /// The slot of the message `recv` returned last.
    last_ns: usize,
}

impl SioWsTransport {
    /// Opens `ws://host/socket.io/?EIO=4&transport=websocket`, reads the open packet, sends
    /// `connect` (the CONNECT packet, `40` or `40{auth}`) and waits for `40{"sid":…}`,
    /// answering pings meanwhile.
    pub async fn connect(
        addr: SocketAddr,
        host: &str,
        connect: &str,
    ) -> Result<SioWsTransport, TransportError> {
        let started = Instant::now();
        let counters = Arc::new(Counters::default());
        let path = ws_path(None);
        let endpoint = format!("ws://{host}{path}");
        let link = WsLink::open(addr, host, &path, &counters).await?;
        let mut t = SioWsTransport::new(link, counters, VecDeque::new());
        let handshake = |reason: String| TransportError::Handshake {
            endpoint: endpoint.clone(),
            reason,
        };
        match t
            .next_inbound()
            .await
            .map_err(|e| handshake(format!("no open packet: {e}")))?
            .1
        {
            EioInbound::Open(json) => {
                wsbench_wire::engineio::Packet::open(&json)
                    .map_err(|e| handshake(e.to_string()))?;
            }
            other => {
                return Err(handshake(format!(
                    "expected the open packet, got {other:?}"
                )));
            }
        }
        t.link.send_text(connect).await?;
        t.id = t
            .await_connect()
            .await
            .map_err(|e| handshake(e.to_string()))?;
        t.connect_time = started.elapsed();
        Ok(t)
    }

    pub(crate) fn new(link: WsLink, counters: Arc<Counters>, early: VecDeque<Incoming>) -> Self {
        SioWsTransport {
            link,
            counters,
            pkt: String::with_capacity(256),
            id: String::new(),
            connect_time: Duration::ZERO,
            pings: watch::Sender::new(0),
            pongs_owed: 0,
            flush_pending: false,
            early,
            more: Vec::new(),
            send_in: 0,
            last_ns: 0,
        }
    }

    /// Sets what the upgrade path learnt over polling.
    pub(crate) fn set_connected(&mut self, id: String, connect_time: Duration) {
        self.id = id;
        self.connect_time = connect_time;
    }

    /// Reads until the CONNECT reply; keeps application messages for `recv`.
    async fn await_connect(&mut self) -> Result<String, TransportError> {
        loop {
            match self.next_inbound().await?.1 {
                EioInbound::Connected(sid) => return Ok(sid),
                EioInbound::Closed(reason) => {
                    return Err(TransportError::Closed {
                        reason: Some(reason),
                    });
                }
                EioInbound::App(incoming) => self.early.push_back(incoming),
                EioInbound::Open(_) | EioInbound::Nothing | EioInbound::Ping => {}
            }
        }
    }

    /// Next packet that is not a ping, with its namespace slot; pings are counted and
    /// answered first. Cancel-safe: every await leaves its progress in `self`.
    async fn next_inbound(&mut self) -> Result<(usize, EioInbound), TransportError> {
        loop {
            while self.pongs_owed > 0 {
                self.link.feed_static("3").await?;
                self.pongs_owed -= 1;
                self.flush_pending = true;
            }
            if self.flush_pending {
                self.link.flush().await?;
                self.flush_pending = false;
            }
            let text = self.link.next_text().await?;
            let frame = Bytes::from(text.clone());
            match eio_inbound_in(&frame, text.as_str(), &self.more)? {
                (_, EioInbound::Ping) => {
                    self.pings.send_modify(|n| *n += 1);
                    self.pongs_owed += 1;
                }
                other => return Ok(other),
            }
        }
    }

    /// Engine.IO pings received and answered so far.
    pub fn pings(&self) -> u64 {
        *self.pings.borrow()
    }

    /// A watch on the ping count. Pings are read (and answered) while `recv` runs.
    pub fn ping_watch(&self) -> watch::Receiver<u64> {
        self.pings.subscribe()
    }
}

impl Transport for SioWsTransport {
    fn socket_id(&self) -> &str {
        &self.id
    }

    fn connect_time(&self) -> Duration {
        self.connect_time
    }

    async fn send(&mut self, req: Outgoing<'_>) -> Result<(), TransportError> {
        self.pkt.clear();
        let ns = match self.send_in {
            0 => wsbench_wire::socketio::DEFAULT_NS,
            k => &self.more[k - 1],
        };
        push_sio_event(&mut self.pkt, ns, &req)?;
        self.link.send_text(&self.pkt).await
    }

    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        if let Some(incoming) = self.early.pop_front() {
            self.last_ns = 0;
            return Ok(incoming);
        }
        loop {
            match self.next_inbound().await? {
                (slot, EioInbound::App(incoming)) => {
                    self.last_ns = slot;
                    return Ok(incoming);
                }
                (_, EioInbound::Closed(reason)) => {
                    return Err(TransportError::Closed {
                        reason: Some(reason),
                    });
                }
                (_, EioInbound::Open(_) | EioInbound::Connected(_))
                | (_, EioInbound::Nothing | EioInbound::Ping) => {}
            }
        }
    }

    /// The WebSocket's last read. Messages kept from before the transport was ready (the
    /// handshake) are returned with the stamp of the latest read, an upper bound of theirs.
    fn last_rx(&self) -> Option<RxStamp> {
        self.link.last_rx()
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        // Socket.IO DISCONNECT, then the WebSocket close (as the JS client does).
        match self.link.send_text("41").await {
            Ok(()) | Err(TransportError::Closed { .. }) => {}
            Err(e) => return Err(e),
        }
        self.link.close().await
    }

    fn bytes(&self) -> ByteCounts {
        self.counters.snapshot()
    }

    fn last_ns(&self) -> usize {
        self.last_ns
    }

    /// Sends `40/ns,{auth}` for every namespace of `more`, then reads until each has
    /// answered `40/ns,{"sid":…}`. Nobody sends before every client follows its namespaces
    /// (the driver's barrier), so an event arriving meanwhile is a protocol error, not kept.
    async fn follow(
        &mut self,
        more: &[String],
        auth: Option<&str>,
        send_in: usize,
    ) -> Result<(), TransportError> {
        if send_in > more.len() {
            return Err(TransportError::Protocol(format!(
                "send slot {send_in} of {} namespaces",
                more.len() + 1
            )));
        }
        self.more = more.to_vec();
        for ns in more {
            self.pkt.clear();
            self.pkt.push_str("40");
            self.pkt.push_str(ns);
            self.pkt.push(',');
            self.pkt.push_str(auth.unwrap_or(""));
            self.link.send_text(&self.pkt).await?;
        }
        let mut waiting = vec![true; more.len()];
        while waiting.iter().any(|w| *w) {
            match self.next_inbound().await? {
                (k @ 1.., EioInbound::Connected(_)) => waiting[k - 1] = false,
                (k @ 1.., EioInbound::Closed(reason)) => {
                    return Err(TransportError::Handshake {
                        endpoint: format!("namespace {}", more[k - 1]),
                        reason,
                    });
                }
                (_, EioInbound::Closed(reason)) => {
                    return Err(TransportError::Closed {
                        reason: Some(reason),
                    });
                }
                (k, EioInbound::App(incoming)) => {
                    return Err(TransportError::Protocol(format!(
                        "namespace slot {k}: {incoming:?} before every namespace was joined"
                    )));
                }
                _ => {}
            }
        }
        self.send_in = send_in;
        Ok(())
    }
}
