//! Truth test of kernel receive stamps: stall the load generator's reader while the
//! server's reply is arriving. The kernel stamps the bytes when they arrive, so the latency
//! (measured to the kernel stamp) must not move, and the read lag (user-space time − kernel
//! time) must rise by the stall.
//!
//! How the stall is placed: the `tcp` server runs on its own thread behind a byte proxy.
//! Before the proxy forwards a chunk to the load generator it asks a staller to block every
//! thread that runs the generator's connections (each lane of the test's own engine) for
//! `STALL` (the injected fault) and waits for every lane's "blocking now"; only then does it
//! write. So each reply lands in the client's
//! socket while the reader cannot run, and is read about `STALL` later. The echo runs at
//! one send every 250 ms, so a 100 ms stall never holds back a send (send lag stays low).
//! Checked on `tcp`, raw WebSocket and Socket.IO over WebSocket (the proxy only moves bytes).

mod run_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use run_support::{run_on, scenario, spec, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use wsbench_report::SummaryRow;
use wsbench_scenario::{LoopMode, Phases, Scenario, Workload};
use wsbench_servers::{RustServer, ServerConfig};

/// The injected stall of the load generator's lane threads.
const STALL: Duration = Duration::from_millis(100);

/// A request to block the generator's lanes; answered once every lane is about to block.
type StallRequest = oneshot::Sender<()>;

/// Forwards one direction; server → client chunks wait for a stall first when `stall` is on.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stall: Option<(Arc<AtomicBool>, mpsc::UnboundedSender<StallRequest>)>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((on, staller)) = &stall
            && on.load(Ordering::SeqCst)
        {
            let (blocking, blocked) = oneshot::channel();
            if staller.send(blocking).is_ok() {
                let _ = blocked.await;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Accepts clients and pipes each to `upstream`.
async fn proxy(
    listener: TcpListener,
    upstream: SocketAddr,
    on: Arc<AtomicBool>,
    staller: mpsc::UnboundedSender<StallRequest>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let server = TcpStream::connect(upstream).await.expect("upstream");
        client.set_nodelay(true).unwrap();
        server.set_nodelay(true).unwrap();
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        tokio::spawn(forward(cr, sw, None));
        tokio::spawn(forward(sr, cw, Some((on.clone(), staller.clone()))));
    }
}

/// One echo client of `target` at 4 sends/s for 3 s through the proxy at `addr`.
fn echo_through(target: RustServer, sio_kind: &str, addr: SocketAddr) -> Scenario {
    Scenario {
        clients: 1,
        publishers: 1,
        rate: 4.0,
        phases: Phases {
            warmup: Duration::from_millis(300),
            measure: Duration::from_secs(3),
            drain: Duration::from_millis(500),
        },
        ..scenario(
            "rx-stall",
            Workload::Echo {
                mode: LoopMode::Open,
            },
            &spec(target, addr, sio_kind),
        )
    }
}

/// Runs the echo through the proxy twice, without and with the stall; checks both rows.
fn reader_stall_moves_read_lag_not_kernel_latency(target: RustServer, sio_kind: &'static str) {
    let on = Arc::new(AtomicBool::new(false));
    let (staller_tx, mut staller_rx) = mpsc::unbounded_channel::<StallRequest>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let proxy_on = on.clone();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let srv = start(target, ServerConfig::default()).await;
            let listener = wsbench_servers::listen::loopback().unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            tokio::select! {
                _ = proxy(listener, srv.addr, proxy_on, staller_tx) => {}
                _ = stop_rx => {}
            }
            drop(srv);
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::new(
        wsbench_loadgen::engine::Engine::start(&wsbench_loadgen::system::allowed_cpus()).unwrap(),
    );
    let (calm, stalled) = rt.block_on(async move {
        // The fault: block every engine lane for STALL each time it is asked; answer once
        // each lane has said it is blocking now.
        let lanes = engine.clone();
        tokio::spawn(async move {
            while let Some(blocking) = staller_rx.recv().await {
                let mut acks = Vec::new();
                for lane in lanes.handles() {
                    let (tx, rx) = oneshot::channel::<()>();
                    acks.push(rx);
                    lane.spawn(async move {
                        let _ = tx.send(());
                        std::thread::sleep(STALL);
                    });
                }
                for ack in acks {
                    let _ = ack.await;
                }
                let _ = blocking.send(());
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let s = echo_through(target, sio_kind, addr);
        let calm = run_on(vec![s.clone()], dir.path(), Some(engine.clone()))
            .await
            .rows
            .remove(0);
        on.store(true, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        let stalled = run_on(vec![s], dir.path(), Some(engine))
            .await
            .rows
            .remove(0);
        (calm, stalled)
    });
    stop_tx.send(()).unwrap();
    server.join().unwrap();
    check(&calm, &stalled);
}

#[test]
fn reader_stall_tcp() {
    reader_stall_moves_read_lag_not_kernel_latency(RustServer::Tcp, "");
}

#[test]
fn reader_stall_ws_tungstenite() {
    reader_stall_moves_read_lag_not_kernel_latency(RustServer::WsTungstenite, "");
}

#[test]
fn reader_stall_sio_websocket() {
    reader_stall_moves_read_lag_not_kernel_latency(RustServer::SioSocketioxide, "sio");
}

fn check(calm: &SummaryRow, stalled: &SummaryRow) {
    let x = u64::try_from(STALL.as_micros()).unwrap();
    for r in [calm, stalled] {
        assert_eq!((r.lost, r.errors), (0, 0), "{r:#?}");
        assert!(r.delivered >= 11, "3 s at 4/s: {r:#?}");
        assert!(
            !r.notes.contains("user-space clock"),
            "every delivery had a kernel stamp: {r:#?}"
        );
        // no send was held back by the stall
        assert!(r.send_lag_p99_us < x / 5, "{r:#?}");
    }
    let calm_lag = calm.read_lag_p99_us.expect("read lag recorded");
    assert!(
        calm_lag < x / 10,
        "read lag p99 {calm_lag} µs without a stall"
    );
    // every reply was read about STALL after it arrived
    let lag = stalled.read_lag_p99_us.expect("read lag recorded");
    assert!(
        (x * 8 / 10..=x * 3 / 2).contains(&lag),
        "read lag p99 {lag} µs for a {x} µs stall: {stalled:#?}"
    );
    // ... and the latency, taken at the kernel stamp, did not see it
    assert!(
        stalled.lat_p99_us < x / 5 && stalled.lat_max_us < x / 5,
        "kernel-stamped latency p99 {} µs / max {} µs moved with a {x} µs reader stall \
         (without it: p99 {} µs): {stalled:#?}",
        stalled.lat_p99_us,
        stalled.lat_max_us,
        calm.lat_p99_us
    );
    assert!(stalled.lat_uncorrected_p99_us < x / 5, "{stalled:#?}");
}
