//! Allocations per round trip of the payload codec: encoding a stamp into a reused buffer and
//! decoding the server's reply through the fast path allocate nothing once the buffer has
//! grown. A counting global allocator (this test binary only) checks it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use wsbench_wire::fast::{self, Fast};
use wsbench_wire::payload::Stamp;

struct Counting;

thread_local! {
    /// Allocations made by this thread (the harness's own threads do not count).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    ALLOCS.with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn encode_and_fast_decode_allocate_nothing_per_message() {
    let mut payload = String::new();
    let mut frame = String::new();
    let mut round_trip = |seq: u64| {
        Stamp {
            from: 7,
            seq,
            t: 1_000_000 + seq,
        }
        .encode_into(256, &mut payload);
        frame.clear();
        frame.push_str(r#"{"op":"msg","data":"#);
        frame.push_str(&payload);
        frame.push('}');
        match fast::app_reply(frame.as_bytes()) {
            Some(Fast::Msg { stamp, .. }) => assert_eq!(stamp.seq, seq),
            other => panic!("fast path missed: {other:?}"),
        }
    };
    round_trip(0); // buffers grow here
    let before = ALLOCS.with(Cell::get);
    for seq in 1..10_000 {
        round_trip(seq);
    }
    let allocs = ALLOCS.with(Cell::get) - before;
    assert_eq!(allocs, 0, "{allocs} allocations in 9,999 round trips");
}
