//! HTTP/1.1 keep-alive client connections on counted streams (hyper 1 `client::conn`):
//! `HttpConn` serves the Engine.IO long-polling client, [`HttpClient`] the REST calls of
//! the polling-vs-push workload (`GET /api/dashboard`, `POST /api/dashboard`, `GET /api/stats`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    AUTHORIZATION, CONTENT_TYPE, ETAG, HOST, HeaderName, IF_NONE_MATCH, ORIGIN,
};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use super::counted::{Counters, dial};
use super::rxstamp::{RxCell, RxStamp};
use super::{ByteCounts, TransportError};

/// One keep-alive HTTP/1.1 connection (requests go one at a time). It reopens itself once
/// if the server closed it between requests. With an origin ([`HttpConn::with_origin`]) it
/// behaves as a browser page on that origin whose requests are not "simple" (engine.io-client
/// with `extraHeaders`, here `Authorization`): every request carries `Origin` and the
/// header, and waits for an `OPTIONS` preflight first (no preflight is cached: the browser
/// client's `t=` cache-buster makes every polling URL new); a preflight or response without
/// the matching `Access-Control-Allow-Origin` is refused, as a browser refuses it.
pub(crate) struct HttpConn {
    addr: SocketAddr,
    /// The `Host` header (hyper's connection-level client does not add one).
    host: String,
    sender: SendRequest<Full<Bytes>>,
    counters: Arc<Counters>,
    /// The kernel stamp of the connection's last read (its stream lives in hyper's task).
    rx: Arc<RxCell>,
    /// The page's origin, for cross-origin requests (`None`: same-origin).
    origin: Option<String>,
}

type Sender = (SendRequest<Full<Bytes>>, Arc<RxCell>);

/// Drives one connection in its own task until the sender side is dropped.
async fn open_sender(addr: SocketAddr, counters: &Arc<Counters>) -> Result<Sender, TransportError> {
    let stream = dial(addr, counters).await?;
    let rx = stream.rx_cell();
    let (sender, conn) =
        http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| TransportError::Handshake {
                endpoint: format!("http://{addr}"),
                reason: e.to_string(),
            })?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server closes it; either
        // way the next request reports it.
        let _ = conn.await;
    });
    Ok((sender, rx))
}

fn http_error(method: &Method, path: &str, e: hyper::Error) -> TransportError {
    if e.is_closed() || e.is_incomplete_message() || e.is_canceled() {
        TransportError::Closed {
            reason: Some(format!("HTTP {method} {path}: {e}")),
        }
    } else {
        TransportError::Protocol(format!("HTTP {method} {path}: {e}"))
    }
}

impl HttpConn {
    pub(crate) async fn open(
        addr: SocketAddr,
        host: &str,
        counters: &Arc<Counters>,
    ) -> Result<HttpConn, TransportError> {
        let (sender, rx) = open_sender(addr, counters).await?;
        Ok(HttpConn {
            addr,
            host: host.to_owned(),
            sender,
            counters: counters.clone(),
            rx,
            origin: None,
        })
    }

    /// Makes every later request a cross-origin one from `origin` (see [`HttpConn`]).
    pub(crate) fn with_origin(mut self, origin: Option<&str>) -> HttpConn {
        self.origin = origin.map(str::to_owned);
        self
    }

    /// The preflight a browser sends before a non-simple `method` request to `path`:
    /// `OPTIONS` with `Origin`, `Access-Control-Request-Method` and the extra header among
    /// `Access-Control-Request-Headers`; it must be allowed for `origin`.
    async fn preflight(
        &mut self,
        method: &Method,
        path: &str,
        origin: &str,
    ) -> Result<(), TransportError> {
        let headers = [
            (ORIGIN, origin),
            (ACCESS_CONTROL_REQUEST_METHOD, method.as_str()),
            (ACCESS_CONTROL_REQUEST_HEADERS, "authorization"),
        ];
        let resp = self
            .send(Method::OPTIONS, path, None, &headers, Bytes::new())
            .await?;
        self.counters.count_preflight();
        let status = resp.status().as_u16();
        let allowed = allows(&resp, origin);
        resp.into_body()
            .collect()
            .await
            .map_err(|e| http_error(&Method::OPTIONS, path, e))?;
        if !(200..300).contains(&status) || !allowed {
            return Err(TransportError::Protocol(format!(
                "CORS preflight of {method} {path} from {origin} refused (HTTP {status}, \
                 Access-Control-Allow-Origin {})",
                if allowed {
                    "matches"
                } else {
                    "missing or another origin"
                }
            )));
        }
        Ok(())
    }

    /// The kernel stamp of the last read: after [`HttpConn::request`], of the read that
    /// completed the response body.
    pub(crate) fn last_rx(&self) -> Option<RxStamp> {
        self.rx.get()
    }

