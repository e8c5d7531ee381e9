//! `wsbench serve`: bind, print the listening line, run one server target until SIGINT or
//! SIGTERM.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use wsbench_servers::cluster::AdapterConfig;
use wsbench_servers::config::{DatabaseConfig, Faults, SlowConsumer, StatsResetFrom};
use wsbench_servers::rest::CacheConfig;
use wsbench_servers::{RustServer, ServerConfig};

use crate::args::ServeArgs;
use crate::exit;

/// Turns the flags into a validated config, or a usage message.
fn config(a: &ServeArgs) -> Result<(RustServer, ServerConfig), String> {
    let target = RustServer::from_name(&a.target).ok_or_else(|| {
        let names: Vec<_> = RustServer::ALL.iter().map(|t| t.name()).collect();
        format!(
            "unknown target {:?}; `serve` runs one of: {}",
            a.target,
            names.join(", ")
        )
    })?;
    let secs = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(format!(
                "--{name} must be a positive number of seconds (got {v})"
            ))
        }
    };
    let positive = |name: &str, v: usize| {
        if v > 0 {
            Ok(v)
        } else {
            Err(format!("--{name} must be at least 1"))
        }
    };
    if a.fault_drop_every == Some(0) {
        return Err("--fault-drop-every must be at least 1".into());
    }
    if a.echo && !target.is_raw_websocket() {
        return Err("--echo applies to ws-tungstenite and ws-fastwebsockets only".into());
    }
    socketioxide_limits(target, a)?;
    let cfg = ServerConfig {
        max_message_bytes: positive("max-message-bytes", a.max_message_bytes)?,
        max_connections: positive("max-connections", a.max_connections)?,
        outbound_queue: positive("outbound-queue", a.outbound_queue)?,
        slow_consumer: match a.slow_consumer.as_str() {
            "disconnect" => SlowConsumer::Disconnect,
            _ => SlowConsumer::Drop,
        },
        idle_timeout: secs("idle-timeout-s", a.idle_timeout_s)?,
        sio_ping_interval: secs("sio-ping-interval-s", a.sio_ping_interval_s)?,
        sio_ping_timeout: secs("sio-ping-timeout-s", a.sio_ping_timeout_s)?,
        database: DatabaseConfig::parse(&a.database).map_err(|e| format!("--database: {e}"))?,
        cache: CacheConfig::parse(&a.cache).map_err(|e| format!("--cache: {e}"))?,
        faults: Faults {
            delay: a.fault_delay_ms.map(Duration::from_millis),
            drop_every: a.fault_drop_every,
            stall_once: a.fault_stall_once_ms.map(Duration::from_millis),
            abort_after_accepts: abort_after_accepts()?,
        },
        echo_only: a.echo,
        adapter: match &a.adapter {
            Some(url) => Some(
                AdapterConfig::parse(url, &a.adapter_prefix)
                    .map_err(|e| format!("--adapter: {e}"))?,
            ),
            None => None,
        },
        outbound_queue_bytes: positive(
            "outbound-queue-bytes",
            a.outbound_queue_bytes
                .unwrap_or(ServerConfig::default().outbound_queue_bytes),
        )?,
        max_rooms_per_connection: positive("max-rooms-per-connection", a.max_rooms_per_connection)?,
        max_room_name_bytes: positive("max-room-name-bytes", a.max_room_name_bytes)?,
        http_read_timeout: secs("http-read-timeout-s", a.http_read_timeout_s)?,
        shutdown_timeout: secs("shutdown-timeout-s", a.shutdown_timeout_s)?,
        stats_reset_from: match a.stats_reset_from.as_str() {
            "any" => StatsResetFrom::Any,
            _ => StatsResetFrom::Loopback,
        },
        production: a.production.config(target)?,
    };
    Ok((target, cfg))
}

/// What socketioxide cannot do is refused at start rather than silently ignored.
fn socketioxide_limits(target: RustServer, a: &ServeArgs) -> Result<(), String> {
    if target != RustServer::SioSocketioxide {
        return Ok(());
    }
    if a.slow_consumer == "disconnect" {
        return Err(
            "--slow-consumer disconnect: sio-socketioxide cannot close a socket whose queue \
             is full (socketioxide's disconnect packet needs room in that queue); use drop"
                .into(),
        );
    }
    if a.outbound_queue_bytes.is_some() {
        return Err(
            "--outbound-queue-bytes: sio-socketioxide bounds its queue in packets only \
             (--outbound-queue)"
                .into(),
        );
    }
    Ok(())
}

pub fn main(a: ServeArgs) -> u8 {
    let (target, cfg) = match config(&a) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wsbench serve: {e}");
            return exit::USAGE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wsbench serve: cannot start the runtime: {e}");
            return exit::RUN_ERROR;
        }
    };
    rt.block_on(async move {
        // Signal handlers exist before the listening line: a supervisor may signal at once.
        let shutdown = match shutdown_signal() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("wsbench serve: cannot install signal handlers: {e}");
                return exit::RUN_ERROR;
            }
        };
        // a node of a cluster refuses to start (before its listening line) without Redis
        if let Some(adapter) = &cfg.adapter
            && let Err(e) = wsbench_servers::cluster::check_redis(adapter).await
        {
            eprintln!("wsbench serve {}: {e}", target.name());
            return exit::RUN_ERROR;
        }
        let listener = match wsbench_servers::listen::listen_on(&a.bind).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("wsbench serve: cannot listen on {}: {e}", a.bind);
                return exit::RUN_ERROR;
            }
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("wsbench serve: {e}");
                return exit::RUN_ERROR;
            }
        };
        // The harness reads this exact line; flush so it never waits on a pipe buffer.
        let mut out = std::io::stdout().lock();
        if writeln!(out, "listening on {addr}")
            .and_then(|_| out.flush())
            .is_err()
        {
            return exit::RUN_ERROR;
        }
        drop(out);
        let stats = Default::default();
        let result = wsbench_servers::serve(target, listener, cfg, stats, shutdown).await;
        match result {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("wsbench serve {}: {e}", target.name());
                exit::RUN_ERROR
            }
        }
    })
}

