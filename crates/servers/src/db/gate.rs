//! The quiesce gate of the counted database layer: the one thing that makes the app count
//! and the engine count agree exactly while requests keep arriving.
//!
//! Every counted statement holds a [`Pass`] (the read side of a `tokio::sync::RwLock`)
//! from before it is sent until after the app counter has been bumped; reading or
//! re-baselining the counts takes the write side ([`Gate::quiesce`]), so while both counts
//! are read (or zeroed) no statement is in flight: each one has either not started or has
//! been counted by both sides. tokio's lock is fair (a waiting writer stops new readers), so
//! a stats probe waits at most for the statements already admitted.

use std::sync::Arc;

use tokio::sync::{OwnedRwLockReadGuard, RwLock, RwLockWriteGuard};

use crate::error::ServerError;

/// One per database: statements enter through [`pass`](Gate::pass), counts are read
/// behind [`quiesce`](Gate::quiesce).
#[derive(Debug, Default)]
pub struct Gate {
    /// Read side: statements in flight; write side: a counts read or reset.
    lock: Arc<RwLock<()>>,
}

/// Admission to run counted statements on one database. Clones share the admission: it
/// ends when the last clone drops. Taken once per HTTP request (before `http_requests` is
/// bumped) and moved into the task that runs the statement, so it outlives a request whose
/// client went away mid-statement.
#[derive(Debug, Clone)]
pub struct Pass {
    /// The held read guard.
    guard: Arc<OwnedRwLockReadGuard<()>>,
    /// Identity of the gate that issued it (a pass only admits to its own database).
    gate: usize,
}

impl Gate {
    /// Waits until no counts read or reset is running (or queued), then admits.
    pub async fn pass(&self) -> Pass {
        Pass {
            guard: Arc::new(self.lock.clone().read_owned().await),
            gate: self.id(),
        }
    }

    /// Waits until every admitted statement has finished and been counted, and keeps new
    /// ones out while the guard lives.
    pub async fn quiesce(&self) -> RwLockWriteGuard<'_, ()> {
        self.lock.write().await
    }

    /// Refuses a pass issued by another database's gate (it would not keep this
    /// database quiet).
    pub fn check(&self, pass: &Pass) -> Result<(), ServerError> {
        if pass.gate == self.id() {
            Ok(())
        } else {
            Err(ServerError::Database(
                "a statement was admitted by another database's gate".into(),
            ))
        }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.lock) as usize
    }
}

impl Pass {
    /// Ends this clone's share of the admission (the statement has been counted).
    pub fn release(self) {
        drop(self.guard);
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn quiesce_waits_for_every_pass_clone_and_blocks_new_ones() {
        let gate = Gate::default();
        let pass = gate.pass().await;
        let clone = pass.clone();
        drop(pass);
        assert!(
            gate.quiesce().now_or_never().is_none(),
            "a live clone keeps counts out"
        );
        clone.release();
        let quiet = gate.quiesce().now_or_never().expect("no pass left");
        assert!(
            gate.pass().now_or_never().is_none(),
            "no statement starts while counts are read"
        );
        drop(quiet);
        assert!(gate.pass().now_or_never().is_some());
    }

    #[tokio::test]
    async fn a_pass_from_another_gate_is_refused() {
        let (a, b) = (Gate::default(), Gate::default());
        let pass = a.pass().await;
        assert!(a.check(&pass).is_ok());
        assert!(b.check(&pass).is_err());
    }
}
