//! Ten minutes with the SDK, shown verbatim in the README (`cargo run --features sqlite
//! --example ten_minutes`): a tenant on SQLite, its subscription, a lead, a month of ads.
use marketingforce::prelude::*;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = Arc::new(KeyRing::new("k1", [7; 32])); // in production: a KMS-backed KeyProvider
    let platform = Platform::open("sqlite:target/ten_minutes.sqlite").await?;
    let (platform, key) = (platform.keys(keys).build()?, IdempotencyKey::from_static);
    let me = Tenant::new(TenantId::new(), "上海精工机械有限公司")?;
    let tenant = platform.register_tenant(&me, &key("signup")).await?;
    let today = platform.env().clock().today(me.time_zone);
    let order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(today, 12));
    let order = order.add_on(ModuleId::LEAD_MANAGEMENT);
    let subscriptions = tenant.subscriptions();
    subscriptions
        .subscribe(&order, today, &key("order"))
        .await?;
    let entitlements = tenant.entitlements().await?;
    entitlements.require(&ModuleId::LEAD_MANAGEMENT)?;
    let form = CaptureRequest::new(Source::OwnSite).mobile("13912345678");
    let lead = tenant.crm().capture(form, &key("form")).await?.lead();
    // Last month's ads: the platform pays us 5% of spend, we pass 3% on to the customer.
    let (ads, month) = (tenant.ads().await?, Month::of(today).prev());
    let (from, cny) = (month.first_day(), Money::cny);
    let rebate = PlatformRebatePolicy::standard("5%".parse()?);
    let terms = PlatformAgreementTerms::prepaid_one_year(from, me.currency, rebate);
    let media = PlatformOnboarding::new("巨量引擎", "oceanengine", PlatformCategory::ShortVideo);
    let media = media.agreement(terms).prepayment(cny("50000")?, from);
    let media = ads.onboard_platform(media, &key("p")).await?.platform;
    let kind = CustomerKind::DirectAdvertiser;
    let brand = NewCustomer::new("苏州某品牌有限公司", kind, "retail", "91310000MA1FL8XQ37");
    let deal = CustomerRebatePolicy::flat("3%".parse()?);
    let terms = AgreementTerms::one_year(ServiceType::Distribution, from, cny("300000")?, deal);
    let finance = Financials::new(cny("5000000")?, "40%".parse()?);
    let brand = CustomerOnboarding::new(brand, CreditRating::A, finance).agreement(terms);
    let brand = ads.onboard_customer(brand, &key("c")).await?.customer;
    let bid = cny("1.20")?;
    let cpc = Pricing::Cpc { max_bid: bid };
    let plan = CampaignDraft::new("春季上新", Objective::Traffic, cpc, from);
    let account = AccountOnboarding::new(brand.id, media.id, "1800001", from);
    let account = account.campaign("c-1", plan.daily_budget(cny("2000")?));
    let account = account.top_up(cny("20000")?, Funding::Credit, "TU-0001");
    ads.onboard_account(account, &key("a")).await?;
    let csv = format!(
        "date,account_id,campaign_id,spend,impressions,clicks\n{from},1800001,c-1,1000,40000,1000"
    );
    let whole_month = ImportOptions::new().covering_month(month);
    ads.import_reports_with(&media.id, ImportFormat::Csv, csv.as_bytes(), &whole_month)
        .await?;
    let statement = ads.settle_month(month, SettlementMode::Final).await?;
    let overall = statement.figures.overall();
    assert_eq!(overall.revenue, cny("20.00")?); // 5% − 3% of 1000.00
    println!("{}: lead {lead}; {month}: {overall}", me.name);
    Ok(())
}
