//! Ten minutes with the SDK: open SQLite, subscribe a tenant, capture a lead, import last
//! month's ad spend from a platform's export and settle the month. Shown verbatim in the README.
//! `cargo run --features sqlite --example ten_minutes`
use marketingforce::prelude::*;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = Arc::new(KeyRing::new("k1", [7; 32])); // in production: a KMS-backed KeyProvider
    let platform = Platform::open("sqlite:target/ten_minutes.sqlite").await?;
    let (platform, key) = (platform.keys(keys).build()?, IdempotencyKey::from_static);
    let me = Tenant::new(TenantId::new(), "上海精工机械有限公司")?;
    let tenant = platform.register_tenant(&me, &key("signup")).await?;

    // T Cloud Standard with lead management, paid in full, active today.
    let today = platform.env().clock().today(me.time_zone);
    let order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(today, 12));
    let order = order.add_on(ModuleId::LEAD_MANAGEMENT);
    let sub = tenant.subscriptions();
    let sub = sub.subscribe(&order, today, &key("order")).await?;
    let form = CaptureRequest::new(Source::OwnSite).mobile("13912345678");
    let lead = tenant.crm().capture(form, &key("form")).await?.lead();
    println!("{} paid {}; lead {lead}", me.name, sub.quote.total);

    // Last month's ads: 5% rebate from the platform, 3% passed on to the customer.
    let (ads, month) = (tenant.ads().await?, Month::of(today).prev());
    let (from, cny) = (month.first_day(), Money::cny);
    let rebate = PlatformRebatePolicy::standard("5%".parse()?);
    let terms = PlatformAgreementTerms::prepaid_one_year(from, me.currency, rebate);
    let video = PlatformCategory::ShortVideo;
    let media = ads
        .register_platform("巨量引擎", "oceanengine", video, &key("p"))
        .await?;
    ads.sign_platform_agreement(&media.id, terms, &key("pa"))
        .await?;
    let prepaid = cny("50000")?; // our funds at the platform
    ads.record_platform_prepayment(&media.id, prepaid, from, &key("pp"))
        .await?;
    let licence = uscc_with_check_digit("91310000MA1FL8XQ3")?;
    let kind = CustomerKind::DirectAdvertiser;
    let new = NewCustomer::new("苏州某品牌有限公司", kind, "retail", licence);
    let customer = ads.register_customer(new, &key("c")).await?;
    let finance = Financials::new(cny("5000000")?, "40%".parse()?);
    let dossier = QualificationDossier::of(&customer, CreditRating::A, finance);
    let cid = &customer.id;
    ads.review_customer(cid, &dossier, "审核员", &key("r"))
        .await?;
    let deal = CustomerRebatePolicy::flat("3%".parse()?);
    let terms = AgreementTerms::one_year(ServiceType::Distribution, from, cny("300000")?, deal);
    ads.sign_agreement(cid, terms, &key("ca")).await?;

    // The account and campaign run in the platform's console: link them, import the export.
    let account = ads
        .link_ad_account(cid, &media.id, "1800001", from, &key("a"))
        .await?;
    let top_up = TopUpRequest::new(account.id, cny("20000")?, Funding::Credit);
    ads.record_top_up(top_up, "TU-0001", &key("t")).await?;
    let cpc = Pricing::Cpc {
        max_bid: cny("1.20")?,
    };
    let plan = CampaignDraft::new("春季上新", Objective::Traffic, cpc, from);
    let plan = plan.daily_budget(cny("2000")?);
    ads.link_campaign(&account.id, "c-1", plan, &key("l"))
        .await?;
    let csv = format!(
        "date,account_id,campaign_id,spend,impressions,clicks\n{from},1800001,c-1,1000,40000,1000"
    );
    let whole_month = ImportOptions::new().covering_month(month);
    let export = (ImportFormat::Csv, csv.as_bytes());
    ads.import_reports_with(&media.id, export.0, export.1, &whole_month)
        .await?;
    let statement = ads.settle_month(month, SettlementMode::Final).await?;
    let overall = statement.figures.overall();
    assert_eq!(overall.revenue, cny("20.00")?); // 5% − 3% of 1000.00
    println!("{month}: {overall}");
    Ok(())
}
