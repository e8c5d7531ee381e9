//! The capacity search as a pure state machine: no sockets, no clocks. Start at the
//! scenario's load, double it (capped at `max`) while steps pass, then bisect
//! (geometrically) between the highest passing and the lowest failing load until
//! failing/passing ≤ 1 + precision. A load-generator-bound step ends the search at once
//! (`loadgen`): its figures are the generator's, so it neither passes nor sets the failing
//! bound. The capacity is always a load that passed (0 when the first step failed).
//! Bisection loads are rounded to three significant digits (whole numbers for clients).

use wsbench_report::capacity::LimitedBy;

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 0 lost, 0 errors, SLO met, not load-generator bound.
    Pass,
    /// Failed for this reason (never `Max`).
    Fail(LimitedBy),
}

/// Where a search is.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    max: f64,
    precision: f64,
    /// Loads are whole numbers (`--by clients`).
    integer: bool,
    /// Highest passing load.
    lo: Option<f64>,
    /// Lowest failing load and why.
    hi: Option<(f64, LimitedBy)>,
    /// The load-generator-bound step that ended the search.
    bound_at: Option<f64>,
    next: Option<f64>,
    done: Option<LimitedBy>,
    steps: u32,
}

/// What a search found (so far, when `limited_by` is `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    /// Highest passing load (0 when none passed).
    pub capacity: f64,
    /// What ended the search; `None` while it goes on.
    pub limited_by: Option<LimitedBy>,
    /// Lowest load that did not pass (failed, or was load-generator bound).
    pub failed_at: Option<f64>,
    pub steps: u32,
}

impl Search {
    /// A search from `start` (capped at `max`). `precision` > 0.
    pub fn new(start: f64, max: f64, precision: f64, integer: bool) -> Search {
        let mut first = start.min(max);
        if integer {
            first = first.round().max(1.0);
        }
        Search {
            max,
            precision: precision.max(1e-6),
            integer,
            lo: None,
            hi: None,
            bound_at: None,
            next: Some(first),
            done: None,
            steps: 0,
        }
    }

    /// The load of the next step; `None` when the search is over.
    pub fn next_load(&self) -> Option<f64> {
        self.next
    }

    /// Records the verdict of the step at [`Self::next_load`] and picks the next load.
    pub fn record(&mut self, verdict: Verdict) {
        let Some(load) = self.next.take() else {
            return;
        };
        self.steps += 1;
        match verdict {
            Verdict::Fail(LimitedBy::Loadgen) => {
                self.bound_at = Some(load);
                self.done = Some(LimitedBy::Loadgen);
            }
            Verdict::Fail(why) => {
                if self.hi.is_none_or(|(h, _)| load < h) {
                    self.hi = Some((load, why));
                }
                match self.lo {
                    None => self.done = Some(why),
                    Some(_) => self.bisect(),
                }
            }
            Verdict::Pass => {
                self.lo = Some(self.lo.map_or(load, |l| l.max(load)));
                if self.hi.is_some() {
                    self.bisect();
                } else if load >= self.max {
                    self.done = Some(LimitedBy::Max);
                } else {
                    let mut up = (load * 2.0).min(self.max);
                    if self.integer {
                        up = up.round();
                    }
                    if up <= load {
                        self.done = Some(LimitedBy::Max);
                    } else {
                        self.next = Some(up);
                    }
                }
            }
        }
    }

    /// Between the passing `lo` and the failing `hi`: their geometric mean, unless they are
    /// within the precision (or no whole number lies between them).
    fn bisect(&mut self) {
        let (Some(lo), Some((hi, why))) = (self.lo, self.hi) else {
            return;
        };
        if hi <= lo * (1.0 + self.precision) {
            self.done = Some(why);
            return;
        }
        let mid = self.tidy((lo * hi).sqrt());
        if mid <= lo || mid >= hi {
            self.done = Some(why);
        } else {
            self.next = Some(mid);
        }
    }

    /// A load as tried: whole with `integer`, else three significant digits (1410, 7.07),
    /// so the labels and the rows' `rate` say exactly the load that ran.
    fn tidy(&self, x: f64) -> f64 {
        if self.integer {
            return x.round();
        }
        let scale = 10f64.powi(2 - x.abs().log10().floor() as i32);
        (x * scale).round() / scale
    }

