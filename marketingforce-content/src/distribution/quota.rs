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

/// A usage meter of the content product: what a [`QuotaGate`] takes quota of. Typed, so a
/// gate can never be asked for a meter that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Meter {
    /// Articles generated (`content.articles`).
    Articles,
    /// Images generated (`content.images`).
    Images,
    /// Videos generated (`content.videos`).
    Videos,
    /// Release-quota units consumed by publications (`content.publications`).
    Publications,
}

impl Meter {
    /// Every meter.
    pub const ALL: [Meter; 4] = [
        Meter::Articles,
        Meter::Images,
        Meter::Videos,
        Meter::Publications,
    ];

    /// The meter's stable name (`content.articles`, …): in idempotency keys, errors, metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Meter::Articles => "content.articles",
            Meter::Images => "content.images",
            Meter::Videos => "content.videos",
            Meter::Publications => "content.publications",
        }
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The meters by name, as constants (`meters::ARTICLES` is [`Meter::Articles`]).
pub mod meters {
    use super::Meter;

    /// Articles generated.
    pub const ARTICLES: Meter = Meter::Articles;
    /// Images generated.
    pub const IMAGES: Meter = Meter::Images;
    /// Videos generated.
    pub const VIDEOS: Meter = Meter::Videos;
    /// Release-quota units consumed by publications.
    pub const PUBLICATIONS: Meter = Meter::Publications;
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
///
/// The life of a key: [`reserve`](Self::reserve) holds units (reserving again while the key is
/// held or after it was committed consumes nothing, `consumed: 0`); [`commit`](Self::commit)
/// records them as used for good; [`release`](Self::release) gives an open hold back and
/// forgets the key, so a retry of work that did not happen holds quota again. A committed key
/// is never given back.
#[async_trait]
pub trait QuotaGate: Send + Sync + fmt::Debug {
    /// Hold `units` of `meter` for `tenant` under `key` (they count against the quota at once).
    ///
    /// # Errors
    /// [`ContentError::QuotaExceeded`] when fewer than `units` remain (nothing is held).
    async fn reserve(
        &self,
        tenant: &TenantId,
        meter: Meter,
        units: u64,
        key: &str,
    ) -> Result<QuotaGrant>;

    /// Record the held units as used (the work happened). Idempotent.
    ///
    /// # Errors
    /// Backend errors; an error when `key` holds no open reservation (never reserved, or
    /// released meanwhile).
    async fn commit(&self, tenant: &TenantId, meter: Meter, units: u64, key: &str) -> Result<()>;

    /// Give back what `key` holds (the work did not happen). Idempotent; unknown and committed
    /// keys are ignored.
    ///
    /// # Errors
    /// Backend errors.
    async fn release(&self, tenant: &TenantId, meter: Meter, key: &str) -> Result<()>;
}

/// No limits.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

#[async_trait]
impl QuotaGate for Unlimited {
    async fn reserve(&self, _: &TenantId, _: Meter, units: u64, _: &str) -> Result<QuotaGrant> {
        Ok(QuotaGrant {
            consumed: units,
            remaining: None,
        })
    }

    async fn commit(&self, _: &TenantId, _: Meter, _: u64, _: &str) -> Result<()> {
        Ok(())
    }

    async fn release(&self, _: &TenantId, _: Meter, _: &str) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Default)]
struct MeterState {
    limit: Option<u64>,
    used: u64,
    /// Open reservations and committed consumptions per idempotency key. A released key is
    /// forgotten, so a retry of work that did not happen holds quota again (as the platform's
    /// meter does); a committed key stays, so its replay takes nothing more.
    keys: HashMap<String, Hold>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// Reserved, work in progress.
    Open(u64),
    /// The work happened.
    Committed,
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
    meters: Mutex<HashMap<(TenantId, Meter), MeterState>>,
}

impl InMemoryQuota {
    /// No limits yet.
    pub fn new() -> InMemoryQuota {
        InMemoryQuota::default()
    }

    /// Set the quota of a meter (e.g. release units bought in bulk).
    pub fn set_limit(&self, tenant: &TenantId, meter: Meter, limit: u64) {
        let mut m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        m.entry((*tenant, meter)).or_default().limit = Some(limit);
    }

    /// Units used.
    pub fn used(&self, tenant: &TenantId, meter: Meter) -> u64 {
        let m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(&(*tenant, meter)).map_or(0, |s| s.used)
    }
}

#[async_trait]
impl QuotaGate for InMemoryQuota {
    async fn reserve(
        &self,
        tenant: &TenantId,
        meter: Meter,
        units: u64,
        key: &str,
    ) -> Result<QuotaGrant> {
        let mut m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        let s = m.entry((*tenant, meter)).or_default();
        let remaining = |s: &MeterState| s.limit.map(|l| l.saturating_sub(s.used));
        if s.keys.contains_key(key) {
            return Ok(QuotaGrant {
                consumed: 0,
                remaining: remaining(s),
            });
        }
        if let Some(left) = remaining(s) {
            if left < units {
                return Err(ContentError::QuotaExceeded {
                    meter,
                    requested: units,
                    remaining: left,
                });
            }
        }
        // An unlimited meter still counts in a u64: what it cannot count is refused.
        let Some(used) = s.used.checked_add(units) else {
            return Err(ContentError::QuotaExceeded {
                meter,
                requested: units,
                remaining: u64::MAX - s.used,
            });
        };
        s.used = used;
        s.keys.insert(key.to_string(), Hold::Open(units));
        Ok(QuotaGrant {
            consumed: units,
            remaining: remaining(s),
        })
    }

    async fn commit(&self, tenant: &TenantId, meter: Meter, _: u64, key: &str) -> Result<()> {
        // Reserved units already count as used; the key is marked so a release cannot give
        // them back.
        let mut m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        let hold = m
            .get_mut(&(*tenant, meter))
            .and_then(|s| s.keys.get_mut(key));
        match hold {
            Some(h) => {
                *h = Hold::Committed;
                Ok(())
            }
            None => Err(ContentError::validation(
                "key",
                format!(
                    "no open reservation of {meter} under {key:?} (never reserved, or released)"
                ),
            )),
        }
    }

    async fn release(&self, tenant: &TenantId, meter: Meter, key: &str) -> Result<()> {
        let mut m = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = m.get_mut(&(*tenant, meter)) {
            if let Some(&Hold::Open(units)) = s.keys.get(key) {
                s.used = s.used.saturating_sub(units);
                s.keys.remove(key);
            }
        }
        Ok(())
    }
}
