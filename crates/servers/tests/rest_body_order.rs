//! Dashboard bodies byte for byte: GET, the POST reply and the push (REST pusher and the
//! Socket.IO `update` event) are one text, `{"version":V,"value":…,"written_at":T}` in
//! docs/design.md §4 key order, with the writer's value as sent (key order kept, whitespace
//! dropped). On SQLite, and on PostgreSQL when `DATABASE_URL` is set.

mod postgres_env;
mod sio_rest_common;

use serde_json::json;
use wsbench_servers::config::DatabaseConfig;

use sio_rest_common::http::{STEP, request};
use sio_rest_common::sio_client::{SioClient, SioPacket, Transport};
use sio_rest_common::{RestServer, sio_config, start_sio};

/// A body whose value has keys out of alphabetical order and insignificant whitespace.
const POST_BODY: &str =
    r#"{ "value" : { "z" : 1, "a" : [true, "x y"], "m": {"b": null, "a": 2.5} } }"#;
/// That value as every dashboard body must carry it.
const VALUE: &str = r#"{"z":1,"a":[true,"x y"],"m":{"b":null,"a":2.5}}"#;

/// Checks `text` is exactly `{"version":version,"value":VALUE,"written_at":T}` and returns T.
fn written_at(text: &str, version: i64) -> i64 {
    let prefix = format!(r#"{{"version":{version},"value":{VALUE},"written_at":"#);
    let t = text
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not a documented-order row of version {version}: {text}"));
    assert!(t.bytes().all(|b| b.is_ascii_digit()), "written_at: {text}");
    t.parse().expect("written_at")
}

async fn bodies_are_byte_exact(db: &DatabaseConfig) {
    let mut server = RestServer::start(db).await;
    let (status, initial) = request(server.addr, "GET", "/api/dashboard", None).await;
    assert_eq!(status, 200);
    assert_eq!(initial, r#"{"version":0,"value":null,"written_at":0}"#);

    let (status, post) = request(
        server.addr,
        "POST",
        "/api/dashboard",
        Some(POST_BODY.into()),
    )
    .await;
    assert_eq!(status, 200, "{post}");
    assert!(written_at(&post, 1) > 1_600_000_000_000_000_000, "{post}");
    let pushed = tokio::time::timeout(STEP, server.pushes.recv())
        .await
        .expect("push timed out")
        .expect("pusher dropped");
    assert_eq!(pushed, post, "the push is the POST reply, byte for byte");

    let (status, get) = request(server.addr, "GET", "/api/dashboard", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        get, post,
        "GET returns the row the POST wrote, byte for byte"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_get_post_and_push_bodies_are_byte_exact() {
    bodies_are_byte_exact(&DatabaseConfig::SqliteTemp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_get_post_and_push_bodies_are_byte_exact() {
    if let Some(url) =
        postgres_env::postgres_url("postgres_get_post_and_push_bodies_are_byte_exact")
    {
        bodies_are_byte_exact(&DatabaseConfig::Postgres(url)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sio_update_event_carries_the_post_body_byte_for_byte() {
    let server = start_sio(sio_config()).await;
    let mut viewer = SioClient::connect(server.addr, Transport::WebSocket).await;
    viewer.call("join", &[json!("dashboard")]).await;
    let (status, post) = request(
        server.addr,
        "POST",
        "/api/dashboard",
        Some(POST_BODY.into()),
    )
    .await;
    assert_eq!(status, 200, "{post}");
    written_at(&post, 1);
    match viewer.next().await {
        SioPacket::Event { name, raw, .. } if name == "update" => {
            assert_eq!(raw, format!(r#"42["update",{post}]"#));
        }
        other => panic!("expected update, got {other:?}"),
    }
    let (_, get) = request(server.addr, "GET", "/api/dashboard", None).await;
    assert_eq!(get, post);
    viewer.close().await;
    server.stop().await;
}
