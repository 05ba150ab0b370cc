//! Monthly settlement: from platform spend reports and our records to customer and platform
//! invoices, rebates, revenue and cost on each service type's basis — all as ledger transfers.
//!
//! For a month, per customer per platform:
//!
//! - **traffic spend**: the sum of the daily reports (refund lines included, negative), rounded
//!   once per customer-platform line with the named rounding mode;
//! - **platform rebates**: the standard rate on the platform's spend of the month, split over
//!   the lines by spend so the parts sum exactly; progressive tiers on the period's spend to date
//!   (accrual = tiers(spend to date) − tiers(spend before this month)), **trued up** when the
//!   period closes (tiers on the period's actual spend − everything accrued), split over the
//!   period's lines by spend;
//! - **customer rebates**: the agreement's [`CustomerRebatePolicy`](crate::rebate::CustomerRebatePolicy)
//!   (a flat rate, tiers on the month's spend — marginal or whole-amount — or a fixed amount)
//!   on the customer's spend of the month, rounded once, split over its platforms, settled by
//!   netting off receivables;
//! - **KPI compensation** under solution services: per campaign, the spend above what its
//!   unit-cost KPIs allow for the units delivered (the largest shortfall);
//! - the **customer invoice** = spend − customer rebates − KPI compensation, less prepayments
//!   applied; the **platform invoice** = spend (prepaid, or payable within N days less rebates
//!   netted off);
//! - **revenue and cost** on the gross basis (solution: revenue = spend − customer rebates − KPI
//!   compensation, cost = spend − platform rebates + staff costs) or the net basis
//!   (distribution: revenue = platform rebates − customer rebates; gross billing = spend −
//!   customer rebates), gross profit, and the rebate rates received, offered and net per service
//!   type, per platform and overall ([`Summary`]).
//!
//! Every figure is a ledger transfer tagged with its posting code, month, customer and platform,
//! so [`SettlementFigures::from_ledger`] rebuilds the whole statement from the ledger alone.
//! Settlement posts, per (code, customer, platform), the *difference* between the target and what
//! is already posted, under deterministic ids: settling the same month twice posts nothing, a
//! late or restated report is corrected by new transfers, and the result does not depend on the
//! order reports arrived in. Missing report days refuse a final settlement, or mark it
//! provisional ([`SettlementMode`]) — never silently zero.
//!
//! Months add up: [`SettlementRollup`] totals any run of months (a quarter, a year) overall, per
//! service type and per platform, and [`Summary::rate_rounded`] gives a rebate rate at the
//! precision a report asks for.
//!
//! [`plan`] is a pure function of its [`SettlementInput`] and the ledger; [`AdOps::settle_month`]
//! gathers the input from the store and commits the plan with the invoices.
//!
//! ```
//! use std::collections::HashMap;
//! use marketingforce_ads::agreement::{ServiceType, SettlementTerms};
//! use marketingforce_ads::chart::{AccountKind, Chart};
//! use marketingforce_ads::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};
//! use marketingforce_ads::ledger::{LedgerEngine, Leg, TransferId, TransferSpec};
//! use marketingforce_ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
//! use marketingforce_ads::settlement::*;
//! use marketingforce_core::money::{Currency, Money, RoundingMode};
//!
//! let chart = Chart::new(Currency::CNY);
//! let (customer, platform, account) = (CustomerId::new(), PlatformId::new(), AdAccountId::new());
//! let mut ledger = LedgerEngine::new();
//! for a in chart.global_accounts().into_iter()
//!     .chain(chart.customer_accounts(&customer)).chain(chart.platform_accounts(&platform)) {
//!     ledger.create_account(a).unwrap();
//! }
//! // 31,000.00 was topped up on the customer's behalf from credit drawn at the platform.
//! ledger.submit(&[TransferSpec::posted(TransferId::new(1), vec![
//!     Leg::debit_minor(chart.customer(AccountKind::OtherReceivables, &customer), 3_100_000, Currency::CNY),
//!     Leg::credit_minor(chart.platform(AccountKind::PlatformCreditDrawn, &platform), 3_100_000, Currency::CNY),
//! ])], 1).unwrap();
//!
//! let month = "2026-03".parse().unwrap();
//! let campaign = CampaignId::new();
//! let input = SettlementInput {
//!     month, currency: Currency::CNY, rounding: RoundingMode::HalfUp,
//!     customers: HashMap::from([(customer, CustomerTerms {
//!         service_type: ServiceType::Distribution,
//!         rebate: CustomerRebatePolicy::Fixed { rate: "3%".parse().unwrap() },
//!         credit_terms_days: 60 })]),
//!     platforms: HashMap::from([(platform, PlatformTerms {
//!         rebates: PlatformRebatePolicy::standard("5%".parse().unwrap()),
//!         settlement_terms: SettlementTerms::Monthly { pay_within_days: 28 } })]),
//!     accounts: HashMap::from([(account, AccountInfo { customer, platform,
//!         opened_on: "2026-01-01".parse().unwrap(), closed_on: None })]),
//!     kpis: HashMap::new(),
//!     // 1,000.00 a day for the 31 days of March.
//!     reports: month.dates().map(|date| ReportDay { account, date, complete: true,
//!         lines: vec![ReportLine { campaign, impressions: 40_000, clicks: 1_000, conversions: 20,
//!             spend: Money::cny("1000.00").unwrap() }] }).collect(),
//! };
//! let planned = plan(&input, &ledger, &chart, SettlementMode::Final).unwrap();
//! let line = &planned.statement.figures.lines[0];
//! assert_eq!(line.spend.to_string(), "31000.00 CNY");
//! assert_eq!(line.revenue().to_string(), "620.00 CNY");      // (5% − 3%) of the spend, net basis
//! assert_eq!(line.gross_billing().to_string(), "30070.00 CNY");
//! ledger.submit(&planned.transfers, 2).unwrap();
//! assert_eq!(SettlementFigures::from_ledger(&ledger, &chart, month).unwrap(), planned.statement.figures);
//! // Settling again posts nothing.
//! assert!(plan(&input, &ledger, &chart, SettlementMode::Final).unwrap().transfers.is_empty());
//! ```
//!
//! [`AdOps::settle_month`]: crate::AdOps::settle_month

mod compute;
mod figures;
mod rollup;

pub use compute::{
    plan, AccountInfo, CustomerInvoice, CustomerTerms, MissingDay, PlatformInvoice, PlatformTerms,
    ReportDay, ReportLine, SettlementInput, SettlementMode, SettlementPlan, SettlementStatement,
};
pub use figures::{LineFigures, PayoutFigures, SettlementFigures, Summary};
pub use rollup::{RebateRate, SettlementRollup};
