// The counted database layer behind the REST routes (docs/design.md §4): one "dashboard" row,
// read with exactly one SELECT and written with exactly one UPDATE … RETURNING, each
// counted by the app (`appQueries`) and, where the engine can tell, by the engine itself.
//
// SQLite runs in memory through sql.js (SQLite compiled to WebAssembly, shipped inside the
// npm package: nothing is downloaded or built at install). sql.js exports no statement
// trace, no sqlite3_stmt_status and no sqlite_stmt table, so the engine count is null with
// source "none" (SQLite's total_changes() would count UPDATEd rows only, not SELECTs).
// PostgreSQL (`pg`, pure JS) uses a per-instance table and counts engine-side scans of it
// from pg_stat_user_tables (seq_scan + idx_scan: one per SELECT or UPDATE by key).

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Wall-clock offset of the monotonic clock, so `unixNanos` has ns resolution. */
const CLOCK_BASE = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** Unix time in nanoseconds (a BigInt: it exceeds 2^53), the `written_at` of a write. */
export function unixNanos() {
  return CLOCK_BASE + process.hrtime.bigint();
}

/**
 * `{"version":V,"value":<json text>,"written_at":T}` (this key order, as docs/design.md §4 and
 * the Rust servers write it) with `value` relayed as stored. V and T are BigInts.
 */
export function rowJson(row) {
  return `{"version":${row.version},"value":${row.value},"written_at":${row.writtenAt}}`;
}

/**
 * Opens the database named by a `--database` URL: `sqlite`, `sqlite:`, `sqlite::memory:`
 * (in memory), or `postgres://…` / `postgresql://…`.
 */
export async function openDashboard(url) {
  if (url === 'sqlite' || url === 'sqlite:' || url === 'sqlite::memory:') {
    return SqliteDashboard.open();
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return PgDashboard.open(url);
  }
  if (url.startsWith('sqlite:')) {
    throw new Error(
      `unsupported database URL ${JSON.stringify(url)}: the Node peers run SQLite in memory ` +
        '(sql.js); use sqlite or postgres://user@host:port/db',
    );
  }
  throw new Error(
    `unsupported database URL ${JSON.stringify(url)}: use sqlite or postgres://user@host:port/db`,
  );
}

class SqliteDashboard {
  static async open() {
    const initSqlJs = require('sql.js');
    const SQL = await initSqlJs();
    return new SqliteDashboard(new SQL.Database());
  }

  constructor(db) {
    /** The sql.js connection (single-threaded, synchronous). */
    this.db = db;
    db.run(
      'CREATE TABLE wsbench_dashboard (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, ' +
        'value TEXT NOT NULL, written_at INTEGER NOT NULL)',
    );
    db.run("INSERT INTO wsbench_dashboard VALUES (1, 0, 'null', 0)");
    this.select = db.prepare('SELECT version, value, written_at FROM wsbench_dashboard WHERE id = 1');
    this.update = db.prepare(
      'UPDATE wsbench_dashboard SET version = version + 1, value = ?, written_at = ? ' +
        'WHERE id = 1 RETURNING version, value, written_at',
    );
    /** Statements the app ran for the REST routes (set-up not counted). */
    this.appQueries = 0;
    /** Where `engineQueries` comes from (reported in /api/stats). */
    this.engineSource = 'none';
  }

  async read() {
    this.appQueries += 1;
    return stepOne(this.select);
  }

  async write(valueText, writtenAt) {
    this.appQueries += 1;
    this.update.bind([valueText, writtenAt]);
    return stepOne(this.update);
  }

  async engineQueries() {
    return null;
  }

  async resetCounts() {
    this.appQueries = 0;
  }

  async close() {
    this.select.free();
    this.update.free();
    this.db.close();
  }
}

/** Runs a prepared statement to completion and returns its one row. */
function stepOne(stmt) {
  try {
    if (!stmt.step()) throw new Error('the dashboard row is missing');
    const [version, value, writtenAt] = stmt.get(null, { useBigInt: true });
    while (stmt.step()) {
      // A statement returning one row: drain so the autocommit completes.
    }
    return { version, value, writtenAt };
  } finally {
    stmt.reset();
  }
}

/** How many connections the Node peer keeps to PostgreSQL. */
const PG_CONNECTIONS = 4;

