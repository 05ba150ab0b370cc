//! The content services of a tenant handle: review recorded per tenant, generation metered by
//! the tenant's own quota (through the entitlement registry) and compliance-checked.

use std::sync::Arc;

use chrono::Duration;
use marketingforce::content::compliance::{ContentVersion, Decision};
use marketingforce::core::adapters::generation::{Materials, TextGenerator, TextRequest};
use marketingforce::core::keys::KeyRing;
use marketingforce::core::tenant::{Tenant, TenantId};
use marketingforce::core::IdempotencyKey;
use marketingforce::modules::catalog::{QuotaPeriod, UsageUnit};
use marketingforce::modules::entitlements::Grant;
use marketingforce::Platform;

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

fn brief(seed: u64) -> TextRequest {
    TextRequest::new("industrial-machinery", "立式加工中心选购指南")
        .keywords(["加工中心"])
        .materials(Materials {
            product_name: Some("XK-850 立式加工中心".into()),
            ..Materials::default()
        })
        .seed(seed)
}

#[tokio::test]
async fn content_is_reviewed_per_tenant_and_generation_takes_the_tenants_quota() {
    let platform = Platform::open("memory")
        .await
        .unwrap()
        .keys(Arc::new(KeyRing::new("k1", [7; 32])))
        .build()
        .unwrap();
    let profile = Tenant::new(TenantId::new(), "上海精工机械有限公司").unwrap();
    let tenant = platform
        .register_tenant(&profile, &key("signup"))
        .await
        .unwrap();
    let other = platform
        .register_tenant(
            &Tenant::new(TenantId::new(), "苏州某品牌有限公司").unwrap(),
            &key("signup-2"),
        )
        .await
        .unwrap();

    // Review: a superlative is rejected, the fixed copy approved; each tenant sees its own.
    let v1 = ContentVersion {
        content_id: "art-1".into(),
        version: 1,
        industry: None,
        title: "行业第一的机床".into(),
        body: "精度高。".into(),
    };
    let rejected = tenant
        .content()
        .review(&v1, &key("review-1"))
        .await
        .unwrap();
    assert_eq!(rejected.decision, Decision::Rejected);
    let v2 = ContentVersion {
        version: 2,
        title: "高精度立式加工中心".into(),
        ..v1.clone()
    };
    let approved = tenant
        .content()
        .review(&v2, &key("review-2"))
        .await
        .unwrap();
    assert_eq!(approved.decision, Decision::Approved);
    assert_eq!(
        tenant.content().decision("art-1", 1).await.unwrap(),
        Some(rejected)
    );
    assert_eq!(other.content().decision("art-1", 1).await.unwrap(), None);

    // Generation: two articles a term, then the limit error naming the meter.
    let today = platform.env().clock().today(profile.time_zone);
    platform
        .registry()
        .grant(
            Grant::new(tenant.id(), today, today + Duration::days(365)).quota(
                UsageUnit::ArticlesPublished,
                2,
                QuotaPeriod::Term,
            ),
        )
        .await
        .unwrap();
    let text = tenant.content().text().await.unwrap();
    text.generate(&brief(1)).await.unwrap();
    text.generate(&brief(2)).await.unwrap();
    let refused = text.generate(&brief(3)).await.unwrap_err();
    assert!(
        matches!(refused, marketingforce::core::Error::LimitExceeded { .. }),
        "{refused}"
    );
    let ents = tenant.entitlements().await.unwrap();
    assert_eq!(
        ents.meter().remaining(&UsageUnit::ArticlesPublished).get(),
        0
    );
    // The other tenant has no content quota at all.
    assert!(other
        .content()
        .text()
        .await
        .unwrap()
        .generate(&brief(4))
        .await
        .is_err());
}
