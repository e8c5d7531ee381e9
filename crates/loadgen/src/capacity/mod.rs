//! `wsbench capacity`: the highest load each target carries within an SLO with nothing
//! lost. [`search`] is the pure search (double, then bisect); this module turns a step's
//! row into a [`search::Verdict`] and a scenario into the scenario of one step; [`driver`]
//! runs the steps through the runner's seams (one ordinary row per step, written to
//! `summary.csv` as it finishes) and writes `capacity.csv`.

pub mod driver;
pub mod search;

use wsbench_report::SummaryRow;
use wsbench_report::capacity::LimitedBy;
use wsbench_report::capacity::slo::Slo;
use wsbench_scenario::{LoopMode, Scenario, Workload};

pub use driver::{CapacityOptions, CapacityOutcome, run_capacity};
pub use search::{Found, Search, Verdict};

/// What a search steps: the offered rate or the number of clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Rate,
    Clients,
}

impl By {
    /// The sweep key of a step row and the name in `meta.json`.
    pub fn key(self) -> &'static str {
        match self {
            By::Rate => "rate",
            By::Clients => "clients",
        }
    }

    /// The unit of a capacity in `capacity.csv`.
    pub fn unit(self) -> &'static str {
        match self {
            By::Rate => "msgs/s",
            By::Clients => "clients",
        }
    }

    /// The load the search starts at: the scenario's rate or clients.
    pub fn start(self, s: &Scenario) -> f64 {
        match self {
            By::Rate => s.rate,
            By::Clients => f64::from(s.clients),
        }
    }
}

/// Why a scenario cannot be searched (a usage error: the CLI exits 2).
pub fn check_searchable(s: &Scenario, by: By) -> Result<(), String> {
    let name = &s.name;
    match &s.workload {
        Workload::Connect { .. } => {
            return Err(format!(
                "scenario {name:?} is a connect storm: it offers no message load to search; \
                 search an echo, broadcast, rooms, direct or ack scenario instead"
            ));
        }
        Workload::PollingVsPush(_) => {
            return Err(format!(
                "scenario {name:?} is polling-vs-push: its load is a poll interval, not a rate; \
                 search an echo, broadcast, rooms, direct or ack scenario instead"
            ));
        }
        _ => {}
    }
    if s.nodes > 1 {
        return Err(format!(
            "scenario {name:?} runs {} nodes: the capacity search measures one server; \
             use `wsbench run` for clusters",
            s.nodes
        ));
    }
    if by == By::Rate {
        if s.workload.mode() == LoopMode::Closed {
            return Err(format!(
                "scenario {name:?} is closed loop (ping-pong): each client sends as fast as \
                 replies come back, so there is no offered rate to step; use an open-loop \
                 copy with a `rate` (mode = \"open\"), or --by clients (a closed loop runs \
                 the load generator flat out, so its steps often end as `loadgen`)"
            ));
        }
        if s.rate <= 0.0 {
            return Err(format!(
                "scenario {name:?} has no `rate` to start the search from: set `rate` \
                 (total msgs/s) in the file, or use --by clients"
            ));
        }
    }
    Ok(())
}

/// The scenario of the step at `load`: `rate` (or `clients`, with `publishers` following
/// when every client publishes) set to it, and the sweep label `rate=N` / `clients=N` so
/// every step is its own row (and `.hgrm`) in the run directory.
pub fn step_scenario(base: &Scenario, by: By, load: f64) -> Scenario {
    let mut s = base.clone();
    match by {
        By::Rate => s.rate = load,
        By::Clients => {
            let n = load.round().clamp(1.0, f64::from(u32::MAX)) as u32;
            if s.publishers == s.clients {
                s.publishers = n;
            }
            s.publishers = s.publishers.min(n);
            if let Workload::Rooms { rooms } = &mut s.workload
                && rooms.get() > n
            {
                *rooms = std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
            }
            s.clients = n;
        }
    }
    s.sweep = vec![(by.key().to_owned(), load_label(load))];
    s
}

/// A load as the sweep label and progress line show it (`1500`, `7.07`): exact, so no two
/// steps share a label (the search rounds its loads to three significant digits).
pub fn load_label(load: f64) -> String {
    format!("{load}")
}

