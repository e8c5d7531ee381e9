//! Socket.IO over Engine.IO HTTP long-polling, as a browser does it: one keep-alive
//! connection carries the long-poll GETs (a task per client feeds a channel, so `recv` is
//! cancel-safe), a second carries the POSTs (a task batches whatever queued up meanwhile into
//! one `\x1e`-joined body, up to the server's `maxPayload`). Pings are answered by POSTing `3`.
//! Each message carries the kernel stamp of the read that completed its poll response.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use wsbench_wire::engineio::{self, Open};

use super::codec::{EioInbound, eio_inbound, push_sio_event};
use super::counted::Counters;
use super::http::HttpConn;
use super::{ByteCounts, Incoming, Outgoing, RxStamp, Transport, TransportError};

/// Messages buffered between the poll task and `recv`, and requests between `send` and
/// the POST task (a full channel pushes back on the sender).
const CHANNEL: usize = 1024;
/// How long `close` waits for the tasks to finish.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Content type of a polling POST (what the JS client sends).
const TEXT_PLAIN: &str = "text/plain;charset=UTF-8";

/// What the POST task sends.
enum Post {
    /// One encoded Engine.IO packet.
    Packet(String),
    /// Engine.IO close (`1`), after which the task ends.
    Close,
}

/// A message and the kernel stamp of the read that completed the poll response it came in.
type InboxItem = Result<(Incoming, Option<RxStamp>), TransportError>;

/// A polling session up to the Socket.IO CONNECT reply (shared with the upgrade path).
pub(crate) struct Session {
    /// Carries the long-poll GETs.
    pub(crate) get: HttpConn,
    /// Carries the POSTs.
    pub(crate) post: HttpConn,
    /// `/socket.io/?EIO=4&transport=polling&sid=…`
    pub(crate) path: String,
    pub(crate) open: Open,
    pub(crate) socket_id: String,
    /// Application messages that came in the same polls as the CONNECT reply.
    pub(crate) early: VecDeque<Incoming>,
    /// Pings answered during the handshake.
    pub(crate) pings: u64,
}

fn handshake(host: &str, reason: String) -> TransportError {
    TransportError::Handshake {
        endpoint: format!("http://{host}/socket.io/ (polling)"),
        reason,
    }
}

fn body_text(body: &Bytes) -> Result<&str, TransportError> {
    std::str::from_utf8(body)
        .map_err(|e| TransportError::Protocol(format!("polling body is not UTF-8: {e}")))
}

/// Opens a polling session: GET the open packet, POST `connect` (the CONNECT packet, `40`
/// or `40{auth}`), poll until the CONNECT reply `40{"sid":…}`. With `origin`, every request
/// is a browser's cross-origin one (`HttpConn::with_origin`: a preflight before each POST).
pub(crate) async fn open_session(
    addr: SocketAddr,
    host: &str,
    counters: &Arc<Counters>,
    connect: &str,
    origin: Option<&str>,
) -> Result<Session, TransportError> {
    let mut get = HttpConn::open(addr, host, counters)
        .await?
        .with_origin(origin);
    let first = format!("/socket.io/?{}", engineio::query("polling", None));
    let (status, body) = get.request(Method::GET, &first, None, Bytes::new()).await?;
    if status != 200 {
        let text = String::from_utf8_lossy(&body);
        return Err(handshake(
            host,
            format!("open answered HTTP {status}: {text}"),
        ));
    }
    let open_json = match engineio::split_payload(body_text(&body)?).next() {
        Some(p) => match engineio::Packet::decode(p) {
            Ok(engineio::Packet::Open(json)) => json,
            other => {
                return Err(handshake(
                    host,
                    format!("expected the open packet, got {other:?}"),
                ));
            }
        },
        None => return Err(handshake(host, "empty open response".into())),
    };
    let open = engineio::Packet::open(open_json).map_err(|e| handshake(host, e.to_string()))?;
    let path = format!(
        "/socket.io/?{}",
        engineio::query("polling", Some(&open.sid))
    );
    let mut post = HttpConn::open(addr, host, counters)
        .await?
        .with_origin(origin);
    post_ok(&mut post, &path, connect).await?;

    let mut early = VecDeque::new();
    let mut pings = 0;
    let mut socket_id = None;
    while socket_id.is_none() {
        let (status, body) = get.request(Method::GET, &path, None, Bytes::new()).await?;
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            return Err(handshake(
                host,
                format!("poll answered HTTP {status}: {text}"),
            ));
        }
        for p in engineio::split_payload(body_text(&body)?) {
            match eio_inbound(&body, p)? {
                EioInbound::Connected(sid) => socket_id = Some(sid),
                EioInbound::Ping => {
                    post_ok(&mut post, &path, "3").await?;
                    pings += 1;
                }
                EioInbound::App(incoming) => early.push_back(incoming),
                EioInbound::Closed(reason) => return Err(handshake(host, reason)),
                EioInbound::Open(_) | EioInbound::Nothing => {}
            }
        }
    }
    let socket_id = socket_id.unwrap_or_default();
    Ok(Session {
        get,
        post,
        path,
        open,
        socket_id,
        early,
        pings,
    })
}

