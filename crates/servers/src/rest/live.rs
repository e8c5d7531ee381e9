//! What the server itself knows of each workspace's dashboard without asking the database:
//! the rows it committed (or read) lately, in version order. Every dashboard write goes
//! through this server (each server instance owns its table or database file), so the
//! newest row it has seen is the newest row there is, once it has seen one.
//!
//! Serves the plain-HTTP variants of docs/polling-vs-push.md: the `poll-etag` answer "not
//! modified" from memory, the `long-poll` wait ("the first version after V") and the `sse`
//! stream (every committed row, in commit order).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{broadcast, watch};

/// Rows kept per workspace for long-poll viewers that fall behind by a few versions.
const HISTORY: usize = 64;
/// Rows queued per SSE stream before a slow one skips (counted as `sse_lagged`).
const SSE_QUEUE: usize = 1024;

/// One committed dashboard row: its version and its JSON text (the GET body, byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveRow {
    pub(crate) version: u64,
    pub(crate) text: Arc<str>,
}

/// One workspace's rows. Small until used: a server may hold many workspaces nobody
/// watches over SSE (the stream queue is made by the first subscriber).
struct Slot {
    /// The last [`HISTORY`] rows seen, oldest first (versions strictly increasing).
    history: Mutex<VecDeque<LiveRow>>,
    /// The newest version seen (0 before any): long-poll waits on it.
    newest: watch::Sender<u64>,
    /// Every row seen, once, for SSE streams (`None` until the first stream).
    rows: Mutex<Option<broadcast::Sender<LiveRow>>>,
}

impl Slot {
    fn new() -> Arc<Slot> {
        Arc::new(Slot {
            history: Mutex::new(VecDeque::new()),
            newest: watch::channel(0).0,
            rows: Mutex::new(None),
        })
    }
}

/// The rows of every workspace (index 0 is workspace 1).
pub(crate) struct LiveRows {
    slots: RwLock<Vec<Arc<Slot>>>,
}

impl LiveRows {
    pub(crate) fn new() -> LiveRows {
        LiveRows {
            slots: RwLock::new(vec![Slot::new()]),
        }
    }

    /// Workspaces `1..=count` exist from now on.
    pub(crate) fn ensure(&self, count: u32) {
        let mut slots = self.slots.write().expect("live rows lock");
        while slots.len() < count as usize {
            slots.push(Slot::new());
        }
    }

    fn slot(&self, workspace: u32) -> Option<Arc<Slot>> {
        let slots = self.slots.read().expect("live rows lock");
        slots.get((workspace as usize).checked_sub(1)?).cloned()
    }

    /// Records a row committed or read; a version already known changes nothing. A new one
    /// goes to the SSE streams and wakes long-polls.
    pub(crate) fn learn(&self, workspace: u32, row: LiveRow) {
        let Some(slot) = self.slot(workspace) else {
            return;
        };
        {
            let mut h = slot.history.lock().expect("live history lock");
            let at = h.partition_point(|r| r.version < row.version);
            if h.get(at).is_some_and(|r| r.version == row.version) {
                return;
            }
            if at == 0 && h.len() >= HISTORY {
                return; // older than everything kept: nobody waits for it any more
            }
            h.insert(at, row.clone());
            if h.len() > HISTORY {
                h.pop_front();
            }
        }
        if let Some(rows) = &*slot.rows.lock().expect("live rows lock") {
            let _ = rows.send(row.clone());
        }
        slot.newest.send_if_modified(|v| {
            let newer = row.version > *v;
            if newer {
                *v = row.version;
            }
            newer
        });
    }

    /// The newest row seen, if any.
    pub(crate) fn newest(&self, workspace: u32) -> Option<LiveRow> {
        let slot = self.slot(workspace)?;
        let h = slot.history.lock().expect("live history lock");
        h.back().cloned()
    }

    /// The first row after `version` still kept (the newest when the next ones are gone).
    fn next_after(slot: &Slot, version: u64) -> Option<LiveRow> {
        let h = slot.history.lock().expect("live history lock");
        let at = h.partition_point(|r| r.version <= version);
        h.get(at).cloned()
    }

    /// Waits until a row newer than `version` is known and returns the first such row;
    /// `None` when `stop` resolves first (timeout or shutdown).
    pub(crate) async fn wait_after(
        &self,
        workspace: u32,
        version: u64,
        stop: impl Future<Output = ()>,
    ) -> Option<LiveRow> {
        let slot = self.slot(workspace)?;
        let mut newest = slot.newest.subscribe();
        let wait = async {
            loop {
                if let Some(row) = LiveRows::next_after(&slot, version) {
                    return Some(row);
                }
                if newest.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::select! {
            row = wait => row,
            () = stop => None,
        }
    }

    /// Every row learnt from now on (for one SSE stream).
    pub(crate) fn subscribe(&self, workspace: u32) -> Option<broadcast::Receiver<LiveRow>> {
        let slot = self.slot(workspace)?;
        let mut rows = slot.rows.lock().expect("live rows lock");
        Some(
            rows.get_or_insert_with(|| broadcast::channel(SSE_QUEUE).0)
                .subscribe(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: u64) -> LiveRow {
        LiveRow {
            version: v,
            text: format!("{{\"version\":{v}}}").into(),
        }
    }

    #[tokio::test]
    async fn rows_are_kept_in_version_order_and_waited_for() {
        let live = LiveRows::new();
        assert_eq!(live.newest(1), None);
        live.learn(1, row(2));
        live.learn(1, row(1));
        live.learn(1, row(2));
        assert_eq!(live.newest(1), Some(row(2)));
        let never = std::future::pending::<()>;
        assert_eq!(live.wait_after(1, 0, never()).await, Some(row(1)));
        assert_eq!(live.wait_after(1, 1, never()).await, Some(row(2)));
        assert_eq!(live.wait_after(1, 2, async {}).await, None);
        assert_eq!(live.newest(2), None);
        live.ensure(2);
        let mut sse = live.subscribe(2).unwrap();
        let waiter = live.wait_after(2, 0, never());
        let (got, ()) = tokio::join!(waiter, async { live.learn(2, row(1)) });
        assert_eq!(got, Some(row(1)));
        assert_eq!(sse.recv().await.unwrap(), row(1));
        assert_eq!(live.newest(1), Some(row(2)), "workspaces are separate");
    }
}
