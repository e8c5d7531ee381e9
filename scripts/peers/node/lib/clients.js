// Test clients for the conformance driver, built on the OFFICIAL client libraries (`ws`
// for the raw protocol, `socket.io-client` for Socket.IO). Both expose one shape, so the
// semantic checks are written once:
//   Client.connect(name)          open + handshake (raw: the welcome frame; Socket.IO: CONNECT)
//   c.id                          the socket id the server announced
//   c.act(op, args)               do an op WITH an ack and wait for the ack (bounded);
//                                 returns the ack's data (echo) and how many deliveries had
//                                 already arrived when the ack did
//   c.fire(op, args)              do an op without an ack
//   c.expectMsg(data)             the NEXT delivery must be msg(data) (raw: byte-exact)
//   c.barrier()                   echo a fresh token to self; it must be the next delivery,
//                                 which proves nothing else was queued for this socket
//   c.close()                     close and wait until closed (bounded)
// Every wait is bounded by WSBENCH_TIMEOUT_MS (default 5000).

import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { io as sioConnect } from 'socket.io-client';

export const TIMEOUT_MS = Number(process.env.WSBENCH_TIMEOUT_MS ?? 5000);

let tokenSeq = 0;
/** A fresh name (room, token) unique in this process. */
export function fresh(prefix) {
  tokenSeq += 1;
  return `${prefix}-${process.pid}-${tokenSeq}`;
}

/** Rejects with `what` if `promise` has not settled within the timeout. */
export function withTimeout(promise, what, ms = TIMEOUT_MS) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** What a client has received and not yet consumed, with bounded waits. */
export class Inbox {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = [];
    /** Why the connection ended, once it has. */
    this.ended = null;
  }

  push(item) {
    this.items.push(item);
    this.wake();
  }

  end(reason) {
    this.ended = reason;
    this.wake();
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Removes and returns the first item matching `pred`, waiting for one if needed. */
  async take(pred, what) {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const i = this.items.findIndex(pred);
      if (i >= 0) return this.items.splice(i, 1)[0];
      const pending = `; unconsumed: ${show(this.items)}`;
      if (this.ended !== null) {
        throw new Error(`${this.name}: connection ended (${this.ended}) while waiting for ${what}${pending}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${what} within ${TIMEOUT_MS} ms${pending}`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  next(what) {
    return this.take(() => true, what);
  }
}

function show(items) {
  const text = JSON.stringify(items.map((i) => (typeof i === 'string' ? clip(i) : i)));
  return clip(text, 400);
}

function clip(s, n = 200) {
  return s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s;
}

/** A raw-protocol client (docs/design.md §3) on the `ws` library. Frames are kept as text. */
export class RawClient {
  /** `options` go to the `ws` client as they are (e.g. `headers` for a bearer token). */
  static async connect(name, url = process.env.WSBENCH_RAW_URL, options = {}) {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20, ...options });
    const c = new RawClient(ws, name);
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      }),
      `${name}: WebSocket handshake with ${url}`,
    );
    const frame = await c.inbox.next('welcome frame');
    assert.match(frame, /^\{"op":"welcome","id":"(?:[^"\\]|\\.)+"\}$/, `${name}: welcome frame`);
    c.id = JSON.parse(frame).id;
    return c;
  }

  constructor(ws, name) {
    this.ws = ws;
    this.name = name;
    this.inbox = new Inbox(name);
    this.ackSeq = 0;
    /** Resolves with the close code when the connection closes. */
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.inbox.end(`close ${code} ${reason.toString()}`);
        resolve(code);
      });
    });
    ws.on('message', (data, isBinary) => {
      this.inbox.push(isBinary ? `<binary frame of ${data.length} bytes>` : data.toString('utf8'));
    });
    ws.on('error', () => {}); // the close event carries what happened
  }

  /** Sends raw text (or bytes as a text frame) exactly as given. */
  sendText(text) {
    this.ws.send(text, { binary: false });
  }

  request(op, args, ack) {
    const req = { op, ...args };
    if (ack !== undefined) req.ack = ack;
    this.sendText(JSON.stringify(req));
  }

  async act(op, args) {
    this.ackSeq += 1;
    const n = this.ackSeq;
    this.request(op, args, n);
    const reply = await this.inbox.take(
      (f) => !f.startsWith('{"op":"msg"'),
      `ack ${n} of ${op}`,
    );
    const before = this.inbox.items.length;
    if (op === 'echo') {
      assert.equal(reply, `{"op":"ack","ack":${n},"data":${JSON.stringify(args.data)}}`, `${this.name}: echo ack`);
      return { data: args.data, before };
    }
    assert.equal(reply, `{"op":"ack","ack":${n}}`, `${this.name}: ack of ${op}`);
    return { data: undefined, before };
  }

  fire(op, args) {
    this.request(op, args);
  }

  async expectMsg(data, what = 'msg') {
    const frame = await this.inbox.next(what);
    assert.equal(frame, `{"op":"msg","data":${JSON.stringify(data)}}`, `${this.name}: ${what}`);
  }

  async barrier() {
    const token = { barrier: fresh(this.name) };
    this.fire('echo', { data: token });
    await this.expectMsg(token, 'barrier echo (the next delivery must be it)');
  }

  async close() {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    try {
      await withTimeout(this.closed, `${this.name}: close handshake`);
    } catch {
      this.ws.terminate();
    }
  }
}

