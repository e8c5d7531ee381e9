//! Room membership of the `sio-socketioxide` target under `crate::room_limits`: each
//! socket keeps the set of rooms it joined (in its socketioxide extensions), so a join is
//! checked against the limits without asking the adapter, and count and membership change
//! together under the set's lock (a socket's events run concurrently).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use crate::room_limits::{RoomLimits, RoomRefused};

/// The rooms one socket is in (inserted at connect).
#[derive(Debug, Clone, Default)]
pub(super) struct Joined(Arc<Mutex<HashSet<String>>>);

fn joined<A: Adapter>(socket: &SocketRef<A>) -> Joined {
    socket.extensions.get::<Joined>().unwrap_or_else(|| {
        let j = Joined::default();
        socket.extensions.insert(j.clone());
        j
    })
}

/// Joins `room` if the limits allow it.
pub(super) fn join<A: Adapter>(
    limits: &RoomLimits,
    socket: &SocketRef<A>,
    room: String,
) -> Result<(), RoomRefused> {
    let j = joined(socket);
    let mut set = j.0.lock().unwrap_or_else(|e| e.into_inner());
    if !set.contains(&room) {
        limits.check(&room, set.len())?;
        set.insert(room.clone());
    }
    socket.join(room);
    Ok(())
}

/// Leaves `room` (a no-op when not a member).
pub(super) fn leave<A: Adapter>(socket: &SocketRef<A>, room: String) {
    let j = joined(socket);
    let mut set = j.0.lock().unwrap_or_else(|e| e.into_inner());
    set.remove(&room);
    socket.leave(room);
}
