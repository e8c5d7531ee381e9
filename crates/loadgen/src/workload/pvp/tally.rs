//! The arithmetic of a polling-vs-push row, pure and unit-tested: which requests the server
//! must have counted in the measure window ([`Window`], [`Bounds`]), and the staleness of
//! every (viewer, version) pair with the versions a viewer never saw ([`staleness`]).
//!
//! Everything here is on the load generator's one monotonic clock: the writer, the viewers
//! and the stats probe live in one process, so "the write of V returned" and "viewer i first
//! saw V" are comparable instants.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::recorder::{micros, new_histogram};

/// One dashboard write as the writer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    /// The workspace written (1 when the scenario has one dashboard).
    pub workspace: u32,
    /// The version the server returned for this write (versions count per workspace).
    pub version: u64,
    /// When the POST's response was received (kernel stamp of the read that completed it,
    /// else user time): staleness is measured from here.
    pub returned_at: Instant,
}

/// A viewer seeing a version (the first time or again; [`staleness`] keeps the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sight {
    pub version: u64,
    /// When the GET's response or the pushed update was received: the kernel's stamp of
    /// the read that completed it, else (no stamp) when the viewer had it.
    pub at: Instant,
    /// When the viewer had it − `at` (the load generator's read lag); `None` without a
    /// kernel stamp.
    pub read_lag_ns: Option<u64>,
}

/// One HTTP request the load generator issued (a viewer's GET or the writer's POST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// When the request was handed to the connection.
    pub sent_at: Instant,
    /// When its response had been read (or the request failed).
    pub done_at: Instant,
    /// False when the request failed: the server may or may not have run it.
    pub answered: bool,
}

/// The measure window as the stats probe bracketed it: `POST /api/stats/reset` at its start,
/// `GET /api/stats` at its end, each known only between sending it and reading its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub reset_sent: Instant,
    pub reset_done: Instant,
    pub read_sent: Instant,
    pub read_done: Instant,
}

impl Window {
    /// The server surely counted `e`: it was answered, and left after the reset had
    /// happened and came back before the read was sent.
    pub fn surely_in(&self, e: &Exchange) -> bool {
        e.answered && e.sent_at >= self.reset_done && e.done_at <= self.read_sent
    }

    /// The server may have counted `e`: it overlaps the window at all.
    pub fn maybe_in(&self, e: &Exchange) -> bool {
        e.done_at > self.reset_sent && e.sent_at < self.read_done
    }

    /// Length of the window, from the middle of the reset to the middle of the read.
    pub fn length(&self) -> Duration {
        let mid = |a: Instant, b: Instant| a + (b.saturating_duration_since(a)) / 2;
        mid(self.read_sent, self.read_done)
            .saturating_duration_since(mid(self.reset_sent, self.reset_done))
    }
}

/// How many of a set of requests the server must have counted: at least `min` (those
/// wholly inside the window), at most `max` (those overlapping it). The difference is the
/// scheduling tolerance of the count: requests in flight while the probe ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    pub min: u64,
    pub max: u64,
}

impl Bounds {
    /// Bounds of `exchanges` in `window`.
    pub fn of<'a>(window: &Window, exchanges: impl IntoIterator<Item = &'a Exchange>) -> Bounds {
        let mut b = Bounds::default();
        for e in exchanges {
            b.min += u64::from(window.surely_in(e));
            b.max += u64::from(window.maybe_in(e));
        }
        b
    }

    pub fn plus(self, other: Bounds) -> Bounds {
        Bounds {
            min: self.min + other.min,
            max: self.max + other.max,
        }
    }

    pub fn contains(self, n: u64) -> bool {
        (self.min..=self.max).contains(&n)
    }
}

/// Staleness of every (viewer, version) pair of the measure window.
#[derive(Debug)]
pub struct Staleness {
    /// First sight − write returned, µs, one sample per pair seen (0 when seen earlier).
    pub histogram: Histogram<u64>,
    /// Versions whose write returned inside the measure window (all workspaces).
    pub versions: u64,
    /// (viewer, version) pairs due: each viewer is due the versions of its workspace.
    pub expected: u64,
    /// Pairs seen (versions × viewers − missed).
    pub seen: u64,
    /// Pairs never seen by the end of drain: a polling viewer skipped the version (a
    /// result when the poll interval is longer than the write interval) or a push was lost.
    pub missed: u64,
    /// Pairs seen before the writer had read its own POST's response (a push can overtake
    /// the HTTP response); recorded as staleness 0.
    pub early: u64,
}

/// One viewer's sights of its workspace's dashboard.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub workspace: u32,
    pub sights: &'a [Sight],
}

