//! The `sio-socketioxide` target: socketioxide (WebSocket and long-polling) + the REST routes.
