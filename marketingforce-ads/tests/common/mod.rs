//! A small world for integration tests: two simulated platforms (one prepaid with quarterly
//! tiers, one on monthly terms with quarterly netting), a solution customer and a distribution
//! customer.

#![allow(dead_code)]

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone as _, Utc};
use marketingforce_ads::account::{AdAccount, Funding, TopUpRequest};
use marketingforce_ads::agreement::*;
use marketingforce_ads::campaign::{
    Budget, Campaign, CampaignDraft, KpiTarget, Objective, Schedule,
};
use marketingforce_ads::party::*;
use marketingforce_ads::platform::sim::{SimConfig, SimulatedPlatform};
use marketingforce_ads::rebate::*;
use marketingforce_ads::AdOps;
use marketingforce_core::adapters::ad_platform::{Audience, CptPeriod, Pricing, PricingModel};
use marketingforce_core::id::SeededIds;
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::ManualClock;

pub fn cny(s: &str) -> Money {
    Money::cny(s).unwrap()
}

pub fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Set the clock to 10:00 Shanghai time on `date`.
pub fn at(clock: &ManualClock, date: NaiveDate) {
    let t = Utc.from_utc_datetime(&date.and_hms_opt(2, 0, 0).unwrap());
    clock.set(t);
}

pub fn tiered_policy() -> PlatformRebatePolicy {
    PlatformRebatePolicy {
        standard: StandardRebate {
            rate: "5%".parse().unwrap(),
            settlement: marketingforce_ads::period::PeriodLength::Monthly,
            payout: RebatePayout::PrepaymentCredit,
        },
        progressive: Some(ProgressiveRebate {
            period: marketingforce_ads::period::PeriodLength::Quarterly,
            schedule: TierSchedule {
                basis: TierBasis::Marginal,
                tiers: vec![
                    Tier {
                        from: cny("0"),
                        to: Some(cny("50000")),
                        rate: "0%".parse().unwrap(),
                    },
                    Tier {
                        from: cny("50000"),
                        to: Some(cny("200000")),
                        rate: "1%".parse().unwrap(),
                    },
                    Tier {
                        from: cny("200000"),
                        to: None,
                        rate: "2%".parse().unwrap(),
                    },
                ],
            },
            payout: RebatePayout::PrepaymentCredit,
        }),
    }
}

pub fn netting_policy() -> PlatformRebatePolicy {
    PlatformRebatePolicy {
        standard: StandardRebate {
            rate: "4%".parse().unwrap(),
            settlement: marketingforce_ads::period::PeriodLength::Quarterly,
            payout: RebatePayout::NetPayables,
        },
        progressive: None,
    }
}

pub fn dossier(c: &Customer) -> QualificationDossier {
    QualificationDossier {
        licence: BusinessLicence {
            number: c.licence_number.clone(),
            registered_name: c.name.clone(),
            expires_on: None,
        },
        industry: c.industry.clone(),
        permits: vec![],
        reputation: Reputation::default(),
        credit_rating: CreditRating::A,
        financials: Financials {
            net_assets: cny("8000000"),
            debt_ratio: "50%".parse().unwrap(),
            loss_making_years: 0,
        },
    }
}

pub fn terms(service: ServiceType, rebate: &str, days: u32, limit: &str) -> AgreementTerms {
    AgreementTerms {
        service_type: service,
        start: day("2026-01-01"),
        end: day("2026-12-31"),
        auto_renew: true,
        credit_terms_days: days,
        credit_exception: (days > 90).then(|| CreditException {
            approved_by: "CFO".into(),
            reason: "strategic account".into(),
        }),
        credit_limit: cny(limit),
        customer_rebate: CustomerRebatePolicy::Fixed {
            rate: rebate.parse().unwrap(),
        },
    }
}

pub struct World {
    pub ops: AdOps,
    pub store: Arc<dyn Store>,
    pub tenant: TenantId,
    pub clock: Arc<ManualClock>,
    pub seed: u64,
    pub p1: MediaPlatform,
    pub p2: MediaPlatform,
    pub sim1: Arc<SimulatedPlatform>,
    pub sim2: Arc<SimulatedPlatform>,
    pub solution: Customer,
    pub distribution: Customer,
}

pub async fn open_ops(
    store: Arc<dyn Store>,
    tenant: TenantId,
    clock: Arc<ManualClock>,
    seed: u64,
) -> AdOps {
    AdOps::builder(
        &Env::builder(store)
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(seed, clock)))
            .build(),
        tenant,
    )
    .open()
    .await
    .unwrap()
}

