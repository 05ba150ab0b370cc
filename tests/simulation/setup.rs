//! The setup every run starts from: per tenant a grant (seats and quotas), a sales team, the ad
//! business (two platforms, two customers, four accounts with a campaign each) and reviewed
//! content. It runs through the same faulty store and retries as the operations.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::NaiveDate;
use marketingforce_ads::agreement::{
    AgreementTerms, PlatformAgreementTerms, PlatformCategory, ServiceType, SettlementTerms,
};
use marketingforce_ads::campaign::{Budget, CampaignDraft, Objective, Schedule};
use marketingforce_ads::party::{
    uscc_with_check_digit, BusinessLicence, CreditRating, CustomerKind, Financials, NewCustomer,
    QualificationDossier, Reputation, ReviewOutcome,
};
use marketingforce_ads::platform::sim::{SimConfig, SimulatedPlatform};
use marketingforce_ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
use marketingforce_content::compliance::{ContentVersion, Decision};
use marketingforce_core::adapters::ad_platform::{Audience, Pricing, PricingModel};
use marketingforce_core::id::{splitmix64, SeededIds};
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::time::Clock;
use marketingforce_crm::ids::UserId;
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{Grant, GrantId};

use super::model::AccountModel;
use super::world::{Classify, Failure, Reply, World};

/// The business starts on this day.
pub fn start_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default()
}

/// Yuan.
pub fn cny(yuan: i64) -> Money {
    Money::new(rust_decimal::Decimal::new(yuan, 0), Currency::CNY)
}

/// The two simulated platforms of tenant `i` (each tenant has its own platform accounts).
pub fn platforms(seed: u64, i: usize) -> [Arc<SimulatedPlatform>; 2] {
    let mut prepaid = SimConfig::new("sim-video", splitmix64(seed ^ (0xAD00 + i as u64)));
    prepaid.rebates = PlatformRebatePolicy::standard(rate("5%"));
    let mut monthly = SimConfig::new("sim-shop", splitmix64(seed ^ (0xAD80 + i as u64)));
    monthly.rebates = PlatformRebatePolicy::standard(rate("4%"));
    [
        Arc::new(SimulatedPlatform::new(prepaid)),
        Arc::new(SimulatedPlatform::new(monthly)),
    ]
}

fn rate(s: &str) -> marketingforce_core::money::Rate {
    s.parse().unwrap_or(marketingforce_core::money::Rate::ZERO)
}

/// Compliant article texts (no absolute claims, no contact bait).
pub const ARTICLES: [(&str, &str); 3] = [
    (
        "工业机器人日常维护指南",
        "本文介绍工业机器人日常维护的基本步骤：润滑、紧固与电气检查。定期保养有助于设备稳定运行。",
    ),
    (
        "立式加工中心选购要点",
        "选购加工中心时可关注主轴转速、行程和刀库容量，并结合零件尺寸与批量评估产能需求。",
    ),
    (
        "仓储自动化改造案例",
        "某制造企业通过输送线与立体库改造，提升了仓储周转效率，本文分享项目规划与实施经验。",
    ),
];

impl World {
    /// The final result of a setup command, which must succeed.
    pub fn must<T, E: Classify>(&self, what: &str, reply: Reply<T, E>) -> Result<T, Failure> {
        reply
            .result
            .map_err(|e| self.fail(format!("setup: {what} failed: {e}")))
    }

    /// Set every tenant up.
    pub async fn setup(&mut self) -> Result<(), Failure> {
        for i in 0..self.tenants.len() {
            self.setup_tenant(i).await?;
        }
        self.note(format!(
            "setup done: {} tenants, faults so far {:?}",
            self.tenants.len(),
            self.faulty.counts()
        ));
        Ok(())
    }

