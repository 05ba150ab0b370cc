//! The onboarding commands: a platform, a customer and a console-run account each brought
//! into the books by one idempotent call — replayed without effect, refusing bad input by
//! field before writing anything, and resumed by a retry after a failure midway.

mod common;

use std::sync::Arc;

use chrono::NaiveDate;
use common::{cny, day, open_ops};
use marketingforce_ads::account::{Funding, TopUpState};
use marketingforce_ads::agreement::{
    AgreementTerms, PlatformAgreementTerms, PlatformCategory, ServiceType,
};
use marketingforce_ads::campaign::{CampaignDraft, Objective};
use marketingforce_ads::chart::AccountKind;
use marketingforce_ads::ids::{CustomerId, PlatformId};
use marketingforce_ads::import::{ImportFormat, ImportOptions};
use marketingforce_ads::ops::{
    AccountOnboarding, BalanceOwner, CustomerOnboarding, PlatformOnboarding,
};
use marketingforce_ads::party::{
    uscc_with_check_digit, CreditRating, CustomerKind, Financials, NewCustomer,
};
use marketingforce_ads::period::Month;
use marketingforce_ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
use marketingforce_ads::settlement::SettlementMode;
use marketingforce_ads::{AdOps, AdsError};
use marketingforce_core::adapters::ad_platform::Pricing;
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::storage::{
    poll_then_drop, Fault, FaultPlan, FaultyStore, MemoryStore, Store,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::ManualClock;
use marketingforce_core::{Classify, ErrorKind, IdempotencyKey};

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

fn march() -> Month {
    Month::of(day("2026-03-01"))
}

async fn ops_on(store: Arc<dyn Store>) -> AdOps {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-04-02T09:00:00+08:00").unwrap());
    open_ops(store, TenantId::new(), clock, 7).await
}

fn oceanengine() -> PlatformOnboarding {
    let rebate = PlatformRebatePolicy::standard("5%".parse().unwrap());
    let from = march().first_day();
    PlatformOnboarding::new("巨量引擎", "oceanengine", PlatformCategory::ShortVideo)
        .agreement(PlatformAgreementTerms::prepaid_one_year(
            from,
            Currency::CNY,
            rebate,
        ))
        .prepayment(cny("50000"), from)
}

fn brand() -> NewCustomer {
    NewCustomer::new(
        "苏州某品牌有限公司",
        CustomerKind::DirectAdvertiser,
        "retail",
        uscc_with_check_digit("91310000MA1FL8XQ3").unwrap(),
    )
}

fn brand_onboarding() -> CustomerOnboarding {
    let terms = AgreementTerms::one_year(
        ServiceType::Distribution,
        march().first_day(),
        cny("300000"),
        CustomerRebatePolicy::flat("3%".parse().unwrap()),
    );
    CustomerOnboarding::new(
        brand(),
        CreditRating::A,
        Financials::new(cny("5000000"), "40%".parse().unwrap()),
    )
    .agreement(terms)
}

fn plan(start: NaiveDate) -> CampaignDraft {
    CampaignDraft::new(
        "春季上新",
        Objective::Traffic,
        Pricing::Cpc {
            max_bid: cny("1.20"),
        },
        start,
    )
    .daily_budget(cny("2000"))
}

fn account(customer: CustomerId, platform: PlatformId, top_up: Money) -> AccountOnboarding {
    let from = march().first_day();
    AccountOnboarding::new(customer, platform, "1800001", from)
        .campaign("c-1", plan(from))
        .top_up(top_up, Funding::Credit, "TU-0001")
}

async fn prepaid(ops: &AdOps, platform: PlatformId) -> Money {
    ops.account_balance(
        AccountKind::PlatformPrepayments,
        BalanceOwner::Platform(platform),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn three_calls_onboard_a_platform_a_customer_and_an_account_and_the_month_settles() {
    let ops = ops_on(Arc::new(MemoryStore::new())).await;
    let media = ops
        .onboard_platform(oceanengine(), &key("p"))
        .await
        .unwrap();
    let agreement = media.agreement.clone().expect("the agreement was signed");
    assert_eq!(agreement.platform, media.platform.id);
    assert!(media.prepayment.is_some());
    assert_eq!(prepaid(&ops, media.platform.id).await, cny("50000"));

    let brand = ops
        .onboard_customer(brand_onboarding(), &key("c"))
        .await
        .unwrap();
    assert!(brand.customer.qualification.is_approved());
    assert_eq!(brand.review.reviewer, CustomerOnboarding::DEFAULT_REVIEWER);
    let signed = brand.agreement.clone().expect("the agreement was signed");
    assert_eq!(
        ops.agreements_of(&brand.customer.id).await.unwrap(),
        [signed]
    );

    let linked = ops
        .onboard_account(
            account(brand.customer.id, media.platform.id, cny("20000")),
            &key("a"),
        )
        .await
        .unwrap();
    assert_eq!(linked.account.external_id, "1800001");
    assert_eq!(linked.campaigns.len(), 1);
    assert_eq!(linked.campaigns[0].external_id, "c-1");
    let top_up = linked.top_up.expect("the top-up was recorded");
    assert!(matches!(top_up.state, TopUpState::Confirmed { .. }));

    let csv = "date,account_id,campaign_id,spend,impressions,clicks\n\
               2026-03-05,1800001,c-1,1000,40000,1000\n";
    let whole_month = ImportOptions::new().covering_month(march());
    let imported = ops
        .import_reports_with(
            &media.platform.id,
            ImportFormat::Csv,
            csv.as_bytes(),
            &whole_month,
        )
        .await
        .unwrap();
    assert!(imported.failed.is_empty(), "{:?}", imported.failed);
    let statement = ops
        .settle_month(march(), SettlementMode::Final)
        .await
        .unwrap();
    assert_eq!(statement.figures.overall().revenue, cny("20.00"));
}

#[tokio::test]
async fn a_replay_with_the_same_key_answers_the_first_result_and_changes_nothing() {
    let ops = ops_on(Arc::new(MemoryStore::new())).await;
    let media = ops
        .onboard_platform(oceanengine(), &key("p"))
        .await
        .unwrap();
    let again = ops
        .onboard_platform(oceanengine(), &key("p"))
        .await
        .unwrap();
    assert_eq!(again, media);
    assert_eq!(prepaid(&ops, media.platform.id).await, cny("50000"));
    assert_eq!(
        ops.platform_agreements_of(&media.platform.id)
            .await
            .unwrap()
            .len(),
        1
    );

    let brand = ops
        .onboard_customer(brand_onboarding(), &key("c"))
        .await
        .unwrap();
    let again = ops
        .onboard_customer(brand_onboarding(), &key("c"))
        .await
        .unwrap();
    assert_eq!(again, brand);
    assert_eq!(
        ops.agreements_of(&brand.customer.id).await.unwrap().len(),
        1
    );

    let request = account(brand.customer.id, media.platform.id, cny("20000"));
    let linked = ops
        .onboard_account(request.clone(), &key("a"))
        .await
        .unwrap();
    let again = ops.onboard_account(request, &key("a")).await.unwrap();
    assert_eq!(again.account, linked.account);
    assert_eq!(again.campaigns, linked.campaigns);
    assert_eq!(
        again.top_up.as_ref().map(|t| t.id),
        linked.top_up.as_ref().map(|t| t.id)
    );
    assert_eq!(ops.ad_accounts().await.unwrap().len(), 1);
    let exposure = ops.exposure(&brand.customer.id).await.unwrap();
    assert_eq!(exposure.exposure, cny("20000"), "the top-up counts once");

    // The same key for another onboarding is refused, not silently replayed.
    let other = PlatformOnboarding::new("腾讯广告", "tencent", PlatformCategory::Social);
    let refused = ops.onboard_platform(other, &key("p")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::IdempotencyMismatch, "{refused}");
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let ops = ops_on(Arc::new(MemoryStore::new())).await;
    let mut usd = oceanengine();
    usd.agreement.as_mut().unwrap().currency = Currency::USD;
    let e = ops.onboard_platform(usd, &key("p")).await.unwrap_err();
    assert_eq!(e.field(), Some("agreement.currency"), "{e}");
    let free = oceanengine().prepayment(cny("0"), march().first_day());
    let e = ops.onboard_platform(free, &key("p")).await.unwrap_err();
    assert_eq!(e.field(), Some("prepayment.amount"), "{e}");
    // Nothing was registered: the key and the code are still free.
    let media = ops
        .onboard_platform(oceanengine(), &key("p"))
        .await
        .unwrap();

    let mut nameless = brand_onboarding();
    nameless.customer.name = " ".into();
    let e = ops.onboard_customer(nameless, &key("c")).await.unwrap_err();
    assert_eq!(e.field(), Some("customer.name"), "{e}");
    let mut other_licence = brand_onboarding();
    other_licence.dossier.licence.number = uscc_with_check_digit("91440300MA5F0X1Y2").unwrap();
    let e = ops
        .onboard_customer(other_licence, &key("c"))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("dossier.licence.number"), "{e}");
    let mut long_credit = brand_onboarding();
    long_credit.agreement.as_mut().unwrap().credit_terms_days = 400;
    let e = ops
        .onboard_customer(long_credit, &key("c"))
        .await
        .unwrap_err();
    assert!(
        e.field().is_some_and(|f| f.starts_with("agreement.")),
        "{e}"
    );
    let brand = ops
        .onboard_customer(brand_onboarding(), &key("c"))
        .await
        .unwrap();

    let (customer, platform) = (brand.customer.id, media.platform.id);
    let mut unbudgeted = account(customer, platform, cny("20000"));
    unbudgeted.campaigns[0].draft.budget.daily = None;
    let e = ops
        .onboard_account(unbudgeted, &key("a"))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("campaigns[0].draft.budget"), "{e}");
    let twice = account(customer, platform, cny("20000")).campaign("c-1", plan(day("2026-03-01")));
    let e = ops.onboard_account(twice, &key("a")).await.unwrap_err();
    assert_eq!(e.field(), Some("campaigns[1].external_id"), "{e}");
    let fractional = account(customer, platform, cny("0.001"));
    let e = ops
        .onboard_account(fractional, &key("a"))
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("top_up.amount"), "{e}");
    assert!(
        ops.ad_accounts().await.unwrap().is_empty(),
        "nothing linked"
    );
}

