//! The domain events of the modules crate: typed, versioned facts written to the tenant's
//! outbox ([`marketingforce_core::events`]) **in the same batch** as the state change they
//! describe, so an event exists exactly when its change does.
//!
//! | event | version | when | payload |
//! |---|---:|---|---|
//! | `modules.subscription.activated` | 1 | a paid (or credit-granted) subscription is activated: its term starts | subscription, bundle, term start and end, months, contract value, grants written |
//! | `modules.subscription.renewed` | 1 | an active subscription is renewed for a next term (the renewal is quoted) | subscription, renewal subscription, next term start, months, renewal value |
//! | `modules.subscription.cancelled` | 1 | a quoted or signed (unpaid) subscription is cancelled | subscription, state before, day |
//! | `modules.subscription.expired` | 1 | an active term ended without renewal ([`Subscriptions::expire_due`](crate::subscriptions::Subscriptions::expire_due)) | subscription, term end, day |
//! | `modules.subscription.refunded` | 1 | a paid, never activated subscription is refunded | subscription, amount, day |
//! | `modules.entitlement.granted` | 1 | a grant is stored: subscription activation, an add-on, or by hand | grant, source (kind and subscription), start, end, modules, seats, quotas |
//! | `modules.seat.assigned` | 1 | an account gets a seat of a seat-limited module | module, account id |
//! | `modules.seat.released` | 1 | an account's seat is freed | module, account id |
//! | `modules.quota.threshold_reached` | 1 | recorded usage crosses 80% of a unit's limit on a day | unit, day, percent (80), used, limit, usage key |
//! | `modules.quota.exhausted` | 1 | recorded usage reaches the whole limit | unit, day, used, limit, usage key |
//!
//! What is **not** an event, and why: grants are never revoked (they end on their end date, so
//! there is no `entitlement.revoked` fact to report; a subscription's expiry is
//! `subscription.expired`); a subscription has no "expiring" state (a scheduler that wants a
//! warning before the term ends reads `term_end`); a refused consume writes nothing, so it is
//! not an event (the caller gets the typed error).
//!
//! ## Exactly once
//!
//! - **Replays add nothing**: a command replayed under its idempotency key, a seat assigned
//!   twice, a usage key recorded before, a grant stored again: no change, no event.
//! - **Stale views**: a write refused because another process moved the journal is decided
//!   again and rebuilt from scratch; the rebuilt batch carries its events afresh (one per fact).
//! - **Quota crossings** are computed when the usage is *written* (the group-commit flush),
//!   from the book as of the journal head the write is conditional on: the event goes in the
//!   batch that records the usage crossing the threshold, and a concurrent writer in another
//!   process whose view is stale is refused, reconciles, and finds the threshold already
//!   crossed. So each crossing of a limit in a window is reported once, however many processes
//!   consume. Usage that goes down (credits) and up again crosses again.
//!
//! No payload holds personal data: accounts are the caller's user ids (never contact data), a
//! manual grant's free-text reason is left out, and salespeople are not named.

use chrono::NaiveDate;
use marketingforce_core::events::{DomainEvent, EventCatalog};
use marketingforce_core::money::Money;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use crate::entitlements::{AccountId, Grant, GrantId, GrantSource, QuotaSource};
use crate::subscriptions::{SubscriptionId, SubscriptionState};

/// Every event of the modules crate, for the workspace's schema catalogue.
pub fn event_catalog() -> EventCatalog {
    EventCatalog::new("modules")
        .with::<SubscriptionActivated>()
        .with::<SubscriptionRenewed>()
        .with::<SubscriptionCancelled>()
        .with::<SubscriptionExpired>()
        .with::<SubscriptionRefunded>()
        .with::<EntitlementGranted>()
        .with::<SeatAssigned>()
        .with::<SeatReleased>()
        .with::<QuotaThresholdReached>()
        .with::<QuotaExhausted>()
}

