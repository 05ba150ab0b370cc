//! The storage conformance suite against PostgreSQL.
//!
//! Reads the server URL from `MARKETINGFORCE_TEST_POSTGRES_URL` (skipped, saying so, when it is
//! unset) and works in the schema named by `MARKETINGFORCE_TEST_POSTGRES_SCHEMA`, or a fresh
//! `mf_test_<random>` schema per test process.

use std::sync::{Arc, OnceLock};

use marketingforce_core::storage::postgres::PostgresOptions;
use marketingforce_core::storage::{PostgresStore, Store};

fn schema() -> &'static str {
    static SCHEMA: OnceLock<String> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        std::env::var("MARKETINGFORCE_TEST_POSTGRES_SCHEMA").unwrap_or_else(|_| {
            let id = marketingforce_core::tenant::TenantId::new().to_string();
            format!("mf_test_{}", &id[id.len() - 12..])
        })
    })
}

async fn postgres() -> Option<Arc<dyn Store>> {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipping PostgreSQL conformance: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return None;
    };
    let mut options = PostgresOptions::new(url).schema(schema());
    options.max_connections = 4;
    Some(Arc::new(
        PostgresStore::connect_with(options)
            .await
            .expect("connect to PostgreSQL"),
    ))
}

marketingforce_core::store_conformance_tests!(postgres);

/// Two pools opened separately on one schema (stand-ins for two processes) race on one journal
/// head: the head-row lock makes the expectation hold across connections.
#[test]
fn racing_writers_across_two_pools_on_one_schema() {
    marketingforce_core::storage::conformance::block_on(async {
        let (Some(first), Some(second)) = (postgres().await, postgres().await) else {
            return;
        };
        marketingforce_core::storage::conformance::racing_writers_across_instances(first, second)
            .await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_answers_until_the_pool_is_closed() {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipping PostgreSQL ping test: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return;
    };
    let store = PostgresStore::connect_with(PostgresOptions::new(url).schema(schema()))
        .await
        .expect("connect to PostgreSQL");
    store.ping().await.expect("a live pool answers");
    store.close().await;
    let err = store.ping().await.expect_err("a closed pool does not");
    assert!(
        matches!(err, marketingforce_core::Error::Backend { .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_within_the_connect_timeout() {
    // Port 1 on loopback: nothing listens there, so every attempt is refused and the pool
    // keeps retrying until the timeout. Needs no server, so it runs everywhere.
    let options = PostgresOptions::new("postgres://postgres@127.0.0.1:1/test")
        .connect_timeout(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = PostgresStore::connect_with(options)
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    match err {
        marketingforce_core::Error::Backend { retryable, .. } => assert!(retryable),
        other => panic!("expected a backend error, got {other:?}"),
    }
}

/// Large journal entries and records are compressed with lz4 (schema version 2) on a server
/// that has it (PostgreSQL 14 or later built with lz4, as Debian's): a commit's outbox entry
/// costs less to store than with pglz.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_are_stored_lz4_compressed() {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!(
            "skipping PostgreSQL compression test: MARKETINGFORCE_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let store = PostgresStore::connect_with(PostgresOptions::new(url.clone()).schema(schema()))
        .await
        .expect("connect to PostgreSQL");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let lz4: bool = sqlx::query_scalar(
        "SELECT current_setting('server_version_num')::int >= 140000
            AND EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression'
                        AND 'lz4' = ANY(enumvals))",
    )
    .fetch_one(&pool)
    .await
    .expect("server capabilities");
    if !lz4 {
        eprintln!("skipping: this PostgreSQL server has no lz4 compression");
        return;
    }
    let tenant = marketingforce_core::tenant::TenantId::new();
    let entry: Vec<u8> = b"{\"name\":\"crm.lead.captured\",\"lead\":\"lead_0001\"}\n"
        .iter()
        .copied()
        .cycle()
        .take(40_000)
        .collect();
    let mut batch = marketingforce_core::storage::Batch::new();
    batch
        .append("j", entry.clone())
        .put("c", "k", entry.clone(), vec![], Default::default());
    store.commit(&tenant, batch).await.expect("commit");
    // The schema name is this test's own (`schema()`), not outside input.
    let methods: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT pg_column_compression(payload) FROM {s}.mf_journal WHERE tenant = $1
         UNION ALL
         SELECT pg_column_compression(value) FROM {s}.mf_records WHERE tenant = $1",
        s = schema()
    )))
    .bind(tenant.to_string())
    .fetch_all(&pool)
    .await
    .expect("compression of the stored values");
    assert_eq!(methods, [Some("lz4".to_string()), Some("lz4".to_string())]);
    let back = store.read_journal(&tenant, "j", 0, 1).await.expect("read");
    assert_eq!(back[0].payload, entry);
}
