//! RoomHub: the registry of sockets and rooms the three raw targets share, and fan-out.
//!
//! A broadcast's frame is encoded once and every recipient gets a clone of the same shared
//! buffer (a refcount bump). Each connection owns a bounded outbound queue of
//! `cfg.outbound_queue` frames and `cfg.outbound_queue_bytes` bytes (`crate::queue_bytes`)
//! drained by its writer task; fan-out never waits: a full queue triggers the
//! slow-consumer policy (drop that delivery, or close that connection). A join beyond the
//! room limits (`crate::room_limits`) is refused.
//! Fan-out runs under a read lock that is never held across an `.await`; membership changes
//! take the write lock briefly. Counters are updated once per fan-out, not per recipient.
//!
//! Fault injection ([`Faults`]) lives here too: `delay` stamps each delivery with a due
//! time its writer waits for (keeping order), `drop_every` skips every k-th delivery of the
//! whole server, and `stall_once` makes the first delivery hold the delivery path
//! ([`RoomHub::stall_gate`]) for the given time.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cluster::Relay;
use crate::config::{Faults, ServerConfig, SlowConsumer};
use crate::production::RateLimit;
use crate::queue_bytes::{ByteBudget, QueueCharge};
use crate::room_limits::{RoomLimits, RoomRefused};

/// The hub's own id of a connection; its decimal text is the socket id clients see.
pub type ConnId = u64;

/// A frame type a transport writes without re-encoding, built once per broadcast from the
/// JSON text the `wire::app` encoders produce.
pub trait OutFrame: Clone + Send + Sync + 'static {
    /// Wraps an encoded JSON reply (always valid UTF-8).
    fn from_json(json: Bytes) -> Self;
    /// Payload bytes, charged against the queue's byte bound (`crate::queue_bytes`).
    fn byte_len(&self) -> usize;
}

impl OutFrame for Bytes {
    fn from_json(json: Bytes) -> Self {
        json
    }
    fn byte_len(&self) -> usize {
        self.len()
    }
}

/// One queued outgoing frame.
#[derive(Debug)]
pub struct Outbound<F> {
    pub frame: F,
    /// Not written before this instant (the `delay` fault); `None` when no delay applies.
    pub due: Option<Instant>,
    /// The frame's bytes under the queue's byte bound, released when the writer takes it.
    pub charge: Option<QueueCharge>,
}

/// Counters the hub keeps; shared so a caller (tests, the CLI, `/api/stats`) can read them
/// while the server runs. The `u64` counters are `Arc`s so the REST stats route can publish
/// (and reset) them.
#[derive(Debug, Default)]
pub struct HubStats {
    /// `msg` frames put on a connection's queue.
    deliveries: Arc<AtomicU64>,
    /// Deliveries refused because the recipient's queue was full (slow consumer).
    dropped: Arc<AtomicU64>,
    /// Deliveries skipped on purpose by the `drop_every` fault.
    fault_dropped: Arc<AtomicU64>,
    /// Connections closed by the `Disconnect` slow-consumer policy.
    slow_disconnects: Arc<AtomicU64>,
    /// Requests refused by `--rate-limit` (each answered `rate limited`).
    rate_limited: Arc<AtomicU64>,
    /// The longest any outbound queue has been right after a delivery (never above the bound).
    queue_high_water: AtomicUsize,
    /// Connections registered now (a watch, so a caller can wait for a socket to be gone).
    connections: tokio::sync::watch::Sender<usize>,
    /// Rooms with at least one member now, over every hub sharing these stats (a gauge in
    /// `/api/stats`: a room is gone once its last member leaves or disconnects).
    rooms: Arc<AtomicU64>,
}

impl HubStats {
    pub fn deliveries(&self) -> u64 {
        self.deliveries.load(Ordering::Relaxed)
    }
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    pub fn fault_dropped(&self) -> u64 {
        self.fault_dropped.load(Ordering::Relaxed)
    }
    pub fn slow_disconnects(&self) -> u64 {
        self.slow_disconnects.load(Ordering::Relaxed)
    }
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
    pub(crate) fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
    pub fn queue_high_water(&self) -> usize {
        self.queue_high_water.load(Ordering::Relaxed)
    }
    pub fn connections(&self) -> usize {
        *self.connections.borrow()
    }