/// A subscription was activated: its term started and its grants were written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionActivated {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The bundle subscribed to (`tcloud.basic`, …).
    pub bundle: crate::products::BundleId,
    /// First day of the term (the activation day).
    pub term_start: NaiveDate,
    /// Day after the term's last day.
    pub term_end: NaiveDate,
    /// Term length in months.
    pub months: u32,
    /// The contract's value (the quote's total).
    pub contract_value: Money,
    /// Whether it was activated on credit, before payment.
    pub on_credit: bool,
    /// The grants written with it (each also has its `modules.entitlement.granted` event).
    pub grants: Vec<GrantId>,
}

impl DomainEvent for SubscriptionActivated {
    const NAME: &'static str = "modules.subscription.activated";
    const VERSION: u32 = 1;
}

/// An active subscription was renewed: the next term's subscription was quoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionRenewed {
    /// The subscription renewed (now `renewed`).
    pub subscription: SubscriptionId,
    /// The next term's subscription (quoted; it follows its own lifecycle).
    pub renewal: SubscriptionId,
    /// First day of the next term (this term's end).
    pub next_term_start: NaiveDate,
    /// Next term's length in months.
    pub months: u32,
    /// The renewal's quoted value.
    pub renewal_value: Money,
}

impl DomainEvent for SubscriptionRenewed {
    const NAME: &'static str = "modules.subscription.renewed";
    const VERSION: u32 = 1;
}

/// A subscription was cancelled before payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionCancelled {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// Its state before (`quoted` or `signed`).
    pub from: SubscriptionState,
    /// The civil day it was cancelled.
    pub on: NaiveDate,
    /// The subscription it was to renew, put back to `active`, if it was a renewal.
    pub renewal_of: Option<SubscriptionId>,
}

impl DomainEvent for SubscriptionCancelled {
    const NAME: &'static str = "modules.subscription.cancelled";
    const VERSION: u32 = 1;
}

/// A subscription's term ended without renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionExpired {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// Day after the term's last day.
    pub term_end: Option<NaiveDate>,
    /// The civil day the expiry was recorded.
    pub on: NaiveDate,
}

impl DomainEvent for SubscriptionExpired {
    const NAME: &'static str = "modules.subscription.expired";
    const VERSION: u32 = 1;
}

/// A paid subscription was refunded before it was ever activated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionRefunded {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The amount refunded (the contract's value).
    pub amount: Money,
    /// The civil day of the refund.
    pub on: NaiveDate,
}

impl DomainEvent for SubscriptionRefunded {
    const NAME: &'static str = "modules.subscription.refunded";
    const VERSION: u32 = 1;
}

/// Where a grant came from, without free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantOrigin {
    /// A subscription's term.
    Subscription {
        /// The subscription id.
        subscription: String,
    },
    /// An add-on bought mid-term.
    AddOn {
        /// The subscription amended.
        subscription: String,
        /// The amendment id.
        amendment: String,
    },
    /// Granted by hand (the reason stays in the grant record).
    Manual,
}

/// A quota of a grant, as the event reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantedQuota {
    /// The unit.
    pub unit: UsageUnit,
    /// Units per period.
    pub quantity: u64,
    /// The period after which it resets.
    pub period: QuotaPeriod,
    /// Included or purchased.
    pub source: QuotaSource,
}

/// Seats of a module, as the event reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantedSeats {
    /// The seat-limited module.
    pub module: ModuleId,
    /// Number of seats.
    pub seats: u32,
}

/// A grant was stored: the tenant is entitled to its modules, seats and quotas from `start`
/// to `end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EntitlementGranted {
    /// The grant.
    pub grant: GrantId,
    /// Where it came from.
    pub origin: GrantOrigin,
    /// First day (inclusive).
    pub start: NaiveDate,
    /// Last day (exclusive).
    pub end: NaiveDate,
    /// Modules enabled.
    pub modules: Vec<ModuleId>,
    /// Seats of seat-limited modules.
    pub seats: Vec<GrantedSeats>,
    /// Usage quotas.
    pub quotas: Vec<GrantedQuota>,
}

impl DomainEvent for EntitlementGranted {
    const NAME: &'static str = "modules.entitlement.granted";
    const VERSION: u32 = 1;
}

