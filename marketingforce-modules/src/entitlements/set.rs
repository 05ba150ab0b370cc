//! [`EntitlementSet`]: the grants of a tenant compiled for one date.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use chrono::NaiveDate;
use marketingforce_core::money::Quantity;
use marketingforce_core::tenant::TenantId;
use serde::Serialize;

use super::grant::{Grant, GrantId, QuotaSource};
use crate::catalog::{Catalog, ModuleId, QuotaPeriod, UsageUnit};
use crate::error::Result;

/// One usage quota in force, as listed by [`EntitlementSet::quotas`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaLine {
    /// The grant it comes from.
    pub grant: GrantId,
    /// The unit.
    pub unit: UsageUnit,
    /// Units per period.
    pub quantity: Quantity,
    /// Reset period.
    pub period: QuotaPeriod,
    /// Included or purchased.
    pub source: QuotaSource,
    /// The grant's last day (exclusive).
    pub until: NaiveDate,
}

/// What a tenant may use on one date: enabled modules (with everything they require), seat
/// limits per seat-limited module, and the usage quotas in force.
///
/// Immutable: the [`EntitlementRegistry`](super::EntitlementRegistry) compiles a new one when
/// the tenant's grants change or a grant starts or ends.
///
/// ```
/// use chrono::NaiveDate;
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_modules::catalog::{Catalog, ModuleId};
/// use marketingforce_modules::entitlements::{EntitlementSet, Grant};
///
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let tenant = TenantId::new();
/// let g = Grant::new(tenant, d("2026-01-01"), d("2027-01-01")).seats(ModuleId::LEADS_ALLOCATION, 5);
/// let set = EntitlementSet::compile(&Catalog::builtin(), tenant, &[g], d("2026-06-01")).unwrap();
/// assert!(set.is_enabled(&ModuleId::LEADS_ALLOCATION));
/// assert!(set.is_enabled(&ModuleId::LEAD_MANAGEMENT)); // required by leads allocation
/// assert_eq!(set.seat_limit(&ModuleId::LEADS_ALLOCATION), Some(5));
/// assert_eq!(set.next_change(), Some(d("2027-01-01")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementSet {
    tenant: TenantId,
    as_of: NaiveDate,
    modules: HashSet<ModuleId>,
    seat_limits: HashMap<ModuleId, u32>,
    quotas: Vec<QuotaLine>,
    next_change: Option<NaiveDate>,
}

impl EntitlementSet {
    /// Nothing enabled.
    pub fn empty(tenant: TenantId, as_of: NaiveDate) -> EntitlementSet {
        EntitlementSet {
            tenant,
            as_of,
            modules: HashSet::new(),
            seat_limits: HashMap::new(),
            quotas: Vec::new(),
            next_change: None,
        }
    }

    /// Compile the grants in force on `as_of`.
    ///
    /// Seats of the same module from several grants add up; so do quotas (they are drawn
    /// separately, see [`UsageMeter`](crate::metering::UsageMeter)).
    ///
    /// # Errors
    /// A grant naming a module the catalog does not have.
    pub fn compile(
        catalog: &Catalog,
        tenant: TenantId,
        grants: &[Grant],
        as_of: NaiveDate,
    ) -> Result<EntitlementSet> {
        let mut direct = Vec::new();
        let mut seat_limits: HashMap<ModuleId, u32> = HashMap::new();
        let mut quotas = Vec::new();
        let mut next_change: Option<NaiveDate> = None;
        let mut bump = |d: NaiveDate| {
            if d > as_of && next_change.is_none_or(|n| d < n) {
                next_change = Some(d);
            }
        };
        for g in grants {
            bump(g.start);
            bump(g.end);
            if !g.is_active_on(as_of) {
                continue;
            }
            direct.extend(g.modules.iter().cloned());
            for s in &g.seats {
                direct.push(s.module.clone());
                let e = seat_limits.entry(s.module.clone()).or_insert(0);
                *e = e.saturating_add(s.seats);
            }
            for q in &g.quotas {
                quotas.push(QuotaLine {
                    grant: g.id,
                    unit: q.unit.clone(),
                    quantity: q.quantity,
                    period: q.period,
                    source: q.source,
                    until: g.end,
                });
            }
        }
        let modules = catalog
            .closure(direct)
            .map_err(|e| e.in_field("grants"))?
            .into_iter()
            .collect();
        Ok(EntitlementSet {
            tenant,
            as_of,
            modules,
            seat_limits,
            quotas,
            next_change,
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The date the set was compiled for.
    pub fn as_of(&self) -> NaiveDate {
        self.as_of
    }

    /// The first date after [`as_of`](Self::as_of) on which a grant starts or ends (the set must
    /// be recompiled then), if any.
    pub fn next_change(&self) -> Option<NaiveDate> {
        self.next_change
    }

    /// Whether `module` is enabled.
    #[inline]
    pub fn is_enabled(&self, module: &ModuleId) -> bool {
        self.modules.contains(module)
    }

    /// The seat limit of a seat-limited module (None when the tenant has no seats of it).
    #[inline]
    pub fn seat_limit(&self, module: &ModuleId) -> Option<u32> {
        self.seat_limits.get(module).copied()
    }

    /// Every enabled module, sorted.
    pub fn modules(&self) -> Vec<ModuleId> {
        let mut v: Vec<ModuleId> = self.modules.iter().cloned().collect();
        v.sort();
        v
    }

    /// Seat limits, sorted by module.
    pub fn seat_limits(&self) -> BTreeMap<ModuleId, u32> {
        self.seat_limits
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The usage quotas in force.
    pub fn quotas(&self) -> &[QuotaLine] {
        &self.quotas
    }
}
