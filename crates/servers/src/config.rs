//! What every server target is told at start: limits, the slow-consumer policy, the
//! database, and fault injection for the load generator's truth tests.

use std::time::Duration;

/// What a server does with a connection whose bounded outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumer {
    /// Drop the delivery for that connection and count it (the load generator sees it as
    /// lost). Other connections are unaffected. This mirrors socketioxide, which drops on a
    /// full per-socket queue.
    #[default]
    Drop,
    /// Close the connection (WebSocket close 1008 "slow consumer").
    Disconnect,
}

/// Who may `POST /api/stats/reset` (the harness's probe zeroes the counters with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatsResetFrom {
    /// Only clients on a loopback address; others get 403.
    #[default]
    Loopback,
    /// Anyone who can reach the server (a load generator on another host).
    Any,
}

/// Where the dashboard row of docs/design.md §4 lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DatabaseConfig {
    /// SQLite embedded, in a fresh temporary file removed at exit.
    #[default]
    SqliteTemp,
    /// SQLite at this path (created if missing).
    SqlitePath(std::path::PathBuf),
    /// PostgreSQL at this URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl DatabaseConfig {
    /// Parses `--database`: `sqlite` / `sqlite::memory:` (temp file), `sqlite:PATH`, or
    /// `postgres://…` / `postgresql://…`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "sqlite" || s == "sqlite::memory:" || s == "sqlite:" {
            Ok(DatabaseConfig::SqliteTemp)
        } else if let Some(p) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            Ok(DatabaseConfig::SqlitePath(p.into()))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(DatabaseConfig::Postgres(s.to_owned()))
        } else {
            Err(format!(
                "unsupported database URL {s:?}: use sqlite, sqlite:PATH or postgres://user@host:port/db"
            ))
        }
    }
}

/// Faults a server injects on purpose, so tests can check that the load generator reports
/// what really happened. All off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Faults {
    /// Delay every delivery (every outgoing `msg`) by this much.
    pub delay: Option<Duration>,
    /// Drop every k-th delivery (counted over the whole server, 1-based: k, 2k, …).
    pub drop_every: Option<u64>,
    /// Once, at the first delivery, stall the delivery path for this long.
    pub stall_once: Option<Duration>,
    /// Abort the whole process (SIGABRT) when it accepts its n-th connection: a server that
    /// dies while a row's clients are still connecting. `wsbench serve` takes it from the
    /// environment (`WSBENCH_FAULT_ABORT_AFTER_ACCEPTS`), so that a test can hand it to the
    /// servers a `wsbench run` starts; never use it in-process.
    pub abort_after_accepts: Option<u64>,
}

impl Faults {
    /// Counts one accepted connection (process-wide) and aborts at the
    /// `abort_after_accepts`-th.
    pub fn accepted(&self) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static ACCEPTED: AtomicU64 = AtomicU64::new(0);
        if let Some(n) = self.abort_after_accepts
            && ACCEPTED.fetch_add(1, Ordering::Relaxed) + 1 >= n
        {
            eprintln!("fault injection: aborting at accepted connection {n}");
            std::process::abort();
        }
    }
}

/// Settings every target shares. Defaults are the ones `wsbench serve --help` states.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted message (WebSocket message after reassembly, tcp frame, Socket.IO
    /// packet). Over it: close 1009 (WebSocket) or close the connection (tcp).
    pub max_message_bytes: usize,
    /// Connections served at once; further ones are refused (HTTP 503 / TCP close).
    pub max_connections: usize,
    /// Outgoing frames queued per connection before the slow-consumer policy applies.
    pub outbound_queue: usize,
    /// What to do with a connection whose outbound queue is full.
    pub slow_consumer: SlowConsumer,
    /// A connection that sends nothing (not even a pong) for this long is closed. The raw
    /// WebSocket targets ping every `idle_timeout / 2`.
    pub idle_timeout: Duration,
    /// Socket.IO ping interval and timeout (Engine.IO heartbeat).
    pub sio_ping_interval: Duration,
    pub sio_ping_timeout: Duration,
    /// The database behind the REST routes.
    pub database: DatabaseConfig,
    /// Where the `poll-cached` route keeps rows (`serve --cache`).
    pub cache: crate::rest::CacheConfig,
    /// Injected faults (tests of the load generator's accounting).
    pub faults: Faults,
    /// Raw WebSocket targets only: echo every message back verbatim instead of speaking the
    /// app protocol. For the Autobahn|Testsuite, which needs an echo server; never used in
    /// a benchmark.
    pub echo_only: bool,
    /// The cluster this server is a node of (`--adapter redis://…`); `None`: standalone.
    pub adapter: Option<crate::cluster::AdapterConfig>,
    /// Bytes queued per connection (raw targets) before the slow-consumer policy applies,
    /// on top of the `outbound_queue` frame bound. A frame larger than the bound alone is
    /// let through when the queue is empty. socketioxide cannot bound bytes: on
    /// `sio-socketioxide` only the packet bound applies.
    pub outbound_queue_bytes: usize,
    /// Rooms one connection may be in at once; a further join gets an error reply.
    pub max_rooms_per_connection: usize,
    /// Longest room name accepted, in bytes (UTF-8); a longer one gets an error reply.
    pub max_room_name_bytes: usize,
    /// HTTP targets: time a client has to send a request head, counted whenever the server
    /// waits for one (so it is also the keep-alive idle timeout), and to send a REST body.
    pub http_read_timeout: Duration,
    /// How long shutdown waits for open connections to finish before dropping them.
    pub shutdown_timeout: Duration,
    /// Who may reset the REST stats.
    pub stats_reset_from: StatsResetFrom,
    /// JWT, CORS and rate limiting (`crate::production`); all off by default.
    pub production: crate::production::Production,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: 1 << 20,
            max_connections: 100_000,
            outbound_queue: 4096,
            slow_consumer: SlowConsumer::Drop,
            idle_timeout: Duration::from_secs(120),
            sio_ping_interval: Duration::from_secs(25),
            sio_ping_timeout: Duration::from_secs(20),
            database: DatabaseConfig::SqliteTemp,
            cache: crate::rest::CacheConfig::InProcess,
            faults: Faults::default(),
            echo_only: false,
            adapter: None,
            outbound_queue_bytes: 16 << 20,
            max_rooms_per_connection: 1000,
            max_room_name_bytes: 256,
            http_read_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(5),
            stats_reset_from: StatsResetFrom::Loopback,
            production: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseConfig::parse("sqlite").unwrap(),
            DatabaseConfig::SqliteTemp
        );
        assert_eq!(
            DatabaseConfig::parse("sqlite:/tmp/x.db").unwrap(),
            DatabaseConfig::SqlitePath("/tmp/x.db".into())
        );
        assert!(matches!(
            DatabaseConfig::parse("postgres://postgres@127.0.0.1:5432/test").unwrap(),
            DatabaseConfig::Postgres(_)
        ));
        assert!(DatabaseConfig::parse("mysql://x").is_err());
    }
}
