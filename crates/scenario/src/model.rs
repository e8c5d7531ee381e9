//! The validated scenario types. Everything downstream (runner, report) reads these, never
//! raw TOML or raw CLI flags.

use std::num::NonZeroU32;
use std::time::Duration;

/// What the clients do (docs/design.md §5), with the settings that exist only for that
/// workload: a value here is one the workload uses, so downstream code matches instead of
/// unwrapping options and checking the rules again.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// Each publisher sends `echo` to itself; open loop, or closed-loop ping-pong.
    Echo { mode: LoopMode },
    /// Publishers send `op`; every client (or every other client) receives.
    Broadcast { op: BroadcastOp },
    /// Clients join rooms (client i joins room `i % rooms`); publishers send `to_room`; only
    /// members receive (isolation checked). `rooms` is at most the number of clients.
    Rooms { rooms: NonZeroU32 },
    /// Publishers send `to_id` to one other client each.
    Direct,
    /// Requests carry ack ids; latency is the request → ack round trip.
    Ack { mode: LoopMode },
    /// docs/design.md §4: a writer updates a DB row, viewers poll or get pushed.
    PollingVsPush(Polling),
    /// Connection storm: open `clients` connections at `connect_rate` per second (0 = all at
    /// once), measure connect time.
    Connect { connect_rate: f64 },
}

impl Workload {
    /// Which workload this is, without its settings.
    pub fn kind(&self) -> WorkloadKind {
        match self {
            Workload::Echo { .. } => WorkloadKind::Echo,
            Workload::Broadcast { .. } => WorkloadKind::Broadcast,
            Workload::Rooms { .. } => WorkloadKind::Rooms,
            Workload::Direct => WorkloadKind::Direct,
            Workload::Ack { .. } => WorkloadKind::Ack,
            Workload::PollingVsPush(_) => WorkloadKind::PollingVsPush,
            Workload::Connect { .. } => WorkloadKind::Connect,
        }
    }
    /// The name in a scenario file (`echo`, `polling-vs-push`, …).
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
    /// Open or closed loop: closed exists only for `echo` and `ack`; every other workload
    /// is open loop.
    pub fn mode(&self) -> LoopMode {
        match self {
            Workload::Echo { mode } | Workload::Ack { mode } => *mode,
            _ => LoopMode::Open,
        }
    }
}

/// The workloads by name only: what a scenario file's `workload` key says, and what code
/// that needs no settings (target support, listings) compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Echo,
    Broadcast,
    Rooms,
    Direct,
    Ack,
    PollingVsPush,
    Connect,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 7] = [
        WorkloadKind::Echo,
        WorkloadKind::Broadcast,
        WorkloadKind::Rooms,
        WorkloadKind::Direct,
        WorkloadKind::Ack,
        WorkloadKind::PollingVsPush,
        WorkloadKind::Connect,
    ];
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Echo => "echo",
            WorkloadKind::Broadcast => "broadcast",
            WorkloadKind::Rooms => "rooms",
            WorkloadKind::Direct => "direct",
            WorkloadKind::Ack => "ack",
            WorkloadKind::PollingVsPush => "polling-vs-push",
            WorkloadKind::Connect => "connect",
        }
    }
    /// The workload called `name` in a scenario file.
    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|w| w.name() == name)
    }
    /// Whether some clients send timed messages (`publishers` and `rate` apply).
    pub fn publishes(self) -> bool {
        !matches!(self, WorkloadKind::PollingVsPush | WorkloadKind::Connect)
    }
    /// Whether the closed-loop mode exists for this workload (`echo` and `ack`).
    pub fn has_closed_loop(self) -> bool {
        matches!(self, WorkloadKind::Echo | WorkloadKind::Ack)
    }
}

/// How send times are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    /// Evenly spaced at 1/rate.
    #[default]
    Constant,
    /// Exponential inter-arrival times with mean 1/rate.
    Poisson,
}

