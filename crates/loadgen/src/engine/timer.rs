//! The precise send timer: one `timerfd` per lane thread (absolute `CLOCK_MONOTONIC`
//! deadlines, registered in tokio through [`AsyncFd`]) and a small deadline heap of wakers,
//! so a send wakes within tens of µs of its intended time instead of on tokio's 1 ms wheel.
//!
//! - [`drive`] is the main future of a lane thread (`block_on`): it owns the thread's
//!   [`Wheel`], waits for the timerfd to expire ([`SPIN_LEAD`] before the earliest
//!   deadline), spins the last stretch while yielding to the lane's other work, wakes every
//!   due [`SendTimer`] and re-arms the fd for the next. One fd per lane thread, however many
//!   connections it runs; a lane with no deadline within [`SPIN_LEAD`] sleeps, so an idle
//!   lane costs no CPU.
//! - [`SendTimer`] is what a worker holds: a deadline, registered in the wheel of the thread
//!   that polls it. A passed deadline fires on the first poll, without a trip through the
//!   wheel (a closed-loop send that is already due must not wait for a timer tick). Polled
//!   on a thread without a wheel (a unit test's runtime, the control runtime), it falls back
//!   to tokio's `sleep_until`.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use super::timerfd::TimerFd;
use tokio::sync::oneshot;

/// Timer ids are unique in the process, so a timer dropped on a thread whose wheel never
/// saw it cancels nothing there.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The deadlines of one lane thread.
#[derive(Debug, Default)]
struct Deadlines {
    /// Earliest first; an entry whose id is no longer in `waiting` (cancelled, re-armed) is
    /// skipped when it comes up.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    waiting: HashMap<u64, (Instant, Waker)>,
    /// What the timerfd is armed for.
    armed: Option<Instant>,
}

impl Deadlines {
    /// The earliest live deadline, dropping stale heap entries on the way.
    fn earliest(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            match self.waiting.get(&id) {
                Some(&(d, _)) if d == at => return Some(at),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }
}

/// One lane thread's timerfd and deadlines.
#[derive(Debug)]
struct Wheel {
    fd: AsyncFd<TimerFd>,
    /// Whether this is the publisher lane's wheel (counted apart in [`wait_counts`]).
    publisher: bool,
    deadlines: RefCell<Deadlines>,
    /// Spin accounting of the current [`SPIN_WINDOW`]: when it started, and how long the
    /// lane spun in it.
    duty: std::cell::Cell<(Instant, Duration)>,
}

impl Wheel {
    /// Registers (or refreshes the waker of) timer `id` due at `at`.
    fn register(&self, id: u64, at: Instant, waker: &Waker) {
        let mut d = self.deadlines.borrow_mut();
        match d.waiting.get_mut(&id) {
            Some((due, w)) if *due == at => {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                return;
            }
            _ => {}
        }
        d.waiting.insert(id, (at, waker.clone()));
        d.heap.push(Reverse((at, id)));
        WHEEL_WAITS.fetch_add(1, Ordering::Relaxed);
        if self.publisher {
            PUBLISHER_WAITS.fetch_add(1, Ordering::Relaxed);
        }
        if d.armed.is_none_or(|armed| at < armed) && self.fd.get_ref().arm(wake_for(at)).is_ok() {
            d.armed = Some(at);
        }
    }

    /// Arms the fd for `at` itself rather than [`SPIN_LEAD`] before it: the lane sleeps up
    /// to the deadline instead of spinning towards it.
    fn arm_exact(&self, at: Instant) {
        let mut d = self.deadlines.borrow_mut();
        if self.fd.get_ref().arm(at).is_ok() {
            d.armed = Some(at);
        }
    }

    /// Adds `spun` to the window's spin time; whether the lane may still spin in it.
    fn may_spin(&self, spun: Duration) -> bool {
        let now = Instant::now();
        let (mut start, mut total) = self.duty.get();
        if now.duration_since(start) >= SPIN_WINDOW {
            (start, total) = (now, Duration::ZERO);
        }
        total += spun;
        self.duty.set((start, total));
        total.as_secs_f64() <= SPIN_DUTY * SPIN_WINDOW.as_secs_f64()
    }

    fn cancel(&self, id: u64) {
        self.deadlines.borrow_mut().waiting.remove(&id);
    }

