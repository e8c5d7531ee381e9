//! The fault proxy over real sockets (`wsbench_loadgen::faultproxy`): it really delays,
//! keeps order under jitter, caps bandwidth, stalls and resets. Every time bound here is a
//! lower bound the proxy must hold (a byte cannot come back sooner than the delay allows),
//! never a speed the machine must reach.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsbench_loadgen::faultproxy::FaultProxy;
use wsbench_scenario::network::{NetworkFaults, Stall};

/// Bounds every wait of these tests.
const BOUND: Duration = Duration::from_secs(20);

/// A TCP echo server on 127.0.0.1:0; each accepted socket is reported on the channel.
async fn echo_server() -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = tx.send(());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// Writes `msg`, reads the same number of bytes back; returns them and the round trip.
async fn round_trip(c: &mut TcpStream, msg: &[u8]) -> (Vec<u8>, Duration) {
    let t0 = Instant::now();
    c.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(BOUND, c.read_exact(&mut back))
        .await
        .expect("echo within the bound")
        .unwrap();
    (back, t0.elapsed())
}

#[tokio::test]
async fn a_round_trip_takes_at_least_twice_the_delay() {
    let (server, _) = echo_server().await;
    let delay = Duration::from_millis(40);
    let proxy = FaultProxy::start(
        server,
        NetworkFaults {
            delay,
            ..NetworkFaults::default()
        },
        1,
    )
    .unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    for i in 0..3u8 {
        let (back, rtt) = round_trip(&mut c, &[i; 10]).await;
        assert_eq!(back, [i; 10]);
        assert!(rtt >= 2 * delay, "round trip {rtt:?} < 2 × {delay:?}");
    }
    assert_eq!(proxy.counts().connections, 1);
}

#[tokio::test]
async fn jitter_never_reorders_bytes() {
    let (server, _) = echo_server().await;
    let proxy = FaultProxy::start(
        server,
        NetworkFaults {
            delay: Duration::from_millis(2),
            jitter: Duration::from_millis(20),
            ..NetworkFaults::default()
        },
        7,
    )
    .unwrap();
    let c = TcpStream::connect(proxy.addr()).await.unwrap();
    c.set_nodelay(true).unwrap();
    let (mut r, mut w) = c.into_split();
    // many small writes, each a separate chunk for the proxy, each with its own jitter
    let writer = tokio::spawn(async move {
        for i in 0..400u32 {
            w.write_all(&i.to_be_bytes()).await.unwrap();
            if i % 40 == 0 {
                tokio::task::yield_now().await;
            }
        }
        w
    });
    let mut back = vec![0u8; 400 * 4];
    tokio::time::timeout(BOUND, r.read_exact(&mut back))
        .await
        .expect("all bytes back")
        .unwrap();
    let got: Vec<u32> = back
        .chunks(4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..400).collect::<Vec<_>>());
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn the_bandwidth_cap_holds_a_transfer_back() {
    // a sink that reports when it has all the bytes
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    const TOTAL: usize = 30_000;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; TOTAL];
        s.read_exact(&mut buf).await.unwrap();
        let _ = done_tx.send((Instant::now(), buf));
    });
    let kbps = 240; // 30,000 bytes/s
    let proxy = FaultProxy::start(
        server,
        NetworkFaults {
            bandwidth_kbps: Some(kbps),
            ..NetworkFaults::default()
        },
        1,
    )
    .unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let t0 = Instant::now();
    c.write_all(&data).await.unwrap();
    let (at, got) = tokio::time::timeout(BOUND, done_rx)
        .await
        .expect("transfer within the bound")
        .unwrap();
    assert_eq!(got, data);
    // the first piece (one segment, 1,400 bytes) may leave at once; the rest is paced
    let floor = Duration::from_secs_f64((TOTAL - 1_400) as f64 * 8.0 / (kbps as f64 * 1000.0));
    let took = at - t0;
    assert!(
        took >= floor,
        "{TOTAL} bytes in {took:?}, under the cap's {floor:?}"
    );
}

#[tokio::test]
async fn nothing_moves_during_a_stall() {
    let (server, _) = echo_server().await;
    let length = Duration::from_millis(150);
    let proxy = FaultProxy::start(
        server,
        NetworkFaults {
            stall: Some(Stall {
                every: Duration::from_millis(250),
                length,
            }),
            ..NetworkFaults::default()
        },
        1,
    )
    .unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    proxy.arm();
    let mut stalled = proxy.stalled();
    for i in 0..2u8 {
        // wait for a stall to begin, then send into it
        tokio::time::timeout(BOUND, stalled.wait_for(|s| *s))
            .await
            .expect("a stall begins")
            .unwrap();
        let began = proxy
            .last_stall_start()
            .expect("the stall's start is recorded");
        let (back, _) = round_trip(&mut c, &[i; 4]).await;
        assert_eq!(back, [i; 4]);
        let since = began.elapsed();
        assert!(
            since >= length,
            "echo {since:?} after the stall began, under its {length:?}"
        );
        // let this stall end before waiting for the next one
        tokio::time::timeout(BOUND, stalled.wait_for(|s| !*s))
            .await
            .expect("the stall ends")
            .unwrap();
    }
    assert!(proxy.counts().stalls >= 2, "{:?}", proxy.counts());
}

#[tokio::test]
async fn a_reset_reaches_both_ends_and_is_counted() {
    // the server side keeps its accepted socket to see what becomes of it
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let (side_tx, side_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut b = [0u8; 16];
        let _ = side_tx.send(s.read(&mut b).await.map(|_| ()));
    });
    let proxy = FaultProxy::start(
        server,
        NetworkFaults {
            reset_every: Some(Duration::from_millis(200)),
            ..NetworkFaults::default()
        },
        1,
    )
    .unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    proxy.arm();
    let mut b = [0u8; 16];
    let client_side = tokio::time::timeout(BOUND, c.read(&mut b))
        .await
        .expect("the reset comes within the bound");
    let e = client_side.expect_err("the client is reset, not closed");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    let server_side = tokio::time::timeout(BOUND, side_rx)
        .await
        .expect("the server side ends")
        .unwrap();
    let e = server_side.expect_err("the server is reset, not closed");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    assert_eq!(proxy.counts().resets, 1);
}
