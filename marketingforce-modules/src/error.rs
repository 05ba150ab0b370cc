//! The crate's error type: [`ModulesError`].
//!
//! Every variant says what went wrong and on what. Bad input is a
//! [`ModulesError::Core`] wrapping a core [`Error::Validation`] that names the field path
//! (`lines[2].quantity`); domain refusals (no quota, no seat, not entitled, short prepayment)
//! have their own variants carrying the figures a caller needs to explain or fix the refusal.

use marketingforce_core::money::{Money, Quantity};
use marketingforce_core::Error;

use crate::catalog::{ModuleId, UsageUnit};

/// Result alias of this crate.
pub type Result<T, E = ModulesError> = std::result::Result<T, E>;

/// What a denied usage consume could buy to go on: one usage pack offer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackOffer {
    /// The pack's id in the product catalog (e.g. `pack.videos_rendered.100`).
    pub pack: String,
    /// Units one pack adds.
    pub quantity: Quantity,
    /// Price of one pack for a full year (prorated when bought mid-term).
    pub price: Money,
}

/// Everything that can go wrong in `marketingforce-modules`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModulesError {
    /// A core error: validation (with the field path), not found, conflict, tenant isolation,
    /// idempotency mismatch, invalid state, backend, timeout, serialization.
    #[error(transparent)]
    Core(#[from] Error),

    /// A module id that is not in the catalog.
    #[error("unknown module {id} at {path}")]
    UnknownModule {
        /// The id asked for.
        id: String,
        /// Where it was named (e.g. `add_ons[1]`).
        path: String,
    },

    /// A bundle (product version) id that is not in the product catalog.
    #[error("unknown bundle {id} at {path}")]
    UnknownBundle {
        /// The id asked for.
        id: String,
        /// Where it was named.
        path: String,
    },

    /// A usage pack id that is not in the product catalog.
    #[error("unknown usage pack {id} at {path}")]
    UnknownPack {
        /// The id asked for.
        id: String,
        /// Where it was named.
        path: String,
    },

    /// A bundle sold per account was asked for with fewer accounts than its minimum.
    #[error("bundle {bundle} needs at least {minimum} accounts, {requested} requested")]
    BelowMinimumSeats {
        /// The bundle.
        bundle: String,
        /// Its minimum number of accounts.
        minimum: u32,
        /// What was asked for.
        requested: u32,
    },

    /// A module was ordered without a module it requires.
    #[error("{module} requires {requires}, which the tenant does not have (at {path})")]
    MissingRequirement {
        /// The module ordered.
        module: ModuleId,
        /// The module it needs.
        requires: ModuleId,
        /// Where it was ordered.
        path: String,
    },

    /// The tenant is not entitled to a module.
    #[error("module {module} is not enabled for tenant {tenant}{}", offer_hint(.offered_in))]
    NotEntitled {
        /// The tenant.
        tenant: String,
        /// The module.
        module: ModuleId,
        /// Bundles that include it (it can also be bought as an add-on when in the catalog).
        offered_in: Vec<String>,
    },

    /// Every seat of a seat-limited module is assigned.
    #[error("all {limit} seats of {module} are assigned ({assigned} in use)")]
    SeatLimitReached {
        /// The seat-limited module.
        module: ModuleId,
        /// Seats bought.
        limit: u32,
        /// Seats assigned.
        assigned: u32,
    },

    /// The tenant has no quota at all for a usage unit (today).
    #[error("tenant {tenant} has no quota for {unit}{}", pack_hint(.can_buy))]
    NoQuota {
        /// The tenant.
        tenant: String,
        /// The unit.
        unit: UsageUnit,
        /// Packs that add quota for this unit.
        can_buy: Vec<PackOffer>,
    },

    /// A consume or reservation would exceed the quota.
    #[error(
        "quota of {unit} exceeded: requested {requested}, {remaining} left of {limit} (until {window_end}){}",
        pack_hint(.can_buy)
    )]
    QuotaExceeded {
        /// The unit.
        unit: UsageUnit,
        /// What was asked for.
        requested: Quantity,
        /// What is left now (not reserved, not used).
        remaining: Quantity,
        /// The total of the quotas valid today.
        limit: Quantity,
        /// The day the earliest-ending of these quotas ends (exclusive), when it resets or
        /// expires.
        window_end: chrono::NaiveDate,
        /// Packs that add quota for this unit.
        can_buy: Vec<PackOffer>,
    },

    /// A module ran, but the usage it reported after running was refused (the quota is
    /// used up): its per-call usage is metered, and so is any reported usage before the
    /// refused one; no result is stored, so retrying the key runs the module again (without
    /// metering those a second time: their events are keyed by the invocation key).
    #[error("{module} ran, but the usage it reported was refused: {refused}")]
    ReportedUsageRefused {
        /// The module that ran.
        module: ModuleId,
        /// Why the reported usage was refused ([`ModulesError::QuotaExceeded`] or
        /// [`ModulesError::NoQuota`]).
        refused: Box<ModulesError>,
    },

    /// A usage event key was replayed with a different unit or quantity.
    #[error(
        "usage event {key} was first recorded as {first_quantity} {first_unit}, now {quantity} {unit}"
    )]
    UsageEventMismatch {
        /// The event key.
        key: String,
        /// Unit of the first recording.
        first_unit: UsageUnit,
        /// Quantity of the first recording.
        first_quantity: Quantity,
        /// Unit of the replay.
        unit: UsageUnit,
        /// Quantity of the replay.
        quantity: Quantity,
    },

    /// A reservation key that is not open (never reserved, already committed or released).
    #[error("reservation {key} is not open: {reason}")]
    ReservationNotOpen {
        /// The reservation (event) key.
        key: String,
        /// Why.
        reason: String,
    },

    /// A refund was asked for a subscription that is already in use.
    #[error("subscription {subscription} was activated on {activated_on}: no refunds once in use")]
    RefundNotAllowed {
        /// The subscription.
        subscription: String,
        /// When it was activated.
        activated_on: chrono::NaiveDate,
    },

    /// A channel order costs more than the partner's remaining prepayment.
    #[error("partner {partner} has {balance} of prepayment left, the order needs {required}")]
    InsufficientPrepayment {
        /// The partner.
        partner: String,
        /// The remaining balance.
        balance: Money,
        /// What the order would deduct.
        required: Money,
    },

    /// A third-party manifest claims a namespace or id of a built-in module.
    #[error("module id {id} clashes with the built-in catalog ({reason})")]
    NamespaceClash {
        /// The manifest's id.
        id: String,
        /// Why it clashes.
        reason: String,
    },

    /// A tenant called a hosted module faster than its rate limit allows.
    #[error("tenant {tenant} exceeded the rate limit of {module}; retry in {retry_after_ms} ms")]
    RateLimited {
        /// The tenant.
        tenant: String,
        /// The module.
        module: ModuleId,
        /// When a call will be admitted again.
        retry_after_ms: u64,
    },

    /// A hosted third-party module failed.
    #[error("module {module} failed: {message}")]
    ModuleFailed {
        /// The module.
        module: ModuleId,
        /// What it reported.
        message: String,
    },
}

