//! The one protocol contract test (docs/design.md §3): [`transport_support::exercise`] run
//! against every row of the target table, over the transport the row names. The Rust targets
//! run in this process through `wsbench_servers::serve`; the Node peers are started the way
//! a run starts them (the runner's `resolve`, which installs their locked packages first).
//!
//! Where `node` or `npm` is missing, the Node test prints "skipped: node not found" and
//! passes (CI has node).

mod transport_support;

use std::path::Path;
use std::time::Duration;

use transport_support::{exercise, start};
use wsbench_loadgen::peers::find_on_path;
use wsbench_loadgen::runner::target::{endpoint, resolve};
use wsbench_scenario::{Protocol, ServerKind, SioTransport, TARGETS, TargetSpec};
use wsbench_servers::ServerConfig;

/// Raw targets pass `data` through byte for byte; Socket.IO servers re-serialise it.
fn byte_exact(p: Protocol) -> bool {
    !p.is_socket_io()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rust_target_keeps_the_contract() {
    let mut tested = 0;
    for row in TARGETS {
        let ServerKind::Serve(server) = row.server else {
            continue;
        };
        eprintln!("contract: {}", row.name);
        let srv = start(server, ServerConfig::default()).await;
        let e = endpoint(row.protocol, srv.addr, srv.addr.to_string(), "/ws");
        exercise(&e, byte_exact(row.protocol)).await;
        srv.stop().await;
        tested += 1;
    }
    assert!(tested >= 6, "the table lost its Rust targets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_target_keeps_the_contract() {
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        eprintln!("skipped: node not found");
        return;
    }
    let node_rows = TARGETS
        .iter()
        .filter(|t| matches!(t.server, ServerKind::Node(_)));
    // and the Node Socket.IO server over the one transport no row names
    let upgrade = (
        "node-socketio",
        Protocol::Sio(SioTransport::PollingThenUpgrade),
    );
    let cases = node_rows.map(|t| (t.name, t.protocol)).chain([upgrade]);
    for (name, protocol) in cases {
        eprintln!("contract: {name} over {}", protocol.label());
        let spec = TargetSpec::parse(name).unwrap();
        let resolved = tokio::time::timeout(
            Duration::from_secs(700),
            resolve(&spec, Path::new("wsbench"), &[], None),
        )
        .await
        .expect("the Node peer starts in time (a cold npm ci included)")
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let child = resolved.child.expect("a Node target runs as a child");
        let addr = child.addr();
        exercise(
            &endpoint(protocol, addr, addr.to_string(), "/ws"),
            byte_exact(protocol),
        )
        .await;
        child.stop(Duration::from_secs(5)).await;
    }
}
