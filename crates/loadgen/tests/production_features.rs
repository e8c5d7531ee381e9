//! The production features (`--jwt-secret`, `--rate-limit`, namespaces) through wsbench's
//! own clients, against real servers on loopback: tokens minted by
//! `wsbench_loadgen::credentials` are admitted and bad ones refused (HTTP 401 /
//! CONNECT_ERROR `unauthorized`); over the rate limit every request gets its own
//! `rate limited` answer; the raw paths are separate hubs; one Socket.IO connection follows
//! several namespaces (with its token) and knows which one each delivery came in; a
//! long-polling client on another origin preflights every request and is refused where the
//! server does not allow its origin. The official clients check the same against every
//! target in scripts/peers/node/features.test.js.

mod transport_support;

use transport_support::{T, connect, recv, req, send, start};
use wsbench_loadgen::credentials::{self, TOKEN_TTL_S};
use wsbench_loadgen::transport::{Endpoint, Incoming, OpKind, Outgoing, SioTransport, Transport};
use wsbench_servers::production::{CorsOrigins, JwtAuth, RateLimit};
use wsbench_servers::{RustServer, ServerConfig};

const SECRET: &str = "wsbench-test-secret";

fn with_jwt() -> ServerConfig {
    let mut cfg = ServerConfig::default();
    cfg.production.jwt = Some(JwtAuth::new(SECRET).unwrap());
    cfg
}

