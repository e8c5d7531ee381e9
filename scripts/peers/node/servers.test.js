// Tests of the Node peers themselves (not of the protocol, which conformance.test.js
// checks): the readiness line, exit codes (a bad or unreachable --adapter included),
// shutdown on signals with clients connected, the outbound bound, and the raw request parser. Servers are spawned on 127.0.0.1:0.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import WebSocket from 'ws';

import { RawClient, SioClient, withTimeout } from './lib/clients.js';
import { parseRequest, RequestError, topLevelSpans } from './lib/raw-protocol.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const TEST = { timeout: 30_000 };

/** Spawns a peer; resolves once it printed its readiness line. */
async function start(script, ...args) {
  const child = spawn(process.execPath, [script, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal, stderr }));
  const lines = createInterface({ input: child.stdout });
  const first = await withTimeout(
    Promise.race([once(lines, 'line').then(([l]) => l), exited.then((e) => `exited ${JSON.stringify(e)}`)]),
    `${script} readiness line`,
  );
  return { child, first, exited };
}

async function exitOf(server) {
  try {
    return await withTimeout(server.exited, 'server exit');
  } finally {
    server.child.kill('SIGKILL');
  }
}

for (const script of ['ws-server.js', 'socketio-server.js']) {
  describe(script, () => {
    it('prints exactly `listening on 127.0.0.1:PORT` first and exits 0 on SIGTERM', TEST, async () => {
      const s = await start(script, '--bind', '127.0.0.1:0');
      assert.match(s.first, /^listening on 127\.0\.0\.1:[1-9][0-9]*$/);
      s.child.kill('SIGTERM');
      assert.equal((await exitOf(s)).code, 0);
    });

    it('closes connected clients and exits 0 on SIGINT', TEST, async () => {
      const s = await start(script, '--bind', '127.0.0.1:0');
      const port = s.first.split(':').at(-1);
      if (script === 'ws-server.js') {
        const c = await RawClient.connect('c', `ws://127.0.0.1:${port}/ws`);
        s.child.kill('SIGINT');
        assert.equal(await withTimeout(c.closed, 'close on shutdown'), 1001);
      } else {
        const c = await SioClient.connect('c', `http://127.0.0.1:${port}`);
        const gone = once(c.socket, 'disconnect');
        s.child.kill('SIGINT');
        await withTimeout(gone, 'disconnect on shutdown');
        c.socket.close();
      }
      assert.equal((await exitOf(s)).code, 0);
    });

    it('exits 2 on a usage error and 1 on an unusable database', TEST, async () => {
      const bad = await start(script, '--bind', 'nowhere');
      const e1 = await exitOf(bad);
      assert.equal(e1.code, 2, e1.stderr);
      assert.match(e1.stderr, /--bind needs HOST:PORT/);
      const db = await start(script, '--database', 'mysql://x');
      const e2 = await exitOf(db);
      assert.equal(e2.code, 1, e2.stderr);
      assert.match(e2.stderr, /unsupported database URL/);
    });

    it('exits 2 on a bad --adapter and 1 when its Redis does not answer', TEST, async () => {
      const bad = await start(script, '--adapter', 'http://127.0.0.1:6379');
      const e1 = await exitOf(bad);
      assert.equal(e1.code, 2, e1.stderr);
      assert.match(e1.stderr, /--adapter needs redis:\/\/HOST:PORT/);
      // a port nothing listens on
      const probe = (await import('node:net')).createServer();
      await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const { port } = probe.address();
      await new Promise((resolve) => probe.close(resolve));
      const gone = await start(script, '--adapter', `redis://127.0.0.1:${port}`);
      const e2 = await exitOf(gone);
      assert.equal(e2.code, 1, e2.stderr);
      assert.match(e2.stderr, /Redis does not answer/);
    });
  });
}

describe('node-ws outbound bound', () => {
  it('drops (and counts) deliveries to a socket that does not read', TEST, async () => {
    const s = await start('ws-server.js', '--outbound-buffer-bytes', '65536', '--max-message-bytes', '65536');
    const url = `ws://127.0.0.1:${s.first.split(':').at(-1)}/ws`;
    const sender = await RawClient.connect('sender', url);
    // The stalled reader stops reading its socket, so the server's buffer toward it grows.
    const stalled = new WebSocket(url);
    await withTimeout(once(stalled, 'open'), 'stalled client open');
    stalled.pause();
    const frame = JSON.stringify({ op: 'to_others', data: 'p'.repeat(60_000) });
    // Enough to fill the kernel buffers and then the 64 KiB bound many times over.
    for (let i = 0; i < 400; i += 1) sender.sendText(frame);
    await sender.act('echo', { data: 'done' }); // every to_others above was handled
    stalled.terminate();
    await sender.close();
    s.child.kill('SIGTERM');
    const e = await exitOf(s);
    assert.equal(e.code, 0, e.stderr);
    const m = /dropped (\d+) frames/.exec(e.stderr);
    assert.ok(m !== null && Number(m[1]) > 0, `expected a drop count on stderr, got: ${e.stderr}`);
  });
});

describe('raw request parser', () => {
  it('keeps data as the exact text received', () => {
    const text = '{ "op" : "to_room", "room":"r", "data" : {"a":[1, "}"],"b":"\\""} , "ack": 7 }';
    assert.deepEqual(parseRequest(text), { op: 'to_room', room: 'r', data: '{"a":[1, "}"],"b":"\\""}', ack: '7' });
    assert.deepEqual(parseRequest('{"op":"echo","data":null,"ack":null}'), { op: 'echo', data: 'null' });
    assert.deepEqual([...topLevelSpans('{"k":-1.5e3}').keys()], ['k']);
  });

  it('refuses what the Rust parser refuses', () => {
    for (const bad of [
      '{"op":"echo","data":1,"data":2}',
      '{"op":"join","room":null}',
      '{"op":"echo","data":1,"ack":1.0}',
      '{"op":"echo","data":1,"ack":1e2}',
      '{"op":"to_id","id":5,"data":1}',
    ]) {
      assert.throws(() => parseRequest(bad), RequestError, bad);
    }
  });
});
