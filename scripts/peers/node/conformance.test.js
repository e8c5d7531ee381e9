// Conformance of a server to docs/design.md §3 (and §4's REST routes), checked with the
// official clients. The server under test comes from the environment:
//   WSBENCH_RAW_URL=ws://127.0.0.1:PORT/ws       raw protocol checks
//   WSBENCH_SIO_URL=http://127.0.0.1:PORT        Socket.IO checks
//   WSBENCH_SIO_TRANSPORTS=websocket|polling     the Socket.IO client's only transport
//   WSBENCH_HTTP_URL=http://127.0.0.1:PORT       REST checks (push via raw if set, else Socket.IO)
//   WSBENCH_MAX_MESSAGE_BYTES (default 1048576), WSBENCH_TIMEOUT_MS (default 5000)
// Groups whose URL is unset are skipped. Run it with run-conformance.sh, which starts the
// server and sets these. No check sleeps: "did not receive" is proven by a barrier (the
// socket echoes a fresh token to itself, and that echo must be its next delivery).

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import { fresh, RawClient, SioClient, withTimeout } from './lib/clients.js';

const RAW = process.env.WSBENCH_RAW_URL;
const SIO = process.env.WSBENCH_SIO_URL;
const HTTP = process.env.WSBENCH_HTTP_URL;
const MAX_MESSAGE = Number(process.env.WSBENCH_MAX_MESSAGE_BYTES ?? 1 << 20);
const TEST = { timeout: 30_000 };

/** Clients opened by the running test; closed after it whatever happened. */
const open = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((c) => c.close()));
});

async function clients(Client, ...names) {
  const list = await Promise.all(names.map((n) => Client.connect(n)));
  open.push(...list);
  return list;
}

const payload = (from, seq) => ({ from, seq, t: 1_000_000 + seq, pad: 'x'.repeat(16) });

