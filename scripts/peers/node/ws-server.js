#!/usr/bin/env node
// `node-ws`: the reference raw WebSocket peer (docs/design.md §2–§4). An http server carries a
// `ws` WebSocketServer on the paths /ws, /ws/chat, /ws/admin, /ws/notifications and /ws/ns/0 … /ws/ns/11 (one room
// hub each, the raw mirror of the Socket.IO namespaces) speaking the raw protocol of §3
// byte-exact (see lib/raw-protocol.js), plus the REST routes of §4 (lib/rest.js) on the same
// port; the dashboard push goes to room `dashboard` of /ws. --jwt-secret, --cors-origin and
// --rate-limit are lib/production.js's.
//
// Limits: a message over --max-message-bytes closes with 1009 and invalid UTF-8 with 1007
// (both enforced by `ws`). A socket whose buffered outbound bytes exceed
// --outbound-buffer-bytes gets no more frames until it drains: each frame not sent is
// dropped and counted (the Rust servers' default "drop and count" slow-consumer policy);
// the count is printed on stderr at exit.

import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';

import { parseArgs } from './lib/cli.js';
import { RawRelay } from './lib/cluster.js';
import { openDashboard } from './lib/db.js';
import { openOrExit, serveUntilSignal } from './lib/lifecycle.js';
import * as proto from './lib/raw-protocol.js';
import {
  RATE_LIMITED,
  RAW_PATHS,
  TokenBucket,
  UNAUTHORIZED,
  requestToken,
  validToken,
  withCors,
} from './lib/production.js';
import { createRest } from './lib/rest.js';

const opts = parseArgs(process.argv.slice(2));
const db = await openOrExit(() => openDashboard(opts.database));


/** One connected socket. */
class Conn {
  constructor(ws, id, hub) {
    this.ws = ws;
    /** The id sent in `welcome`, the address of `to_id`. */
    this.id = id;
    /** The hub of this socket's path; ops never leave it. */
    this.hub = hub;
    /** Rooms this socket is in, so a closed socket leaves them all. */
    this.rooms = new Set();
    /** Whether the socket showed life (message or pong) since the last ping tick. */
    this.alive = true;
    /** In a cluster: this socket's requests in order (a join may wait for Redis). */
    this.queue = Promise.resolve();
    /** --rate-limit: this socket's token bucket. */
    this.bucket = opts.rateLimit === undefined ? undefined : new TokenBucket(opts.rateLimit);
  }
}

/** Rooms and sockets of one path (the Node twin of the Rust servers' room hub). */
class Hub {
  constructor() {
    this.rooms = new Map(); // room -> Set<Conn>
    this.byId = new Map(); // id -> Conn
  }
}
const hubs = new Map(RAW_PATHS.map((path) => [path, new Hub()]));
let nextId = 0;
/** Deliveries (`msg` frames) handed to a socket since the last stats reset. */
let deliveries = 0;
/** Frames not sent because the recipient's outbound buffer was over the bound (since the
 * last stats reset; `droppedTotal` since start, printed at exit). */
let dropped = 0;
let droppedTotal = 0;
/** Requests refused by --rate-limit since the last stats reset. */
let rateLimited = 0;

/** Sends one frame (string, or a Buffer shared by every recipient of a broadcast). */
function send(conn, frame) {
  if (conn.ws.readyState !== WebSocket.OPEN) return;
  if (conn.ws.bufferedAmount > opts.outboundBufferBytes) {
    dropped += 1;
    droppedTotal += 1;
    return false;
  }
  conn.ws.send(frame, { binary: false });
  return true;
}

/** Sends a `msg` frame, counting it as a delivery. */
function deliver(conn, frame) {
  if (send(conn, frame)) deliveries += 1;
}

/** Encodes the frame once and sends the same Buffer to every recipient. */
function fanOut(recipients, text) {
  const frame = Buffer.from(text);
  for (const conn of recipients) deliver(conn, frame);
}

function join(conn, room) {
  let members = conn.hub.rooms.get(room);
  if (members === undefined) {
    members = new Set();
    conn.hub.rooms.set(room, members);
  }
  members.add(conn);
  conn.rooms.add(room);
}

function leave(conn, room) {
  const members = conn.hub.rooms.get(room);
  if (members !== undefined) {
    members.delete(conn);
    if (members.size === 0) conn.hub.rooms.delete(room);
  }
  conn.rooms.delete(room);
}

function* others(sender) {
  for (const conn of sender.hub.byId.values()) if (conn !== sender) yield conn;
}

/** The hub of `/ws`: the dashboard pushes go to it, and in a cluster it is the one clustered. */
const mainHub = hubs.get('/ws');

/**
 * In a cluster (`--adapter`), the link to the other nodes; they deliver to their sockets.
 * Only the `/ws` hub is clustered; the other paths stay local to each node.
 */
const relay =
  opts.adapter === undefined
    ? undefined
    : await openOrExit(() =>
        RawRelay.open(opts.adapter, opts.adapterPrefix, {
          all: (frame) => {
            for (const conn of mainHub.byId.values()) deliver(conn, frame);
          },
          room: (room, frame) => {
            const members = mainHub.rooms.get(room);
            if (members !== undefined) for (const conn of members) deliver(conn, frame);
          },
          conn: (id, frame) => {
            const target = mainHub.byId.get(id);
            if (target !== undefined) deliver(target, frame);
          },
        }),
      );

