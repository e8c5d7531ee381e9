//! `wsbench list`: the built-in targets (from the scenario crate's target table) and the
//! scenario files with their workloads.
//!
//! The scenarios come from `--scenarios DIR` if given, else from `./scenarios`, else from
//! the `scenarios/` folder of the source tree this binary was built from, so `list` works
//! outside the repository too. Where no folder with scenario files is found, the targets are
//! still printed, then an error naming every folder tried, and the exit code is 2 (usage:
//! the input cannot be found).

use std::path::{Path, PathBuf};

use wsbench_scenario::target::{EXTERNAL_FORMS, TARGETS};

use crate::args::ListArgs;
use crate::exit;

/// The scenarios folder relative to the current directory.
const SCENARIOS_RELATIVE: &str = "scenarios";
/// The scenarios folder of the source tree this binary was built from.
const SCENARIOS_BUILT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");

pub fn main(a: ListArgs) -> u8 {
    print!("{}", targets_text());
    println!();
    let tried = candidates(a.scenarios.as_deref());
    let Some(dir) = tried.iter().find(|d| has_scenarios(d)) else {
        let names: Vec<String> = tried.iter().map(|d| d.display().to_string()).collect();
        eprintln!(
            "wsbench list: no scenario files found (tried {}); run it in the repository or \
             pass --scenarios DIR",
            names.join(", ")
        );
        return exit::USAGE;
    };
    println!("scenarios ({}):", dir.display());
    let files = match scenario_files(dir) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("wsbench list: cannot read {}: {e}", dir.display());
            return exit::USAGE;
        }
    };
    for f in files {
        let overrides = wsbench_scenario::Overrides::default();
        match wsbench_scenario::load(&f, &overrides) {
            Ok(points) => {
                let s = &points[0];
                let first_line = s.description.lines().next().unwrap_or("");
                println!(
                    "  {:<24} {:<16} {} point(s)  {}",
                    file_name(&f),
                    s.workload.name(),
                    points.len(),
                    first_line
                );
            }
            Err(e) => println!("  {:<24} INVALID: {e}", file_name(&f)),
        }
    }
    exit::OK
}

/// A scenario file's name (its folder heads the list).
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The `targets:` section: every row of the target table, then the external forms.
fn targets_text() -> String {
    let mut out = String::from("targets:\n");
    let rows = TARGETS.iter().map(|t| (t.name, t.description));
    for (name, what) in rows.chain(EXTERNAL_FORMS.iter().copied()) {
        out.push_str(&format!("  {name:<26} {what}\n"));
    }
    out
}

/// The folders to look in, in order: the one given, or `./scenarios` then the built tree's.
fn candidates(given: Option<&Path>) -> Vec<PathBuf> {
    match given {
        Some(dir) => vec![dir.to_owned()],
        None => {
            let built = Path::new(SCENARIOS_BUILT);
            let built = std::fs::canonicalize(built).unwrap_or_else(|_| built.to_owned());
            vec![PathBuf::from(SCENARIOS_RELATIVE), built]
        }
    }
}

/// Whether `dir` is a folder holding at least one `.toml` file.
fn has_scenarios(dir: &Path) -> bool {
    scenario_files(dir).is_ok_and(|f| !f.is_empty())
}

fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in target of the table is listed, in table order, with its description.
    #[test]
    fn lists_every_built_in_target() {
        let text = targets_text();
        let listed: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap())
            .take(TARGETS.len())
            .collect();
        assert_eq!(listed, wsbench_scenario::BUILTIN_TARGETS);
        for t in TARGETS {
            assert!(text.contains(t.description), "{}", t.name);
        }
        assert!(text.contains("sio=http://host:port"));
    }

    #[test]
    fn looks_in_the_given_folder_only_else_here_then_the_built_tree() {
        assert_eq!(candidates(Some(Path::new("/x"))), vec![PathBuf::from("/x")]);
        let c = candidates(None);
        assert_eq!(c[0], PathBuf::from("scenarios"));
        assert!(has_scenarios(&c[1]), "{}", c[1].display());
        let empty = tempfile::tempdir().unwrap();
        assert!(!has_scenarios(empty.path()));
        assert!(!has_scenarios(&empty.path().join("missing")));
    }
}
