//! One raw connection's request handling, independent of framing: parse, act on the hub, reply.
//!
//! [`Session`] turns one incoming text frame into hub operations and replies (docs/design.md §3).
//! Its queue is drained by `crate::writer::pump`, the one writer task per connection
//! (what is already queued goes out in one flush), together with a small control queue
//! of [`Control`] frames (pings, pongs, close), so a socket is only ever written from one
//! task.
//!
//! Ordering: a session handles its frames one at a time and a fan-out puts the frame on
//! every recipient's queue before the sender's ack is queued. So once a client has the ack
//! of its broadcast, every recipient's copy is already queued ahead of anything queued
//! later for that recipient; tests use that as a barrier.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wsbench_wire::app::{self, Op, Request};

use crate::hub::{ConnId, OutFrame, Outbound, Registration, RoomHub};
use crate::queue_bytes::ByteBudget;

/// Control frames (pong, ping, close) waiting for the writer.
pub const CONTROL_QUEUE: usize = 16;
/// How long a closing connection waits for its writer to flush before dropping the socket.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The connection's writer has stopped; the session must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterGone;

/// One registered raw connection. Dropping it removes the socket from the hub (and so from
/// every room it joined).
#[derive(Debug)]
pub struct Session<F: OutFrame> {
    hub: Arc<RoomHub<F>>,
    id: ConnId,
    /// This connection's own queue: replies wait for room here instead of being dropped.
    tx: mpsc::Sender<Outbound<F>>,
    kicked: CancellationToken,
    /// The queue's byte bound: a reply waits for its bytes.
    bytes: ByteBudget,
}

impl<F: OutFrame> Session<F> {
    /// Registers a connection; returns the session and the queue its writer drains.
    pub fn open(hub: Arc<RoomHub<F>>) -> (Self, mpsc::Receiver<Outbound<F>>) {
        let Registration {
            id,
            tx,
            rx,
            kicked,
            bytes,
        } = hub.register();
        (
            Session {
                hub,
                id,
                tx,
                kicked,
                bytes,
            },
            rx,
        )
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Resolves when the hub wants this connection closed (slow consumer, `Disconnect`).
    pub fn kicked(&self) -> &CancellationToken {
        &self.kicked
    }

    /// Queues `{"op":"welcome","id":"<id>"}`.
    pub async fn welcome(&self) -> Result<(), WriterGone> {
        self.reply(app::welcome(&self.id.to_string())).await
    }

    /// Queues an error reply (also used by transports, e.g. for binary frames).
    pub async fn refuse(&self, reason: &str) -> Result<(), WriterGone> {
        self.reply(app::error(reason)).await
    }

    /// Handles one request frame: the op on the hub, then the ack if asked for. A
    /// malformed or unknown request gets an error reply; the connection stays up.
    pub async fn handle(&self, frame: &[u8]) -> Result<(), WriterGone> {
        let req = match Request::parse(frame) {
            Ok(req) => req,
            Err(e) => return self.refuse(&e.to_string()).await,
        };
        let hub = &*self.hub;
        // In a cluster (`--adapter`) every fan-out also goes to the other nodes.
        let relay = hub.relay();
        let msg = |data| F::from_json(app::msg(data));
        match req.op {
            Op::Join { room } => {
                if let Err(refused) = hub.join(self.id, &room) {
                    return self.refuse(&format!("join: {refused}")).await;
                }
                if let Some(r) = relay
                    && let Err(e) = r.subscribe_room(&room).await
                {
                    return self.refuse(&format!("join: cluster: {e}")).await;
                }
            }
            Op::Leave { room } => hub.leave(self.id, &room),
            Op::ToAll { data } => {
                hub.stall_gate().await;
                let json = app::msg(data);
                if let Some(r) = relay {
                    r.to_all(&json);
                }
                hub.to_all(F::from_json(json));
            }
            Op::ToOthers { data } => {
                hub.stall_gate().await;
                let json = app::msg(data);
                if let Some(r) = relay {
                    r.to_all(&json);
                }
                hub.to_others(self.id, F::from_json(json));
            }
            Op::ToRoom { room, data } => {
                hub.stall_gate().await;
                let json = app::msg(data);
                if let Some(r) = relay {
                    r.to_room(&room, &json);
                }
                hub.to_room(&room, F::from_json(json));
            }
            Op::ToId { id, data } => {
                hub.stall_gate().await;
                let json = app::msg(data);
                if !relay.is_some_and(|r| r.to_id(&id, &json)) {
                    hub.to_id(&id, F::from_json(json));
                }
            }
            Op::Echo { data } => {
                // With an ack the data rides on the ack instead of a msg.
                if let Some(n) = req.ack {
                    return self.reply(app::ack(n, Some(data))).await;
                }
                hub.stall_gate().await;
                hub.to_conn(self.id, msg(data));
            }
        }
        match req.ack {
            Some(n) => self.reply(app::ack(n, None)).await,
            None => Ok(()),
        }
    }

    async fn reply(&self, json: Bytes) -> Result<(), WriterGone> {
        let frame = F::from_json(json);
        let charge = Some(self.bytes.charge(frame.byte_len()).await);
        let out = Outbound {
            frame,
            due: None,
            charge,
        };
        self.tx.send(out).await.map_err(|_| WriterGone)
    }
}

impl<F: OutFrame> Drop for Session<F> {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

/// Frames other than queued deliveries and replies, for the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Keep-alive ping (WebSocket targets).
    Ping,
    /// Answer to a peer's ping, with its payload.
    Pong(Bytes),
    /// Write a close and stop. `code: None` is a close without a status (or a TCP FIN).
    /// `drain` first writes what is already queued (graceful); a slow consumer is closed
    /// without draining, since it is not reading.
    Close {
        code: Option<u16>,
        reason: &'static str,
        drain: bool,
    },
}

impl Control {
    /// A graceful close with `code`: what is already queued is written first.
    pub fn close(code: u16, reason: &'static str) -> Self {
        Control::Close {
            code: Some(code),
            reason,
            drain: true,
        }
    }

