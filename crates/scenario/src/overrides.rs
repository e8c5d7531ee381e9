//! CLI overrides of scenario fields (`wsbench run … --rate 500 --quick`).
//!
//! A flag beats the file; a flag on a swept key replaces that sweep. Errors a flag causes
//! name the flag, not the file.

use std::time::Duration;

use crate::model::Phases;

/// Values given on the command line. `None` / `false`: keep the file's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--targets a,b,…`: replaces `targets` (built-in names, `all`, or `kind=url`).
    pub targets: Option<Vec<String>>,
    /// `--clients`.
    pub clients: Option<u32>,
    /// `--publishers`.
    pub publishers: Option<u32>,
    /// `--rate`: total msgs/s across publishers.
    pub rate: Option<f64>,
    /// `--payload-bytes`.
    pub payload_bytes: Option<usize>,
    /// `--warmup-s`.
    pub warmup_s: Option<f64>,
    /// `--measure-s`.
    pub measure_s: Option<f64>,
    /// `--drain-s`.
    pub drain_s: Option<f64>,
    /// `--quick`: a smoke run; phases shrink to at most [`QUICK_PHASES`] (explicit phase
    /// flags still win).
    pub quick: bool,
    /// `--server-cpus`: the CPU budget of the servers the run starts (replaces `server_cpus`).
    pub server_cpus: Option<f64>,
    /// `--floor`: run the floor client after each row (as `floor = true`).
    pub floor: bool,
    /// `--nodes`: server processes per target, one cluster over Redis (replaces `nodes`).
    pub nodes: Option<u32>,
}

/// The longest phases a `--quick` run keeps: warmup 0.5 s, measure 2 s, drain 1 s.
pub const QUICK_PHASES: Phases = Phases {
    warmup: Duration::from_millis(500),
    measure: Duration::from_secs(2),
    drain: Duration::from_secs(1),
};

/// Flag names, as the CLI spells them, for error messages.
pub(crate) mod flag {
    pub const TARGETS: &str = "--targets";
    pub const CLIENTS: &str = "--clients";
    pub const PUBLISHERS: &str = "--publishers";
    pub const RATE: &str = "--rate";
    pub const NODES: &str = "--nodes";
    pub const PAYLOAD_BYTES: &str = "--payload-bytes";
    pub const WARMUP_S: &str = "--warmup-s";
    pub const MEASURE_S: &str = "--measure-s";
    pub const DRAIN_S: &str = "--drain-s";
    pub const SERVER_CPUS: &str = "--server-cpus";
    pub const FLOOR: &str = "--floor";
}

impl Overrides {
    /// Shrinks `phases` to [`QUICK_PHASES`] where they are longer, if `quick` is set.
    pub(crate) fn quicken(&self, phases: Phases) -> Phases {
        if !self.quick {
            return phases;
        }
        Phases {
            warmup: phases.warmup.min(QUICK_PHASES.warmup),
            measure: phases.measure.min(QUICK_PHASES.measure),
            drain: phases.drain.min(QUICK_PHASES.drain),
        }
    }
}
