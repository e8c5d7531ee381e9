//! The services tests need (Redis for the cluster tests), read from the environment the
//! way every test reads them: a test runs against the URL it is given; without one it says
//! `skipped: <test>: <VAR> not set` and passes, unless `WSBENCH_REQUIRE_SERVICES` is set
//! (CI), where a missing service fails the test instead.

/// `REDIS_URL`, or `None` after printing why `test` is skipped; panics under
/// `WSBENCH_REQUIRE_SERVICES` when it is not set.
pub fn redis_url_or_skip(test: &str) -> Option<String> {
    url_or_skip("REDIS_URL", "redis://127.0.0.1:6379", test)
}

fn url_or_skip(var: &str, example: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("WSBENCH_REQUIRE_SERVICES").is_some_and(|v| !v.is_empty()) => {
            panic!("{test}: {var} not set, and WSBENCH_REQUIRE_SERVICES is set")
        }
        _ => {
            println!("skipped: {test}: {var} not set (e.g. {var}={example})");
            None
        }
    }
}