    async fn setup_tenant(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        let ids = SeededIds::new(splitmix64(self.settings.seed ^ (0x5E7 + i as u64)), clock);
        let day = start_day();
        let grant_end = NaiveDate::from_ymd_opt(2031, 3, 1).unwrap_or(day);

        // Entitlements: seats of the sales workbench and the customer SOP, monthly articles,
        // a release quota for the whole term.
        let m = &self.models[i];
        let grant = Grant::new(
            t,
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or(day),
            grant_end,
        )
        .with_id(GrantId::generate(&ids))
        .module(ModuleId::SMART_DISTRIBUTION)
        .module(ModuleId::T_TEXT)
        .seats(ModuleId::SALES_WORKBENCH, m.crm.seat_limit)
        .seats(ModuleId::CUSTOMER_SOP, m.usage.sop_limit)
        .quota(
            UsageUnit::ArticlesPublished,
            m.usage.monthly_articles,
            QuotaPeriod::Month,
        )
        .quota(
            UsageUnit::Publications,
            m.usage.publications_quota,
            QuotaPeriod::Term,
        );
        let r = self
            .call("grant", async |s| {
                s.registry.grant(grant.clone()).await.map(|_| ())
            })
            .await?;
        self.must("grant", r)?;
        self.note(format!("tenant {i}: granted {grant:?}"));

        // The sales team: four salespeople with capped open leads (seat 5 stays free).
        let team = self.models[i].crm.team;
        let capacity = self.models[i].crm.capacity;
        for n in 0..4 {
            let id = UserId::generate(&ids);
            let staff = Staff::new(
                id,
                t,
                format!("销售{n}"),
                Role::Salesperson,
                3,
                self.clock.now(),
            )
            .in_team(team)
            .with_capacity(capacity);
            let r = self
                .call("upsert_staff", async |s| {
                    s.crm.upsert_staff(&t, staff.clone()).await
                })
                .await?;
            self.must("upsert_staff", r)?;
            self.models[i].crm.staff.insert(id, true);
        }

        self.setup_ads(i).await?;

        // Reviewed content.
        for (k, (title, body)) in ARTICLES.iter().enumerate() {
            let version = ContentVersion {
                content_id: format!("article-{k}"),
                version: 1,
                industry: None,
                title: (*title).to_string(),
                body: (*body).to_string(),
            };
            let key = format!("review-article-{k}");
            let r = self
                .call("review", async |s| {
                    s.reviews
                        .review(&t, &version, &IdempotencyKey::new(key.clone()).unwrap())
                        .await
                })
                .await?;
            let record = self.must("review", r)?;
            if record.decision != Decision::Approved {
                return Err(self.fail(format!("setup: article-{k} was not approved: {record:?}")));
            }
            self.models[i]
                .content
                .approved
                .push((version.content_id, 1));
        }
        Ok(())
    }

