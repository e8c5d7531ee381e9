//! SQLite (bundled rusqlite) behind the dashboard: a WAL database with a small pool of
//! connections used from `spawn_blocking`. The app count is bumped once per statement this
//! layer executes, on the blocking thread right after the statement finished and before
//! its [`Pass`] is released; the engine count comes from `SQLITE_TRACE_PROFILE`, which
//! SQLite fires once when each statement finishes (before the app count), installed on
//! every pooled connection after setup.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::{Counts, Dashboard, Gate, Pass, parse_value, unix_nanos};
use crate::error::ServerError;

/// Connections in the pool: enough for concurrent readers beside the writer (WAL).
const POOL_SIZE: usize = 4;

const SELECT_SQL: &str = "SELECT version, value, written_at FROM dashboard WHERE id = ?1";
const UPDATE_SQL: &str = "UPDATE dashboard SET version = version + 1, value = ?1, written_at = ?2 \
                          WHERE id = ?3 RETURNING version, value, written_at";
/// Adds one workspace's row (setup, not counted: see [`SqliteDb::ensure_rows`]).
const INSERT_SQL: &str =
    "INSERT OR IGNORE INTO dashboard (id, version, value, written_at) VALUES (?1, 0, 'null', 0)";

/// A pooled, counted SQLite database.
pub struct SqliteDb {
    /// Idle connections; a permit of `available` is held while one is checked out.
    idle: Arc<Mutex<Vec<Connection>>>,
    /// One permit per connection, so callers wait asynchronously for a free one. The
    /// permit travels with the connection into the blocking task, so a caller that gives
    /// up (drops its future) cannot let another caller find the pool empty.
    available: Arc<Semaphore>,
    /// Keeps statements out while counts are read or reset.
    pub(super) gate: Gate,
    /// Statements executed by this layer since the last reset (bumped after each one).
    app: Arc<AtomicU64>,
    /// Statements that failed since the last reset (not in `app`).
    errors: Arc<AtomicU64>,
    /// Statements the SQLite profile hook saw finish, on any pooled connection.
    engine: Arc<AtomicU64>,
    /// Keeps a temporary database's directory alive; removed (with WAL files) on drop.
    _temp: Option<tempfile::TempDir>,
}

fn db_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Database(format!("sqlite: {what}: {e}"))
}

impl SqliteDb {
    /// A fresh database in a new temporary directory, removed when this value drops.
    pub async fn open_temp() -> Result<SqliteDb, ServerError> {
        let dir = tempfile::Builder::new()
            .prefix("wsbench-sqlite-")
            .tempdir()
            .map_err(|e| db_err("creating a temporary directory", e))?;
        let path = dir.path().join("dashboard.db");
        Self::open_at(path, Some(dir)).await
    }

    /// The database at `path` (created if missing). The dashboard table is recreated.
    pub async fn open_path(path: PathBuf) -> Result<SqliteDb, ServerError> {
        Self::open_at(path, None).await
    }

    async fn open_at(
        path: PathBuf,
        temp: Option<tempfile::TempDir>,
    ) -> Result<SqliteDb, ServerError> {
        let engine = Arc::new(AtomicU64::new(0));
        let counter = engine.clone();
        let conns = tokio::task::spawn_blocking(move || open_pool(&path, &counter))
            .await
            .map_err(|e| db_err("setup task", e))??;
        Ok(SqliteDb {
            idle: Arc::new(Mutex::new(conns)),
            available: Arc::new(Semaphore::new(POOL_SIZE)),
            gate: Gate::default(),
            app: Arc::new(AtomicU64::new(0)),
            errors: Arc::new(AtomicU64::new(0)),
            engine,
            _temp: temp,
        })
    }

