//! Polling versus push (docs/design.md §4, docs/polling-vs-push.md): a writer changes the
//! dashboard row at rate U through `POST /api/dashboard`; N viewers want every change, by
//! polling `GET /api/dashboard` every P or by listening on a socket after one snapshot.
//!
//! - [`tally`]: the pure arithmetic (request bounds of the measure window, staleness,
//!   versions missed).
//! - [`writer`]: the open-loop writer.
//! - [`viewer`]: one task per viewer, polling or pushed; `push`: a push viewer's setup and
//!   updates; `streams`: the `long-poll` and `sse` viewers; `window`: byte counts at the edges of the measure window.
//! - [`driver`]: one row: setup, phases, the stats probe (`probe`: reset at measure start,
//!   read at measure end), the merge into a [`wsbench_report::SummaryRow`].
//!
//! Variants and targets: each variant runs on the targets of its kind — `poll` and
//! `push-ws` on raw WebSocket targets, `poll-sio`, `push-sio` and `push-sio-polling` on
//! Socket.IO targets, `poll-etag`, `poll-cached`, `long-poll` and `sse` on every HTTP target
//! — one row per (target, variant), each with a fresh server when the
//! runner spawns it. The variant, not the target name, picks the client transport, so
//! `sio-socketioxide-polling` names the same server as `sio-socketioxide` and runs no rows of
//! its own when both are listed (the runner's `lanes`).

pub mod driver;
mod probe;
mod push;
mod streams;
pub mod tally;
pub mod viewer;
mod window;
pub mod writer;

use wsbench_scenario::PvpVariant;

use crate::transport::{Endpoint, SioTransport};

/// The row's `transport` column: what carried the viewers' updates.
pub fn transport_label(v: PvpVariant) -> &'static str {
    match v {
        PvpVariant::Poll
        | PvpVariant::PollSio
        | PvpVariant::PollEtag
        | PvpVariant::PollCached
        | PvpVariant::LongPoll => "http",
        PvpVariant::Sse => "sse",
        PvpVariant::PushWs | PvpVariant::PushSio => "websocket",
        PvpVariant::PushSioPolling => "polling",
    }
}

/// The push endpoint of `v` on the server `target` reaches (`None` for polling variants).
pub fn push_endpoint(v: PvpVariant, target: &Endpoint) -> Option<Endpoint> {
    let (addr, host) = http_of(target)?;
    let sio = |transport| Endpoint::Sio {
        addr,
        host: host.clone(),
        transport,
        auth: None,
        origin: None,
    };
    match v {
        PvpVariant::Poll
        | PvpVariant::PollSio
        | PvpVariant::PollEtag
        | PvpVariant::PollCached
        | PvpVariant::LongPoll
        | PvpVariant::Sse => None,
        PvpVariant::PushWs => Some(match target {
            Endpoint::Ws { path, .. } => Endpoint::Ws {
                addr,
                host: host.clone(),
                path: path.clone(),
            },
            _ => Endpoint::Ws {
                addr,
                host: host.clone(),
                path: "/ws".into(),
            },
        }),
        PvpVariant::PushSio => Some(sio(SioTransport::WebSocket)),
        PvpVariant::PushSioPolling => Some(sio(SioTransport::Polling)),
    }
}

/// The HTTP address and Host header of a target (its REST routes share the port).
pub fn http_of(target: &Endpoint) -> Option<(std::net::SocketAddr, String)> {
    match target {
        Endpoint::Tcp(_) => None,
        Endpoint::Ws { addr, host, .. } | Endpoint::Sio { addr, host, .. } => {
            Some((*addr, host.clone()))
        }
    }
}

/// File descriptors one viewer of `variants` holds at most (long-polling keeps two HTTP
/// connections; a push viewer briefly holds its snapshot connection beside its socket).
pub fn fds_per_viewer(variants: &[PvpVariant]) -> u64 {
    variants
        .iter()
        .map(|v| match v {
            PvpVariant::Poll
            | PvpVariant::PollSio
            | PvpVariant::PollEtag
            | PvpVariant::PollCached
            | PvpVariant::LongPoll
            | PvpVariant::Sse => 1,
            PvpVariant::PushWs | PvpVariant::PushSio => 2,
            PvpVariant::PushSioPolling => 3,
        })
        .max()
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_holds_the_most_fds_of_its_variants() {
        assert_eq!(fds_per_viewer(&PvpVariant::ALL), 3);
        assert_eq!(fds_per_viewer(&[PvpVariant::Poll]), 1);
    }
}
