//! Shared set-up of the Ocean Engine connector tests: configuration for the loopback fake or a
//! replayed fixture, a manual clock, a seeded grant.

#![allow(dead_code)]

use std::sync::Arc;

use chrono::Duration;
use marketingforce_ads::platform::oceanengine::{
    Fixture, OceanEngineConfig, OceanEnginePlatform, ReplayTransport, Secret, TokenRecord,
};
use marketingforce_core::storage::{Collection, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};

pub const APP: &str = "1690000000000001";
pub const SECRET: &str = "fake-app-secret";
pub const AGENT: &str = "1700000000000009";
pub const ADV: &str = "1760000000000001";

/// A configuration for tests: fast backoff, short polls, the agent set.
pub fn config(base_url: &str) -> OceanEngineConfig {
    let mut c = OceanEngineConfig::new(APP, Secret::new(SECRET));
    c.base_url = base_url.to_string();
    c.agent_id = Some(AGENT.to_string());
    c.backoff_ms = 1;
    c.max_backoff_ms = 4;
    c.refresh_poll_ms = 5;
    c.timeout_ms = 5_000;
    c.refresh_lease_secs = 30;
    c.report_page_size = 2;
    // The buckets have their own tests; here they should not slow the suite down.
    c.app_qps = 1000;
    c.advertiser_qps = 1000;
    c
}

/// 12:00 Shanghai time on 2026-03-03: 2026-03-01 is final, 2026-03-03 is not.
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-03T12:00:00+08:00").unwrap())
}

pub fn connector(
    config: OceanEngineConfig,
    store: Arc<dyn Store>,
    tenant: TenantId,
    clock: Arc<ManualClock>,
) -> OceanEnginePlatform {
    OceanEnginePlatform::new(config, store, tenant, clock).unwrap()
}

/// A stored grant, as if the app had been authorised (for replayed fixtures without OAuth).
pub async fn seed_grant(store: &Arc<dyn Store>, tenant: &TenantId, clock: &ManualClock) {
    let now = clock.now();
    let record = TokenRecord {
        app_id: APP.into(),
        access_token: Secret::new("seeded-access"),
        refresh_token: Secret::new("seeded-refresh"),
        access_expires_at: now + Duration::hours(20),
        refresh_expires_at: now + Duration::days(29),
        generation: 1,
        advertiser_ids: vec![ADV.into()],
        refreshing: None,
    };
    Collection::<TokenRecord>::new(store.clone())
        .insert(tenant, &record)
        .await
        .unwrap();
}

/// A connector replaying `file` (under tests/fixtures/oceanengine/), with a seeded grant.
pub async fn replaying(
    file: &str,
    tune: impl FnOnce(&mut OceanEngineConfig),
) -> (OceanEnginePlatform, Arc<ReplayTransport>, Arc<ManualClock>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oceanengine")
        .join(file);
    let replay = Arc::new(ReplayTransport::new(Fixture::load(path).unwrap()));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let tenant = TenantId::new();
    let clock = clock();
    seed_grant(&store, &tenant, &clock).await;
    let mut c = config("http://replay.invalid/open_api/");
    c.model = marketingforce_ads::platform::oceanengine::ApiModel::CampaignAd;
    tune(&mut c);
    let platform = connector(c, store, tenant, clock.clone()).with_transport(replay.clone());
    (platform, replay, clock)
}
