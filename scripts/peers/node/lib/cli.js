// Command-line options shared by the two Node peers (the flags of `wsbench serve`).

const USAGE = `options:
  --bind HOST:PORT              address to listen on (default 127.0.0.1:0, port 0 = OS-chosen)
  --database URL                sqlite (default, in memory via sql.js) or postgres://user@host:port/db
  --max-message-bytes N         largest accepted message (default 1048576)
  --outbound-buffer-bytes N     node-ws: per-socket buffered bytes above which a delivery is
                                dropped and counted (default 4194304)
  --idle-timeout-s N            node-ws: close a socket silent for this long; pings every N/2
                                (default 120)
  --adapter URL                 run as one node of a cluster over Redis (redis://HOST:PORT):
                                node-socketio through @socket.io/redis-adapter, node-ws through
                                Redis pub/sub (docs/cluster.md)
  --adapter-prefix NAME         the cluster's channel prefix (default wsbench)
  --jwt-secret SECRET           require an HS256 JWT at the handshake (Socket.IO auth.token;
                                raw: Authorization: Bearer or ?token=)
  --cors-origin ORIGIN          allow this origin (repeatable, or *): CORS on REST and polling
  --rate-limit N/s              at most N requests per second per connection
  --connection-state-recovery   node-socketio: socket.io's connectionStateRecovery (a client
                                back within 2 min gets its session and missed packets)`;

/** Exits with code 2 (usage error, docs/design.md §6) after printing why. */
function usage(why) {
  process.stderr.write(`${why}\n${USAGE}\n`);
  process.exit(2);
}

/**
 * Parses argv (without node and script).
 * @returns {{host: string, port: number, database: string, maxMessageBytes: number,
 *            outboundBufferBytes: number, idleTimeoutMs: number, adapter: string|undefined,
 *            adapterPrefix: string, jwtSecret?: string, corsOrigins: string[], rateLimit?: number,
 *            connectionStateRecovery: boolean}}
 */
export function parseArgs(argv) {
  const opts = {
    host: '127.0.0.1',
    port: 0,
    database: 'sqlite',
    maxMessageBytes: 1 << 20,
    outboundBufferBytes: 4 << 20,
    idleTimeoutMs: 120_000,
    adapter: undefined,
    adapterPrefix: 'wsbench',
    jwtSecret: undefined,
    corsOrigins: [],
    rateLimit: undefined,
    connectionStateRecovery: false,
  };
  const positiveInt = (flag, v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) usage(`${flag} needs a positive integer, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (flag === '--connection-state-recovery') {
      opts.connectionStateRecovery = true;
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    i += 1;
    switch (flag) {
      case '--bind': {
        const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
        if (m === null || Number(m[3]) > 65535) usage(`--bind needs HOST:PORT, got ${value}`);
        opts.host = m[1] ?? m[2];
        opts.port = Number(m[3]);
        break;
      }
      case '--database':
        opts.database = value;
        break;
      case '--max-message-bytes':
        opts.maxMessageBytes = positiveInt(flag, value);
        break;
      case '--outbound-buffer-bytes':
        opts.outboundBufferBytes = positiveInt(flag, value);
        break;
      case '--idle-timeout-s':
        opts.idleTimeoutMs = positiveInt(flag, value) * 1000;
        break;
      case '--adapter':
        if (!/^rediss?:\/\//.test(value)) usage(`--adapter needs redis://HOST:PORT, got ${value}`);
        opts.adapter = value;
        break;
      case '--adapter-prefix':
        if (value === '' || value.includes('#')) usage(`--adapter-prefix must be non-empty without '#'`);
        opts.adapterPrefix = value;
        break;
      case '--jwt-secret':
        if (value === '') usage('--jwt-secret must not be empty');
        opts.jwtSecret = value;
        break;
      case '--cors-origin':
        if (value !== '*' && !/^https?:\/\/[^/?#\s]+$/.test(value)) {
          usage(`--cors-origin needs scheme://host[:port] or *, got ${value}`);
        }
        opts.corsOrigins.push(value);
        if (opts.corsOrigins.includes('*') && opts.corsOrigins.length > 1) {
          usage('--cors-origin `*` allows every origin: give it alone');
        }
        break;
      case '--rate-limit': {
        const m = /^(\d+)(?:\/s)?$/.exec(value);
        if (m === null || Number(m[1]) <= 0) usage(`--rate-limit needs N/s with N >= 1, got ${value}`);
        opts.rateLimit = Number(m[1]);
        break;
      }
      default:
        usage(`unknown option ${flag}`);
    }
  }
  return opts;
}

/** `listening on <ip>:<port>` (IPv6 in brackets), the first stdout line of every server. */
export function listeningLine(address) {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `listening on ${host}:${address.port}`;
}
