//! Ad accounts (one customer on one platform), their suspensions, and top-ups.
//!
//! An account can be suspended for a policy violation: no top-ups and no spend while suspended
//! (spend a platform still reports for a suspended day is ingested — the platform charged it —
//! but flagged). A top-up is funded by the customer's prepayment or advanced by us on credit
//! (an *other receivable*); either way it is a two-phase ledger transfer, pending until the
//! platform confirms it.

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::storage::{Entity, IndexEntry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AdAccountId, CustomerId, PlatformId, TopUpId};
use crate::ledger::TransferId;

/// A suspension period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Suspension {
    /// First suspended day.
    pub from: NaiveDate,
    /// Day of reinstatement (not suspended), if reinstated.
    #[serde(default)]
    pub until: Option<NaiveDate>,
    /// The policy violation.
    pub reason: String,
}

impl Suspension {
    /// Whether `date` falls in the suspension.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && self.until.is_none_or(|u| date < u)
    }
}

/// Status of an account on a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountStatus {
    /// Can be topped up and deliver.
    Active,
    /// Suspended for a policy violation.
    Suspended {
        /// The reason.
        reason: String,
    },
    /// Closed.
    Closed,
}

/// An ad account of a customer on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdAccount {
    /// Id.
    pub id: AdAccountId,
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// The platform's account id.
    pub external_id: String,
    /// Currency of the account.
    pub currency: Currency,
    /// Day opened.
    pub opened_on: NaiveDate,
    /// Day closed (no delivery from that day), if closed.
    #[serde(default)]
    pub closed_on: Option<NaiveDate>,
    /// Suspensions, oldest first.
    #[serde(default)]
    pub suspensions: Vec<Suspension>,
}

impl AdAccount {
    /// The status on `date`.
    pub fn status_on(&self, date: NaiveDate) -> AccountStatus {
        if self.closed_on.is_some_and(|c| date >= c) {
            return AccountStatus::Closed;
        }
        match self.suspension_on(date) {
            Some(s) => AccountStatus::Suspended {
                reason: s.reason.clone(),
            },
            None => AccountStatus::Active,
        }
    }

    /// The suspension covering `date`, if any.
    pub fn suspension_on(&self, date: NaiveDate) -> Option<&Suspension> {
        self.suspensions.iter().find(|s| s.covers(date))
    }

    /// Whether the account can deliver on `date` (opened, not closed).
    pub fn is_open_on(&self, date: NaiveDate) -> bool {
        self.opened_on <= date && self.closed_on.is_none_or(|c| date < c)
    }

    /// The index value that finds an account by its platform id.
    pub fn external_key(platform: &PlatformId, external_id: &str) -> String {
        format!("{platform}:{external_id}")
    }
}

impl Entity for AdAccount {
    const COLLECTION: &'static str = "ads.accounts";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![
            IndexEntry::new("customer", self.customer.to_string()),
            IndexEntry::new("platform", self.platform.to_string()),
            IndexEntry::new(
                "external",
                AdAccount::external_key(&self.platform, &self.external_id),
            ),
        ]
    }
}

/// Who funds a top-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Funding {
    /// The customer's unapplied prepayment covers it: no credit is used.
    CustomerPrepayment,
    /// We advance it on credit, within the customer's credit limit.
    Credit,
}

/// Where a top-up stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TopUpState {
    /// Recorded and held in the ledger, awaiting the platform.
    Pending,
    /// The platform confirmed it; the ledger hold is posted.
    Confirmed {
        /// The platform's reference.
        platform_ref: String,
    },
    /// The platform refused it; the ledger hold is voided.
    Failed {
        /// What the platform said.
        reason: String,
    },
}

/// A request to top up an ad account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TopUpRequest {
    /// The account.
    pub account: AdAccountId,
    /// Amount (positive, whole minor units, the account's currency).
    pub amount: Money,
    /// Who funds it.
    pub funding: Funding,
}

impl TopUpRequest {
    /// Top `account` up by `amount`, funded by `funding`.
    pub fn new(account: AdAccountId, amount: Money, funding: Funding) -> TopUpRequest {
        TopUpRequest {
            account,
            amount,
            funding,
        }
    }
}

/// A top-up of an ad account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TopUp {
    /// Id (also the request id sent to the platform).
    pub id: TopUpId,
    /// The account.
    pub account: AdAccountId,
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// Amount.
    pub amount: Money,
    /// Who funds it.
    pub funding: Funding,
    /// Civil date of the request.
    pub requested_on: NaiveDate,
    /// When requested.
    pub requested_at: DateTime<Utc>,
    /// The pending ledger transfer.
    pub hold: TransferId,
    /// Where it stands.
    pub state: TopUpState,
}

impl TopUp {
    /// The id of the ledger transfer that posts the hold.
    pub fn post_id(&self) -> TransferId {
        TransferId::derive(&format!("topup:{}:post", self.id))
    }

    /// The id of the ledger transfer that voids the hold.
    pub fn void_id(&self) -> TransferId {
        TransferId::derive(&format!("topup:{}:void", self.id))
    }
}

impl Entity for TopUp {
    const COLLECTION: &'static str = "ads.topups";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let mut ix = vec![
            IndexEntry::new("account", self.account.to_string()),
            IndexEntry::new("customer", self.customer.to_string()),
        ];
        if self.state == TopUpState::Pending {
            ix.push(IndexEntry::new("state", "pending"));
        }
        ix
    }
}