    pub fn rooms(&self) -> u64 {
        self.rooms.load(Ordering::Relaxed)
    }

    /// The gauges `/api/stats` publishes (reset leaves them), by name.
    pub fn gauges(&self) -> [(&'static str, Arc<AtomicU64>); 1] {
        [("rooms", self.rooms.clone())]
    }

    /// Resolves once the number of registered connections satisfies `pred`.
    pub async fn wait_connections(&self, pred: impl FnMut(&usize) -> bool) {
        let mut rx = self.connections.subscribe();
        // The sender lives in `self`, so the watch cannot close while we wait.
        let _ = rx.wait_for(pred).await;
    }

    /// The counters `/api/stats` publishes, by name.
    pub fn published(&self) -> [(&'static str, Arc<AtomicU64>); 5] {
        [
            ("deliveries", self.deliveries.clone()),
            ("dropped", self.dropped.clone()),
            ("fault_dropped", self.fault_dropped.clone()),
            ("slow_disconnects", self.slow_disconnects.clone()),
            ("rate_limited", self.rate_limited.clone()),
        ]
    }
}

/// What a fan-out needs to reach one connection.
#[derive(Debug)]
struct Handle<F> {
    tx: mpsc::Sender<Outbound<F>>,
    /// Cancelled to make the connection close itself (slow consumer under `Disconnect`).
    kick: CancellationToken,
    /// The queue's byte bound.
    bytes: ByteBudget,
}

impl<F> Clone for Handle<F> {
    fn clone(&self) -> Self {
        Handle {
            tx: self.tx.clone(),
            kick: self.kick.clone(),
            bytes: self.bytes.clone(),
        }
    }
}

#[derive(Debug)]
struct Peer<F> {
    handle: Handle<F>,
    /// The rooms this socket is in, so closing it leaves them all without a scan.
    rooms: HashSet<Box<str>>,
}

#[derive(Debug)]
struct State<F> {
    sockets: HashMap<ConnId, Peer<F>>,
    /// Room name -> members; members carry their handle so a room fan-out is one lookup.
    rooms: HashMap<Box<str>, HashMap<ConnId, Handle<F>>>,
}

/// What a transport gets when it registers a connection.
#[derive(Debug)]
pub struct Registration<F> {
    pub id: ConnId,
    /// The connection's own queue, for its replies (welcome, ack, error).
    pub tx: mpsc::Sender<Outbound<F>>,
    /// The writer task drains this.
    pub rx: mpsc::Receiver<Outbound<F>>,
    /// Cancelled when the hub wants this connection closed (slow consumer).
    pub kicked: CancellationToken,
    /// The byte bound of the queue; replies take their charge from it.
    pub bytes: ByteBudget,
}

/// Per-fan-out tallies, added to [`HubStats`] once at the end.
#[derive(Default)]
struct Tally {
    delivered: u64,
    dropped: u64,
    fault_dropped: u64,
    disconnects: u64,
    high_water: usize,
}

/// The shared registry of sockets and rooms of one raw server.
#[derive(Debug)]
pub struct RoomHub<F> {
    state: RwLock<State<F>>,
    next_id: AtomicU64,
    /// Bound of every outbound queue, in frames.
    queue: usize,
    /// Bound of every outbound queue, in bytes.
    queue_bytes: usize,
    /// Rooms per connection and room-name size.
    room_limits: RoomLimits,
    policy: SlowConsumer,
    faults: Faults,
    /// Deliveries counted for `drop_every` (1-based over the whole server).
    fault_seq: AtomicU64,
    /// When the `stall_once` stall ends; set by the first delivery.
    stall_until: OnceLock<Instant>,
    /// `--rate-limit`: each session takes a bucket of this rate.
    rate_limit: Option<RateLimit>,
    stats: Arc<HubStats>,
    /// The link to the other nodes when the server runs in a cluster (`--adapter`); set
    /// once at start, before any connection ([`crate::cluster`]).
    relay: OnceLock<Arc<Relay>>,
}

impl<F: OutFrame> RoomHub<F> {
    /// A hub with `cfg`'s queue bound, slow-consumer policy and faults, counting into `stats`.
    pub fn new(cfg: &ServerConfig, stats: Arc<HubStats>) -> Self {
        RoomHub {
            state: RwLock::new(State {
                sockets: HashMap::new(),
                rooms: HashMap::new(),
            }),
            next_id: AtomicU64::new(1),
            queue: cfg.outbound_queue.max(1),
            queue_bytes: cfg.outbound_queue_bytes,
            room_limits: RoomLimits::new(cfg),
            policy: cfg.slow_consumer,
            faults: cfg.faults.clone(),
            fault_seq: AtomicU64::new(0),
            stall_until: OnceLock::new(),
            rate_limit: cfg.production.rate_limit,
            stats,
            relay: OnceLock::new(),
        }
    }

    /// Puts this hub in a cluster: ids start at `first_id` (they carry the node number)
    /// and ops are relayed to other nodes. Called once, before any connection registers.
    pub(crate) fn join_cluster(&self, relay: Arc<Relay>, first_id: ConnId) {
        self.next_id.store(first_id, Ordering::Relaxed);
        let _ = self.relay.set(relay);
    }

    /// The link to the other nodes, when in a cluster.
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.get().map(|r| &**r)
    }

    pub fn stats(&self) -> &Arc<HubStats> {
        &self.stats
    }

    /// The per-connection request rate, if limited.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    // A panic while holding the lock cannot leave the maps half-updated in a way that
    // matters more than stopping the server would, so poisoning is ignored.
    fn read(&self) -> RwLockReadGuard<'_, State<F>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, State<F>> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection with a fresh id and an empty bounded queue.
    pub fn register(&self) -> Registration<F> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.queue);
        let kicked = CancellationToken::new();
        let bytes = ByteBudget::new(self.queue_bytes);
        let handle = Handle {
            tx: tx.clone(),
            kick: kicked.clone(),
            bytes: bytes.clone(),
        };
        self.write().sockets.insert(
            id,
            Peer {
                handle,
                rooms: HashSet::new(),
            },
        );
        self.stats.connections.send_modify(|n| *n += 1);
        Registration {
            id,
            tx,
            rx,
            kicked,
            bytes,
        }
    }

    /// Removes a closed connection from the registry and from every room it was in.
    pub fn unregister(&self, id: ConnId) {
        let mut st = self.write();
        let Some(peer) = st.sockets.remove(&id) else {
            return;
        };
        for room in peer.rooms {
            if let Some(members) = st.rooms.get_mut(&room) {
                members.remove(&id);
                if members.is_empty() {
                    st.rooms.remove(&room);
                    self.stats.rooms.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        drop(st);
        self.stats.connections.send_modify(|n| *n -= 1);
    }

    /// Adds connection `id` to `room`, unless that breaks the room limits.
    pub fn join(&self, id: ConnId, room: &str) -> Result<(), RoomRefused> {
        let mut st = self.write();
        let st = &mut *st;
        let Some(peer) = st.sockets.get_mut(&id) else {
            return Ok(());
        };
        if peer.rooms.contains(room) {
            return Ok(());
        }
        self.room_limits.check(room, peer.rooms.len())?;
        peer.rooms.insert(room.into());
        let members = st.rooms.entry(room.into()).or_insert_with(|| {
            self.stats.rooms.fetch_add(1, Ordering::Relaxed);
            HashMap::new()
        });
        members.insert(id, peer.handle.clone());
        Ok(())
    }

    pub fn leave(&self, id: ConnId, room: &str) {
        let mut st = self.write();
        let st = &mut *st;
        let Some(peer) = st.sockets.get_mut(&id) else {
            return;
        };
        if !peer.rooms.remove(room) {
            return;
        }
        if let Some(members) = st.rooms.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                st.rooms.remove(room);
                self.stats.rooms.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Number of members of `room` (0 when it does not exist).
    pub fn room_len(&self, room: &str) -> usize {
        self.read().rooms.get(room).map_or(0, HashMap::len)
    }

    /// Frames waiting in connection `id`'s queue, if it is registered.
    pub fn queue_len(&self, id: ConnId) -> Option<usize> {
        self.read()
            .sockets
            .get(&id)
            .map(|p| self.queue - p.handle.tx.capacity())
    }

    /// Waits out the `stall_once` fault: the first caller starts the stall, and every
    /// delivery that arrives before it ends waits for it too. Free when the fault is off.
    pub async fn stall_gate(&self) {
        if let Some(stall) = self.faults.stall_once {
            let until = *self.stall_until.get_or_init(|| Instant::now() + stall);
            tokio::time::sleep_until(until).await;
        }
    }

    fn due(&self) -> Option<Instant> {
        self.faults.delay.map(|d| Instant::now() + d)
    }

    /// Every socket, sender included. Returns the number of queued deliveries.
    pub fn to_all(&self, frame: F) -> u64 {
        let due = self.due();
        let mut t = Tally::default();
        let st = self.read();
        for peer in st.sockets.values() {
            self.deliver(&peer.handle, &frame, due, &mut t);
        }
        drop(st);
        self.record(t)
    }

    /// Every socket but `sender`.
    pub fn to_others(&self, sender: ConnId, frame: F) -> u64 {
        let due = self.due();
        let mut t = Tally::default();
        let st = self.read();
        for (id, peer) in &st.sockets {
            if *id != sender {
                self.deliver(&peer.handle, &frame, due, &mut t);
            }
        }
        drop(st);
        self.record(t)
    }

    /// Every member of `room` (the sender too if it is a member).
    pub fn to_room(&self, room: &str, frame: F) -> u64 {
        let due = self.due();
        let mut t = Tally::default();
        let st = self.read();
        if let Some(members) = st.rooms.get(room) {
            for handle in members.values() {
                self.deliver(handle, &frame, due, &mut t);
            }
        }
        drop(st);
        self.record(t)
    }

    /// Only the socket whose id text is `id`; nothing when there is no such socket.
    pub fn to_id(&self, id: &str, frame: F) -> u64 {
        match parse_id(id) {
            Some(id) => self.to_conn(id, frame),
            None => 0,
        }
    }

    /// Only connection `id` (echo uses this for the sender itself).
    pub fn to_conn(&self, id: ConnId, frame: F) -> u64 {
        let due = self.due();
        let mut t = Tally::default();
        let st = self.read();
        if let Some(peer) = st.sockets.get(&id) {
            self.deliver(&peer.handle, &frame, due, &mut t);
        }
        drop(st);
        self.record(t)
    }

    /// The REST push: `frame` (an encoded `{"op":"msg",…}`) to every member of `room`.
    /// In a cluster the push reaches the room's members on every node.
    pub fn push_to_room(&self, room: &str, frame: Bytes) -> u64 {
        if let Some(relay) = self.relay() {
            relay.to_room(room, &frame);
        }
        self.to_room(room, F::from_json(frame))
    }

    fn deliver(&self, h: &Handle<F>, frame: &F, due: Option<Instant>, t: &mut Tally) {
        if h.kick.is_cancelled() {
            // Already being closed as a slow consumer: this delivery is lost with it.
            t.dropped += 1;
            return;
        }
        if let Some(k) = self.faults.drop_every {
            let n = self.fault_seq.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(k) {
                t.fault_dropped += 1;
                return;
            }
        }
        let Some(charge) = h.bytes.try_charge(frame.byte_len()) else {
            self.full(h, t);
            return;
        };
        match h.tx.try_send(Outbound {
            frame: frame.clone(),
            due,
            charge: Some(charge),
        }) {
            Ok(()) => {
                t.delivered += 1;
                t.high_water = t.high_water.max(self.queue - h.tx.capacity());
            }
            Err(mpsc::error::TrySendError::Full(_)) => self.full(h, t),
            // The connection is closing; it unregisters itself right after.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// A delivery found `h`'s queue full (frames or bytes): the slow-consumer policy.
    fn full(&self, h: &Handle<F>, t: &mut Tally) {
        t.dropped += 1;
        if self.policy == SlowConsumer::Disconnect {
            h.kick.cancel();
            t.disconnects += 1;
        }
    }

    fn record(&self, t: Tally) -> u64 {
        let s = &self.stats;
        if t.delivered > 0 {
            s.deliveries.fetch_add(t.delivered, Ordering::Relaxed);
            s.queue_high_water
                .fetch_max(t.high_water, Ordering::Relaxed);
        }
        if t.dropped > 0 {
            s.dropped.fetch_add(t.dropped, Ordering::Relaxed);
        }
        if t.fault_dropped > 0 {
            s.fault_dropped
                .fetch_add(t.fault_dropped, Ordering::Relaxed);
        }
        if t.disconnects > 0 {
            s.slow_disconnects
                .fetch_add(t.disconnects, Ordering::Relaxed);
        }
        t.delivered
    }
}

/// Socket ids are canonical decimals: `"7"` names socket 7, `"07"` and `"+7"` name nothing.
pub(crate) fn parse_id(id: &str) -> Option<ConnId> {
    let canonical = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    if canonical { id.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(queue: usize, policy: SlowConsumer) -> RoomHub<Bytes> {
        let cfg = ServerConfig {
            outbound_queue: queue,
            slow_consumer: policy,
            ..Default::default()
        };
        RoomHub::new(&cfg, Arc::default())
    }

    #[test]
    fn rooms_fan_out_and_close_leaves_rooms() {
        let h = hub(8, SlowConsumer::Drop);
        let mut a = h.register();
        let mut b = h.register();
        h.join(a.id, "r").unwrap();
        h.join(a.id, "r").unwrap();
        assert_eq!(h.room_len("r"), 1);
        assert_eq!(h.to_room("r", Bytes::from_static(b"x")), 1);
        assert_eq!(&a.rx.try_recv().unwrap().frame[..], b"x");
        assert!(b.rx.try_recv().is_err());
        assert_eq!(h.to_all(Bytes::from_static(b"y")), 2);
        assert_eq!(h.to_others(a.id, Bytes::from_static(b"z")), 1);
        assert_eq!(h.to_id(&b.id.to_string(), Bytes::from_static(b"w")), 1);
        assert_eq!(h.to_id(&format!("0{}", b.id), Bytes::from_static(b"w")), 0);
        h.unregister(a.id);
        assert_eq!(h.room_len("r"), 0);
        assert_eq!(h.to_room("r", Bytes::from_static(b"x")), 0);
        assert_eq!(h.stats().deliveries(), 5);
        assert_eq!(h.stats().connections(), 1);
    }

    #[test]
    fn full_queue_drops_or_kicks() {
        let h = hub(2, SlowConsumer::Drop);
        let a = h.register();
        for _ in 0..5 {
            h.to_all(Bytes::from_static(b"m"));
        }
        assert_eq!((h.stats().deliveries(), h.stats().dropped()), (2, 3));
        assert_eq!(h.queue_len(a.id), Some(2));
        assert_eq!(h.stats().queue_high_water(), 2);
        assert!(!a.kicked.is_cancelled());

        let h = hub(1, SlowConsumer::Disconnect);
        let a = h.register();
        h.to_all(Bytes::from_static(b"m"));
        h.to_all(Bytes::from_static(b"m"));
        assert!(a.kicked.is_cancelled());
        assert_eq!(h.stats().slow_disconnects(), 1);
    }

    #[test]
    fn drop_every_counts_over_the_server() {
        let cfg = ServerConfig {
            faults: Faults {
                drop_every: Some(3),
                ..Default::default()
            },
            ..Default::default()
        };
        let h: RoomHub<Bytes> = RoomHub::new(&cfg, Arc::default());
        let _a = h.register();
        let _b = h.register();
        for _ in 0..3 {
            h.to_all(Bytes::from_static(b"m"));
        }
        assert_eq!((h.stats().deliveries(), h.stats().fault_dropped()), (4, 2));
    }
}