#[tokio::test]
async fn a_failure_midway_says_what_was_done_and_a_retry_with_the_same_key_completes() {
    let faulty = Arc::new(FaultyStore::new(
        Arc::new(MemoryStore::new()),
        FaultPlan::new(3),
    ));
    let ops = ops_on(faulty.clone()).await;

    // The agreement's commit fails: the platform is registered, the error says so.
    faulty.script_matching(Fault::ErrorBeforeCommit, "sign_platform_agreement");
    let e = ops
        .onboard_platform(oceanengine(), &key("p"))
        .await
        .unwrap_err();
    let AdsError::Incomplete { done, .. } = &e else {
        panic!("not an Incomplete error: {e}");
    };
    assert_eq!(done.len(), 1, "{e}");
    assert!(done[0].starts_with("registered platform "), "{e}");
    assert!(e.is_retryable(), "{e}");
    // The prepayment commits, but its answer is lost: the outcome is unknown.
    faulty.script_matching(Fault::ErrorAfterCommit, "platform_prepayment");
    let e = ops
        .onboard_platform(oceanengine(), &key("p"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, AdsError::Incomplete { ref done, .. } if done.len() == 2),
        "{e}"
    );
    let media = ops
        .onboard_platform(oceanengine(), &key("p"))
        .await
        .unwrap();
    assert!(media.agreement.is_some());
    assert_eq!(
        prepaid(&ops, media.platform.id).await,
        cny("50000"),
        "paid once"
    );
    assert_eq!(
        ops.platform_agreements_of(&media.platform.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // A customer whose agreement fails to commit, then completes.
    faulty.script_matching(Fault::TimeoutBeforeCommit, "sign_agreement");
    let e = ops
        .onboard_customer(brand_onboarding(), &key("c"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, AdsError::Incomplete { ref done, .. } if done.len() == 2),
        "registered and approved: {e}"
    );
    let brand = ops
        .onboard_customer(brand_onboarding(), &key("c"))
        .await
        .unwrap();
    assert!(brand.agreement.is_some());

    // A top-up beyond the credit limit: the account and campaign are linked, the top-up is
    // refused; the retry with a top-up within the limit completes on the same account.
    let (customer, platform) = (brand.customer.id, media.platform.id);
    let e = ops
        .onboard_account(account(customer, platform, cny("400000")), &key("a"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "credit_limit_exceeded", "{e}");
    let AdsError::Incomplete { done, .. } = &e else {
        panic!("not an Incomplete error: {e}");
    };
    assert_eq!(done.len(), 2, "{e}");
    let linked = ops
        .onboard_account(account(customer, platform, cny("20000")), &key("a"))
        .await
        .unwrap();
    assert_eq!(ops.ad_accounts().await.unwrap(), [linked.account]);
    assert_eq!(
        ops.exposure(&customer).await.unwrap().exposure,
        cny("20000")
    );
}

#[tokio::test]
async fn a_rejected_review_is_recorded_and_reported_with_what_was_done() {
    let ops = ops_on(Arc::new(MemoryStore::new())).await;
    let mut shaky = brand_onboarding();
    shaky.dossier.credit_rating = CreditRating::C;
    let e = ops
        .onboard_customer(shaky.clone(), &key("c"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "customer_not_approved", "{e}");
    let AdsError::Incomplete { done, source, .. } = &e else {
        panic!("not an Incomplete error: {e}");
    };
    assert_eq!(done.len(), 2, "{e}");
    let AdsError::CustomerNotApproved { customer, .. } = source.as_ref() else {
        panic!("{source}");
    };
    let stored = ops.customer(customer).await.unwrap();
    assert!(!stored.qualification.is_approved());
    assert!(ops.agreements_of(customer).await.unwrap().is_empty());
    // The retry replays the same decision.
    let again = ops.onboard_customer(shaky, &key("c")).await.unwrap_err();
    assert_eq!(again.to_string(), e.to_string());
}

/// Each command dropped after every number of polls — at every store call, before or after its
/// commit — then retried with the same key: the retry completes, and everything is recorded
/// exactly once.
#[tokio::test]
async fn a_command_dropped_at_any_await_is_completed_by_its_retry() {
    let mut polls = 1;
    loop {
        let faulty = Arc::new(FaultyStore::new(
            Arc::new(MemoryStore::new()),
            FaultPlan::new(5),
        ));
        let ops = ops_on(faulty.clone()).await;
        faulty.suspend_at_every_call(true);
        let dropped = [
            poll_then_drop(ops.onboard_platform(oceanengine(), &key("p")), polls)
                .await
                .is_none(),
            poll_then_drop(ops.onboard_customer(brand_onboarding(), &key("c")), polls)
                .await
                .is_none(),
        ];
        let media = ops
            .onboard_platform(oceanengine(), &key("p"))
            .await
            .unwrap();
        let brand = ops
            .onboard_customer(brand_onboarding(), &key("c"))
            .await
            .unwrap();
        let (customer, platform) = (brand.customer.id, media.platform.id);
        let request = account(customer, platform, cny("20000"));
        let account_dropped =
            poll_then_drop(ops.onboard_account(request.clone(), &key("a")), polls)
                .await
                .is_none();
        let linked = ops.onboard_account(request, &key("a")).await.unwrap();

        // Prepaid once (50,000), drawn once by the top-up (20,000).
        assert_eq!(
            prepaid(&ops, platform).await,
            cny("30000"),
            "after {polls} polls"
        );
        assert_eq!(
            ops.platform_agreements_of(&platform).await.unwrap().len(),
            1
        );
        assert_eq!(ops.agreements_of(&customer).await.unwrap().len(), 1);
        assert!(brand.customer.qualification.is_approved());
        assert_eq!(ops.ad_accounts().await.unwrap(), [linked.account]);
        assert_eq!(linked.campaigns.len(), 1);
        assert_eq!(
            ops.exposure(&customer).await.unwrap().exposure,
            cny("20000")
        );
        if !dropped.contains(&true) && !account_dropped {
            // Every command completed within `polls` polls: each was dropped at every
            // earlier one (a command of several commits suspends dozens of times).
            assert!(polls > 10, "only {polls} polls: the drops covered nothing");
            break;
        }
        polls += 1;
        assert!(polls < 500, "the commands never complete");
    }
}

#[test]
fn the_shortcuts_build_what_the_long_forms_build() {
    let from = march().first_day();
    let rebate = PlatformRebatePolicy::standard("5%".parse().unwrap());
    assert_eq!(
        PlatformOnboarding::oceanengine().prepaid(cny("50000"), from, "5%".parse().unwrap()),
        PlatformOnboarding::new("巨量引擎", "ocean-engine", PlatformCategory::ShortVideo)
            .agreement(PlatformAgreementTerms::prepaid_one_year(
                from,
                Currency::CNY,
                rebate
            ))
            .prepayment(cny("50000"), from)
    );
    let flat = CustomerRebatePolicy::flat("3%".parse().unwrap());
    assert_eq!("3%".parse::<CustomerRebatePolicy>().unwrap(), flat);
    assert_eq!(
        CustomerRebatePolicy::from("3%".parse::<marketingforce_core::money::Rate>().unwrap()),
        flat
    );
    let e = "101%".parse::<CustomerRebatePolicy>().unwrap_err();
    assert_eq!(e.field(), Some("customer_rebate"));
    for service in ServiceType::ALL {
        let short = match service {
            ServiceType::Distribution => AgreementTerms::distribution,
            ServiceType::Solution => AgreementTerms::solution,
        };
        assert_eq!(
            short(from, cny("300000"), flat.clone()),
            AgreementTerms::one_year(service, from, cny("300000"), flat.clone())
        );
    }
    let licence = uscc_with_check_digit("91310000MA1FL8XQ3").unwrap();
    assert_eq!(
        NewCustomer::advertiser("苏州某品牌有限公司", "retail", licence.clone()),
        brand()
    );
    let agency = NewCustomer::agency("某代理", ["品牌甲"], "retail", licence);
    assert_eq!(
        agency.kind,
        CustomerKind::Agency {
            advertisers: vec!["品牌甲".to_string()]
        }
    );
    assert_eq!(
        CampaignDraft::cpc("春季上新", Objective::Traffic, cny("1.20"), from)
            .daily_budget(cny("2000")),
        plan(from)
    );
    assert_eq!(
        CampaignDraft::cpm("春季上新", Objective::Traffic, cny("30"), from).pricing,
        Pricing::Cpm { max_bid: cny("30") }
    );
}

/// The books of the month: the platform, the customer and the account onboarded as the
/// ten-minute example does.
async fn onboarded(ops: &AdOps, terms: AgreementTerms, plan: CampaignDraft) -> PlatformId {
    let from = march().first_day();
    let media =
        PlatformOnboarding::oceanengine().prepaid(cny("50000"), from, "5%".parse().unwrap());
    let media = ops.onboard_platform(media, &key("p")).await.unwrap();
    let finance = Financials::new(cny("5000000"), "40%".parse().unwrap());
    let brand = CustomerOnboarding::new(brand(), CreditRating::A, finance).agreement(terms);
    let brand = ops.onboard_customer(brand, &key("c")).await.unwrap();
    let account = AccountOnboarding::new(brand.customer.id, media.platform.id, "1800001", from)
        .campaign("c-1", plan)
        .top_up(cny("20000"), Funding::Credit, "TU-0001");
    ops.onboard_account(account, &key("a")).await.unwrap();
    media.platform.id
}

#[tokio::test]
async fn a_month_imported_from_a_spend_only_statement_settles() {
    let ops = ops_on(Arc::new(MemoryStore::new())).await;
    let from = march().first_day();
    let terms = AgreementTerms::distribution(from, cny("300000"), "3%".parse().unwrap());
    let media = onboarded(&ops, terms, plan(from)).await;
    let csv = "date,account_id,campaign_id,spend\n2026-03-05,1800001,c-1,1000.00\n";
    let imported = ops
        .import_month(&media, march(), ImportFormat::Csv, csv.as_bytes())
        .await
        .unwrap();
    assert!(imported.failed.is_empty(), "{:?}", imported.failed);
    // Every day of March: the listed one and 30 recorded without spend.
    assert_eq!(imported.ingested.len(), 31);
    let statement = ops
        .settle_month(march(), SettlementMode::Final)
        .await
        .unwrap();
    let overall = statement.figures.overall();
    assert_eq!(overall.spend, cny("1000.00"));
    assert_eq!(overall.revenue, cny("20.00"));
    let shown = statement.to_string();
    assert!(shown.starts_with("2026-03 final: spend 1000"), "{shown}");
    assert!(shown.contains("revenue 20.00 CNY"), "{shown}");
}

#[tokio::test]
async fn an_export_with_a_row_of_another_month_is_refused_before_anything_is_stored() {
    let ops = ops_on(Arc::new(MemoryStore::new())).await;
    let from = march().first_day();
    let terms = AgreementTerms::distribution(from, cny("300000"), "3%".parse().unwrap());
    let media = onboarded(&ops, terms, plan(from)).await;
    let wrong = "date,account_id,campaign_id,spend\n\
                 2026-03-31,1800001,c-1,500.00\n2026-04-01,1800001,c-1,980.00\n";
    let e = ops
        .import_month(&media, march(), ImportFormat::Csv, wrong.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("rows[1].date"));
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // Nothing was stored: settling March finds every day missing.
    let provisional = ops
        .settle_month(march(), SettlementMode::Provisional)
        .await
        .unwrap();
    assert_eq!(provisional.missing.len(), 31);
    assert!(provisional
        .to_string()
        .starts_with("2026-03 provisional (31 account-days missing): spend 0"));
}

/// Ads onboarded with one campaign (`c-1` of account `1800001`) holding `kpi`, and its platform.
async fn with_kpi(kpi: marketingforce_ads::campaign::KpiTarget) -> (AdOps, PlatformId) {
    let ops = ops_on(Arc::new(MemoryStore::new())).await;
    let from = march().first_day();
    let terms = AgreementTerms::solution(from, cny("300000"), "3%".parse().unwrap());
    let mut kpi_plan = plan(from);
    kpi_plan.kpis = vec![kpi];
    let media = onboarded(&ops, terms, kpi_plan).await;
    (ops, media)
}

/// Import `csv` as March's export: the error's field when refused, else `None` after checking
/// every day of the month was recorded.
async fn import_march(ops: &AdOps, media: &PlatformId, csv: &str) -> Option<String> {
    match ops
        .import_month(media, march(), ImportFormat::Csv, csv.as_bytes())
        .await
    {
        Err(e) => Some(e.field().unwrap_or("-").to_string()),
        Ok(imported) => {
            assert!(imported.failed.is_empty(), "{:?}", imported.failed);
            assert_eq!(imported.ingested.len(), 31);
            None
        }
    }
}

#[tokio::test]
async fn a_spend_only_row_is_refused_for_a_campaign_with_a_kpi_on_delivery() {
    let max = cny("1.00");
    let (ops, media) = with_kpi(marketingforce_ads::campaign::KpiTarget::MaxCpc { max }).await;
    let spend_only = "date,account_id,campaign_id,spend\n2026-03-05,1800001,c-1,1000.00\n";
    let refused = import_march(&ops, &media, spend_only).await;
    assert_eq!(refused.as_deref(), Some("rows[0].clicks"));
    let with_delivery = "date,account_id,campaign_id,spend,impressions,clicks\n\
                         2026-03-05,1800001,c-1,1000.00,40000,1000\n";
    assert_eq!(import_march(&ops, &media, with_delivery).await, None);
}

#[tokio::test]
async fn a_row_without_conversions_is_refused_for_a_campaign_with_a_kpi_on_cost_per_conversion() {
    let max = cny("50.00");
    let (ops, media) = with_kpi(marketingforce_ads::campaign::KpiTarget::MaxCpa { max }).await;
    // Delivery without conversions: the cost per conversion cannot be checked.
    let no_conversions = "date,account_id,campaign_id,spend,impressions,clicks\n\
                          2026-03-05,1800001,c-1,1000.00,40000,1000\n";
    let refused = import_march(&ops, &media, no_conversions).await;
    assert_eq!(refused.as_deref(), Some("rows[0].conversions"));
    // Nothing was stored by the refused import: the same month imports whole afterwards.
    let with_conversions = "date,account_id,campaign_id,spend,impressions,clicks,conversions\n\
                            2026-03-05,1800001,c-1,1000.00,40000,1000,25\n";
    assert_eq!(import_march(&ops, &media, with_conversions).await, None);
}