/** The checks whose meaning is the same on every target (docs/design.md §3 tables). */
function semantics(Client) {
  it('connect: every socket gets a distinct string id', TEST, async () => {
    const [a, b] = await clients(Client, 'a', 'b');
    assert.equal(typeof a.id, 'string');
    assert.notEqual(a.id, b.id);
  });

  it('echo: the sender gets msg(data)', TEST, async () => {
    const [a] = await clients(Client, 'a');
    a.fire('echo', { data: payload(0, 1) });
    await a.expectMsg(payload(0, 1));
  });

  it('echo with ack: the ack carries data and no msg is sent', TEST, async () => {
    const [a] = await clients(Client, 'a');
    const { data } = await a.act('echo', { data: payload(0, 2) });
    assert.deepEqual(data, payload(0, 2));
    await a.barrier();
  });

  it('to_all: every socket, sender included; the ack comes after the op', TEST, async () => {
    const [a, b, c] = await clients(Client, 'a', 'b', 'c');
    const { before } = await a.act('to_all', { data: payload(0, 3) });
    assert.ok(before >= 1, "sender's own msg must arrive before its ack");
    await a.expectMsg(payload(0, 3));
    await b.expectMsg(payload(0, 3));
    await c.expectMsg(payload(0, 3));
    await a.barrier();
  });

  it('to_others: every socket but the sender', TEST, async () => {
    const [a, b, c] = await clients(Client, 'a', 'b', 'c');
    await a.act('to_others', { data: payload(0, 4) });
    await b.expectMsg(payload(0, 4));
    await c.expectMsg(payload(0, 4));
    await a.barrier();
  });

  it('to_room: members only (sender included if a member); leave stops delivery', TEST, async () => {
    const room = fresh('room');
    const [a, b, c] = await clients(Client, 'a', 'b', 'c');
    await a.act('join', { room });
    await b.act('join', { room });
    await a.act('to_room', { room, data: payload(0, 5) });
    await a.expectMsg(payload(0, 5));
    await b.expectMsg(payload(0, 5));
    await c.barrier();
    // A non-member sender reaches the members, not itself.
    await c.act('to_room', { room, data: payload(2, 1) });
    await a.expectMsg(payload(2, 1));
    await b.expectMsg(payload(2, 1));
    await c.barrier();
    // After leave, b no longer receives.
    await b.act('leave', { room });
    await a.act('to_room', { room, data: payload(0, 6) });
    await a.expectMsg(payload(0, 6));
    await b.barrier();
    await c.barrier();
  });

  it('to_room: an empty or unknown room delivers nothing and still acks', TEST, async () => {
    const [a, b] = await clients(Client, 'a', 'b');
    await a.act('to_room', { room: fresh('nobody'), data: payload(0, 7) });
    await a.barrier();
    await b.barrier();
  });

  it('to_id: exactly one recipient; an unknown id delivers nothing', TEST, async () => {
    const [a, b, c] = await clients(Client, 'a', 'b', 'c');
    await a.act('to_id', { id: b.id, data: payload(0, 8) });
    await b.expectMsg(payload(0, 8));
    await a.barrier();
    await c.barrier();
    await b.barrier();
    await a.act('to_id', { id: fresh('no-such-socket'), data: payload(0, 9) });
    await a.barrier();
    await b.barrier();
    // Sending to one's own id reaches oneself once.
    await a.act('to_id', { id: a.id, data: payload(0, 10) });
    await a.expectMsg(payload(0, 10));
    await a.barrier();
  });

  it('ops without an ack take effect in order', TEST, async () => {
    const room = fresh('room');
    const [a, b] = await clients(Client, 'a', 'b');
    a.fire('join', { room });
    await a.barrier(); // join was handled before the echo
    b.fire('to_room', { room, data: payload(1, 1) });
    await a.expectMsg(payload(1, 1));
    await b.barrier();
    b.fire('to_all', { data: payload(1, 2) });
    await b.expectMsg(payload(1, 2));
    await a.expectMsg(payload(1, 2));
    b.fire('to_others', { data: payload(1, 3) });
    await a.expectMsg(payload(1, 3));
    await b.barrier();
    b.fire('to_id', { id: a.id, data: payload(1, 4) });
    await a.expectMsg(payload(1, 4));
    a.fire('leave', { room });
    await a.barrier();
    await b.act('to_room', { room, data: payload(1, 5) });
    await a.barrier();
  });

  it('a closed socket leaves its rooms (room traffic goes on for the others)', TEST, async () => {
    const room = fresh('room');
    const [a, b, c] = await clients(Client, 'a', 'b', 'c');
    await b.act('join', { room });
    await c.act('join', { room });
    await b.close();
    await a.act('to_room', { room, data: payload(0, 11) });
    await c.expectMsg(payload(0, 11));
    await a.barrier();
    await c.barrier();
    // The same room, once only its closed member was left, is empty and reusable.
    await c.act('leave', { room });
    await a.act('to_room', { room, data: payload(0, 12) });
    await a.barrier();
    const [d] = await clients(Client, 'd');
    await d.act('join', { room });
    await a.act('to_room', { room, data: payload(0, 13) });
    await d.expectMsg(payload(0, 13));
    await d.barrier();
  });
}

