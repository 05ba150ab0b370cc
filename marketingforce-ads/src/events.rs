//! The domain events of the ads crate: typed, versioned facts written to the tenant's outbox
//! ([`marketingforce_core::events`]) **in the same batch** as the state change they describe —
//! for money, the batch the ledger commits with its transfers
//! ([`Ledger::commit_checked`](crate::ledger::Ledger::commit_checked)) — so an event exists
//! exactly when its change does.
//!
//! | event | version | when | payload |
//! |---|---:|---|---|
//! | `ads.top_up.credited` | 1 | the platform confirmed a top-up: the ledger hold is posted | top-up, account, customer, platform, amount, funding, platform reference, day requested |
//! | `ads.top_up.failed` | 1 | the platform refused a top-up, or has no record of it: the hold is voided | top-up, account, customer, platform, amount, funding, whether the platform had no record |
//! | `ads.spend.recorded` | 1 | a platform's daily report for an account is stored, or restated by a higher revision | account, customer, platform, day, report revision, spend, previous revision, flags |
//! | `ads.invoice.issued` | 1 | settlement wrote a customer's invoice for a month, or revised it | customer, month, issue and due days, amount, prepayment applied, provisional, revised |
//! | `ads.rebate.accrued` | 1 | a settlement of a month posted a platform's rebates (each revision restates the month's totals) | month, revision, platform, spend, platform rebates, customer rebates, KPI compensation |
//! | `ads.settlement.closed` | 1 | a month was settled (again, with corrections: a new revision) | month, revision, provisional, missing report days, totals, invoices written |
//!
//! **Refused top-ups.** A top-up the SDK refuses before anything is written (customer not
//! approved, account suspended or closed, credit limit or prepayment exceeded, platform funds
//! short) is not an event: [`AdOps::top_up`](crate::AdOps::top_up) records no refusal — it
//! returns the typed error and writes nothing — so there is no committed state change for an
//! event to describe, and writing one would make a read-only answer a write (a retried
//! refusal would then emit again). A refusal by the *platform* is recorded (the top-up's state
//! becomes failed and the hold is voided), and that is `ads.top_up.failed`.
//!
//! ## Exactly once
//!
//! A command replayed under its idempotency key, a duplicate or superseded report, a month
//! settled again with the same data: nothing is written and no event is emitted. A ledger
//! write refused because another process appended since is decided again on the caught-up
//! ledger and retried with the same batch — each attempt carries the event once, and only the
//! attempt that commits leaves it. Settlement and top-up resolution write their records with
//! version expectations, so of two concurrent resolutions one conflicts and writes nothing.
//!
//! No payload holds personal data: customers, accounts and platforms are referred to by id;
//! platform failure messages and suspension reasons (free text) are left out.

use chrono::NaiveDate;
use marketingforce_core::events::{DomainEvent, EventCatalog};
use marketingforce_core::money::Money;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::account::Funding;
use crate::ids::{AdAccountId, CustomerId, PlatformId, TopUpId};
use crate::period::Month;

/// Every event of the ads crate, for the workspace's schema catalogue.
pub fn event_catalog() -> EventCatalog {
    EventCatalog::new("ads")
        .with::<TopUpCredited>()
        .with::<TopUpFailed>()
        .with::<SpendRecorded>()
        .with::<InvoiceIssued>()
        .with::<RebateAccrued>()
        .with::<SettlementClosed>()
}

/// A platform confirmed a top-up: the ad account was credited and the ledger hold posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TopUpCredited {
    /// The top-up.
    pub top_up: TopUpId,
    /// The ad account credited.
    pub account: AdAccountId,
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// The amount.
    pub amount: Money,
    /// Who funds it.
    pub funding: Funding,
    /// The platform's reference for it.
    pub platform_ref: String,
    /// The civil day it was requested.
    pub requested_on: NaiveDate,
}

impl DomainEvent for TopUpCredited {
    const NAME: &'static str = "ads.top_up.credited";
    const VERSION: u32 = 1;
}

