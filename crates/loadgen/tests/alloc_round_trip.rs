//! Allocations per round trip of the load generator's client side: a `TcpTransport` and a
//! `WsTransport` send echo requests and receive the replies (fast-path decode, payload
//! encoded into a reused buffer) against real servers. The servers run on their own runtime
//! threads; a counting global allocator counts only the client's thread, which drives its
//! connection on a current-thread runtime.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use wsbench_loadgen::transport::{Endpoint, Incoming, OpKind, Outgoing, Transport, connect};
use wsbench_servers::{RustServer, ServerConfig};
use wsbench_wire::payload::Stamp;

struct Counting;

thread_local! {
    /// Allocations made by this thread.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Round trips measured after a warmup that lets every buffer grow (measured: 0 allocations
/// per round trip on both; the bound allows fewer than 20 in all, e.g. a runtime-internal one).
const ROUND_TRIPS: u64 = 2_000;

async fn round_trips(endpoint: Endpoint) -> f64 {
    let mut conn = connect(&endpoint, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let mut payload = String::new();
    let mut one = async |seq: u64, payload: &mut String| {
        Stamp { from: 0, seq, t: 1 }.encode_into(128, payload);
        let req = Outgoing {
            op: OpKind::Echo,
            room: None,
            id: None,
            data: Some(payload),
            ack: None,
        };
        conn.send(req).await.unwrap();
        let Incoming::Msg(d) = conn.recv().await.unwrap() else {
            panic!("expected the echo")
        };
        assert_eq!(Stamp::decode(&d).unwrap().seq, seq);
    };
    for seq in 0..100 {
        one(seq, &mut payload).await;
    }
    let before = ALLOCS.with(Cell::get);
    for seq in 100..100 + ROUND_TRIPS {
        one(seq, &mut payload).await;
    }
    (ALLOCS.with(Cell::get) - before) as f64 / ROUND_TRIPS as f64
}

#[test]
fn client_round_trips_allocate_nothing_once_warm() {
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for target in [RustServer::Tcp, RustServer::WsTungstenite] {
        let listener = servers
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        servers.spawn(wsbench_servers::serve(
            target,
            listener,
            ServerConfig::default(),
            Default::default(),
            std::future::pending::<()>(),
        ));
        let endpoint = match target {
            RustServer::Tcp => Endpoint::Tcp(addr),
            _ => Endpoint::Ws {
                addr,
                host: addr.to_string(),
                path: "/ws".into(),
            },
        };
        let per = client.block_on(round_trips(endpoint));
        eprintln!("{target:?}: {per} allocations per round trip");
        assert!(per < 0.01, "{target:?}: {per} allocations per round trip");
    }
}
