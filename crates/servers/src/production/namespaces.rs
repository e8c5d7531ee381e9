//! Namespaces: the Socket.IO targets serve `/`, `/chat`, `/admin` and `/notifications`, each
//! with the full op set; the raw WebSocket targets mirror them as the paths `/ws`,
//! `/ws/chat`, `/ws/admin` and `/ws/notifications`, one room hub each. Broadcasts, rooms and
//! socket ids stay inside their namespace. Always on (an unused namespace costs nothing).
//! The tcp target has no paths: it serves the one hub of `/ws`'s meaning.

/// The Socket.IO namespaces every Socket.IO target serves.
pub const NAMESPACES: [&str; 4] = ["/", "/chat", "/admin", "/notifications"];

/// The raw WebSocket paths, in the order of [`NAMESPACES`].
pub const RAW_PATHS: [&str; 4] = ["/ws", "/ws/chat", "/ws/admin", "/ws/notifications"];

/// The raw path that mirrors Socket.IO namespace `ns`.
pub fn raw_path(ns: &str) -> Option<&'static str> {
    NAMESPACES
        .iter()
        .position(|n| *n == ns)
        .map(|i| RAW_PATHS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths_mirror_namespaces() {
        assert_eq!(raw_path("/"), Some("/ws"));
        assert_eq!(raw_path("/notifications"), Some("/ws/notifications"));
        assert_eq!(raw_path("/nope"), None);
    }
}
