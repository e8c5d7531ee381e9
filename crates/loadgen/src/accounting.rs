//! Delivery accounting: per receiver, which `(from, seq)` arrived, how often and in which
//! order; and, from the op's semantics, how many deliveries were owed.
//!
//! A receiver keeps, per sender, the set of seqs it got as sorted half-open ranges: in-order
//! delivery extends the last range (O(1), one range per sender), so memory grows only with
//! gaps (losses, reordering), not with the message count. A second copy of a seq is a
//! duplicate; a first copy whose seq is below the highest already seen from that sender is
//! reordered. A delivery the semantics say this receiver must not get (another room's
//! message, a `to_id` meant for someone else, its own `to_others`) is an isolation
//! violation, counted apart and not as delivered.
//!
//! `lost = expected − delivered` after drain, where expected comes from [`Audience`] and the
//! number of measure-phase messages each publisher sent.

use std::fmt;

/// Who must receive a message from publisher `from` (docs/design.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// `to_all`: every client, the sender included.
    All { clients: u32 },
    /// `to_others`: every client but the sender.
    Others { clients: u32 },
    /// `to_room`: client `i` is in room `i % rooms`; members of the sender's room, sender
    /// included.
    Room { clients: u32, rooms: u32 },
    /// `to_id`: publisher `i` sends to client `(i + 1) % clients`.
    Next { clients: u32 },
    /// `to_all` inside a namespace (`namespaces = K`): every client follows K namespaces,
    /// publisher `i` sends in namespace `i % K`. A receiver is one (client, namespace) pair,
    /// numbered `client * K + slot`; it must get exactly the messages of its namespace.
    Namespaces { clients: u32, namespaces: u32 },
    /// `echo` / `ack`: the sender itself.
    Sender,
    /// Nobody (the `connect` workload sends no messages).
    Nobody,
}

impl Audience {
    /// Whether `receiver` must get the messages of `from`.
    pub fn accepts(self, from: u32, receiver: u32) -> bool {
        match self {
            Audience::All { clients } => receiver < clients,
            Audience::Others { clients } => receiver < clients && receiver != from,
            Audience::Room { clients, rooms } => {
                receiver < clients && rooms > 0 && receiver % rooms == from % rooms
            }
            Audience::Next { clients } => clients > 0 && receiver == (from + 1) % clients,
            Audience::Namespaces {
                clients,
                namespaces,
            } => {
                namespaces > 0
                    && u64::from(receiver) < u64::from(clients) * u64::from(namespaces)
                    && receiver % namespaces == from % namespaces
            }
            Audience::Sender => receiver == from,
            Audience::Nobody => false,
        }
    }

    /// How many clients must get each message of `from`.
    pub fn recipients(self, from: u32) -> u64 {
        match self {
            Audience::All { clients } | Audience::Namespaces { clients, .. } => u64::from(clients),
            Audience::Others { clients } => u64::from(clients.saturating_sub(1)),
            Audience::Room { clients, rooms } if rooms > 0 => {
                let r = from % rooms;
                // members: r, r + rooms, r + 2 rooms, … below clients
                if r < clients {
                    u64::from((clients - 1 - r) / rooms + 1)
                } else {
                    0
                }
            }
            Audience::Room { .. } | Audience::Nobody => 0,
            Audience::Next { .. } | Audience::Sender => 1,
        }
    }

    /// Deliveries owed when publisher `i` sent `sent[i]` measure-phase messages.
    pub fn expected(self, sent: &[u64]) -> u64 {
        sent.iter()
            .enumerate()
            .map(|(i, &n)| n * self.recipients(i as u32))
            .sum()
    }
}

/// Sorted, disjoint, non-adjacent half-open ranges of seqs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeqRanges {
    ranges: Vec<(u64, u64)>,
}