/** Positional Socket.IO arguments of each op (docs/design.md §3). */
const SIO_ARGS = {
  join: (a) => [a.room],
  leave: (a) => [a.room],
  to_all: (a) => [a.data],
  to_others: (a) => [a.data],
  to_room: (a) => [a.room, a.data],
  to_id: (a) => [a.id, a.data],
  echo: (a) => [a.data],
};

/** A Socket.IO client on the official `socket.io-client`. */
export class SioClient {
  /**
   * `url` may end in a namespace (`http://host:port/chat`); `options` go to socket.io-client
   * as they are (e.g. `auth: {token}`). With `options.manager` the socket is opened on that
   * Manager instead (namespaces multiplexed over one connection).
   */
  static async connect(name, url = process.env.WSBENCH_SIO_URL, options = {}) {
    const transport = process.env.WSBENCH_SIO_TRANSPORTS ?? 'websocket';
    const { manager, nsp, ...rest } = options;
    const socket =
      manager !== undefined
        ? manager.socket(nsp ?? '/', rest)
        : sioConnect(url, {
            transports: [transport],
            forceNew: true,
            reconnection: false,
            timeout: TIMEOUT_MS,
            ...rest,
          });
    const c = new SioClient(socket, name);
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      }),
      `${name}: Socket.IO connect to ${url} over ${transport}`,
    ).catch((e) => {
      socket.close();
      throw e;
    });
    assert.equal(typeof socket.id, 'string', `${name}: socket id`);
    assert.ok(socket.id.length > 0, `${name}: socket id is empty`);
    c.id = socket.id;
    return c;
  }

  constructor(socket, name) {
    this.socket = socket;
    this.name = name;
    this.inbox = new Inbox(name);
    socket.onAny((event, ...args) => this.inbox.push({ event, args }));
    socket.on('disconnect', (reason) => this.inbox.end(`disconnect: ${reason}`));
  }

  async act(op, args) {
    const data = await this.socket.timeout(TIMEOUT_MS).emitWithAck(op, ...SIO_ARGS[op](args));
    return { data, before: this.inbox.items.length };
  }

  fire(op, args) {
    this.socket.emit(op, ...SIO_ARGS[op](args));
  }

  async expectMsg(data, what = 'msg') {
    const got = await this.inbox.next(what);
    assert.deepEqual(got, { event: 'msg', args: [data] }, `${this.name}: ${what}`);
  }

  async barrier() {
    const token = { barrier: fresh(this.name) };
    this.fire('echo', { data: token });
    await this.expectMsg(token, 'barrier echo (the next delivery must be it)');
  }

  async close() {
    if (this.socket.disconnected) return;
    this.socket.disconnect();
  }
}