#[allow(clippy::too_many_arguments)]
pub async fn customer(
    ops: &AdOps,
    key: &str,
    name: &str,
    body: &str,
    service: ServiceType,
    rebate: &str,
    days: u32,
    limit: &str,
) -> Customer {
    let c = ops
        .register_customer(
            NewCustomer {
                name: name.into(),
                kind: CustomerKind::DirectAdvertiser,
                industry: "retail".into(),
                licence_number: uscc_with_check_digit(body).unwrap(),
            },
            &IdempotencyKey::new(key).unwrap(),
        )
        .await
        .unwrap();
    let r = ops
        .review_customer(
            &c.id,
            &dossier(&c),
            "审核员",
            &IdempotencyKey::new(format!("{key}-review")).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.outcome, ReviewOutcome::Approved, "{:?}", r.reasons);
    ops.sign_agreement(
        &c.id,
        terms(service, rebate, days, limit),
        &IdempotencyKey::new(format!("{key}-agreement")).unwrap(),
    )
    .await
    .unwrap();
    ops.customer(&c.id).await.unwrap()
}

/// Platforms, customers and the prepayment to platform 1, on 2026-03-01.
pub async fn world_with(store: Arc<dyn Store>, tenant: TenantId, seed: u64) -> World {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-01T10:00:00+08:00").unwrap());
    let ops = open_ops(store.clone(), tenant, clock.clone(), seed).await;
    let p1 = ops
        .register_platform(
            "短视频(sim)",
            "sim-video",
            PlatformCategory::ShortVideo,
            &IdempotencyKey::from_static("p1"),
        )
        .await
        .unwrap();
    let p2 = ops
        .register_platform(
            "电商(sim)",
            "sim-shop",
            PlatformCategory::ECommerce,
            &IdempotencyKey::from_static("p2"),
        )
        .await
        .unwrap();
    let all = vec![PricingModel::Cpc, PricingModel::Cpm, PricingModel::Cpt];
    ops.sign_platform_agreement(
        &p1.id,
        PlatformAgreementTerms {
            start: day("2026-01-01"),
            end: day("2026-12-31"),
            currency: Currency::CNY,
            pricing_models: all.clone(),
            settlement_terms: SettlementTerms::Prepay,
            rebate_policy: tiered_policy(),
        },
        &IdempotencyKey::from_static("pa1"),
    )
    .await
    .unwrap();
    ops.sign_platform_agreement(
        &p2.id,
        PlatformAgreementTerms {
            start: day("2026-01-01"),
            end: day("2026-12-31"),
            currency: Currency::CNY,
            pricing_models: all,
            settlement_terms: SettlementTerms::Monthly {
                pay_within_days: 28,
            },
            rebate_policy: netting_policy(),
        },
        &IdempotencyKey::from_static("pa2"),
    )
    .await
    .unwrap();
    let mut c1 = SimConfig::new("sim-video", seed);
    c1.rebates = tiered_policy();
    let mut c2 = SimConfig::new("sim-shop", seed + 1);
    c2.rebates = netting_policy();
    let sim1 = Arc::new(SimulatedPlatform::new(c1));
    let sim2 = Arc::new(SimulatedPlatform::new(c2));
    ops.attach_platform(p1.id, sim1.clone());
    ops.attach_platform(p2.id, sim2.clone());
    let solution = customer(
        &ops,
        "cs",
        "上海方案客户有限公司",
        "91310000MA1FL8XQ3",
        ServiceType::Solution,
        "2%",
        90,
        "1000000",
    )
    .await;
    let distribution = customer(
        &ops,
        "cd",
        "杭州代理客户有限公司",
        "91330100MA2B3C4D5",
        ServiceType::Distribution,
        "3%",
        120,
        "1000000",
    )
    .await;
    ops.record_platform_prepayment(
        &p1.id,
        cny("800000"),
        day("2026-03-01"),
        &IdempotencyKey::from_static("prepay-p1"),
    )
    .await
    .unwrap();
    World {
        ops,
        store,
        tenant,
        clock,
        seed,
        p1,
        p2,
        sim1,
        sim2,
        solution,
        distribution,
    }
}

pub async fn world() -> World {
    world_with(Arc::new(MemoryStore::new()), TenantId::new(), 7).await
}

pub fn draft(name: &str, pricing: Pricing, daily: &str, kpis: Vec<KpiTarget>) -> CampaignDraft {
    CampaignDraft {
        name: name.into(),
        objective: Objective::Traffic,
        budget: Budget {
            daily: Some(cny(daily)),
            total: None,
        },
        schedule: Schedule {
            start: day("2026-03-01"),
            end: None,
            hours: vec![],
        },
        audience: Audience {
            description: "一二线城市 25-40 岁女性".into(),
            estimated_daily_reach: Some(300_000),
            ..Audience::default()
        },
        pricing,
        kpis,
    }
}

