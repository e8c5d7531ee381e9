//! One lane thread of the engine: an OS thread pinned to its core(s), with a timer slack of
//! 1 ns and (when permitted) `SCHED_FIFO`, running a current-thread
//! tokio runtime whose `block_on` future is the thread's timer wheel ([`super::timer::drive`]).
//! Work reaches it through its [`Handle`]; dropping the [`LaneThread`] stops the wheel, drops
//! whatever tasks are left and joins the thread.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How a lane thread is set up.
#[derive(Debug, Clone)]
pub(crate) struct LaneSetup {
    pub name: String,
    /// CPUs it is pinned to (empty: not pinned).
    pub cpus: Vec<usize>,
    /// Ask for `SCHED_FIFO` at this priority (1–99).
    pub realtime: Option<i32>,
    /// Whether this is the publisher lane.
    pub publisher: bool,
}

/// A running lane thread.
#[derive(Debug)]
pub(crate) struct LaneThread {
    pub handle: Handle,
    /// Why a setup step did not take (pinning, real-time priority), for the row's notes.
    pub refused: Vec<String>,
    /// Whether the thread runs at `SCHED_FIFO`.
    pub realtime: bool,
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

/// What the thread sends back once it is set up.
type Started = io::Result<(Handle, Vec<String>, bool)>;

impl LaneThread {
    pub fn start(setup: LaneSetup) -> io::Result<LaneThread> {
        let (started_tx, started_rx) = std::sync::mpsc::channel::<Started>();
        let (stop_tx, stop_rx) = oneshot::channel();
        let name = setup.name.clone();
        let join = std::thread::Builder::new()
            .name(setup.name.clone())
            .spawn(move || run_lane(setup, started_tx, stop_rx))?;
        let (handle, refused, realtime) = started_rx.recv().map_err(|_| {
            io::Error::other(format!("lane thread {name} exited before it started"))
        })??;
        Ok(LaneThread {
            handle,
            refused,
            realtime,
            stop: Some(stop_tx),
            join: Some(join),
        })
    }
}

impl Drop for LaneThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// The lane thread's body: set up, build the runtime, drive the wheel until stopped.
fn run_lane(
    setup: LaneSetup,
    started: std::sync::mpsc::Sender<Started>,
    stop: oneshot::Receiver<()>,
) {
    let mut refused = Vec::new();
    if !setup.cpus.is_empty()
        && let Err(e) = crate::system::pin_thread(0, &setup.cpus)
    {
        refused.push(format!(
            "{}: not pinned to CPUs {:?}: {e}",
            setup.name, setup.cpus
        ));
    }
    if let Err(e) = set_timer_slack_ns(1) {
        refused.push(format!("{}: timer slack not lowered: {e}", setup.name));
    }
    let mut realtime = false;
    if let Some(priority) = setup.realtime {
        match set_fifo(priority) {
            Ok(()) => realtime = true,
            Err(e) => refused.push(format!(
                "{}: no real-time priority (SCHED_FIFO refused: {e})",
                setup.name
            )),
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let _ = started.send(Ok((rt.handle().clone(), refused, realtime)));
    if let Err(e) = rt.block_on(super::timer::drive_lane(stop, setup.publisher)) {
        // the wheel's fd failed: timers on this lane fall back to nothing, so say it loudly
        eprintln!("wsbench: lane {}: send timer stopped: {e}", setup.name);
    }
}

/// `PR_SET_TIMERSLACK`: how much the kernel may delay this thread's timer wake-ups to batch
/// them (50 µs by default, as large as the precision we aim for).
fn set_timer_slack_ns(ns: u64) -> io::Result<()> {
    // SAFETY: prctl with an integer argument, no pointers.
    if unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `SCHED_FIFO` at `priority` for the calling thread, reset on fork: threads this one
/// creates (tokio's blocking pool) and processes it starts run at normal priority.
fn set_fifo(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 = the calling thread (Linux schedules threads); a valid param.
    let rc = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_runs_spawned_work_and_stops_when_dropped() {
        let lane = LaneThread::start(LaneSetup {
            name: "test-lane".into(),
            cpus: crate::system::allowed_cpus(),
            realtime: None,
            publisher: false,
        })
        .unwrap();
        assert!(lane.refused.is_empty(), "{:?}", lane.refused);
        let (tx, rx) = std::sync::mpsc::channel();
        lane.handle.spawn(async move {
            let name = std::thread::current().name().map(str::to_owned);
            tx.send(name).unwrap();
        });
        let ran_on = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(ran_on.as_deref(), Some("test-lane"));
        drop(lane); // joins: a hang here fails the test by its timeout
    }
}
