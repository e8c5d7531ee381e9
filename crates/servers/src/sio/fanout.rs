//! The delivery path of the `sio-socketioxide` target: every `msg` (and the data-carrying
//! `echo` ack) goes through [`Deliveries::deliver`], which applies the injected faults and
//! counts deliveries socketioxide could not queue.
//!
//! Where the faults act:
//! - `delay`: the op's handler task sleeps `delay` before it emits (each Socket.IO event
//!   runs in its own task, so delays overlap and add latency without serialising).
//! - `stall_once`: the first delivery sets a deadline `now + stall`; every delivery that
//!   starts before the deadline waits until it, so the whole delivery path stalls once.
//! - `drop_every` k: deliveries are counted per recipient over the whole server and every
//!   k-th is skipped (counted in `fault_dropped`). To count per recipient, fan-out is
//!   resolved to the local sockets and emitted one by one while this fault is on; without it
//!   fan-out is socketioxide's own broadcast (encoded once), which is what is measured.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::{BroadcastError, SendError, SocketIo};
use tokio::time::Instant;

use crate::config::Faults;

/// Who receives a delivery.
pub(crate) enum Audience<A: Adapter> {
    /// Every socket, the sender included (`io.emit`).
    All,
    /// Every socket but this one (`socket.broadcast().emit`).
    Others(SocketRef<A>),
    /// Members of a room, the sender included if a member (`io.to(room).emit`).
    Room(String),
    /// One socket (`to_id`, `echo`); `None` when the id names no connected socket.
    One(Option<SocketRef<A>>),
}

/// Delivery counters and fault state shared by every socket of one server.
pub(crate) struct Deliveries {
    /// The faults to inject.
    faults: Faults,
    /// Deliveries attempted while `drop_every` is on (1-based count for k, 2k, …).
    attempted: AtomicU64,
    /// When the one-time stall ends, set at the first delivery.
    stall_until: OnceLock<Instant>,
    /// Deliveries socketioxide refused (full per-socket queue, closed socket): results.
    pub(crate) dropped: Arc<AtomicU64>,
    /// Deliveries skipped on purpose by `drop_every`.
    pub(crate) fault_dropped: Arc<AtomicU64>,
}

impl Deliveries {
    pub(crate) fn new(faults: Faults) -> Self {
        Deliveries {
            faults,
            attempted: AtomicU64::new(0),
            stall_until: OnceLock::new(),
            dropped: Arc::new(AtomicU64::new(0)),
            fault_dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Applies `delay` and `stall_once`; called once per op before it emits.
    pub(crate) async fn before_delivery(&self) {
        if let Some(stall) = self.faults.stall_once {
            let until = *self.stall_until.get_or_init(|| Instant::now() + stall);
            tokio::time::sleep_until(until).await;
        }
        if let Some(delay) = self.faults.delay {
            tokio::time::sleep(delay).await;
        }
    }

    /// Whether this single delivery is the k-th one `drop_every` skips (and counts it).
    pub(crate) fn skip_this(&self) -> bool {
        match self.faults.drop_every {
            Some(k) if k > 0 => {
                let n = self.attempted.fetch_add(1, Ordering::Relaxed) + 1;
                let skip = n.is_multiple_of(k);
                if skip {
                    self.fault_dropped.fetch_add(1, Ordering::Relaxed);
                }
                skip
            }
            _ => false,
        }
    }

    /// Emits `msg(data)` to `audience`, after the faults, counting refused deliveries.
    ///
    /// In a cluster socketioxide's adapter carries `All`, `Others` and `Room` to every node;
    /// `drop_every` then counts only this node's recipients (it is a single-node fault).
    pub(crate) async fn deliver<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        audience: Audience<A>,
        data: &Value,
    ) {
        self.before_delivery().await;
        if self.faults.drop_every.is_some() {
            let sockets = match audience {
                Audience::All => io.broadcast().sockets(),
                Audience::Others(s) => s.broadcast().sockets(),
                Audience::Room(room) => io.to(room).sockets(),
                Audience::One(s) => s.into_iter().collect(),
            };
            for s in sockets {
                if !self.skip_this() {
                    self.count_send(s.emit("msg", data));
                }
            }
            return;
        }
        match audience {
            Audience::All => self.count_broadcast(io.emit("msg", data).await),
            Audience::Others(s) => self.count_broadcast(s.broadcast().emit("msg", data).await),
            Audience::Room(room) => self.count_broadcast(io.to(room).emit("msg", data).await),
            Audience::One(Some(s)) => self.count_send(s.emit("msg", data)),
            Audience::One(None) => {}
        }
    }

    /// Counts a failed single-socket send as one dropped delivery.
    pub(crate) fn count_send(&self, r: Result<(), SendError>) {
        if let Err(e) = r {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("sio: delivery dropped: {e}");
        }
    }

    /// Counts each recipient a broadcast could not reach as one dropped delivery.
    pub(crate) fn count_broadcast(&self, r: Result<(), BroadcastError>) {
        match r {
            Ok(()) => {}
            Err(BroadcastError::Socket(errs)) => {
                self.dropped.fetch_add(errs.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("sio: broadcast failed: {e}");
            }
        }
    }
}