impl SeqRanges {
    /// Adds `seq`; false if it was already there.
    pub fn insert(&mut self, seq: u64) -> bool {
        // fast path: the next seq in order
        if let Some(last) = self.ranges.last_mut() {
            if last.1 == seq {
                last.1 += 1;
                return true;
            }
            if last.0 <= seq && seq < last.1 {
                return false;
            }
        }
        // first range whose end is >= seq
        let i = self.ranges.partition_point(|&(_, end)| end < seq);
        if let Some(&(start, end)) = self.ranges.get(i)
            && start <= seq
            && seq < end
        {
            return false;
        }
        let joins_prev = i < self.ranges.len() && self.ranges[i].1 == seq;
        let joins_next_at = if joins_prev { i + 1 } else { i };
        let joins_next =
            joins_next_at < self.ranges.len() && self.ranges[joins_next_at].0 == seq + 1;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ranges[i].1 = self.ranges[i + 1].1;
                self.ranges.remove(i + 1);
            }
            (true, false) => self.ranges[i].1 = seq + 1,
            (false, true) => self.ranges[joins_next_at].0 = seq,
            (false, false) => self.ranges.insert(i, (seq, seq + 1)),
        }
        true
    }

    pub fn contains(&self, seq: u64) -> bool {
        let i = self.ranges.partition_point(|&(_, end)| end <= seq);
        self.ranges.get(i).is_some_and(|&(s, _)| s <= seq)
    }

    /// Number of ranges held (memory use).
    pub fn spans(&self) -> usize {
        self.ranges.len()
    }
}

/// Counts of one receiver, or merged over all.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// First copies of expected deliveries.
    pub delivered: u64,
    /// Extra copies.
    pub duplicated: u64,
    /// First copies that arrived after a higher seq from the same sender.
    pub reordered: u64,
    /// Deliveries to a client outside the message's audience.
    pub violations: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.delivered += o.delivered;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.violations += o.violations;
    }
}

/// What [`ReceiverLedger::record`] made of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The first copy: record its latency.
    First {
        reordered: bool,
    },
    Duplicate,
    /// Not meant for this receiver.
    Violation,
}

/// One violation, kept as an example for the row's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub receiver: u32,
    pub from: u32,
    pub seq: u64,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {} received message {} of client {} outside its audience",
            self.receiver, self.seq, self.from
        )
    }
}

#[derive(Debug, Default)]
struct SenderTrack {
    seen: SeqRanges,
    highest: Option<u64>,
}

/// The accounting of one receiver (one worker).
#[derive(Debug)]
pub struct ReceiverLedger {
    me: u32,
    audience: Audience,
    /// Indexed by `from`; grows to the highest sender seen.
    senders: Vec<SenderTrack>,
    pub tally: Tally,
    /// The first violation seen, for the notes.
    pub first_violation: Option<Violation>,
}

impl ReceiverLedger {
    pub fn new(me: u32, audience: Audience) -> ReceiverLedger {
        ReceiverLedger {
            me,
            audience,
            senders: Vec::new(),
            tally: Tally::default(),
            first_violation: None,
        }
    }