/// `WSBENCH_FAULT_ABORT_AFTER_ACCEPTS=N`: abort at the n-th accepted connection (a test
/// hook: a server that dies while a row's clients connect; see `Faults`).
fn abort_after_accepts() -> Result<Option<u64>, String> {
    const VAR: &str = "WSBENCH_FAULT_ABORT_AFTER_ACCEPTS";
    match std::env::var(VAR) {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!(
                "{VAR} must be a whole number of at least 1, not {v:?}"
            )),
        },
    }
}

/// Installs SIGINT and SIGTERM handlers now; the future resolves on the first of them
/// (graceful shutdown, bounded by `--shutdown-timeout-s`), and a second one exits the
/// process at once with code 130.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            eprintln!("wsbench serve: second signal: exiting without waiting for connections");
            std::process::exit(i32::from(exit::INTERRUPTED));
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> ServeArgs {
        let mut v = vec!["wsbench", "serve"];
        v.extend_from_slice(args);
        match crate::args::Cli::parse_from(v).command {
            crate::args::Command::Serve(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn defaults_match_server_defaults() {
        let (t, cfg) = config(&parse(&["ws-tungstenite"])).unwrap();
        assert_eq!(t, RustServer::WsTungstenite);
        let d = ServerConfig::default();
        assert_eq!(cfg.max_message_bytes, d.max_message_bytes);
        assert_eq!(cfg.max_connections, d.max_connections);
        assert_eq!(cfg.outbound_queue, d.outbound_queue);
        assert_eq!(cfg.slow_consumer, d.slow_consumer);
        assert_eq!(cfg.idle_timeout, d.idle_timeout);
        assert_eq!(cfg.sio_ping_interval, d.sio_ping_interval);
        assert_eq!(cfg.sio_ping_timeout, d.sio_ping_timeout);
        assert_eq!(cfg.database, d.database);
        assert_eq!(cfg.cache, d.cache);
        let (_, cfg) = config(&parse(&[
            "ws-tungstenite",
            "--cache",
            "redis://127.0.0.1:6379",
        ]))
        .unwrap();
        assert_eq!(
            cfg.cache,
            CacheConfig::Redis("redis://127.0.0.1:6379".into())
        );
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        // (flags, text the error must name; "" where any error will do)
        let cases: [(&[&str], &str); 8] = [
            (&["nope"], "unknown target"),
            (&["tcp", "--max-message-bytes", "0"], ""),
            (&["tcp", "--fault-drop-every", "0"], ""),
            (&["tcp", "--echo"], "--echo"),
            (&["tcp", "--database", "mysql://x"], "--database"),
            (&["tcp", "--idle-timeout-s=-1"], ""),
            (&["tcp", "--cache", "memcached://x"], "--cache"),
            (&["tcp", "--adapter", "http://x:1"], "--adapter"),
        ];
        for (flags, needle) in cases {
            let err = config(&parse(flags)).expect_err(&format!("{flags:?} is accepted"));
            assert!(err.contains(needle), "{flags:?}: {err}");
        }
        let (_, cfg) = config(&parse(&["tcp", "--adapter", "redis://127.0.0.1:6379"])).unwrap();
        assert_eq!(cfg.adapter.unwrap().prefix, "wsbench");
    }

    #[test]
    fn hardening_flags_are_checked() {
        assert!(config(&parse(&["tcp", "--max-rooms-per-connection", "0"])).is_err());
        assert!(config(&parse(&["tcp", "--shutdown-timeout-s", "0"])).is_err());
        let sio_disconnect = ["sio-socketioxide", "--slow-consumer", "disconnect"];
        assert!(
            config(&parse(&sio_disconnect))
                .unwrap_err()
                .contains("--slow-consumer disconnect")
        );
        let sio_bytes = ["sio-socketioxide", "--outbound-queue-bytes", "1000"];
        assert!(
            config(&parse(&sio_bytes))
                .unwrap_err()
                .contains("--outbound-queue-bytes")
        );
    }

    #[test]
    fn hardening_defaults_match_server_defaults() {
        let (_, cfg) = config(&parse(&["ws-fastwebsockets"])).unwrap();
        let d = ServerConfig::default();
        assert_eq!(cfg.outbound_queue_bytes, d.outbound_queue_bytes);
        assert_eq!(cfg.max_rooms_per_connection, d.max_rooms_per_connection);
        assert_eq!(cfg.max_room_name_bytes, d.max_room_name_bytes);
        assert_eq!(cfg.http_read_timeout, d.http_read_timeout);
        assert_eq!(cfg.shutdown_timeout, d.shutdown_timeout);
        assert_eq!(cfg.stats_reset_from, d.stats_reset_from);
    }
}
