//! A non-blocking `CLOCK_MONOTONIC` timerfd armed with absolute deadlines given as
//! `Instant`s: the one fd each lane's timer wheel ([`super::timer`]) waits on.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// A non-blocking `CLOCK_MONOTONIC` timerfd armed with absolute deadlines.
#[derive(Debug)]
pub(crate) struct TimerFd {
    fd: OwnedFd,
    /// An `Instant` and the `CLOCK_MONOTONIC` reading taken just after it: `Instant` is that
    /// clock on Linux, so `at` converts as `base_ts + (at - base)`, late by at most the gap
    /// between the two readings (tens of ns) and never early.
    base: Instant,
    base_ns: u128,
}

impl TimerFd {
    pub(crate) fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall; the returned fd is checked and then owned.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let base = Instant::now();
        let base_ns = monotonic_ns();
        Ok(TimerFd { fd, base, base_ns })
    }

    /// Expires at `at` (at once if it has passed).
    pub(crate) fn arm(&self, at: Instant) -> io::Result<()> {
        let ns = self.base_ns + at.saturating_duration_since(self.base).as_nanos();
        // a zero it_value would disarm: the earliest real deadline is 1 ns
        let ns = ns.max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: valid fd and spec; the old value is not wanted.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads the expiry count so the fd is no longer readable (EAGAIN: nothing to clear).
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into our buffer.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// `CLOCK_MONOTONIC` now, ns.
fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}
