//! The `ws-tungstenite` target: axum `extract::ws` (tokio-tungstenite) + the REST routes.
