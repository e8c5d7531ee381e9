//! The load generator's engine: where connections run and how precisely they send.
//!
//! - One current-thread tokio runtime per load-generator core, each on its own OS thread
//!   pinned to that core at `SCHED_FIFO` when permitted ([`lane`]); a row's connections are spread across them by client
//!   index. The run's control runtime (progress, supervisor, results writer, row drivers)
//!   stays apart.
//! - A publisher lane: when a row's publishers are a strict subset of its clients
//!   (broadcast, rooms, direct: receivers get bursts), publishers run on a lane of their
//!   own on the same core(s), at a higher `SCHED_FIFO` priority than the receivers when
//!   permitted, so a publisher's timer never waits behind a burst of reads.
//! - A precise send timer on every lane ([`timer`]): a timerfd per lane thread ([`timerfd`]).
//!
//! Connections are opened on the lane that will run them (a tokio socket belongs to the
//! reactor of the runtime it was made on): [`Placement::handle`] says where client `i` goes,
//! both for its connect and for its worker.

mod lane;
pub mod timer;
mod timerfd;

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

/// The real-time priority (`SCHED_FIFO`, 1–99) of the receiver lanes: above every normal
/// thread (compilers, the run's control runtime), low among real-time ones. Measured: in a
/// debug build on this 2-core machine with other builds running (load average 9–13), an
/// open-loop echo's send-lag p99 was 150–170 µs with it and 0.8–35 ms without.
/// A real-time lane only keeps the CPU from normal threads while it has work; when it is
/// saturated the row is load-generator bound anyway, and the kernel's real-time throttling
/// (`sched_rt_runtime_us`) still leaves them 5 %.
const RECEIVER_FIFO_PRIORITY: i32 = 5;

/// The publisher lane's real-time priority: above the receiver lanes, so a due send
/// preempts a burst of reads on the same core.
const PUBLISHER_FIFO_PRIORITY: i32 = 10;

/// The lane threads of a run.
#[derive(Debug)]
pub struct Engine {
    /// One per load-generator core.
    receivers: Vec<LaneThread>,
    publishers: LaneThread,
}

impl Engine {
    /// One receiver lane per CPU of `cpus` (pinned to it), and the publisher lane (pinned to
    /// all of them); all at `SCHED_FIFO` when permitted, the publisher lane above the
    /// receivers ([`Engine::refused`] says why not). Empty `cpus`: one unpinned receiver lane.
    pub fn start(cpus: &[usize]) -> io::Result<Engine> {
        let mut receivers = Vec::with_capacity(cpus.len().max(1));
        if cpus.is_empty() {
            receivers.push(LaneThread::start(LaneSetup {
                name: "wsbench-lane-0".into(),
                cpus: Vec::new(),
                realtime: Some(RECEIVER_FIFO_PRIORITY),
                publisher: false,
            })?);
        }
        for &cpu in cpus {
            receivers.push(LaneThread::start(LaneSetup {
                name: format!("wsbench-lane-{cpu}"),
                cpus: vec![cpu],
                realtime: Some(RECEIVER_FIFO_PRIORITY),
                publisher: false,
            })?);
        }
        let publishers = LaneThread::start(LaneSetup {
            name: "wsbench-publishers".into(),
            cpus: cpus.to_vec(),
            realtime: Some(PUBLISHER_FIFO_PRIORITY),
            publisher: true,
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

    /// Whether every receiver lane runs at `SCHED_FIFO`.
    pub fn receivers_realtime(&self) -> bool {
        self.receivers.iter().all(|l| l.realtime)
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

    /// What the row's notes say about its placement: the lanes it uses that run at normal
    /// priority because `SCHED_FIFO` was refused, and why.
    pub fn note(&self) -> Option<String> {
        let publishers = self.publisher_lane().then_some(&self.engine.publishers);
        let refused: Vec<&str> = self
            .engine
            .receivers
            .iter()
            .chain(publishers)
            .filter(|l| !l.realtime)
            .flat_map(|l| l.refused.iter().filter(|r| r.contains("SCHED_FIFO")))
            .map(String::as_str)
            .collect();
        (!refused.is_empty()).then(|| format!("lanes at normal priority: {}", refused.join("; ")))
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
            assert_eq!(p.note().is_some(), !engine.receivers_realtime());
            assert!((0..50).all(|i| !same(p.handle(i), engine.publisher_handle())));
        }
    }
}
