//! Ten minutes with the SDK: open SQLite, register and subscribe a tenant, check an
//! entitlement, capture a lead, query leads. `cargo run --example ten_minutes`
use std::sync::Arc;

use marketingforce::core::{keys::KeyRing, tenant::Tenant, tenant::TenantId, IdempotencyKey};
use marketingforce::crm::{model::Source, request::CaptureRequest, LeadQuery};
use marketingforce::modules::{catalog::ModuleId, pricing::QuoteRequest, pricing::Term};
use marketingforce::Platform;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all("target")?;
    let platform = Platform::open("sqlite:target/ten_minutes.sqlite")
        .await?
        .keys(Arc::new(KeyRing::new("k1", [7; 32]))) // a KMS-backed KeyProvider in production
        .build()?;
    let key = |k: &str| IdempotencyKey::new(format!("{k}-{}", std::process::id()));
    let profile = Tenant::new(TenantId::new(), "上海精工机械有限公司")?;
    let tenant = platform.register_tenant(&profile, &key("signup")?).await?;

    let today = platform.env().clock().today(profile.time_zone);
    let mut order = QuoteRequest::new("tcloud.standard", Term::new(today, 12));
    order.add_ons = vec![ModuleId::LEAD_MANAGEMENT];
    let sub = tenant
        .subscriptions()
        .subscribe(&order, today, &key("order")?)
        .await?;
    println!(
        "{} is {:?}, paid {}",
        profile.name, sub.state, sub.quote.total
    );

    let entitlements = tenant.entitlements().await?;
    assert!(entitlements.is_enabled(&ModuleId::LEAD_MANAGEMENT));

    let inquiry = CaptureRequest::new(Source::OwnSite)
        .name("王芳")
        .mobile("13912345678");
    let captured = tenant.crm().capture(inquiry, &key("form-1")?).await?;
    let again = CaptureRequest::new(Source::WeCom).mobile("139 1234 5678");
    let merged = tenant.crm().capture(again, &key("wecom-1")?).await?;
    assert_eq!(
        captured.lead(),
        merged.lead(),
        "the same person is one lead"
    );

    let page = tenant.crm().find(&LeadQuery::new().limit(20)).await?;
    println!(
        "{} lead(s); the first came from {:?}",
        page.items.len(),
        page.items[0].touches[0].source
    );
    Ok(())
}
