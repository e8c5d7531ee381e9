//! The command line of docs/design.md §6 (clap derive). Only definitions and help text live
//! here; every subcommand turns its arguments into library types in its own module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// wsbench: what Socket.IO costs and buys compared with a raw WebSocket, and what push saves
/// over polling — measured, not estimated.
///
/// Typical use:
///   wsbench run scenarios/broadcast.toml            run a scenario against its targets
///   wsbench run scenarios/echo.toml --quick         a short smoke run
///   wsbench serve ws-tungstenite                    run one server by hand
///   wsbench report results/<run>                    plots + report.md from a run
///   wsbench compare results/<a> results/<b>         ratios between two runs
#[derive(Debug, Parser)]
#[command(name = "wsbench", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one server target in the foreground (the harness starts these as children).
    ///
    /// Prints exactly `listening on <ip>:<port>` as its first stdout line, then serves until
    /// SIGINT or SIGTERM, closing connections cleanly and exiting 0. Socket.IO serves the
    /// namespaces /, /chat, /admin and /notifications; the raw WebSocket targets the paths
    /// /ws, /ws/chat, /ws/admin and /ws/notifications (one room hub each).
    Serve(ServeArgs),
    /// Run a scenario file against its targets and write summary.csv, .hgrm histograms,
    /// meta.json and report.md into a run directory.
    Run(RunArgs),
    /// Find the highest load each target carries within an SLO with nothing lost.
    ///
    /// An SLO (service-level objective) is a latency bound every step must meet, e.g.
    /// `p99<=50ms`: one or more `STAT<=N UNIT` joined by `,` (STAT: p50, p90, p99, p999,
    /// max; UNIT: us, ms, s), on the latency from each message's intended send time.
    ///
    /// The search, per target: start at the scenario's `rate` (or `clients` with
    /// --by clients), double the load while steps pass (up to --max), then bisect between
    /// the highest passing and the lowest failing load until they are within --precision.
    /// A step passes only with 0 lost, 0 errors, the SLO met and the load generator not
    /// the limit. Each step is one ordinary row against a freshly started server; every
    /// row goes to summary.csv (+ .hgrm) as it finishes.
    ///
    /// capacity.csv says, per target, the capacity (the highest passing load; 0 when the
    /// first step failed) and `limited_by`, what ended the search:
    ///   slo      the lowest failing step broke the SLO
    ///   lost     ... lost deliveries
    ///   errors   ... had errors (or could not be measured)
    ///   loadgen  a step was load-generator bound: the search stopped there; the capacity
    ///            is the last passing load below it (never a bound step's figure)
    ///   max      every step passed up to --max (raise it to find the limit)
    ///
    /// Example:
    ///   wsbench capacity scenarios/capacity-echo.toml --slo 'p99<=50ms' \
    ///       --targets tcp,sio-socketioxide --server-cpus 0.5
    ///
    /// Exits 0 when every target was searched, 1 when a step could not be run, 2 on a bad
    /// SLO, a scenario without a rate (with --by rate) or another usage error, 130 when
    /// interrupted (capacity.csv keeps what is known, marked partial).
    #[command(verbatim_doc_comment)]
    Capacity(CapacityArgs),
    /// List the built-in targets and the scenario files.
    List(ListArgs),
    /// Render plots (SVG) and report.md from a run directory's files.
    ///
    /// Exits 2 when the directory does not exist or holds no readable summary.csv.
    Report(ReportArgs),
    /// Compare two run directories metric by metric (ratios b/a); optional thresholds.
    ///
    /// Exits 0 when the runs were compared and no threshold failed; 1 when no point is
    /// present in both runs (nothing was compared); 2 when a path does not exist or holds no
    /// readable summary.csv, or a --fail-if is malformed; 3 when a threshold failed or
    /// checked nothing.
    Compare(CompareArgs),
    /// A minimal ping-pong client: the floor of what a load generator costs.
    ///
    /// One thread, raw epoll, no async runtime, no JSON parse: each client sends the same
    /// echo request bytes `wsbench run` sends (built once, same encoders) and reads replies by
    /// framing only (tcp length prefix; WebSocket frame headers), answering each with the
    /// next request. It prints round trips per second and its own CPU time per round trip.
    ///
    /// Use it to see how much of a ping-pong result is the server and how much is wsbench:
    /// run it against the same server, with the same pinning and client count, as a
    /// closed-loop echo scenario (`floor = true` in a scenario does this for you, side by
    /// side in one run). It cannot see the server's CPU; measure that where the server runs.
    ///
    /// Examples:
    ///   wsbench serve tcp --bind 127.0.0.1:9001 &
    ///   wsbench floor tcp 127.0.0.1:9001 --clients 50 --seconds 5
    ///   wsbench floor ws ws://127.0.0.1:9002/ws
    #[command(verbatim_doc_comment)]
    Floor(FloorArgs),
}

