//! [`AppState`]: the SDK services the handlers share, over one store.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use marketingforce::ads::{AdOps, AdOpsConfig};
use marketingforce::core::id::{IdGenerator, RandomIds};
use marketingforce::core::storage::Store;
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::{Clock, SystemClock};
use marketingforce::crm::crypto::KeyProvider;
use marketingforce::crm::Crm;
use marketingforce::modules::entitlements::EntitlementRegistry;
use marketingforce::modules::products::Products;

use super::auth::Authenticator;
use super::config::ServiceConfig;
use super::directory::{Directory, TenantRecord};
use super::idempotency::InFlight;
use super::problem::Problem;

/// Builds an [`AppState`].
#[derive(Debug)]
pub struct AppStateBuilder {
    store: Arc<dyn Store>,
    keys: Arc<dyn KeyProvider>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    config: ServiceConfig,
    authenticator: Option<Arc<dyn Authenticator>>,
}

impl AppStateBuilder {
    /// Require a bearer token checked by `authenticator` on every request (default: none, the
    /// open mode of the [`auth`](super::auth) module, for development and tests).
    #[must_use]
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Use `clock` (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Use `ids` (default: random UUIDv7s).
    #[must_use]
    pub fn ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// Use `config` (default: [`ServiceConfig::default`]).
    #[must_use]
    pub fn config(mut self, config: ServiceConfig) -> Self {
        self.config = config;
        self
    }

    /// Build the state. Nothing is read from the store yet: each tenant's CRM, entitlements
    /// and ledger are rebuilt from it on first use.
    ///
    /// # Errors
    /// The CRM refuses its (default) configuration or the keys.
    pub fn build(self) -> Result<AppState, Problem> {
        let crm = Crm::builder(self.store.clone(), self.keys.clone())
            .clock(self.clock.clone())
            .ids(self.ids.clone())
            .build()?;
        let registry = EntitlementRegistry::builder(self.store.clone())
            .clock(self.clock.clone())
            .build();
        Ok(AppState {
            inner: Arc::new(Inner {
                directory: Directory::new(self.store.clone()),
                products: Products::builtin(),
                store: self.store,
                keys: self.keys,
                authenticator: self.authenticator,
                clock: self.clock,
                ids: self.ids,
                config: self.config,
                crm,
                registry,
                ads: tokio::sync::Mutex::default(),
                in_flight: InFlight::default(),
            }),
        })
    }
}

struct Inner {
    store: Arc<dyn Store>,
    keys: Arc<dyn KeyProvider>,
    authenticator: Option<Arc<dyn Authenticator>>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    config: ServiceConfig,
    directory: Directory,
    products: Arc<Products>,
    crm: Crm,
    registry: EntitlementRegistry,
    ads: tokio::sync::Mutex<HashMap<TenantId, Arc<AdOps>>>,
    in_flight: InFlight,
}

/// Everything the handlers share: the store, the clock and id generator, the tenant
/// directory, and the SDK services — the CRM, the entitlement registry (quotas and metering)
/// and one ad-operations service per tenant. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.inner.store.backend())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Start building a state over `store`, sealing personal data with keys from `keys`.
    pub fn builder(store: Arc<dyn Store>, keys: Arc<dyn KeyProvider>) -> AppStateBuilder {
        AppStateBuilder {
            store,
            keys,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            config: ServiceConfig::default(),
            authenticator: None,
        }
    }

    /// The keys: personal data is sealed and request fingerprints are keyed with them.
    pub fn keys(&self) -> &Arc<dyn KeyProvider> {
        &self.inner.keys
    }

    /// The authenticator; `None` in open mode.
    pub fn authenticator(&self) -> Option<&Arc<dyn Authenticator>> {
        self.inner.authenticator.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The id generator.
    pub fn ids(&self) -> &Arc<dyn IdGenerator> {
        &self.inner.ids
    }

    /// The limits.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// The built-in product catalog tenants are provisioned from.
    pub fn products(&self) -> &Arc<Products> {
        &self.inner.products
    }

    /// The CRM.
    pub fn crm(&self) -> &Crm {
        &self.inner.crm
    }

    /// The entitlement registry (quotas, seats, usage metering).
    pub fn registry(&self) -> &EntitlementRegistry {
        &self.inner.registry
    }

    pub(super) fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    pub(super) fn in_flight(&self) -> &InFlight {
        &self.inner.in_flight
    }

    /// The tenant named by a path segment.
    ///
    /// # Errors
    /// 404 for malformed and unknown ids; backend problems.
    pub async fn tenant(&self, raw: &str) -> Result<TenantRecord, Problem> {
        self.inner.directory.get(raw).await
    }

    /// The ad-operations service of `tenant`, opened (ledger replayed) on first use. One per
    /// tenant: attach ad platform adapters to it to run campaigns.
    ///
    /// # Errors
    /// Storage errors, a corrupt ledger journal.
    pub async fn ads(&self, tenant: &TenantRecord) -> Result<Arc<AdOps>, Problem> {
        let mut open = self.inner.ads.lock().await;
        if let Some(ops) = open.get(&tenant.tenant.id) {
            return Ok(ops.clone());
        }
        let config = AdOpsConfig {
            currency: tenant.tenant.currency,
            time_zone: tenant.tenant.time_zone,
            ..AdOpsConfig::default()
        };
        let ops = Arc::new(
            AdOps::open(
                self.inner.store.clone(),
                tenant.tenant.id,
                self.inner.clock.clone(),
                self.inner.ids.clone(),
                config,
            )
            .await?,
        );
        open.insert(tenant.tenant.id, ops.clone());
        Ok(ops)
    }
}
