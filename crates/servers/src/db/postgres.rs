//! PostgreSQL behind the dashboard (tokio-postgres, NoTls): a small pool of clients and a
//! table unique to this server instance, so concurrent servers and tests on one database
//! never mix counts. The engine count is `pg_stat_statements` when that module is loaded,
//! otherwise the per-table scan counters of `pg_stat_user_tables` (see
//! docs/database-counting.md for the experiments that show both are exact). Each statement
//! runs in a task of its own holding its [`Pass`], and is counted by the app when its reply
//! has arrived, so a caller that stops waiting cannot leave a statement counted by the
//! engine alone.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Statement};

use super::{Counts, Dashboard, Gate, Pass, parse_value, unix_nanos};
use crate::error::ServerError;

/// Clients in the pool (each pipelines concurrent queries).
const POOL_SIZE: usize = 4;

/// Which engine-side counter this database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EngineSource {
    /// `sum(calls)` of our two statements in `pg_stat_statements` (module preloaded).
    Statements,
    /// `seq_scan + idx_scan` of our table in `pg_stat_user_tables`: each of our statements
    /// scans the table exactly once.
    TableScans,
}

/// A pooled, counted PostgreSQL database.
pub struct PgDb {
    /// Keeps statements out while counts are read or reset.
    pub(super) gate: Gate,
    /// Request clients, used round-robin (shared with the statement tasks).
    pool: Vec<Arc<PooledClient>>,
    /// Next pool index.
    next: AtomicUsize,
    /// A client that only reads statistics, so its own activity never touches our table.
    stats: Client,
    /// `CREATE`d by `open`, `DROP`ped by `drop_table` (or on drop).
    table: String,
    /// The URL, kept to drop the table from a fresh connection when dropped without cleanup.
    url: String,
    /// Set once the table is gone, so cleanup runs once.
    dropped: AtomicBool,
    /// Statements executed by this layer since the last reset (bumped once each reply
    /// arrived).
    app: Arc<AtomicU64>,
    /// Statements that failed since the last reset (not in `app`).
    errors: Arc<AtomicU64>,
    /// Engine counter value at the last reset (the baseline subtracted from reads).
    baseline: Mutex<i64>,
    /// Where `counts().engine` comes from.
    source: EngineSource,
    /// `pg_stat_statements_info.dealloc` at the last reset: when it moves, entries were
    /// evicted and the statement count is no longer complete.
    dealloc_baseline: Mutex<i64>,
}

/// A client with our two statements prepared on it.
struct PooledClient {
    client: Client,
    select: Statement,
    update: Statement,
}

fn db_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Database(format!("postgres: {what}: {e}"))
}

async fn connect(url: &str) -> Result<Client, ServerError> {
    let mut cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| db_err(&format!("parsing URL {url:?}"), e))?;
    cfg.connect_timeout(Duration::from_secs(5));
    let (client, conn) = cfg
        .connect(NoTls)
        .await
        .map_err(|e| db_err(&format!("connecting to {url}"), e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!("postgres connection ended: {e}");
        }
    });
    Ok(client)
}

