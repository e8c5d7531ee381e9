//! What each connection of a message row stands for: a [`Seat`] names the client whose
//! messages it sends, whether it publishes, and the receivers (ledgers) it accounts for.
//! Without `namespaces` there is one seat per client, receiver = client.
//!
//! With `namespaces = K` (docs/scenarios.md) every client follows K namespaces and publisher
//! `i` broadcasts in namespace `i % K`; receiver `client * K + slot` stands for one client in
//! one namespace (`Audience::Namespaces`). How a client follows K namespaces depends on the
//! protocol:
//!
//! - Socket.IO multiplexes: one connection per client, which CONNECTs to the K namespaces
//!   ([`follow_all`], a barrier before anyone sends) and keeps one ledger per slot.
//! - Raw WebSocket needs K connections per client, one per path (`/ws`, `/ws/chat`, …): one
//!   seat each, the publishing seats first so the engine's publisher lane carries them.

use std::time::Duration;

use wsbench_scenario::features;

use super::Plan;
use crate::transport::{Endpoint, Transport};

/// One connection of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The client whose index its messages carry.
    pub client: u32,
    /// Whether it publishes (open schedule or closed loop).
    pub publishes: bool,
    /// The receivers it accounts for, by namespace slot of the connection.
    pub receivers: Vec<u32>,
    /// The namespace slot it sends in (Socket.IO: `follow`'s `send_in`).
    pub send_slot: u32,
    /// Raw WebSocket: the namespace slot of its path.
    pub path_slot: u32,
}

/// The seats of a row: one per client, or with `namespaces` one per client (`multiplexed`,
/// Socket.IO) or K per client (raw WebSocket), publishing seats first.
pub fn seats(plan: &Plan, multiplexed: bool) -> Vec<Seat> {
    let k = plan.namespaces;
    if k == 0 {
        return (0..plan.clients)
            .map(|i| Seat {
                client: i,
                publishes: plan.is_publisher(i),
                receivers: vec![i],
                send_slot: 0,
                path_slot: 0,
            })
            .collect();
    }
    if multiplexed {
        return (0..plan.clients)
            .map(|c| Seat {
                client: c,
                publishes: plan.is_publisher(c),
                receivers: (0..k).map(|j| c * k + j).collect(),
                send_slot: c % k,
                path_slot: 0,
            })
            .collect();
    }
    let one = |c: u32, j: u32| Seat {
        client: c,
        publishes: plan.is_publisher(c) && j == c % k,
        receivers: vec![c * k + j],
        send_slot: 0,
        path_slot: j,
    };
    let publishing = (0..plan.clients)
        .filter(|&c| plan.is_publisher(c))
        .map(|c| one(c, c % k));
    let rest = (0..plan.clients).flat_map(|c| {
        (0..k)
            .filter(move |&j| !(plan.is_publisher(c) && j == c % k))
            .map(move |j| one(c, j))
    });
    publishing.chain(rest).collect()
}

/// Publishing seats (they lead the list, so the engine's placement keeps them apart).
pub fn publishing(seats: &[Seat]) -> u32 {
    seats.iter().filter(|s| s.publishes).count() as u32
}

/// Where each seat connects: `endpoints` as they are (client `i` to `endpoints[i % len]`),
/// except raw WebSocket seats of a namespaced row, which go to their slot's path (keeping the
/// query, e.g. a `?token=`).
pub fn endpoints(plan: &Plan, seats: &[Seat], endpoints: &[Endpoint]) -> Vec<Endpoint> {
    let raw = endpoints.iter().all(|e| matches!(e, Endpoint::Ws { .. }));
    if plan.namespaces == 0 || !raw {
        return endpoints.to_vec();
    }
    seats
        .iter()
        .enumerate()
        .map(|(i, seat)| match &endpoints[i % endpoints.len()] {
            Endpoint::Ws { addr, host, path } => {
                let query = path.find('?').map_or("", |q| &path[q..]);
                let slot = features::raw_path(seat.path_slot).unwrap_or_default();
                Endpoint::Ws {
                    addr: *addr,
                    host: host.clone(),
                    path: format!("{slot}{query}"),
                }
            }
            other => other.clone(),
        })
        .collect()
}

/// Namespace barrier (Socket.IO, `namespaces` > 1): every connection CONNECTs to the
/// namespaces after `/` (with the endpoint's `auth`) and waits for each reply, all at once,
/// within `timeout`; then it sends in its seat's slot.
pub async fn follow_all<T: Transport>(
    conns: &mut [T],
    seats: &[Seat],
    k: u32,
    auth: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let more: Vec<String> = (1..k).filter_map(features::namespace).collect();
    let follows = conns.iter_mut().zip(seats).map(|(c, seat)| {
        let more = &more;
        async move {
            c.follow(more, auth, seat.send_slot as usize)
                .await
                .map_err(|e| format!("client {}: following {k} namespaces: {e}", seat.client))
        }
    });
    let all = futures_util::future::try_join_all(follows);
    match tokio::time::timeout(timeout, all).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(format!(
            "namespace barrier: not every client joined its {k} namespaces within {timeout:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::Audience;
    use wsbench_scenario::{LoopMode, WorkloadKind};

    fn plan(clients: u32, publishers: u32, namespaces: u32) -> Plan {
        Plan {
            workload: WorkloadKind::Broadcast,
            op: Some(crate::transport::OpKind::ToAll),
            audience: Audience::Namespaces {
                clients,
                namespaces,
            },
            acked: false,
            mode: LoopMode::Open,
            clients,
            publishers,
            rooms: 0,
            namespaces,
            variant: "to_all".into(),
        }
    }

    #[test]
    fn raw_seats_cover_every_client_in_every_namespace_once() {
        let p = plan(5, 2, 3);
        let s = seats(&p, false);
        assert_eq!(s.len(), 15);
        assert_eq!(publishing(&s), 2);
        // the publishing seats lead: client 0 in slot 0, client 1 in slot 1
        assert!(s[0].publishes && s[0].receivers == [0] && s[0].path_slot == 0);
        assert!(s[1].publishes && s[1].receivers == [4] && s[1].path_slot == 1);
        let mut all: Vec<u32> = s.iter().flat_map(|s| s.receivers.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..15).collect::<Vec<_>>());
        assert!(s[2..].iter().all(|s| !s.publishes));
        assert!(s.iter().all(|s| s.receivers[0] % 3 == s.path_slot));
    }

    #[test]
    fn socket_io_seats_multiplex_and_send_in_their_slot() {
        let s = seats(&plan(4, 4, 3), true);
        assert_eq!(s.len(), 4);
        assert_eq!(s[2].receivers, [6, 7, 8]);
        assert_eq!(s[2].send_slot, 2);
        assert_eq!(s[3].send_slot, 0);
    }

    #[test]
    fn raw_endpoints_take_the_slot_path_and_keep_the_query() {
        let p = plan(2, 1, 2);
        let s = seats(&p, false);
        let base = [Endpoint::Ws {
            addr: "127.0.0.1:1".parse().unwrap(),
            host: "h".into(),
            path: "/ws?token=t".into(),
        }];
        let paths: Vec<String> = endpoints(&p, &s, &base)
            .into_iter()
            .map(|e| match e {
                Endpoint::Ws { path, .. } => path,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            paths,
            [
                "/ws?token=t",
                "/ws/chat?token=t",
                "/ws?token=t",
                "/ws/chat?token=t"
            ]
        );
    }
}
