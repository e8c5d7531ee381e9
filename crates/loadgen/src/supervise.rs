//! Server child processes: spawn `wsbench serve <target> --bind 127.0.0.1:0` (or any
//! [`ServerCommand`] with the same contract, such as the Node peers of [`crate::peers`]),
//! read the address from its first stdout line, read its CPU time and peak RSS from /proc,
//! and make sure it never outlives the run.
//!
//! Every exit path kills and reaps the child: [`ServerChild::stop`] sends SIGTERM, waits,
//! then SIGKILL; if the guard is dropped instead (error, panic, cancelled future), tokio's
//! `kill_on_drop` SIGKILLs it and the runtime reaps it; and the child gets
//! `PR_SET_PDEATHSIG = SIGKILL`, so even a load generator killed by SIGKILL takes its server
//! down with it.
//!
//! With a CPU budget the child joins its own cgroup ([`crate::cgroup`]) before it execs, and
//! the cgroup is removed once the child is reaped.
//!
//! Every child leads its own process group: a terminal's Ctrl-C signals the foreground
//! process group, which then holds the runner but not its servers, so a server keeps serving
//! through the interrupted row's drain and is stopped by the runner afterwards.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cgroup::ServerCgroup;

/// Why a server child could not be started. `command` is the command line as started.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("cannot start `{command}`: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("`{command}` did not print `listening on IP:PORT` within {timeout:?}{}", tail_text(.stderr))]
    NoReadyLine {
        command: String,
        timeout: Duration,
        stderr: String,
    },
    #[error("`{command}` exited ({status}) before printing `listening on IP:PORT`{}", tail_text(.stderr))]
    Exited {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` printed {line:?} instead of `listening on IP:PORT`{}", tail_text(.stderr))]
    BadReadyLine {
        command: String,
        line: String,
        stderr: String,
    },
}

/// A server to start: it must print `listening on IP:PORT` as its first stdout line and
/// stop on SIGTERM (`wsbench serve`, the Node peers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Working directory (`None`: ours).
    pub cwd: Option<PathBuf>,
}

impl ServerCommand {
    /// `exe serve <server> --bind 127.0.0.1:0 <extra_args…>`.
    pub fn wsbench_serve(exe: &Path, server: &str, extra_args: &[String]) -> ServerCommand {
        let mut args = vec!["serve".to_owned(), server.to_owned()];
        args.extend(["--bind".to_owned(), "127.0.0.1:0".to_owned()]);
        args.extend(extra_args.iter().cloned());
        ServerCommand {
            program: exe.to_owned(),
            args,
            cwd: None,
        }
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn tail_text(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr ends with:\n{stderr}")
    }
}

/// How many stderr lines of the child are kept for error messages.
const STDERR_TAIL: usize = 20;
/// How long a child that closed its stdout without a ready line gets to exit (so the error
/// can say how it ended).
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// A running server child. Dropping it kills it.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    /// The server's last stderr lines (it must not write over our progress line).
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// The cgroup holding its CPU budget, when it has one; removed after the child is reaped.
    cgroup: Option<ServerCgroup>,
    /// How it was started, so a `[restart]` row can start it again on the same port.
    command: ServerCommand,
    cpus: Option<Vec<usize>>,
}

impl ServerChild {
    /// Spawns `exe serve <server> --bind 127.0.0.1:0 <extra_args…>`, pinned to `cpus` when
    /// given, and waits up to `timeout` for its ready line.
    pub async fn spawn(
        exe: &Path,
        server: &str,
        extra_args: &[String],
        cpus: Option<Vec<usize>>,
        timeout: Duration,
    ) -> Result<ServerChild, SuperviseError> {
        Self::spawn_command(
            &ServerCommand::wsbench_serve(exe, server, extra_args),
            cpus,
            timeout,
        )
        .await
    }

    /// Spawns `command`, pinned to `cpus` when given, and waits up to `timeout` for its
    /// ready line.
    pub async fn spawn_command(
        command: &ServerCommand,
        cpus: Option<Vec<usize>>,
        timeout: Duration,
    ) -> Result<ServerChild, SuperviseError> {
        Self::spawn_command_in(command, cpus, None, timeout).await
    }

    /// [`ServerChild::spawn_command`] inside `cgroup` (a CPU budget), when given.
    pub async fn spawn_command_in(
        command: &ServerCommand,
        cpus: Option<Vec<usize>>,
        cgroup: Option<ServerCgroup>,
        timeout: Duration,
    ) -> Result<ServerChild, SuperviseError> {
        let shown = command.display();
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.args);
        if let Some(dir) = &command.cwd {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // its own process group: a terminal's Ctrl-C (SIGINT to the foreground group)
            // reaches the runner only, which drains the row and then stops the server
            .process_group(0);
        let set = cpus.as_deref().map(crate::system::cpu_set);
        let kept_cpus = cpus.clone();
        // The child joins its cgroup itself, between fork and exec, rather than being moved
        // in after spawn: no instruction of the server (or thread it starts) ever runs
        // outside its budget, and a cgroup it cannot join fails the spawn instead of leaving
        // it unthrottled.
        let procs = cgroup.as_ref().map(|c| c.procs_path().to_owned());
        // SAFETY: the closure only makes async-signal-safe syscalls (prctl, sched_setaffinity,
        // open/write/close) on data prepared before fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if let Some(set) = &set
                    && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                if let Some(procs) = &procs {
                    crate::cgroup::join_from_forked_child(procs)?;
                }
                Ok(())
            });
        }
        let spawn_err = |source| SuperviseError::Spawn {
            command: shown.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let pid = child
            .id()
            .ok_or_else(|| spawn_err(io::Error::other("exited at once")))?;

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(err) = child.stderr.take() {
            let tail = stderr_tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut t = tail.lock().expect("stderr tail lock");
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let tail_now = |t: &Arc<Mutex<VecDeque<String>>>| {
            t.lock()
                .expect("stderr tail lock")
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        };
        let first = match tokio::time::timeout(timeout, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            timed_out_or_closed => {
                // give the child a moment to exit and the stderr reader to catch its last words
                let exited = tokio::time::timeout(EXIT_WAIT, child.wait()).await;
                tokio::task::yield_now().await;
                let stderr = tail_now(&stderr_tail);
                return Err(match (timed_out_or_closed, exited) {
                    (Ok(_), Ok(Ok(status))) => SuperviseError::Exited {
                        command: shown,
                        status: status.to_string(),
                        stderr,
                    },
                    _ => SuperviseError::NoReadyLine {
                        command: shown,
                        timeout,
                        stderr,
                    },
                });
            }
        };
        let addr = first
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse::<SocketAddr>().ok())
            .ok_or_else(|| SuperviseError::BadReadyLine {
                command: shown.clone(),
                line: first.clone(),
                stderr: tail_now(&stderr_tail),
            })?;
        // keep draining stdout so the child never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerChild {
            child,
            pid,
            addr,
            stderr_tail,
            cgroup,
            command: command.clone(),
            cpus: kept_cpus,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's last stderr lines.
    pub fn stderr_tail(&self) -> String {
        self.stderr_tail
            .lock()
            .expect("stderr tail lock")
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// CPU time (user + system) the server has used so far, seconds.
    pub fn cpu_seconds(&self) -> io::Result<f64> {
        proc_cpu_seconds(self.pid)
    }

    /// Peak resident set size (VmHWM), KiB.
    pub fn peak_rss_kb(&self) -> io::Result<u64> {
        proc_peak_rss_kb(self.pid)
    }

    /// How long the server has waited for CPU under its budget so far, ns (`None` without a
    /// budget or when `cpu.stat` cannot be read).
    pub fn throttled_ns(&self) -> Option<u64> {
        let cgroup = self.cgroup.as_ref()?;
        cgroup.throttling().ok().map(|t| t.throttled_ns)
    }

    /// The cgroup of its CPU budget, when it has one.
    pub fn cgroup(&self) -> Option<&ServerCgroup> {
        self.cgroup.as_ref()
    }

    /// SIGKILL now, and wait until the process has died (its sockets are closed and its
    /// port is free), without reaping it: [`ServerChild::stop`] still does that.
    pub async fn kill_and_wait_dead(&self) -> io::Result<()> {
        // SAFETY: kill(2) on the pid of our own unreaped child (it cannot have been reused).
        if unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) } != 0 {
            return Err(io::Error::last_os_error());
        }
        crate::system::wait_pid_exited(self.pid).await
    }

    /// Starts the same server again on this one's address (after it died), pinned alike:
    /// `--bind IP:PORT` in place of the port-0 bind it was started with.
    pub async fn start_again(&self, timeout: Duration) -> Result<ServerChild, SuperviseError> {
        let mut command = self.command.clone();
        let bind = self.addr.to_string();
        match command.args.iter().position(|a| a == "--bind") {
            Some(i) if i + 1 < command.args.len() => command.args[i + 1] = bind,
            _ => command.args.extend(["--bind".to_owned(), bind]),
        }
        Self::spawn_command_in(&command, self.cpus.clone(), None, timeout).await
    }

    /// How the child ended, if it has (`exit status: 0`, `signal: 9 (SIGKILL)`); `None`
    /// while it runs. Reaps it when it has ended.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; always reaps, then removes its cgroup.
    pub async fn stop(mut self, grace: Duration) {
        self.end(grace).await;
        if let Some(cgroup) = self.cgroup.take()
            && let Err(e) = cgroup.remove()
        {
            eprintln!("wsbench: {e}");
        }
    }

    async fn end(&mut self, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on the pid of our own unreaped child (it cannot have been reused).
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// utime + stime of `pid` from /proc/PID/stat, seconds.
pub fn proc_cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat_cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / clock_ticks_per_second())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unparsable /proc/{pid}/stat"),
            )
        })
}

/// utime + stime (fields 14 and 15) in clock ticks. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace(); // field 3 (state) first
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// VmHWM of `pid` from /proc/PID/status, KiB.
pub fn proc_peak_rss_kb(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_hwm_kb(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmHWM in /proc/{pid}/status"),
        )
    })
}

/// VmRSS of `pid` from /proc/PID/status, KiB (resident now).
pub fn proc_rss_kb(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_kb(&status, "VmRSS:").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS in /proc/{pid}/status"),
        )
    })
}

fn parse_vm_hwm_kb(status: &str) -> Option<u64> {
    status_kb(status, "VmHWM:")
}

/// The `KEY:  N kB` line of /proc/PID/status.
fn status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_own_proc_files() {
        let me = std::process::id();
        assert!(proc_cpu_seconds(me).unwrap() >= 0.0);
        assert!(proc_peak_rss_kb(me).unwrap() > 0);
        assert_eq!(
            parse_vm_hwm_kb("VmPeak:\t 10 kB\nVmHWM:\t  2048 kB\n"),
            Some(2048)
        );
    }

    #[tokio::test]
    async fn a_child_that_never_becomes_ready_is_reported_and_killed() {
        // `true` ignores its arguments and exits without printing: no ready line.
        let err = ServerChild::spawn(Path::new("true"), "tcp", &[], None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, SuperviseError::Exited { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("`true serve tcp --bind 127.0.0.1:0` exited"),
            "{err}"
        );
        let err = ServerChild::spawn(
            Path::new("/nonexistent/wsbench"),
            "tcp",
            &[],
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/wsbench"), "{err}");
    }

    fn sh(script: &str) -> ServerCommand {
        ServerCommand {
            program: PathBuf::from("sh"),
            args: vec!["-c".into(), script.into()],
            cwd: Some(std::env::temp_dir()),
        }
    }

    /// A child that prints its ready line and then waits.
    async fn ready_sleeper() -> ServerChild {
        ServerChild::spawn_command(
            &sh("echo 'listening on 127.0.0.1:9'; exec sleep 30"),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn any_command_with_the_ready_line_contract_is_supervised() {
        // a usage error: the stderr tail and the exit status name what went wrong
        let err = ServerChild::spawn_command(
            &sh("echo 'bad flag --x' >&2; exit 2"),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("exit status: 2") && text.contains("bad flag --x"),
            "{text}"
        );
        let err = ServerChild::spawn_command(&sh("echo hello"), None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, SuperviseError::BadReadyLine { .. }), "{err}");
        // a child that prints its line and then waits is ready, measured, and stopped
        let child = ready_sleeper().await;
        assert_eq!(child.addr(), "127.0.0.1:9".parse().unwrap());
        assert!(child.peak_rss_kb().unwrap() > 0);
        let pid = child.pid();
        tokio::time::timeout(Duration::from_secs(10), child.stop(Duration::from_secs(2)))
            .await
            .expect("stopped in time");
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "reaped");
    }

    #[tokio::test]
    async fn a_server_child_leads_its_own_process_group() {
        let child = ready_sleeper().await;
        let pid = child.pid() as libc::pid_t;
        // SAFETY: getpgid(2) on our own unreaped child; getpgrp(2) takes nothing.
        let (group, ours) = unsafe { (libc::getpgid(pid), libc::getpgrp()) };
        assert_eq!(group, pid, "the child leads a group of its own");
        assert_ne!(
            group, ours,
            "not the runner's (the terminal's foreground) group"
        );
        child.stop(Duration::from_secs(2)).await;
    }
}