fn offer_hint(bundles: &[String]) -> String {
    if bundles.is_empty() {
        String::new()
    } else {
        format!("; included in {}", bundles.join(", "))
    }
}

fn pack_hint(packs: &[PackOffer]) -> String {
    if packs.is_empty() {
        return String::new();
    }
    let offers: Vec<String> = packs
        .iter()
        .map(|p| format!("{} (+{} for {})", p.pack, p.quantity, p.price))
        .collect();
    format!("; can buy {}", offers.join(", "))
}

impl ModulesError {
    /// A validation error on `field` for `reason` (a [`ModulesError::Core`]).
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> ModulesError {
        ModulesError::Core(Error::validation(field, reason))
    }

    /// Prefix the field path of a validation error (or of the `path` of an unknown-id error).
    #[must_use]
    pub fn in_field(self, parent: impl std::fmt::Display) -> ModulesError {
        let parent = parent.to_string();
        let join = |p: String| {
            if p.is_empty() {
                parent.clone()
            } else if p.starts_with('[') {
                format!("{parent}{p}")
            } else {
                format!("{parent}.{p}")
            }
        };
        match self {
            ModulesError::Core(e) => ModulesError::Core(e.in_field(&parent)),
            ModulesError::UnknownModule { id, path } => ModulesError::UnknownModule {
                id,
                path: join(path),
            },
            ModulesError::UnknownBundle { id, path } => ModulesError::UnknownBundle {
                id,
                path: join(path),
            },
            ModulesError::UnknownPack { id, path } => ModulesError::UnknownPack {
                id,
                path: join(path),
            },
            ModulesError::MissingRequirement {
                module,
                requires,
                path,
            } => ModulesError::MissingRequirement {
                module,
                requires,
                path: join(path),
            },
            other => other,
        }
    }

