//! # marketingforce-ads
//!
//! Precision-marketing ad operations and rebate accounting on a double-entry ledger: an agency
//! buys traffic from media platforms for its advertising customers at the platforms' prices (no
//! markup) and earns its margin from rebates.
//!
//! ```
//! use marketingforce_core::IdempotencyKey;
//! use std::sync::Arc;
//! use chrono::{Duration, NaiveDate};
//! use marketingforce_ads::account::{Funding, TopUpRequest};
//! use marketingforce_ads::agreement::*;
//! use marketingforce_ads::campaign::{Budget, CampaignDraft, Objective, Schedule};
//! use marketingforce_ads::party::*;
//! use marketingforce_ads::platform::sim::{SimConfig, SimulatedPlatform};
//! use marketingforce_ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
//! use marketingforce_ads::settlement::SettlementMode;
//! use marketingforce_ads::AdOps;
//! use marketingforce_core::adapters::ad_platform::{Audience, Pricing, PricingModel};
//! use marketingforce_core::env::Env;
//! use marketingforce_core::id::SeededIds;
//! use marketingforce_core::money::{Currency, Money};
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::ManualClock;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let cny = |s: &str| Money::cny(s).unwrap();
//! let day = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let clock = Arc::new(ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00").unwrap());
//! let env = Env::builder(Arc::new(MemoryStore::new())).clock(clock.clone())
//!     .ids(Arc::new(SeededIds::new(1, clock.clone()))).build();
//! let ops = AdOps::builder(&env, TenantId::new()).open().await.unwrap();
//!
//! // A platform paying a 5% standard rebate, prepaid, simulated.
//! let platform = ops.register_platform("短视频平台", "sim", PlatformCategory::ShortVideo, &IdempotencyKey::from_static("p")).await.unwrap();
//! ops.sign_platform_agreement(&platform.id, PlatformAgreementTerms {
//!     start: day("2026-01-01"), end: day("2026-12-31"), currency: Currency::CNY,
//!     pricing_models: vec![PricingModel::Cpc, PricingModel::Cpm],
//!     settlement_terms: SettlementTerms::Prepay,
//!     rebate_policy: PlatformRebatePolicy::standard("5%".parse().unwrap()),
//! }, &IdempotencyKey::from_static("pa")).await.unwrap();
//! let sim = Arc::new(SimulatedPlatform::new(SimConfig::new("sim", 7)));
//! ops.attach_platform(platform.id, sim.clone());
//! ops.record_platform_prepayment(&platform.id, cny("500000"), day("2026-03-01"), &IdempotencyKey::from_static("prepay")).await.unwrap();
//!
//! // A customer: qualification review, then a distribution (agent, net basis) agreement.
//! let customer = ops.register_customer(NewCustomer {
//!     name: "上海某品牌有限公司".into(), kind: CustomerKind::DirectAdvertiser,
//!     industry: "retail".into(), licence_number: uscc_with_check_digit("91310000MA1FL8XQ3").unwrap(),
//! }, &IdempotencyKey::from_static("c")).await.unwrap();
//! let review = ops.review_customer(&customer.id, &QualificationDossier {
//!     licence: BusinessLicence { number: customer.licence_number.clone(),
//!         registered_name: customer.name.clone(), expires_on: None },
//!     industry: "retail".into(), permits: vec![], reputation: Reputation::default(),
//!     credit_rating: CreditRating::A,
//!     financials: Financials { net_assets: cny("5000000"), debt_ratio: "40%".parse().unwrap(),
//!         loss_making_years: 0 },
//! }, "审核员", &IdempotencyKey::from_static("r")).await.unwrap();
//! assert_eq!(review.outcome, ReviewOutcome::Approved);
//! ops.sign_agreement(&customer.id, AgreementTerms {
//!     service_type: ServiceType::Distribution, start: day("2026-01-01"), end: day("2026-12-31"),
//!     auto_renew: true, credit_terms_days: 60, credit_exception: None,
//!     credit_limit: cny("300000"),
//!     customer_rebate: CustomerRebatePolicy::Fixed { rate: "3%".parse().unwrap() },
//! }, &IdempotencyKey::from_static("a")).await.unwrap();
//!
//! // An ad account, a top-up advanced on credit, a CPC campaign.
//! let account = ops.open_ad_account(&customer.id, &platform.id, &IdempotencyKey::from_static("acct")).await.unwrap();
//! ops.top_up(TopUpRequest { account: account.id, amount: cny("100000"),
//!     funding: Funding::Credit }, &IdempotencyKey::from_static("t")).await.unwrap();
//! ops.create_campaign(&account.id, CampaignDraft {
//!     name: "春季上新".into(), objective: Objective::Traffic,
//!     budget: Budget { daily: Some(cny("2000")), total: None },
//!     schedule: Schedule { start: day("2026-03-01"), end: None, hours: vec![] },
//!     audience: Audience::default(), pricing: Pricing::Cpc { max_bid: cny("1.20") }, kpis: vec![],
//! }, &IdempotencyKey::from_static("camp")).await.unwrap();
//!
//! // A month of delivery and daily reports, then settlement.
//! for d in day("2026-03-01").iter_days().take(31) {
//!     sim.run_day(d);
//!     assert!(ops.fetch_reports(&platform.id, d).await.unwrap().failed.is_empty());
//! }
//! clock.advance(Duration::days(31));
//! let month = "2026-03".parse().unwrap();
//! let statement = ops.settle_month(month, SettlementMode::Final).await.unwrap();
//! let overall = statement.figures.overall();
//! // Net basis: revenue = platform rebates − customer rebates (5% − 3% of spend).
//! assert_eq!(overall.revenue, overall.platform_rebates.checked_sub(&overall.customer_rebates).unwrap());
//! assert_eq!(overall.net_rebate_rate.unwrap().to_string(), "0.02");
//! // Every figure is in the ledger; settling again changes nothing.
//! assert_eq!(ops.settlement_figures(month).await.unwrap(), statement.figures);
//! assert_eq!(ops.settle_month(month, SettlementMode::Final).await.unwrap(), statement);
//! # });
//! ```
//!
//! ## What is here
//! - [`party`]: advertising customers (direct advertisers, agencies) and the qualification
//!   review; [`agreement`]: framework agreements (solution = principal, gross basis; distribution
//!   = agent, net basis; credit terms and limits), media platforms and our agreements with them.
//! - [`rebate`]: platform rebate policies (standard rate, progressive tiers — marginal or
//!   whole-amount) and customer rebate policies.
//! - [`account`]: ad accounts, suspensions, top-ups; [`campaign`]: campaigns with budgets,
//!   schedules, audiences, CPC/CPM/CPT pricing and KPIs, and their metrics.
//! - [`ledger`]: the TigerBeetle-style double-entry ledger; [`chart`]: the chart of accounts and
//!   the postings of each business event.
//! - [`settlement`]: monthly settlement on the gross and net bases, all as ledger transfers and
//!   derivable from them; [`receivables`]: ageing, overdue, turnover days, advances, cash flow.
//! - [`report`]: ingested spend/performance reports; [`import`]: spend from a platform's CSV or
//!   JSON report export, without an adapter; [`review`]: the content review gate.
//! - [`platform`]: the simulated and HTTP ad platform adapters, and the Ocean Engine (巨量引擎)
//!   Marketing API connector ([`platform::oceanengine`]).
//! - [`ops`]: [`AdOps`], the service that ties it together over the storage contract.
//!
//! ## Feature flags
//! - `testing`: `platform::oceanengine::fake`, a loopback protocol fake of the Ocean Engine
//!   Marketing API for integration tests (pulls in `axum`).
//!
//! Choose a durable backend with `marketingforce-core`'s `sqlite` or
//! `postgres` feature (or the same features of the `marketingforce` umbrella crate) and pass it
//! as an `Arc<dyn Store>`. The HTTP platform adapter ([`platform::http`]) is always built, on
//! `reqwest` without TLS; for `https://` endpoints enable `reqwest/rustls` in your own manifest.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod account;
pub mod agreement;
pub mod campaign;
pub mod chart;
pub mod config;
pub mod error;
pub mod events;
pub mod ids;
pub mod import;
pub mod ledger;
pub mod ops;
pub mod party;
pub mod period;
pub mod platform;
pub mod rebate;
pub mod receivables;
pub mod report;
pub mod review;
pub mod settlement;
mod telemetry;

pub use error::{AdsError, Result};
pub use events::event_catalog;
pub use ops::{AdOps, AdOpsBuilder, AdOpsConfig};