#[derive(Debug, Args)]
pub struct FloorArgs {
    /// Protocol: `tcp` (length-prefixed JSON, the tcp target) or `ws` (raw WebSocket: ws-*,
    /// node-ws).
    #[arg(value_parser = ["tcp", "ws"])]
    pub proto: String,
    /// Server address: tcp `HOST:PORT`; ws `HOST:PORT[/PATH]` or `ws://HOST:PORT/PATH`
    /// (path `/ws` when none is given).
    pub addr: String,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 50)]
    pub clients: u32,
    /// Measured seconds (after the warmup).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Seconds of ping-pong before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_s: f64,
    /// Size of the payload (`data`) of each request, as in a scenario's `payload_bytes`.
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Target to serve: tcp, ws-tungstenite, ws-fastwebsockets or sio-socketioxide.
    pub target: String,
    /// Address to listen on. Port 0 lets the OS choose; the chosen port is printed. The
    /// listen backlog is 4096 (capped by net.core.somaxconn), so connection storms are not
    /// turned into SYN retransmits.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: String,
    /// Database behind the REST routes: `sqlite` (embedded, temporary file; the default),
    /// `sqlite:PATH`, or `postgres://user@host:port/db`.
    #[arg(long, default_value = "sqlite")]
    pub database: String,
    /// Where `GET /api/dashboard/cached` (the poll-cached variant) keeps rows: `memory`
    /// (in this process; the default) or `redis://host:port`. A write invalidates its
    /// workspace's entry; a read runs its SELECT only on a miss.
    #[arg(long, default_value = "memory")]
    pub cache: String,
    /// Largest accepted message in bytes (WebSocket message after reassembly, tcp frame,
    /// Socket.IO packet). Over it a raw WebSocket closes with 1009; tcp closes the
    /// connection; sio-socketioxide closes without a close code (socketioxide sets none).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_message_bytes: usize,
    /// Connections served at once, of every kind (WebSocket, Engine.IO, REST, half-sent
    /// requests; tcp: every socket); further ones get 503 (tcp: closed at once).
    #[arg(long, default_value_t = 100_000)]
    pub max_connections: usize,
    /// Outgoing frames queued per connection (Socket.IO: packets per socket) before the
    /// slow-consumer policy applies. Bounds memory per connection.
    #[arg(long, default_value_t = 4096)]
    pub outbound_queue: usize,
    /// What to do when a connection's outbound queue is full: `drop` the delivery for that
    /// connection and count it (socketioxide's behaviour), or `disconnect` the connection.
    /// sio-socketioxide accepts only `drop` (socketioxide cannot close a socket whose queue
    /// is full).
    #[arg(long, default_value = "drop", value_parser = ["drop", "disconnect"])]
    pub slow_consumer: String,
    /// Bytes queued per connection before the slow-consumer policy applies, beside the
    /// frame bound (a single larger frame goes out alone). Raw targets only: socketioxide
    /// bounds its queue in packets alone. [default: 16777216]
    #[arg(long, value_name = "BYTES")]
    pub outbound_queue_bytes: Option<usize>,
    /// Rooms one connection may be in; a further join gets an error reply and no ack.
    #[arg(long, default_value_t = 1000)]
    pub max_rooms_per_connection: usize,
    /// Longest room name a join accepts, in bytes; a longer one gets an error reply.
    #[arg(long, default_value_t = 256)]
    pub max_room_name_bytes: usize,
    /// HTTP targets: seconds a client has to send a request's headers (counted whenever the
    /// server waits for them, so also the keep-alive idle timeout) and a REST body (408).
    #[arg(long, default_value_t = 30.0)]
    pub http_read_timeout_s: f64,
    /// Seconds shutdown (SIGINT/SIGTERM) waits for open connections before dropping them;
    /// a second signal exits at once.
    #[arg(long, default_value_t = 5.0)]
    pub shutdown_timeout_s: f64,
    /// Who may `POST /api/stats/reset`: `loopback` clients only (others get 403), or `any`
    /// (a load generator on another host).
    #[arg(long, default_value = "loopback", value_parser = ["loopback", "any"])]
    pub stats_reset_from: String,
    /// Raw WebSocket targets: close a connection silent for this many seconds (pinged every
    /// half of it).
    #[arg(long, default_value_t = 120.0)]
    pub idle_timeout_s: f64,
    /// Socket.IO: Engine.IO ping interval, seconds.
    #[arg(long, default_value_t = 25.0)]
    pub sio_ping_interval_s: f64,
    /// Socket.IO: Engine.IO ping timeout, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub sio_ping_timeout_s: f64,
    /// Fault injection: delay every delivery by this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub fault_delay_ms: Option<u64>,
    /// Fault injection: drop every k-th delivery (server-wide count).
    #[arg(long, value_name = "K")]
    pub fault_drop_every: Option<u64>,
    /// Fault injection: stall the delivery path once, for this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub fault_stall_once_ms: Option<u64>,
    /// Raw WebSocket targets only: echo every message verbatim instead of the app protocol
    /// (for the Autobahn|Testsuite; never for benchmarks).
    #[arg(long)]
    pub echo: bool,
    /// Run as one node of a cluster over Redis, e.g. `redis://127.0.0.1:6379`: `to_all`,
    /// `to_others`, `to_room` and `to_id` reach sockets on every node of the cluster, once.
    /// sio-socketioxide uses socketioxide-redis; the raw targets relay over Redis pub/sub
    /// (docs/cluster.md). Fails at start when Redis does not answer.
    #[arg(long, value_name = "URL")]
    pub adapter: Option<String>,
    /// With --adapter: names the cluster's Redis channels, so clusters sharing one Redis stay
    /// apart. Every node of one cluster uses the same prefix.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "wsbench",
        requires = "adapter"
    )]
    pub adapter_prefix: String,
    #[command(flatten)]
    pub production: crate::production::ProductionArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (see scenarios/ and docs/scenarios.md).
    pub scenario: PathBuf,
    /// Comma-separated targets, overriding the file's `targets`: built-in names (see
    /// `wsbench list`), `all`, or external servers `sio=http://host:port`,
    /// `ws=ws://host:port/ws`, `tcp=host:port`.
    #[arg(long, value_delimiter = ',')]
    pub targets: Option<Vec<String>>,
    /// Run directory for the results (default: results/<scenario>-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Smoke run: warmup 0.5 s, measure 2 s, drain 1 s.
    #[arg(long)]
    pub quick: bool,
    /// Trials per target; targets are interleaved (A B C A B C …) so drift hits all alike.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Override `clients` (a sweep on it is replaced).
    #[arg(long)]
    pub clients: Option<u32>,
    /// Override `publishers`.
    #[arg(long)]
    pub publishers: Option<u32>,
    /// Override `rate` (total messages per second across publishers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Override `payload_bytes`.
    #[arg(long)]
    pub payload_bytes: Option<usize>,
    /// Override the warmup phase, seconds.
    #[arg(long)]
    pub warmup_s: Option<f64>,
    /// Override the measure phase, seconds.
    #[arg(long)]
    pub measure_s: Option<f64>,
    /// Override the drain phase, seconds.
    #[arg(long)]
    pub drain_s: Option<f64>,
    /// CPU budget of every server the run starts, in CPUs (e.g. 0.5): a CFS quota on the
    /// server's own cgroup with a 10 ms period, overriding the file's `server_cpus`. Needs
    /// a writable cgroup cpu controller (root); the run fails rather than run unthrottled.
    #[arg(long, value_name = "F")]
    pub server_cpus: Option<f64>,
    /// After each row, run the floor client (`wsbench floor`) against the same server with
    /// the same pinning, clients, payload and measure time, and fill the floor_* columns
    /// (as the scenario key `floor = true`). Only for closed-loop echo without a rate
    /// (ping-pong) on tcp and raw WebSocket targets.
    #[arg(long)]
    pub floor: bool,
    /// Database for servers the harness starts (same forms as `serve --database`).
    #[arg(long, default_value = "sqlite")]
    pub database: String,
    /// Server processes per target, one cluster over Redis (overrides the file's `nodes`):
    /// each is `serve --adapter`, and client i connects to node i mod N. Rows record
    /// `nodes`, Redis's CPU (`redis_cpu_s`) and PUBLISH commands per delivery
    /// (`redis_msgs_per_delivery`); see docs/cluster.md.
    #[arg(long, value_name = "N")]
    pub nodes: Option<u32>,
    /// The Redis the clusters share (with nodes > 1); the run stops before any row when it
    /// does not answer.
    #[arg(long, value_name = "URL", default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// Start the servers with `--jwt-secret SECRET` and have every client present an HS256
    /// token the generator mints with it (scenario key `jwt`; given alone it means
    /// `jwt = "valid"`). Without it, a `jwt` scenario uses a random secret per run.
    #[arg(long, value_name = "SECRET")]
    pub jwt_secret: Option<String>,
    /// No live progress line.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// Scenario file: one point (no [sweep]) of an open-loop workload with a `rate`
    /// (echo, broadcast, rooms, direct, ack); see scenarios/capacity-*.toml.
    pub scenario: PathBuf,
    /// The SLO every passing step meets, e.g. 'p99<=50ms' or 'p50<=5ms,p99<=50ms'.
    #[arg(long)]
    pub slo: String,
    /// Comma-separated targets, overriding the file's `targets` (as `run --targets`).
    #[arg(long, value_delimiter = ',')]
    pub targets: Option<Vec<String>>,
    /// CPU budget of every server, in CPUs (as `run --server-cpus`; needs a writable
    /// cgroup cpu controller, else the search fails rather than run unthrottled).
    #[arg(long, value_name = "F")]
    pub server_cpus: Option<f64>,
    /// What to step: the total offered `rate` (msgs/s), or the number of `clients`
    /// (publishers follow clients when every client publishes; the rate stays the file's).
    #[arg(long, default_value = "rate", value_parser = ["rate", "clients"])]
    pub by: String,
    /// The highest load tried [default: 64 × the starting load].
    #[arg(long, value_name = "N")]
    pub max: Option<f64>,
    /// Bisection stops when failing/passing load ≤ 1 + this.
    #[arg(long, default_value_t = 0.1)]
    pub precision: f64,
    /// Results directory (default: results/<scenario>-capacity-<yyyymmdd-hhmmss>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Short steps: warmup 0.5 s, measure 2 s, drain 1 s.
    #[arg(long)]
    pub quick: bool,
    /// Database for the servers (same forms as `serve --database`).
    #[arg(long, default_value = "sqlite")]
    pub database: String,
    /// No live progress line (the per-step lines are still printed).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Folder of scenario files to list [default: ./scenarios, else the scenarios of the
    /// source tree this binary was built from].
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory written by `wsbench run`.
    pub run_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline run directory.
    pub a: PathBuf,
    /// Run directory compared with the baseline (ratios are b / a).
    pub b: PathBuf,
    /// Fail (exit 3) when a ratio crosses a threshold, e.g. `lat_p99_us>1.10` (p99 more than
    /// 10 % worse) or `deliveries_per_s<0.95`. Repeatable. A threshold that checks nothing
    /// also exits 3: when no point is present in both runs, or no point has its metric in
    /// both runs. (Without --fail-if, no point in common exits 1.)
    #[arg(long = "fail-if", value_name = "METRIC>RATIO")]
    pub fail_if: Vec<String>,
}
