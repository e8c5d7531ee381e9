//! The import rules of docs/architecture.md, checked on the sources: which of our crates each
//! crate may depend on, that the load generator's workloads never name the runner, and that
//! no built-in target name is listed outside the target table.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `wsbench-*` crates named in a manifest's `[dependencies]` (not dev-dependencies).
fn our_dependencies(krate: &str) -> Vec<String> {
    let path = repo().join("crates").join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut section = String::new();
    let mut deps = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section == "[dependencies]"
            && let Some(name) = line.strip_prefix("wsbench-")
        {
            let name = name.split(['.', ' ', '=']).next().unwrap_or_default();
            deps.push(name.to_owned());
        }
    }
    deps.sort();
    deps
}

#[test]
fn each_crate_imports_only_what_its_rule_allows() {
    let rules: [(&str, &[&str]); 6] = [
        ("scenario", &[]),
        ("wire", &[]),
        ("servers", &["scenario", "wire"]),
        ("report", &["scenario"]),
        ("loadgen", &["report", "scenario", "wire"]),
        ("cli", &["loadgen", "report", "scenario", "servers", "wire"]),
    ];
    for (krate, allowed) in rules {
        let deps = our_dependencies(krate);
        for d in &deps {
            assert!(
                allowed.contains(&d.as_str()),
                "crate {krate} depends on wsbench-{d}, which docs/architecture.md does not allow \
                 (allowed: {allowed:?})"
            );
        }
    }
    // the manifest reader itself must see real dependencies, or the check above proves nothing
    assert_eq!(
        our_dependencies("cli"),
        ["loadgen", "report", "scenario", "servers", "wire"]
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn workloads_never_import_the_runner() {
    let mut files = Vec::new();
    rust_files(&repo().join("crates/loadgen/src/workload"), &mut files);
    files.push(repo().join("crates/loadgen/src/row.rs"));
    assert!(files.len() > 5, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            assert!(
                !code.contains("crate::runner") && !code.contains("super::runner"),
                "{}:{}: the workload drivers take their context from crate::row, never the \
                 runner: {line}",
                f.display(),
                n + 1
            );
        }
    }
}

#[test]
fn built_in_target_names_are_listed_only_in_the_target_table() {
    let table = repo().join("crates/scenario/src/target/table.rs");
    let mut files = Vec::new();
    for krate in ["scenario", "wire", "servers", "report", "loadgen", "cli"] {
        rust_files(&repo().join("crates").join(krate).join("src"), &mut files);
    }
    let mut listed = Vec::new();
    for f in files.iter().filter(|f| **f != table) {
        let text = std::fs::read_to_string(f).unwrap();
        // unit tests may name targets; the list lives in code above them
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            // a list of targets names two of them as string literals on one line, or the
            // one name only a list would need: the fast raw stack
            if line.contains("\"ws-fastwebsockets\"") || line.contains("\"node-socketio-polling\"")
            {
                listed.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        listed.is_empty(),
        "built-in target names outside crates/scenario/src/target/table.rs:\n{}",
        listed.join("\n")
    );
}