    /// Sends one request and reads the whole response body.
    pub(crate) async fn request(
        &mut self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), TransportError> {
        let origin = self.origin.clone();
        let cross_origin;
        let headers: &[(HeaderName, &str)] = match origin.as_deref() {
            Some(o) => {
                self.preflight(&method, path_and_query, o).await?;
                cross_origin = [(ORIGIN, o), (AUTHORIZATION, EXTRA_HEADER)];
                &cross_origin
            }
            None => &[],
        };
        let resp = self
            .send(method.clone(), path_and_query, content_type, headers, body)
            .await?;
        if let Some(o) = origin.as_deref()
            && !allows(&resp, o)
        {
            return Err(TransportError::Protocol(format!(
                "HTTP {method} {path_and_query} from {o}: no matching \
                 Access-Control-Allow-Origin (a browser would not read the response)"
            )));
        }
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| http_error(&method, path_and_query, e))?
            .to_bytes();
        Ok((status, body))
    }

    /// Sends one request with `headers` and returns the response as it starts (the body
    /// still to be read from the connection).
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&str>,
        headers: &[(HeaderName, &str)],
        body: Bytes,
    ) -> Result<hyper::Response<hyper::body::Incoming>, TransportError> {
        if self.sender.is_closed() {
            (self.sender, self.rx) = open_sender(self.addr, &self.counters).await?;
        }
        self.sender
            .ready()
            .await
            .map_err(|e| http_error(&method, path_and_query, e))?;
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path_and_query)
            .header(HOST, self.host.as_str());
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        let req = req.body(Full::new(body)).map_err(|e| {
            TransportError::Protocol(format!("HTTP {method} {path_and_query}: bad request: {e}"))
        })?;
        self.counters.count_request();
        let resp = match self.sender.try_send_request(req).await {
            Ok(resp) => resp,
            // The server closed the idle keep-alive connection (Node does after 5 s) before
            // the request went out: send it again on a fresh connection, as browsers do.
            Err(mut e)
                if e.message().is_some() && (e.error().is_closed() || e.error().is_canceled()) =>
            {
                let req = e
                    .take_message()
                    .ok_or_else(|| http_error(&method, path_and_query, e.into_error()))?;
                (self.sender, self.rx) = open_sender(self.addr, &self.counters).await?;
                self.sender
                    .ready()
                    .await
                    .map_err(|e| http_error(&method, path_and_query, e))?;
                self.sender
                    .send_request(req)
                    .await
                    .map_err(|e| http_error(&method, path_and_query, e))?
            }
            Err(e) => return Err(http_error(&method, path_and_query, e.into_error())),
        };
        Ok(resp)
    }
}

/// The extra header of a cross-origin page's requests (what makes them non-simple; the
/// servers read no credentials from it).
const EXTRA_HEADER: &str = "Bearer wsbench-cors";

/// Whether `resp` lets a page on `origin` read it (`Access-Control-Allow-Origin` is the
/// origin or `*`).
fn allows<B>(resp: &hyper::Response<B>, origin: &str) -> bool {
    resp.headers()
        .get(ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == origin || v == "*")
}

/// Reads the byte counts of an [`HttpClient`] from elsewhere (e.g. at the edges of a
/// measure window while a long-poll hangs).
#[derive(Debug, Clone)]
pub struct ByteMeter(Arc<Counters>);

impl ByteMeter {
    /// Bytes moved so far.
    pub fn bytes(&self) -> ByteCounts {
        self.0.snapshot()
    }
}

/// A REST client on one keep-alive HTTP/1.1 connection, counting its bytes.
pub struct HttpClient {
    conn: HttpConn,
    counters: Arc<Counters>,
}

impl HttpClient {
    /// Opens the connection to `addr`; `host` is the `Host` header (`127.0.0.1:port`).
    pub async fn connect(addr: SocketAddr, host: &str) -> Result<HttpClient, TransportError> {
        let counters = Arc::new(Counters::default());
        let conn = HttpConn::open(addr, host, &counters).await?;
        Ok(HttpClient { conn, counters })
    }

    /// `GET path` → (status, body).
    pub async fn get_json(&mut self, path: &str) -> Result<(u16, Bytes), TransportError> {
        self.conn
            .request(Method::GET, path, None, Bytes::new())
            .await
    }

    /// A conditional `GET path` (`If-None-Match: etag` when given) → (status, the
    /// response's `ETag`, body). A 304 has an empty body.
    pub async fn get_conditional(
        &mut self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<(u16, Option<String>, Bytes), TransportError> {
        let headers: Vec<(HeaderName, &str)> =
            etag.into_iter().map(|e| (IF_NONE_MATCH, e)).collect();
        let resp = self
            .conn
            .send(Method::GET, path, None, &headers, Bytes::new())
            .await?;
        let status = resp.status().as_u16();
        let tag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| http_error(&Method::GET, path, e))?
            .to_bytes();
        Ok((status, tag, body))
    }

    /// `GET path` whose body is read as it comes (a `text/event-stream`): (status, body).
    pub async fn get_stream(
        &mut self,
        path: &str,
    ) -> Result<(u16, hyper::body::Incoming), TransportError> {
        let resp = self
            .conn
            .send(Method::GET, path, None, &[], Bytes::new())
            .await?;
        Ok((resp.status().as_u16(), resp.into_body()))
    }

    /// `POST path` with a JSON body → (status, body).
    pub async fn post_json(
        &mut self,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Result<(u16, Bytes), TransportError> {
        self.conn
            .request(Method::POST, path, Some("application/json"), body.into())
            .await
    }

    /// The kernel stamp of the read that completed the last response (`None`: unstamped).
    pub fn last_rx(&self) -> Option<RxStamp> {
        self.conn.last_rx()
    }

    /// Bytes moved on this client's connections so far.
    pub fn bytes(&self) -> ByteCounts {
        self.counters.snapshot()
    }

    /// A handle that reads this client's byte counts while a request is out.
    pub fn meter(&self) -> ByteMeter {
        ByteMeter(self.counters.clone())
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests()
    }
}
