//! Ten minutes with the SDK: open SQLite, subscribe a tenant, check an entitlement, capture a
//! lead, record a day of ad spend from a platform's report export and settle the month.
//! `cargo run --example ten_minutes`
use marketingforce::modules::products::BundleId;
use std::sync::Arc;

use marketingforce::ads::{account::*, period::Month, rebate::*, settlement::*};
use marketingforce::ads::{agreement::*, campaign::*, import::ImportFormat, party::*};
use marketingforce::core::adapters::ad_platform::{Audience, Pricing};
use marketingforce::core::{keys::KeyRing, money::Money, tenant::*, IdempotencyKey};
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

    // Subscribe: T Cloud Standard with lead management, paid in full, active today.
    let today = platform.env().clock().today(profile.time_zone);
    let mut order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(today, 12));
    order.add_ons = vec![ModuleId::LEAD_MANAGEMENT];
    let sub = tenant
        .subscriptions()
        .subscribe(&order, today, &key("order")?)
        .await?;
    println!(
        "{} is {:?}, paid {}",
        profile.name, sub.state, sub.quote.total
    );
    assert!(tenant
        .entitlements()
        .await?
        .is_enabled(&ModuleId::LEAD_MANAGEMENT));

    // Capture: the same person from two channels is one lead.
    let form = CaptureRequest::new(Source::OwnSite)
        .name("王芳")
        .mobile("13912345678");
    let captured = tenant.crm().capture(form, &key("form-1")?).await?;
    let again = CaptureRequest::new(Source::WeCom).mobile("139 1234 5678");
    assert_eq!(
        tenant.crm().capture(again, &key("wecom-1")?).await?.lead(),
        captured.lead()
    );
    let page = tenant.crm().find(&LeadQuery::new().limit(20)).await?;
    println!(
        "{} lead(s), first from {:?}",
        page.items.len(),
        page.items[0].touches[0].source
    );

    // Ads: last month, one customer on one platform (5% back from it, 3% to the customer).
    let ads = tenant.ads().await?;
    let month = Month::of(today).prev();
    let (from, cny) = (month.first_day(), |s: &str| Money::cny(s));
    let media = ads
        .register_platform(
            "巨量引擎",
            "oceanengine",
            PlatformCategory::ShortVideo,
            &key("media")?,
        )
        .await?;
    let rebate = PlatformRebatePolicy::standard("5%".parse()?);
    ads.sign_platform_agreement(
        &media.id,
        PlatformAgreementTerms::prepaid_one_year(from, profile.currency, rebate),
        &key("media-terms")?,
    )
    .await?;
    ads.record_platform_prepayment(&media.id, cny("50000")?, from, &key("prepay")?)
        .await?;
    let licence = uscc_with_check_digit("91310000MA1FL8XQ3")?;
    let new = NewCustomer {
        name: "苏州某品牌有限公司".into(),
        kind: CustomerKind::DirectAdvertiser,
        industry: "retail".into(),
        licence_number: licence,
    };
    let customer = ads.register_customer(new, &key("customer")?).await?;
    let dossier = QualificationDossier::of(
        &customer,
        CreditRating::A,
        Financials::new(cny("5000000")?, "40%".parse()?),
    );
    ads.review_customer(&customer.id, &dossier, "审核员", &key("review")?)
        .await?;
    let terms = AgreementTerms::one_year(
        ServiceType::Distribution,
        from,
        cny("300000")?,
        CustomerRebatePolicy::Fixed {
            rate: "3%".parse()?,
        },
    );
    ads.sign_agreement(&customer.id, terms, &key("terms")?)
        .await?;
    // The account and campaign already run in the platform's console: link them, import spend.
    let account = ads
        .link_ad_account(&customer.id, &media.id, "1800001", from, &key("account")?)
        .await?;
    ads.record_top_up(
        TopUpRequest {
            account: account.id,
            amount: cny("20000")?,
            funding: Funding::Credit,
        },
        "TU-0001",
        &key("top-up")?,
    )
    .await?;
    let plan = CampaignDraft {
        name: "春季上新".into(),
        objective: Objective::Traffic,
        budget: Budget {
            daily: Some(cny("2000")?),
            total: None,
        },
        schedule: Schedule {
            start: from,
            end: None,
            hours: vec![],
        },
        audience: Audience::default(),
        pricing: Pricing::Cpc {
            max_bid: cny("1.20")?,
        },
        kpis: vec![],
    };
    ads.link_campaign(&account.id, "c-1", plan, &key("campaign")?)
        .await?;
    // The month's export: one day of spend, the other days' reports (final, nothing spent).
    let mut export = String::from("date,account_id,campaign_id,spend,impressions,clicks\n");
    for d in month.dates() {
        let (spend, shown, clicks) = if d == from {
            ("1000.00", 40_000, 1_000)
        } else {
            ("0", 0, 0)
        };
        export.push_str(&format!("{d},1800001,c-1,{spend},{shown},{clicks}\n"));
    }
    ads.import_reports(&media.id, ImportFormat::Csv, export.as_bytes())
        .await?;
    let overall = ads
        .settle_month(month, SettlementMode::Final)
        .await?
        .figures
        .overall();
    println!(
        "{month}: spend {}, revenue {} (net rebate rate {})",
        overall.spend,
        overall.revenue,
        overall
            .rate_rounded(RebateRate::Net, 4)
            .map_or("-".into(), |r| r.to_string())
    );
    Ok(())
}