    /// Close 1008 for a slow consumer, without flushing its queue: it is not reading.
    pub fn slow_consumer() -> Self {
        Control::Close {
            code: Some(1008),
            reason: "slow consumer",
            drain: false,
        }
    }
}

/// The error reply of the raw WebSocket targets to a binary frame (the raw protocol is
/// JSON text).
pub const BINARY_REFUSED: &str = "binary frames are not supported: send JSON text";

/// What the keep-alive timer asks of a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keepalive {
    /// Send a ping (every `idle_timeout / 2`).
    Ping,
    /// Nothing came in for `idle_timeout`: close.
    Expired,
}

/// The idle timer of a raw WebSocket connection: ping every `idle / 2`, expire after
/// `idle` without any incoming frame (pongs count). A zero `idle` disables both.
#[derive(Debug)]
pub struct IdleTimer {
    idle: Duration,
    ticker: Option<tokio::time::Interval>,
    last_seen: tokio::time::Instant,
}

impl IdleTimer {
    pub fn new(idle: Duration) -> Self {
        let now = tokio::time::Instant::now();
        let ticker = (!idle.is_zero()).then(|| {
            let half = (idle / 2).max(Duration::from_millis(1));
            let mut t = tokio::time::interval_at(now + half, half);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        IdleTimer {
            idle,
            ticker,
            last_seen: now,
        }
    }

    /// Records incoming traffic.
    pub fn seen(&mut self) {
        self.last_seen = tokio::time::Instant::now();
    }

    /// The next thing to do; pending forever when disabled. Cancel-safe.
    pub async fn next(&mut self) -> Keepalive {
        match &mut self.ticker {
            None => std::future::pending().await,
            Some(t) => {
                t.tick().await;
                if self.last_seen.elapsed() >= self.idle {
                    Keepalive::Expired
                } else {
                    Keepalive::Ping
                }
            }
        }
    }
}