    /// Accounts one delivery of a measure-phase message.
    pub fn record(&mut self, from: u32, seq: u64) -> Delivery {
        if !self.audience.accepts(from, self.me) {
            self.tally.violations += 1;
            self.first_violation.get_or_insert(Violation {
                receiver: self.me,
                from,
                seq,
            });
            return Delivery::Violation;
        }
        let i = from as usize;
        if self.senders.len() <= i {
            self.senders.resize_with(i + 1, SenderTrack::default);
        }
        let track = &mut self.senders[i];
        if !track.seen.insert(seq) {
            self.tally.duplicated += 1;
            return Delivery::Duplicate;
        }
        self.tally.delivered += 1;
        let reordered = track.highest.is_some_and(|h| seq < h);
        if reordered {
            self.tally.reordered += 1;
        } else {
            track.highest = Some(seq);
        }
        Delivery::First { reordered }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_detect_copies() {
        let mut r = SeqRanges::default();
        for s in [5, 6, 7, 10, 9, 3, 8, 4] {
            assert!(r.insert(s), "{s}");
        }
        assert_eq!(r.ranges, vec![(3, 11)]);
        for s in [3, 7, 10] {
            assert!(!r.insert(s));
        }
        assert!(r.insert(20));
        assert!(r.insert(12));
        assert_eq!(r.ranges, vec![(3, 11), (12, 13), (20, 21)]);
        assert!(r.insert(11));
        assert_eq!(r.ranges, vec![(3, 13), (20, 21)]);
        assert!(r.contains(12) && r.contains(20) && !r.contains(13) && !r.contains(2));
        assert!(!r.insert(20));
    }

    #[test]
    fn in_order_delivery_keeps_one_range() {
        let mut r = SeqRanges::default();
        for s in 1000..101_000 {
            assert!(r.insert(s));
        }
        assert_eq!(r.spans(), 1);
    }

    #[test]
    fn loss_dup_and_reorder_are_counted_exactly() {
        let mut l = ReceiverLedger::new(0, Audience::All { clients: 3 });
        // from 1: 0 1 2 3 4 5 6 7 8 9 with 4 lost, 7 duplicated, 2 after 3 (reordered)
        for s in [0, 1, 3, 2, 5, 6, 7, 7, 8, 9] {
            l.record(1, s);
        }
        // from 2: 0..5 with 0 arriving last (reordered) and 3 three times
        for s in [1, 2, 3, 3, 3, 4, 0] {
            l.record(2, s);
        }
        assert_eq!(
            l.tally,
            Tally {
                delivered: 9 + 5,
                duplicated: 1 + 2,
                reordered: 2,
                violations: 0
            }
        );
        // expected for this receiver: 10 + 5 sent → lost 1
        assert_eq!(10 + 5 - l.tally.delivered, 1);
    }

    #[test]
    fn violations_are_not_deliveries() {
        let a = Audience::Room {
            clients: 6,
            rooms: 3,
        };
        let mut l = ReceiverLedger::new(4, a); // room 1
        assert_eq!(l.record(1, 0), Delivery::First { reordered: false });
        assert_eq!(l.record(2, 0), Delivery::Violation);
        assert_eq!(l.tally.delivered, 1);
        assert_eq!(l.tally.violations, 1);
        assert_eq!(
            l.first_violation,
            Some(Violation {
                receiver: 4,
                from: 2,
                seq: 0
            })
        );
        let mut own = ReceiverLedger::new(2, Audience::Others { clients: 3 });
        assert_eq!(own.record(2, 0), Delivery::Violation);
    }

    #[test]
    fn expected_follows_the_semantics() {
        let sent = [10, 20, 30];
        assert_eq!(Audience::All { clients: 5 }.expected(&sent), 60 * 5);
        assert_eq!(Audience::Others { clients: 5 }.expected(&sent), 60 * 4);
        assert_eq!(Audience::Sender.expected(&sent), 60);
        assert_eq!(Audience::Next { clients: 5 }.expected(&sent), 60);
        assert_eq!(Audience::Nobody.expected(&sent), 0);
        // 7 clients, 3 rooms: room 0 = {0,3,6}, room 1 = {1,4}, room 2 = {2,5}
        let rooms = Audience::Room {
            clients: 7,
            rooms: 3,
        };
        assert_eq!(rooms.expected(&sent), 10 * 3 + 20 * 2 + 30 * 2);
        for from in 0..7 {
            let members = (0..7).filter(|&r| rooms.accepts(from, r)).count() as u64;
            assert_eq!(rooms.recipients(from), members, "from {from}");
        }
        let next = Audience::Next { clients: 4 };
        assert!(next.accepts(3, 0) && next.accepts(0, 1) && !next.accepts(0, 0));
    }

    #[test]
    fn namespaces_owe_every_client_and_refuse_the_other_namespaces() {
        // 4 clients following 3 namespaces: receiver client * 3 + slot
        let ns = Audience::Namespaces {
            clients: 4,
            namespaces: 3,
        };
        assert_eq!(ns.expected(&[10, 20]), (10 + 20) * 4);
        for from in 0..4 {
            let members = (0..12).filter(|&r| ns.accepts(from, r)).count() as u64;
            assert_eq!(ns.recipients(from), members, "from {from}");
        }
        // client 2 in namespace slot 1 (receiver 7): publisher 1 sends in slot 1, 2 in slot 2
        let mut l = ReceiverLedger::new(2 * 3 + 1, ns);
        assert_eq!(l.record(1, 0), Delivery::First { reordered: false });
        assert_eq!(l.record(2, 0), Delivery::Violation);
        assert_eq!((l.tally.delivered, l.tally.violations), (1, 1));
        assert!(!ns.accepts(1, 12), "no receiver past the last client");
    }
}
