//! [`Grant`]: what one source (a subscription term, an add-on, a manual grant) entitles a tenant
//! to between two dates.

use chrono::NaiveDate;
use marketingforce_core::entity_id;
use marketingforce_core::money::Quantity;
use marketingforce_core::storage::Entity;
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, ModuleId, QuotaPeriod, UsageUnit};
use crate::error::{ModulesError, Result};

entity_id! {
    /// Identifies a [`Grant`].
    pub struct GrantId("grant");
}

/// Where a grant comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum GrantSource {
    /// The term of a subscription (its bundle's modules, seats and included usage).
    Subscription {
        /// The subscription id.
        subscription: String,
    },
    /// An add-on bought mid-term (modules, extra seats, usage packs), co-terminated.
    AddOn {
        /// The subscription it amends.
        subscription: String,
        /// The amendment id.
        amendment: String,
    },
    /// Granted by hand (operations, promotions, tests).
    Manual {
        /// Why.
        reason: String,
    },
}

/// Seats of a seat-limited module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatGrant {
    /// The seat-limited module.
    pub module: ModuleId,
    /// Number of seats.
    pub seats: u32,
}

/// Whether a quota was included in what was bought or bought as a usage pack. Included quota is
/// drawn before purchased quota.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum QuotaSource {
    /// Included in the bundle or module.
    Included,
    /// Bought as a usage pack.
    Purchased,
}

/// A usage quota: `quantity` units of `unit` per `period`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaGrant {
    /// The unit.
    pub unit: UsageUnit,
    /// Units per period.
    pub quantity: Quantity,
    /// The period after which the quota resets.
    pub period: QuotaPeriod,
    /// Included or purchased.
    pub source: QuotaSource,
}

/// What one source entitles a tenant to from `start` (inclusive) to `end` (exclusive), civil
/// dates in the tenant's time zone.
///
/// Grants are the interface between commerce and enforcement: activating a subscription,
/// buying an add-on or granting by hand writes a grant; the
/// [`EntitlementRegistry`](super::EntitlementRegistry) compiles the grants of a tenant into its
/// entitlements. In tests, build one directly:
///
/// ```
/// use chrono::NaiveDate;
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
/// use marketingforce_modules::entitlements::Grant;
///
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let grant = Grant::new(TenantId::new(), d("2026-01-01"), d("2027-01-01"))
///     .module(ModuleId::T_VIDEO)
///     .seats(ModuleId::LEADS_ALLOCATION, 5)
///     .quota(UsageUnit::VideosRendered, 100, QuotaPeriod::Month);
/// assert_eq!(grant.seats[0].seats, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The grant's id.
    pub id: GrantId,
    /// The tenant entitled.
    pub tenant: TenantId,
    /// Where it comes from.
    pub source: GrantSource,
    /// First day (inclusive).
    pub start: NaiveDate,
    /// Last day (exclusive).
    pub end: NaiveDate,
    /// Modules enabled (their required modules are enabled with them).
    #[serde(default)]
    pub modules: Vec<ModuleId>,
    /// Seats of seat-limited modules (the modules are enabled too).
    #[serde(default)]
    pub seats: Vec<SeatGrant>,
    /// Usage quotas.
    #[serde(default)]
    pub quotas: Vec<QuotaGrant>,
}

impl Entity for Grant {
    const COLLECTION: &'static str = "modules.grants";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

impl Grant {
    /// An empty manual grant for `tenant` from `start` to `end` (exclusive), with a fresh id.
    pub fn new(tenant: TenantId, start: NaiveDate, end: NaiveDate) -> Grant {
        Grant {
            id: GrantId::new(),
            tenant,
            source: GrantSource::Manual {
                reason: "manual grant".into(),
            },
            start,
            end,
            modules: Vec::new(),
            seats: Vec::new(),
            quotas: Vec::new(),
        }
    }

    /// Set the id (e.g. from a seeded generator).
    #[must_use]
    pub fn with_id(mut self, id: GrantId) -> Grant {
        self.id = id;
        self
    }

    /// Set the source.
    #[must_use]
    pub fn with_source(mut self, source: GrantSource) -> Grant {
        self.source = source;
        self
    }

    /// Enable a module.
    #[must_use]
    pub fn module(mut self, module: ModuleId) -> Grant {
        self.modules.push(module);
        self
    }

    /// Grant `seats` seats of a seat-limited module.
    #[must_use]
    pub fn seats(mut self, module: ModuleId, seats: u32) -> Grant {
        self.seats.push(SeatGrant { module, seats });
        self
    }

    /// Include `quantity` units of `unit` per `period`.
    #[must_use]
    pub fn quota(mut self, unit: UsageUnit, quantity: u64, period: QuotaPeriod) -> Grant {
        self.quotas.push(QuotaGrant {
            unit,
            quantity: Quantity::new(quantity),
            period,
            source: QuotaSource::Included,
        });
        self
    }

    /// Add a purchased pack of `quantity` units of `unit` for the whole grant.
    #[must_use]
    pub fn purchased(mut self, unit: UsageUnit, quantity: u64) -> Grant {
        self.quotas.push(QuotaGrant {
            unit,
            quantity: Quantity::new(quantity),
            period: QuotaPeriod::Term,
            source: QuotaSource::Purchased,
        });
        self
    }

    /// Whether the grant is in force on `date`.
    pub fn is_active_on(&self, date: NaiveDate) -> bool {
        self.start <= date && date < self.end
    }

    /// Check the grant against `catalog`.
    ///
    /// # Errors
    /// A validation error naming the field: `end` not after `start`, an unknown module
    /// (`modules[2]`), seats of a module that is not seat-limited (`seats[0].module`), zero
    /// seats or quantities, a unit quoted twice (`quotas[1].unit`).
    pub fn validate(&self, catalog: &Catalog) -> Result<()> {
        if self.end <= self.start {
            return Err(ModulesError::validation(
                "end",
                format!("{} does not come after start {}", self.end, self.start),
            ));
        }
        for (i, m) in self.modules.iter().enumerate() {
            catalog.require(m, &format!("modules[{i}]"))?;
        }
        for (i, s) in self.seats.iter().enumerate() {
            let module = catalog.require(&s.module, &format!("seats[{i}].module"))?;
            if !module.is_seat_limited() {
                return Err(ModulesError::validation(
                    format!("seats[{i}].module"),
                    format!("{} is not seat-limited", s.module),
                ));
            }
            if s.seats == 0 {
                return Err(ModulesError::validation(
                    format!("seats[{i}].seats"),
                    "must be at least 1",
                ));
            }
            if self.seats[..i].iter().any(|o| o.module == s.module) {
                return Err(ModulesError::validation(
                    format!("seats[{i}].module"),
                    format!("{} is granted seats twice", s.module),
                ));
            }
        }
        for (i, q) in self.quotas.iter().enumerate() {
            q.quantity
                .ensure_positive(&format!("quotas[{i}].quantity"))?;
            if self.quotas[..i]
                .iter()
                .any(|o| o.unit == q.unit && o.source == q.source)
            {
                return Err(ModulesError::validation(
                    format!("quotas[{i}].unit"),
                    format!("{} is granted twice", q.unit),
                ));
            }
        }
        Ok(())
    }
}
