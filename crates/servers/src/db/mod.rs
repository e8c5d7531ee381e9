//! The counted database layer behind the REST routes of DESIGN.md §4: one dashboard row,
//! read with exactly one SELECT and written with exactly one UPDATE … RETURNING. Every
//! statement is counted twice, independently: by this layer (`app`) and by the database
//! engine (`engine`: SQLite's profile trace hook, PostgreSQL's statistics views). See
//! docs/database-counting.md for why each engine count is exact.

pub mod postgres;
pub mod sqlite;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::DatabaseConfig;
use crate::error::ServerError;

/// The dashboard row as the REST routes return and push it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    /// Incremented by every write; viewers use it to detect changes and measure staleness.
    pub version: i64,
    /// The writer's value, opaque JSON (stored as JSON text).
    pub value: serde_json::Value,
    /// Wall-clock time of the write, unix nanoseconds (0 for the initial row).
    pub written_at: i64,
}

/// Statement counts since the last [`Db::reset_counts`] (or since setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Statements this layer executed (one per `get_dashboard` / `update_dashboard`).
    pub app: u64,
    /// Statements the engine reports having executed against our table.
    pub engine: u64,
    /// Where `engine` comes from: `sqlite-trace`, `pg_stat_statements` or
    /// `pg_stat_user_tables`.
    pub engine_source: &'static str,
}

/// A database holding the dashboard row, with counted statements.
pub enum Db {
    Sqlite(sqlite::SqliteDb),
    Postgres(Box<postgres::PgDb>),
}

impl Db {
    /// Opens (and for a temp SQLite file creates) the database, creates the table and its
    /// single row. Setup statements are not counted.
    pub async fn open(cfg: &DatabaseConfig) -> Result<Db, ServerError> {
        match cfg {
            DatabaseConfig::SqliteTemp => Ok(Db::Sqlite(sqlite::SqliteDb::open_temp().await?)),
            DatabaseConfig::SqlitePath(p) => {
                Ok(Db::Sqlite(sqlite::SqliteDb::open_path(p.clone()).await?))
            }
            DatabaseConfig::Postgres(url) => {
                Ok(Db::Postgres(Box::new(postgres::PgDb::open(url).await?)))
            }
        }
    }

    /// One SELECT.
    pub async fn get_dashboard(&self) -> Result<Dashboard, ServerError> {
        match self {
            Db::Sqlite(d) => d.get_dashboard().await,
            Db::Postgres(d) => d.get_dashboard().await,
        }
    }

    /// One UPDATE … RETURNING (version + 1, new value, now); returns the new row once the
    /// write is committed.
    pub async fn update_dashboard(
        &self,
        value: serde_json::Value,
    ) -> Result<Dashboard, ServerError> {
        match self {
            Db::Sqlite(d) => d.update_dashboard(value).await,
            Db::Postgres(d) => d.update_dashboard(value).await,
        }
    }

    /// App and engine statement counts since the last reset.
    pub async fn counts(&self) -> Result<Counts, ServerError> {
        match self {
            Db::Sqlite(d) => Ok(d.counts()),
            Db::Postgres(d) => d.counts().await,
        }
    }

    /// Zeroes the app count and re-baselines the engine count.
    pub async fn reset_counts(&self) -> Result<(), ServerError> {
        match self {
            Db::Sqlite(d) => {
                d.reset_counts();
                Ok(())
            }
            Db::Postgres(d) => d.reset_counts().await,
        }
    }

    /// Like [`cleanup`](Self::cleanup), blocking the calling thread (for `Drop`).
    pub fn cleanup_blocking(&self) {
        if let Db::Postgres(d) = self {
            d.drop_table_blocking();
        }
    }

    /// Removes what `open` created where that is possible (the PostgreSQL table; a temp
    /// SQLite file goes when the `Db` drops). Idempotent, best effort.
    pub async fn cleanup(&self) {
        if let Db::Postgres(d) = self {
            d.drop_table().await;
        }
    }
}

/// Unix nanoseconds now (the `written_at` of a write).
pub(crate) fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Parses the stored JSON text of `value`; a corrupt cell is a database error.
pub(crate) fn parse_value(text: &str) -> Result<serde_json::Value, ServerError> {
    serde_json::from_str(text)
        .map_err(|e| ServerError::Database(format!("dashboard value is not JSON: {e}")))
}
