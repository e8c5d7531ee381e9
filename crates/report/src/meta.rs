//! `meta.json`: what a run's numbers depend on besides the code under test — the machine
//! (CPU, memory, kernel), the versions of the compared stacks, the scenario as run, CPU
//! pinning and notes — so a result directory explains itself.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ReportError;
use crate::atomic_file;

mod build_facts {
    include!(concat!(env!("OUT_DIR"), "/build_facts.rs"));
}

/// Everything recorded about one `wsbench run` besides its measurements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Meta {
    /// Same as `summary.csv`'s `run_id`: ties the files of a run dir together.
    pub run_id: String,
    /// wsbench's own version (results of different versions may not compare).
    pub wsbench_version: String,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// When it ended (None while running or after a crash).
    pub finished_at: Option<String>,
    /// True when the run was interrupted and its rows are partial.
    pub interrupted: bool,
    /// The command line as typed, to rerun it.
    pub command: Vec<String>,
    /// The machine the run was measured on.
    pub machine: Machine,
    /// Versions of the Rust stacks under test, from the workspace Cargo.lock at build time
    /// (several versions of one crate are joined with ", ").
    pub crate_versions: BTreeMap<String, String>,
    /// Versions of the Node reference peers (`ws`, `socket.io`, node itself), when used.
    pub node_packages: Option<BTreeMap<String, String>>,
    /// `git rev-parse HEAD` of the wsbench checkout, when known.
    pub git_commit: Option<String>,
    /// Path of the scenario file as given.
    pub scenario_file: Option<String>,
    /// The scenario text as run (after CLI overrides, if the caller renders them).
    pub scenario_toml: String,
    /// Which CPUs the server and the load generator were pinned to.
    pub cpu_pinning: CpuPinning,
    /// The CPU budget of the servers the run started (`server_cpus`), when it had one.
    pub server_cpu_budget: Option<ServerCpuBudget>,
    /// Free-form remarks (e.g. "pg_stat_statements not preloaded: engine counts from xact_commit").
    pub notes: Vec<String>,
    /// Rows that could not be measured, and why (written as soon as each one fails).
    pub failures: Vec<RowFailureRecord>,
    /// Why the run stopped before its end, when it aborted on an error.
    pub error: Option<String>,
    /// `wsbench capacity`: the SLO and every step of the search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::capacity::CapacitySearch>,
}

/// A row that could not be measured, as `meta.json` records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RowFailureRecord {
    /// `scenario sweep rN target[ variant]`, as the terminal showed it.
    pub row: String,
    /// Why it was not measured.
    pub message: String,
}

/// The measuring machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Machine {
    pub hostname: String,
    /// `PRETTY_NAME` from /etc/os-release.
    pub os: String,
    /// Kernel release (/proc/sys/kernel/osrelease).
    pub kernel: String,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Logical CPUs online on the machine (sysconf `_SC_NPROCESSORS_ONLN`), whatever this
    /// process's affinity (runs before this was fixed recorded the CPUs they were allowed).
    pub cpu_count: usize,
    /// `MemTotal` from /proc/meminfo.
    pub memory_total_kb: Option<u64>,
    /// The compiler that built wsbench (`rustc --version` at build time).
    pub rustc: String,
}

/// A CFS quota on each server's cgroup: `quota_us` of CPU time every `period_us`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerCpuBudget {
    /// The budget in CPUs, as given (`server_cpus` / `--server-cpus`).
    pub server_cpus: f64,
    /// CFS period, µs (short, so running out of quota costs ms, not tens of ms).
    pub period_us: u64,
    /// CFS quota per period, µs (`server_cpus` × `period_us`).
    pub quota_us: u64,
    /// Which interface applied it: `cgroup v1 cpu` or `cgroup v2`.
    pub controller: String,
}

/// CPU affinity of the two sides (cpu lists as given to the run, e.g. "0" and "1-3").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuPinning {
    pub server: Option<String>,
    pub loadgen: Option<String>,
}

impl Meta {
    /// A Meta for a run starting now: machine facts, versions and start time filled in.
    pub fn new(run_id: &str, scenario_toml: &str) -> Meta {
        Meta {
            run_id: run_id.to_owned(),
            wsbench_version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: rfc3339_utc(SystemTime::now()),
            command: std::env::args().collect(),
            machine: collect_machine(),
            crate_versions: locked_crate_versions(),
            scenario_toml: scenario_toml.to_owned(),
            ..Meta::default()
        }
    }

    /// Pretty-printed JSON, newline-terminated.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("Meta serialises");
        v.push(b'\n');
        v
    }

    /// Parses `meta.json`; unknown keys are ignored, missing ones defaulted.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<Meta, ReportError> {
        serde_json::from_slice(bytes).map_err(|source| ReportError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes `meta.json` atomically.
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        atomic_file::write_atomic(path, &self.to_json())
    }

    /// Reads `meta.json`.
    pub fn read(path: &Path) -> Result<Meta, ReportError> {
        let bytes = fs::read(path).map_err(|source| ReportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Meta::from_json(&bytes, path)
    }
}

