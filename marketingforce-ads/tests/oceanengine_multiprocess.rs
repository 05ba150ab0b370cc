//! Several processes, one grant: connector instances with their own memory share the tenant's
//! store (memory and SQLite). However their calls interleave, a refresh token is used once, the
//! losers of the race read the winner's tokens, and a dead process's lease only delays the
//! others until it expires.

mod oceanengine_support;

use std::sync::Arc;

use chrono::Duration;
use marketingforce_ads::platform::oceanengine::fake::{FakeAdvertiser, FakeOceanEngine, FakeSetup};
use marketingforce_ads::platform::oceanengine::{ApiModel, RefreshLease, Secret, TokenRecord};
use marketingforce_core::adapters::ad_platform::AdPlatform;
use marketingforce_core::storage::{Collection, MemoryStore, SqliteStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use oceanengine_support::*;

/// Four connector instances ("processes") over `stores` (one, or several handles on one file).
async fn race(stores: Vec<Arc<dyn Store>>) {
    let fake = FakeOceanEngine::start(FakeSetup::default()).await.unwrap();
    fake.add_advertiser(FakeAdvertiser::new(ADV, "91310000MA1FL8XQ30").with_balance_fen(100));
    let tenant = TenantId::new();
    let clock = clock();
    let process = |i: usize| {
        let mut c = config(&fake.base_url());
        c.model = ApiModel::ProjectPromotion;
        Arc::new(connector(
            c,
            stores[i % stores.len()].clone(),
            tenant,
            clock.clone(),
        ))
    };
    let processes: Vec<_> = (0..4).map(process).collect();
    fake.issue_auth_code("code-1");
    processes[0]
        .exchange_code(&Secret::new("code-1"))
        .await
        .unwrap();
    for round in 1..=5u64 {
        fake.expire_access_tokens();
        let calls: Vec<_> = processes
            .iter()
            .map(|p| {
                let p = p.clone();
                tokio::spawn(async move { p.account(ADV).await })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        assert_eq!(
            fake.refresh_token_reuses(),
            0,
            "round {round}: a refresh token was used twice"
        );
        assert_eq!(
            fake.count("oauth2/refresh_token/") as u64,
            round,
            "one refresh per expiry"
        );
        let grant = processes[3].grant().await.unwrap().unwrap();
        assert_eq!(grant.generation, round + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_on_one_memory_store_refresh_once_per_expiry() {
    race(vec![Arc::new(MemoryStore::new())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_on_one_sqlite_file_refresh_once_per_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grants.sqlite");
    // Two handles on the file, as two processes would have.
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    race(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_processs_lease_delays_the_refresh_until_it_expires() {
    let fake = FakeOceanEngine::start(FakeSetup::default()).await.unwrap();
    fake.add_advertiser(FakeAdvertiser::new(ADV, "91310000MA1FL8XQ30"));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let tenant = TenantId::new();
    let clock: Arc<ManualClock> = clock();
    let p = Arc::new(connector(
        config(&fake.base_url()),
        store.clone(),
        tenant,
        clock.clone(),
    ));
    fake.issue_auth_code("code-1");
    p.exchange_code(&Secret::new("code-1")).await.unwrap();
    // Another process claimed the refresh and died.
    let records = Collection::<TokenRecord>::new(store.clone());
    let current = records.get(&tenant, APP).await.unwrap().unwrap();
    let held = TokenRecord {
        refreshing: Some(RefreshLease {
            holder: "dead-process".into(),
            until: clock.now() + Duration::seconds(30),
        }),
        ..current.value
    };
    records
        .update(&tenant, &held, current.version)
        .await
        .unwrap();
    fake.expire_access_tokens();
    let waiting = {
        let p = p.clone();
        tokio::spawn(async move { p.fund(ADV).await })
    };
    // Whatever the scheduling, it cannot refresh while the lease is live.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(fake.count("oauth2/refresh_token/"), 0);
    assert!(!waiting.is_finished());
    clock.advance(Duration::seconds(31));
    waiting.await.unwrap().unwrap();
    assert_eq!(fake.count("oauth2/refresh_token/"), 1);
    let after = records.get(&tenant, APP).await.unwrap().unwrap().value;
    assert_eq!((after.generation, after.refreshing), (2, None));
}
