//! The Node reference peers (`scripts/peers/node`, docs/design.md §2): finding `node` and the
//! peers' folder, installing the locked packages on first use (`npm ci`), and the
//! [`ServerCommand`] that starts each server, so the runner supervises it like its own
//! servers (same ready line, SIGTERM, /proc figures, pinning).
//!
//! The folder is, in order: `$WSBENCH_PEERS_DIR`; `scripts/peers/node` under the current
//! directory; the copy this crate was built from. The packages are (re)installed when
//! `node_modules` is missing or older than `package-lock.json` (the rule
//! `run-conformance.sh` uses too); concurrent installers (parallel test processes) are
//! serialised with an advisory lock on `package-lock.json`, and whoever gets it second sees
//! fresh packages and does nothing.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

pub use wsbench_scenario::NodePeer;

use crate::supervise::ServerCommand;

/// Environment variable naming the peers' folder.
pub const PEERS_DIR_ENV: &str = "WSBENCH_PEERS_DIR";
/// The folder relative to the repository root (tried under the current directory).
pub const PEERS_DIR_RELATIVE: &str = "scripts/peers/node";
/// The folder of the source tree this crate was built from.
const PEERS_DIR_BUILT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/peers/node");
/// `npm ci` gets this long (it may download from the registry).
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(600);
/// Lines of `npm ci`'s error output kept for an error message.
const NPM_TAIL_LINES: usize = 15;

/// Why a Node peer cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("node not found on PATH: node-* targets skipped")]
    NodeNotFound,
    #[error(
        "npm not found on PATH: cannot install the Node peers' packages (run `npm ci` in {dir})"
    )]
    NpmNotFound { dir: PathBuf },
    #[error("no Node peers folder (tried {tried}); set {PEERS_DIR_ENV} to scripts/peers/node")]
    NoPeersDir { tried: String },
    #[error("`npm ci` in {dir} failed ({status}); its output ends with:\n{tail}")]
    NpmCiFailed {
        dir: PathBuf,
        status: String,
        tail: String,
    },
    #[error("`npm ci` in {dir}: {source}")]
    NpmCiIo { dir: PathBuf, source: io::Error },
}

