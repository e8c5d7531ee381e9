//! A viewer's byte counts at the edges of the measure window ([`WindowBytes`]): what
//! `bytes_per_update` divides by the versions each viewer was due.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::viewer::Timeline;
use crate::transport::http::ByteMeter;

/// A viewer's byte counts at the edges of the measure window: the first reading at or
/// after its start and the first at or after its end.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WindowBytes {
    at_start: Option<u64>,
    at_end: Option<u64>,
}

impl WindowBytes {
    /// Records `bytes` read now.
    pub(crate) fn sample(&mut self, tl: &Timeline, bytes: u64) {
        self.sample_at(tl, Instant::now(), bytes);
    }

    /// Records `bytes` read at `at`.
    pub(crate) fn sample_at(&mut self, tl: &Timeline, at: Instant, bytes: u64) {
        if at >= tl.measure_start && self.at_start.is_none() {
            self.at_start = Some(bytes);
        }
        if at >= tl.measure_end && self.at_end.is_none() {
            self.at_end = Some(bytes);
        }
    }

    /// The next window edge not yet read.
    pub(crate) fn next_mark(&self, tl: &Timeline) -> Option<Instant> {
        if self.at_start.is_none() {
            Some(tl.measure_start)
        } else if self.at_end.is_none() {
            Some(tl.measure_end)
        } else {
            None
        }
    }

    /// Bytes between the two edges, once both were read.
    pub(crate) fn total(&self) -> Option<u64> {
        Some(self.at_end?.saturating_sub(self.at_start?))
    }
}

/// Reads `meter` at the edges of the window of `tl` (for a viewer whose connection is busy
/// with a hanging request); `None` when cancelled first.
pub(crate) async fn sample_window(
    meter: ByteMeter,
    tl: Timeline,
    cancel: CancellationToken,
) -> Option<u64> {
    let mut window = WindowBytes::default();
    while let Some(mark) = window.next_mark(&tl) {
        tokio::select! {
            _ = tokio::time::sleep_until(mark.into()) => {}
            _ = cancel.cancelled() => return None,
        }
        let b = meter.bytes();
        window.sample(&tl, b.out + b.r#in);
    }
    window.total()
}