/// Accounts, top-ups and campaigns of both customers on both platforms.
pub struct Plan {
    pub s1: AdAccount,
    pub s2: AdAccount,
    pub d1: AdAccount,
    pub d2: AdAccount,
    pub campaigns: Vec<Campaign>,
}

pub async fn accounts_and_campaigns(w: &World) -> Plan {
    let ops = &w.ops;
    let s1 = ops
        .open_ad_account(&w.solution.id, &w.p1.id, &IdempotencyKey::from_static("s1"))
        .await
        .unwrap();
    let s2 = ops
        .open_ad_account(&w.solution.id, &w.p2.id, &IdempotencyKey::from_static("s2"))
        .await
        .unwrap();
    let d1 = ops
        .open_ad_account(
            &w.distribution.id,
            &w.p1.id,
            &IdempotencyKey::from_static("d1"),
        )
        .await
        .unwrap();
    let d2 = ops
        .open_ad_account(
            &w.distribution.id,
            &w.p2.id,
            &IdempotencyKey::from_static("d2"),
        )
        .await
        .unwrap();
    ops.top_up(
        TopUpRequest {
            account: s1.id,
            amount: cny("200000"),
            funding: Funding::Credit,
        },
        &IdempotencyKey::from_static("t-s1"),
    )
    .await
    .unwrap();
    ops.top_up(
        TopUpRequest {
            account: s2.id,
            amount: cny("100000"),
            funding: Funding::Credit,
        },
        &IdempotencyKey::from_static("t-s2"),
    )
    .await
    .unwrap();
    ops.record_receipt(
        &w.distribution.id,
        cny("150000"),
        day("2026-03-01"),
        &IdempotencyKey::from_static("r-d"),
    )
    .await
    .unwrap();
    ops.top_up(
        TopUpRequest {
            account: d1.id,
            amount: cny("150000"),
            funding: Funding::CustomerPrepayment,
        },
        &IdempotencyKey::from_static("t-d1"),
    )
    .await
    .unwrap();
    ops.top_up(
        TopUpRequest {
            account: d2.id,
            amount: cny("100000"),
            funding: Funding::Credit,
        },
        &IdempotencyKey::from_static("t-d2"),
    )
    .await
    .unwrap();
    let campaigns = vec![
        ops.create_campaign(
            &s1.id,
            draft(
                "S 搜索引流",
                Pricing::Cpc {
                    max_bid: cny("1.20"),
                },
                "3000",
                vec![KpiTarget::MaxCpc { max: cny("0.80") }],
            ),
            &IdempotencyKey::from_static("cs1"),
        )
        .await
        .unwrap(),
        ops.create_campaign(
            &s2.id,
            draft(
                "S 商品曝光",
                Pricing::Cpm { max_bid: cny("30") },
                "2000",
                vec![],
            ),
            &IdempotencyKey::from_static("cs2"),
        )
        .await
        .unwrap(),
        ops.create_campaign(
            &d1.id,
            draft(
                "D 直播引流",
                Pricing::Cpc {
                    max_bid: cny("1.00"),
                },
                "4000",
                vec![],
            ),
            &IdempotencyKey::from_static("cd1"),
        )
        .await
        .unwrap(),
        ops.create_campaign(
            &d2.id,
            draft(
                "D 首页焦点图",
                Pricing::Cpt {
                    price: cny("500"),
                    period: CptPeriod::Day,
                },
                "600",
                vec![],
            ),
            &IdempotencyKey::from_static("cd2"),
        )
        .await
        .unwrap(),
    ];
    Plan {
        s1,
        s2,
        d1,
        d2,
        campaigns,
    }
}

/// Deliver and ingest every day of March on both platforms (in `order`).
pub async fn deliver_march(w: &World, dates: impl IntoIterator<Item = NaiveDate>) {
    for d in dates {
        w.sim1.run_day(d);
        w.sim2.run_day(d);
    }
}

pub async fn ingest(w: &World, dates: impl IntoIterator<Item = NaiveDate>) {
    for d in dates {
        for p in [&w.p1, &w.p2] {
            let s = w.ops.fetch_reports(&p.id, d).await.unwrap();
            assert!(s.failed.is_empty(), "{:?}", s.failed);
        }
    }
}

pub fn march() -> Vec<NaiveDate> {
    day("2026-03-01").iter_days().take(31).collect()
}

pub fn after_month(w: &World) {
    at(&w.clock, day("2026-04-02"));
    let _ = Duration::days(0);
}
