//! Server CPU budgets (`server_cpus`, `--server-cpus`): a cgroup of its own for each server
//! child, with a CFS quota of that many CPUs, and its throttling counters.
//!
//! Where /sys/fs/cgroup is a cgroup v2 mount whose root offers the `cpu` controller, the
//! cgroup is made there and the quota written to `cpu.max`; else the cgroup v1 `cpu`
//! controller (/sys/fs/cgroup/cpu) is used (`cpu.cfs_period_us`, `cpu.cfs_quota_us`). Either
//! way `cpu.stat` says how often and how long the server was throttled.
//!
//! The period is short ([`DEFAULT_PERIOD_US`], 10 ms) so a server that runs out of its quota
//! waits at most a few ms: with the kernel's 100 ms default a 0.5 CPU budget stalls the
//! server for up to 50 ms per period, and the p99 measures the quota, not the server.
//!
//! Nothing here runs unthrottled silently: a controller that is missing or cannot be written
//! is an error naming the path and how to fix it ([`CgroupError`]); the runner checks this
//! before any socket opens. The cgroup is removed once its server has exited and been
//! reaped (nothing else is ever moved in or out).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The CFS period of a budget, µs: short, so running out of quota costs ms, not tens of ms.
pub const DEFAULT_PERIOD_US: u64 = 10_000;
/// The kernel's smallest quota (and period), µs.
const MIN_QUOTA_US: u64 = 1_000;
/// The kernel's largest period, µs.
const MAX_PERIOD_US: u64 = 1_000_000;
/// Where the cgroup file systems are mounted.
pub const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// How to get write access, for every permission error.
const FIX: &str = "a server CPU budget (server_cpus / --server-cpus) needs a writable cgroup \
                   cpu controller: run as root, or give this user a delegated cgroup (v2) or \
                   write access to /sys/fs/cgroup/cpu (v1); or run without a budget";

/// Why a budget cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no cgroup cpu controller under {}: neither a cgroup v2 mount offering `cpu` nor \
         the v1 `cpu` controller at {}/cpu ({FIX})",
        base.display(), base.display()
    )]
    NoController { base: PathBuf },
    #[error("cannot {action} {}: {source} ({FIX})", path.display())]
    Access {
        /// What was tried (`create`, `write`, `read`, `remove`).
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn access(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
    let path = path.to_owned();
    move |source| CgroupError::Access {
        action,
        path,
        source,
    }
}

/// A budget as the kernel takes it: `quota_us` of CPU time per `period_us`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuQuota {
    /// The budget in CPUs, as given.
    pub cpus: f64,
    pub period_us: u64,
    pub quota_us: u64,
}

impl CpuQuota {
    /// `cpus` CPUs over a [`DEFAULT_PERIOD_US`] period, or a longer one when the quota
    /// would fall under the kernel's 1 ms minimum (below 0.1 CPU).
    pub fn for_cpus(cpus: f64) -> CpuQuota {
        let cpus = cpus.max(f64::MIN_POSITIVE);
        let needed = (MIN_QUOTA_US as f64 / cpus).ceil() as u64;
        let period_us = needed.clamp(DEFAULT_PERIOD_US, MAX_PERIOD_US);
        let quota_us = ((cpus * period_us as f64).round() as u64).max(MIN_QUOTA_US);
        CpuQuota {
            cpus,
            period_us,
            quota_us,
        }
    }
}

/// Which cgroup interface a [`CgroupRoot`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// cgroup v1 `cpu` controller.
    V1,
    /// cgroup v2 (unified) with the `cpu` controller.
    V2,
}

impl Controller {
    /// As meta.json records it.
    pub fn name(self) -> &'static str {
        match self {
            Controller::V1 => "cgroup v1 cpu",
            Controller::V2 => "cgroup v2",
        }
    }
}

/// A directory server cgroups are made in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRoot {
    pub controller: Controller,
    pub dir: PathBuf,
}