    /// Runs the statement `work` on a pooled connection on the blocking pool, then counts
    /// it (app or errors) and releases `pass`; the connection goes back to the pool
    /// afterwards (also when `work` fails). Once started, the blocking task runs to the end
    /// even if the caller stops waiting, so every statement run is counted.
    async fn with_conn<T, F>(&self, pass: Pass, work: F) -> Result<T, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ServerError> + Send + 'static,
    {
        self.gate.check(&pass)?;
        let permit = self
            .available
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| db_err("connection pool closed", e))?;
        let conn = self
            .idle
            .lock()
            .expect("sqlite pool lock")
            .pop()
            .ok_or_else(|| db_err("pool", "no idle connection despite a permit"))?;
        let (idle, app, errors) = (self.idle.clone(), self.app.clone(), self.errors.clone());
        tokio::task::spawn_blocking(move || {
            let out = work(&conn);
            match &out {
                Ok(_) => app.fetch_add(1, Ordering::Relaxed),
                Err(_) => errors.fetch_add(1, Ordering::Relaxed),
            };
            pass.release();
            idle.lock().expect("sqlite pool lock").push(conn);
            drop(permit);
            out
        })
        .await
        .map_err(|e| db_err("query task", e))?
    }

    /// One SELECT of workspace `id`'s row under `pass`.
    pub async fn get_dashboard(&self, pass: Pass, id: u32) -> Result<Dashboard, ServerError> {
        self.with_conn(pass, move |c| {
            let mut stmt = c
                .prepare_cached(SELECT_SQL)
                .map_err(|e| db_err("prepare SELECT", e))?;
            let row = stmt
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(|e| db_err("SELECT dashboard", e))?;
            Ok(row)
        })
        .await
        .and_then(to_dashboard)
    }

    /// One UPDATE … RETURNING of workspace `id`'s row under `pass`; `text` is the new
    /// value's JSON text.
    pub async fn update_dashboard(
        &self,
        pass: Pass,
        id: u32,
        text: String,
    ) -> Result<Dashboard, ServerError> {
        self.with_conn(pass, move |c| {
            let mut stmt = c
                .prepare_cached(UPDATE_SQL)
                .map_err(|e| db_err("prepare UPDATE", e))?;
            // Autocommit: the write is committed when the statement finishes, i.e. before
            // `query_row` returns (it drains and resets the statement).
            let row = stmt
                .query_row(rusqlite::params![text, unix_nanos(), id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(|e| db_err("UPDATE dashboard", e))?;
            Ok(row)
        })
        .await
        .and_then(to_dashboard)
    }

    /// Makes sure rows `1..=count` exist (one transaction of `INSERT OR IGNORE`); only
    /// called behind the gate's write side. Setup, not a dashboard statement: what the
    /// profile hook counts meanwhile is taken back out of the engine count, and the app
    /// count is not touched.
    pub(super) async fn ensure_rows(&self, count: u32) -> Result<(), ServerError> {
        let permit = self
            .available
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| db_err("connection pool closed", e))?;
        let conn = self
            .idle
            .lock()
            .expect("sqlite pool lock")
            .pop()
            .ok_or_else(|| db_err("pool", "no idle connection despite a permit"))?;
        let (idle, engine) = (self.idle.clone(), self.engine.clone());
        tokio::task::spawn_blocking(move || {
            let before = engine.load(Ordering::Relaxed);
            let out = (|| {
                let tx = conn
                    .unchecked_transaction()
                    .map_err(|e| db_err("BEGIN (workspaces)", e))?;
                {
                    let mut stmt = tx
                        .prepare(INSERT_SQL)
                        .map_err(|e| db_err("prepare INSERT (workspaces)", e))?;
                    for id in 2..=count {
                        stmt.execute([id])
                            .map_err(|e| db_err("INSERT workspace row", e))?;
                    }
                }
                tx.commit().map_err(|e| db_err("COMMIT (workspaces)", e))
            })();
            let traced = engine.load(Ordering::Relaxed) - before;
            engine.fetch_sub(traced, Ordering::Relaxed);
            idle.lock().expect("sqlite pool lock").push(conn);
            drop(permit);
            out
        })
        .await
        .map_err(|e| db_err("workspaces task", e))?
    }

    /// Both counts; only called behind the gate's write side (`Quiesced`), so every
    /// admitted statement has bumped both counters (the gate's lock orders the loads after
    /// the increments).
    pub(super) fn counts(&self) -> Counts {
        Counts {
            app: self.app.load(Ordering::Relaxed),
            engine: self.engine.load(Ordering::Relaxed),
            engine_source: "sqlite-trace",
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    /// Zeroes both counts; only called behind the gate's write side.
    pub(super) fn reset_counts(&self) {
        self.app.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        self.engine.store(0, Ordering::Relaxed);
    }
}

fn to_dashboard(
    (version, value, written_at): (i64, String, i64),
) -> Result<Dashboard, ServerError> {
    Ok(Dashboard {
        version,
        value: parse_value(value)?,
        written_at,
    })
}

/// Creates the schema on the first connection, then opens the pool and installs the
/// profile hook on each connection last, so setup statements are never counted.
fn open_pool(
    path: &std::path::Path,
    engine: &Arc<AtomicU64>,
) -> Result<Vec<Connection>, ServerError> {
    let open = || -> Result<Connection, ServerError> {
        let c = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_err(&format!("opening {}", path.display()), e))?;
        c.busy_timeout(Duration::from_secs(10))
            .map_err(|e| db_err("busy_timeout", e))?;
        c.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| db_err("journal_mode=WAL", e))?;
        c.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| db_err("synchronous", e))?;
        Ok(c)
    };
    let first = open()?;
    first
        .execute_batch(
            "DROP TABLE IF EXISTS dashboard;
             CREATE TABLE dashboard (
                 id INTEGER PRIMARY KEY,
                 version INTEGER NOT NULL,
                 value TEXT NOT NULL,
                 written_at INTEGER NOT NULL
             );
             INSERT INTO dashboard (id, version, value, written_at) VALUES (1, 0, 'null', 0);",
        )
        .map_err(|e| db_err("creating the dashboard table", e))?;
    let mut conns = vec![first];
    for _ in 1..POOL_SIZE {
        conns.push(open()?);
    }
    for c in &mut conns {
        // Prepare both statements now so the cache never prepares during a measurement
        // (preparing does not fire the profile hook, but keeps the timing flat).
        c.prepare_cached(SELECT_SQL)
            .map_err(|e| db_err("prepare SELECT", e))?;
        c.prepare_cached(UPDATE_SQL)
            .map_err(|e| db_err("prepare UPDATE", e))?;
        let counter = engine.clone();
        c.trace_v2(
            TraceEventCodes::SQLITE_TRACE_PROFILE,
            Some(move |e: TraceEvent<'_>| {
                if let TraceEvent::Profile(..) = e {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }),
        )
        .map_err(|e| db_err("installing the profile trace", e))?;
    }
    Ok(conns)
}
