//! The `ws-fastwebsockets` target: axum/hyper 1 upgrade + fastwebsockets frames + the REST routes.
