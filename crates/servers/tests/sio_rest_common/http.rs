//! A tiny HTTP/1.1 client for the tests (hyper's connection API, one connection per
//! request): REST calls and Engine.IO long-polling.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Every test network await is bounded by this.
pub const STEP: Duration = Duration::from_secs(10);

/// Sends one request and returns (status, body); `None` when the connection fails (used
/// by transport tasks that must end quietly once the server is gone).
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Option<(u16, String)> {
    let fut = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        Some((
            status,
            String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
        ))
    };
    tokio::time::timeout(STEP * 4, fut)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} timed out"))
}

/// Sends one request and returns (status, body); a connection failure fails the test.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<String>,
) -> (u16, String) {
    try_request(addr, method, path, body)
        .await
        .unwrap_or_else(|| panic!("{method} {path}: connection to {addr} failed"))
}

/// GET returning parsed JSON (asserts 200).
pub async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = request(addr, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("JSON body")
}

/// POST a JSON body, returning parsed JSON (asserts 200).
pub async fn post_json(addr: SocketAddr, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, text) = request(addr, "POST", path, Some(body.to_string())).await;
    assert_eq!(status, 200, "POST {path}: {text}");
    serde_json::from_str(&text).expect("JSON body")
}
