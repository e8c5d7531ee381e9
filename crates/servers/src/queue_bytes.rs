//! The byte bound of a raw connection's outbound queue (`outbound_queue_bytes`), beside its
//! frame bound (`outbound_queue`): without it a client that never reads could park
//! `outbound_queue` frames of up to `max_message_bytes` each (GiBs) in the server.
//!
//! Each connection has a [`ByteBudget`], a semaphore of bytes. A queued frame holds a
//! [`QueueCharge`] of its length until the writer takes it off the queue. Fan-out takes a
//! charge without waiting ([`ByteBudget::try_charge`]: none left = a full queue, and the
//! slow-consumer policy applies); the connection's own replies wait for one
//! ([`ByteBudget::charge`]), which stops that connection's reading until its client reads.
//! A frame larger than the whole budget is charged the whole budget: it goes out alone.
//! A broadcast frame shared by many queues counts in full in each of them.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bytes one connection may have queued.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    bytes: Arc<Semaphore>,
    max: u32,
}

/// Bytes of one queued frame, given back to the budget on drop.
#[derive(Debug)]
pub struct QueueCharge(#[allow(dead_code)] OwnedSemaphorePermit);

impl ByteBudget {
    /// A budget of `bytes` (at least 1, at most `u32::MAX`).
    pub fn new(bytes: usize) -> Self {
        let max = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
        ByteBudget {
            bytes: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    fn cost(&self, len: usize) -> u32 {
        u32::try_from(len).unwrap_or(u32::MAX).min(self.max)
    }

    /// A charge for `len` bytes if the budget has them now.
    pub fn try_charge(&self, len: usize) -> Option<QueueCharge> {
        self.bytes
            .clone()
            .try_acquire_many_owned(self.cost(len))
            .ok()
            .map(QueueCharge)
    }

    /// A charge for `len` bytes, waiting until the writer has freed enough.
    pub async fn charge(&self, len: usize) -> QueueCharge {
        match self.bytes.clone().acquire_many_owned(self.cost(len)).await {
            Ok(p) => QueueCharge(p),
            // The semaphore is never closed.
            Err(_) => unreachable!("a connection's byte budget is never closed"),
        }
    }

    /// Bytes charged now (queued and not yet taken by the writer).
    pub fn queued(&self) -> usize {
        self.max as usize - self.bytes.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn charges_come_back_and_oversize_takes_all() {
        let b = ByteBudget::new(100);
        let c1 = b.try_charge(60).unwrap();
        assert!(b.try_charge(60).is_none());
        assert_eq!(b.queued(), 60);
        drop(c1);
        let all = b.try_charge(10_000).unwrap();
        assert_eq!(b.queued(), 100);
        assert!(b.try_charge(1).is_none());
        drop(all);
        let _c = b.charge(100).await;
        assert_eq!(b.queued(), 100);
    }
}