    async fn setup_ads(&mut self, i: usize) -> Result<(), Failure> {
        let day = start_day();
        let year_end = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or(day);
        let year_start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or(day);
        // Platform agreements run past the simulation's horizon; customer agreements are
        // yearly and renewed as the year ends (see `op_new_day`).
        let platform_end = NaiveDate::from_ymd_opt(2030, 12, 31).unwrap_or(day);
        let all = vec![PricingModel::Cpc, PricingModel::Cpm, PricingModel::Cpt];
        let mut platform_ids = Vec::new();
        for (p, (key, name, code, category, terms, policy)) in [
            (
                "p-prepaid",
                "短视频(sim)",
                "sim-video",
                PlatformCategory::ShortVideo,
                SettlementTerms::Prepay,
                PlatformRebatePolicy::standard(rate("5%")),
            ),
            (
                "p-monthly",
                "电商(sim)",
                "sim-shop",
                PlatformCategory::ECommerce,
                SettlementTerms::Monthly {
                    pay_within_days: 28,
                },
                PlatformRebatePolicy::standard(rate("4%")),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let r = self
                .call("register_platform", async |s| {
                    s.ads[i]
                        .register_platform(name, code, category, &IdempotencyKey::new(key).unwrap())
                        .await
                })
                .await?;
            let platform = self.must("register_platform", r)?;
            // Attached at once: a process started after a crash attaches what the model lists.
            self.models[i].ads.platform_ids.push(platform.id);
            self.svc.ads[i].attach_platform(platform.id, self.ext.platforms[i][p].clone());
            let agreement = PlatformAgreementTerms {
                start: year_start,
                end: platform_end,
                currency: Currency::CNY,
                pricing_models: all.clone(),
                settlement_terms: terms,
                rebate_policy: policy,
            };
            let akey = format!("agreement-{key}");
            let r = self
                .call("sign_platform_agreement", async |s| {
                    s.ads[i]
                        .sign_platform_agreement(
                            &platform.id,
                            agreement.clone(),
                            &IdempotencyKey::new(akey.clone()).unwrap(),
                        )
                        .await
                })
                .await?;
            self.must("sign_platform_agreement", r)?;
            platform_ids.push(platform.id);
        }

        let prepaid = platform_ids[0];
        let r = self
            .call("record_platform_prepayment", async |s| {
                s.ads[i]
                    .record_platform_prepayment(
                        &prepaid,
                        cny(600_000),
                        day,
                        &IdempotencyKey::from_static("prepay-0"),
                    )
                    .await
            })
            .await?;
        self.must("record_platform_prepayment", r)?;

        let customers = [
            (
                "c-solution",
                "上海方案客户有限公司",
                "91310000MA1FL8XQ3",
                ServiceType::Solution,
                "2%",
                400_000,
            ),
            (
                "c-distribution",
                "杭州代理客户有限公司",
                "91330100MA2B3C4D5",
                ServiceType::Distribution,
                "3%",
                250_000,
            ),
        ];
        for (key, name, licence, service, rebate, limit) in customers {
            let licence = uscc_with_check_digit(licence)
                .map_err(|e| self.fail(format!("setup: licence: {e}")))?;
            let new = NewCustomer {
                name: name.into(),
                kind: CustomerKind::DirectAdvertiser,
                industry: "retail".into(),
                licence_number: licence.clone(),
            };
            let r = self
                .call("register_customer", async |s| {
                    s.ads[i]
                        .register_customer(new.clone(), &IdempotencyKey::new(key).unwrap())
                        .await
                })
                .await?;
            let customer = self.must("register_customer", r)?;
            let dossier = QualificationDossier {
                licence: BusinessLicence {
                    number: licence,
                    registered_name: name.into(),
                    expires_on: None,
                },
                industry: "retail".into(),
                permits: vec![],
                reputation: Reputation::default(),
                credit_rating: CreditRating::A,
                financials: Financials {
                    net_assets: cny(8_000_000),
                    debt_ratio: rate("45%"),
                    loss_making_years: 0,
                },
            };
            let rkey = format!("{key}-review");
            let r = self
                .call("review_customer", async |s| {
                    s.ads[i]
                        .review_customer(
                            &customer.id,
                            &dossier,
                            "审核员",
                            &IdempotencyKey::new(rkey.clone()).unwrap(),
                        )
                        .await
                })
                .await?;
            let review = self.must("review_customer", r)?;
            if review.outcome != ReviewOutcome::Approved {
                return Err(self.fail(format!("setup: {key} not approved: {review:?}")));
            }
            let terms = AgreementTerms {
                service_type: service,
                start: year_start,
                end: year_end,
                auto_renew: true,
                credit_terms_days: 60,
                credit_exception: None,
                credit_limit: cny(limit),
                customer_rebate: CustomerRebatePolicy::Fixed { rate: rate(rebate) },
            };
            let gkey = format!("{key}-agreement");
            let r = self
                .call("sign_agreement", async |s| {
                    s.ads[i]
                        .sign_agreement(
                            &customer.id,
                            terms.clone(),
                            &IdempotencyKey::new(gkey.clone()).unwrap(),
                        )
                        .await
                })
                .await?;
            let agreement = self.must("sign_agreement", r)?;
            self.models[i].ads.customers.push((customer.id, cny(limit)));
            self.models[i]
                .ads
                .agreements
                .push((agreement.id, agreement.terms.end));
        }

        // The distribution customer prepays a deposit.
        let distribution = self.models[i].ads.customers[1].0;
        let r = self
            .call("record_receipt", async |s| {
                s.ads[i]
                    .record_receipt(
                        &distribution,
                        cny(60_000),
                        day,
                        &IdempotencyKey::from_static("receipt-0"),
                    )
                    .await
            })
            .await?;
        self.must("record_receipt", r)?;

        for c in 0..2 {
            for (p, &platform) in platform_ids.iter().enumerate().take(2) {
                let customer = self.models[i].ads.customers[c].0;
                let key = format!("account-{c}-{p}");
                let r = self
                    .call("open_ad_account", async |s| {
                        s.ads[i]
                            .open_ad_account(
                                &customer,
                                &platform,
                                &IdempotencyKey::new(key.clone()).unwrap(),
                            )
                            .await
                    })
                    .await?;
                let account = self.must("open_ad_account", r)?;
                let daily = 800 + 400 * (c as i64 * 2 + p as i64);
                let draft = CampaignDraft {
                    name: format!("campaign {c}-{p}"),
                    objective: Objective::Traffic,
                    budget: Budget {
                        daily: Some(cny(daily)),
                        total: None,
                    },
                    schedule: Schedule {
                        start: day,
                        end: None,
                        hours: vec![],
                    },
                    audience: Audience {
                        description: "一二线城市 25-40 岁".into(),
                        estimated_daily_reach: Some(120_000),
                        ..Audience::default()
                    },
                    pricing: Pricing::Cpc {
                        max_bid: Money::new(rust_decimal::Decimal::new(90, 2), Currency::CNY),
                    },
                    kpis: vec![],
                };
                let ckey = format!("campaign-{c}-{p}");
                let r = self
                    .call("create_campaign", async |s| {
                        s.ads[i]
                            .create_campaign(
                                &account.id,
                                draft.clone(),
                                &IdempotencyKey::new(ckey.clone()).unwrap(),
                            )
                            .await
                    })
                    .await?;
                let campaign = self.must("create_campaign", r)?;
                self.models[i].ads.accounts.push(AccountModel {
                    id: account.id,
                    external: account.external_id.clone(),
                    platform: p,
                    customer: c,
                    campaign_external: campaign.external_id.clone(),
                });
            }
        }
        self.note(format!(
            "tenant {i}: ads set up ({} accounts)",
            self.models[i].ads.accounts.len()
        ));
        Ok(())
    }
}
