//! The load generator's engine: where connections run and how precisely they send.
//!
//! - One current-thread tokio runtime per load-generator core, each on its own OS thread
//!   pinned to that core ([`lane`]); a row's connections are spread across them by client
//!   index. The run's control runtime (progress, supervisor, results writer, row drivers)
//!   stays apart.
//! - A publisher lane: when a row's publishers are a strict subset of its clients
//!   (broadcast, rooms, direct: receivers get bursts), publishers run on a lane of their
//!   own on the same core(s), at `SCHED_FIFO` when permitted, so a publisher's timer never
//!   waits behind a burst of reads.
//! - A precise send timer on every lane ([`timer`]): a timerfd per lane thread.
//!
//! Connections are opened on the lane that will run them (a tokio socket belongs to the
//! reactor of the runtime it was made on): [`Placement::handle`] says where client `i` goes,
//! both for its connect and for its worker.

mod lane;
pub mod timer;

use std::io;
use std::time::Duration;

use tokio::runtime::Handle;

use self::lane::{LaneSetup, LaneThread};

/// The send precision the engine is built for: an open-loop send leaves within this of its
/// intended time (p99) whenever the load generator is not saturated (measured:
/// docs/results.md, "Send precision").
pub const SEND_PRECISION: Duration = Duration::from_micros(50);

/// A row whose send-lag p99 exceeds this many times [`SEND_PRECISION`] is load-generator
/// bound (docs/design.md, "loadgen-bound").
pub const LATE_SEND_MULTIPLE: u32 = 10;

/// The send-lag p99 above which a row is load-generator bound.
pub fn late_send_limit() -> Duration {
    SEND_PRECISION * LATE_SEND_MULTIPLE
}

/// The lane threads of a run.
#[derive(Debug)]
pub struct Engine {
    /// One per load-generator core.
    receivers: Vec<LaneThread>,
    publishers: LaneThread,
}

impl Engine {
    /// One receiver lane per CPU of `cpus` (pinned to it), and the publisher lane (pinned to
    /// all of them, `SCHED_FIFO` when permitted). Empty `cpus`: one unpinned receiver lane.
    pub fn start(cpus: &[usize]) -> io::Result<Engine> {
        let mut receivers = Vec::with_capacity(cpus.len().max(1));
        if cpus.is_empty() {
            receivers.push(LaneThread::start(LaneSetup {
                name: "wsbench-lane-0".into(),
                cpus: Vec::new(),
                realtime: false,
            })?);
        }
        for &cpu in cpus {
            receivers.push(LaneThread::start(LaneSetup {
                name: format!("wsbench-lane-{cpu}"),
                cpus: vec![cpu],
                realtime: false,
            })?);
        }
        let publishers = LaneThread::start(LaneSetup {
            name: "wsbench-publishers".into(),
            cpus: cpus.to_vec(),
            realtime: true,
        })?;
        Ok(Engine {
            receivers,
            publishers,
        })
    }

    /// Where the clients of a row with `clients` clients, the first `publishers` of which
    /// publish, run.
    pub fn placement(&self, clients: u32, publishers: u32) -> Placement<'_> {
        Placement {
            engine: self,
            apart: if publishers > 0 && publishers < clients {
                publishers
            } else {
                0
            },
        }
    }

    /// Every lane's runtime (receiver lanes, then the publisher lane).
    pub fn handles(&self) -> impl Iterator<Item = &Handle> {
        self.receivers
            .iter()
            .chain(std::iter::once(&self.publishers))
            .map(|l| &l.handle)
    }

    /// The publisher lane's runtime.
    pub fn publisher_handle(&self) -> &Handle {
        &self.publishers.handle
    }

    /// Whether the publisher lane runs at `SCHED_FIFO`.
    pub fn publisher_realtime(&self) -> bool {
        self.publishers.realtime
    }

    /// Setup steps the lane threads were refused (for `meta.json`).
    pub fn refused(&self) -> Vec<String> {
        self.receivers
            .iter()
            .chain(std::iter::once(&self.publishers))
            .flat_map(|l| l.refused.iter().cloned())
            .collect()
    }

    /// How many receiver lanes (= load-generator cores) there are.
    pub fn receiver_lanes(&self) -> usize {
        self.receivers.len()
    }
}

/// Which lane runs each client of one row.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'e> {
    engine: &'e Engine,
    /// Clients `0..apart` run on the publisher lane (0: no publisher lane in this row).
    apart: u32,
}

impl Placement<'_> {
    /// The runtime client `index` connects and runs on.
    pub fn handle(&self, index: u32) -> &Handle {
        if index < self.apart {
            return &self.engine.publishers.handle;
        }
        let lanes = &self.engine.receivers;
        &lanes[index as usize % lanes.len()].handle
    }

    /// Whether this row's publishers run on the publisher lane.
    pub fn publisher_lane(&self) -> bool {
        self.apart > 0
    }

    /// What the row's notes say about its placement: the publisher lane without real-time
    /// priority, when it was refused.
    pub fn note(&self) -> Option<String> {
        (self.publisher_lane() && !self.engine.publishers.realtime).then(|| {
            let why = self.engine.publishers.refused.join("; ");
            format!("publisher lane at normal priority ({why})")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishers_get_their_own_lane_only_when_they_are_a_strict_subset() {
        let engine = Engine::start(&crate::system::allowed_cpus()).unwrap();
        let lanes = engine.receiver_lanes();
        let same = |a: &Handle, b: &Handle| a.id() == b.id();
        let p = engine.placement(100, 1);
        assert!(p.publisher_lane());
        assert!(same(p.handle(0), engine.publisher_handle()));
        for i in 1..100 {
            assert!(!same(p.handle(i), engine.publisher_handle()), "client {i}");
        }
        // spread: consecutive clients on different receiver lanes
        if lanes > 1 {
            assert!(!same(p.handle(1), p.handle(2)));
        }
        // everyone publishes (echo) or nobody does (connect): no publisher lane
        for p in [engine.placement(50, 50), engine.placement(50, 0)] {
            assert!(!p.publisher_lane());
            assert!(p.note().is_none());
            assert!((0..50).all(|i| !same(p.handle(i), engine.publisher_handle())));
        }
    }
}