async fn post_ok(conn: &mut HttpConn, path: &str, body: &str) -> Result<(), TransportError> {
    let body = Bytes::copy_from_slice(body.as_bytes());
    match conn
        .request(Method::POST, path, Some(TEXT_PLAIN), body)
        .await?
    {
        (200, _) => Ok(()),
        (status, body) => Err(TransportError::Protocol(format!(
            "polling POST answered HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        ))),
    }
}

/// One Socket.IO client on HTTP long-polling only.
pub struct SioPollingTransport {
    id: String,
    connect_time: Duration,
    counters: Arc<Counters>,
    /// What the poll task decoded (or why it stopped).
    inbox: mpsc::Receiver<InboxItem>,
    /// The stamp of the message `recv` returned last.
    last_rx: Option<RxStamp>,
    /// To the POST task.
    outbox: mpsc::Sender<Post>,
    /// Engine.IO pings received and answered (the poll task counts them).
    pings: watch::Receiver<u64>,
    poller: JoinHandle<()>,
    poster: JoinHandle<()>,
}

impl SioPollingTransport {
    /// Opens the session, then starts the poll and POST tasks.
    /// `connect` is the CONNECT packet (`40` or `40{auth}`); `origin`: browse cross-origin
    /// from there (a CORS preflight before every POST).
    pub async fn connect(
        addr: SocketAddr,
        host: &str,
        connect: &str,
        origin: Option<&str>,
    ) -> Result<SioPollingTransport, TransportError> {
        let started = Instant::now();
        let counters = Arc::new(Counters::default());
        let s = open_session(addr, host, &counters, connect, origin).await?;
        let connect_time = started.elapsed();

        let (inbox_tx, inbox) = mpsc::channel(CHANNEL);
        let early_rx = s.get.last_rx();
        for incoming in s.early {
            let _ = inbox_tx.try_send(Ok((incoming, early_rx)));
        }
        let (outbox, outbox_rx) = mpsc::channel(CHANNEL);
        let (pings_tx, pings) = watch::channel(s.pings);
        let max_payload = usize::try_from(s.open.max_payload).unwrap_or(usize::MAX);
        let poster = tokio::spawn(post_loop(
            s.post,
            s.path.clone(),
            outbox_rx,
            max_payload,
            inbox_tx.clone(),
        ));
        // A poll never legitimately takes longer than a ping interval; allow the timeout too.
        let poll_deadline = Duration::from_millis(s.open.ping_interval + s.open.ping_timeout);
        let poller = tokio::spawn(poll_loop(
            s.get,
            s.path,
            inbox_tx,
            outbox.clone(),
            pings_tx,
            poll_deadline,
        ));
        Ok(SioPollingTransport {
            id: s.socket_id,
            connect_time,
            counters,
            inbox,
            last_rx: None,
            outbox,
            pings,
            poller,
            poster,
        })
    }

    /// Engine.IO pings received and answered so far.
    pub fn pings(&self) -> u64 {
        *self.pings.borrow()
    }

    /// HTTP requests sent so far (handshake, polls and POSTs): batching keeps POSTs below
    /// one per send.
    pub fn requests(&self) -> u64 {
        self.counters.requests()
    }

    /// A watch on the ping count (tests wait on it instead of sleeping).
    pub fn ping_watch(&self) -> watch::Receiver<u64> {
        self.pings.clone()
    }
}

impl Drop for SioPollingTransport {
    fn drop(&mut self) {
        self.poller.abort();
        self.poster.abort();
    }
}

/// POSTs queued packets, batching those that queued up while the previous POST was out.
async fn post_loop(
    mut conn: HttpConn,
    path: String,
    mut rx: mpsc::Receiver<Post>,
    max_payload: usize,
    errors: mpsc::Sender<InboxItem>,
) {
    let mut held: Option<Post> = None;
    loop {
        let first = match held.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let (mut body, mut closing) = match first {
            Post::Packet(p) => (p, false),
            Post::Close => (String::from("1"), true),
        };
        while !closing {
            let next = match rx.try_recv() {
                Ok(next) => next,
                Err(_) => break,
            };
            let len = match &next {
                Post::Packet(p) => p.len(),
                Post::Close => 1,
            };
            if body.len() + 1 + len > max_payload {
                held = Some(next);
                break;
            }
            match next {
                Post::Packet(p) => engineio::push_to_payload(&mut body, &p),
                Post::Close => {
                    engineio::push_to_payload(&mut body, "1");
                    closing = true;
                }
            }
        }
        let result = conn
            .request(Method::POST, &path, Some(TEXT_PLAIN), Bytes::from(body))
            .await;
        let err = match result {
            Ok((200, _)) => None,
            Ok((status, body)) => Some(TransportError::Protocol(format!(
                "polling POST answered HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ))),
            Err(e) => Some(e),
        };
        if let Some(e) = err {
            if !closing {
                let _ = errors.send(Err(e)).await;
            }
            return;
        }
        if closing {
            return;
        }
    }
}

/// Long-polls, answering pings and handing everything else to `recv`.
async fn poll_loop(
    mut conn: HttpConn,
    path: String,
    inbox: mpsc::Sender<InboxItem>,
    pongs: mpsc::Sender<Post>,
    pings: watch::Sender<u64>,
    deadline: Duration,
) {
    let stop = |reason: String| {
        Err(TransportError::Closed {
            reason: Some(reason),
        })
    };
    loop {
        let polled = tokio::time::timeout(
            deadline,
            conn.request(Method::GET, &path, None, Bytes::new()),
        )
        .await;
        let (status, body) = match polled {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = inbox.send(Err(e)).await;
                return;
            }
            Err(_) => {
                let _ = inbox
                    .send(stop(format!("no poll response within {deadline:?}")))
                    .await;
                return;
            }
        };
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            let _ = inbox
                .send(stop(format!("poll answered HTTP {status}: {text}")))
                .await;
            return;
        }
        let stamp = conn.last_rx();
        let text = match body_text(&body) {
            Ok(t) => t,
            Err(e) => {
                let _ = inbox.send(Err(e)).await;
                return;
            }
        };
        for p in engineio::split_payload(text) {
            let item = match eio_inbound(&body, p) {
                Ok(EioInbound::App(incoming)) => Ok((incoming, stamp)),
                Ok(EioInbound::Ping) => {
                    if pongs.send(Post::Packet(String::from("3"))).await.is_err() {
                        return;
                    }
                    pings.send_modify(|n| *n += 1);
                    continue;
                }
                Ok(EioInbound::Closed(reason)) => stop(reason),
                Ok(EioInbound::Open(_) | EioInbound::Connected(_) | EioInbound::Nothing) => {
                    continue;
                }
                Err(e) => Err(e),
            };
            let last = item.is_err();
            if inbox.send(item).await.is_err() || last {
                return;
            }
        }
    }
}

impl Transport for SioPollingTransport {
    fn socket_id(&self) -> &str {
        &self.id
    }

    fn connect_time(&self) -> Duration {
        self.connect_time
    }

    async fn send(&mut self, req: Outgoing<'_>) -> Result<(), TransportError> {
        let mut pkt = String::with_capacity(32 + req.data.map_or(0, str::len));
        push_sio_event(&mut pkt, wsbench_wire::socketio::DEFAULT_NS, &req)?;
        self.outbox
            .send(Post::Packet(pkt))
            .await
            .map_err(|_| TransportError::Closed {
                reason: Some("the polling POST task has stopped".into()),
            })
    }

    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        match self.inbox.recv().await {
            Some(item) => item.map(|(incoming, stamp)| {
                self.last_rx = stamp;
                incoming
            }),
            None => Err(TransportError::Closed { reason: None }),
        }
    }

    fn last_rx(&self) -> Option<RxStamp> {
        self.last_rx
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        // Socket.IO DISCONNECT then Engine.IO close, in one POST when they batch.
        let _ = self.outbox.send(Post::Packet(String::from("41"))).await;
        let _ = self.outbox.send(Post::Close).await;
        let _ = tokio::time::timeout(CLOSE_WAIT, &mut self.poster).await;
        let _ = tokio::time::timeout(CLOSE_WAIT, &mut self.poller).await;
        Ok(())
    }

    fn bytes(&self) -> ByteCounts {
        self.counters.snapshot()
    }

    fn preflights(&self) -> u64 {
        self.counters.preflights()
    }
}
