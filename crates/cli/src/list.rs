//! `wsbench list`: the built-in targets and the scenario files with their workloads.

use std::path::Path;

use crate::args::ListArgs;
use crate::exit;

/// Built-in targets and what each one is (docs/design.md §2).
pub const TARGETS: &[(&str, &str)] = &[
    (
        "tcp",
        "tokio TCP, 4-byte length prefix + JSON: the floor, no WebSocket framing",
    ),
    (
        "ws-tungstenite",
        "axum extract::ws (tokio-tungstenite): what most Rust apps use",
    ),
    (
        "ws-fastwebsockets",
        "hyper 1 + fastwebsockets: the fast raw stack",
    ),
    (
        "sio-socketioxide",
        "axum + socketioxide, WebSocket transport",
    ),
    (
        "sio-socketioxide-polling",
        "the same server, Engine.IO long-polling only",
    ),
    (
        "sio-socketioxide-upgrade",
        "the same server, polling then upgrade to WebSocket",
    ),
    ("node-ws", "Node `ws` + http (scripts/peers/node)"),
    (
        "node-socketio",
        "Node socket.io 4.8, WebSocket transport (scripts/peers/node)",
    ),
    (
        "node-socketio-polling",
        "Node socket.io 4.8, long-polling only",
    ),
];

/// Servers of your own, given by address.
pub const EXTERNAL: &[(&str, &str)] = &[
    (
        "sio=http://host:port",
        "your own Socket.IO server (also sio-polling=, sio-upgrade=)",
    ),
    (
        "ws=ws://host:port/ws",
        "your own raw WebSocket server (the protocol of docs/protocol.md)",
    ),
    ("tcp=host:port", "your own length-prefixed TCP server"),
];

pub fn main(a: ListArgs) -> u8 {
    println!("targets:");
    for (name, what) in TARGETS.iter().chain(EXTERNAL) {
        println!("  {name:<26} {what}");
    }
    println!();
    println!("scenarios ({}):", a.scenarios.display());
    match scenario_files(&a.scenarios) {
        Ok(files) if files.is_empty() => println!("  (no .toml files)"),
        Ok(files) => {
            for f in files {
                let overrides = wsbench_scenario::Overrides::default();
                match wsbench_scenario::load(&f, &overrides) {
                    Ok(points) => {
                        let s = &points[0];
                        let first_line = s.description.lines().next().unwrap_or("");
                        println!(
                            "  {:<32} {:<16} {} point(s)  {}",
                            f.display(),
                            s.workload.name(),
                            points.len(),
                            first_line
                        );
                    }
                    Err(e) => println!("  {:<32} INVALID: {e}", f.display()),
                }
            }
        }
        Err(e) => {
            eprintln!("wsbench list: cannot read {}: {e}", a.scenarios.display());
            return exit::USAGE;
        }
    }
    exit::OK
}

fn scenario_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    /// Every built-in target the runner accepts is listed, and nothing else.
    #[test]
    fn lists_exactly_the_built_in_targets() {
        let listed: Vec<&str> = super::TARGETS.iter().map(|(n, _)| *n).collect();
        assert_eq!(listed, wsbench_scenario::BUILTIN_TARGETS);
    }
}
