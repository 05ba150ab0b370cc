//! Accounts and campaigns run in a platform's own console: linked (no adapter attached), their
//! console top-ups recorded, their spend imported from report exports, and the month settled —
//! with the same checks as opened ones, idempotent, and fenced across processes.

mod common;

use std::sync::Arc;

use chrono::NaiveDate;
use common::{cny, day, open_ops};
use marketingforce_ads::account::{Funding, TopUpRequest, TopUpState};
use marketingforce_ads::agreement::{
    AgreementTerms, PlatformAgreementTerms, PlatformCategory, ServiceType,
};
use marketingforce_ads::campaign::{Budget, CampaignDraft, Objective, Schedule};
use marketingforce_ads::ids::{CustomerId, PlatformId};
use marketingforce_ads::import::ImportFormat;
use marketingforce_ads::party::{
    uscc_with_check_digit, CreditRating, CustomerKind, Financials, NewCustomer,
    QualificationDossier,
};
use marketingforce_ads::period::Month;
use marketingforce_ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
use marketingforce_ads::settlement::SettlementMode;
use marketingforce_ads::{AdOps, AdsError};
use marketingforce_core::adapters::ad_platform::{Audience, Pricing};
use marketingforce_core::money::Currency;
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::ManualClock;
use marketingforce_core::{Classify, ErrorKind, IdempotencyKey};

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

/// A platform (5% back, prepaid) and a qualified customer (3% back) under agreements from
/// 1 March, built with the one-year shortcuts.
async fn parties(ops: &AdOps) -> (PlatformId, CustomerId) {
    let platform = ops
        .register_platform(
            "巨量引擎",
            "oceanengine",
            PlatformCategory::ShortVideo,
            &IdempotencyKey::from_static("p"),
        )
        .await
        .unwrap();
    let terms = PlatformAgreementTerms::prepaid_one_year(
        day("2026-03-01"),
        Currency::CNY,
        PlatformRebatePolicy::standard("5%".parse().unwrap()),
    );
    ops.sign_platform_agreement(&platform.id, terms, &IdempotencyKey::from_static("pa"))
        .await
        .unwrap();
    ops.record_platform_prepayment(
        &platform.id,
        cny("50000"),
        day("2026-03-01"),
        &IdempotencyKey::from_static("prepay"),
    )
    .await
    .unwrap();
    let customer = ops
        .register_customer(
            NewCustomer {
                name: "苏州某品牌有限公司".into(),
                kind: CustomerKind::DirectAdvertiser,
                industry: "retail".into(),
                licence_number: uscc_with_check_digit("91310000MA1FL8XQ3").unwrap(),
            },
            &IdempotencyKey::from_static("c"),
        )
        .await
        .unwrap();
    let dossier = QualificationDossier::of(
        &customer,
        CreditRating::A,
        Financials::new(cny("5000000"), "40%".parse().unwrap()),
    );
    ops.review_customer(
        &customer.id,
        &dossier,
        "审核员",
        &IdempotencyKey::from_static("r"),
    )
    .await
    .unwrap();
    let terms = AgreementTerms::one_year(
        ServiceType::Distribution,
        day("2026-03-01"),
        cny("300000"),
        CustomerRebatePolicy::Fixed {
            rate: "3%".parse().unwrap(),
        },
    );
    ops.sign_agreement(&customer.id, terms, &IdempotencyKey::from_static("a"))
        .await
        .unwrap();
    (platform.id, customer.id)
}

fn plan(start: NaiveDate) -> CampaignDraft {
    CampaignDraft {
        name: "春季上新".into(),
        objective: Objective::Traffic,
        budget: Budget {
            daily: Some(cny("2000")),
            total: None,
        },
        schedule: Schedule {
            start,
            end: None,
            hours: vec![],
        },
        audience: Audience::default(),
        pricing: Pricing::Cpc {
            max_bid: cny("1.20"),
        },
        kpis: vec![],
    }
}