    /// Wakes every timer due by now, re-arms the fd for the earliest left (to
    /// [`SPIN_LEAD`] before it) and returns that deadline.
    fn fire(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut d = self.deadlines.borrow_mut();
            while let Some(at) = d.earliest() {
                if at > now {
                    break;
                }
                let Reverse((_, id)) = d.heap.pop().expect("earliest() saw it");
                if let Some((_, w)) = d.waiting.remove(&id) {
                    due.push(w);
                }
            }
            let next = d.earliest();
            if next != d.armed {
                d.armed = None;
                if let Some(at) = next
                    && self.fd.get_ref().arm(wake_for(at)).is_ok()
                {
                    d.armed = Some(at);
                }
            }
            next
        };
        // woken outside the borrow: a waker may poll nothing here, but stay safe
        for w in due {
            w.wake();
        }
        next
    }
}

/// The timerfd wakes the lane this long before a deadline; the lane then spins (yielding to
/// its other tasks and polling its sockets, so no read waits) until the deadline. A
/// sleeping CPU of this machine (a VM) takes 30–130 µs to run a thread its timer woke
/// (p50–p99, measured with `SCHED_FIFO`): a timer alone cannot send within 50 µs.
pub const SPIN_LEAD: Duration = Duration::from_micros(100);

/// The share of a lane's time it may spend spinning, per [`SPIN_WINDOW`]. Deadlines closer
/// together than [`SPIN_LEAD`] (thousands of sends per second on a lane) would otherwise keep
/// the lane spinning without a pause: a real-time lane that never sleeps is stopped by the
/// kernel's real-time throttling (`sched_rt_runtime_us`: 50 ms of every second), which held
/// sends back by ~42 ms at 16,000 msgs/s. Past the share, the lane sleeps to each deadline
/// on the timerfd (tens of µs late) until the window ends.
const SPIN_DUTY: f64 = 0.3;
const SPIN_WINDOW: Duration = Duration::from_millis(10);

/// Gaps between two spin polls longer than this ran other work, not the spin.
const SPIN_STEP: Duration = Duration::from_micros(10);

/// When the fd should expire for a deadline at `at`.
fn wake_for(at: Instant) -> Instant {
    at.checked_sub(SPIN_LEAD).unwrap_or(at)
}

/// The time every lane has spent spinning before deadlines, ns (see [`spin_seconds`]).
static SPIN_NS: AtomicU64 = AtomicU64::new(0);

/// CPU time the lanes spent spinning before due sends so far, seconds: time the generator
/// chose to busy-wait instead of sleeping. The row's `loadgen_cpu_s` leaves it out, so
/// the load generator's CPU (and `loadgen_bound`) count work, not waiting.
pub fn spin_seconds() -> f64 {
    SPIN_NS.load(Ordering::Relaxed) as f64 * 1e-9
}

/// Waits registered in a lane's wheel, in the publisher lane's wheel, and served by tokio's
/// timer instead (see [`wait_counts`]).
static WHEEL_WAITS: AtomicU64 = AtomicU64::new(0);
static PUBLISHER_WAITS: AtomicU64 = AtomicU64::new(0);
static FALLBACK_WAITS: AtomicU64 = AtomicU64::new(0);

/// How this process's timed waits (a [`SendTimer`] whose deadline had not passed) were
/// served so far: the mechanism behind the send precision, which tests check without
/// timing anything (the precision itself is measured by runs and the `send_timer` bench).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitCounts {
    /// On a lane thread's timerfd wheel (any lane).
    pub wheel: u64,
    /// Of those, on the publisher lane's wheel.
    pub publisher_lane: u64,
    /// On tokio's 1 ms timer wheel: polled on a thread that runs no lane.
    pub fallback: u64,
}

/// The counts so far (process-wide, never reset: compare two readings).
pub fn wait_counts() -> WaitCounts {
    WaitCounts {
        wheel: WHEEL_WAITS.load(Ordering::Relaxed),
        publisher_lane: PUBLISHER_WAITS.load(Ordering::Relaxed),
        fallback: FALLBACK_WAITS.load(Ordering::Relaxed),
    }
}

thread_local! {
    static WHEEL: RefCell<Option<Rc<Wheel>>> = const { RefCell::new(None) };
}

/// The wheel of the calling thread, if it runs [`drive`].
fn local_wheel() -> Option<Rc<Wheel>> {
    WHEEL.try_with(|w| w.borrow().clone()).ok().flatten()
}

