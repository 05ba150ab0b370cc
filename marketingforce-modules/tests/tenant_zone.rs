//! Quota windows follow the tenant's own time zone (its registered profile), not one zone for
//! every tenant of the registry: a monthly quota of a New York tenant resets at midnight New
//! York time while a Shanghai tenant's (or an unregistered tenant's) resets at midnight
//! Shanghai time — with one registry, one clock, and a second registry ("process") over the
//! same store agreeing.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use marketingforce_core::env::Env;
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::{Tenant, TenantDirectory, TenantId};
use marketingforce_core::time::{ManualClock, TimeZone};
use marketingforce_core::IdempotencyKey;
use marketingforce_modules::catalog::{QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{EntitlementRegistry, Grant};

const UNIT: UsageUnit = UsageUnit::ArticlesPublished;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn register(store: &Arc<dyn Store>, zone: &str) -> TenantId {
    let mut profile = Tenant::new(TenantId::new(), "Zone Test Ltd").unwrap();
    profile.time_zone = zone.parse().unwrap();
    let key = IdempotencyKey::new(format!("signup-{}", profile.id)).unwrap();
    TenantDirectory::new(&Env::new(store.clone()))
        .register(&profile, &key)
        .await
        .unwrap();
    profile.id
}

#[tokio::test]
async fn monthly_quotas_reset_at_midnight_in_each_tenants_own_zone() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    // 23:00 on 31 March in Shanghai; 11:00 the same day in New York (EDT, UTC−4).
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-31T15:00:00Z").unwrap());
    let registry = EntitlementRegistry::builder(
        &marketingforce_core::env::Env::builder(store.clone())
            .clock(clock.clone())
            .build(),
    )
    .build();
    let new_york = register(&store, "America/New_York").await;
    let shanghai = register(&store, "Asia/Shanghai").await;
    let unregistered = TenantId::new();

    let mut meters = Vec::new();
    for tenant in [new_york, shanghai, unregistered] {
        let grant = Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).quota(
            UNIT,
            10,
            QuotaPeriod::Month,
        );
        let ents = registry.grant(grant).await.unwrap();
        ents.meter()
            .consume_durable(&UNIT, 10u64, &IdempotencyKey::from_static("march-posts"))
            .await
            .unwrap();
        meters.push(ents);
    }
    let [ny, sh, un] = [&meters[0], &meters[1], &meters[2]];
    assert_eq!(
        ny.time_zone(),
        "America/New_York".parse::<TimeZone>().unwrap()
    );
    assert_eq!(sh.time_zone(), TimeZone::SHANGHAI);
    assert_eq!(un.time_zone(), TimeZone::SHANGHAI, "the registry's default");
    assert_eq!(ny.today(), d("2026-03-31"));

    // 00:30 on 1 April in Shanghai, 12:30 on 31 March in New York.
    clock.advance(Duration::minutes(90));
    assert_eq!(sh.meter().remaining(&UNIT).get(), 10, "April in Shanghai");
    assert_eq!(un.meter().remaining(&UNIT).get(), 10, "April in Shanghai");
    assert_eq!(
        ny.meter().remaining(&UNIT).get(),
        0,
        "still March in New York"
    );
    assert!(ny
        .meter()
        .consume(&UNIT, 1u64, &IdempotencyKey::from_static("one-more"))
        .is_err());

    // A second process rebuilding from the store reads the same zone from the profile.
    let other = EntitlementRegistry::builder(
        &marketingforce_core::env::Env::builder(store.clone())
            .clock(clock.clone())
            .build(),
    )
    .build();
    let ny_again = other.load(&new_york).await.unwrap();
    assert_eq!(ny_again.time_zone(), ny.time_zone());
    assert_eq!(ny_again.meter().remaining(&UNIT).get(), 0);

    // 00:30 on 1 April in New York.
    clock.advance(Duration::hours(12));
    assert_eq!(ny.meter().remaining(&UNIT).get(), 10, "April in New York");
    assert_eq!(ny_again.meter().remaining(&UNIT).get(), 10);
}
