//! REST routes on PostgreSQL (`DATABASE_URL`): counts (app == engine == requests) on a
//! table unique to the server instance, dropped afterwards. Without `DATABASE_URL` the tests
//! print "skipped: … DATABASE_URL not set" and return (they fail instead when
//! `WSBENCH_REQUIRE_SERVICES` is set); with it set, an unreachable server fails them.

mod postgres_env;
mod sio_rest_common;

use std::time::Duration;

use serde_json::json;
use wsbench_servers::config::DatabaseConfig;
use wsbench_servers::db::Db;

use sio_rest_common::RestServer;
use sio_rest_common::http::{get_json, request};

fn database(test: &str) -> Option<DatabaseConfig> {
    postgres_env::postgres_url(test).map(DatabaseConfig::Postgres)
}

/// Which of `tables` exist right now (through a separate connection).
async fn existing(url: &str, tables: &[String]) -> Vec<String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE tablename = ANY($1)",
            &[&tables],
        )
        .await
        .expect("list tables");
    rows.iter().map(|r| r.get(0)).collect()
}

fn table_of(server: &RestServer) -> String {
    match server.db() {
        Db::Postgres(pg) => pg.table().to_owned(),
        Db::Sqlite(_) => panic!("not a PostgreSQL server"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_counts_every_statement_twice() {
    let Some(db) = database("postgres_counts_every_statement_twice") else {
        return;
    };
    let mut server = RestServer::start(&db).await;
    let stats = get_json(server.addr, "/api/stats").await;
    let source = stats["engine_count_source"]
        .as_str()
        .expect("source")
        .to_owned();
    println!("engine_count_source: {source}");
    assert!(
        source == "pg_stat_statements" || source == "pg_stat_user_tables",
        "{stats}"
    );
    assert_eq!(stats["db_queries"], 0, "setup is not counted: {stats}");
    assert_eq!(
        stats["db_queries_engine"], 0,
        "setup is not counted: {stats}"
    );
    let initial = get_json(server.addr, "/api/dashboard").await;
    assert_eq!(
        initial,
        json!({"version": 0, "value": null, "written_at": 0})
    );
    sio_rest_common::check_counts(&mut server, 9, 6).await;
    // A second round after another reset counts from zero again.
    sio_rest_common::check_counts(&mut server, 4, 3).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_servers_never_mix_counts() {
    let Some(db) = database("postgres_concurrent_servers_never_mix_counts") else {
        return;
    };
    let DatabaseConfig::Postgres(url) = db.clone() else {
        unreachable!()
    };
    let mut a = RestServer::start(&db).await;
    let b = RestServer::start(&db).await;
    request(a.addr, "POST", "/api/stats/reset", None).await;
    request(b.addr, "POST", "/api/stats/reset", None).await;
    for _ in 0..5 {
        get_json(b.addr, "/api/dashboard").await;
    }
    let a_stats = get_json(a.addr, "/api/stats").await;
    assert_eq!(
        a_stats["db_queries_engine"], 0,
        "b's queries leaked into a: {a_stats}"
    );
    let b_stats = get_json(b.addr, "/api/stats").await;
    assert_eq!(b_stats["db_queries_engine"], 5, "{b_stats}");
    sio_rest_common::check_counts(&mut a, 2, 2).await;
    let tables = vec![table_of(&a), table_of(&b)];
    assert_ne!(tables[0], tables[1], "one table per server");
    assert_eq!(existing(&url, &tables).await.len(), 2, "{tables:?}");
    a.stop().await;
    // b is dropped without close(): its table goes anyway.
    drop(b);
    let left = tokio::time::timeout(Duration::from_secs(10), existing(&url, &tables))
        .await
        .expect("list tables");
    assert!(left.is_empty(), "tables left behind: {left:?}");
}
