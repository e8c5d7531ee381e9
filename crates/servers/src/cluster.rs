//! Clusters over Redis (`serve --adapter redis://…`): the [`AdapterConfig`] every target
//! reads, and [`Relay`], which carries the raw targets' fan-out between nodes over Redis
//! pub/sub. (`sio-socketioxide` uses `socketioxide-redis` instead: see `crate::sio`.)
//!
//! Design (docs/cluster.md): a node delivers to its own sockets at once, through its
//! [`RoomHub`], and publishes the op for the other nodes, which deliver it to theirs. Three
//! kinds of channels, under a prefix (`wsbench` by default):
//! - `{prefix}#all`: `to_all` and `to_others` (the sender lives on the publishing node, so
//!   every other node delivers to all its sockets). Every node subscribes.
//! - `{prefix}#room#{room}`: `to_room`. A node subscribes when one of its sockets first
//!   joins the room, and the join is acknowledged only once Redis confirmed the
//!   subscription, so a `to_room` published after a member's join ack reaches it.
//!   Subscriptions are kept when the room empties (a later message for it finds no member).
//! - `{prefix}#node#{n}`: `to_id` of a socket on node `n`. A socket id carries its node
//!   number in its upper 32 bits ([`node_of`]), so `to_id` is one message to one node, not a
//!   broadcast. Node numbers come from `INCR {prefix}#nodes`, unique per Redis.
//!
//! Every message carries its origin node; a node ignores its own (it delivered already),
//! so each recipient gets a delivery exactly once. One connection publishes, in order, from
//! one task: ops from one sender reach every node in the order the sender sent them.

use std::collections::HashSet;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use bytes::{Buf, Bytes};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::error::ServerError;
use crate::hub::{ConnId, OutFrame, RoomHub};

/// How long a node waits for Redis to answer at start before it gives up.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// Publishes sent to Redis in one pipeline at most.
const PUBLISH_BATCH: usize = 256;
/// Bits of a socket id below its node number.
const NODE_SHIFT: u32 = 32;

/// Where a server's cluster lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterConfig {
    /// `redis://HOST:PORT` (RESP3 is asked for by the node itself).
    pub url: String,
    /// Names every channel and key of this cluster, so clusters on one Redis stay apart.
    pub prefix: String,
}

impl AdapterConfig {
    /// The default channel prefix.
    pub const DEFAULT_PREFIX: &str = "wsbench";