/// `program` on `PATH`, if it is there.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `dir` holds the peers (both scripts and the lockfile).
fn is_peers_dir(dir: &Path) -> bool {
    ["package-lock.json", "ws-server.js", "socketio-server.js"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

/// The peers' folder (see the module doc for the order). A `WSBENCH_PEERS_DIR` that does
/// not hold the peers is an error, not a reason to look elsewhere.
pub fn peers_dir() -> Result<PathBuf, PeerError> {
    if let Some(dir) = std::env::var_os(PEERS_DIR_ENV) {
        let dir = PathBuf::from(dir);
        return match is_peers_dir(&dir) {
            true => Ok(dir),
            false => Err(PeerError::NoPeersDir {
                tried: format!("{PEERS_DIR_ENV}={}", dir.display()),
            }),
        };
    }
    let candidates = [
        PathBuf::from(PEERS_DIR_RELATIVE),
        PathBuf::from(PEERS_DIR_BUILT),
    ];
    candidates
        .iter()
        .find(|d| is_peers_dir(d))
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .ok_or_else(|| PeerError::NoPeersDir {
            tried: candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Why `dir` needs `npm ci`, if it does: `node_modules` missing or older than the lockfile.
pub fn install_reason(dir: &Path) -> Option<&'static str> {
    let Some(modules) = modified(&dir.join("node_modules")) else {
        return Some("node_modules is missing");
    };
    match modified(&dir.join("package-lock.json")) {
        Some(lock) if lock > modules => Some("node_modules is older than package-lock.json"),
        _ => None,
    }
}

/// Runs `npm ci` in `dir` if [`install_reason`] says so, telling `say` first. Returns whether
/// it installed.
pub async fn ensure_installed(dir: &Path, say: impl Fn(&str)) -> Result<bool, PeerError> {
    if install_reason(dir).is_none() {
        return Ok(false);
    }
    let io_err = |source| PeerError::NpmCiIo {
        dir: dir.to_owned(),
        source,
    };
    let npm = find_on_path("npm").ok_or_else(|| PeerError::NpmNotFound {
        dir: dir.to_owned(),
    })?;
    // one installer at a time; the lock goes with the file handle
    let lock_path = dir.join("package-lock.json");
    let _lock = tokio::task::spawn_blocking(move || -> io::Result<std::fs::File> {
        let f = std::fs::File::open(&lock_path)?;
        // SAFETY: flock on a descriptor we own, which outlives the call.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(f)
    })
    .await
    .map_err(io::Error::other)
    .and_then(|r| r)
    .map_err(io_err)?;
    let Some(reason) = install_reason(dir) else {
        return Ok(false); // another process installed while we waited
    };
    say(&format!(
        "installing the Node peers' locked packages: `npm ci` in {} ({reason})",
        dir.display()
    ));
    let child = tokio::process::Command::new(&npm)
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io_err)?;
    let out = match tokio::time::timeout(NPM_CI_TIMEOUT, child.wait_with_output()).await {
        Ok(r) => r.map_err(io_err)?,
        Err(_) => {
            return Err(PeerError::NpmCiFailed {
                dir: dir.to_owned(),
                status: format!("no exit within {NPM_CI_TIMEOUT:?}, killed"),
                tail: String::new(),
            });
        }
    };
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(PeerError::NpmCiFailed {
            dir: dir.to_owned(),
            status: out.status.to_string(),
            tail: error_excerpt(&text),
        });
    }
    // npm may leave node_modules' own mtime untouched: mark it fresh (as run-conformance.sh)
    std::fs::File::open(dir.join("node_modules"))
        .and_then(|d| d.set_modified(SystemTime::now()))
        .map_err(io_err)?;
    Ok(true)
}

/// What to show of npm's output: its error lines (not warnings, not blank), the first
/// [`NPM_TAIL_LINES`] and the last (npm closes with the path of its full log) — npm follows
/// the reason with pages of usage text, so a plain tail would show only that.
fn error_excerpt(output: &str) -> String {
    let errors: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.to_ascii_lowercase().starts_with("npm warn"))
        .filter(|l| {
            let body = l
                .strip_prefix("npm error")
                .or_else(|| l.strip_prefix("npm ERR!"));
            !body.unwrap_or(l).trim().is_empty()
        })
        .collect();
    match errors.len() {
        n if n <= NPM_TAIL_LINES + 1 => errors.join("\n"),
        n => format!(
            "{}\n…\n{}",
            errors[..NPM_TAIL_LINES].join("\n"),
            errors[n - 1]
        ),
    }
}

/// `node` and the peers' folder, packages installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePeers {
    pub node: PathBuf,
    pub dir: PathBuf,
}

impl NodePeers {
    /// Finds `node` and the folder and installs the packages if needed.
    pub async fn prepare(say: impl Fn(&str)) -> Result<NodePeers, PeerError> {
        let node = find_on_path("node").ok_or(PeerError::NodeNotFound)?;
        let dir = peers_dir()?;
        ensure_installed(&dir, say).await?;
        Ok(NodePeers { node, dir })
    }

