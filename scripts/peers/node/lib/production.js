// The production features of the Node peers, with the same meaning as `wsbench serve`'s
// flags (docs/design.md, "Production features"):
//   --jwt-secret S      HS256 token with `exp` (no leeway), npm `jsonwebtoken`. Socket.IO:
//                       handshake `auth: {token}`, refused with CONNECT_ERROR `unauthorized`;
//                       raw WebSocket: `Authorization: Bearer <t>` or `?token=<t>`, refused
//                       with HTTP 401 before the upgrade.
//   --cors-origin O     CORS on the REST routes (npm `cors`, the package socket.io uses for its
//                       own `cors` option, which node-socketio sets for Engine.IO polling).
//   --rate-limit N/s    a token bucket per connection (bursts of one second's worth); an
//                       over-limit request is refused with `rate limited` and counted.

import cors from 'cors';
import jwt from 'jsonwebtoken';

export const UNAUTHORIZED = 'unauthorized';

/** Namespaces served by name, then `/ns/0` … `/ns/11` (the Rust servers' list, so a load
 * generator's `namespaces = K` up to 16 finds them on every target). */
export const NAMESPACES = [
  '/',
  '/chat',
  '/admin',
  '/notifications',
  ...Array.from({ length: 12 }, (_, i) => `/ns/${i}`),
];
/** The raw WebSocket paths mirroring NAMESPACES, in the same order: `/ws`, `/ws/chat`, …,
 * `/ws/ns/0`, … */
export const RAW_PATHS = NAMESPACES.map((ns) => (ns === '/' ? '/ws' : `/ws${ns}`));
export const RATE_LIMITED = 'rate limited';

/** Whether `token` is a valid, unexpired HS256 token signed with `secret`. */
export function validToken(secret, token) {
  if (typeof token !== 'string' || token === '') return false;
  try {
    jwt.verify(token, secret, { algorithms: ['HS256'], clockTolerance: 0 });
    // `exp` is required, as on the Rust servers (jsonwebtoken only checks it when present).
    return typeof jwt.decode(token)?.exp === 'number';
  } catch {
    return false;
  }
}

/** The token of a raw upgrade request: `Authorization: Bearer`, else `?token=`. */
export function requestToken(req) {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m !== null) return m[1];
  return new URL(req.url, 'http://x').searchParams.get('token') ?? undefined;
}

/** The `cors` options for the allowed origins (`['*']` = any), or undefined when off. */
export function corsOptions(origins) {
  if (origins.length === 0) return undefined;
  return {
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization'],
    maxAge: 600,
  };
}

/**
 * Wraps an http request handler with CORS (preflights answered 204, allowed origins
 * echoed), or returns it unchanged when no origin is allowed.
 */
export function withCors(origins, handler) {
  const options = corsOptions(origins);
  if (options === undefined) return handler;
  const middleware = cors(options);
  return (req, res) => middleware(req, res, () => handler(req, res));
}

/** One connection's token bucket: `perSec` tokens a second, at most `perSec` stored. */
export class TokenBucket {
  constructor(perSec) {
    this.costMs = 1000 / perSec;
    // The instant the bucket would be empty; a full bucket is one second behind now.
    this.emptyAt = performance.now() - 1000;
  }

  tryTake() {
    const now = performance.now();
    const next = Math.max(this.emptyAt, now - 1000) + this.costMs;
    if (next > now) return false;
    this.emptyAt = next;
    return true;
  }
}