    /// The result so far.
    pub fn found(&self) -> Found {
        Found {
            capacity: self.lo.unwrap_or(0.0),
            limited_by: self.done,
            failed_at: match (self.hi.map(|h| h.0), self.bound_at) {
                (Some(h), Some(b)) => Some(h.min(b)),
                (h, b) => h.or(b),
            },
            steps: self.steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a step function: `verdict(load)`; returns the loads tried.
    fn run(mut s: Search, verdict: impl Fn(f64) -> Verdict) -> (Found, Vec<f64>) {
        let mut tried = Vec::new();
        while let Some(load) = s.next_load() {
            tried.push(load);
            s.record(verdict(load));
            assert!(tried.len() < 100, "the search does not end: {tried:?}");
        }
        (s.found(), tried)
    }

    /// A monotone server: passes up to `limit`, then fails with `why`.
    fn server(limit: f64, why: LimitedBy) -> impl Fn(f64) -> Verdict {
        move |load| {
            if load <= limit {
                Verdict::Pass
            } else {
                Verdict::Fail(why)
            }
        }
    }

    #[test]
    fn doubles_then_bisects_to_within_the_precision() {
        let (f, tried) = run(
            Search::new(100.0, 1e6, 0.1, false),
            server(1234.0, LimitedBy::Slo),
        );
        assert_eq!(&tried[..5], [100.0, 200.0, 400.0, 800.0, 1600.0]);
        assert_eq!(f.limited_by, Some(LimitedBy::Slo));
        let hi = f.failed_at.unwrap();
        assert!(f.capacity <= 1234.0 && hi > 1234.0, "{f:?}");
        assert!(hi / f.capacity <= 1.1, "{f:?}");
        // every bisection step lies strictly between what passed and what failed
        assert!(
            tried[5..].iter().all(|l| *l > 800.0 && *l < 1600.0),
            "{tried:?}"
        );
        assert_eq!(
            tried[5], 1130.0,
            "sqrt(800 * 1600) = 1131.4, to three digits"
        );
        assert_eq!(f.steps as usize, tried.len());
    }

    #[test]
    fn a_finer_precision_takes_more_steps_and_gets_closer() {
        let (coarse, a) = run(
            Search::new(100.0, 1e6, 0.1, false),
            server(1234.0, LimitedBy::Lost),
        );
        let (fine, b) = run(
            Search::new(100.0, 1e6, 0.01, false),
            server(1234.0, LimitedBy::Lost),
        );
        assert!(b.len() > a.len());
        assert!(fine.capacity >= coarse.capacity && fine.capacity <= 1234.0);
        assert!(fine.failed_at.unwrap() / fine.capacity <= 1.01);
        assert_eq!(fine.limited_by, Some(LimitedBy::Lost));
    }

    #[test]
    fn the_first_step_failing_gives_capacity_zero() {
        let (f, tried) = run(
            Search::new(100.0, 1e6, 0.1, false),
            server(50.0, LimitedBy::Errors),
        );
        assert_eq!(tried, [100.0]);
        assert_eq!(f.capacity, 0.0);
        assert_eq!(f.limited_by, Some(LimitedBy::Errors));
        assert_eq!(f.failed_at, Some(100.0));
    }

    #[test]
    fn passing_up_to_max_gives_max() {
        let (f, tried) = run(
            Search::new(100.0, 500.0, 0.1, false),
            server(1e9, LimitedBy::Slo),
        );
        assert_eq!(tried, [100.0, 200.0, 400.0, 500.0]);
        assert_eq!((f.capacity, f.limited_by), (500.0, Some(LimitedBy::Max)));
        // a start above max is capped at max
        let (f, tried) = run(
            Search::new(900.0, 500.0, 0.1, false),
            server(1e9, LimitedBy::Slo),
        );
        assert_eq!(tried, [500.0]);
        assert_eq!((f.capacity, f.limited_by), (500.0, Some(LimitedBy::Max)));
    }

    #[test]
    fn a_loadgen_bound_step_ends_the_search_and_never_counts() {
        // passes to 1000, bound from 1500: the doubling hits 1600 (bound) and stops there
        let v = |load: f64| {
            if load >= 1500.0 {
                Verdict::Fail(LimitedBy::Loadgen)
            } else {
                Verdict::Pass
            }
        };
        let (f, tried) = run(Search::new(100.0, 1e6, 0.1, false), v);
        assert_eq!(tried.last(), Some(&1600.0));
        assert_eq!(
            (f.capacity, f.limited_by),
            (800.0, Some(LimitedBy::Loadgen))
        );
        assert_eq!(f.failed_at, Some(1600.0));
        // bound while bisecting: stops at once with the last passing load
        let v = |load: f64| match load {
            l if l <= 1000.0 => Verdict::Pass,
            l if l < 1600.0 => Verdict::Fail(LimitedBy::Loadgen),
            _ => Verdict::Fail(LimitedBy::Slo),
        };
        let (f, tried) = run(Search::new(100.0, 1e6, 0.1, false), v);
        assert_eq!(tried.len(), 6, "{tried:?}");
        assert_eq!(
            (f.capacity, f.limited_by),
            (800.0, Some(LimitedBy::Loadgen))
        );
        assert_eq!(f.failed_at, Some(tried[5]));
        assert!(tried[5] > 800.0 && tried[5] < 1600.0, "{tried:?}");
    }

    #[test]
    fn clients_are_whole_numbers_and_the_search_ends_between_neighbours() {
        let (f, tried) = run(
            Search::new(10.0, 1e6, 0.001, true),
            server(37.0, LimitedBy::Slo),
        );
        assert!(tried.iter().all(|l| l.fract() == 0.0), "{tried:?}");
        assert_eq!((f.capacity, f.failed_at), (37.0, Some(38.0)));
        assert_eq!(f.limited_by, Some(LimitedBy::Slo));
    }

    #[test]
    fn the_failing_reason_is_the_lowest_failing_steps() {
        // lost from 1000 up, slo only from 3000: the reason recorded is the lowest failure's
        let v = |load: f64| match load {
            l if l < 1000.0 => Verdict::Pass,
            l if l < 3000.0 => Verdict::Fail(LimitedBy::Lost),
            _ => Verdict::Fail(LimitedBy::Slo),
        };
        let (f, _) = run(Search::new(100.0, 1e6, 0.1, false), v);
        assert_eq!(f.limited_by, Some(LimitedBy::Lost));
    }
}
