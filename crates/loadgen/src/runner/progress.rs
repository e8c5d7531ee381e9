//! The live progress line: target, phase, elapsed, live delivery rate and live p99. An
//! indicatif spinner when stderr is a terminal; otherwise a plain line every few seconds
//! (logs and CI keep a readable trace).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::row::{LiveSource, RowProgress};

/// What the progress task shows; the runner updates it as a row moves through its phases.
#[derive(Debug, Default)]
struct State {
    row: String,
    phase: &'static str,
    phase_started: Option<Instant>,
    live: Option<Arc<dyn LiveSource>>,
}

/// The progress reporter of one run; a no-op when disabled.
#[derive(Debug, Clone)]
pub struct Progress {
    state: Option<Arc<Mutex<State>>>,
}

impl Progress {
    /// Starts the reporting task (when `enabled`); it ends when the last handle is dropped.
    pub fn start(enabled: bool) -> Progress {
        if !enabled {
            return Progress { state: None };
        }
        let state = Arc::new(Mutex::new(State::default()));
        let weak = Arc::downgrade(&state);
        let tty = std::io::stderr().is_terminal();
        tokio::spawn(async move {
            let bar = tty.then(|| {
                let b = ProgressBar::new_spinner();
                b.set_style(
                    ProgressStyle::with_template("{spinner} {msg}").expect("valid template"),
                );
                b
            });
            let tick = if tty {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(5)
            };
            let mut last: Option<(Instant, u64)> = None;
            loop {
                tokio::time::sleep(tick).await;
                let Some(state) = weak.upgrade() else { break };
                let (line, total) = {
                    let s = state.lock().expect("progress lock");
                    if s.row.is_empty() {
                        continue;
                    }
                    let elapsed = s.phase_started.map_or(0.0, |t| t.elapsed().as_secs_f64());
                    let (total, p99) = s.live.as_ref().map_or((0, 0), |l| l.live().take_interval());
                    let rate = match last {
                        Some((t, n)) => {
                            (total.saturating_sub(n)) as f64 / t.elapsed().as_secs_f64()
                        }
                        None => 0.0,
                    };
                    let line = format!(
                        "{} | {} {:.1}s | {:.0} deliveries/s | p99 {:.2} ms",
                        s.row,
                        s.phase,
                        elapsed,
                        rate,
                        p99 as f64 / 1000.0
                    );
                    (line, total)
                };
                last = Some((Instant::now(), total));
                match &bar {
                    Some(b) => {
                        b.set_message(line);
                        b.tick();
                    }
                    None => eprintln!("{line}"),
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress { state: Some(state) }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        if let Some(s) = &self.state {
            f(&mut s.lock().expect("progress lock"));
        }
    }

    /// A new row starts.
    pub fn row(&self, label: String) {
        self.update(|s| {
            s.row = label;
            s.live = None;
        });
        self.phase("connect");
    }

    /// The row enters `phase`.
    pub fn phase(&self, phase: &'static str) {
        self.update(|s| {
            s.phase = phase;
            s.phase_started = Some(Instant::now());
        });
    }

    /// Live figures of the current row.
    pub fn attach(&self, live: Arc<dyn LiveSource>) {
        self.update(|s| s.live = Some(live));
    }

    /// Prints a line without tearing the spinner (or plainly).
    pub fn println(&self, line: &str) {
        eprintln!("{line}");
    }
}

impl RowProgress for Progress {
    fn phase(&self, phase: &'static str) {
        Progress::phase(self, phase);
    }

    fn attach(&self, live: Arc<dyn LiveSource>) {
        Progress::attach(self, live);
    }
}
