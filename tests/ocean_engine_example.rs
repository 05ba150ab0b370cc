//! The `ocean_engine` example: the same agency code on the simulated platform and on the Ocean
//! Engine connector (against its loopback protocol fake), chosen by configuration alone; both
//! store the day's report once and count the repeated pull as a duplicate.

#[path = "../examples/ocean_engine.rs"]
#[allow(dead_code)]
mod example;

use std::sync::Arc;

use chrono::NaiveDate;
use example::{fake_choice, platform_from, run, Choice, PlatformKind};
use marketingforce::ads::platform::oceanengine::fake::{FakeOceanEngine, FakeSetup};
use marketingforce::ads::AdOps;
use marketingforce::core::env::Env;
use marketingforce::core::id::SeededIds;
use marketingforce::core::storage::{MemoryStore, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::{Clock, ManualClock};

async fn day_on(choice: Choice, fake: Option<FakeOceanEngine>) -> example::Summary {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let tenant = TenantId::new();
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::at_rfc3339("2026-03-01T10:00:00+08:00").unwrap());
    let code = fake.as_ref().map(|f| {
        f.issue_auth_code("test-code");
        "test-code"
    });
    let (adapter, outside) =
        platform_from(&choice, store.clone(), tenant, clock.clone(), fake, code)
            .await
            .unwrap();
    let ops = AdOps::builder(
        &Env::builder(store)
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(7, clock)))
            .build(),
        tenant,
    )
    .open()
    .await
    .unwrap();
    run(
        &choice,
        &ops,
        adapter,
        &outside,
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_day_runs_on_the_simulation_and_on_ocean_engine() {
    let simulated: Choice =
        serde_json::from_str(r#"{"platform": "simulated", "seed": 7}"#).unwrap();
    assert_eq!(simulated.platform, PlatformKind::Simulated);
    let sim = day_on(simulated, None).await;
    assert_eq!(sim.platform, "sim");
    assert_eq!(sim.pulls, vec!["stored", "duplicate"]);
    assert!(
        sim.spend.ends_with("CNY") && !sim.spend.starts_with('0'),
        "{}",
        sim.spend
    );

    let fake = FakeOceanEngine::start(FakeSetup::default()).await.unwrap();
    let oe = day_on(fake_choice(), Some(fake)).await;
    assert_eq!(oe.platform, "ocean-engine");
    assert_eq!(oe.account, "1760000000000001");
    assert_eq!(oe.pulls, vec!["stored", "duplicate"]);
    assert_eq!(oe.spend, "1234.56 CNY");
}

#[tokio::test]
async fn a_real_app_without_a_grant_is_told_how_to_authorise() {
    let choice: Choice = serde_json::from_str(
        r#"{"platform": "ocean_engine",
            "ocean_engine": {"app_id": "1690000000000001", "secret": "s", "base_url": "http://127.0.0.1:9/open_api/"},
            "redirect_uri": "https://agency.example.com/oauth/oceanengine"}"#,
    )
    .unwrap();
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::at_rfc3339("2026-03-01T10:00:00+08:00").unwrap());
    let message = match platform_from(
        &choice,
        Arc::new(MemoryStore::new()),
        TenantId::new(),
        clock,
        None,
        None,
    )
    .await
    {
        Err(m) => m,
        Ok(_) => panic!("no grant: it must stop"),
    };
    assert!(
        message.contains("oauth.html?app_id=1690000000000001"),
        "{message}"
    );
    assert!(message.contains("--code"), "{message}");
}