/// Staleness of the writes whose POST returned in `[from, to)`, over every viewer's sights
/// (each viewer against the writes of its own workspace).
pub fn staleness(writes: &[Write], from: Instant, to: Instant, viewers: &[Seen<'_>]) -> Staleness {
    let in_window: Vec<&Write> = writes
        .iter()
        .filter(|w| w.returned_at >= from && w.returned_at < to)
        .collect();
    let mut out = Staleness {
        histogram: new_histogram(),
        versions: in_window.len() as u64,
        expected: 0,
        seen: 0,
        missed: 0,
        early: 0,
    };
    for viewer in viewers {
        let mut first: HashMap<u64, Instant> = HashMap::with_capacity(viewer.sights.len());
        for s in viewer.sights {
            first
                .entry(s.version)
                .and_modify(|t| *t = (*t).min(s.at))
                .or_insert(s.at);
        }
        for w in in_window.iter().filter(|w| w.workspace == viewer.workspace) {
            out.expected += 1;
            match first.get(&w.version) {
                Some(&at) => {
                    out.seen += 1;
                    if at < w.returned_at {
                        out.early += 1;
                    }
                    let us = micros(at.saturating_duration_since(w.returned_at));
                    let _ = out.histogram.record(us);
                }
                None => out.missed += 1,
            }
        }
    }
    out
}

/// The version of a dashboard row as the server sends it (`{"version":V,…}`).
pub fn version_of(json: &[u8]) -> Option<u64> {
    row_of(json).map(|r| r.0)
}

/// The version of a dashboard row and the workspace its writer tagged the value with
/// (`{"version":V,"value":{"workspace":K,…},…}`; `None` for an untagged value).
pub fn row_of(json: &[u8]) -> Option<(u64, Option<u32>)> {
    #[derive(serde::Deserialize)]
    struct Row<'a> {
        version: u64,
        #[serde(borrow, default)]
        value: Option<&'a serde_json::value::RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Tagged {
        workspace: u32,
    }
    let row = serde_json::from_slice::<Row<'_>>(json).ok()?;
    let tag = row
        .value
        .filter(|v| v.get().starts_with('{'))
        .and_then(|v| serde_json::from_str::<Tagged>(v.get()).ok())
        .map(|t| t.workspace);
    Some((row.version, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn bounds_bracket_requests_in_flight_at_the_probes() {
        let t = Instant::now();
        let w = Window {
            reset_sent: at(t, 100),
            reset_done: at(t, 102),
            read_sent: at(t, 1100),
            read_done: at(t, 1103),
        };
        let ex = |a, b| Exchange {
            sent_at: at(t, a),
            done_at: at(t, b),
            answered: true,
        };
        let all = [
            ex(0, 50),      // before: neither
            ex(99, 101),    // straddles the reset: maybe
            ex(200, 210),   // inside: surely
            ex(1099, 1101), // straddles the read: maybe
            ex(1200, 1210), // after: neither
        ];
        assert_eq!(Bounds::of(&w, &all), Bounds { min: 1, max: 3 });
        let failed = Exchange {
            answered: false,
            ..ex(300, 310)
        };
        assert_eq!(Bounds::of(&w, [&failed]), Bounds { min: 0, max: 1 });
        assert!(Bounds { min: 1, max: 3 }.contains(3));
        assert!(!Bounds { min: 1, max: 3 }.contains(0));
        assert_eq!(w.length(), Duration::from_micros(1_000_500));
    }

    #[test]
    fn staleness_counts_first_sights_and_missed_versions() {
        let t = Instant::now();
        let writes = [
            Write {
                workspace: 1,
                version: 1,
                returned_at: at(t, 0), // before the window: ignored
            },
            Write {
                workspace: 1,
                version: 2,
                returned_at: at(t, 100),
            },
            Write {
                workspace: 1,
                version: 3,
                returned_at: at(t, 200),
            },
            Write {
                workspace: 2,
                version: 1,
                returned_at: at(t, 120),
            },
        ];
        let sight = |version, ms| Sight {
            version,
            at: at(t, ms),
            read_lag_ns: None,
        };
        // sees 2 twice (the first counts) and skips 3
        let a = [sight(1, 10), sight(2, 150), sight(2, 160)];
        // sees 2 before the writer read its response, and 3 late
        let b = [sight(2, 99), sight(3, 230)];
        // workspace 2's viewer sees its one version
        let c = [sight(1, 130)];
        let viewers = [
            Seen {
                workspace: 1,
                sights: &a,
            },
            Seen {
                workspace: 1,
                sights: &b,
            },
            Seen {
                workspace: 2,
                sights: &c,
            },
        ];
        let s = staleness(&writes, at(t, 50), at(t, 250), &viewers);
        assert_eq!(
            (s.versions, s.expected, s.seen, s.missed, s.early),
            (3, 5, 4, 1, 1)
        );
        assert_eq!(s.histogram.len(), 4);
        assert_eq!(s.histogram.min(), 0);
        assert!(s.histogram.equivalent(s.histogram.max(), 50_000));
    }

    #[test]
    fn versions_parse_from_rows() {
        assert_eq!(
            version_of(br#"{"version":7,"value":1,"written_at":5}"#),
            Some(7)
        );
        assert_eq!(version_of(b"{}"), None);
        assert_eq!(
            row_of(br#"{"version":3,"value":{"workspace":2,"n":9},"written_at":5}"#),
            Some((3, Some(2)))
        );
        assert_eq!(row_of(br#"{"version":3,"value":[1]}"#), Some((3, None)));
    }
}
