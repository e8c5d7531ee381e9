#!/usr/bin/env node
// `node-ws`: the reference raw WebSocket peer (docs/design.md §2–§4). An http server carries a
// `ws` WebSocketServer on path /ws speaking the raw protocol of §3 byte-exact (see
// lib/raw-protocol.js), plus the REST routes of §4 (lib/rest.js) on the same port.
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
import { createRest } from './lib/rest.js';

const opts = parseArgs(process.argv.slice(2));
const db = await openOrExit(() => openDashboard(opts.database));

/** One connected socket. */
class Conn {
  constructor(ws, id) {
    this.ws = ws;
    /** The id sent in `welcome`, the address of `to_id`. */
    this.id = id;
    /** Rooms this socket is in, so a closed socket leaves them all. */
    this.rooms = new Set();
    /** Whether the socket showed life (message or pong) since the last ping tick. */
    this.alive = true;
    /** In a cluster: this socket's requests in order (a join may wait for Redis). */
    this.queue = Promise.resolve();
  }
}

/** Rooms and sockets (the Node twin of the Rust servers' room hub). */
const rooms = new Map(); // room -> Set<Conn>
const byId = new Map(); // id -> Conn
let nextId = 0;
/** Deliveries (`msg` frames) handed to a socket since the last stats reset. */
let deliveries = 0;
/** Frames not sent because the recipient's outbound buffer was over the bound (since the
 * last stats reset; `droppedTotal` since start, printed at exit). */
let dropped = 0;
let droppedTotal = 0;

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
  let members = rooms.get(room);
  if (members === undefined) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(conn);
  conn.rooms.add(room);
}

function leave(conn, room) {
  const members = rooms.get(room);
  if (members !== undefined) {
    members.delete(conn);
    if (members.size === 0) rooms.delete(room);
  }
  conn.rooms.delete(room);
}

function* others(sender) {
  for (const conn of byId.values()) if (conn !== sender) yield conn;
}

/** In a cluster (`--adapter`), the link to the other nodes; they deliver to their sockets. */
const relay =
  opts.adapter === undefined
    ? undefined
    : await openOrExit(() =>
        RawRelay.open(opts.adapter, opts.adapterPrefix, {
          all: (frame) => {
            for (const conn of byId.values()) deliver(conn, frame);
          },
          room: (room, frame) => {
            const members = rooms.get(room);
            if (members !== undefined) for (const conn of members) deliver(conn, frame);
          },
          conn: (id, frame) => {
            const target = byId.get(id);
            if (target !== undefined) deliver(target, frame);
          },
        }),
      );

function handle(conn, text) {
  let req;
  try {
    req = proto.parseRequest(text);
  } catch (e) {
    if (!(e instanceof proto.RequestError)) throw e;
    send(conn, proto.error(e.message));
    return;
  }
  switch (req.op) {
    case 'join':
      join(conn, req.room);
      if (relay !== undefined) {
        // acknowledged once this node hears the room from every node
        return relay.subscribeRoom(req.room).then(
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
      relay?.toAll(frame);
      fanOut(byId.values(), frame);
      break;
    }
    case 'to_others': {
      const frame = proto.msg(req.data);
      relay?.toAll(frame);
      fanOut(others(conn), frame);
      break;
    }
    case 'to_room': {
      const frame = proto.msg(req.data);
      relay?.toRoom(req.room, frame);
      const members = rooms.get(req.room);
      if (members !== undefined) fanOut(members, frame);
      break;
    }
    case 'to_id': {
      const frame = proto.msg(req.data);
      if (relay?.toId(req.id, frame)) break;
      const target = byId.get(req.id);
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
    const members = rooms.get('dashboard');
    if (members !== undefined) fanOut(members, proto.msg(rowText));
  },
  {
    entries: () => [
      ['deliveries', deliveries],
      ['dropped', dropped],
    ],
    reset: () => {
      deliveries = 0;
      dropped = 0;
    },
  },
);
const server = http.createServer((req, res) => {
  if (!rest(req, res)) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

const wss = new WebSocketServer({
  server,
  path: '/ws',
  maxPayload: opts.maxMessageBytes,
  perMessageDeflate: false,
  clientTracking: true,
});

wss.on('connection', (ws) => {
  nextId += 1;
  const conn = new Conn(ws, relay === undefined ? String(nextId) : relay.socketId(nextId));
  byId.set(conn.id, conn);
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
    byId.delete(conn.id);
  });
  send(conn, proto.welcome(conn.id));
});

/** Pings every idle/2; a socket that showed no life over a whole period is closed. */
const heartbeat = setInterval(() => {
  for (const conn of byId.values()) {
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
