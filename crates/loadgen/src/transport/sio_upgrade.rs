//! Socket.IO the way the browser client connects by default: open and CONNECT over HTTP
//! long-polling, then upgrade the Engine.IO session to WebSocket with the probe dance
//! (`2probe` → `3probe`, then `5`) and carry on as [`SioWsTransport`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use wsbench_wire::engineio;

use super::TransportError;
use super::counted::Counters;
use super::sio_polling::open_session;
use super::sio_ws::{SioWsTransport, ws_path};
use super::ws::WsLink;

/// Connects by polling, then upgrades. The connect time covers the whole sequence (the
/// transport is usable on its final Engine.IO transport only when this returns).
/// `connect` is the CONNECT packet (`40` or `40{auth}`), sent over polling.
pub async fn connect(
    addr: SocketAddr,
    host: &str,
    connect: &str,
) -> Result<SioWsTransport, TransportError> {
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let session = open_session(addr, host, &counters, connect, None).await?;
    let path = ws_path(Some(&session.open.sid));
    let handshake = |reason: String| TransportError::Handshake {
        endpoint: format!("ws://{host}{path}"),
        reason,
    };
    if !session.open.upgrades.iter().any(|u| u == "websocket") {
        return Err(handshake(format!(
            "the server offers no websocket upgrade (upgrades: {:?})",
            session.open.upgrades
        )));
    }
    // No poll is outstanding here (the session's polls were sequential), so the server has
    // nothing to cancel with a noop before it answers the probe.
    let mut link = WsLink::open(addr, host, &path, &counters).await?;
    link.send_text("2probe").await?;
    loop {
        let text = link
            .next_text()
            .await
            .map_err(|e| handshake(format!("no probe reply: {e}")))?;
        match engineio::Packet::decode(text.as_str()) {
            Ok(engineio::Packet::Pong { probe: true }) => break,
            Ok(engineio::Packet::Noop) => continue,
            other => return Err(handshake(format!("expected 3probe, got {other:?}"))),
        }
    }
    link.send_text("5").await?;
    // The polling connections close as `session` drops here.
    let mut t = SioWsTransport::new(link, counters, session.early);
    t.set_connected(session.socket_id, started.elapsed());
    Ok(t)
}