function handle(conn, text) {
  if (conn.bucket !== undefined && !conn.bucket.tryTake()) {
    rateLimited += 1;
    send(conn, proto.error(RATE_LIMITED));
    return;
  }
  let req;
  try {
    req = proto.parseRequest(text);
  } catch (e) {
    if (!(e instanceof proto.RequestError)) throw e;
    send(conn, proto.error(e.message));
    return;
  }
  const hub = conn.hub;
  const r = hub === mainHub ? relay : undefined;
  switch (req.op) {
    case 'join':
      join(conn, req.room);
      if (r !== undefined) {
        // acknowledged once this node hears the room from every node
        return r.subscribeRoom(req.room).then(
          () => {
            if (req.ack !== undefined) send(conn, proto.ack(req.ack));
          },
          (e) => send(conn, proto.error(`join: cluster: ${e.message}`)),
        );
      }
      break;
    case 'leave':
      leave(conn, req.room);
      break;
    case 'to_all': {
      const frame = proto.msg(req.data);
      r?.toAll(frame);
      fanOut(hub.byId.values(), frame);
      break;
    }
    case 'to_others': {
      const frame = proto.msg(req.data);
      r?.toAll(frame);
      fanOut(others(conn), frame);
      break;
    }
    case 'to_room': {
      const frame = proto.msg(req.data);
      r?.toRoom(req.room, frame);
      const members = hub.rooms.get(req.room);
      if (members !== undefined) fanOut(members, frame);
      break;
    }
    case 'to_id': {
      const frame = proto.msg(req.data);
      if (r?.toId(req.id, frame)) break;
      const target = hub.byId.get(req.id);
      if (target !== undefined) deliver(target, frame);
      break;
    }
    case 'echo':
      if (req.ack !== undefined) {
        send(conn, proto.ack(req.ack, req.data));
        return;
      }
      deliver(conn, proto.msg(req.data));
      break;
    default:
      throw new Error(`parseRequest returned unhandled op ${req.op}`);
  }
  if (req.ack !== undefined) send(conn, proto.ack(req.ack));
}

const rest = createRest(
  db,
  (rowText) => {
    relay?.toRoom('dashboard', proto.msg(rowText));
    const members = mainHub.rooms.get('dashboard');
    if (members !== undefined) fanOut(members, proto.msg(rowText));
  },
  {
    entries: () => [
      ['deliveries', deliveries],
      ['dropped', dropped],
      ['rate_limited', rateLimited],
      // a gauge (reset leaves it): rooms with a member, over every raw path
      ['rooms', [...hubs.values()].reduce((n, hub) => n + hub.rooms.size, 0)],
    ],
    reset: () => {
      deliveries = 0;
      dropped = 0;
      rateLimited = 0;
    },
  },
);
const server = http.createServer(
  withCors(opts.corsOrigins, (req, res) => {
    if (!rest(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  }),
);

const wss = new WebSocketServer({
  noServer: true,
  maxPayload: opts.maxMessageBytes,
  perMessageDeflate: false,
  clientTracking: true,
});

/** Answers an upgrade that is refused with a plain HTTP response and closes the socket. */
function refuseUpgrade(socket, status, text) {
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n` +
      (status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '') +
      `\r\n${text}`,
  );
}

// One WebSocketServer for every path; the path picks the hub, and with --jwt-secret the
// token is checked before any upgrade (401 otherwise).
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  const path = new URL(req.url, 'http://x').pathname;
  const hub = hubs.get(path);
  if (hub === undefined) {
    refuseUpgrade(socket, 404, 'not found');
    return;
  }
  if (opts.jwtSecret !== undefined && !validToken(opts.jwtSecret, requestToken(req))) {
    refuseUpgrade(socket, 401, UNAUTHORIZED);
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, hub));
});

wss.on('connection', (ws, hub) => {
  nextId += 1;
  const conn = new Conn(ws, relay === undefined ? String(nextId) : relay.socketId(nextId), hub);
  hub.byId.set(conn.id, conn);
  ws.on('message', (data, isBinary) => {
    conn.alive = true;
    if (isBinary) {
      send(conn, proto.error('binary frames are not accepted: send one JSON object per text frame'));
      return;
    }
    const text = data.toString('utf8');
    if (relay === undefined) handle(conn, text);
    else conn.queue = conn.queue.then(() => handle(conn, text));
  });
  ws.on('pong', () => {
    conn.alive = true;
  });
  // Protocol errors (1009 over-limit, 1007 invalid UTF-8) arrive here; `ws` closes the
  // socket with that code itself.
  ws.on('error', () => {});
  ws.on('close', () => {
    for (const room of conn.rooms) leave(conn, room);
    hub.byId.delete(conn.id);
  });
  send(conn, proto.welcome(conn.id));
});

/** Every connected socket, across the hubs. */
function* allConns() {
  for (const hub of hubs.values()) yield* hub.byId.values();
}

/** Pings every idle/2; a socket that showed no life over a whole period is closed. */
const heartbeat = setInterval(() => {
  for (const conn of allConns()) {
    if (!conn.alive) {
      conn.ws.terminate();
      continue;
    }
    conn.alive = false;
    conn.ws.ping();
  }
}, opts.idleTimeoutMs / 2);
heartbeat.unref();

await serveUntilSignal(
  server,
  opts,
  async () => {
    clearInterval(heartbeat);
    const closed = [...wss.clients].map(
      (ws) =>
        new Promise((resolve) => {
          ws.once('close', resolve);
          ws.close(1001, 'server shutting down');
        }),
    );
    // Peers that do not answer the close handshake are cut after a short wait.
    const cut = setTimeout(() => {
      for (const ws of wss.clients) ws.terminate();
    }, 1000);
    await Promise.all(closed);
    clearTimeout(cut);
    await new Promise((resolve) => wss.close(resolve));
    await relay?.close();
    if (droppedTotal > 0) {
      process.stderr.write(
        `node-ws: dropped ${droppedTotal} frames (outbound buffer over ${opts.outboundBufferBytes} bytes)\n`,
      );
    }
  },
  db,
);
