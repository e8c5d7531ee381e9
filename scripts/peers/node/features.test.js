// The production features (docs/design.md, "Production features") checked from outside with
// the official clients (`ws`, `socket.io-client`) and plain HTTP. The server under test comes
// from the environment (run-conformance.sh --driver features.test.js sets the first three):
//   WSBENCH_PROTOCOL=raw|sio               which kind of server it is
//   WSBENCH_ADDR=127.0.0.1:PORT            where it listens
//   WSBENCH_SIO_TRANSPORTS=websocket|polling
//   WSBENCH_JWT_SECRET=S                   the server runs with --jwt-secret S
//   WSBENCH_CORS_ORIGIN=http://o.test      the server runs with --cors-origin (this one)
//   WSBENCH_RATE_LIMIT=N                   the server runs with --rate-limit N/s
// Namespaces (and their raw paths) are always checked; each other group only when its
// variable is set. Every client presents a valid token when a secret is set, so the groups
// can run against one server started with every flag. No check sleeps.

import assert from 'node:assert/strict';
import http from 'node:http';
import { afterEach, describe, it } from 'node:test';

import jwt from 'jsonwebtoken';
import { Manager } from 'socket.io-client';
import WebSocket from 'ws';

import { fresh, RawClient, SioClient, TIMEOUT_MS, withTimeout } from './lib/clients.js';

const PROTOCOL = process.env.WSBENCH_PROTOCOL;
const ADDR = process.env.WSBENCH_ADDR;
const SECRET = process.env.WSBENCH_JWT_SECRET;
const ORIGIN = process.env.WSBENCH_CORS_ORIGIN;
const RATE = process.env.WSBENCH_RATE_LIMIT === undefined ? undefined : Number(process.env.WSBENCH_RATE_LIMIT);
const TRANSPORT = process.env.WSBENCH_SIO_TRANSPORTS ?? 'websocket';
const TEST = { timeout: 30_000 };
const HTTP = `http://${ADDR}`;

// Every namespace the servers serve: the four named ones and /ns/0 … /ns/11 (raw: /ws/ns/…).
const NAMESPACES = ['/', '/chat', '/admin', '/notifications', ...Array.from({ length: 12 }, (_, i) => `/ns/${i}`)];
const RAW_PATHS = NAMESPACES.map((ns) => (ns === '/' ? '/ws' : `/ws${ns}`));

/** An HS256 token for the server's secret, valid for a minute (or expired / forged). */
function token({ expired = false, secret = SECRET } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ sub: fresh('user'), exp: expired ? now - 30 : now + 60 }, secret, { algorithm: 'HS256' });
}

const open = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((c) => c.close()));
});

/** A raw client on `path`, with a bearer token when the server wants one. */
async function raw(name, path = '/ws') {
  const headers = SECRET === undefined ? {} : { authorization: `Bearer ${token()}` };
  const c = await RawClient.connect(name, `ws://${ADDR}${path}`, { headers });
  open.push(c);
  return c;
}

/** A Socket.IO client on namespace `nsp`, with `auth: {token}` when the server wants one. */
async function sio(name, nsp = '/', extra = {}) {
  const auth = SECRET === undefined ? {} : { auth: { token: token() } };
  const c = await SioClient.connect(name, `${HTTP}${nsp === '/' ? '' : nsp}`, { ...auth, ...extra });
  open.push(c);
  return c;
}

const connectTo = (name, i) => (PROTOCOL === 'raw' ? raw(name, RAW_PATHS[i]) : sio(name, NAMESPACES[i]));

/** The HTTP status of a raw upgrade attempt that must be refused, and the body. */
function refusedUpgrade(url, options = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
      ws.once('open', () => {
        ws.terminate();
        reject(new Error(`${url}: the upgrade was accepted`));
      });
      ws.once('unexpected-response', (req, res) => {
        const socket = res.socket;
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => {
          // The refusal may leave the HTTP connection open (keep-alive): drop it.
          socket.destroy();
          req.destroy();
          resolve({ status: res.statusCode, body });
        });
        res.on('error', reject);
      });
      ws.once('error', () => {});
    }),
    `refused upgrade of ${url}`,
  );
}

/** The CONNECT_ERROR message of a Socket.IO connect that must be refused. */
function refusedConnect(nsp, options) {
  const socket = new Manager(HTTP, {
    transports: [TRANSPORT],
    reconnection: false,
    timeout: TIMEOUT_MS,
  }).socket(nsp, options);
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', () => reject(new Error(`${nsp}: the connect was accepted`)));
      socket.once('connect_error', (e) => resolve(e.message));
    }),
    `refused connect to ${nsp}`,
  ).finally(() => socket.io.engine?.close());
}