/// Tells the cgroups of one process apart.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl CgroupRoot {
    /// The machine's controller under [`CGROUP_MOUNT`].
    pub fn detect() -> Result<CgroupRoot, CgroupError> {
        Self::detect_in(Path::new(CGROUP_MOUNT))
    }

    /// The machine's controller, if a cgroup with `quota` can be made there now (what a run
    /// with a budget checks before any socket opens).
    pub fn probe(quota: CpuQuota) -> Result<CgroupRoot, CgroupError> {
        let root = Self::detect()?;
        root.check(quota)?;
        Ok(root)
    }

    /// The controller under `base`: v2 if `base` is a unified mount offering `cpu`, else the
    /// v1 `cpu` controller at `base/cpu` (or `base/cpu,cpuacct`).
    pub fn detect_in(base: &Path) -> Result<CgroupRoot, CgroupError> {
        let controllers = std::fs::read_to_string(base.join("cgroup.controllers"));
        if let Ok(list) = controllers
            && list.split_whitespace().any(|c| c == "cpu")
        {
            return Ok(CgroupRoot {
                controller: Controller::V2,
                dir: base.to_owned(),
            });
        }
        ["cpu", "cpu,cpuacct"]
            .iter()
            .map(|d| base.join(d))
            .find(|d| d.join("cpu.cfs_quota_us").exists())
            .map(|dir| CgroupRoot {
                controller: Controller::V1,
                dir,
            })
            .ok_or_else(|| CgroupError::NoController {
                base: base.to_owned(),
            })
    }

    /// Makes a new, empty cgroup with `quota` (v2: enables `cpu` for the root's children
    /// first, if it is not).
    pub fn create(&self, quota: CpuQuota) -> Result<ServerCgroup, CgroupError> {
        if self.controller == Controller::V2 {
            let control = self.dir.join("cgroup.subtree_control");
            let enabled = std::fs::read_to_string(&control).map_err(access("read", &control))?;
            if !enabled.split_whitespace().any(|c| c == "cpu") {
                std::fs::write(&control, "+cpu").map_err(access("write", &control))?;
            }
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let dir = self
            .dir
            .join(format!("wsbench-{}-{id}", std::process::id()));
        std::fs::create_dir(&dir).map_err(access("create", &dir))?;
        let cgroup = ServerCgroup {
            procs: CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
                .expect("cgroup paths have no NUL"),
            dir,
            controller: self.controller,
            quota,
        };
        // on error `cgroup` is dropped, which removes the directory
        let write = |file: &str, value: String| {
            let path = cgroup.dir.join(file);
            std::fs::write(&path, value).map_err(access("write", &path))
        };
        match self.controller {
            Controller::V1 => {
                write("cpu.cfs_period_us", quota.period_us.to_string())?;
                write("cpu.cfs_quota_us", quota.quota_us.to_string())?;
            }
            Controller::V2 => write("cpu.max", format!("{} {}", quota.quota_us, quota.period_us))?,
        }
        Ok(cgroup)
    }

    /// Makes and removes a cgroup with `quota`: whether budgets can be applied at all.
    pub fn check(&self, quota: CpuQuota) -> Result<(), CgroupError> {
        self.create(quota)?.remove()
    }
}

/// How often and how long a cgroup was throttled, since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttling {
    /// Periods in which the cgroup ran out of quota.
    pub nr_throttled: u64,
    /// Time its tasks waited for the next period, ns.
    pub throttled_ns: u64,
}

/// One server's cgroup. Removed by [`ServerCgroup::remove`] once its server is reaped;
/// dropping it removes it too (waiting briefly, off the caller's thread, for a server that
/// is still dying).
#[derive(Debug)]
pub struct ServerCgroup {
    dir: PathBuf,
    /// `cgroup.procs`, ready for a forked child that may not allocate.
    procs: CString,
    controller: Controller,
    quota: CpuQuota,
}

impl ServerCgroup {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn quota(&self) -> CpuQuota {
        self.quota
    }

    /// Moves process `pid` (all its threads) in.
    pub fn add(&self, pid: u32) -> Result<(), CgroupError> {
        let path = self.dir.join("cgroup.procs");
        std::fs::write(&path, pid.to_string()).map_err(access("write", &path))
    }

