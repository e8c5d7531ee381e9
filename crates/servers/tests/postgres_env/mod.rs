//! Where the PostgreSQL tests find their database, and what they do without one.
//!
//! Every test that needs PostgreSQL has `postgres` in its name, so `scripts/test.sh` can leave
//! them out by name (nextest then counts them as skipped in its summary) when `DATABASE_URL`
//! is unset. Run by hand without `DATABASE_URL`, such a test prints
//! `skipped: <test>: DATABASE_URL not set` and returns. With `WSBENCH_REQUIRE_SERVICES` set
//! (CI) it never skips: a missing `DATABASE_URL` fails it, and so does a server that does not
//! answer. Shared by the servers' and the load generator's tests.

/// The PostgreSQL URL from `DATABASE_URL`, or `None` (after printing why) when the test is
/// to be skipped. Panics when `WSBENCH_REQUIRE_SERVICES` is set and there is no URL, and
/// when `test` (the calling test's name) lacks `postgres`.
pub fn postgres_url(test: &str) -> Option<String> {
    assert!(
        test.contains("postgres"),
        "{test}: a test that needs PostgreSQL must have `postgres` in its name \
         (scripts/test.sh leaves such tests out by name without DATABASE_URL)"
    );
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if services_required() => panic!(
            "{test}: DATABASE_URL not set, and WSBENCH_REQUIRE_SERVICES is set: \
             the PostgreSQL tests must run here"
        ),
        _ => {
            println!("skipped: {test}: DATABASE_URL not set (set it to run on PostgreSQL)");
            None
        }
    }
}

fn services_required() -> bool {
    std::env::var_os("WSBENCH_REQUIRE_SERVICES").is_some_and(|v| !v.is_empty())
}
