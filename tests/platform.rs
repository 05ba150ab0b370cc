//! The front door: one `Platform` over a store, tenant handles that honour the tenant's
//! profile, idempotency keys last, and several platforms (processes) over one store.

use marketingforce::modules::products::BundleId;
use std::sync::Arc;

use chrono::NaiveDate;
use marketingforce::core::keys::KeyRing;
use marketingforce::core::money::Currency;
use marketingforce::core::storage::{SqliteStore, Store};
use marketingforce::core::tenant::{Tenant, TenantId};
use marketingforce::core::time::{ManualClock, TimeZone};
use marketingforce::core::{Classify, ErrorKind, IdempotencyKey};
use marketingforce::crm::model::Source;
use marketingforce::crm::request::CaptureRequest;
use marketingforce::crm::LeadQuery;
use marketingforce::modules::catalog::ModuleId;
use marketingforce::modules::pricing::{QuoteRequest, Term};
use marketingforce::modules::subscriptions::SubscriptionState;
use marketingforce::Platform;

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).expect("key")
}

fn keys() -> Arc<KeyRing> {
    Arc::new(KeyRing::new("k1", [7; 32]))
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-03T10:00:00+08:00").expect("clock"))
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

#[tokio::test]
async fn a_platform_needs_keys_and_a_known_store() {
    let err = Platform::open("memory").await.unwrap().build().unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("keys"))
    );
    let err = Platform::open("mysql://somewhere").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// A tenant registered again under another key (a retried signup with a fresh key, a second
/// instance): the same profile answers as registered; another profile is refused for good (not
/// a conflict to retry: retrying cannot succeed).
#[tokio::test]
async fn registering_a_registered_tenant_again_answers_truly() {
    let platform = Platform::open("memory")
        .await
        .unwrap()
        .keys(keys())
        .build()
        .unwrap();
    let profile = Tenant::new(TenantId::new(), "上海精工机械有限公司").unwrap();
    platform
        .register_tenant(&profile, &key("signup-1"))
        .await
        .unwrap();
    let again = platform
        .register_tenant(&profile, &key("signup-2"))
        .await
        .unwrap();
    assert_eq!(again.profile(), &profile);
    let mut other = profile.clone();
    other.currency = Currency::HKD;
    let refused = platform
        .register_tenant(&other, &key("signup-3"))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidState, "{refused}");
    assert!(!refused.is_retryable());
    assert_eq!(
        platform.tenant(&profile.id).await.unwrap().profile(),
        &profile
    );
}

#[tokio::test]
async fn a_tenant_subscribes_captures_and_trades_in_its_own_currency_and_zone() {
    let platform = Platform::open("memory")
        .await
        .unwrap()
        .clock(clock())
        .keys(keys())
        .build()
        .unwrap();
    let mut profile = Tenant::new(TenantId::new(), "上海精工机械有限公司").unwrap();
    profile.time_zone = "Asia/Hong_Kong".parse::<TimeZone>().unwrap();
    profile.currency = Currency::HKD;
    let tenant = platform
        .register_tenant(&profile, &key("signup-1"))
        .await
        .unwrap();
    assert_eq!(tenant.profile(), &profile);
    // The same key and profile again is a replay; an unknown tenant is not found.
    platform
        .register_tenant(&profile, &key("signup-1"))
        .await
        .unwrap();
    let err = platform.tenant(&TenantId::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // A direct sale in one call; a retry with the same key sells nothing twice.
    let mut order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(day("2026-03-03"), 12));
    order.add_ons = vec![ModuleId::LEAD_MANAGEMENT];
    let subs = tenant.subscriptions();
    let sold = subs
        .subscribe(&order, day("2026-03-03"), &key("order-1"))
        .await
        .unwrap();
    assert_eq!(sold.state, SubscriptionState::Active);
    let again = subs
        .subscribe(&order, day("2026-03-03"), &key("order-1"))
        .await
        .unwrap();
    assert_eq!(again.id, sold.id);
    assert_eq!(subs.list().await.unwrap().len(), 1);
    let entitlements = tenant.entitlements().await.unwrap();
    assert!(entitlements.is_enabled(&ModuleId::LEAD_MANAGEMENT));

    // A tenant without lead management may not capture (the default gate).
    let other = platform
        .register_tenant(
            &Tenant::new(TenantId::new(), "某公司").unwrap(),
            &key("signup-2"),
        )
        .await
        .unwrap();
    let refused = other
        .crm()
        .capture(
            CaptureRequest::new(Source::OwnSite).mobile("13900001111"),
            &key("f"),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Forbidden);

    // The CRM through the handle: capture, then query.
    let outcome = tenant
        .crm()
        .capture(
            CaptureRequest::new(Source::OwnSite)
                .name("王芳")
                .mobile("13912345678"),
            &key("form-1"),
        )
        .await
        .unwrap();
    let page = tenant.crm().find(&LeadQuery::new()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, outcome.lead());
    assert_eq!(
        tenant.crm().lead(&outcome.lead()).await.unwrap().id,
        page.items[0].id
    );

    // Ad operations follow the tenant's profile, and are opened once.
    let ads = tenant.ads().await.unwrap();
    assert_eq!(ads.config().currency, Currency::HKD);
    assert_eq!(ads.config().time_zone, profile.time_zone);
    assert!(Arc::ptr_eq(&ads, &tenant.ads().await.unwrap()));
}

#[tokio::test]
async fn two_platforms_over_one_sqlite_file_share_tenants_and_leads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("platform.sqlite");
    let open = || async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        Platform::builder(store).keys(keys()).build().unwrap()
    };
    let (a, b) = (open().await, open().await);
    let profile = Tenant::new(TenantId::new(), "苏州云帆贸易有限公司").unwrap();
    let handle = a.register_tenant(&profile, &key("signup")).await.unwrap();
    let today = a.env().clock().today(profile.time_zone);
    let order = QuoteRequest::new(BundleId::TRUECLIENT_PRO_GROWTH, Term::new(today, 12));
    handle
        .subscriptions()
        .subscribe(&order, today, &key("order"))
        .await
        .unwrap();
    let on_b = b.tenant(&profile.id).await.unwrap();
    assert_eq!(on_b.profile(), &profile);
    let on_a = a.tenant(&profile.id).await.unwrap();
    let req = || {
        CaptureRequest::new(Source::WeCom)
            .name("李雷")
            .mobile("13800001111")
    };
    let first = on_a.crm().capture(req(), &key("c-a")).await.unwrap();
    // The same person through the other process merges into the same lead.
    let second = on_b.crm().capture(req(), &key("c-b")).await.unwrap();
    assert_eq!(first.lead(), second.lead());
    assert_eq!(
        on_a.crm()
            .find(&LeadQuery::new())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}