    /// `node <dir>/<script> --bind 127.0.0.1:0 <args…>`, run in the peers' folder.
    pub fn command(&self, server: NodePeer, args: &[String]) -> ServerCommand {
        let mut all = vec![
            self.dir.join(server.script()).display().to_string(),
            "--bind".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        all.extend(args.iter().cloned());
        ServerCommand {
            program: self.node.clone(),
            args: all,
            cwd: Some(self.dir.clone()),
        }
    }
}

/// The `wsbench serve` arguments a Node peer understands (`--database`,
/// `--max-message-bytes`, `--adapter`, `--adapter-prefix`, `--jwt-secret`, `--cors-origin`,
/// `--rate-limit`), passed through; fault injection, which the peers do not have,
/// and any other flag are refused, naming the flag.
pub fn node_args(target: &str, serve_args: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut it = serve_args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        if flag == "--connection-state-recovery" && inline.is_none() {
            // node-socketio only: socket.io's connectionStateRecovery (a `[restart]` row)
            out.push(flag.to_owned());
            continue;
        }
        if flag.starts_with("--fault") {
            return Err(format!(
                "target {target}: the Node peers have no fault injection, and this run asks for \
                 {flag}: run the faults against the Rust targets only"
            ));
        }
        if !matches!(
            flag,
            "--database"
                | "--max-message-bytes"
                | "--adapter"
                | "--adapter-prefix"
                | "--jwt-secret"
                | "--cors-origin"
                | "--rate-limit"
        ) {
            return Err(format!(
                "target {target}: the Node peers do not take the server option {flag}"
            ));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("target {target}: {flag} needs a value"))?,
        };
        out.extend([flag.to_owned(), value]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn serve_args_pass_through_or_are_refused_by_name() {
        assert_eq!(
            node_args("node-ws", &args(&["--database", "postgres://u@h/db"])).unwrap(),
            args(&["--database", "postgres://u@h/db"])
        );
        assert_eq!(
            node_args("node-ws", &args(&["--max-message-bytes=4096"])).unwrap(),
            args(&["--max-message-bytes", "4096"])
        );
        let e = node_args("node-socketio", &args(&["--fault-delay-ms", "20"])).unwrap_err();
        assert!(
            e.contains("node-socketio") && e.contains("no fault injection"),
            "{e}"
        );
        let e = node_args("node-ws", &args(&["--slow-consumer", "drop"])).unwrap_err();
        assert!(e.contains("--slow-consumer"), "{e}");
        assert!(node_args("node-ws", &args(&["--database"])).is_err());
    }

    #[test]
    fn install_is_needed_when_modules_are_missing_or_stale() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package-lock.json"), "{}").unwrap();
        assert_eq!(install_reason(dir.path()), Some("node_modules is missing"));
        let modules = dir.path().join("node_modules");
        std::fs::create_dir(&modules).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::open(&modules)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(
            install_reason(dir.path()),
            Some("node_modules is older than package-lock.json")
        );
        std::fs::File::open(&modules)
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(1))
            .unwrap();
        assert_eq!(install_reason(dir.path()), None);
    }

    #[test]
    fn npm_errors_are_excerpted_from_the_usage_noise() {
        let mut out =
            String::from("npm warn Unknown user config\nnpm error code EUSAGE\nnpm error\n");
        out.push_str("npm error `npm ci` can only install packages when … in sync.\n");
        for i in 0..40 {
            out.push_str(&format!("npm error Missing: p{i}@1.0.0 from lock file\n"));
        }
        out.push_str("npm error A complete log of this run can be found in: /x.log\n");
        let e = error_excerpt(&out);
        assert!(
            e.starts_with("npm error code EUSAGE\nnpm error `npm ci` can only"),
            "{e}"
        );
        assert!(
            e.ends_with("…\nnpm error A complete log of this run can be found in: /x.log"),
            "{e}"
        );
        assert_eq!(e.lines().count(), NPM_TAIL_LINES + 2, "{e}");
        assert!(!e.contains("warn"));
    }

    #[test]
    fn the_built_in_folder_holds_the_peers() {
        assert!(is_peers_dir(Path::new(PEERS_DIR_BUILT)));
        let peers = NodePeers {
            node: PathBuf::from("/usr/bin/node"),
            dir: PathBuf::from("/p"),
        };
        let cmd = peers.command(NodePeer::SocketIo, &args(&["--database", "sqlite"]));
        assert_eq!(
            cmd.display(),
            "/usr/bin/node /p/socketio-server.js --bind 127.0.0.1:0 --database sqlite"
        );
        assert_eq!(cmd.cwd.as_deref(), Some(Path::new("/p")));
    }
}

/// Packages whose versions `meta.json` records for a run with Node targets.
const RECORDED_PACKAGES: [&str; 5] = ["ws", "socket.io", "engine.io", "sql.js", "pg"];

/// The versions a run with Node targets used: `node` itself and the locked packages of
/// `dir`'s package-lock.json. What cannot be read is left out, not guessed.
pub fn node_versions(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(node) = find_on_path("node")
        && let Ok(o) = std::process::Command::new(node).arg("--version").output()
        && o.status.success()
    {
        out.insert(
            "node".to_owned(),
            String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    }
    let lock = std::fs::read(dir.join("package-lock.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    if let Some(lock) = lock {
        for name in RECORDED_PACKAGES {
            let key = format!("node_modules/{name}");
            if let Some(v) = lock["packages"][key.as_str()]["version"].as_str() {
                out.insert(name.to_owned(), v.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn reads_the_locked_peer_versions() {
        let dir = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/peers/node"
        ));
        let v = super::node_versions(dir);
        assert!(v["socket.io"].starts_with("4.8."), "{v:?}");
        assert!(v["ws"].starts_with("8."), "{v:?}");
    }
}