/// The verdict on a step's row, and the detail (`3 lost`, `p99 61.0ms > 50ms`). A
/// load-generator-bound row fails first of all: its figures are not the server's.
pub fn verdict(row: &SummaryRow, slo: &Slo) -> (Verdict, String) {
    if row.loadgen_bound {
        let why = row
            .notes
            .split("; ")
            .find(|n| n.starts_with("loadgen-bound"))
            .unwrap_or("loadgen-bound");
        return (Verdict::Fail(LimitedBy::Loadgen), why.to_owned());
    }
    if row.lost > 0 {
        return (
            Verdict::Fail(LimitedBy::Lost),
            format!("{} of {} deliveries lost", row.lost, row.expected),
        );
    }
    let errors = row.errors + row.connect_errors;
    if errors > 0 {
        return (Verdict::Fail(LimitedBy::Errors), format!("{errors} errors"));
    }
    match slo.check(row) {
        Ok(()) => (Verdict::Pass, String::new()),
        Err(broken) => (Verdict::Fail(LimitedBy::Slo), broken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        wsbench_scenario::parse(text, "t.toml", &Default::default())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn the_verdict_puts_loadgen_then_lost_then_errors_then_the_slo() {
        let slo = Slo::parse("p99<=10ms").unwrap();
        let ok = SummaryRow {
            lat_p99_us: 9_000,
            expected: 100,
            ..SummaryRow::default()
        };
        assert_eq!(verdict(&ok, &slo).0, Verdict::Pass);
        let slow = SummaryRow {
            lat_p99_us: 11_000,
            ..ok.clone()
        };
        assert_eq!(
            verdict(&slow, &slo),
            (Verdict::Fail(LimitedBy::Slo), "p99 11.0ms > 10ms".into())
        );
        let erring = SummaryRow {
            connect_errors: 2,
            ..slow.clone()
        };
        assert_eq!(verdict(&erring, &slo).0, Verdict::Fail(LimitedBy::Errors));
        let losing = SummaryRow {
            lost: 3,
            ..erring.clone()
        };
        assert_eq!(
            verdict(&losing, &slo),
            (
                Verdict::Fail(LimitedBy::Lost),
                "3 of 100 deliveries lost".into()
            )
        );
        let bound = SummaryRow {
            loadgen_bound: true,
            notes: "x; loadgen-bound: load generator used 95 % of its 1 core(s)".into(),
            ..losing
        };
        assert_eq!(
            verdict(&bound, &slo),
            (
                Verdict::Fail(LimitedBy::Loadgen),
                "loadgen-bound: load generator used 95 % of its 1 core(s)".into()
            )
        );
    }

    #[test]
    fn rateless_and_unsearchable_scenarios_are_refused_with_what_to_do() {
        let closed = scenario("workload = \"echo\"\nmode = \"closed\"\nclients = 4\n");
        let e = check_searchable(&closed, By::Rate).unwrap_err();
        assert!(
            e.contains("closed loop") && e.contains("--by clients"),
            "{e}"
        );
        assert!(check_searchable(&closed, By::Clients).is_ok());
        let storm = scenario("workload = \"connect\"\nclients = 4\n");
        assert!(
            check_searchable(&storm, By::Rate)
                .unwrap_err()
                .contains("connect storm")
        );
        let open = scenario("workload = \"echo\"\nclients = 4\nrate = 100\n");
        assert!(check_searchable(&open, By::Rate).is_ok());
        let cluster = scenario("workload = \"echo\"\nclients = 4\nrate = 100\nnodes = 3\n");
        assert!(
            check_searchable(&cluster, By::Rate)
                .unwrap_err()
                .contains("3 nodes")
        );
    }

    #[test]
    fn a_step_sets_its_load_and_labels_its_row() {
        let s = scenario("workload = \"echo\"\nclients = 4\nrate = 100\n");
        let r = step_scenario(&s, By::Rate, 1414.2);
        assert_eq!(
            (r.rate, r.sweep_label()),
            (1414.2, "rate=1414.2".to_owned())
        );
        let c = step_scenario(&s, By::Clients, 8.0);
        assert_eq!((c.clients, c.publishers, c.rate), (8, 8, 100.0));
        assert_eq!(c.sweep_label(), "clients=8");
        let b = scenario("workload = \"broadcast\"\nclients = 10\npublishers = 1\nrate = 10\n");
        let c = step_scenario(&b, By::Clients, 40.0);
        assert_eq!((c.clients, c.publishers), (40, 1));
    }
}
