//! The `tcp` floor client: length-prefixed JSON frames (`wsbench_wire::tcp`) on a plain TCP
//! connection. Reads go through one buffer split into shared frames; writes reuse one buffer
//! and go out in one `write_all` per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

use super::codec::{app_incoming, app_welcome, push_app_request};
use super::counted::{CountedStream, Counters, dial};
use super::{ByteCounts, Incoming, Outgoing, RxStamp, Transport, TransportError};

/// Largest frame the client accepts from a server.
const MAX_FRAME: usize = 64 << 20;
/// Bytes reserved before each read.
const READ_CHUNK: usize = 8 << 10;
/// How long `close` waits for the server to close its side.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// One connection to a `tcp` target.
pub struct TcpTransport {
    stream: CountedStream,
    counters: Arc<Counters>,
    /// Splits the read buffer into frames.
    decoder: LengthDelimitedCodec,
    /// Bytes read and not yet decoded (partial frames survive a cancelled `recv`).
    rbuf: BytesMut,
    /// The request's JSON, reused between sends.
    json: String,
    /// Length prefix + JSON, written in one call.
    wbuf: Vec<u8>,
    id: String,
    connect_time: Duration,
}

impl TcpTransport {
    /// Connects and waits for the welcome.
    pub async fn connect(addr: SocketAddr) -> Result<TcpTransport, TransportError> {
        let started = Instant::now();
        let counters = Arc::new(Counters::default());
        let stream = dial(addr, &counters).await?;
        let mut t = TcpTransport {
            stream,
            counters,
            decoder: wsbench_wire::tcp::codec(MAX_FRAME),
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            json: String::with_capacity(256),
            wbuf: Vec::with_capacity(256),
            id: String::new(),
            connect_time: Duration::ZERO,
        };
        let welcome = t
            .next_frame()
            .await
            .map_err(|e| TransportError::Handshake {
                endpoint: format!("tcp://{addr}"),
                reason: format!("no welcome: {e}"),
            })?;
        t.id = app_welcome(&welcome)?;
        t.connect_time = started.elapsed();
        Ok(t)
    }

    /// Next frame; cancel-safe (`read_buf` either reads into `rbuf` or does nothing).
    async fn next_frame(&mut self) -> Result<bytes::Bytes, TransportError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.rbuf).map_err(frame_error)? {
                return Ok(frame.freeze());
            }
            self.rbuf.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(TransportError::Closed { reason: None });
            }
        }
    }
}

fn frame_error(e: std::io::Error) -> TransportError {
    TransportError::Protocol(format!("bad tcp frame: {e}"))
}

impl Transport for TcpTransport {
    fn socket_id(&self) -> &str {
        &self.id
    }

    fn connect_time(&self) -> Duration {
        self.connect_time
    }

    async fn send(&mut self, req: Outgoing<'_>) -> Result<(), TransportError> {
        self.json.clear();
        push_app_request(&mut self.json, &req)?;
        self.wbuf.clear();
        self.wbuf.put_u32(self.json.len() as u32);
        self.wbuf.extend_from_slice(self.json.as_bytes());
        self.stream.write_all(&self.wbuf).await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        loop {
            let frame = self.next_frame().await?;
            if let Some(incoming) = app_incoming(frame)? {
                return Ok(incoming);
            }
        }
    }

    fn last_rx(&self) -> Option<RxStamp> {
        self.stream.last_rx()
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        self.stream.shutdown().await?;
        // Wait for the server's side to close too; what it still sends is discarded.
        let drain = async {
            loop {
                self.rbuf.clear();
                self.rbuf.reserve(READ_CHUNK);
                if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                    return Ok::<(), std::io::Error>(());
                }
            }
        };
        match tokio::time::timeout(CLOSE_WAIT, drain).await {
            Ok(r) => Ok(r?),
            Err(_) => Ok(()),
        }
    }

    fn bytes(&self) -> ByteCounts {
        self.counters.snapshot()
    }
}
