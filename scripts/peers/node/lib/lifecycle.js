// Start-up and shutdown shared by both Node peers: listen, print the readiness line, and
// on SIGINT/SIGTERM close every connection, the server and the database, then exit 0.

import { listeningLine } from './cli.js';

/** How long closing may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 3000;

/**
 * Listens on host:port, prints `listening on IP:PORT` as the first stdout line, and
 * installs the signal handlers.
 * @param {import('node:http').Server} server
 * @param {{host: string, port: number}} opts
 * @param {() => Promise<void>} closeTransport closes the WebSocket / Socket.IO side
 * @param {{close: () => Promise<void>}} db
 */
export async function serveUntilSignal(server, opts, closeTransport, db) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    const forced = setTimeout(() => {
      process.stderr.write(`shutdown after ${signal} took over ${SHUTDOWN_GRACE_MS} ms; exiting\n`);
      process.exit(0);
    }, SHUTDOWN_GRACE_MS);
    forced.unref();
    try {
      await closeTransport();
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      await db.close();
    } catch (e) {
      process.stderr.write(`error while shutting down: ${e.message}\n`);
      process.exit(1);
    }
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Only now: a supervisor may signal as soon as it has read the line.
  process.stdout.write(`${listeningLine(server.address())}\n`);
}

/** Opens the database or exits 1 with the reason (before the readiness line). */
export async function openOrExit(open) {
  try {
    return await open();
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}