describe('raw protocol (docs/design.md §3)', { skip: RAW === undefined && 'WSBENCH_RAW_URL unset' }, () => {
  semantics(RawClient);

  it('frames are byte-exact: welcome, msg, ack, ack with data', TEST, async () => {
    const [a] = await clients(RawClient, 'a');
    // `data` is relayed as the exact text received (spacing and escapes kept).
    const odd = '{"from":1, "seq":2,"pad":"\\u00e9 x" ,"n":[1.50,-0,1e3]}';
    a.sendText(`{"op":"echo","data":${odd}}`);
    assert.equal(await a.inbox.next('echo of odd data'), `{"op":"msg","data":${odd}}`);
    a.sendText(`{"ack":5,"op":"echo","data":${odd}}`);
    assert.equal(await a.inbox.next('echo ack of odd data'), `{"op":"ack","ack":5,"data":${odd}}`);
    a.sendText('{"op":"echo","data":null,"extra":{"ignored":true}}');
    assert.equal(await a.inbox.next('echo of null'), '{"op":"msg","data":null}');
    a.sendText('{"op":"join","room":"r","ack":18446744073709551615}');
    assert.equal(await a.inbox.next('ack u64::MAX'), '{"op":"ack","ack":18446744073709551615}');
  });

  it('every op acks exactly {"op":"ack","ack":N}', TEST, async () => {
    const [a, b] = await clients(RawClient, 'a', 'b');
    const room = fresh('room');
    for (const [op, args] of [
      ['join', { room }],
      ['to_room', { room, data: 1 }],
      ['leave', { room }],
      ['to_all', { data: 2 }],
      ['to_others', { data: 3 }],
      ['to_id', { id: b.id, data: 4 }],
    ]) {
      await a.act(op, args);
    }
    await a.expectMsg(1);
    await a.expectMsg(2);
    await a.barrier();
    await b.expectMsg(2);
    await b.expectMsg(3);
    await b.expectMsg(4);
    await b.barrier();
  });

  it('malformed and unknown requests get an error reply; the connection stays up', TEST, async () => {
    const [a] = await clients(RawClient, 'a');
    for (const bad of [
      'not json',
      '[1,2]',
      '"echo"',
      '{}',
      '{"op":"fly"}',
      '{"op":"fly","data":1,"ack":1}',
      '{"op":5,"data":1}',
      '{"op":"to_room","data":1}',
      '{"op":"to_id","data":1}',
      '{"op":"echo"}',
      '{"op":"join"}',
      '{"op":"join","room":5}',
      '{"op":"echo","data":1,"ack":-1}',
      '{"op":"echo","data":1,"ack":"1"}',
      '{"op":"echo","data":1,"ack":18446744073709551616}',
      '{"op":"echo","data":1',
    ]) {
      a.sendText(bad);
      const reply = await a.inbox.next(`error reply to ${bad}`);
      assert.match(reply, /^\{"op":"error","reason":"(?:[^"\\]|\\.)+"\}$/, `reply to ${bad}`);
    }
    await a.barrier();
  });

  it(`a message of exactly the limit (${MAX_MESSAGE} bytes) is accepted`, TEST, async () => {
    const [a] = await clients(RawClient, 'a');
    const head = '{"op":"echo","data":"';
    const pad = 'y'.repeat(MAX_MESSAGE - head.length - 2);
    a.sendText(`${head}${pad}"}`);
    assert.equal(await a.inbox.next('echo at the limit'), `{"op":"msg","data":"${pad}"}`);
  });

  it('an over-limit message closes the connection with 1009', TEST, async () => {
    const [a, b] = await clients(RawClient, 'a', 'b');
    const head = '{"op":"echo","data":"';
    a.sendText(`${head}${'z'.repeat(MAX_MESSAGE - head.length - 1)}"}`);
    assert.equal(await withTimeout(a.closed, 'close after an over-limit message'), 1009);
    await b.barrier(); // the server is still serving others
  });

  it('invalid UTF-8 in a text frame closes the connection with 1007', TEST, async () => {
    const [a, b] = await clients(RawClient, 'a', 'b');
    a.sendText(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    assert.equal(await withTimeout(a.closed, 'close after invalid UTF-8'), 1007);
    await b.barrier();
  });
});

describe(
  `Socket.IO (docs/design.md §3) over ${process.env.WSBENCH_SIO_TRANSPORTS ?? 'websocket'}`,
  { skip: SIO === undefined && 'WSBENCH_SIO_URL unset' },
  () => {
    semantics(SioClient);

    it('acks: every op acks; echo acks with its data (any JSON value)', TEST, async () => {
      const [a, b] = await clients(SioClient, 'a', 'b');
      const room = fresh('room');
      await a.act('join', { room });
      await a.act('to_room', { room, data: 'r' });
      await a.act('leave', { room });
      await a.act('to_all', { data: [1, 2] });
      await a.act('to_others', { data: null });
      await a.act('to_id', { id: b.id, data: true });
      for (const v of [0, 'é', null, [1, { k: 'v' }], { nested: { a: [] } }]) {
        assert.deepEqual((await a.act('echo', { data: v })).data, v);
      }
      await a.expectMsg('r');
      await a.expectMsg([1, 2]);
      await a.barrier();
      await b.expectMsg([1, 2]);
      await b.expectMsg(null);
      await b.expectMsg(true);
      await b.barrier();
    });
  },
);

describe('REST routes (docs/design.md §4)', { skip: HTTP === undefined && 'WSBENCH_HTTP_URL unset' }, () => {
  const Client = RAW !== undefined ? RawClient : SioClient;
  const api = async (method, path, body) => {
    const res = await withTimeout(
      fetch(`${HTTP}${path}`, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(10_000),
      }),
      `${method} ${path}`,
    );
    return { status: res.status, text: await res.text() };
  };
  const ROW = /^\{"version":(\d+),"value":(.*),"written_at":(\d+)\}$/;

  /** A dashboard row with its shape checked (integers kept exact as text). */
  const parseRow = (text, what) => {
    const row = JSON.parse(text);
    assert.deepEqual(Object.keys(row).sort(), ['value', 'version', 'written_at'], `${what}: ${text}`);
    assert.ok(Number.isInteger(row.version) && row.version >= 0, `${what}: version ${text}`);
    assert.ok(Number.isInteger(row.written_at) && row.written_at >= 0, `${what}: written_at ${text}`);
    return row;
  };

  it('GET/POST /api/dashboard and the push to room dashboard', TEST, async () => {
    const [viewer] = await clients(Client, 'viewer');
    await viewer.act('join', { room: 'dashboard' });
    const before = await api('GET', '/api/dashboard');
    assert.equal(before.status, 200, before.text);
    parseRow(before.text, 'GET');
    const value = { n: 42, s: 'é', list: [1, 2] };
    const post = await api('POST', '/api/dashboard', { value });
    assert.equal(post.status, 200, post.text);
    const row = parseRow(post.text, 'POST');
    assert.equal(row.version, JSON.parse(before.text).version + 1);
    assert.deepEqual(row.value, value);
    if (Client === RawClient) {
      assert.equal(await viewer.inbox.next('dashboard push'), `{"op":"msg","data":${post.text}}`);
    } else {
      assert.deepEqual(await viewer.inbox.next('dashboard push'), { event: 'update', args: [row] });
    }
    const after = await api('GET', '/api/dashboard');
    assert.deepEqual(parseRow(after.text, 'GET after POST'), row);
    await viewer.barrier();
  });

  it('dashboard bodies are exactly {"version":V,"value":…,"written_at":T} (documented key order)', TEST, async () => {
    const post = await api('POST', '/api/dashboard', { value: [true] });
    assert.match(post.text, ROW, `POST body: ${post.text}`);
    const get = await api('GET', '/api/dashboard');
    assert.match(get.text, ROW, `GET body: ${get.text}`);
    assert.equal(get.text, post.text, 'GET returns the row the POST wrote, byte for byte');
  });

  it('GET /api/stats counts one query per REST call; reset zeroes; stats not counted', TEST, async () => {
    const reset = await api('POST', '/api/stats/reset');
    assert.ok(reset.status >= 200 && reset.status < 300, `reset status ${reset.status}: ${reset.text}`);
    const zero = JSON.parse((await api('GET', '/api/stats')).text);
    assert.equal(zero.db_queries, 0);
    assert.equal(zero.db_queries_app, 0);
    assert.equal(zero.http_requests, 0);
    await api('GET', '/api/dashboard');
    await api('POST', '/api/dashboard', { value: 'v' });
    await api('GET', '/api/dashboard');
    const stats = await api('GET', '/api/stats');
    const s = JSON.parse(stats.text);
    // The five fields of the contract; a target may add its own counters after them.
    for (const key of ['db_queries', 'db_queries_app', 'db_queries_engine', 'http_requests', 'engine_count_source']) {
      assert.ok(key in s, `stats lack ${key}: ${stats.text}`);
    }
    assert.equal(s.db_queries_app, 3, stats.text);
    assert.equal(s.db_queries, 3, stats.text);
    assert.equal(s.http_requests, 3, stats.text);
    assert.equal(typeof s.engine_count_source, 'string');
    if (s.db_queries_engine === null) {
      assert.equal(s.engine_count_source, 'none', stats.text);
    } else {
      assert.equal(s.db_queries_engine, 3, `engine and app counts disagree: ${stats.text}`);
    }
  });

  /** A GET with headers: status, the headers we look at, body. */
  const getWith = async (path, headers = {}) => {
    const res = await withTimeout(
      fetch(`${HTTP}${path}`, { headers, signal: AbortSignal.timeout(10_000) }),
      `GET ${path}`,
    );
    const h = (name) => res.headers.get(name);
    return { status: res.status, etag: h('etag'), source: h('x-etag-source'), cache: h('x-cache'), text: await res.text() };
  };

  it('conditional GET: 304 while the version is unchanged, and how the server knows', TEST, async () => {
    const first = await getWith('/api/dashboard');
    const version = JSON.parse(first.text).version;
    assert.equal(first.etag, `"${version}"`);
    const same = await getWith('/api/dashboard', { 'if-none-match': first.etag });
    assert.equal(same.status, 304);
    assert.equal(same.text, '');
    assert.ok(['memory', 'query'].includes(same.source), `x-etag-source ${same.source}`);
    const post = await api('POST', '/api/dashboard', { value: 'etag' });
    const changed = await getWith('/api/dashboard', { 'if-none-match': first.etag });
    assert.equal(changed.status, 200);
    assert.equal(changed.text, post.text);
    assert.equal(changed.etag, `"${version + 1}"`);
  });

  it('cached GET: a miss runs the SELECT, hits do not, a write invalidates', TEST, async () => {
    await api('POST', '/api/dashboard', { value: 'before' });
    await api('POST', '/api/stats/reset');
    const miss = await getWith('/api/dashboard/cached');
    assert.equal(miss.status, 200, miss.text);
    assert.equal(miss.cache, 'miss');
    const hit = await getWith('/api/dashboard/cached');
    assert.equal(hit.cache, 'hit');
    assert.equal(hit.text, miss.text);
    const post = await api('POST', '/api/dashboard', { value: 'after' });
    const again = await getWith('/api/dashboard/cached');
    assert.equal(again.cache, 'miss', 'the write invalidated the cache');
    assert.equal(again.text, post.text);
    const s = JSON.parse((await api('GET', '/api/stats')).text);
    assert.equal(s.db_queries_app, 3, 'two misses and the write');
    assert.equal(s.http_requests, 4);
    assert.equal(s.cache_hits, 1);
    assert.equal(s.cache_misses, 2);
  });

  it('long-poll: the first version after V when it is written, 204 after the timeout', TEST, async () => {
    const now = await getWith('/api/dashboard/wait');
    assert.equal(now.status, 200, now.text);
    const v = JSON.parse(now.text).version;
    const waiting = getWith(`/api/dashboard/wait?after=${v}&timeout_ms=5000`);
    const post = await api('POST', '/api/dashboard', { value: 'long-poll' });
    const answer = await waiting;
    assert.equal(answer.status, 200);
    assert.equal(answer.text, post.text);
    const idle = await getWith(`/api/dashboard/wait?after=${v + 1}&timeout_ms=50`);
    assert.equal(idle.status, 204);
  });

  it('SSE: the newest row, then every write, one data event each', TEST, async () => {
    const abort = new AbortController();
    const res = await withTimeout(fetch(`${HTTP}/api/dashboard/events`, { signal: abort.signal }), 'SSE');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    const nextEvent = async () => {
      for (;;) {
        const end = buf.indexOf('\n\n');
        if (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart());
          if (data.length > 0) return data.join('\n');
          continue;
        }
        const { value, done } = await withTimeout(reader.read(), 'SSE event');
        assert.ok(!done, 'the stream ended early');
        buf += decoder.decode(value, { stream: true });
      }
    };
    const current = await api('GET', '/api/dashboard');
    assert.equal(await nextEvent(), current.text);
    const a = await api('POST', '/api/dashboard', { value: 'sse-1' });
    const b = await api('POST', '/api/dashboard', { value: 'sse-2' });
    assert.equal(await nextEvent(), a.text);
    assert.equal(await nextEvent(), b.text);
    abort.abort();
  });

  it('a dashboard body without "value" is refused with a 4xx and writes nothing', TEST, async () => {
    const before = await api('GET', '/api/dashboard');
    const res = await api('POST', '/api/dashboard', { nope: 1 });
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}: ${res.text}`);
    const after = await api('GET', '/api/dashboard');
    assert.equal(JSON.parse(after.text).version, JSON.parse(before.text).version);
  });
});
