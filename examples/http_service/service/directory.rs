//! The tenant directory: which tenants exist, on what bundle, with which service account.
//!
//! Records live in the store under [`OPERATOR_SCOPE`], the operator's own scope (no customer
//! tenant can be addressed as it), so the directory is as durable as the rest of the state and
//! a restarted service knows its tenants. A read-through cache keeps lookups off the store.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use marketingforce::core::id::Uuid;
use marketingforce::core::storage::{Collection, Entity, Store};
use marketingforce::core::tenant::{Tenant, TenantId};
use marketingforce::crm::ids::UserId;
use marketingforce::modules::entitlements::Grant;
use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// The scope of the operator's records (the directory, tenant-creation idempotency keys): a
/// fixed UUIDv7 at the Unix epoch, which no generator hands out.
pub const OPERATOR_SCOPE: TenantId =
    TenantId::from_uuid(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001));

/// A tenant as the service knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// The tenant's profile (id, name, time zone, currency).
    pub tenant: Tenant,
    /// The bundle it was provisioned on.
    pub bundle: String,
    /// Accounts bought, for bundles sold per account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<u32>,
    /// The grant that entitles it.
    pub grant: Grant,
    /// The staff account the API reads leads as (an administrator that sees every lead, masked).
    pub api_user: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Entity for TenantRecord {
    const COLLECTION: &'static str = "http_service.tenants";
    fn key(&self) -> String {
        self.tenant.id.to_string()
    }
}

/// A tenant creation in progress: the plan stored under the idempotency key before anything is
/// provisioned, so a retry resumes with the same ids and dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioning {
    /// The (scoped) idempotency key.
    pub key: String,
    /// Fingerprint of the creating request.
    pub fingerprint: String,
    /// The record to write when provisioning is done.
    pub record: TenantRecord,
}

impl Entity for Provisioning {
    const COLLECTION: &'static str = "http_service.provisioning";
    fn key(&self) -> String {
        self.key.clone()
    }
}

/// The directory over a store, with a read-through cache.
#[derive(Debug, Clone)]
pub struct Directory {
    records: Collection<TenantRecord>,
    plans: Collection<Provisioning>,
    cache: Arc<RwLock<HashMap<TenantId, TenantRecord>>>,
}

impl Directory {
    /// The directory in `store`.
    pub fn new(store: Arc<dyn Store>) -> Directory {
        Directory {
            records: Collection::new(store.clone()),
            plans: Collection::new(store),
            cache: Arc::default(),
        }
    }

    /// The tenant with the id in `raw` (a path segment). Malformed and unknown ids alike are
    /// 404, as is the operator scope.
    ///
    /// # Errors
    /// 404, or a backend problem.
    pub async fn get(&self, raw: &str) -> Result<TenantRecord, Problem> {
        let not_found = || Problem::not_found(format!("tenant {raw} not found"));
        let id: TenantId = raw.parse().map_err(|_| not_found())?;
        if id == OPERATOR_SCOPE {
            return Err(not_found());
        }
        if let Some(r) = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return Ok(r.clone());
        }
        let record = self
            .records
            .get(&OPERATOR_SCOPE, &id.to_string())
            .await?
            .ok_or_else(not_found)?
            .value;
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, record.clone());
        Ok(record)
    }

    /// The stored plan of a creation under `key`, or `plan` stored as the one that stands.
    ///
    /// # Errors
    /// 422 when the key's stored plan is for another request; backend problems.
    pub async fn plan(
        &self,
        key: &str,
        fingerprint: &str,
        plan: impl FnOnce() -> Result<TenantRecord, Problem>,
    ) -> Result<TenantRecord, Problem> {
        let standing = match self.plans.get(&OPERATOR_SCOPE, key).await? {
            Some(p) => p.value,
            None => {
                let fresh = Provisioning {
                    key: key.to_string(),
                    fingerprint: fingerprint.to_string(),
                    record: plan()?,
                };
                match self.plans.insert(&OPERATOR_SCOPE, &fresh).await {
                    Ok(_) => fresh,
                    // Another process planned first: its plan stands.
                    Err(marketingforce::core::Error::Conflict { .. }) => {
                        self.plans.require(&OPERATOR_SCOPE, key).await?.value
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if standing.fingerprint != fingerprint {
            return Err(Problem::key_reused(super::idempotency::client_key(key)));
        }
        Ok(standing.record)
    }
}
