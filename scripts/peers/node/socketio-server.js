#!/usr/bin/env node
// `node-socketio`: THE reference Socket.IO server (docs/design.md §2–§4). socket.io 4.8 on an
// http server, namespace `/`, both transports (polling and websocket), default parser and
// ping settings, the library's own rooms; plus the REST routes of §4 (lib/rest.js) on the
// same port. A dashboard write is pushed to room `dashboard` as event `update`.
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
import { createRest } from './lib/rest.js';

const opts = parseArgs(process.argv.slice(2));
const db = await openOrExit(() => openDashboard(opts.database));
// In a cluster (`--adapter`): @socket.io/redis-adapter carries io.emit, socket.broadcast,
// io.to(room) and io.to(socketId) to every node (socket ids are random, unique across nodes).
const redis = opts.adapter === undefined ? undefined : await openOrExit(() => connectRedis(opts.adapter));

let io;
const rest = createRest(db, (rowText) => io.to('dashboard').emit('update', JSON.parse(rowText)), {
  // A gauge like the Rust Socket.IO target's: reset leaves it alone. socket.io buffers
  // without bound and drops nothing, so there is no `dropped` counter to report.
  entries: () => [['connected', io.engine.clientsCount]],
  reset: () => {},
});
const server = http.createServer((req, res) => {
  if (!rest(req, res)) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});
io = new Server(server, {
  maxHttpBufferSize: opts.maxMessageBytes,
  serveClient: false,
  transports: ['polling', 'websocket'],
  ...(redis && { adapter: createAdapter(redis.pub, redis.sub, { key: opts.adapterPrefix }) }),
});

/** Splits off a trailing ack callback; `args` are the event's other arguments. */
function withAck(handler) {
  return (...args) => {
    const ack = typeof args.at(-1) === 'function' ? args.pop() : undefined;
    handler(args, ack);
  };
}

const isRoom = (r) => typeof r === 'string' || typeof r === 'number';

io.on('connection', (socket) => {
  socket.on(
    'join',
    withAck(([room], ack) => {
      if (!isRoom(room)) return;
      socket.join(room);
      ack?.();
    }),
  );
  socket.on(
    'leave',
    withAck(([room], ack) => {
      if (!isRoom(room)) return;
      socket.leave(room);
      ack?.();
    }),
  );
  socket.on(
    'to_all',
    withAck(([data], ack) => {
      io.emit('msg', data);
      ack?.();
    }),
  );
  socket.on(
    'to_others',
    withAck(([data], ack) => {
      socket.broadcast.emit('msg', data);
      ack?.();
    }),
  );
  socket.on(
    'to_room',
    withAck(([room, data], ack) => {
      if (!isRoom(room)) return;
      io.to(room).emit('msg', data);
      ack?.();
    }),
  );
  socket.on(
    'to_id',
    withAck(([id, data], ack) => {
      if (typeof id !== 'string') return;
      io.to(id).emit('msg', data);
      ack?.();
    }),
  );
  socket.on(
    'echo',
    withAck(([data], ack) => {
      if (ack !== undefined) ack(data);
      else socket.emit('msg', data);
    }),
  );
});

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
