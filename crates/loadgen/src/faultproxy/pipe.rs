//! One direction of a proxied connection: a reader that stamps each chunk it reads with its
//! release time (arrival + delay + jitter, never before the previous chunk's), and a writer
//! that releases chunks at that time, in pieces paced to the bandwidth cap, never during a
//! stall. A bounded queue between them stands for the link's buffer: when it is full the
//! reader stops reading, and TCP's own backpressure reaches the sender.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use wsbench_scenario::network::NetworkFaults;

/// Bytes read at once.
const READ_CHUNK: usize = 16 * 1024;
/// Chunks held in flight per direction (with [`READ_CHUNK`]: up to 4 MiB on the link).
const CHUNKS_IN_FLIGHT: usize = 256;
/// Under a bandwidth cap, bytes are written in pieces of this size (about one segment), so
/// the pace is smooth rather than a chunk at a time.
const PIECE: usize = 1400;

/// Moves bytes from `src` to `dst` with `faults` until `src` ends (then shuts `dst`'s write
/// side) or either side fails.
pub(super) async fn pump(
    src: &mut OwnedReadHalf,
    dst: &mut OwnedWriteHalf,
    faults: &NetworkFaults,
    seed: u64,
    stalled: watch::Receiver<bool>,
) {
    let (tx, rx) = mpsc::channel::<(Instant, Bytes)>(CHUNKS_IN_FLIGHT);
    let read = read_side(src, tx, faults, seed);
    let write = write_side(dst, rx, faults.bandwidth_kbps, stalled);
    let _ = futures_util::future::join(read, write).await;
}

async fn read_side(
    src: &mut OwnedReadHalf,
    tx: mpsc::Sender<(Instant, Bytes)>,
    faults: &NetworkFaults,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let jitter_ns = faults.jitter.as_nanos() as u64;
    let mut last_release = Instant::now();
    loop {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let n = src.read_buf(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let extra = if jitter_ns > 0 {
            Duration::from_nanos(rng.random_range(0..=jitter_ns))
        } else {
            Duration::ZERO
        };
        let release = (Instant::now() + faults.delay + extra).max(last_release);
        last_release = release;
        if tx.send((release, buf.freeze())).await.is_err() {
            return Ok(());
        }
    }
}

async fn write_side(
    dst: &mut OwnedWriteHalf,
    mut rx: mpsc::Receiver<(Instant, Bytes)>,
    bandwidth_kbps: Option<u64>,
    mut stalled: watch::Receiver<bool>,
) -> std::io::Result<()> {
    // seconds per byte under the cap
    let per_byte = bandwidth_kbps.map(|k| 8.0 / (k as f64 * 1000.0));
    let mut next_free = Instant::now();
    while let Some((release, chunk)) = rx.recv().await {
        sleep_until(release).await;
        let piece = if per_byte.is_some() {
            PIECE
        } else {
            chunk.len()
        };
        for part in chunk.chunks(piece.max(1)) {
            // nothing moves during a stall
            let _ = stalled.wait_for(|s| !*s).await;
            if let Some(per_byte) = per_byte {
                let start = next_free.max(Instant::now());
                sleep_until(start).await;
                next_free = start + Duration::from_secs_f64(per_byte * part.len() as f64);
            }
            dst.write_all(part).await?;
        }
    }
    dst.shutdown().await
}
