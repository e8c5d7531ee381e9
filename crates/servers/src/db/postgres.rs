//! PostgreSQL behind the dashboard (tokio-postgres, NoTls): a small pool of clients and a
//! table unique to this server instance, so concurrent servers and tests on one database
//! never mix counts. The engine count is `pg_stat_statements` when that module is loaded,
//! otherwise the per-table scan counters of `pg_stat_user_tables` (see
//! docs/database-counting.md for the experiment that shows both are exact).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Statement};

use super::{Counts, Dashboard, parse_value, unix_nanos};
use crate::error::ServerError;

/// Clients in the pool (each pipelines concurrent queries).
const POOL_SIZE: usize = 4;
/// How long a stats read may wait for lazily flushed backend statistics to settle.
const SETTLE_DEADLINE: Duration = Duration::from_secs(5);
/// Pause between two reads of the statistics views while they settle.
const SETTLE_POLL: Duration = Duration::from_millis(25);

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
    /// Request clients, used round-robin.
    pool: Vec<PooledClient>,
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
    /// Statements executed by this layer since the last reset.
    app: AtomicU64,
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
                    "SELECT version, value, written_at FROM {table} WHERE id = 1"
                ))
                .await
                .map_err(|e| db_err("prepare SELECT", e))?;
            let update = client
                .prepare(&format!(
                    "UPDATE {table} SET version = version + 1, value = $1, written_at = $2 \
                     WHERE id = 1 RETURNING version, value, written_at"
                ))
                .await
                .map_err(|e| db_err("prepare UPDATE", e))?;
            pool.push(PooledClient {
                client,
                select,
                update,
            });
        }
        let db = PgDb {
            pool,
            next: AtomicUsize::new(0),
            stats,
            table,
            url: url.to_owned(),
            dropped: AtomicBool::new(false),
            app: AtomicU64::new(0),
            baseline: Mutex::new(0),
            source,
            dealloc_baseline: Mutex::new(0),
        };
        db.reset_counts().await?;
        Ok(db)
    }

    /// The table this instance created (unique per instance).
    pub fn table(&self) -> &str {
        &self.table
    }

    fn pick(&self) -> &PooledClient {
        &self.pool[self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len()]
    }

    pub async fn get_dashboard(&self) -> Result<Dashboard, ServerError> {
        let c = self.pick();
        self.app.fetch_add(1, Ordering::Relaxed);
        let row = c
            .client
            .query_one(&c.select, &[])
            .await
            .map_err(|e| db_err("SELECT dashboard", e))?;
        to_dashboard(&row)
    }

    pub async fn update_dashboard(
        &self,
        value: serde_json::Value,
    ) -> Result<Dashboard, ServerError> {
        let c = self.pick();
        let text = value.to_string();
        self.app.fetch_add(1, Ordering::Relaxed);
        // One statement in autocommit mode: committed when the reply arrives.
        let row = c
            .client
            .query_one(&c.update, &[&text, &unix_nanos()])
            .await
            .map_err(|e| db_err("UPDATE dashboard", e))?;
        to_dashboard(&row)
    }

    pub async fn counts(&self) -> Result<Counts, ServerError> {
        let app = self.app.load(Ordering::Relaxed);
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
            app,
            engine: (now - base).max(0) as u64,
            engine_source: source,
        })
    }

    pub async fn reset_counts(&self) -> Result<(), ServerError> {
        let mut base = self.baseline.lock().await;
        self.app.store(0, Ordering::Relaxed);
        *base = self.engine_total().await?;
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

    /// Asks every pooled backend to flush its pending table statistics (PostgreSQL 15+
    /// flushes lazily; a forced flush happens when the backend goes idle after this query,
    /// before it reports ready), then re-reads until two reads agree or a deadline passes.
    async fn settled_table_scans(&self) -> Result<i64, ServerError> {
        let flushes = self
            .pool
            .iter()
            .map(|c| c.client.simple_query("SELECT pg_stat_force_next_flush()"));
        for r in futures_util::future::join_all(flushes).await {
            r.map_err(|e| db_err("pg_stat_force_next_flush()", e))?;
        }
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let mut last = self.read_table_scans().await?;
        loop {
            tokio::time::sleep(SETTLE_POLL).await;
            let now = self.read_table_scans().await?;
            if now == last || Instant::now() >= deadline {
                return Ok(now);
            }
            last = now;
        }
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

fn to_dashboard(row: &tokio_postgres::Row) -> Result<Dashboard, ServerError> {
    let value: String = row.get(1);
    Ok(Dashboard {
        version: row.get(0),
        value: parse_value(&value)?,
        written_at: row.get(2),
    })
}
