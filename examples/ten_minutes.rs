//! Ten minutes with the SDK, shown verbatim in the README (`cargo run --features sqlite
//! --example ten_minutes`): a tenant on SQLite, its subscription, a lead, a month of ads.
use marketingforce::prelude::*;

#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = KeyRing::new("k1", [7; 32]); // in production: a KMS-backed KeyProvider
    let platform = Platform::open("sqlite:target/ten_minutes.sqlite").await?;
    let (platform, key) = (platform.keys(keys).build()?, IdempotencyKey::from_static);
    let me = Tenant::new(TenantId::new(), "上海精工机械有限公司")?;
    let tenant = platform.register_tenant(&me, &key("signup")).await?;
    let order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(tenant.today(), 12));
    let order = order.add_on(ModuleId::LEAD_MANAGEMENT);
    tenant.subscribe(&order, &key("order")).await?;
    tenant.require_module(&ModuleId::LEAD_MANAGEMENT).await?;
    let form = CaptureRequest::new(Source::OwnSite).mobile("13912345678");
    let lead = tenant.crm().capture(form, &key("form")).await?.lead();
    // Last month's ads: the platform pays us 5% of spend, we pass 3% on to the customer.
    let (ads, month) = (tenant.ads().await?, Month::of(tenant.today()).prev());
    let (from, cny) = (month.first_day(), Money::cny);
    let media = PlatformOnboarding::oceanengine().prepaid(cny("50000")?, from, "5%".parse()?);
    let media = ads.onboard_platform(media, &key("p")).await?.platform.id;
    let brand = NewCustomer::advertiser("苏州某品牌有限公司", "retail", "91310000MA1FL8XQ37");
    let finance = Financials::new(cny("5000000")?, "40%".parse()?);
    let terms = AgreementTerms::distribution(from, cny("300000")?, "3%".parse()?);
    let brand = CustomerOnboarding::new(brand, CreditRating::A, finance).agreement(terms);
    let brand = ads.onboard_customer(brand, &key("c")).await?.customer.id;
    let plan = CampaignDraft::cpc("春季上新", Objective::Traffic, cny("1.20")?, from);
    let account = AccountOnboarding::new(brand, media, "1800001", from);
    let account = account.campaign("c-1", plan.daily_budget(cny("2000")?));
    let account = account.top_up(cny("20000")?, Funding::Credit, "TU-0001");
    ads.onboard_account(account, &key("a")).await?;
    let csv = format!("date,account_id,campaign_id,spend\n{from},1800001,c-1,1000.00");
    ads.import_month(&media, month, ImportFormat::Csv, csv.as_bytes())
        .await?;
    let statement = ads.settle_month(month, SettlementMode::Final).await?;
    assert_eq!(statement.figures.overall().revenue, cny("20.00")?); // 5% − 3% of 1000.00
    println!("{}: lead {lead}; {statement}", me.name);
    Ok(())
}
