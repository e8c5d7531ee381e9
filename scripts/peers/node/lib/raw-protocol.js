// The raw application protocol of docs/design.md §3 (targets `node-ws`; the Rust twin is
// crates/wire/src/app.rs): request parsing and the server's reply encoders, byte-exact.
//
// `data` is opaque: the server relays the exact JSON text it received (found by scanning
// the request text for the value's span), never a re-serialisation, so every raw target
// relays the same bytes. Field rules mirror the Rust parser (serde): `op` is a string,
// `room`/`id` are strings (null counts as missing), `data` may be any value including
// null, `ack` is a u64 (null counts as absent); unknown fields are ignored; a known field
// given twice is malformed.

const U64_MAX = (1n << 64n) - 1n;
const OPS = new Map([
  ['join', ['room']],
  ['leave', ['room']],
  ['to_all', ['data']],
  ['to_others', ['data']],
  ['to_room', ['room', 'data']],
  ['to_id', ['id', 'data']],
  ['echo', ['data']],
]);
const KNOWN_FIELDS = new Set(['op', 'room', 'id', 'data', 'ack']);

/** A request the server refuses; `message` is the `reason` sent back. */
export class RequestError extends Error {}

/**
 * Parses one request frame (a string).
 * @returns {{op: string, room?: string, id?: string, data?: string, ack?: string}}
 *   `data` is the raw JSON text of the value, `ack` the decimal text of the u64.
 * @throws {RequestError}
 */
export function parseRequest(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RequestError(`malformed request: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RequestError('malformed request: expected a JSON object');
  }
  const spans = topLevelSpans(text);
  for (const [key, list] of spans) {
    if (KNOWN_FIELDS.has(key) && list.length > 1) {
      throw new RequestError(`malformed request: duplicate field \`${key}\``);
    }
  }
  const op = value.op;
  if (op === undefined) throw new RequestError('malformed request: missing field `op`');
  if (typeof op !== 'string') throw new RequestError('malformed request: `op` must be a string');
  for (const key of ['room', 'id']) {
    const v = value[key];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      throw new RequestError(`malformed request: \`${key}\` must be a string`);
    }
  }
  let ack;
  const ackSpan = spans.get('ack');
  if (ackSpan !== undefined && value.ack !== null) {
    ack = text.slice(ackSpan[0][0], ackSpan[0][1]);
    if (!/^(0|[1-9][0-9]*)$/.test(ack) || BigInt(ack) > U64_MAX) {
      throw new RequestError('malformed request: `ack` must be an unsigned 64-bit integer');
    }
  }
  const needs = OPS.get(op);
  if (needs === undefined) throw new RequestError(`unknown op ${JSON.stringify(op)}`);
  const req = { op };
  for (const field of needs) {
    if (field === 'data') {
      const span = spans.get('data');
      if (span === undefined) throw missing(op, field);
      req.data = text.slice(span[0][0], span[0][1]);
    } else {
      if (value[field] === undefined || value[field] === null) throw missing(op, field);
      req[field] = value[field];
    }
  }
  if (ack !== undefined) req.ack = ack;
  return req;
}

function missing(op, field) {
  return new RequestError(`op ${JSON.stringify(op)} needs field ${JSON.stringify(field)}`);
}

/**
 * The value spans of a valid JSON object's top-level keys: Map<key, [start, end][]>.
 * The text must already have passed JSON.parse, so the scan only tracks strings and nesting.
 */
export function topLevelSpans(text) {
  const spans = new Map();
  let i = skipWs(text, 0) + 1; // past '{'
  for (;;) {
    i = skipWs(text, i);
    if (text[i] === '}') return spans;
    const keyEnd = stringEnd(text, i);
    const key = JSON.parse(text.slice(i, keyEnd));
    i = skipWs(text, keyEnd) + 1; // past ':'
    const start = skipWs(text, i);
    const end = valueEnd(text, start);
    const list = spans.get(key);
    if (list === undefined) spans.set(key, [[start, end]]);
    else list.push([start, end]);
    i = skipWs(text, end);
    if (text[i] === ',') i += 1;
  }
}

function skipWs(text, i) {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i += 1;
    else return i;
  }
}

/** `i` is at an opening quote; returns the index just past the closing quote. */
function stringEnd(text, i) {
  for (let j = i + 1; ; j += 1) {
    const c = text.charCodeAt(j);
    if (c === 0x5c) j += 1; // backslash: skip the escaped char
    else if (c === 0x22) return j + 1;
  }
}

function valueEnd(text, i) {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; ; j += 1) {
      const d = text[j];
      if (d === '"') j = stringEnd(text, j) - 1;
      else if (d === '{' || d === '[') depth += 1;
      else if (d === '}' || d === ']') {
        depth -= 1;
        if (depth === 0) return j + 1;
      }
    }
  }
  let j = i;
  while (j < text.length && !',}] \n\r\t'.includes(text[j])) j += 1;
  return j;
}

/** `{"op":"welcome","id":"<id>"}` */
export function welcome(id) {
  return `{"op":"welcome","id":${JSON.stringify(id)}}`;
}

/** `{"op":"msg","data":<D>}`; `data` is raw JSON text. */
export function msg(data) {
  return `{"op":"msg","data":${data}}`;
}

/** `{"op":"ack","ack":N}` or, for echo, `{"op":"ack","ack":N,"data":<D>}`. */
export function ack(n, data) {
  return data === undefined
    ? `{"op":"ack","ack":${n}}`
    : `{"op":"ack","ack":${n},"data":${data}}`;
}

/** `{"op":"error","reason":"<text>"}` */
export function error(reason) {
  return `{"op":"error","reason":${JSON.stringify(reason)}}`;
}
