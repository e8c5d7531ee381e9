//! A target's cluster (`nodes` > 1, docs/cluster.md) as a row sees it: every node's
//! endpoint, the server children beyond the first, and [`RedisProbe`], which reads Redis's
//! own CPU time and PUBLISH count from `INFO` at the measure boundaries (`redis_cpu_s`,
//! `redis_msgs_per_delivery`). Starting the nodes is the runner's (`runner::cluster`).

use std::time::Duration;

use crate::supervise::ServerChild;
use crate::transport::Endpoint;

/// The Redis a run's clusters use unless `--redis` says otherwise.
pub const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";
/// How long a Redis command may take before the probe gives up.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// A row's cluster beyond its first node.
#[derive(Debug)]
pub struct Cluster {
    /// Every node's endpoint, in node order (the first is the target's `endpoint`).
    pub endpoints: Vec<Endpoint>,
    /// The server children of nodes 2..N (node 1 is the target's `child`).
    pub more: Vec<ServerChild>,
    /// The Redis they share.
    pub redis: RedisProbe,
}

impl Cluster {
    /// Stops nodes 2..N.
    pub async fn stop(self, grace: Duration) {
        for child in self.more {
            child.stop(grace).await;
        }
    }
}

/// Redis's counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedisStats {
    /// `used_cpu_sys + used_cpu_user`, seconds.
    pub cpu_s: f64,
    /// PUBLISH (and SPUBLISH) commands executed since Redis started.
    pub publishes: u64,
}

/// A connection-less handle on the cluster's Redis.
#[derive(Debug, Clone)]
pub struct RedisProbe {
    client: redis::Client,
    pub url: String,
}

impl RedisProbe {
    /// Checks that Redis at `url` answers (PING); the error says so plainly when not.
    pub fn connect(url: &str) -> Result<RedisProbe, String> {
        let fail = |e: &dyn std::fmt::Display| {
            format!("Redis at {url} does not answer ({e}); start it or pass --redis URL")
        };
        let client = redis::Client::open(url).map_err(|e| format!("--redis {url}: {e}"))?;
        let mut conn = client
            .get_connection_with_timeout(REDIS_TIMEOUT)
            .map_err(|e| fail(&e))?;
        conn.set_read_timeout(Some(REDIS_TIMEOUT))
            .map_err(|e| fail(&e))?;
        redis::cmd("PING")
            .query::<String>(&mut conn)
            .map_err(|e| fail(&e))?;
        Ok(RedisProbe {
            client,
            url: url.to_owned(),
        })
    }

    /// Redis's CPU time and PUBLISH count now; `None` when it cannot be read (the row then
    /// leaves the Redis columns empty).
    pub fn stats(&self) -> Option<RedisStats> {
        let mut conn = self
            .client
            .get_connection_with_timeout(REDIS_TIMEOUT)
            .ok()?;
        conn.set_read_timeout(Some(REDIS_TIMEOUT)).ok()?;
        let info: String = redis::cmd("INFO")
            .arg("cpu")
            .arg("commandstats")
            .query(&mut conn)
            .ok()?;
        parse_info(&info)
    }
}

/// Reads `used_cpu_sys`, `used_cpu_user` and the `calls` of `cmdstat_publish` /
/// `cmdstat_spublish` from `INFO cpu commandstats` text.
pub fn parse_info(info: &str) -> Option<RedisStats> {
    let mut sys = None;
    let mut user = None;
    let mut publishes = 0u64;
    for line in info.lines() {
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        match key {
            "used_cpu_sys" => sys = value.parse::<f64>().ok(),
            "used_cpu_user" => user = value.parse::<f64>().ok(),
            "cmdstat_publish" | "cmdstat_spublish" => {
                let calls = value
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))
                    .and_then(|n| n.parse::<u64>().ok())?;
                publishes += calls;
            }
            _ => {}
        }
    }
    Some(RedisStats {
        cpu_s: sys? + user?,
        publishes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_gives_cpu_and_publishes() {
        let info = "# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:0.25\r\nused_cpu_sys_children:9\r\n\
                    # Commandstats\r\ncmdstat_publish:calls=40,usec=20,usec_per_call=0.50\r\n\
                    cmdstat_spublish:calls=2,usec=1\r\ncmdstat_subscribe:calls=5,usec=22\r\n";
        let s = parse_info(info).unwrap();
        assert_eq!(s.publishes, 42);
        assert!((s.cpu_s - 1.75).abs() < 1e-9);
        // no PUBLISH yet: 0, not unknown
        assert_eq!(
            parse_info("used_cpu_sys:1\nused_cpu_user:1\n")
                .unwrap()
                .publishes,
            0
        );
        assert!(parse_info("used_cpu_sys:1\n").is_none());
    }

    #[test]
    fn a_redis_that_does_not_answer_is_a_clear_error() {
        // a port nothing listens on: bind one, then close it
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = RedisProbe::connect(&format!("redis://127.0.0.1:{port}")).unwrap_err();
        assert!(
            e.contains("does not answer") && e.contains("--redis"),
            "{e}"
        );
    }
}
