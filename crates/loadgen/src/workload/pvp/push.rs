//! The push viewer's setup and what it does with each pushed update: connect its transport
//! (raw WebSocket or Socket.IO on either Engine.IO transport), join its workspace's room
//! (acked), take one snapshot GET on a short-lived HTTP connection, then count every
//! `{"op":"msg","data":row}` (raw) or `update(row)` (Socket.IO) as a sight.

use std::time::Instant;

use super::tally::Exchange;
use super::viewer::{SETUP_TIMEOUT, ViewerReport, ViewerSpec, accept_row};
use crate::recorder::micros;
use crate::transport::rxstamp::ReceiveTime;
use crate::transport::{
    Endpoint, HttpClient, Incoming, OpKind, Outgoing, Transport, TransportError,
};
use crate::workload::CONTROL_ACK_BASE;

/// Connect, join the workspace's room (acked), snapshot GET. The snapshot is a sight.
pub(super) async fn push_setup(
    spec: &ViewerSpec,
    endpoint: &Endpoint,
    report: &mut ViewerReport,
) -> Result<crate::transport::AnyTransport, String> {
    let mut conn = crate::transport::connect(endpoint, SETUP_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    report.connect_us = Some(micros(conn.connect_time()).max(1));
    let ack = CONTROL_ACK_BASE + u64::from(spec.index);
    let room = spec.room();
    let join = Outgoing {
        op: OpKind::Join,
        room: Some(&room),
        id: None,
        data: None,
        ack: Some(ack),
    };
    let joined = async {
        conn.send(join).await?;
        loop {
            let incoming = conn.recv().await?;
            let received = ReceiveTime::new(Instant::now(), conn.last_rx(), &spec.rx_clock);
            match incoming {
                Incoming::Ack { ack: a, .. } if a == ack => return Ok(()),
                Incoming::Error(reason) => {
                    return Err(TransportError::Protocol(format!("join refused: {reason}")));
                }
                other => on_push(other, received, report, spec),
            }
        }
    };
    match tokio::time::timeout(SETUP_TIMEOUT, joined).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("join {room:?}: {e}")),
        Err(_) => return Err(format!("join {room:?}: no ack in {SETUP_TIMEOUT:?}")),
    }
    // the snapshot: one GET on its own connection, closed afterwards (as a page load)
    let snapshot = async {
        let mut http = HttpClient::connect(spec.http, &spec.host).await?;
        let sent_at = Instant::now();
        let r = http.get_json(&spec.path("/api/dashboard")).await;
        let done_at = Instant::now();
        let received = ReceiveTime::new(done_at, http.last_rx(), &spec.rx_clock);
        Ok::<_, TransportError>((http.bytes(), sent_at, done_at, received, r))
    };
    let (bytes, sent_at, done_at, received, r) =
        match tokio::time::timeout(SETUP_TIMEOUT, snapshot).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(format!("snapshot GET: {e}")),
            Err(_) => return Err(format!("snapshot GET: no answer in {SETUP_TIMEOUT:?}")),
        };
    report.bytes = bytes;
    report.gets.push(Exchange {
        sent_at,
        done_at,
        answered: matches!(r, Ok((200, _))),
    });
    match r {
        Ok((200, body)) => {
            if let Err(e) = accept_row(&body, received, report, spec) {
                return Err(format!("snapshot GET: {}", e.unwrap_or_default()));
            }
        }
        Ok((status, body)) => {
            return Err(format!(
                "snapshot GET: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Err(e) => return Err(format!("snapshot GET: {e}")),
    }
    Ok(conn)
}

/// A pushed update (raw `msg`, Socket.IO `update`) is a sight; anything else is an error.
pub(super) fn on_push(
    incoming: Incoming,
    received: ReceiveTime,
    report: &mut ViewerReport,
    spec: &ViewerSpec,
) {
    let index = spec.index;
    let data = match incoming {
        Incoming::Msg(data) => data,
        Incoming::Event { name, data } if name == "update" => data,
        Incoming::Event { name, .. } => {
            report.error(index, format!("unexpected event {name:?}"));
            return;
        }
        Incoming::Ack { ack, .. } => {
            report.error(index, format!("unexpected ack {ack}"));
            return;
        }
        Incoming::Error(reason) => {
            report.error(index, format!("server error: {reason}"));
            return;
        }
    };
    if let Err(Some(e)) = accept_row(&data, received, report, spec) {
        report.error(index, format!("pushed update: {e}"));
    }
}
