//! The usage-metering seam: content generation and publishing take quota through
//! [`QuotaGate`] — reserve before the work, commit when it happened, release when it did not.
//! [`Unlimited`] lets everything through; [`InMemoryQuota`] enforces limits atomically in memory
//! (tests, simulations); [`ModulesQuota`](super::ModulesQuota) meters through the platform's
//! entitlements (`marketingforce-modules`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};

/// Usage meters of the content product.
pub mod meters {
    /// Articles generated.
    pub const ARTICLES: &str = "content.articles";
    /// Images generated.
    pub const IMAGES: &str = "content.images";
    /// Videos generated.
    pub const VIDEOS: &str = "content.videos";
    /// Release-quota units consumed by publications.
    pub const PUBLICATIONS: &str = "content.publications";
}

/// What a consumption left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaGrant {
    /// Units consumed by this call (0 when the key was replayed).
    pub consumed: u64,
    /// Units left afterwards (`None`: unlimited).
    pub remaining: Option<u64>,
}

/// Takes usage quota. Implementations must be atomic (concurrent callers never take more than
/// the quota together) and idempotent per key (a replayed key takes nothing more).
#[async_trait]
pub trait QuotaGate: Send + Sync + fmt::Debug {
    /// Hold `units` of `meter` for `tenant` under `key` (they count against the quota at once).
    ///
    /// # Errors
    /// [`ContentError::QuotaExhausted`] when fewer than `units` remain (nothing is held).
    async fn reserve(
        &self,
        tenant: &TenantId,
        meter: &str,
        units: u64,
        key: &str,
    ) -> Result<QuotaGrant>;

    /// Record the held units as used (the work happened). Idempotent.
    ///
    /// # Errors
    /// Backend errors.
    async fn commit(&self, tenant: &TenantId, meter: &str, units: u64, key: &str) -> Result<()>;

    /// Give back what `key` holds (the work did not happen). Idempotent; unknown keys are
    /// ignored.
    ///
    /// # Errors
    /// Backend errors.
    async fn release(&self, tenant: &TenantId, meter: &str, key: &str) -> Result<()>;
}

/// No limits.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

#[async_trait]
impl QuotaGate for Unlimited {
    async fn reserve(&self, _: &TenantId, _: &str, units: u64, _: &str) -> Result<QuotaGrant> {
        Ok(QuotaGrant {
            consumed: units,
            remaining: None,
        })
    }

    async fn commit(&self, _: &TenantId, _: &str, _: u64, _: &str) -> Result<()> {
        Ok(())
    }

    async fn release(&self, _: &TenantId, _: &str, _: &str) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Default)]
struct MeterState {
    limit: Option<u64>,
    used: u64,
    /// Units consumed per idempotency key (released keys are kept with 0 so a late replay of the
    /// consumption does not take quota again).
    keys: HashMap<String, u64>,
}

/// Atomic in-memory quotas per tenant and meter. Meters without a limit are unlimited.
///
/// ```
/// use marketingforce_content::distribution::{InMemoryQuota, QuotaGate, meters};
/// use marketingforce_core::tenant::TenantId;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let t = TenantId::new();
/// let q = InMemoryQuota::new();
/// q.set_limit(&t, meters::PUBLICATIONS, 2);
/// q.reserve(&t, meters::PUBLICATIONS, 1, "a").await.unwrap();
/// q.reserve(&t, meters::PUBLICATIONS, 1, "a").await.unwrap(); // replay: nothing more
/// q.reserve(&t, meters::PUBLICATIONS, 1, "b").await.unwrap();
/// assert!(q.reserve(&t, meters::PUBLICATIONS, 1, "c").await.is_err());
/// assert_eq!(q.used(&t, meters::PUBLICATIONS), 2);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryQuota {
    meters: Mutex<HashMap<(TenantId, String), MeterState>>,
}

impl InMemoryQuota {
    /// No limits yet.
    pub fn new() -> InMemoryQuota {
        InMemoryQuota::default()
    }

    /// Set the quota of a meter (e.g. release units bought in bulk).
    pub fn set_limit(&self, tenant: &TenantId, meter: &str, limit: u64) {
        let mut m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        m.entry((*tenant, meter.to_string())).or_default().limit = Some(limit);
    }

    /// Units used.
    pub fn used(&self, tenant: &TenantId, meter: &str) -> u64 {
        let m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(&(*tenant, meter.to_string())).map_or(0, |s| s.used)
    }
}

#[async_trait]
impl QuotaGate for InMemoryQuota {
    async fn reserve(
        &self,
        tenant: &TenantId,
        meter: &str,
        units: u64,
        key: &str,
    ) -> Result<QuotaGrant> {
        let mut m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        let s = m.entry((*tenant, meter.to_string())).or_default();
        let remaining = |s: &MeterState| s.limit.map(|l| l.saturating_sub(s.used));
        if s.keys.contains_key(key) {
            return Ok(QuotaGrant {
                consumed: 0,
                remaining: remaining(s),
            });
        }
        if let Some(left) = remaining(s) {
            if left < units {
                return Err(ContentError::QuotaExhausted {
                    meter: meter.into(),
                    requested: units,
                    remaining: left,
                });
            }
        }
        s.used += units;
        s.keys.insert(key.to_string(), units);
        Ok(QuotaGrant {
            consumed: units,
            remaining: remaining(s),
        })
    }

    async fn commit(&self, _: &TenantId, _: &str, _: u64, _: &str) -> Result<()> {
        // Reserved units already count as used.
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, meter: &str, key: &str) -> Result<()> {
        let mut m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = m.get_mut(&(*tenant, meter.to_string())) {
            if let Some(units) = s.keys.get_mut(key) {
                s.used = s.used.saturating_sub(*units);
                *units = 0;
            }
        }
        Ok(())
    }
}
