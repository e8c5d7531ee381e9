//! Namespaces: the Socket.IO targets serve `/`, `/chat`, `/admin` and `/notifications`, and
//! the generic `/ns/0` … `/ns/11`, each with the full op set; the raw WebSocket targets
//! mirror them as the paths `/ws`, `/ws/chat`, `/ws/admin`, `/ws/notifications` and
//! `/ws/ns/0` …, one room hub each. Broadcasts, rooms and socket ids stay inside their
//! namespace. Always on (an unused namespace holds no socket). The names are the scenario
//! crate's (`wsbench_scenario::features`), so the load generator's `namespaces = K` and the
//! servers agree. The tcp target has no paths: it serves the one hub of `/ws`'s meaning.

use wsbench_scenario::features::{MAX_NAMESPACES, namespace, raw_path};

/// The Socket.IO namespaces every Socket.IO target serves, `/` first.
pub fn namespaces() -> impl Iterator<Item = String> {
    (0..MAX_NAMESPACES).filter_map(namespace)
}

/// The raw WebSocket paths, in the order of [`namespaces`], `/ws` first.
pub fn raw_paths() -> impl Iterator<Item = String> {
    (0..MAX_NAMESPACES).filter_map(raw_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths_mirror_namespaces() {
        let ns: Vec<String> = namespaces().collect();
        let raw: Vec<String> = raw_paths().collect();
        assert_eq!(ns.len(), 16);
        assert_eq!(raw.len(), 16);
        assert_eq!(ns[..4], ["/", "/chat", "/admin", "/notifications"]);
        assert_eq!(
            raw[..4],
            ["/ws", "/ws/chat", "/ws/admin", "/ws/notifications"]
        );
        assert_eq!((ns[4].as_str(), raw[15].as_str()), ("/ns/0", "/ws/ns/11"));
    }
}
