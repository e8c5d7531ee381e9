//! The raw-target clients (tcp, WebSocket) where no server answers. (The clients against
//! every real server are the protocol contract test, `protocol_contract.rs`.)

#[tokio::test]
async fn a_silent_server_is_a_handshake_timeout() {
    use std::time::Duration;
    use wsbench_loadgen::transport::{Endpoint, SioTransport, TransportError, connect};
    // The kernel completes TCP connects into the backlog; nobody ever answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let host = addr.to_string();
    for endpoint in [
        Endpoint::Tcp(addr),
        Endpoint::Ws {
            addr,
            host: host.clone(),
            path: "/ws".into(),
        },
        Endpoint::Sio {
            addr,
            host: host.clone(),
            transport: SioTransport::Polling,
            auth: None,
            origin: None,
        },
    ] {
        match connect(&endpoint, Duration::from_millis(200)).await {
            Err(TransportError::Handshake { reason, .. }) => {
                assert!(reason.contains("200ms"), "{reason}")
            }
            Err(e) => panic!("{endpoint:?}: expected a handshake timeout, got {e}"),
            Ok(_) => panic!("{endpoint:?}: connected to a silent server"),
        }
    }
    // A port nobody listens on any more: the TCP connect itself fails.
    drop(silent);
    match connect(&Endpoint::Tcp(addr), Duration::from_secs(5)).await {
        Err(TransportError::Connect { endpoint, .. }) => assert_eq!(endpoint, addr.to_string()),
        Err(e) => panic!("expected a connect error, got {e}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}
