//! Kernel receive timestamps: when the bytes a read returned reached the socket, as the
//! kernel saw them, rather than when the worker task got round to reading them.
//!
//! - [`enable`] turns on `SO_TIMESTAMPNS` on a TCP socket; [`recv_stamped`] reads with
//!   `recvmsg` and returns the `SCM_TIMESTAMPNS` control message as an [`RxStamp`]
//!   ([`stamp_from_cmsgs`] is the extraction). The byte-counting stream every transport
//!   dials through (`counted.rs`) reads this way and keeps the last read's stamp in an
//!   [`RxCell`]; transports expose it as `Transport::last_rx`.
//! - [`RxClock`] maps a stamp (CLOCK_REALTIME) onto the recorder's monotonic epoch clock.
//! - [`ReceiveTime`] is one delivery's receive time: the user-space time the worker took the
//!   frame and the kernel time of the read that completed it, when there was one.
//!
//! What a TCP stamp means: Linux reports, for each `recvmsg`, the arrival time of the newest
//! segment the read consumed (and merges the stamps of segments it coalesces in the receive
//! queue the same way). A frame that is complete at the end of the read therefore gets the
//! arrival of its own last bytes. When several frames queued up before one read, they all
//! get the arrival of the newest bytes: the kernel time is then an upper bound of their
//! arrival, still never later than the user-space time.
//!
//! The kernel switches stamping on for the whole system a moment after the first socket
//! asks for it (deferred work), so the very first segments of a run may come unstamped;
//! they fall back to user time and are counted like any read without a stamp.

#[cfg(target_os = "linux")]
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::schedule::ns_since_epoch;

/// When the kernel received the newest bytes of one read: CLOCK_REALTIME, ns since the Unix
/// epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RxStamp {
    pub realtime_ns: u64,
}

impl RxStamp {
    /// The stamp of a `timespec` (`None` for the zero stamp, which means "not stamped").
    #[cfg(target_os = "linux")]
    fn from_timespec(sec: i64, nsec: i64) -> Option<RxStamp> {
        let sec = u64::try_from(sec).ok()?;
        let nsec = u64::try_from(nsec).ok()?;
        let ns = sec.checked_mul(1_000_000_000)?.checked_add(nsec)?;
        (ns > 0).then_some(RxStamp { realtime_ns: ns })
    }
}

/// The last read's stamp of one socket, shared with whoever decodes its frames (an HTTP
/// connection's stream lives in hyper's connection task). One relaxed store per read.
#[derive(Debug, Default)]
pub struct RxCell(AtomicU64);

impl RxCell {
    /// Records the stamp of the read that just completed (`None`: the read had none).
    pub fn set(&self, stamp: Option<RxStamp>) {
        self.0
            .store(stamp.map_or(0, |s| s.realtime_ns), Ordering::Relaxed);
    }

    /// The stamp of the last read, if it had one.
    pub fn get(&self) -> Option<RxStamp> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(RxStamp { realtime_ns: ns }),
        }
    }
}

