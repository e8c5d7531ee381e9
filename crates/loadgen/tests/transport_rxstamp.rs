//! Kernel receive stamps through a real transport: a `tcp` client against a hand-driven
//! peer on 127.0.0.1:0, so the test decides exactly how a frame's bytes arrive.
//! - a frame split across two reads takes the second read's stamp (the read that
//!   completed it), not the first's;
//! - two frames that arrived in one read share that read's stamp.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use wsbench_loadgen::transport::tcp::TcpTransport;
use wsbench_loadgen::transport::{Incoming, RxStamp, Transport};

/// Bound on every network await here.
const T: Duration = Duration::from_secs(10);

fn realtime_ns() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// One length-prefixed frame of the `tcp` protocol.
fn frame(json: &str) -> Vec<u8> {
    let mut f = (json.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(json.as_bytes());
    f
}

fn msg(n: u32) -> Vec<u8> {
    frame(&format!(r#"{{"op":"msg","data":{{"n":{n}}}}}"#))
}

/// A connected client and the server side of its socket (welcome sent).
async fn pair() -> (TcpTransport, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = async {
        let (mut s, _) = listener.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(&frame(r#"{"op":"welcome","id":"c1"}"#))
            .await
            .unwrap();
        s
    };
    let (client, server) = tokio::join!(TcpTransport::connect(addr), server);
    (client.expect("connected"), server)
}

async fn recv(t: &mut TcpTransport) -> Incoming {
    tokio::time::timeout(T, t.recv())
        .await
        .expect("a frame within the bound")
        .expect("a frame")
}

/// Sends whole frames until one comes back stamped: the kernel switches stamping on
/// system-wide a moment after the first socket asks, so the first reads may have none.
async fn until_stamped(t: &mut TcpTransport, server: &mut TcpStream) -> RxStamp {
    let deadline = Instant::now() + T;
    for n in 0.. {
        server.write_all(&msg(n)).await.unwrap();
        recv(t).await;
        if let Some(s) = t.last_rx() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "no kernel receive stamp in {n} reads"
        );
        tokio::task::yield_now().await;
    }
    unreachable!()
}

/// Polls `recv` (without waiting) until the client has read `want` bytes in total; the
/// read leaves the partial frame in the transport's buffer (`recv` is cancel-safe).
async fn read_until(t: &mut TcpTransport, want: u64) {
    let deadline = Instant::now() + T;
    while t.bytes().r#in < want {
        assert!(
            t.recv().now_or_never().is_none(),
            "a partial frame was returned as a message"
        );
        assert!(Instant::now() < deadline, "the first half never arrived");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_frame_split_across_two_reads_takes_the_second_reads_stamp() {
    let (mut t, mut server) = pair().await;
    until_stamped(&mut t, &mut server).await;
    let whole = msg(7);
    let (first, second) = whole.split_at(whole.len() / 2);

    server.write_all(first).await.unwrap();
    let want = t.bytes().r#in + first.len() as u64;
    read_until(&mut t, want).await;
    let first_stamp = t.last_rx().expect("the first half's read was stamped");
    let between = realtime_ns();
    server.write_all(second).await.unwrap();
    let got = recv(&mut t).await;
    assert_eq!(got, Incoming::Msg(bytes::Bytes::from_static(br#"{"n":7}"#)));
    let stamp = t.last_rx().expect("the second half's read was stamped");
    assert!(
        first_stamp.realtime_ns <= between && between <= stamp.realtime_ns,
        "first read {first_stamp:?}, second write at {between}, frame stamped {stamp:?}"
    );
}

#[tokio::test]
async fn frames_that_arrived_in_one_read_share_its_stamp() {
    let (mut t, mut server) = pair().await;
    let earlier = until_stamped(&mut t, &mut server).await;
    let before = realtime_ns();
    let mut both = msg(1);
    both.extend_from_slice(&msg(2));
    server.write_all(&both).await.unwrap();
    recv(&mut t).await;
    let first = t.last_rx().expect("stamped");
    recv(&mut t).await;
    let second = t.last_rx().expect("stamped");
    assert!(first.realtime_ns >= before && first > earlier, "{first:?}");
    assert_eq!(
        first, second,
        "the second frame was decoded from the same read"
    );
}