/// Logical CPUs online on the machine. Unlike `available_parallelism`, this does not shrink
/// when the run pins its own threads to a subset of them.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf reads a system constant; it takes no pointers.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    match usize::try_from(n) {
        Ok(n) if n > 0 => n,
        _ => std::thread::available_parallelism().map_or(0, |n| n.get()),
    }
}

/// Reads the machine facts from /proc and /etc (empty strings where unavailable).
pub fn collect_machine() -> Machine {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            matches!(k.trim(), "model name" | "Model" | "cpu model").then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    let memory_total_kb = read("/proc/meminfo").lines().find_map(|l| {
        l.strip_prefix("MemTotal:")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    });
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| {
            l.strip_prefix("PRETTY_NAME=")
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default();
    let mut kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    if kernel.is_empty() {
        kernel = command_line("uname", &["-r"]).unwrap_or_default();
    }
    let mut hostname = read("/proc/sys/kernel/hostname").trim().to_owned();
    if hostname.is_empty() {
        hostname = read("/etc/hostname").trim().to_owned();
    }
    Machine {
        hostname,
        os,
        kernel,
        cpu_model,
        cpu_count: online_cpus(),
        memory_total_kb,
        rustc: build_facts::RUSTC_VERSION.to_owned(),
    }
}

/// Versions of the compared stacks as locked when wsbench was built.
pub fn locked_crate_versions() -> BTreeMap<String, String> {
    build_facts::LOCKED_CRATES
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `git rev-parse HEAD` in `dir` (None outside a checkout or without git).
pub fn git_commit(dir: &Path) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Formats a time as RFC 3339 UTC with seconds (`2026-11-23T10:04:05Z`).
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant), valid for every date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn machine_facts_come_from_proc() {
        let m = collect_machine();
        assert!(m.cpu_count >= 1);
        assert!(!m.kernel.is_empty());
        assert!(m.memory_total_kb.unwrap_or(0) > 0);
        assert!(m.rustc.starts_with("rustc "), "{}", m.rustc);
    }

    #[test]
    fn cpu_count_does_not_change_when_the_thread_is_pinned() {
        let before = collect_machine().cpu_count;
        assert_eq!(before, online_cpus());
        // pin this test's thread to one CPU, as the runner pins the load generator's
        // SAFETY: cpu_set_t is plain data; CPU_SET with index 0 < CPU_SETSIZE.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(0, &mut one) };
        // SAFETY: pid 0 = the calling thread; the set and its size match.
        let pinned =
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) };
        assert_eq!(pinned, 0, "{}", std::io::Error::last_os_error());
        assert_eq!(
            std::thread::available_parallelism().unwrap().get(),
            1,
            "the thread is pinned to one CPU"
        );
        assert_eq!(collect_machine().cpu_count, before);
    }

    #[test]
    fn failures_and_the_fatal_error_round_trip() {
        let mut m = Meta::new("r", "");
        m.failures.push(RowFailureRecord {
            row: "echo  r1 tcp".into(),
            message: "connection refused".into(),
        });
        m.error = Some("cannot write summary.csv".into());
        let back = Meta::from_json(&m.to_json(), Path::new("meta.json")).unwrap();
        assert_eq!(back, m);
        let text = String::from_utf8(m.to_json()).unwrap();
        assert!(
            text.contains("\"failures\"") && text.contains("connection refused"),
            "{text}"
        );
    }

    #[test]
    fn crate_versions_come_from_the_lock_file() {
        let v = locked_crate_versions();
        for name in [
            "socketioxide",
            "fastwebsockets",
            "tokio-tungstenite",
            "axum",
        ] {
            assert!(
                v.get(name).is_some_and(|s| s.starts_with("0.")),
                "{name}: {v:?}"
            );
        }
    }

    #[test]
    fn json_round_trip_and_tolerance() {
        let mut m = Meta::new("r1", "name = \"echo\"\n");
        m.node_packages = Some(BTreeMap::from([("socket.io".into(), "4.8.1".into())]));
        m.cpu_pinning.server = Some("0".into());
        m.notes.push("quick".into());
        let p = Path::new("meta.json");
        assert_eq!(Meta::from_json(&m.to_json(), p).unwrap(), m);
        let old = br#"{"run_id":"x","future_field":[1,2]}"#;
        assert_eq!(Meta::from_json(old, p).unwrap().run_id, "x");
        let e = Meta::from_json(b"{", p).unwrap_err().to_string();
        assert!(e.contains("meta.json"), "{e}");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // leap day 2024
        assert_eq!(rfc3339_utc(t), "2024-02-29T12:34:56Z");
    }
}