    /// Checks `--adapter`: a `redis://` or `rediss://` URL.
    pub fn parse(url: &str, prefix: &str) -> Result<Self, String> {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(format!(
                "unsupported adapter {url:?}: use redis://HOST:PORT"
            ));
        }
        if prefix.is_empty() || prefix.contains('#') {
            return Err(format!(
                "adapter prefix {prefix:?} must be non-empty and contain no '#'"
            ));
        }
        redis::Client::open(resp3(url)).map_err(|e| format!("adapter URL {url:?}: {e}"))?;
        Ok(AdapterConfig {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The URL with `protocol=resp3` (pub/sub on a multiplexed connection needs RESP3).
    pub fn resp3_url(&self) -> String {
        resp3(&self.url)
    }
}

fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

/// The node number a socket id was issued by.
pub fn node_of(id: ConnId) -> u64 {
    id >> NODE_SHIFT
}

/// The first socket id node `node` issues.
pub fn first_id(node: u64) -> ConnId {
    (node << NODE_SHIFT) | 1
}

/// A raw target's link to the other nodes of its cluster. Held by its [`RoomHub`].
#[derive(Debug)]
pub struct Relay {
    /// This node's number (unique on this Redis and prefix).
    node: u64,
    prefix: String,
    /// Commands: subscriptions are awaited here; publishes go through `publish`.
    conn: MultiplexedConnection,
    /// To the publisher task, in op order: (channel, payload).
    publish: mpsc::UnboundedSender<(String, Vec<u8>)>,
    /// Rooms whose channel this node is subscribed to.
    rooms: RwLock<HashSet<Box<str>>>,
    /// Serialises subscribing, so a second join of a new room waits for the first.
    subscribing: tokio::sync::Mutex<()>,
}

impl Relay {
    pub fn node(&self) -> u64 {
        self.node
    }

    fn all_channel(&self) -> String {
        format!("{}#all", self.prefix)
    }
    fn room_channel(&self, room: &str) -> String {
        format!("{}#room#{room}", self.prefix)
    }
    fn node_channel(&self, node: u64) -> String {
        format!("{}#node#{node}", self.prefix)
    }

    fn send(&self, channel: String, target: Option<ConnId>, json: &[u8]) {
        let mut payload = Vec::with_capacity(16 + json.len());
        payload.extend_from_slice(&self.node.to_be_bytes());
        if let Some(id) = target {
            payload.extend_from_slice(&id.to_be_bytes());
        }
        payload.extend_from_slice(json);
        // The publisher lives as long as the relay's hub; after shutdown nothing is sent.
        let _ = self.publish.send((channel, payload));
    }

    /// `to_all` / `to_others`: every socket of every other node.
    pub fn to_all(&self, json: &[u8]) {
        self.send(self.all_channel(), None, json);
    }

    /// `to_room`: the members of `room` on every other node.
    pub fn to_room(&self, room: &str, json: &[u8]) {
        self.send(self.room_channel(room), None, json);
    }

    /// `to_id`: sends to the node that issued `id` when that is another node. Returns
    /// whether it did (a local or malformed id is not sent anywhere).
    pub fn to_id(&self, id: &str, json: &[u8]) -> bool {
        let Some(id) = crate::hub::parse_id(id) else {
            return false;
        };
        let node = node_of(id);
        if node == self.node || node == 0 {
            return false;
        }
        self.send(self.node_channel(node), Some(id), json);
        true
    }

    /// Makes sure this node hears `to_room` for `room` from every node; returns once Redis
    /// confirmed the subscription.
    pub async fn subscribe_room(&self, room: &str) -> Result<(), redis::RedisError> {
        if self.subscribed(room) {
            return Ok(());
        }
        let _one = self.subscribing.lock().await;
        if self.subscribed(room) {
            return Ok(());
        }
        self.conn.clone().subscribe(self.room_channel(room)).await?;
        self.rooms
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(room.into());
        Ok(())
    }

    fn subscribed(&self, room: &str) -> bool {
        self.rooms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(room)
    }
}

/// Checks that the cluster's Redis answers (PING), so a node can refuse to start before it
/// says it listens.
pub async fn check_redis(cfg: &AdapterConfig) -> Result<(), ServerError> {
    let fail = |e: &dyn std::fmt::Display| {
        ServerError::Config(format!("adapter {}: Redis does not answer: {e}", cfg.url))
    };
    let client = redis::Client::open(cfg.resp3_url()).map_err(|e| fail(&e))?;
    let conn_cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&conn_cfg)
        .await
        .map_err(|e| fail(&e))?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map_err(|e| fail(&e))?;
    Ok(())
}

/// Connects `hub` to the cluster at `cfg`: takes a node number, subscribes to the shared
/// and this node's channels, starts the publisher and receiver tasks, and makes `hub` issue
/// ids of this node. Fails with a clear error when Redis does not answer.
pub(crate) async fn join<F: OutFrame>(
    hub: &Arc<RoomHub<F>>,
    cfg: &AdapterConfig,
) -> Result<(), ServerError> {
    let unreachable =
        |e: &dyn std::fmt::Display| ServerError::Config(format!("adapter {}: {e}", cfg.url));
    let client = redis::Client::open(cfg.resp3_url()).map_err(|e| unreachable(&e))?;
    let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
    let conn_cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_push_sender(push_tx);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&conn_cfg)
        .await
        .map_err(|e| unreachable(&format!("Redis does not answer: {e}")))?;
    let node: u64 = redis::cmd("INCR")
        .arg(format!("{}#nodes", cfg.prefix))
        .query_async(&mut conn)
        .await
        .map_err(|e| unreachable(&e))?;
    let (publish, publish_rx) = mpsc::unbounded_channel();
    let relay = Arc::new(Relay {
        node,
        prefix: cfg.prefix.clone(),
        conn: conn.clone(),
        publish,
        rooms: RwLock::new(HashSet::new()),
        subscribing: tokio::sync::Mutex::new(()),
    });
    for channel in [relay.all_channel(), relay.node_channel(node)] {
        conn.subscribe(channel).await.map_err(|e| unreachable(&e))?;
    }
    hub.join_cluster(relay.clone(), first_id(node));
    tokio::spawn(publisher(conn, publish_rx));
    tokio::spawn(receiver(Arc::downgrade(hub), relay, push_rx));
    tracing::info!(
        "cluster: node {node} on {} (prefix {})",
        cfg.url,
        cfg.prefix
    );
    Ok(())
}

