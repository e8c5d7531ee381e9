// The REST routes of docs/design.md §4, shared by both Node peers (served on the same port as
// the WebSocket / Socket.IO endpoint):
//   GET  /api/dashboard     one SELECT → {"version":V,"value":…,"written_at":T}
//   POST /api/dashboard     body {"value":…}; one UPDATE, then the new row is pushed to
//                           room `dashboard` by the transport's `push(rowText)`
//   GET  /api/stats         {"db_queries":N,"db_queries_app":N,"db_queries_engine":N|null,
//                            "http_requests":N,"engine_count_source":"…"}
//   POST /api/stats/reset   zeroes the counts → {"reset":true}
// and the plain-HTTP polling variants of docs/polling-vs-push.md, as the Rust servers serve
// them (workspace 1 only: `?workspace=K` for K > 1 is a 404):
//   GET  /api/dashboard with If-None-Match: "V"   304 while V is the newest version
//                           (`x-etag-source`: memory, or query when no row was seen yet)
//   GET  /api/dashboard/cached   the row from an in-process cache (one SELECT on a miss;
//                           a write invalidates it)
//   GET  /api/dashboard/wait?after=V[&timeout_ms=T]   the first row after V, or 204
//   GET  /api/dashboard/events   text/event-stream: the newest row, then every write
// `http_requests` counts requests to /api/ other than the stats routes; `written_at` is
// the Unix time in nanoseconds when the server wrote the row (0 for the initial row).
// As on the Rust servers, a transport may add its own counters to /api/stats (node-ws:
// `deliveries`, `dropped`; node-socketio: the `connected` gauge).

import { rowJson, unixNanos } from './db.js';

/** Largest accepted request body. */
const MAX_BODY_BYTES = 1 << 20;
/** Rows kept for long-polls that fall behind by a few versions. */
const HISTORY = 64;
/** A long-poll's wait when it names none, and the longest it may ask for (ms). */
const DEFAULT_WAIT_MS = 25_000;
const MAX_WAIT_MS = 120_000;

/**
 * What the server knows of the dashboard without asking the database: the rows it wrote
 * or read lately (every write goes through this server), long-polls waiting for a newer
 * one and the open SSE streams.
 */
class LiveRows {
  constructor() {
    /** `{version: BigInt, text}` oldest first, versions increasing. */
    this.history = [];
    /** Long-polls: `{after: BigInt, resolve}`. */
    this.waiters = new Set();
    /** Open `text/event-stream` responses. */
    this.streams = new Set();
  }

  newest() {
    return this.history.at(-1);
  }

  /** Records a row written or read; a new version wakes long-polls and goes to the streams. */
  learn(row) {
    const entry = { version: row.version, text: rowJson(row) };
    const at = this.history.findIndex((r) => r.version >= entry.version);
    if (at >= 0 && this.history[at].version === entry.version) return;
    if (at === 0 && this.history.length >= HISTORY) return;
    if (at < 0) this.history.push(entry);
    else this.history.splice(at, 0, entry);
    if (this.history.length > HISTORY) this.history.shift();
    for (const w of this.waiters) {
      const next = this.nextAfter(w.after);
      if (next !== undefined) w.resolve(next);
    }
    for (const res of this.streams) res.write(`data: ${entry.text}\n\n`);
  }

  nextAfter(version) {
    return this.history.find((r) => r.version > version);
  }

  /** The first row after `after`, or undefined after `ms`. */
  waitAfter(after, ms, res) {
    const ready = this.nextAfter(after);
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const w = {
        after,
        resolve: (row) => {
          clearTimeout(timer);
          this.waiters.delete(w);
          resolve(row);
        },
      };
      const timer = setTimeout(() => w.resolve(undefined), ms);
      this.waiters.add(w);
      res.on('close', () => w.resolve(undefined));
    });
  }
}

/**
 * @param {object} db a dashboard from openDashboard()
 * @param {(rowText: string) => void} push sends the new row to room `dashboard`
 * @param {{entries: () => [string, number][], reset: () => void}} extra the transport's
 *   own counters, appended to /api/stats and zeroed by /api/stats/reset
 * @returns {(req, res) => boolean} handles a request, or returns false if it is not a REST route
 */
