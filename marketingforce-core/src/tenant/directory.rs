//! [`TenantDirectory`]: tenant profiles, stored in each tenant's own scope of the store.

use serde::{Deserialize, Serialize};

use super::{Tenant, TenantId};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::idempotency::IdempotencyKey;
use crate::storage::{Batch, Collection, Entity, Expect, Fingerprint, Idempotent};

/// The stored form of a profile (private, so profiles are written only through the
/// directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredProfile {
    profile: Tenant,
}

impl Entity for StoredProfile {
    const COLLECTION: &'static str = "core.tenant";
    fn key(&self) -> String {
        PROFILE_KEY.to_string()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.profile.id)
    }
}

const PROFILE_KEY: &str = "profile";

/// The idempotency operation of [`TenantDirectory::register`].
pub const REGISTER_OPERATION: &str = "core.tenant.register";

/// Tenant profiles (name, time zone, currency), one per tenant, kept in the tenant's own scope
/// of the store. The time zone and currency are fixed at registration: quota windows,
/// contracts and settlements are dated and priced in them.
///
/// Several processes may register and read concurrently: registration is one conditional
/// create, so exactly one profile stands for a tenant id.
///
/// ```
/// use std::sync::Arc;
/// use marketingforce_core::env::Env;
/// use marketingforce_core::storage::MemoryStore;
/// use marketingforce_core::tenant::{Tenant, TenantDirectory, TenantId};
/// use marketingforce_core::IdempotencyKey;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let directory = TenantDirectory::new(&Env::new(Arc::new(MemoryStore::new())));
/// let profile = Tenant::new(TenantId::new(), "上海精工机械有限公司").unwrap();
/// let key = IdempotencyKey::new("signup-0001").unwrap();
/// assert_eq!(directory.register(&profile, &key).await.unwrap(), profile);
/// assert_eq!(directory.register(&profile, &key).await.unwrap(), profile); // a replay
/// assert_eq!(directory.get(&profile.id).await.unwrap(), profile);
/// assert!(directory.get(&TenantId::new()).await.is_err()); // unknown tenant
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct TenantDirectory {
    profiles: Collection<StoredProfile>,
}

impl TenantDirectory {
    /// The directory over `env`'s store.
    pub fn new(env: &Env) -> TenantDirectory {
        TenantDirectory {
            profiles: Collection::new(env.store().clone()),
        }
    }

    /// Register `profile` under its id, once per idempotency `key`. An id already registered
    /// with this very profile (by another request, another process) answers the profile.
    ///
    /// # Errors
    /// The profile's validation error; [`Error::InvalidState`] when the id is already
    /// registered with another profile (not retryable: a profile is fixed at registration);
    /// [`Error::IdempotencyMismatch`] when `key` was used for another profile; storage errors
    /// ([`Error::OutcomeUnknown`]: retry with the same key).
    pub async fn register(&self, profile: &Tenant, key: &IdempotencyKey) -> Result<Tenant> {
        profile.validate()?;
        let idem =
            Idempotent::with_fingerprint(key, REGISTER_OPERATION, Fingerprint::of(profile)?)?;
        let store = self.profiles.store().as_ref();
        if let Some(first) = idem.check::<Tenant>(store, &profile.id).await? {
            return Ok(first);
        }
        let stored = StoredProfile {
            profile: profile.clone(),
        };
        let mut batch = Batch::new();
        batch.put_entity(&profile.id, &stored, Expect::Absent)?;
        match idem
            .commit(store, &profile.id, batch, profile.clone())
            .await
        {
            Err(Error::Conflict { .. }) => self.registered(profile).await,
            answer => answer,
        }
    }

    /// The answer to registering `profile` when its id is already registered: the profile
    /// when it is the same, else a refusal naming what differs (never the values).
    async fn registered(&self, profile: &Tenant) -> Result<Tenant> {
        let stored = self.get(&profile.id).await?;
        if &stored == profile {
            return Ok(stored);
        }
        let differs = [
            ("name", stored.name != profile.name),
            ("time_zone", stored.time_zone != profile.time_zone),
            ("currency", stored.currency != profile.currency),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect::<Vec<_>>();
        Err(Error::invalid_state(
            "tenant",
            "registered",
            "registered",
            format!(
                "tenant {} is registered with another profile ({} differs); a profile is \
                 fixed at registration",
                profile.id,
                if differs.is_empty() {
                    "the profile".to_string()
                } else {
                    differs.join(", ")
                }
            ),
        ))
    }

    /// The profile of `tenant`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (kind `tenant`) when it was never registered; storage errors.
    pub async fn get(&self, tenant: &TenantId) -> Result<Tenant> {
        self.find(tenant)
            .await?
            .ok_or_else(|| Error::not_found("tenant", tenant))
    }

    /// The profile of `tenant`, or `None` when it was never registered (services that also
    /// serve tenants registered elsewhere fall back to their own defaults).
    ///
    /// # Errors
    /// Storage or decoding errors.
    pub async fn find(&self, tenant: &TenantId) -> Result<Option<Tenant>> {
        Ok(self
            .profiles
            .get(tenant, PROFILE_KEY)
            .await?
            .map(|v| v.value.profile))
    }
}