/// Connecting must fail; returns the error text.
async fn refused(endpoint: &Endpoint) -> String {
    match wsbench_loadgen::transport::connect(endpoint, T).await {
        Ok(_) => panic!("{endpoint:?} was admitted"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn raw_websocket_targets_admit_minted_tokens_and_answer_401_otherwise() {
    for target in [RustServer::WsTungstenite, RustServer::WsFastwebsockets] {
        let server = start(target, with_jwt()).await;
        let plain = server.raw_endpoint(target);
        let good = credentials::mint(SECRET, "1", TOKEN_TTL_S).unwrap();
        let forged = credentials::mint("another-secret", "1", TOKEN_TTL_S).unwrap();
        let expired = credentials::mint_expired(SECRET, "1").unwrap();
        for bad in [None, Some(forged.as_str()), Some(expired.as_str())] {
            let endpoint = match bad {
                None => plain.clone(),
                Some(t) => credentials::present(plain.clone(), t),
            };
            let e = refused(&endpoint).await;
            assert!(e.contains("401"), "{target:?}: {e}");
        }
        let mut c = connect(&credentials::present(plain, &good)).await;
        send(
            &mut c,
            Outgoing {
                data: Some("{\"x\":1}"),
                ack: Some(1),
                ..req(OpKind::Echo)
            },
        )
        .await;
        assert!(matches!(recv(&mut c).await, Incoming::Ack { ack: 1, .. }));
        server.stop().await;
    }
}

#[tokio::test]
async fn socket_io_admits_minted_tokens_on_every_transport_and_refuses_others() {
    let server = start(RustServer::SioSocketioxide, with_jwt()).await;
    let good = credentials::mint(SECRET, "1", TOKEN_TTL_S).unwrap();
    let expired = credentials::mint_expired(SECRET, "1").unwrap();
    for transport in [
        SioTransport::WebSocket,
        SioTransport::Polling,
        SioTransport::PollingThenUpgrade,
    ] {
        let plain = server.sio_endpoint(transport);
        let e = refused(&plain).await;
        assert!(e.contains("unauthorized"), "{transport:?}: {e}");
        let e = refused(&credentials::present(plain.clone(), &expired)).await;
        assert!(e.contains("unauthorized"), "{transport:?}: {e}");
        let mut c = connect(&credentials::present(plain, &good)).await;
        send(
            &mut c,
            Outgoing {
                data: Some("{\"x\":1}"),
                ack: Some(1),
                ..req(OpKind::Echo)
            },
        )
        .await;
        assert!(
            matches!(recv(&mut c).await, Incoming::Ack { ack: 1, .. }),
            "{transport:?}"
        );
    }
    server.stop().await;
}

/// Sends `n` echoes at once and sorts the `n` answers: (echoed, refused).
async fn burst(endpoint: &Endpoint, n: u64) -> (u64, u64) {
    let mut c = connect(endpoint).await;
    for _ in 0..n {
        send(
            &mut c,
            Outgoing {
                data: Some("{\"x\":1}"),
                ..req(OpKind::Echo)
            },
        )
        .await;
    }
    let (mut echoed, mut refused) = (0, 0);
    for _ in 0..n {
        match recv(&mut c).await {
            Incoming::Msg(_) => echoed += 1,
            Incoming::Error(reason) => {
                assert_eq!(reason, "rate limited");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (echoed, refused)
}

#[tokio::test]
async fn over_the_rate_limit_each_request_is_answered_rate_limited() {
    let rate = 5;
    for target in [
        RustServer::Tcp,
        RustServer::WsTungstenite,
        RustServer::WsFastwebsockets,
        RustServer::SioSocketioxide,
    ] {
        let mut cfg = ServerConfig::default();
        cfg.production.rate_limit = Some(RateLimit { per_sec: rate });
        let server = start(target, cfg).await;
        let endpoint = match target {
            RustServer::SioSocketioxide => server.sio_endpoint(SioTransport::WebSocket),
            _ => server.raw_endpoint(target),
        };
        let (echoed, refused) = burst(&endpoint, u64::from(rate) * 4).await;
        assert!(
            echoed >= u64::from(rate),
            "{target:?}: {echoed} echoed, {refused} refused"
        );
        assert!(
            refused >= u64::from(rate) * 2,
            "{target:?}: {echoed} echoed, {refused} refused"
        );
        // Another connection has its own full bucket.
        let (echoed, refused) = burst(&endpoint, u64::from(rate)).await;
        assert_eq!((echoed, refused), (u64::from(rate), 0), "{target:?}");
        server.stop().await;
    }
}

#[tokio::test]
async fn raw_paths_are_separate_hubs() {
    for target in [RustServer::WsTungstenite, RustServer::WsFastwebsockets] {
        let server = start(target, ServerConfig::default()).await;
        let at = |path: &str| Endpoint::Ws {
            addr: server.addr,
            host: server.addr.to_string(),
            path: path.into(),
        };
        let mut chat = connect(&at("/ws/chat")).await;
        let mut chat2 = connect(&at("/ws/chat")).await;
        let mut main = connect(&at("/ws")).await;
        send(
            &mut chat,
            Outgoing {
                data: Some("{\"n\":1}"),
                ack: Some(7),
                ..req(OpKind::ToAll)
            },
        )
        .await;
        // The sender gets the msg and the ack, the other chat socket the msg.
        for (c, expected) in [(&mut chat, 2), (&mut chat2, 1)] {
            for _ in 0..expected {
                match recv(c).await {
                    Incoming::Ack { ack: 7, .. } => {}
                    Incoming::Msg(m) if m.as_ref() == b"{\"n\":1}" => {}
                    other => panic!("{target:?}: unexpected {other:?}"),
                }
            }
        }
        // The /ws socket got nothing: its next message is its own echo.
        send(
            &mut main,
            Outgoing {
                data: Some("{\"me\":1}"),
                ..req(OpKind::Echo)
            },
        )
        .await;
        assert!(
            matches!(recv(&mut main).await, Incoming::Msg(m) if m.as_ref() == b"{\"me\":1}"),
            "{target:?}: a broadcast on /ws/chat reached /ws"
        );
        let e = refused(&at("/ws/nope")).await;
        assert!(e.contains("404"), "{target:?}: {e}");
        server.stop().await;
    }
}

#[tokio::test]
async fn long_polling_from_another_origin_preflights_every_request() {
    let origin = "http://wsbench.example";
    let mut cfg = ServerConfig::default();
    cfg.production.cors = Some(CorsOrigins::parse(&[origin.to_owned()]).unwrap());
    let server = start(RustServer::SioSocketioxide, cfg).await;
    let from = |o: &str| Endpoint::Sio {
        addr: server.addr,
        host: server.addr.to_string(),
        transport: SioTransport::Polling,
        auth: None,
        origin: Some(o.to_owned()),
    };
    let mut c = connect(&from(origin)).await;
    // the handshake: the open GET, the CONNECT POST, the poll that brought the reply, and
    // the poll already waiting (its preflight may still be on the way)
    let after_connect = c.preflights();
    assert!(after_connect >= 3, "{after_connect} preflights at connect");
    for i in 1..=3u64 {
        send(
            &mut c,
            Outgoing {
                data: Some("{\"x\":1}"),
                ack: Some(i),
                ..req(OpKind::Echo)
            },
        )
        .await;
        assert!(matches!(recv(&mut c).await, Incoming::Ack { ack, .. } if ack == i));
    }
    // each echo: its POST and the poll that brought the ack were preflighted
    assert!(
        c.preflights() >= after_connect + 3,
        "{after_connect} then {}",
        c.preflights()
    );
    // a page on another origin is refused, as a browser would refuse the response
    let e = refused(&from("http://elsewhere.example")).await;
    assert!(e.contains("Access-Control-Allow-Origin"), "{e}");
    server.stop().await;
    // and so is every page when the server has no --cors-origin
    let server = start(RustServer::SioSocketioxide, ServerConfig::default()).await;
    let e = refused(&Endpoint::Sio {
        addr: server.addr,
        host: server.addr.to_string(),
        transport: SioTransport::Polling,
        auth: None,
        origin: Some(origin.to_owned()),
    })
    .await;
    assert!(e.contains("Access-Control-Allow-Origin"), "{e}");
    server.stop().await;
}

#[tokio::test]
async fn one_socket_io_connection_follows_several_namespaces_with_its_token() {
    let server = start(RustServer::SioSocketioxide, with_jwt()).await;
    let good = credentials::mint(SECRET, "1", TOKEN_TTL_S).unwrap();
    let endpoint = credentials::present(server.sio_endpoint(SioTransport::WebSocket), &good);
    let Endpoint::Sio { auth, .. } = &endpoint else {
        unreachable!()
    };
    let more = ["/chat".to_owned(), "/ns/0".to_owned()];
    let mut clients = [connect(&endpoint).await, connect(&endpoint).await];
    clients[0].follow(&more, auth.as_deref(), 1).await.unwrap();
    clients[1].follow(&more, auth.as_deref(), 2).await.unwrap();
    // the first broadcasts in /chat (slot 1), the second in /ns/0 (slot 2): every copy
    // arrives in the slot it was sent in
    for (sender, slot, data) in [(0, 1, "{\"n\":1}"), (1, 2, "{\"n\":2}")] {
        send(
            &mut clients[sender],
            Outgoing {
                data: Some(data),
                ..req(OpKind::ToAll)
            },
        )
        .await;
        for c in &mut clients {
            let got = recv(c).await;
            assert!(
                matches!(&got, Incoming::Msg(m) if m.as_ref() == data.as_bytes()),
                "{got:?}"
            );
            assert_eq!(c.last_ns(), slot);
        }
    }
    // without the token, the extra namespaces refuse the CONNECT
    let mut c = connect(&endpoint).await;
    let e = c.follow(&more, None, 0).await.unwrap_err().to_string();
    assert!(e.contains("unauthorized"), "{e}");
    server.stop().await;
}
