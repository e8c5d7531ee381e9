//! [`Ns`]: the sender's namespace as an event extractor, so every op of the
//! `sio-socketioxide` target stays inside the namespace it came from (`/`, `/chat`,
//! `/admin`, `/notifications`; see `crate::production::namespaces`). socketioxide's own
//! `SocketIo` extractor is the whole server, whose `emit` and `to` mean namespace `/`.

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::handler::{FromMessageParts, Value as PacketValue};
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Socket;

/// Broadcast operators of the sender's namespace (`ns.emit` = everyone in it).
pub(crate) struct Ns<A: Adapter>(pub(crate) BroadcastOperators<A>);

/// The socket's namespace is gone (the server is closing): the event is not handled.
#[derive(Debug, thiserror::Error)]
#[error("namespace {0} is not served")]
pub(crate) struct NoNamespace(String);

impl<A: Adapter> FromMessageParts<A> for Ns<A> {
    type Error = NoNamespace;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut PacketValue,
        ack: &Option<i64>,
    ) -> Result<Self, NoNamespace> {
        let Ok(io) = SocketIo::<A>::from_message_parts(s, v, ack);
        io.of(s.ns())
            .map(Ns)
            .ok_or_else(|| NoNamespace(s.ns().to_owned()))
    }
}
