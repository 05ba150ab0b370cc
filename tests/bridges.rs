//! The library's cross-crate adapters (`marketingforce::bridges`): content compliance as the
//! ads creative gate, content inquiries captured as CRM leads.

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone as _, Utc};
use marketingforce::ads::agreement::*;
use marketingforce::ads::campaign::{Budget, CampaignDraft, Objective, Schedule};
use marketingforce::ads::party::*;
use marketingforce::ads::platform::sim::{SimConfig, SimulatedPlatform};
use marketingforce::ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
use marketingforce::ads::review::{CreativeDraft, ReviewDecision};
use marketingforce::ads::{AdOps, AdsError};
use marketingforce::bridges::{ComplianceReview, CrmInquirySink};
use marketingforce::content::compliance::ReviewService;
use marketingforce::content::optimise::{Inquiry, LeadSink};
use marketingforce::core::adapters::ad_platform::{Audience, Pricing, PricingModel};
use marketingforce::core::env::Env;
use marketingforce::core::id::SeededIds;
use marketingforce::core::keys::KeyRing;
use marketingforce::core::money::{Currency, Money};
use marketingforce::core::storage::{MemoryStore, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::ManualClock;
use marketingforce::core::{ErrorKind, IdempotencyKey};
use marketingforce::crm::{Crm, LeadQuery};

fn cny(s: &str) -> Money {
    Money::cny(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// An agency with one qualified customer, an account and a campaign, gated by the content
/// crate's compliance review.
async fn agency(
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
) -> (
    AdOps,
    ReviewService,
    marketingforce::ads::ids::CustomerId,
    marketingforce::ads::ids::CampaignId,
) {
    let reviews = ReviewService::new(&Env::builder(store.clone()).clock(clock.clone()).build());
    let env = Env::builder(store.clone())
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(1, clock.clone())))
        .build();
    let ops = AdOps::builder(&env, TenantId::new())
        .review_checker(Arc::new(ComplianceReview::new(reviews.clone(), store)))
        .open()
        .await
        .unwrap();
    let platform = ops
        .register_platform(
            "短视频平台",
            "sim",
            PlatformCategory::ShortVideo,
            &IdempotencyKey::from_static("p"),
        )
        .await
        .unwrap();
    ops.sign_platform_agreement(
        &platform.id,
        PlatformAgreementTerms {
            start: day("2026-01-01"),
            end: day("2026-12-31"),
            currency: Currency::CNY,
            pricing_models: vec![PricingModel::Cpc],
            settlement_terms: SettlementTerms::Prepay,
            rebate_policy: PlatformRebatePolicy::standard("5%".parse().unwrap()),
        },
        &IdempotencyKey::from_static("pa"),
    )
    .await
    .unwrap();
    let sim = Arc::new(SimulatedPlatform::new(SimConfig::new("sim", 7)));
    ops.attach_platform(platform.id, sim);
    let customer = ops
        .register_customer(
            NewCustomer {
                name: "上海某医疗器械有限公司".into(),
                kind: CustomerKind::DirectAdvertiser,
                industry: "retail".into(),
                licence_number: uscc_with_check_digit("91310000MA1FL8XQ3").unwrap(),
            },
            &IdempotencyKey::from_static("c"),
        )
        .await
        .unwrap();
    ops.review_customer(
        &customer.id,
        &QualificationDossier {
            licence: BusinessLicence {
                number: customer.licence_number.clone(),
                registered_name: customer.name.clone(),
                expires_on: None,
            },
            industry: "retail".into(),
            permits: vec![],
            reputation: Reputation::default(),
            credit_rating: CreditRating::A,
            financials: Financials {
                net_assets: cny("5000000"),
                debt_ratio: "40%".parse().unwrap(),
                loss_making_years: 0,
            },
        },
        "审核员",
        &IdempotencyKey::from_static("r"),
    )
    .await
    .unwrap();
    ops.sign_agreement(
        &customer.id,
        AgreementTerms {
            service_type: ServiceType::Distribution,
            start: day("2026-01-01"),
            end: day("2026-12-31"),
            auto_renew: false,
            credit_terms_days: 60,
            credit_exception: None,
            credit_limit: cny("300000"),
            customer_rebate: CustomerRebatePolicy::Fixed {
                rate: "3%".parse().unwrap(),
            },
        },
        &IdempotencyKey::from_static("a"),
    )
    .await
    .unwrap();
    let account = ops
        .open_ad_account(
            &customer.id,
            &platform.id,
            &IdempotencyKey::from_static("acct"),
        )
        .await
        .unwrap();
    let campaign = ops
        .create_campaign(
            &account.id,
            CampaignDraft {
                name: "春季上新".into(),
                objective: Objective::Traffic,
                budget: Budget {
                    daily: Some(cny("500")),
                    total: None,
                },
                schedule: Schedule {
                    start: day("2026-03-01"),
                    end: None,
                    hours: vec![],
                },
                audience: Audience::default(),
                pricing: Pricing::Cpc {
                    max_bid: cny("1.20"),
                },
                kpis: vec![],
            },
            &IdempotencyKey::from_static("camp"),
        )
        .await
        .unwrap();
    (ops, reviews, customer.id, campaign.id)
}

fn draft(title: &str) -> CreativeDraft {
    CreativeDraft {
        title: title.into(),
        body: "长三角 48 小时上门服务，欢迎预约现场试切。".into(),
        media: vec![],
        landing_url: "https://www.example.cn/xk850".into(),
    }
}

#[tokio::test]
async fn compliance_review_gates_creatives_on_their_exact_content() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00").unwrap());
    let (ops, reviews, customer, campaign) = agency(store, clock).await;
    let tenant = *ops.tenant();

    // A superlative claim (Advertising Law art. 9): refused, with the article and the reason.
    let bad = ops
        .register_creative(
            &customer,
            draft("全国最好的立式加工中心"),
            &IdempotencyKey::from_static("cr-1"),
        )
        .await
        .unwrap();
    let refused = ops
        .place_creative(&campaign, &bad.id, &IdempotencyKey::from_static("pl-1"))
        .await
        .unwrap_err();
    match &refused {
        AdsError::CreativeNotApproved { reason, .. } => {
            assert!(reason.contains("最好"), "{reason}");
            assert!(reason.contains("article 9"), "{reason}");
        }
        other => panic!("expected CreativeNotApproved, got {other:?}"),
    }
    // The review was recorded once in the content crate's store; checking again reuses it.
    let version = ComplianceReview::version_of(&bad, Some("retail".into()));
    let first = reviews
        .decision(&tenant, &version.content_id, 1)
        .await
        .unwrap()
        .expect("recorded");
    assert!(ops
        .place_creative(&campaign, &bad.id, &IdempotencyKey::from_static("pl-1b"))
        .await
        .is_err());
    let again = reviews
        .decision(&tenant, &version.content_id, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, again, "reviewed once, not per check");
    assert_eq!(
        first.industry.as_deref(),
        Some("retail"),
        "the customer's industry"
    );

    // Compliant copy: placed, and the approval names the review record.
    let good = ops
        .register_creative(
            &customer,
            draft("XK-850 立式加工中心 春季订货会"),
            &IdempotencyKey::from_static("cr-2"),
        )
        .await
        .unwrap();
    let placed = ops
        .place_creative(&campaign, &good.id, &IdempotencyKey::from_static("pl-2"))
        .await
        .unwrap();
    assert_eq!(placed.creative, good.id);
    let good_version = ComplianceReview::version_of(&good, None);
    assert_eq!(placed.approval.decision, ReviewDecision::Approved);
    assert_eq!(
        placed.approval.review_ref,
        format!("{}#v1", good_version.content_id),
        "the approval names the content crate's review record"
    );
}