    /// A short, stable, machine-readable code (for logs and HTTP mapping).
    pub fn code(&self) -> &'static str {
        match self {
            ModulesError::Core(e) => e.code(),
            ModulesError::UnknownModule { .. } => "unknown_module",
            ModulesError::UnknownBundle { .. } => "unknown_bundle",
            ModulesError::UnknownPack { .. } => "unknown_pack",
            ModulesError::BelowMinimumSeats { .. } => "below_minimum_seats",
            ModulesError::MissingRequirement { .. } => "missing_requirement",
            ModulesError::NotEntitled { .. } => "not_entitled",
            ModulesError::SeatLimitReached { .. } => "seat_limit_reached",
            ModulesError::NoQuota { .. } => "no_quota",
            ModulesError::QuotaExceeded { .. } => "quota_exceeded",
            ModulesError::ReportedUsageRefused { .. } => "reported_usage_refused",
            ModulesError::UsageEventMismatch { .. } => "usage_event_mismatch",
            ModulesError::ReservationNotOpen { .. } => "reservation_not_open",
            ModulesError::RefundNotAllowed { .. } => "refund_not_allowed",
            ModulesError::InsufficientPrepayment { .. } => "insufficient_prepayment",
            ModulesError::NamespaceClash { .. } => "namespace_clash",
            ModulesError::RateLimited { .. } => "rate_limited",
            ModulesError::ModuleFailed { .. } => "module_failed",
        }
    }

    /// The field path of a validation error, if this is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ModulesError::Core(Error::Validation { field, .. }) => Some(field),
            ModulesError::UnknownModule { path, .. }
            | ModulesError::UnknownBundle { path, .. }
            | ModulesError::UnknownPack { path, .. }
            | ModulesError::MissingRequirement { path, .. } => Some(path),
            ModulesError::BelowMinimumSeats { .. } => Some("accounts"),
            _ => None,
        }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ModulesError::Core(e) => e.is_retryable(),
            ModulesError::RateLimited { .. } => true,
            _ => false,
        }
    }
}

impl marketingforce_core::Classify for ModulesError {
    fn kind(&self) -> marketingforce_core::ErrorKind {
        use marketingforce_core::ErrorKind as K;
        match self {
            ModulesError::Core(e) => e.kind(),
            ModulesError::UnknownModule { .. }
            | ModulesError::UnknownBundle { .. }
            | ModulesError::UnknownPack { .. }
            | ModulesError::BelowMinimumSeats { .. }
            | ModulesError::MissingRequirement { .. }
            | ModulesError::NamespaceClash { .. } => K::InvalidInput,
            ModulesError::NotEntitled { .. } => K::Forbidden,
            ModulesError::SeatLimitReached { .. }
            | ModulesError::NoQuota { .. }
            | ModulesError::QuotaExceeded { .. }
            | ModulesError::ReportedUsageRefused { .. }
            | ModulesError::InsufficientPrepayment { .. } => K::LimitExceeded,
            ModulesError::UsageEventMismatch { .. } => K::IdempotencyMismatch,
            ModulesError::ReservationNotOpen { .. } | ModulesError::RefundNotAllowed { .. } => {
                K::InvalidState
            }
            ModulesError::RateLimited { .. } => K::RateLimited,
            ModulesError::ModuleFailed { .. } => K::Rejected,
        }
    }

    fn code(&self) -> &'static str {
        ModulesError::code(self)
    }

    fn field(&self) -> Option<&str> {
        ModulesError::field(self)
    }

    fn is_retryable(&self) -> bool {
        ModulesError::is_retryable(self)
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;
    use marketingforce_core::{Classify, ErrorKind};

    #[test]
    fn kinds_follow_the_core_classification() {
        let stale = ModulesError::Core(Error::StaleView {
            journal: "modules.usage".into(),
            expected: 1,
            actual: 2,
        });
        assert_eq!(Classify::kind(&stale), ErrorKind::Conflict);
        assert!(Classify::is_retryable(&stale));
        let bad = ModulesError::validation("quantity", "must be positive");
        assert_eq!(
            (Classify::kind(&bad), Classify::field(&bad)),
            (ErrorKind::InvalidInput, Some("quantity"))
        );
        let limit = ModulesError::SeatLimitReached {
            module: crate::catalog::ModuleId::LEADS_ALLOCATION,
            limit: 1,
            assigned: 1,
        };
        assert_eq!(Classify::kind(&limit), ErrorKind::LimitExceeded);
        assert_eq!(Classify::code(&limit), "seat_limit_reached");
        assert!(!Classify::is_retryable(&limit));
    }

    #[test]
    fn every_invalid_input_names_its_field() {
        let few = ModulesError::BelowMinimumSeats {
            bundle: "trueclient.standard".into(),
            minimum: 5,
            requested: 3,
        };
        assert_eq!(
            (Classify::kind(&few), Classify::field(&few)),
            (ErrorKind::InvalidInput, Some("accounts"))
        );
    }
}
