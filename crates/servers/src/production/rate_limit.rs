//! `--rate-limit N/s`: a token bucket per connection. Each request (raw op, Socket.IO event)
//! takes one token; the bucket holds at most N tokens (a burst of one second's worth) and
//! refills continuously at N per second. A request with no token left is not acted on: the
//! raw targets reply `{"op":"error","reason":"rate limited"}`, Socket.IO emits
//! `error("rate limited")`, and the server counts it (`rate_limited` in `/api/stats`).
//! Never a silent drop.

use std::time::Duration;

use tokio::time::Instant;

/// The refusal text on every target.
pub const RATE_LIMITED: &str = "rate limited";

/// Requests per second per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_sec: u32,
}

impl RateLimit {
    /// Parses `N/s` (or a bare `N`), N >= 1.
    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.strip_suffix("/s").unwrap_or(s).trim();
        match n.parse::<u32>() {
            Ok(per_sec) if per_sec > 0 => Ok(RateLimit { per_sec }),
            _ => Err(format!(
                "{s:?} is not a rate: use N/s with N a whole number >= 1 (e.g. 100/s)"
            )),
        }
    }

    /// A full bucket for a new connection.
    pub fn bucket(self) -> TokenBucket {
        TokenBucket::new(self, Instant::now())
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/s", self.per_sec)
    }
}

/// One connection's bucket. Tokens are kept in nanoseconds of refill time so the
/// arithmetic stays exact: a token costs `1 s / N`, the bucket holds at most one second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// The time at which the bucket would be empty: tokens left = (now - empty_at) / cost,
    /// capped at one second's worth (GCRA form: one instant instead of a count + a stamp).
    empty_at: Instant,
    /// Refill time of one token.
    cost: Duration,
}

impl TokenBucket {
    fn new(limit: RateLimit, now: Instant) -> Self {
        TokenBucket {
            empty_at: now.checked_sub(Duration::from_secs(1)).unwrap_or(now),
            cost: Duration::from_secs(1) / limit.per_sec,
        }
    }

    /// Takes a token if one is left.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> bool {
        // At most one second of tokens accumulates.
        let floor = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        let start = self.empty_at.max(floor);
        let next = start + self.cost;
        if next <= now {
            self.empty_at = next;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rates() {
        assert_eq!(RateLimit::parse("100/s").unwrap().per_sec, 100);
        assert_eq!(RateLimit::parse("5").unwrap().per_sec, 5);
        assert!(RateLimit::parse("0/s").is_err());
        assert!(RateLimit::parse("ten/s").is_err());
        assert!(RateLimit::parse("1.5/s").is_err());
        assert_eq!(RateLimit { per_sec: 7 }.to_string(), "7/s");
    }

    #[test]
    fn burst_of_one_second_then_refill_at_the_rate() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut b = TokenBucket::new(RateLimit { per_sec: 10 }, t0);
        let taken = (0..25).filter(|_| b.try_take_at(t0)).count();
        assert_eq!(taken, 10, "a full bucket holds one second's worth");
        assert!(!b.try_take_at(t0 + Duration::from_millis(99)));
        assert!(b.try_take_at(t0 + Duration::from_millis(100)));
        assert!(!b.try_take_at(t0 + Duration::from_millis(100)));
        // Idle for a minute: still only one second's burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..25).filter(|_| b.try_take_at(later)).count(), 10);
    }
}