class PgDashboard {
  static async open(url) {
    const pg = require('pg');
    pg.types.setTypeParser(pg.types.builtins.INT8, BigInt);
    const clients = [];
    try {
      for (let i = 0; i < PG_CONNECTIONS; i += 1) {
        const client = new pg.Client({ connectionString: url });
        client.on('error', (e) => process.stderr.write(`postgres connection error: ${e.message}\n`));
        await client.connect();
        clients.push({ client, pending: 0, tail: Promise.resolve() });
      }
      const table = `wsbench_dashboard_node_${process.pid}`;
      const c = clients[0].client;
      await c.query(`DROP TABLE IF EXISTS ${table}`);
      await c.query(
        `CREATE TABLE ${table} (id integer PRIMARY KEY, version bigint NOT NULL, ` +
          'value text NOT NULL, written_at bigint NOT NULL)',
      );
      await c.query(`INSERT INTO ${table} VALUES (1, 0, 'null', 0)`);
      const dash = new PgDashboard(clients, table);
      dash.engineBase = await dash.engineTotal();
      return dash;
    } catch (e) {
      await Promise.allSettled(clients.map((c) => c.client.end()));
      throw new Error(`postgres ${redact(url)}: ${e.message}`);
    }
  }

  constructor(clients, table) {
    /** Connections, each with its queued query count and the tail of its query queue
     * (queries go to the least busy). */
    this.clients = clients;
    /** This instance's own table, so engine-side counts see only this server's queries. */
    this.table = table;
    this.appQueries = 0;
    this.engineSource = 'pg_stat_user_tables';
    /** Engine scan total at start or at the last reset. */
    this.engineBase = 0;
    /** Whether pg_stat_force_next_flush() exists (PostgreSQL >= 15). */
    this.canForceFlush = true;
  }

  /** Runs a query on the least busy connection. */
  query(text, params) {
    return runOn(this.clients.reduce((a, b) => (b.pending < a.pending ? b : a)), text, params);
  }

  async read() {
    this.appQueries += 1;
    const r = await this.query(`SELECT version, value, written_at FROM ${this.table} WHERE id = 1`);
    return toRow(r);
  }

  async write(valueText, writtenAt) {
    this.appQueries += 1;
    const r = await this.query(
      `UPDATE ${this.table} SET version = version + 1, value = $1, written_at = $2 ` +
        'WHERE id = 1 RETURNING version, value, written_at',
      [valueText, writtenAt.toString()],
    );
    return toRow(r);
  }

  /** Scans of this instance's table as the engine reports them, after flushing every
   * connection's pending statistics (otherwise they reach the view up to ~1 s late). */
  async engineTotal() {
    if (this.canForceFlush) {
      try {
        await Promise.all(this.clients.map((c) => runOn(c, 'SELECT pg_stat_force_next_flush()')));
      } catch (e) {
        if (e.code !== '42883') throw e;
        this.canForceFlush = false;
      }
    }
    const r = await runOn(
      this.clients[0],
      'SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS n FROM pg_stat_user_tables ' +
        'WHERE relid = to_regclass($1)',
      [this.table],
    );
    return r.rows.length === 0 ? 0 : Number(r.rows[0].n);
  }

  async engineQueries() {
    return (await this.engineTotal()) - this.engineBase;
  }

  async resetCounts() {
    this.appQueries = 0;
    this.engineBase = await this.engineTotal();
  }

  async close() {
    try {
      await runOn(this.clients[0], `DROP TABLE IF EXISTS ${this.table}`);
    } finally {
      await Promise.allSettled(this.clients.map((c) => c.client.end()));
    }
  }
}

/**
 * Queues a query on one connection: `pg` deprecates issuing a query while another is
 * running on the same client, so each connection runs its queries one after another.
 */
function runOn(c, text, params) {
  c.pending += 1;
  const result = c.tail.then(() => c.client.query(text, params));
  c.tail = result.then(
    () => {},
    () => {},
  );
  return result.finally(() => {
    c.pending -= 1;
  });
}

function toRow(result) {
  if (result.rows.length !== 1) throw new Error('the dashboard row is missing');
  const r = result.rows[0];
  return { version: r.version, value: r.value, writtenAt: r.written_at };
}

/** The URL without its password, for error messages. */
function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}