/// A platform refused a top-up (or has no record of it): the ledger hold was voided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TopUpFailed {
    /// The top-up.
    pub top_up: TopUpId,
    /// The ad account.
    pub account: AdAccountId,
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// The amount.
    pub amount: Money,
    /// Who would have funded it.
    pub funding: Funding,
    /// Whether the platform had no record of it at all (rather than refusing it).
    pub unknown_to_platform: bool,
}

impl DomainEvent for TopUpFailed {
    const NAME: &'static str = "ads.top_up.failed";
    const VERSION: u32 = 1;
}

/// A platform's daily report for an ad account was stored (or restated by a higher revision):
/// the day's spend is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SpendRecorded {
    /// The ad account.
    pub account: AdAccountId,
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// The day reported.
    pub date: NaiveDate,
    /// The report's revision.
    pub revision: u32,
    /// The day's spend (negative lines are refunds).
    pub spend: Money,
    /// The revision it replaced, when it restates the day.
    pub previous_revision: Option<u32>,
    /// Whether the platform marked the report complete.
    pub complete: bool,
    /// The flags raised (`refund`, `spend_while_suspended`, `account_not_open`, `partial`).
    pub flags: Vec<String>,
}

impl DomainEvent for SpendRecorded {
    const NAME: &'static str = "ads.spend.recorded";
    const VERSION: u32 = 1;
}

/// Settlement wrote a customer's invoice for a month (or revised it with corrections).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceIssued {
    /// The customer invoiced.
    pub customer: CustomerId,
    /// The month.
    pub month: Month,
    /// Issue day.
    pub issued_on: NaiveDate,
    /// Due day.
    pub due_on: NaiveDate,
    /// Amount invoiced (spend − customer rebates − KPI compensation).
    pub amount: Money,
    /// Prepayment applied to it.
    pub deposit_applied: Money,
    /// Whether the month was settled provisionally (report days missing).
    pub provisional: bool,
    /// Whether it replaces an invoice issued for the month before.
    pub revised: bool,
}

impl DomainEvent for InvoiceIssued {
    const NAME: &'static str = "ads.invoice.issued";
    const VERSION: u32 = 1;
}

/// A month's settlement posted a platform's rebates: receivable from the platform, and owed to
/// customers. Each settlement revision restates the month's totals (not a delta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RebateAccrued {
    /// The month.
    pub month: Month,
    /// The settlement revision (1 for the first settlement of the month).
    pub revision: u32,
    /// The platform.
    pub platform: PlatformId,
    /// The month's spend on the platform.
    pub spend: Money,
    /// Rebates receivable from the platform.
    pub platform_rebates: Money,
    /// Rebates owed to customers.
    pub customer_rebates: Money,
    /// KPI compensation owed to customers.
    pub kpi_compensation: Money,
}

impl DomainEvent for RebateAccrued {
    const NAME: &'static str = "ads.rebate.accrued";
    const VERSION: u32 = 1;
}

/// A month was settled: its spend, rebates and invoices are in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementClosed {
    /// The month.
    pub month: Month,
    /// The settlement revision (1 for the first; each correction adds one).
    pub revision: u32,
    /// Settled with report days missing.
    pub provisional: bool,
    /// Account-days without a report.
    pub missing_days: usize,
    /// Traffic spend.
    pub spend: Money,
    /// Rebates from platforms.
    pub platform_rebates: Money,
    /// Rebates to customers.
    pub customer_rebates: Money,
    /// KPI compensation.
    pub kpi_compensation: Money,
    /// Revenue.
    pub revenue: Money,
    /// Gross profit (revenue − cost, staff costs included).
    pub gross_profit: Money,
    /// Customer invoices written or revised by this settlement.
    pub invoices_issued: usize,
}

impl DomainEvent for SettlementClosed {
    const NAME: &'static str = "ads.settlement.closed";
    const VERSION: u32 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_valid() {
        event_catalog().validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(event_catalog().types().len(), 6);
    }
}
