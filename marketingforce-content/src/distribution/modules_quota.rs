//! [`QuotaGate`] on the platform's entitlements and usage metering
//! (`marketingforce_modules::metering::UsageMeter`).

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_core::tenant::TenantId;
use marketingforce_modules::catalog::UsageUnit;
use marketingforce_modules::entitlements::EntitlementRegistry;
use marketingforce_modules::ModulesError;

use super::quota::{Meter, QuotaGate, QuotaGrant};
use crate::error::{ContentError, Result};

/// Meters content usage through a tenant's entitlements: quota is held with
/// `UsageMeter::reserve` before the work, committed durably (group commit) when it happened,
/// released when it did not. Concurrent callers never exceed the quota (the meter's atomic
/// check-and-hold), and every key counts once.
///
/// Meters map to units: `content.articles` → `ArticlesPublished`, `content.images` →
/// `ImagesGenerated`, `content.videos` → `VideosRendered`, `content.publications` →
/// `Publications`.
#[derive(Debug, Clone)]
pub struct ModulesQuota {
    registry: Arc<EntitlementRegistry>,
}

impl ModulesQuota {
    /// Meter through `registry`.
    pub fn new(registry: Arc<EntitlementRegistry>) -> ModulesQuota {
        ModulesQuota { registry }
    }

    /// The usage unit of a meter.
    pub fn unit(meter: Meter) -> UsageUnit {
        match meter {
            Meter::Articles => UsageUnit::ArticlesPublished,
            Meter::Images => UsageUnit::ImagesGenerated,
            Meter::Videos => UsageUnit::VideosRendered,
            Meter::Publications => UsageUnit::Publications,
        }
    }
}

fn exhausted(meter: Meter, units: u64, e: ModulesError) -> ContentError {
    match e {
        ModulesError::QuotaExceeded { remaining, .. } => ContentError::QuotaExceeded {
            meter,
            requested: units,
            remaining: remaining.get(),
        },
        ModulesError::NoQuota { .. } => ContentError::QuotaExceeded {
            meter,
            requested: units,
            remaining: 0,
        },
        other => ContentError::Metering(other),
    }
}

/// The usage-event key of a gate `key`: the key itself when it is a valid [`IdempotencyKey`]
/// (every generation key of a name up to about 100 bytes: the stored form of earlier
/// versions), otherwise a key [derived](IdempotencyKey::derive) from the meter and hashed.
fn event_key(meter: Meter, key: &str) -> Result<IdempotencyKey> {
    match IdempotencyKey::new(key) {
        Ok(k) => Ok(k),
        Err(_) => Ok(IdempotencyKey::new(meter.as_str())?.derive(key)),
    }
}

#[async_trait]
impl QuotaGate for ModulesQuota {
    async fn reserve(
        &self,
        tenant: &TenantId,
        meter: Meter,
        units: u64,
        key: &str,
    ) -> Result<QuotaGrant> {
        let unit = ModulesQuota::unit(meter);
        let m = self.registry.load(tenant).await?.meter();
        match m.reserve(&unit, units, &event_key(meter, key)?) {
            Ok(r) => Ok(QuotaGrant {
                consumed: if r.replayed { 0 } else { units },
                remaining: Some(m.remaining(&unit).get()),
            }),
            // Already committed under this key: a replay takes nothing more.
            Err(ModulesError::ReservationNotOpen { .. }) => Ok(QuotaGrant {
                consumed: 0,
                remaining: Some(m.remaining(&unit).get()),
            }),
            Err(e) => Err(exhausted(meter, units, e)),
        }
    }

    async fn commit(&self, tenant: &TenantId, meter: Meter, units: u64, key: &str) -> Result<()> {
        let m = self.registry.load(tenant).await?.meter();
        m.commit_durable(units, &event_key(meter, key)?).await?;
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, meter: Meter, key: &str) -> Result<()> {
        self.registry
            .load(tenant)
            .await?
            .meter()
            .release(&event_key(meter, key)?);
        Ok(())
    }
}