#[tokio::test]
async fn inquiries_are_captured_once_as_crm_leads() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let crm = Arc::new(
        Crm::builder(
            &marketingforce::core::env::Env::builder(store)
                .keys(Arc::new(KeyRing::new("k1", [7; 32])))
                .build(),
        )
        .build()
        .unwrap(),
    );
    let sink = CrmInquirySink::new(crm.clone(), "spring-fair");
    let tenant = TenantId::new();
    let inquiry = |id: &str, phone: &str| Inquiry {
        id: id.into(),
        tenant,
        channel: "wechat_oa".into(),
        account: "gh_01".into(),
        publication: None,
        content_id: Some("art-1".into()),
        content_version: Some(1),
        name: Some("王芳".into()),
        phone: Some(phone.into()),
        email: None,
        company: Some("上海精工机械有限公司".into()),
        region: None,
        message: "请问交期多久？".into(),
        visitor_id: None,
        received_at: Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap(),
    };
    let first = sink
        .submit(&inquiry("wechat_oa:9001", "13912345678"))
        .await
        .unwrap();
    // A retry of the same inquiry (a forwarding run after a lost answer) captures nothing new.
    let retry = sink
        .submit(&inquiry("wechat_oa:9001", "13912345678"))
        .await
        .unwrap();
    assert_eq!(first, retry);
    // Another inquiry by the same person is deduplicated into the same lead; an id that is no
    // valid key by itself (spaces, non-ASCII) gets a derived key.
    let same_person = sink
        .submit(&inquiry("wechat_oa:询盘 9002", "139 1234 5678"))
        .await
        .unwrap();
    assert_eq!(same_person.lead_id, first.lead_id);
    let page = crm.find_leads(&tenant, &LeadQuery::new()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id.to_string(), first.lead_id);

    // Invalid input keeps its field across the seam, and never quotes the value.
    let err = sink
        .submit(&inquiry("wechat_oa:9003", "not-a-phone"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(!err.to_string().contains("not-a-phone"), "{err}");
}