#[tokio::test]
async fn a_console_run_account_is_linked_imported_and_settled_without_an_adapter() {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-04-02T09:00:00+08:00").unwrap());
    let ops = open_ops(Arc::new(MemoryStore::new()), TenantId::new(), clock, 1).await;
    let (platform, customer) = parties(&ops).await;
    let march = Month::of(day("2026-03-01"));

    assert!(matches!(
        ops.link_ad_account(&customer, &platform, "1800001", day("2026-05-01"), &key("l0"))
            .await,
        Err(e) if e.field() == Some("since")
    ));
    let account = ops
        .link_ad_account(
            &customer,
            &platform,
            "1800001",
            march.first_day(),
            &key("l1"),
        )
        .await
        .unwrap();
    assert_eq!(account.opened_on, march.first_day());
    let replay = ops
        .link_ad_account(
            &customer,
            &platform,
            "1800001",
            march.first_day(),
            &key("l1"),
        )
        .await
        .unwrap();
    assert_eq!(replay, account, "a replay answers the first result");
    let twice = ops
        .link_ad_account(
            &customer,
            &platform,
            "1800001",
            march.first_day(),
            &key("l2"),
        )
        .await
        .unwrap_err();
    assert_eq!(twice.field(), Some("external_id"), "{twice}");

    let campaign = ops
        .link_campaign(&account.id, "c-1", plan(march.first_day()), &key("lc1"))
        .await
        .unwrap();
    assert_eq!(campaign.external_id, "c-1");
    let mut bad = plan(march.first_day());
    bad.budget.daily = Some(cny("0")); // a daily budget must be positive
    assert_eq!(
        ops.link_campaign(&account.id, "c-2", bad, &key("lc2"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );

    let top_up = TopUpRequest {
        account: account.id,
        amount: cny("20000"),
        funding: Funding::Credit,
    };
    let recorded = ops
        .record_top_up(top_up.clone(), "TU-0001", &key("t1"))
        .await
        .unwrap();
    assert!(
        matches!(recorded.state, TopUpState::Confirmed { ref platform_ref } if platform_ref == "TU-0001")
    );
    assert_eq!(
        ops.record_top_up(top_up, "TU-0001", &key("t1"))
            .await
            .unwrap(),
        recorded
    );

    let mut export = String::from("date,account_id,campaign_id,spend,impressions,clicks\n");
    for d in march.dates() {
        let spend = if d == march.first_day() {
            "1000.00"
        } else {
            "0"
        };
        export.push_str(&format!("{d},1800001,c-1,{spend},100,10\n"));
    }
    let summary = ops
        .import_reports(&platform, ImportFormat::Csv, export.as_bytes())
        .await
        .unwrap();
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    let overall = ops
        .settle_month(march, SettlementMode::Final)
        .await
        .unwrap()
        .figures
        .overall();
    assert_eq!(overall.spend, cny("1000.00"));
    assert_eq!(
        overall.revenue,
        cny("20.00"),
        "5% from the platform, 3% to the customer"
    );
}

#[tokio::test]
async fn two_processes_linking_one_platform_account_cannot_both_succeed() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::at_rfc3339("2026-04-02T09:00:00+08:00").unwrap());
    let tenant = TenantId::new();
    let a = open_ops(store.clone(), tenant, clock.clone(), 1).await;
    let (platform, customer) = parties(&a).await;
    let b = open_ops(store, tenant, clock, 2).await;
    let since = day("2026-03-01");
    let (ka, kb) = (key("link-a"), key("link-b"));
    let (ra, rb) = tokio::join!(
        a.link_ad_account(&customer, &platform, "1800009", since, &ka),
        b.link_ad_account(&customer, &platform, "1800009", since, &kb),
    );
    let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{ra:?} / {rb:?}");
    let lost = if ra.is_err() { ra } else { rb };
    assert!(
        matches!(
            lost,
            Err(AdsError::Core(marketingforce_core::Error::Conflict { .. }))
        ) || lost
            .as_ref()
            .is_err_and(|e| e.field() == Some("external_id"))
    );
    assert_eq!(a.ad_accounts().await.unwrap().len(), 1);
}