/// Asks the kernel to stamp what `fd` receives (`SO_TIMESTAMPNS`). Linux only: elsewhere
/// reads carry no stamp and deliveries fall back to user time.
#[cfg(target_os = "linux")]
pub fn enable(fd: std::os::fd::RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid option value of the declared size for an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Room for one `SCM_TIMESTAMPNS` (and a little more: the kernel adds nothing else unless
/// asked), aligned for `cmsghdr`.
#[cfg(target_os = "linux")]
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// One `recvmsg` into `buf`: bytes read and the kernel's stamp of the read, if it sent one.
/// A non-blocking socket answers `WouldBlock` like `read`.
#[cfg(target_os = "linux")]
pub fn recv_stamped(
    fd: std::os::fd::RawFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<(usize, Option<RxStamp>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = CmsgBuf([0; 64]);
    // SAFETY: zeroed msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: `msg` describes writable memory we own (the iovec's buffer may be
    // uninitialised; the kernel only writes to it).
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled `msg_control`/`msg_controllen` for this call.
    let stamp = unsafe { stamp_from_cmsgs(&msg) };
    Ok((n as usize, stamp))
}

/// The `SCM_TIMESTAMPNS` stamp among the control messages `msg` holds, if any.
///
/// # Safety
/// `msg.msg_control` must point to `msg.msg_controllen` readable bytes of well-formed
/// control messages (as `recvmsg` leaves them).
#[cfg(target_os = "linux")]
pub unsafe fn stamp_from_cmsgs(msg: &libc::msghdr) -> Option<RxStamp> {
    // SAFETY: the caller's contract; CMSG_* walk within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return RxStamp::from_timespec(ts.tv_sec, ts.tv_nsec);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// CLOCK_REALTIME now, ns since the Unix epoch.
fn realtime_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Maps kernel stamps (CLOCK_REALTIME) onto the recorder's clock (ns since
/// [`crate::schedule::epoch`], CLOCK_MONOTONIC underneath).
///
/// The two clocks tick at the same rate (NTP's frequency corrections slew both); they only
/// drift apart when the wall clock is stepped. So one offset, realtime − monotonic, maps
/// one onto the other. It is measured from paired reads: a monotonic read, a realtime read,
/// a monotonic read; the realtime read happened between the two, so the pair with the
/// smallest gap pins the offset to within half that gap (tens of ns). [`RxClock::measure`]
/// takes the tightest of [`RxClock::PAIRS`] pairs; every row measures its own, so a step of
/// the wall clock affects at most the row it happens in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxClock {
    /// Realtime ns − epoch ns at the same instant.
    offset_ns: i128,
    /// Half the gap of the pair it came from: the offset's uncertainty.
    pub uncertainty_ns: u64,
}

impl RxClock {
    /// Paired reads per measurement.
    pub const PAIRS: usize = 16;

    /// Measures the offset now (see the type's doc).
    pub fn measure() -> RxClock {
        // fix the epoch first: an instant read before it would map to 0
        crate::schedule::epoch();
        let mut best: Option<RxClock> = None;
        for _ in 0..Self::PAIRS {
            let before = Instant::now();
            let real = realtime_now_ns();
            let after = Instant::now();
            let (a, b) = (ns_since_epoch(before), ns_since_epoch(after));
            let clock = RxClock::from_pair(a, real, b);
            if best.is_none_or(|c| clock.uncertainty_ns < c.uncertainty_ns) {
                best = Some(clock);
            }
        }
        best.expect("PAIRS > 0")
    }

    /// The offset of one paired read: `real_ns` was read between the epoch-clock reads
    /// `before_ns` and `after_ns`; it is taken at their midpoint.
    pub fn from_pair(before_ns: u64, real_ns: u64, after_ns: u64) -> RxClock {
        let gap = after_ns.saturating_sub(before_ns);
        let mid = before_ns + gap / 2;
        RxClock {
            offset_ns: i128::from(real_ns) - i128::from(mid),
            uncertainty_ns: gap.div_ceil(2),
        }
    }

    /// `stamp` on the epoch clock, ns (0 for a stamp before the epoch).
    pub fn epoch_ns(&self, stamp: RxStamp) -> u64 {
        let ns = i128::from(stamp.realtime_ns) - self.offset_ns;
        u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
    }
}

/// One delivery's receive time, both ways, on the epoch clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveTime {
    /// When the worker had the frame (user space).
    pub user_ns: u64,
    /// When the kernel received the read that completed the frame; `None` when the read
    /// carried no stamp. Never later than `user_ns` (clamped: a read cannot complete after
    /// the frame it returned was taken).
    pub kernel_ns: Option<u64>,
}

impl ReceiveTime {
    /// The receive time of a frame taken at `user`, completed by a read stamped `stamp`.
    pub fn new(user: Instant, stamp: Option<RxStamp>, clock: &RxClock) -> ReceiveTime {
        let user_ns = ns_since_epoch(user);
        ReceiveTime {
            user_ns,
            kernel_ns: stamp.map(|s| clock.epoch_ns(s).min(user_ns)),
        }
    }

    /// The time latency is measured to: the kernel's, else (no stamp) user time.
    pub fn ns(&self) -> u64 {
        self.kernel_ns.unwrap_or(self.user_ns)
    }

    /// [`ReceiveTime::ns`] as an instant.
    pub fn instant(&self) -> Instant {
        crate::schedule::instant_at(self.ns())
    }

    /// What the load generator added: user time − kernel time (`None` without a stamp).
    pub fn read_lag_ns(&self) -> Option<u64> {
        self.kernel_ns.map(|k| self.user_ns - k)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use super::*;

    /// A control buffer holding `cmsgs` (level, type, payload), as `recvmsg` lays it out.
    fn msghdr_with(cmsgs: &[(i32, i32, &[u8])], control: &mut CmsgBuf) -> libc::msghdr {
        // SAFETY: zeroed msghdr is valid; CMSG_* write within `control`.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_control = control.0.as_mut_ptr().cast();
            msg.msg_controllen = control.0.len() as _;
            let mut used = 0;
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            for (level, ty, data) in cmsgs {
                (*c).cmsg_level = *level;
                (*c).cmsg_type = *ty;
                (*c).cmsg_len = libc::CMSG_LEN(data.len() as u32) as _;
                std::ptr::copy_nonoverlapping(data.as_ptr(), libc::CMSG_DATA(c), data.len());
                used += libc::CMSG_SPACE(data.len() as u32) as usize;
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            msg.msg_controllen = used as _;
            msg
        }
    }

    fn timespec_bytes(sec: i64, nsec: i64) -> Vec<u8> {
        let ts = libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        };
        // SAFETY: reading a plain C struct's bytes.
        unsafe {
            std::slice::from_raw_parts((&raw const ts).cast::<u8>(), size_of::<libc::timespec>())
                .to_vec()
        }
    }

    #[test]
    fn the_timestampns_cmsg_is_found_among_others() {
        let ts = timespec_bytes(1_700_000_000, 123_456_789);
        let other = 7i32.to_ne_bytes();
        let mut control = CmsgBuf([0; 64]);
        let msg = msghdr_with(
            &[
                (libc::IPPROTO_IP, libc::IP_TTL, &other),
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts),
            ],
            &mut control,
        );
        // SAFETY: built above by the CMSG_* macros.
        let got = unsafe { stamp_from_cmsgs(&msg) };
        assert_eq!(
            got,
            Some(RxStamp {
                realtime_ns: 1_700_000_000_123_456_789
            })
        );
    }

    #[test]
    fn no_stamp_without_the_cmsg_or_with_a_zero_one() {
        let other = 7i32.to_ne_bytes();
        let mut control = CmsgBuf([0; 64]);
        let msg = msghdr_with(&[(libc::IPPROTO_IP, libc::IP_TTL, &other)], &mut control);
        // SAFETY: built above by the CMSG_* macros.
        assert_eq!(unsafe { stamp_from_cmsgs(&msg) }, None);
        let zero = timespec_bytes(0, 0);
        let mut control = CmsgBuf([0; 64]);
        let msg = msghdr_with(
            &[(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &zero)],
            &mut control,
        );
        // SAFETY: as above.
        assert_eq!(unsafe { stamp_from_cmsgs(&msg) }, None);
        let mut control = CmsgBuf([0; 64]);
        let msg = msghdr_with(&[], &mut control);
        // SAFETY: as above (no control messages at all).
        assert_eq!(unsafe { stamp_from_cmsgs(&msg) }, None);
    }

    /// A real loopback read: the kernel's stamp lies between the write and the read.
    #[test]
    fn a_loopback_read_is_stamped_between_write_and_read() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (rx, _) = listener.accept().unwrap();
        enable(rx.as_raw_fd()).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut peek = [0u8; 1];
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 16];
        // The kernel switches stamping on system-wide shortly after the first socket asks
        // (deferred work): the first segments may come unstamped.
        let mut stamped = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let before = realtime_now_ns();
            tx.write_all(b"hello").unwrap();
            assert_eq!(rx.peek(&mut peek).unwrap(), 1, "the bytes arrived");
            let (n, stamp) = recv_stamped(rx.as_raw_fd(), &mut buf).unwrap();
            let after = realtime_now_ns();
            assert_eq!(n, 5);
            if let Some(stamp) = stamp {
                stamped = Some((before, stamp, after));
                break;
            }
            std::thread::yield_now();
        }
        let (before, stamp, after) = stamped.expect("SO_TIMESTAMPNS gives a stamp on loopback TCP");
        assert!(
            (before..=after).contains(&stamp.realtime_ns),
            "stamp {} outside [{before}, {after}]",
            stamp.realtime_ns
        );
        // without the option: no stamp
        let mut tx2 = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut rx2, _) = listener.accept().unwrap();
        tx2.write_all(b"x").unwrap();
        rx2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(rx2.peek(&mut peek).unwrap(), 1);
        let (n, stamp) = recv_stamped(rx2.as_raw_fd(), &mut buf).unwrap();
        assert_eq!((n, stamp), (1, None));
        // an empty socket answers WouldBlock
        let err = recv_stamped(rx2.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(tx2);
        assert_eq!(rx2.read(&mut [0u8; 4]).unwrap(), 0);
    }

    #[test]
    fn a_pair_pins_the_offset_at_its_midpoint() {
        // realtime 1_000_500 read between epoch 400 and 600: offset 1_000_000 ± 100
        let c = RxClock::from_pair(400, 1_000_500, 600);
        assert_eq!(c.uncertainty_ns, 100);
        assert_eq!(
            c.epoch_ns(RxStamp {
                realtime_ns: 1_002_000
            }),
            2_000
        );
        // stamps before the epoch clamp to 0
        assert_eq!(c.epoch_ns(RxStamp { realtime_ns: 10 }), 0);
    }

    /// The measured offset maps "realtime now" onto "epoch now": a realtime read taken
    /// between two epoch reads converts to a time between them (within the uncertainty).
    #[test]
    fn the_measured_clock_converts_now_to_now() {
        let clock = RxClock::measure();
        assert!(
            clock.uncertainty_ns < 1_000_000,
            "the tightest of {} pairs is {} ns wide",
            RxClock::PAIRS,
            clock.uncertainty_ns
        );
        let before = ns_since_epoch(Instant::now());
        let real = realtime_now_ns();
        let after = ns_since_epoch(Instant::now());
        let mapped = clock.epoch_ns(RxStamp { realtime_ns: real });
        let slack = clock.uncertainty_ns + 1_000;
        assert!(
            mapped + slack >= before && mapped <= after + slack,
            "{mapped} outside [{before}, {after}] ± {slack}"
        );
    }

    #[test]
    fn receive_time_prefers_the_kernel_and_clamps_to_user_time() {
        let clock = RxClock::from_pair(0, 1_000_000_000, 0); // realtime = epoch + 1 s
        let user = crate::schedule::epoch() + Duration::from_secs(3);
        let user_ns = ns_since_epoch(user);
        let early = RxStamp {
            realtime_ns: 1_000_000_000 + user_ns - 250_000,
        };
        let t = ReceiveTime::new(user, Some(early), &clock);
        assert_eq!(t.ns(), user_ns - 250_000);
        assert_eq!(t.read_lag_ns(), Some(250_000));
        // a stamp after the user time (offset error) is clamped: lag 0, not negative
        let late = RxStamp {
            realtime_ns: 1_000_000_000 + user_ns + 5_000,
        };
        let t = ReceiveTime::new(user, Some(late), &clock);
        assert_eq!((t.ns(), t.read_lag_ns()), (user_ns, Some(0)));
        // no stamp: user time, no lag
        let t = ReceiveTime::new(user, None, &clock);
        assert_eq!((t.ns(), t.read_lag_ns()), (user_ns, None));
    }

    #[test]
    fn a_cell_holds_the_last_reads_stamp() {
        let cell = RxCell::default();
        assert_eq!(cell.get(), None);
        cell.set(Some(RxStamp { realtime_ns: 42 }));
        assert_eq!(cell.get(), Some(RxStamp { realtime_ns: 42 }));
        cell.set(None);
        assert_eq!(cell.get(), None);
    }
}