export function createRest(db, push, extra = { entries: () => [], reset: () => {} }) {
  let httpRequests = 0;
  const live = new LiveRows();
  /** The `poll-cached` row text (null: a miss). */
  let cached = null;
  const counters = {
    etag_304_memory: 0,
    etag_304_query: 0,
    cache_hits: 0,
    cache_misses: 0,
    long_poll_timeouts: 0,
  };
  /** One SELECT, learnt. */
  const select = async () => {
    const row = await db.read();
    live.learn(row);
    return live.history.find((r) => r.version === row.version) ?? { version: row.version, text: rowJson(row) };
  };
  const withEtag = (res, entry) => reply(res, 200, entry.text, { etag: `"${entry.version}"` });

  const routes = {
    'GET /api/dashboard': async (req, res) => {
      const known = ifNoneMatch(req.headers['if-none-match']);
      if (known === undefined) {
        withEtag(res, await select());
        return;
      }
      let entry = live.newest();
      let source = 'memory';
      if (entry === undefined) {
        entry = await select();
        source = 'query';
      } else if (entry.version !== known) {
        entry = await select();
      }
      if (entry.version !== known) {
        withEtag(res, entry);
        return;
      }
      counters[`etag_304_${source}`] += 1;
      res.writeHead(304, { etag: `"${entry.version}"`, 'x-etag-source': source });
      res.end();
    },
    'GET /api/dashboard/cached': async (req, res) => {
      if (cached !== null) {
        counters.cache_hits += 1;
        reply(res, 200, cached.text, { 'x-cache': 'hit' });
        return;
      }
      counters.cache_misses += 1;
      const entry = await select();
      // a write committed meanwhile has been learnt: do not cache the older row
      if (live.newest().version === entry.version) cached = entry;
      reply(res, 200, entry.text, { 'x-cache': 'miss' });
    },
    'GET /api/dashboard/wait': async (req, res) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const ms = q.has('timeout_ms') ? Number(q.get('timeout_ms')) : DEFAULT_WAIT_MS;
      if (!Number.isInteger(ms) || ms < 0 || ms > MAX_WAIT_MS) {
        reply(res, 400, JSON.stringify({ error: `timeout_ms must be 0..=${MAX_WAIT_MS}` }));
        return;
      }
      if (live.newest() === undefined) await select();
      if (!q.has('after')) {
        withEtag(res, live.newest());
        return;
      }
      let after;
      try {
        after = BigInt(q.get('after'));
      } catch {
        reply(res, 400, JSON.stringify({ error: 'after must be a version number' }));
        return;
      }
      const entry = await live.waitAfter(after, ms, res);
      if (entry !== undefined) {
        withEtag(res, entry);
      } else if (!res.destroyed) {
        counters.long_poll_timeouts += 1;
        res.writeHead(204);
        res.end();
      }
    },
    'GET /api/dashboard/events': async (req, res) => {
      const first = live.newest() ?? (await select());
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`data: ${first.text}\n\n`);
      live.streams.add(res);
      res.on('close', () => live.streams.delete(res));
    },
    'POST /api/dashboard': async (req, res) => {
      const body = await readBody(req);
      let value;
      try {
        const parsed = JSON.parse(body);
        if (parsed === null || typeof parsed !== 'object' || !('value' in parsed)) {
          throw new Error('expected a JSON object with a "value" field');
        }
        value = parsed.value;
      } catch (e) {
        reply(res, 400, JSON.stringify({ error: `bad dashboard body: ${e.message}` }));
        return;
      }
      const row = await db.write(JSON.stringify(value), unixNanos());
      const text = rowJson(row);
      live.learn(row);
      push(text);
      cached = null;
      reply(res, 200, text);
    },
    'GET /api/stats': async (req, res) => {
      const engine = await db.engineQueries();
      reply(
        res,
        200,
        `{"db_queries":${db.appQueries},"db_queries_app":${db.appQueries},` +
          `"db_queries_engine":${engine === null ? 'null' : engine},` +
          `"http_requests":${httpRequests},"engine_count_source":${JSON.stringify(db.engineSource)}` +
          `,"cache":"memory","workspaces":1` +
          Object.entries(counters)
            .map(([k, v]) => `,"${k}":${v}`)
            .join('') +
          extra
            .entries()
            .map(([k, v]) => `,${JSON.stringify(k)}:${v}`)
            .join('') +
          '}',
      );
    },
    'POST /api/stats/reset': async (req, res) => {
      await db.resetCounts();
      httpRequests = 0;
      for (const k of Object.keys(counters)) counters[k] = 0;
      extra.reset();
      reply(res, 200, '{"reset":true}');
    },
  };
  const paths = new Set(Object.keys(routes).map((k) => k.split(' ')[1]));

  return (req, res) => {
    const path = req.url.split('?')[0];
    if (!path.startsWith('/api/')) return false;
    if (!path.startsWith('/api/stats')) httpRequests += 1;
    const route = routes[`${req.method} ${path}`];
    const fail = (status, message) => {
      if (res.headersSent) res.destroy();
      else reply(res, status, JSON.stringify({ error: message }));
    };
    if (route === undefined) {
      if (paths.has(path)) fail(405, `method ${req.method} not allowed on ${path}`);
      else fail(404, `no route ${path}`);
      return true;
    }
    const workspace = new URL(req.url, 'http://x').searchParams.get('workspace');
    if (workspace !== null && workspace !== '1') {
      fail(404, `no workspace ${workspace}: the Node peers serve workspace 1 only`);
      return true;
    }
    route(req, res).catch((e) => {
      if (e instanceof BodyTooLarge) fail(413, e.message);
      else fail(500, `${req.method} ${path}: ${e.message}`);
    });
    return true;
  };
}

class BodyTooLarge extends Error {}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      // Over the limit: keep reading (and discarding) so the 413 reply can still be sent.
      if (size > MAX_BODY_BYTES) reject(new BodyTooLarge(`request body over ${MAX_BODY_BYTES} bytes`));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res, status, body, headers = {}) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** The version an If-None-Match names (`"V"` or `W/"V"`), else undefined. */
function ifNoneMatch(header) {
  const m = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(header ?? '');
  return m === null ? undefined : BigInt(m[1]);
}
