//! The dashboard cache of the `poll-cached` variant (`GET /api/dashboard/cached`): rows by
//! workspace, in this process by default or in Redis with `serve --cache redis://…`.
//! A write invalidates its workspace's entry after commit, so a read runs its SELECT only
//! on a miss.
//!
//! A read that missed fills the entry after its SELECT; a write may have committed and
//! invalidated in between, which would leave the old row cached until the next write. So
//! the filler checks afterwards whether the server has learnt a newer version (the write
//! learns it before it invalidates) and, if so, invalidates again: either the check sees
//! the write, or the write's invalidation comes after the fill.

use std::collections::HashMap;
use std::sync::Mutex;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

use crate::error::ServerError;

/// Redis keys expire after this, so a server that dies leaves nothing behind for long.
const REDIS_TTL_S: u64 = 3600;

/// Where `poll-cached` rows live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheConfig {
    /// A map in this server process.
    #[default]
    InProcess,
    /// Redis at this URL (`redis://host:port[/db]`), keys unique to this server instance.
    Redis(String),
}

impl CacheConfig {
    /// Parses `serve --cache`: `memory` or `redis://…` / `rediss://…`.
    pub fn parse(s: &str) -> Result<CacheConfig, String> {
        if s == "memory" {
            Ok(CacheConfig::InProcess)
        } else if s.starts_with("redis://") || s.starts_with("rediss://") {
            Ok(CacheConfig::Redis(s.to_owned()))
        } else {
            Err(format!(
                "unsupported cache {s:?}: use memory (the default) or redis://host:port"
            ))
        }
    }
}

/// An open cache.
pub(crate) enum DashboardCache {
    InProcess(Mutex<HashMap<u32, String>>),
    Redis {
        conn: MultiplexedConnection,
        /// `wsbench:<pid>-<nanos>:dashboard:`: this instance's keys.
        prefix: String,
    },
}

fn cache_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Http(format!("cache: {what}: {e}"))
}

impl DashboardCache {
    /// Opens the cache (connects to Redis and checks it answers).
    pub(crate) async fn open(cfg: &CacheConfig) -> Result<DashboardCache, ServerError> {
        match cfg {
            CacheConfig::InProcess => Ok(DashboardCache::InProcess(Mutex::new(HashMap::new()))),
            CacheConfig::Redis(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| cache_err(&format!("Redis URL {url:?}"), e))?;
                let mut conn = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    client.get_multiplexed_async_connection(),
                )
                .await
                .map_err(|_| cache_err(&format!("connecting to {url}"), "no answer in 5 s"))?
                .map_err(|e| cache_err(&format!("connecting to {url}"), e))?;
                let _: String = redis::cmd("PING")
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| cache_err(&format!("PING {url}"), e))?;
                let prefix = format!(
                    "wsbench:{}-{}:dashboard:",
                    std::process::id(),
                    crate::db::unix_nanos()
                );
                Ok(DashboardCache::Redis { conn, prefix })
            }
        }
    }

    /// `memory` or `redis`: named in `/api/stats` as `cache`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            DashboardCache::InProcess(_) => "memory",
            DashboardCache::Redis { .. } => "redis",
        }
    }

    /// The cached row text of `workspace`, if any.
    pub(crate) async fn get(&self, workspace: u32) -> Result<Option<String>, ServerError> {
        match self {
            DashboardCache::InProcess(m) => {
                Ok(m.lock().expect("cache lock").get(&workspace).cloned())
            }
            DashboardCache::Redis { conn, prefix } => conn
                .clone()
                .get(format!("{prefix}{workspace}"))
                .await
                .map_err(|e| cache_err("GET", e)),
        }
    }

    /// Caches `text` as `workspace`'s row.
    pub(crate) async fn put(&self, workspace: u32, text: &str) -> Result<(), ServerError> {
        match self {
            DashboardCache::InProcess(m) => {
                m.lock()
                    .expect("cache lock")
                    .insert(workspace, text.to_owned());
                Ok(())
            }
            DashboardCache::Redis { conn, prefix } => conn
                .clone()
                .set_ex(format!("{prefix}{workspace}"), text, REDIS_TTL_S)
                .await
                .map_err(|e| cache_err("SET", e)),
        }
    }

    /// Drops `workspace`'s entry (a write committed).
    pub(crate) async fn invalidate(&self, workspace: u32) -> Result<(), ServerError> {
        match self {
            DashboardCache::InProcess(m) => {
                m.lock().expect("cache lock").remove(&workspace);
                Ok(())
            }
            DashboardCache::Redis { conn, prefix } => conn
                .clone()
                .del(format!("{prefix}{workspace}"))
                .await
                .map_err(|e| cache_err("DEL", e)),
        }
    }

    /// Removes this instance's keys (Redis; best effort, at shutdown).
    pub(crate) async fn clear(&self, workspaces: u32) {
        if let DashboardCache::Redis { conn, prefix } = self {
            let keys: Vec<String> = (1..=workspaces).map(|w| format!("{prefix}{w}")).collect();
            let _: Result<(), _> = conn.clone().del(keys).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_urls() {
        assert_eq!(
            CacheConfig::parse("memory").unwrap(),
            CacheConfig::InProcess
        );
        assert_eq!(
            CacheConfig::parse("redis://127.0.0.1:6379").unwrap(),
            CacheConfig::Redis("redis://127.0.0.1:6379".into())
        );
        assert!(CacheConfig::parse("memcached://x").is_err());
    }
}
