//! The counted database layer behind the REST routes of docs/design.md §4: one dashboard row,
//! read with exactly one SELECT and written with exactly one UPDATE … RETURNING. Every
//! statement is counted twice, independently: by this layer (`app`) and by the database
//! engine (`engine`: SQLite's profile trace hook, PostgreSQL's statistics views). A
//! [`Gate`] keeps statements out while both counts are read or reset, so they agree
//! exactly under concurrent load. See docs/database-counting.md.

pub mod gate;
pub mod postgres;
pub mod sqlite;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::RwLockWriteGuard;

pub use self::gate::{Gate, Pass};
use crate::config::DatabaseConfig;
use crate::error::ServerError;

/// The dashboard row as the REST routes return and push it.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// Incremented by every write; viewers use it to detect changes and measure staleness.
    pub version: i64,
    /// The writer's value, opaque JSON kept as the writer sent it (key order included),
    /// without insignificant whitespace; stored as this text.
    pub value: Box<RawValue>,
    /// Wall-clock time of the write, unix nanoseconds (0 for the initial row).
    pub written_at: i64,
}

impl Dashboard {
    /// The one JSON text of a row, `{"version":V,"value":…,"written_at":T}` (docs/design.md §4
    /// key order): the GET body, the POST reply and the pushed update are all this text.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"version":{},"value":{},"written_at":{}}}"#,
            self.version,
            self.value.get(),
            self.written_at
        )
    }
}

/// Statement counts since the last [`Db::reset_counts`] (or since setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Statements this layer executed successfully (one per `get_dashboard` /
    /// `update_dashboard`), counted after the statement finished.
    pub app: u64,
    /// Statements the engine reports having executed against our table.
    pub engine: u64,
    /// Where `engine` comes from: `sqlite-trace`, `pg_stat_statements` or
    /// `pg_stat_user_tables`.
    pub engine_source: &'static str,
    /// Statements that failed (not in `app`; the engine may or may not have counted them,
    /// so a non-zero value explains a disagreement).
    pub errors: u64,
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

    /// Admission for counted statements (see [`Gate`]). Hold it across everything that
    /// must be counted together with the statement (e.g. an HTTP request count).
    pub async fn pass(&self) -> Pass {
        self.gate().pass().await
    }

    /// Keeps statements out (waiting for admitted ones to be counted) while the returned
    /// guard lives; read or reset the counts through it.
    pub async fn quiesce(&self) -> Quiesced<'_> {
        Quiesced {
            db: self,
            _quiet: self.gate().quiesce().await,
        }
    }

    fn gate(&self) -> &Gate {
        match self {
            Db::Sqlite(d) => &d.gate,
            Db::Postgres(d) => &d.gate,
        }
    }

    /// One SELECT of workspace 1's row, under a pass of its own.
    pub async fn get_dashboard(&self) -> Result<Dashboard, ServerError> {
        self.get_dashboard_with(self.pass().await, 1).await
    }

    /// One SELECT of workspace `workspace`'s row under `pass` (released once the
    /// statement is counted, even if the caller stops waiting). A workspace without a row
    /// is a database error: callers check it against [`Db::ensure_workspaces`] first.
    pub async fn get_dashboard_with(
        &self,
        pass: Pass,
        workspace: u32,
    ) -> Result<Dashboard, ServerError> {
        match self {
            Db::Sqlite(d) => d.get_dashboard(pass, workspace).await,
            Db::Postgres(d) => d.get_dashboard(pass, workspace).await,
        }
    }

    /// One UPDATE … RETURNING of workspace 1 (version + 1, new value, now) under a pass
    /// of its own; returns the new row once the write is committed.
    pub async fn update_dashboard(&self, value: &RawValue) -> Result<Dashboard, ServerError> {
        self.update_dashboard_with(self.pass().await, 1, value)
            .await
    }

    /// Like [`update_dashboard`](Self::update_dashboard), of `workspace`, under `pass`.
    pub async fn update_dashboard_with(
        &self,
        pass: Pass,
        workspace: u32,
        value: &RawValue,
    ) -> Result<Dashboard, ServerError> {
        let text = compact_json(value.get());
        match self {
            Db::Sqlite(d) => d.update_dashboard(pass, workspace, text).await,
            Db::Postgres(d) => d.update_dashboard(pass, workspace, text).await,
        }
    }

    /// Makes sure workspaces `1..=count` each have their dashboard row (new rows start at
    /// version 0, value `null`). Setup, quiesced and not counted on either side, like
    /// table creation: the counts read afterwards are the same as before.
    pub async fn ensure_workspaces(&self, count: u32) -> Result<(), ServerError> {
        let _quiet = self.quiesce().await;
        match self {
            Db::Sqlite(d) => d.ensure_rows(count).await,
            Db::Postgres(d) => d.ensure_rows(count).await,
        }
    }

    /// App and engine statement counts since the last reset (quiesced).
    pub async fn counts(&self) -> Result<Counts, ServerError> {
        self.quiesce().await.counts().await
    }

    /// Zeroes the app count and re-baselines the engine count (quiesced).
    pub async fn reset_counts(&self) -> Result<(), ServerError> {
        self.quiesce().await.reset_counts().await
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

/// A database with no statement in flight: both counts can be read (or reset) as one.
pub struct Quiesced<'a> {
    db: &'a Db,
    /// The write side of the gate, held for this value's lifetime.
    _quiet: RwLockWriteGuard<'a, ()>,
}

impl Quiesced<'_> {
    /// App and engine statement counts since the last reset.
    pub async fn counts(&self) -> Result<Counts, ServerError> {
        match self.db {
            Db::Sqlite(d) => Ok(d.counts()),
            Db::Postgres(d) => d.counts().await,
        }
    }

    /// Zeroes the app count and re-baselines the engine count.
    pub async fn reset_counts(&self) -> Result<(), ServerError> {
        match self.db {
            Db::Sqlite(d) => {
                d.reset_counts();
                Ok(())
            }
            Db::Postgres(d) => d.reset_counts().await,
        }
    }
}

/// `json` (valid JSON text) without insignificant whitespace, everything else kept as
/// written: what `JSON.stringify(JSON.parse(json))` gives in Node, key order included.
pub fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for ch in json.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if !matches!(ch, ' ' | '\t' | '\n' | '\r') {
            in_string = ch == '"';
            out.push(ch);
        }
    }
    out
}

/// Unix nanoseconds now (the `written_at` of a write).
pub(crate) fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Checks the stored JSON text of `value`; a corrupt cell is a database error.
pub(crate) fn parse_value(text: String) -> Result<Box<RawValue>, ServerError> {
    RawValue::from_string(text)
        .map_err(|e| ServerError::Database(format!("dashboard value is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_drops_only_insignificant_whitespace() {
        assert_eq!(
            compact_json(" { \"b\" : [1, 2],\n\t\"a\":\"x y \\\" z\" } "),
            r#"{"b":[1,2],"a":"x y \" z"}"#
        );
        assert_eq!(compact_json("\"\\\\\" "), r#""\\""#);
    }

    #[test]
    fn a_row_serialises_in_design_order() {
        let row = Dashboard {
            version: 2,
            value: RawValue::from_string(r#"{"z":1,"a":2}"#.into()).unwrap(),
            written_at: 7,
        };
        let text = r#"{"version":2,"value":{"z":1,"a":2},"written_at":7}"#;
        assert_eq!(row.to_json(), text);
        assert_eq!(serde_json::to_string(&row).unwrap(), text);
    }
}
