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
//! - **customer rebates**: the agreement's rate on the customer's spend of the month, split over
//!   its platforms, settled by netting off receivables;
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

mod compute;
mod figures;

pub use compute::{
    plan, AccountInfo, CustomerInvoice, CustomerTerms, MissingDay, PlatformInvoice, PlatformTerms,
    ReportDay, ReportLine, SettlementInput, SettlementMode, SettlementPlan, SettlementStatement,
};
pub use figures::{LineFigures, PayoutFigures, SettlementFigures, Summary};
