//! The repository stands on its own: it cites only documents it contains (docs/design.md,
//! never an outside design file), names no package registry's host, and its README states
//! the Rust version the workspace requires.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files git tracks, as paths relative to the repository (`None`: no git here).
fn tracked_files() -> Option<Vec<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo())
        .args(["ls-files", "-z"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).expect("git paths are UTF-8");
    Some(
        text.split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// Tracked text files with each line that contains one of `needles`, skipping `except`.
fn lines_containing(needles: &[&str], except: impl Fn(&str) -> bool) -> Option<Vec<String>> {
    let files = tracked_files()?;
    assert!(files.len() > 50, "git lists too few files: {files:?}");
    let mut hits = Vec::new();
    for f in files.iter().filter(|f| !except(f)) {
        let Ok(text) = std::fs::read_to_string(repo().join(f)) else {
            continue; // binary, or removed in the work tree
        };
        for (n, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle)) {
                hits.push(format!("{f}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    Some(hits)
}

/// Committed runs record their scenario text as it was when they ran: a record, not a citation.
fn recorded_run(path: &str) -> bool {
    path.starts_with("results/")
}

#[test]
fn only_the_projects_own_design_document_is_cited() {
    let this_file = "crates/cli/tests/repository.rs";
    let needles = ["DESIGN.md", "../shared/", "DESIGN §"];
    let Some(hits) = lines_containing(&needles, |f| recorded_run(f) || f == this_file) else {
        println!("skipped: git is not available to list the repository's files");
        return;
    };
    assert!(
        hits.is_empty(),
        "cite docs/design.md, the project's own design document:\n{}",
        hits.join("\n")
    );
    let design = std::fs::read_to_string(repo().join("docs/design.md")).unwrap();
    for section in 1..=7 {
        assert!(
            design.contains(&format!("## §{section} ")),
            "docs/design.md has no section §{section}, which code comments cite"
        );
    }
}

#[test]
fn no_package_registry_host_is_named() {
    let this_file = "crates/cli/tests/repository.rs";
    // Cargo.lock's `source` lines are cargo's own record of where crates come from
    let hosts = [
        "registry.npmjs.org",
        "npmjs.com",
        "registry.yarnpkg.com",
        "pypi.org",
        "pythonhosted.org",
    ];
    let Some(hits) = lines_containing(&hosts, |f| f == "Cargo.lock" || f == this_file) else {
        println!("skipped: git is not available to list the repository's files");
        return;
    };
    assert!(
        hits.is_empty(),
        "say \"the npm registry\" / \"PyPI\" instead of a host:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_readme_states_the_required_rust_version() {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let version = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("the workspace sets rust-version");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("Rust {version} or later")),
        "README.md must say \"Rust {version} or later\" (the workspace's rust-version)"
    );
}
