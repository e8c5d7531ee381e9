// The REST routes of docs/design.md §4, shared by both Node peers (served on the same port as
// the WebSocket / Socket.IO endpoint):
//   GET  /api/dashboard     one SELECT → {"version":V,"value":…,"written_at":T}
//   POST /api/dashboard     body {"value":…}; one UPDATE, then the new row is pushed to
//                           room `dashboard` by the transport's `push(rowText)`
//   GET  /api/stats         {"db_queries":N,"db_queries_app":N,"db_queries_engine":N|null,
//                            "http_requests":N,"engine_count_source":"…"}
//   POST /api/stats/reset   zeroes the counts → {"reset":true}
// `http_requests` counts requests to /api/ other than the stats routes; `written_at` is
// the Unix time in nanoseconds when the server wrote the row (0 for the initial row).
// As on the Rust servers, a transport may add its own counters to /api/stats (node-ws:
// `deliveries`, `dropped`; node-socketio: the `connected` gauge).

import { rowJson, unixNanos } from './db.js';

/** Largest accepted request body. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * @param {object} db a dashboard from openDashboard()
 * @param {(rowText: string) => void} push sends the new row to room `dashboard`
 * @param {{entries: () => [string, number][], reset: () => void}} extra the transport's
 *   own counters, appended to /api/stats and zeroed by /api/stats/reset
 * @returns {(req, res) => boolean} handles a request, or returns false if it is not a REST route
 */
export function createRest(db, push, extra = { entries: () => [], reset: () => {} }) {
  let httpRequests = 0;

  const routes = {
    'GET /api/dashboard': async (req, res) => {
      reply(res, 200, rowJson(await db.read()));
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
      const text = rowJson(await db.write(JSON.stringify(value), unixNanos()));
      push(text);
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

function reply(res, status, body) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
