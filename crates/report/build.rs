//! Records build facts for `meta.json`: the versions of the compared stacks as locked in the
//! workspace's Cargo.lock, and the rustc that built wsbench.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// Crates whose versions a result depends on.
const TRACKED: &[&str] = &[
    "socketioxide",
    "engineioxide",
    "fastwebsockets",
    "tokio-tungstenite",
    "tungstenite",
    "axum",
    "hyper",
    "tokio",
    "hdrhistogram",
    "rusqlite",
    "tokio-postgres",
];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let lock_path = manifest.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    println!("cargo:rerun-if-changed=build.rs");
    let lock = fs::read_to_string(&lock_path).unwrap_or_default();

    let mut found: Vec<(String, String)> = Vec::new();
    let mut name: Option<String> = None;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            name = None;
        } else if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_owned());
        } else if let Some(v) = line.strip_prefix("version = ")
            && let Some(n) = name.take()
            && TRACKED.contains(&n.as_str())
        {
            let v = v.trim_matches('"').to_owned();
            match found.iter_mut().find(|(k, _)| *k == n) {
                Some((_, vs)) => {
                    vs.push_str(", ");
                    vs.push_str(&v);
                }
                None => found.push((n, v)),
            }
        }
    }
    found.sort();

    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();

    let mut out = String::new();
    out.push_str(&format!(
        "pub const RUSTC_VERSION: &str = {rustc_version:?};\n"
    ));
    out.push_str("pub const LOCKED_CRATES: &[(&str, &str)] = &[\n");
    for (n, v) in &found {
        out.push_str(&format!("    ({n:?}, {v:?}),\n"));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var("OUT_DIR").unwrap()).join("build_facts.rs");
    fs::write(dest, out).unwrap();
}