/// A table name no other server instance picks: pid, time and a per-process counter.
fn unique_table_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!(
        "wsbench_dashboard_{}_{:x}_{}",
        std::process::id(),
        unix_nanos() as u64 & 0xffff_ffff,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

impl PgDb {
    pub async fn open(url: &str) -> Result<PgDb, ServerError> {
        let table = unique_table_name();
        let stats = connect(url).await?;
        stats
            .batch_execute(&format!(
                "SET stats_fetch_consistency = none;
                 CREATE TABLE {table} (
                     id INTEGER PRIMARY KEY,
                     version BIGINT NOT NULL,
                     value TEXT NOT NULL,
                     written_at BIGINT NOT NULL
                 );
                 INSERT INTO {table} (id, version, value, written_at) VALUES (1, 0, 'null', 0);"
            ))
            .await
            .map_err(|e| db_err(&format!("creating table {table}"), e))?;
        let source = detect_source(&stats).await;
        let mut pool = Vec::with_capacity(POOL_SIZE);
        for _ in 0..POOL_SIZE {
            let client = connect(url).await?;
            let select = client
                .prepare(&format!(
                    "SELECT version, value, written_at FROM {table} WHERE id = $1"
                ))
                .await
                .map_err(|e| db_err("prepare SELECT", e))?;
            let update = client
                .prepare(&format!(
                    "UPDATE {table} SET version = version + 1, value = $1, written_at = $2 \
                     WHERE id = $3 RETURNING version, value, written_at"
                ))
                .await
                .map_err(|e| db_err("prepare UPDATE", e))?;
            pool.push(Arc::new(PooledClient {
                client,
                select,
                update,
            }));
        }
        let db = PgDb {
            gate: Gate::default(),
            pool,
            next: AtomicUsize::new(0),
            stats,
            table,
            url: url.to_owned(),
            dropped: AtomicBool::new(false),
            app: Arc::new(AtomicU64::new(0)),
            errors: Arc::new(AtomicU64::new(0)),
            baseline: Mutex::new(0),
            source,
            dealloc_baseline: Mutex::new(0),
        };
        {
            let _quiet = db.gate.quiesce().await;
            db.reset_counts().await?;
        }
        Ok(db)
    }

    /// The table this instance created (unique per instance).
    pub fn table(&self) -> &str {
        &self.table
    }

    fn pick(&self) -> Arc<PooledClient> {
        self.pool[self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len()].clone()
    }

    /// Runs one statement in a task of its own that counts it (app or errors) when its
    /// reply has arrived and then releases `pass`: the task runs to the end even if the
    /// caller stops waiting.
    async fn counted<F>(
        &self,
        pass: Pass,
        what: &str,
        statement: F,
    ) -> Result<tokio_postgres::Row, ServerError>
    where
        F: Future<Output = Result<tokio_postgres::Row, tokio_postgres::Error>> + Send + 'static,
    {
        self.gate.check(&pass)?;
        let (app, errors) = (self.app.clone(), self.errors.clone());
        tokio::spawn(async move {
            let out = statement.await;
            match &out {
                Ok(_) => app.fetch_add(1, Ordering::Relaxed),
                Err(_) => errors.fetch_add(1, Ordering::Relaxed),
            };
            pass.release();
            out
        })
        .await
        .map_err(|e| db_err(&format!("{what} task"), e))?
        .map_err(|e| db_err(what, e))
    }

    /// One SELECT of workspace `id`'s row under `pass`.
    pub async fn get_dashboard(&self, pass: Pass, id: u32) -> Result<Dashboard, ServerError> {
        let c = self.pick();
        let id = id as i32;
        let row = self
            .counted(pass, "SELECT dashboard", async move {
                c.client.query_one(&c.select, &[&id]).await
            })
            .await?;
        to_dashboard(row)
    }

    /// One UPDATE … RETURNING of workspace `id`'s row under `pass`; `text` is the new
    /// value's JSON text. One statement in autocommit mode: committed when the reply
    /// arrives.
    pub async fn update_dashboard(
        &self,
        pass: Pass,
        id: u32,
        text: String,
    ) -> Result<Dashboard, ServerError> {
        let c = self.pick();
        let id = id as i32;
        let row = self
            .counted(pass, "UPDATE dashboard", async move {
                c.client
                    .query_one(&c.update, &[&text, &unix_nanos(), &id])
                    .await
            })
            .await?;
        to_dashboard(row)
    }

    /// Both counts; only called behind the gate's write side (`Quiesced`), so no
    /// statement of ours is in flight: each finished one is in `app` and pending (or
    /// flushed) in its backend's statistics.
    pub(super) async fn counts(&self) -> Result<Counts, ServerError> {
        let now = self.engine_total().await?;
        let base = *self.baseline.lock().await;
        let mut source = match self.source {
            EngineSource::Statements => "pg_stat_statements",
            EngineSource::TableScans => "pg_stat_user_tables",
        };
        if self.source == EngineSource::Statements
            && self.dealloc().await? != *self.dealloc_baseline.lock().await
        {
            source = "pg_stat_statements-evicted";
        }
        Ok(Counts {
            app: self.app.load(Ordering::Relaxed),
            engine: (now - base).max(0) as u64,
            engine_source: source,
            errors: self.errors.load(Ordering::Relaxed),
        })
    }

    /// Makes sure rows `1..=count` exist, from the stats client; only called behind the
    /// gate's write side. Setup, not a dashboard statement: whatever the engine counts
    /// for it (the conflict checks probe the primary key) moves the baseline with it, so
    /// neither count changes.
    pub(super) async fn ensure_rows(&self, count: u32) -> Result<(), ServerError> {
        if count < 2 {
            return Ok(());
        }
        let before = self.engine_total().await?;
        self.stats
            .execute(
                &format!(
                    "INSERT INTO {} (id, version, value, written_at) \
                     SELECT g, 0, 'null', 0 FROM generate_series(2, $1) AS g \
                     ON CONFLICT (id) DO NOTHING",
                    self.table
                ),
                &[&(count as i32)],
            )
            .await
            .map_err(|e| db_err("INSERT workspace rows", e))?;
        let after = self.engine_total().await?;
        *self.baseline.lock().await += after - before;
        Ok(())
    }

    /// Zeroes the app count and re-baselines the engine count; only called behind the
    /// gate's write side.
    pub(super) async fn reset_counts(&self) -> Result<(), ServerError> {
        let mut base = self.baseline.lock().await;
        *base = self.engine_total().await?;
        self.app.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        if self.source == EngineSource::Statements {
            *self.dealloc_baseline.lock().await = self.dealloc().await?;
        }
        Ok(())
    }

    /// The engine's running total for our table (not yet baselined).
    async fn engine_total(&self) -> Result<i64, ServerError> {
        match self.source {
            EngineSource::Statements => {
                let pattern_select =
                    format!("SELECT version, value, written_at FROM {} %", self.table);
                let pattern_update = format!("UPDATE {} SET %", self.table);
                let row = self
                    .stats
                    .query_one(
                        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
                         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                           AND (query LIKE $1 OR query LIKE $2)",
                        &[&pattern_select, &pattern_update],
                    )
                    .await
                    .map_err(|e| db_err("reading pg_stat_statements", e))?;
                Ok(row.get(0))
            }
            EngineSource::TableScans => self.settled_table_scans().await,
        }
    }

    /// Asks every backend that ever touched our table to flush its pending statistics,
    /// then reads them once. PostgreSQL 15+ backends flush lazily (at most once a second,
    /// when idle); after `pg_stat_force_next_flush()` a backend flushes everything, waiting
    /// for locks, as it goes idle and before it reports ready, so once every flush query
    /// has returned the shared counters are complete. The backends: the pooled clients
    /// (our statements) and the stats client, which created the table: building the
    /// primary key index scans the heap and counts one `seq_scan` there. Left pending, that
    /// scan surfaced up to a second later, after a baseline, as engine = app + 1.
    async fn settled_table_scans(&self) -> Result<i64, ServerError> {
        const FLUSH: &str = "SELECT pg_stat_force_next_flush()";
        let flushes = self
            .pool
            .iter()
            .map(|c| c.client.simple_query(FLUSH))
            .chain(std::iter::once(self.stats.simple_query(FLUSH)));
        for r in futures_util::future::join_all(flushes).await {
            r.map_err(|e| db_err("pg_stat_force_next_flush()", e))?;
        }
        self.read_table_scans().await
    }

    async fn read_table_scans(&self) -> Result<i64, ServerError> {
        let row = self
            .stats
            .query_one(
                "SELECT pg_stat_clear_snapshot()::text,
                        (SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
                         FROM pg_stat_user_tables WHERE relid = to_regclass($1))",
                &[&self.table],
            )
            .await
            .map_err(|e| db_err("reading pg_stat_user_tables", e))?;
        Ok(row.get::<_, Option<i64>>(1).unwrap_or(0))
    }

    async fn dealloc(&self) -> Result<i64, ServerError> {
        let row = self
            .stats
            .query_one("SELECT dealloc FROM pg_stat_statements_info", &[])
            .await
            .map_err(|e| db_err("reading pg_stat_statements_info", e))?;
        Ok(row.get(0))
    }

    /// Drops our table (best effort, once).
    pub async fn drop_table(&self) {
        if self.dropped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self
            .stats
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table))
            .await
        {
            tracing::warn!("postgres: dropping {}: {e}", self.table);
        }
    }
}

