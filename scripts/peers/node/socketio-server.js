#!/usr/bin/env node
// `node-socketio`: THE reference Socket.IO server (docs/design.md §2–§4). socket.io 4.8 on an
// http server, namespaces `/`, `/chat`, `/admin`, `/notifications` and `/ns/0` … `/ns/11` (each with the full op
// set; broadcasts and rooms stay inside their namespace), both transports (polling and
// websocket), default parser and ping settings, the library's own rooms; plus the REST routes
// of §4 (lib/rest.js) on the same port. A dashboard write is pushed to room `dashboard` of
// namespace `/` as event `update`. --jwt-secret (a namespace middleware: CONNECT_ERROR
// `unauthorized`), --cors-origin (socket.io's own `cors` option for polling, lib/production.js
// for REST) and --rate-limit (event `error("rate limited")`) are lib/production.js's.
//
// Events (docs/design.md §3): join(room), leave(room), to_all(data), to_others(data),
// to_room(room, data), to_id(id, data), echo(data); the server emits msg(data). When the
// last argument is an ack callback it is called after the op: echo acks with its data
// (and emits no msg), every other op acks with no arguments.

import http from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';

import { parseArgs } from './lib/cli.js';
import { closeRedis, connectRedis } from './lib/cluster.js';
import { openDashboard } from './lib/db.js';
import { openOrExit, serveUntilSignal } from './lib/lifecycle.js';
import {
  NAMESPACES,
  RATE_LIMITED,
  TokenBucket,
  UNAUTHORIZED,
  corsOptions,
  validToken,
  withCors,
} from './lib/production.js';
import { createRest } from './lib/rest.js';

/** Events refused by --rate-limit since the last stats reset. */
let rateLimited = 0;

const opts = parseArgs(process.argv.slice(2));
const db = await openOrExit(() => openDashboard(opts.database));
// In a cluster (`--adapter`): @socket.io/redis-adapter carries io.emit, socket.broadcast,
// io.to(room) and io.to(socketId) to every node (socket ids are random, unique across nodes).
const redis = opts.adapter === undefined ? undefined : await openOrExit(() => connectRedis(opts.adapter));

let io;
const rest = createRest(db, (rowText) => io.to('dashboard').emit('update', JSON.parse(rowText)), {
  // A gauge like the Rust Socket.IO target's: reset leaves it alone. socket.io buffers
  // without bound and drops nothing, so there is no `dropped` counter to report.
  entries: () => [
    ['connected', io.engine.clientsCount],
    ['rate_limited', rateLimited],
    // a gauge: rooms of every namespace's adapter, each socket's own room included
    ['rooms', [...io._nsps.values()].reduce((n, nsp) => n + nsp.adapter.rooms.size, 0)],
  ],
  reset: () => {
    rateLimited = 0;
  },
});
const server = http.createServer(
  withCors(opts.corsOrigins, (req, res) => {
    if (!rest(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  }),
);
io = new Server(server, {
  maxHttpBufferSize: opts.maxMessageBytes,
  serveClient: false,
  transports: ['polling', 'websocket'],
  ...(redis && { adapter: createAdapter(redis.pub, redis.sub, { key: opts.adapterPrefix }) }),
  cors: corsOptions(opts.corsOrigins),
  // --connection-state-recovery (`[restart]` rows): a client back within two minutes gets
  // its session and the packets it missed, from this process's memory
  ...(opts.connectionStateRecovery && {
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
  }),
});

/**
 * Splits off a trailing ack callback; `args` are the event's other arguments. With
 * --rate-limit an event over the socket's rate is answered `error("rate limited")`, counted,
 * and not handled.
 */
function withAck(socket, handler) {
  return (...args) => {
    if (socket.data.bucket !== undefined && !socket.data.bucket.tryTake()) {
      rateLimited += 1;
      socket.emit('error', RATE_LIMITED);
      return;
    }
    const ack = typeof args.at(-1) === 'function' ? args.pop() : undefined;
    handler(args, ack);
  };
}

const isRoom = (r) => typeof r === 'string' || typeof r === 'number';

/** Serves the op set on namespace `nsp`; every broadcast stays inside it. */
function serveNamespace(nsp) {
  if (opts.jwtSecret !== undefined) {
    nsp.use((socket, next) => {
      next(validToken(opts.jwtSecret, socket.handshake.auth?.token) ? undefined : new Error(UNAUTHORIZED));
    });
  }
  nsp.on('connection', (socket) => onConnection(nsp, socket));
}

function onConnection(nsp, socket) {
  if (opts.rateLimit !== undefined) socket.data.bucket = new TokenBucket(opts.rateLimit);
  socket.on(
    'join',
    withAck(socket, ([room], ack) => {
      if (!isRoom(room)) return;
      socket.join(room);
      ack?.();
    }),
  );
  socket.on(
    'leave',
    withAck(socket, ([room], ack) => {
      if (!isRoom(room)) return;
      socket.leave(room);
      ack?.();
    }),
  );
  socket.on(
    'to_all',
    withAck(socket, ([data], ack) => {
      nsp.emit('msg', data);
      ack?.();
    }),
  );
  socket.on(
    'to_others',
    withAck(socket, ([data], ack) => {
      socket.broadcast.emit('msg', data);
      ack?.();
    }),
  );
  socket.on(
    'to_room',
    withAck(socket, ([room, data], ack) => {
      if (!isRoom(room)) return;
      nsp.to(room).emit('msg', data);
      ack?.();
    }),
  );
  socket.on(
    'to_id',
    withAck(socket, ([id, data], ack) => {
      if (typeof id !== 'string') return;
      nsp.to(id).emit('msg', data);
      ack?.();
    }),
  );
  socket.on(
    'echo',
    withAck(socket, ([data], ack) => {
      if (ack !== undefined) ack(data);
      else socket.emit('msg', data);
    }),
  );
}

for (const name of NAMESPACES) serveNamespace(io.of(name));

await serveUntilSignal(
  server,
  opts,
  async () => {
    io.disconnectSockets(true);
    // io.close() also closes the http server; lifecycle closes it again, which is harmless
    // only if it is still open, so let io close the engine alone here.
    io.engine.close();
    if (redis !== undefined) await closeRedis(redis);
  },
  db,
);