impl EntitlementGranted {
    /// The event of `grant`.
    pub fn of(grant: &Grant) -> EntitlementGranted {
        let origin = match &grant.source {
            GrantSource::Subscription { subscription } => GrantOrigin::Subscription {
                subscription: subscription.clone(),
            },
            GrantSource::AddOn {
                subscription,
                amendment,
            } => GrantOrigin::AddOn {
                subscription: subscription.clone(),
                amendment: amendment.clone(),
            },
            _ => GrantOrigin::Manual,
        };
        EntitlementGranted {
            grant: grant.id,
            origin,
            start: grant.start,
            end: grant.end,
            modules: grant.modules.clone(),
            seats: grant
                .seats
                .iter()
                .map(|s| GrantedSeats {
                    module: s.module.clone(),
                    seats: s.seats,
                })
                .collect(),
            quotas: grant
                .quotas
                .iter()
                .map(|q| GrantedQuota {
                    unit: q.unit.clone(),
                    quantity: q.quantity.get(),
                    period: q.period,
                    source: q.source,
                })
                .collect(),
        }
    }
}

/// An account was given a seat of a seat-limited module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SeatAssigned {
    /// The module.
    pub module: ModuleId,
    /// The account (the caller's user id, never contact data).
    pub account: AccountId,
    /// Seats of the module held after the change.
    pub assigned: u32,
}

impl DomainEvent for SeatAssigned {
    const NAME: &'static str = "modules.seat.assigned";
    const VERSION: u32 = 1;
}

/// An account's seat of a module was freed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SeatReleased {
    /// The module.
    pub module: ModuleId,
    /// The account (the caller's user id, never contact data).
    pub account: AccountId,
    /// Seats of the module held after the change.
    pub assigned: u32,
}

impl DomainEvent for SeatReleased {
    const NAME: &'static str = "modules.seat.released";
    const VERSION: u32 = 1;
}

/// Recorded usage of a unit crossed a threshold (80%) of its limit on a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuotaThresholdReached {
    /// The unit.
    pub unit: UsageUnit,
    /// The civil day the usage counted on (its quota windows are those covering it).
    pub date: NaiveDate,
    /// The threshold crossed, in percent of the limit.
    pub percent: u8,
    /// Units used right after the usage that crossed it.
    pub used: u64,
    /// The limit: the sum of the quotas valid that day.
    pub limit: u64,
    /// The usage event's idempotency key (the caller's reference, not personal data).
    pub usage_key: String,
}

impl DomainEvent for QuotaThresholdReached {
    const NAME: &'static str = "modules.quota.threshold_reached";
    const VERSION: u32 = 1;
}

/// Recorded usage of a unit reached its whole limit on a day: further consumes are refused
/// until the window resets or quota is bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuotaExhausted {
    /// The unit.
    pub unit: UsageUnit,
    /// The civil day the usage counted on.
    pub date: NaiveDate,
    /// Units used right after the usage that exhausted it.
    pub used: u64,
    /// The limit: the sum of the quotas valid that day.
    pub limit: u64,
    /// The usage event's idempotency key.
    pub usage_key: String,
}

impl DomainEvent for QuotaExhausted {
    const NAME: &'static str = "modules.quota.exhausted";
    const VERSION: u32 = 1;
}

/// The threshold reported by [`QuotaThresholdReached`], in percent.
pub const QUOTA_THRESHOLD_PERCENT: u8 = 80;

/// The usage (in units) at which `limit` counts as 80% used: the smallest whole number of
/// units at or above 80% of it.
pub(crate) fn threshold_units(limit: u64) -> u64 {
    let scaled = u128::from(limit) * u128::from(QUOTA_THRESHOLD_PERCENT);
    u64::try_from(scaled.div_ceil(100)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_valid() {
        event_catalog().validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(event_catalog().types().len(), 10);
    }

    #[test]
    fn the_threshold_rounds_up() {
        assert_eq!(threshold_units(100), 80);
        assert_eq!(threshold_units(10), 8);
        assert_eq!(threshold_units(3), 3); // 2.4 -> 3
        assert_eq!(threshold_units(1), 1);
        assert_eq!(threshold_units(0), 0);
    }
}