    /// The path a forked child writes to join ([`join_from_forked_child`]).
    pub(crate) fn procs_path(&self) -> &std::ffi::CStr {
        &self.procs
    }

    /// The cgroup's throttling counters (`cpu.stat`; v2's µs read as ns).
    pub fn throttling(&self) -> io::Result<Throttling> {
        let stat = std::fs::read_to_string(self.dir.join("cpu.stat"))?;
        parse_cpu_stat(&stat, self.controller).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no throttling counters in {}/cpu.stat", self.dir.display()),
            )
        })
    }

    /// Removes the (empty) cgroup.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        let dir = std::mem::take(&mut self.dir);
        std::fs::remove_dir(&dir).map_err(access("remove", &dir))
    }
}

impl Drop for ServerCgroup {
    fn drop(&mut self) {
        if self.dir.as_os_str().is_empty() || std::fs::remove_dir(&self.dir).is_ok() {
            return;
        }
        // its server was SIGKILLed but is not gone yet: retry for a while, off this thread
        let dir = std::mem::take(&mut self.dir);
        std::thread::spawn(move || {
            for _ in 0..200 {
                std::thread::sleep(std::time::Duration::from_millis(10));
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    return;
                }
            }
        });
    }
}

/// Joins the calling process to the cgroup whose `cgroup.procs` is `procs` (writes `0`:
/// "the writer"). Only async-signal-safe calls on memory prepared before fork, so a forked
/// child may call it before exec.
pub(crate) fn join_from_forked_child(procs: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path and a static buffer.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(err);
        }
    }
    Ok(())
}

/// v1: `nr_throttled N`, `throttled_time NS`; v2: `nr_throttled N`, `throttled_usec US`.
fn parse_cpu_stat(stat: &str, controller: Controller) -> Option<Throttling> {
    let field = |name: &str| {
        stat.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse::<u64>().ok())?
        })
    };
    let throttled_ns = match controller {
        Controller::V1 => field("throttled_time")?,
        Controller::V2 => field("throttled_usec")?.saturating_mul(1_000),
    };
    Some(Throttling {
        nr_throttled: field("nr_throttled")?,
        throttled_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_a_quota_of_a_short_period() {
        let q = CpuQuota::for_cpus(0.5);
        assert_eq!((q.period_us, q.quota_us), (10_000, 5_000));
        let q = CpuQuota::for_cpus(1.5);
        assert_eq!((q.period_us, q.quota_us), (10_000, 15_000));
        // under 0.1 CPU the period grows so the quota stays >= the kernel's 1 ms
        let q = CpuQuota::for_cpus(0.05);
        assert_eq!((q.period_us, q.quota_us), (20_000, 1_000));
    }

    #[test]
    fn cpu_stat_of_either_version_reads_as_ns() {
        let v1 = "nr_periods 10\nnr_throttled 4\nthrottled_time 123456\nnr_bursts 0\n";
        assert_eq!(
            parse_cpu_stat(v1, Controller::V1),
            Some(Throttling {
                nr_throttled: 4,
                throttled_ns: 123_456
            })
        );
        let v2 = "usage_usec 9\nnr_periods 10\nnr_throttled 2\nthrottled_usec 7\n";
        assert_eq!(
            parse_cpu_stat(v2, Controller::V2),
            Some(Throttling {
                nr_throttled: 2,
                throttled_ns: 7_000
            })
        );
        assert_eq!(parse_cpu_stat("usage_usec 9\n", Controller::V2), None);
    }

    #[test]
    fn no_controller_and_no_access_name_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = CgroupRoot::detect_in(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&dir.path().display().to_string()) && err.contains("run as root"),
            "{err}"
        );
        let missing = dir.path().join("gone");
        let root = CgroupRoot {
            controller: Controller::V1,
            dir: missing.clone(),
        };
        let err = root.check(CpuQuota::for_cpus(0.5)).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot create {}/wsbench-", missing.display()))
                && err.contains("run as root"),
            "{err}"
        );
    }
}