impl Arrival {
    pub const ALL: [Arrival; 2] = [Arrival::Constant, Arrival::Poisson];
    pub fn name(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
        }
    }
    pub fn from_name(name: &str) -> Option<Arrival> {
        Arrival::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Open loop (schedule of intended times, wrk2-style) or closed loop (one request
/// outstanding per publisher; `echo` and `ack` only): with a rate, the next send waits for
/// both the answer and its intended time (wrk2); without one, it goes when the answer arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopMode {
    #[default]
    Open,
    Closed,
}

impl LoopMode {
    pub const ALL: [LoopMode; 2] = [LoopMode::Open, LoopMode::Closed];
    pub fn name(self) -> &'static str {
        match self {
            LoopMode::Open => "open",
            LoopMode::Closed => "closed",
        }
    }
    pub fn from_name(name: &str) -> Option<LoopMode> {
        LoopMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The op of the `broadcast` workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BroadcastOp {
    #[default]
    ToAll,
    ToOthers,
}

impl BroadcastOp {
    pub const ALL: [BroadcastOp; 2] = [BroadcastOp::ToAll, BroadcastOp::ToOthers];
    /// The op name, as in the file and on the wire (`to_all`, `to_others`).
    pub fn name(self) -> &'static str {
        match self {
            BroadcastOp::ToAll => "to_all",
            BroadcastOp::ToOthers => "to_others",
        }
    }
    pub fn from_name(name: &str) -> Option<BroadcastOp> {
        BroadcastOp::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// Encoding of `data`. JSON is the one every target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Json,
}

impl Encoding {
    pub const ALL: [Encoding; 1] = [Encoding::Json];
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
        }
    }
    pub fn from_name(name: &str) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// Phase lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    /// Traffic flows but nothing is recorded.
    pub warmup: Duration,
    /// Sends and their deliveries are recorded.
    pub measure: Duration,
    /// No new sends; deliveries still arriving are recorded; what is missing after is lost.
    pub drain: Duration,
}

/// A polling-vs-push variant (docs/design.md §4; one row each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PvpVariant {
    /// Viewers GET `/api/dashboard` every `poll_interval` from the raw WebSocket server's port.
    Poll,
    /// The same GETs against the Socket.IO server's HTTP port (transport is the only change).
    PollSio,
    /// Conditional GETs (`If-None-Match`): 304 without a body while the version is unchanged.
    PollEtag,
    /// GETs of `/api/dashboard/cached`: the server's cache, the database only on a miss.
    PollCached,
    /// Hanging GETs of `/api/dashboard/wait?after=V`: answered when a newer version commits.
    LongPoll,
    /// One `text/event-stream` (`/api/dashboard/events`): every committed version pushed.
    Sse,
    /// Viewers join room `dashboard` on a raw WebSocket target, GET one snapshot, then listen.
    PushWs,
    /// The same over Socket.IO on WebSocket.
    PushSio,
    /// The same over Socket.IO long-polling.
    PushSioPolling,
}

/// Which servers a variant runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantServers {
    /// Raw WebSocket targets (their HTTP port).
    RawWebSocket,
    /// Socket.IO targets.
    SocketIo,
    /// Every HTTP target (Rust servers, Node peers, `ws=`/`sio=` URLs).
    AnyHttp,
}

impl PvpVariant {
    pub const ALL: [PvpVariant; 9] = [
        PvpVariant::Poll,
        PvpVariant::PollSio,
        PvpVariant::PollEtag,
        PvpVariant::PollCached,
        PvpVariant::LongPoll,
        PvpVariant::Sse,
        PvpVariant::PushWs,
        PvpVariant::PushSio,
        PvpVariant::PushSioPolling,
    ];
    pub fn name(self) -> &'static str {
        match self {
            PvpVariant::Poll => "poll",
            PvpVariant::PollSio => "poll-sio",
            PvpVariant::PollEtag => "poll-etag",
            PvpVariant::PollCached => "poll-cached",
            PvpVariant::LongPoll => "long-poll",
            PvpVariant::Sse => "sse",
            PvpVariant::PushWs => "push-ws",
            PvpVariant::PushSio => "push-sio",
            PvpVariant::PushSioPolling => "push-sio-polling",
        }
    }
    pub fn from_name(name: &str) -> Option<PvpVariant> {
        PvpVariant::ALL.into_iter().find(|v| v.name() == name)
    }
    /// Which servers the variant runs on.
    pub fn servers(self) -> VariantServers {
        match self {
            PvpVariant::Poll | PvpVariant::PushWs => VariantServers::RawWebSocket,
            PvpVariant::PollSio | PvpVariant::PushSio | PvpVariant::PushSioPolling => {
                VariantServers::SocketIo
            }
            PvpVariant::PollEtag
            | PvpVariant::PollCached
            | PvpVariant::LongPoll
            | PvpVariant::Sse => VariantServers::AnyHttp,
        }
    }
    /// Whether the variant runs only against a Socket.IO server.
    pub fn socket_io(self) -> bool {
        self.servers() == VariantServers::SocketIo
    }
    /// Whether viewers poll on a schedule (every `poll_interval`; else updates come to
    /// them: pushed, streamed or answered to a hanging GET).
    pub fn polls(self) -> bool {
        matches!(
            self,
            PvpVariant::Poll | PvpVariant::PollSio | PvpVariant::PollEtag | PvpVariant::PollCached
        )
    }
}