/// Runs the calling thread's timer wheel until `stop` fires (or its sender is dropped). Must
/// be polled inside a tokio runtime with I/O enabled, as the `block_on` future of a lane
/// thread: every [`SendTimer`] polled on this thread is then woken by its timerfd.
pub async fn drive(stop: oneshot::Receiver<()>) -> io::Result<()> {
    drive_lane(stop, false).await
}

/// [`drive`] for a lane that says whether it is the publisher lane.
pub(crate) async fn drive_lane(stop: oneshot::Receiver<()>, publisher: bool) -> io::Result<()> {
    let timerfd = TimerFd::new()?;
    // SAFETY: `TimerFd` owns its fd, never closes or replaces it while alive, and
    // `as_raw_fd` always returns that fd.
    let fd = unsafe { AsyncFd::register_with_interest(timerfd, tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)?;
    let wheel = Rc::new(Wheel {
        fd,
        publisher,
        deadlines: RefCell::default(),
        duty: std::cell::Cell::new((Instant::now(), Duration::ZERO)),
    });
    WHEEL.with(|w| *w.borrow_mut() = Some(wheel.clone()));
    tokio::pin!(stop);
    let result = loop {
        tokio::select! {
            _ = &mut stop => break Ok(()),
            ready = wheel.fd.readable() => match ready {
                Ok(mut guard) => {
                    guard.get_inner().clear();
                    guard.clear_ready();
                }
                Err(e) => break Err(e),
            },
        }
        spin_to_deadlines(&wheel).await;
    };
    WHEEL.with(|w| *w.borrow_mut() = None);
    result
}

/// After the fd woke the lane (up to [`SPIN_LEAD`] early): wakes what is due, and while
/// the next deadline is within [`SPIN_LEAD`], yields and checks again. A yield lets the
/// lane run its other tasks and poll its sockets (without blocking) before coming back, so
/// the spin delays no read; it only replaces the sleep the lane would have had.
async fn spin_to_deadlines(wheel: &Wheel) {
    let mut last = Instant::now();
    let mut spinning = false;
    loop {
        let next = wheel.fire();
        let now = Instant::now();
        let step = now.duration_since(last);
        let spun = if spinning && step < SPIN_STEP {
            SPIN_NS.fetch_add(step.as_nanos() as u64, Ordering::Relaxed);
            step
        } else {
            Duration::ZERO
        };
        last = now;
        match next {
            // due by now (it passed between `fire` and here): fire again at once; the fd
            // will not wake the lane for it a second time
            Some(at) if at <= now => {}
            Some(at) if at - now <= SPIN_LEAD => {
                if !wheel.may_spin(spun) {
                    // spun its share of this window: sleep to the deadline instead
                    wheel.arm_exact(at);
                    return;
                }
                spinning = true;
                tokio::task::yield_now().await;
            }
            _ => return,
        }
    }
}

/// A worker's send timer: due at one instant, reset to the next. See the module doc.
#[derive(Debug)]
pub struct SendTimer {
    deadline: Instant,
    id: u64,
    /// Where no wheel runs: tokio's timer.
    fallback: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SendTimer {
    pub fn at(deadline: Instant) -> SendTimer {
        SendTimer {
            deadline,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            fallback: None,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Due at `deadline` from now on.
    pub fn reset(&mut self, deadline: Instant) {
        if deadline != self.deadline {
            self.cancel();
            self.deadline = deadline;
        }
    }

    /// Resolves at the deadline, or on the first poll when it has passed.
    pub fn due(&mut self) -> Due<'_> {
        Due { timer: self }
    }

    fn cancel(&mut self) {
        if let Some(w) = local_wheel() {
            w.cancel(self.id);
        }
    }
}

impl Drop for SendTimer {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Sleeps until `at` on the precise timer (a one-off [`SendTimer`]).
pub async fn sleep_until(at: Instant) {
    SendTimer::at(at).due().await;
}

/// The future of [`SendTimer::due`].
#[derive(Debug)]
pub struct Due<'t> {
    timer: &'t mut SendTimer,
}

impl Future for Due<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let t = &mut *self.get_mut().timer;
        if Instant::now() >= t.deadline {
            t.cancel();
            return Poll::Ready(());
        }
        if let Some(wheel) = local_wheel() {
            wheel.register(t.id, t.deadline, cx.waker());
            return Poll::Pending;
        }
        let deadline = tokio::time::Instant::from_std(t.deadline);
        let sleep = t.fallback.get_or_insert_with(|| {
            FALLBACK_WAITS.fetch_add(1, Ordering::Relaxed);
            Box::pin(tokio::time::sleep_until(deadline))
        });
        if sleep.deadline() != deadline {
            FALLBACK_WAITS.fetch_add(1, Ordering::Relaxed);
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_passed_deadline_fires_on_the_first_poll() {
        let mut timer = SendTimer::at(Instant::now() - Duration::from_millis(5));
        assert_eq!(timer.due().now_or_never(), Some(()));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_wheel_a_future_deadline_waits_on_tokio() {
        let before = wait_counts();
        let mut timer = SendTimer::at(Instant::now() + Duration::from_secs(3600));
        assert_eq!(timer.due().now_or_never(), None);
        // counted as a fallback wait (other tests in this process may add to it too)
        assert!(wait_counts().fallback > before.fallback);
    }

    /// On a lane thread (a current-thread runtime driving the wheel), timers wake in
    /// deadline order, none before its deadline, and the fd is shared by all of them.
    #[test]
    fn the_wheel_wakes_each_timer_at_or_after_its_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (stop_tx, stop_rx) = oneshot::channel();
        let before = wait_counts();
        let woke = rt.block_on(async move {
            let timers = tokio::spawn(async move {
                let start = Instant::now();
                let offsets = [7u64, 2, 5, 3, 11];
                let all = offsets.iter().map(|&ms| async move {
                    let at = start + Duration::from_millis(ms);
                    let mut t = SendTimer::at(at);
                    t.due().await;
                    (ms, Instant::now().duration_since(at))
                });
                let mut woke = futures_util::future::join_all(all).await;
                let _ = stop_tx.send(());
                woke.sort();
                woke
            });
            drive(stop_rx).await.unwrap();
            timers.await.unwrap()
        });
        assert_eq!(woke.len(), 5);
        // each of the five waited in the wheel (process-wide count: at least five more)
        assert!(wait_counts().wheel >= before.wheel + 5);
        for (ms, late) in woke {
            // generous for a loaded CI machine; the precision itself is measured by the
            // bench and by the runs (docs/results.md)
            assert!(
                late < Duration::from_millis(20),
                "{ms} ms timer {late:?} late"
            );
        }
    }

    /// One timer reset to deadlines 50 µs apart, many times over (the worker's pattern): it
    /// never misses one, even when a deadline passes while the lane spins towards it.
    #[test]
    fn a_timer_reset_to_close_deadlines_never_misses_one() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (stop_tx, stop_rx) = oneshot::channel();
        rt.block_on(async move {
            let task = tokio::spawn(async move {
                let start = Instant::now() + Duration::from_millis(5);
                let mut t = SendTimer::at(start);
                for i in 1..=400u32 {
                    let at = t.deadline();
                    // the timeout's own tokio timer ends the wait if the wheel never wakes it
                    let _ = tokio::time::timeout(Duration::from_secs(2), t.due()).await;
                    let late = Instant::now().duration_since(at);
                    // generous for a loaded machine; a missed wake is the 2 s timeout
                    assert!(
                        late < Duration::from_millis(500),
                        "timer {i} woke {late:?} late"
                    );
                    t.reset(start + Duration::from_micros(50) * i);
                }
                let _ = stop_tx.send(());
            });
            drive(stop_rx).await.unwrap();
            task.await.unwrap();
        });
    }

    /// A reset timer wakes at its new deadline and a dropped one leaves nothing behind that
    /// could wake the task later.
    #[test]
    fn reset_and_drop_cancel_the_old_registration() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (stop_tx, stop_rx) = oneshot::channel();
        rt.block_on(async move {
            let task = tokio::spawn(async move {
                let start = Instant::now();
                let mut t = SendTimer::at(start + Duration::from_secs(3600));
                assert!((&mut t.due()).now_or_never().is_none());
                t.reset(start + Duration::from_millis(3));
                t.due().await;
                assert!(Instant::now() >= start + Duration::from_millis(3));
                let mut dropped = SendTimer::at(start + Duration::from_secs(3600));
                assert!(dropped.due().now_or_never().is_none());
                assert_eq!(local_wheel().unwrap().deadlines.borrow().waiting.len(), 1);
                drop(dropped);
                let wheel = local_wheel().expect("on a lane thread");
                let mut d = wheel.deadlines.borrow_mut();
                assert!(d.waiting.is_empty(), "{:?}", d.waiting.keys());
                assert_eq!(d.earliest(), None);
                drop(d);
                let _ = stop_tx.send(());
            });
            drive(stop_rx).await.unwrap();
            task.await.unwrap();
        });
    }
}