describe(`namespaces and raw paths (${PROTOCOL}, ${TRANSPORT})`, () => {
  it('every namespace serves the op set, and broadcasts stay inside it', TEST, async () => {
    const clients = [];
    for (let i = 0; i < NAMESPACES.length; i += 1) {
      clients.push([await connectTo(`a${i}`, i), await connectTo(`b${i}`, i)]);
    }
    for (const [i, [a, b]] of clients.entries()) {
      const data = { from: i, seq: 1, t: 1, pad: fresh('ns') };
      await a.act('to_all', { data });
      await a.expectMsg(data);
      await b.expectMsg(data);
    }
    // Nothing crossed: each socket's next delivery is its own barrier.
    for (const pair of clients) for (const c of pair) await c.barrier();
  });

  it('rooms of the same name are separate in each namespace', TEST, async () => {
    const room = fresh('room');
    const a = await connectTo('chat-member', 1);
    const b = await connectTo('admin-member', 2);
    await a.act('join', { room });
    await b.act('join', { room });
    const data = { from: 0, seq: 2, t: 2, pad: 'x' };
    await a.act('to_room', { room, data });
    await a.expectMsg(data);
    await b.barrier();
  });

  if (PROTOCOL === 'sio') {
    it('namespaces multiplex over one connection', TEST, async () => {
      const manager = new Manager(HTTP, { transports: [TRANSPORT], reconnection: false, timeout: TIMEOUT_MS });
      const auth = SECRET === undefined ? {} : { auth: { token: token() } };
      const chat = await sio('chat', '/chat', { manager, nsp: '/chat', ...auth });
      const admin = await sio('admin', '/admin', { manager, nsp: '/admin', ...auth });
      assert.equal(chat.socket.io, admin.socket.io, 'one Manager, one Engine.IO connection');
      const data = { from: 1, seq: 3, t: 3, pad: 'y' };
      await chat.act('to_all', { data });
      await chat.expectMsg(data);
      await admin.barrier();
      manager.engine.close();
    });

    it('an unknown namespace is refused', TEST, async () => {
      const auth = SECRET === undefined ? {} : { auth: { token: token() } };
      assert.match(await refusedConnect('/nope', auth), /invalid namespace/i);
    });
  } else {
    it('an unknown path is refused before the upgrade', TEST, async () => {
      const headers = SECRET === undefined ? {} : { authorization: `Bearer ${token()}` };
      const { status } = await refusedUpgrade(`ws://${ADDR}/ws/nope`, { headers });
      assert.equal(status, 404);
    });
  }
});

describe(`JWT at the handshake (${PROTOCOL}, ${TRANSPORT})`, { skip: SECRET === undefined }, () => {
  if (PROTOCOL === 'raw') {
    it('a valid token in Authorization: Bearer or ?token= is admitted', TEST, async () => {
      await raw('bearer');
      const c = await RawClient.connect('query', `ws://${ADDR}/ws/chat?token=${token()}`);
      open.push(c);
    });

    it('missing, forged and expired tokens get HTTP 401 and the server keeps serving', TEST, async () => {
      const url = `ws://${ADDR}/ws`;
      const cases = [
        {},
        { headers: { authorization: `Bearer ${token({ secret: 'not-the-secret' })}` } },
        { headers: { authorization: `Bearer ${token({ expired: true })}` } },
        { headers: { authorization: 'Bearer not.a.jwt' } },
      ];
      for (const options of cases) {
        const { status, body } = await refusedUpgrade(url, options);
        assert.equal(status, 401);
        assert.match(body, /unauthorized/);
      }
      assert.equal((await refusedUpgrade(`${url}?token=${token({ expired: true })}`)).status, 401);
      const c = await raw('after-refusals');
      await c.barrier();
    });
  } else {
    it('missing, forged and expired tokens get CONNECT_ERROR unauthorized on every namespace', TEST, async () => {
      for (const nsp of NAMESPACES) {
        assert.equal(await refusedConnect(nsp, {}), 'unauthorized');
        assert.equal(await refusedConnect(nsp, { auth: { token: token({ secret: 'nope' }) } }), 'unauthorized');
        assert.equal(await refusedConnect(nsp, { auth: { token: token({ expired: true }) } }), 'unauthorized');
      }
      const c = await sio('after-refusals', '/chat');
      await c.barrier();
    });
  }
});

/**
 * One plain HTTP request on its own connection (`Connection: close`, so no keep-alive
 * socket outlives the test): status, headers and body text.
 */
function request(method, path, headers = {}, body = undefined) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request(`${HTTP}${path}`, { method, headers: { connection: 'close', ...headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    }),
    `${method} ${path}`,
  );
}

/** A CORS check: `path` requested from `origin`. */
const cors = (method, path, origin, extraHeaders = {}, body = undefined) =>
  request(method, path, { origin, ...extraHeaders }, body);

/** The server's /api/stats. */
const stats = async () => JSON.parse((await request('GET', '/api/stats')).body);