/// Sends queued publishes in order, as pipelines of what is waiting. Ends when the relay
/// (and so its sender) is dropped.
async fn publisher(
    mut conn: MultiplexedConnection,
    mut rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for (channel, payload) in batch.drain(..) {
            pipe.publish(channel, payload).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::error!(
                "cluster: publishing to Redis failed, deliveries to other nodes lost: {e}"
            );
        }
    }
}

/// Delivers what other nodes published to this node's sockets. Ends when the hub is gone
/// or the Redis connection closes.
async fn receiver<F: OutFrame>(
    hub: Weak<RoomHub<F>>,
    relay: Arc<Relay>,
    mut rx: mpsc::UnboundedReceiver<PushInfo>,
) {
    let all = relay.all_channel();
    let room_prefix = relay.room_channel("");
    let own = relay.node_channel(relay.node);
    drop(relay);
    while let Some(push) = rx.recv().await {
        let Some(hub) = hub.upgrade() else { return };
        match push.kind {
            PushKind::Message => {}
            PushKind::Disconnection => {
                tracing::error!("cluster: the Redis connection closed; this node is cut off");
                return;
            }
            _ => continue,
        }
        let mut data = push.data.into_iter();
        let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
            (data.next(), data.next())
        else {
            continue;
        };
        let Some(msg) = Message::decode(payload, channel == own.as_bytes()) else {
            tracing::warn!("cluster: malformed relay message ignored");
            continue;
        };
        if msg.origin == hub.relay().map_or(0, Relay::node) {
            continue;
        }
        let frame = F::from_json(msg.json);
        if channel == all.as_bytes() {
            hub.to_all(frame);
        } else if let Some(target) = msg.target {
            hub.to_conn(target, frame);
        } else if let Some(room) = channel.strip_prefix(room_prefix.as_bytes())
            && let Ok(room) = std::str::from_utf8(room)
        {
            hub.to_room(room, frame);
        }
    }
}

/// One relayed op as read from a channel.
struct Message {
    origin: u64,
    /// `to_id`'s socket (node channels only).
    target: Option<ConnId>,
    /// The encoded `{"op":"msg",…}` frame.
    json: Bytes,
}

impl Message {
    fn decode(payload: Vec<u8>, targeted: bool) -> Option<Self> {
        let mut b = Bytes::from(payload);
        let header = if targeted { 16 } else { 8 };
        if b.len() < header {
            return None;
        }
        let origin = b.get_u64();
        let target = targeted.then(|| b.get_u64());
        Some(Message {
            origin,
            target,
            json: b,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_node() {
        assert_eq!(node_of(first_id(3)), 3);
        assert_eq!(node_of(first_id(3) + 41), 3);
        assert_eq!(node_of(7), 0);
    }

    #[test]
    fn adapter_urls() {
        let a = AdapterConfig::parse("redis://127.0.0.1:6379", "wsbench").unwrap();
        assert_eq!(a.resp3_url(), "redis://127.0.0.1:6379?protocol=resp3");
        let a = AdapterConfig::parse("redis://h:1/0?x=1", "p").unwrap();
        assert_eq!(a.resp3_url(), "redis://h:1/0?x=1&protocol=resp3");
        assert!(AdapterConfig::parse("http://h:1", "p").is_err());
        assert!(AdapterConfig::parse("redis://h:1", "a#b").is_err());
        assert!(AdapterConfig::parse("redis://h:1", "").is_err());
    }

    #[test]
    fn messages_decode() {
        let mut p = 5u64.to_be_bytes().to_vec();
        p.extend_from_slice(&9u64.to_be_bytes());
        p.extend_from_slice(b"{}");
        let m = Message::decode(p.clone(), true).unwrap();
        assert_eq!((m.origin, m.target, &m.json[..]), (5, Some(9), &b"{}"[..]));
        let m = Message::decode(p, false).unwrap();
        assert_eq!((m.origin, m.target), (5, None));
        assert!(Message::decode(vec![1, 2], false).is_none());
    }
}