/// Settings of the polling-vs-push workload (`[polling]` table), as validated: the interval
/// and rate are > 0, `variants` is non-empty and each variant has a target of its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Polling {
    /// How often each polling viewer GETs.
    pub poll_interval: Duration,
    /// Dashboard writes per second (U).
    pub update_rate: f64,
    /// Which variants to run.
    pub variants: Vec<PvpVariant>,
    /// Dashboards (`workspaces`, default 1): one row and one push room each; viewers are
    /// spread evenly over them and writes go round-robin.
    pub workspaces: u32,
}

/// One fully expanded, validated scenario point: what one row (per target, per repeat) runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// `name` in the file (defaults to the file stem).
    pub name: String,
    pub description: String,
    /// The workload and the settings only it has (broadcast op, rooms, loop mode, …).
    pub workload: Workload,
    /// Target specs, validated, with `all` already expanded (to the built-ins that can run
    /// the workload): built-in names (`ws-tungstenite`, `node-socketio`, …) or `kind=url`
    /// (`sio=http://…`, `ws=ws://…/ws`, `tcp=host:port`). Parse with `TargetSpec::parse`.
    pub targets: Vec<String>,
    /// Connected clients (polling-vs-push: viewers).
    pub clients: u32,
    /// How many of the clients publish (the first `publishers` by index).
    pub publishers: u32,
    /// Total intended publish rate across all publishers, messages/s. Open loop: always > 0.
    /// Closed loop: > 0 paces the sends (one outstanding per publisher, wrk2-style), 0 sends
    /// back to back (ping-pong). 0 for the workloads that do not publish.
    pub rate: f64,
    pub arrival: Arrival,
    /// Serialised size of each `data` object, bytes.
    pub payload_bytes: usize,
    pub encoding: Encoding,
    pub phases: Phases,
    /// The server limit the payload was validated against (`wsbench serve` default 1 MiB).
    pub max_message_bytes: usize,
    /// CPU budget of every server the run starts, in CPUs (a CFS quota of this many cores;
    /// `server_cpus` or `--server-cpus`). Validated: > 0, at most the machine's CPUs, and
    /// only with targets the run starts. `None`: no budget.
    pub server_cpus: Option<f64>,
    /// `floor = true` / `--floor`: after each row, the floor client runs against the same
    /// server (validated: closed-loop echo without a rate, tcp and raw WebSocket targets).
    pub floor: bool,
    /// Server processes per target, one cluster over Redis (`nodes` / `--nodes`; 1: one
    /// server, no cluster). Validated ([`crate::nodes`]): 1 to 64, and above 1 only with
    /// targets the run starts.
    pub nodes: u32,
    /// `jwt` and `rate_limit` (crate::production): what the servers enforce and what the
    /// clients present. All off by default.
    pub production: crate::production::Production,
    /// `[restart]` or `[churn]`: the fault the row injects (`None`: none).
    pub fault: Option<crate::faults::Fault>,
    /// `slow_share` / `slow_consumer` / `outbound_queue` ([`crate::slow`]): clients that
    /// stop reading during the measure phase, and the servers' policy. `None`: every
    /// client reads.
    pub slow: Option<crate::slow::SlowConsumers>,
    /// `[network]` ([`crate::network`]): the faults the load generator's proxy puts
    /// between the clients and the server. `None`: clients connect directly.
    pub network: Option<crate::network::NetworkFaults>,
    /// This point's sweep values as `key=value` pairs, in sweep order (empty: no sweep).
    pub sweep: Vec<(String, String)>,
}

impl Scenario {
    /// `key=value;key=value` for the CSV `sweep` column.
    pub fn sweep_label(&self) -> String {
        self.sweep
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}