impl PgDb {
    /// Drops our table from a fresh connection on a short-lived thread with its own
    /// runtime (usable from `Drop`, inside or outside a runtime); best effort, once.
    pub fn drop_table_blocking(&self) {
        if self.dropped.swap(true, Ordering::SeqCst) {
            return;
        }
        let (url, table) = (self.url.clone(), self.table.clone());
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(c) = connect(&url).await {
                    let _ = c
                        .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        self.drop_table_blocking();
    }
}

/// `pg_stat_statements` when the module is preloaded and its view can be created/read;
/// otherwise the table statistics.
async fn detect_source(stats: &Client) -> EngineSource {
    let preloaded = match stats.query_one("SHOW shared_preload_libraries", &[]).await {
        Ok(row) => row
            .get::<_, String>(0)
            .split(',')
            .any(|l| l.trim() == "pg_stat_statements"),
        Err(_) => false,
    };
    if !preloaded {
        return EngineSource::TableScans;
    }
    let usable = stats
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .is_ok()
        && stats
            .query_one("SELECT dealloc FROM pg_stat_statements_info", &[])
            .await
            .is_ok();
    if usable {
        EngineSource::Statements
    } else {
        EngineSource::TableScans
    }
}

fn to_dashboard(row: tokio_postgres::Row) -> Result<Dashboard, ServerError> {
    Ok(Dashboard {
        version: row.get(0),
        value: parse_value(row.get(1))?,
        written_at: row.get(2),
    })
}