describe(`CORS (${PROTOCOL})`, { skip: ORIGIN === undefined }, () => {
  const allowed = (res) => {
    const got = res.headers['access-control-allow-origin'];
    assert.ok(got === ORIGIN || got === '*', `access-control-allow-origin: ${got}`);
  };

  it('REST: a preflight is answered and the actual request carries the header', TEST, async () => {
    const pre = await cors('OPTIONS', '/api/dashboard', ORIGIN, {
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    assert.ok(pre.status === 200 || pre.status === 204, `preflight status ${pre.status}`);
    allowed(pre);
    assert.match(pre.headers['access-control-allow-methods'] ?? '', /POST/);
    const get = await cors('GET', '/api/dashboard', ORIGIN);
    assert.equal(get.status, 200);
    allowed(get);
  });

  it('REST: another origin gets no allow header (when a list is set)', TEST, async (t) => {
    if (ORIGIN === '*') t.skip('every origin is allowed');
    const res = await cors('GET', '/api/dashboard', 'http://elsewhere.invalid');
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });

  if (PROTOCOL === 'sio') {
    it('Engine.IO polling: preflight and handshake carry the header', TEST, async () => {
      const path = '/socket.io/?EIO=4&transport=polling';
      const pre = await cors('OPTIONS', path, ORIGIN, { 'access-control-request-method': 'GET' });
      assert.ok(pre.status === 200 || pre.status === 204, `preflight status ${pre.status}`);
      allowed(pre);
      const open = await cors('GET', path, ORIGIN);
      assert.equal(open.status, 200);
      allowed(open);
    });

    it('Engine.IO polling: a non-simple POST is preflighted, allowed and answered', TEST, async () => {
      // A browser page on ORIGIN whose requests carry an extra header (engine.io-client's
      // extraHeaders): each POST of the session follows a preflight, as `wsbench run` with
      // cors = "preflight" does.
      const extra = { authorization: 'Bearer x' };
      const open = await cors('GET', '/socket.io/?EIO=4&transport=polling', ORIGIN, extra);
      assert.equal(open.status, 200);
      allowed(open);
      const { sid } = JSON.parse(open.body.slice(1));
      const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
      const pre = await cors('OPTIONS', path, ORIGIN, {
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      });
      assert.ok(pre.status === 200 || pre.status === 204, `preflight status ${pre.status}`);
      allowed(pre);
      assert.match(pre.headers['access-control-allow-methods'] ?? '', /POST/);
      assert.match(pre.headers['access-control-allow-headers'] ?? '', /authorization/i);
      const connect = SECRET === undefined ? '40' : `40${JSON.stringify({ token: token() })}`;
      const post = await cors(
        'POST',
        path,
        ORIGIN,
        { ...extra, 'content-type': 'text/plain;charset=UTF-8' },
        connect,
      );
      assert.equal(post.status, 200, post.body);
      allowed(post);
      // the CONNECT went through: the next poll carries the reply, readable by the page
      const poll = await cors('GET', path, ORIGIN, extra);
      assert.equal(poll.status, 200);
      allowed(poll);
      // (records are split by \x1e; a ping may come first)
      assert.ok(
        poll.body.split('\x1e').some((p) => p.startsWith('40{"sid":')),
        `no CONNECT reply in ${JSON.stringify(poll.body)}`,
      );
      // a page on another origin gets no allow header on the preflight
      const other = await cors('OPTIONS', path, 'http://elsewhere.invalid', {
        'access-control-request-method': 'POST',
      });
      if (ORIGIN !== '*') assert.equal(other.headers['access-control-allow-origin'], undefined);
    });
  }
});

describe(`rate limiting (${PROTOCOL}, ${TRANSPORT})`, { skip: RATE === undefined }, () => {
  const isLimited = (item) =>
    PROTOCOL === 'raw'
      ? item === '{"op":"error","reason":"rate limited"}'
      : item.event === 'error' && item.args[0] === 'rate limited';

  it('over the limit a request is refused with "rate limited", counted, and others are unaffected', TEST, async () => {
    const before = await stats();
    const greedy = await connectTo('greedy', 0);
    const calm = await connectTo('calm', 0);
    const sent = RATE * 3;
    for (let seq = 0; seq < sent; seq += 1) greedy.fire('echo', { data: { from: 0, seq, t: seq, pad: '' } });
    // Every request gets exactly one answer: its echo, or the refusal.
    let refused = 0;
    for (let i = 0; i < sent; i += 1) {
      if (isLimited(await greedy.inbox.next(`answer ${i} of ${sent}`))) refused += 1;
    }
    assert.ok(refused >= RATE, `${refused} of ${sent} refused; a bucket holds ${RATE}`);
    assert.ok(refused <= sent - RATE, `${refused} of ${sent} refused; the first ${RATE} fit the bucket`);
    // The calm client's own bucket is full: its requests all go through.
    const { data } = await calm.act('echo', { data: { calm: true } });
    assert.deepEqual(data, { calm: true });
    const after = await stats();
    assert.equal(after.rate_limited - (before.rate_limited ?? 0), refused, 'the server counted every refusal');
  });
});
