// Clusters over Redis for the Node peers (`--adapter redis://HOST:PORT`, docs/cluster.md):
// the Redis connections both peers open, and `RawRelay`, node-ws's relay between nodes. It
// is the Node twin of the Rust raw targets' relay (crates/servers/src/cluster.rs), with the
// same channels and message layout:
//   `${prefix}#all`          to_all / to_others: every node delivers to all its sockets
//   `${prefix}#room#${room}` to_room: subscribed while a socket of this node is in the room
//                            (a join is acknowledged once Redis confirmed the subscription)
//   `${prefix}#node#${n}`    to_id of a socket of node n (its id carries n: n * 2^32 + k)
// A message is the origin node (8 bytes, big-endian), for node channels the target socket
// id (8 bytes), then the encoded `{"op":"msg",…}` frame. A node ignores its own messages: it
// delivered to its own sockets already. node-socketio uses @socket.io/redis-adapter instead.

import { createClient } from 'redis';

/** How long a node waits for Redis at start. */
const CONNECT_TIMEOUT_MS = 5000;
/** Socket ids of node n are n * 2^32 + k (k = 1, 2, …), as in the Rust servers. */
const NODE_SPAN = 2 ** 32;

/** Loses the cluster: say so and exit 1 (a node cut off from Redis measures nothing). */
function fatal(url) {
  return (e) => {
    process.stderr.write(`adapter ${url}: Redis connection lost: ${e.message}\n`);
    process.exit(1);
  };
}

/**
 * Opens a publishing and a subscribing connection to Redis at `url`; throws a clear error
 * when Redis does not answer.
 * @returns {Promise<{pub: import('redis').RedisClientType, sub: import('redis').RedisClientType}>}
 */
export async function connectRedis(url) {
  const pub = createClient({
    url,
    socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false },
  });
  const sub = pub.duplicate();
  try {
    await pub.connect();
    await sub.connect();
  } catch (e) {
    throw new Error(`adapter ${url}: Redis does not answer: ${e.message}`);
  }
  pub.on('error', fatal(url));
  sub.on('error', fatal(url));
  return { pub, sub };
}

/** Closes both connections (shutdown). */
export async function closeRedis({ pub, sub }) {
  pub.removeAllListeners('error');
  sub.removeAllListeners('error');
  await Promise.allSettled([sub.quit(), pub.quit()]);
}

function header(origin, target) {
  const b = Buffer.alloc(target === undefined ? 8 : 16);
  b.writeBigUInt64BE(BigInt(origin), 0);
  if (target !== undefined) b.writeBigUInt64BE(BigInt(target), 8);
  return b;
}

/** node-ws's link to the other nodes of its cluster. */
export class RawRelay {
  /**
   * Joins the cluster: takes a node number (INCR `${prefix}#nodes`) and subscribes to the
   * shared and this node's channels. `deliver` hands other nodes' messages to local sockets:
   * `{ all(frame), room(room, frame), conn(id, frame) }`, each frame a Buffer.
   */
  static async open(url, prefix, deliver) {
    const redis = await connectRedis(url);
    const node = await redis.pub.incr(`${prefix}#nodes`);
    const relay = new RawRelay(redis, url, prefix, node, deliver);
    await redis.sub.subscribe(relay.allChannel, (m) => relay.receive(m, (f) => deliver.all(f), false), true);
    await redis.sub.subscribe(
      `${prefix}#node#${node}`,
      (m) => relay.receive(m, (f, target) => deliver.conn(String(target), f), true),
      true,
    );
    return relay;
  }

  constructor(redis, url, prefix, node, deliver) {
    this.redis = redis;
    this.url = url;
    this.prefix = prefix;
    /** This node's number, unique on this Redis and prefix. */
    this.node = node;
    this.deliver = deliver;
    this.allChannel = `${prefix}#all`;
    /** Rooms subscribed to, or being subscribed to (room -> Promise). */
    this.rooms = new Map();
  }

  /** The id of this node's k-th socket. */
  socketId(k) {
    return String(this.node * NODE_SPAN + k);
  }

  receive(message, handle, targeted) {
    if (message.length < (targeted ? 16 : 8)) return;
    if (Number(message.readBigUInt64BE(0)) === this.node) return;
    const target = targeted ? message.readBigUInt64BE(8) : undefined;
    handle(message.subarray(targeted ? 16 : 8), target);
  }

  publish(channel, frame, target) {
    const payload = Buffer.concat([header(this.node, target), Buffer.from(frame)]);
    // commands of one connection go out in order: one sender's ops stay in order
    this.redis.pub.publish(channel, payload).catch(fatal(this.url));
  }

  toAll(frame) {
    this.publish(this.allChannel, frame);
  }

  toRoom(room, frame) {
    this.publish(`${this.prefix}#room#${room}`, frame);
  }

  /** Sends to the node that issued `id` when that is another node; returns whether it did. */
  toId(id, frame) {
    if (!/^(0|[1-9][0-9]*)$/.test(id)) return false;
    const n = BigInt(id);
    const node = Number(n / BigInt(NODE_SPAN));
    if (node === 0 || node === this.node || n >= 2n ** 64n) return false;
    this.publish(`${this.prefix}#node#${node}`, frame, n);
    return true;
  }

  /** Resolves once this node hears `to_room` for `room` from every node. */
  subscribeRoom(room) {
    let done = this.rooms.get(room);
    if (done === undefined) {
      done = this.redis.sub.subscribe(
        `${this.prefix}#room#${room}`,
        (m) => this.receive(m, (f) => this.deliver.room(room, f), false),
        true,
      );
      this.rooms.set(room, done);
    }
    return done;
  }

  close() {
    return closeRedis(this.redis);
  }
}
