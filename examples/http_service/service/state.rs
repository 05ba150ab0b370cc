//! [`AppState`]: the SDK services the handlers share, over one store.

use std::fmt;
use std::sync::Arc;

use marketingforce::ads::AdOps;
use marketingforce::core::env::Env;
use marketingforce::core::id::{IdGenerator, RandomIds};
use marketingforce::core::storage::Store;
use marketingforce::core::time::{Clock, SystemClock};
use marketingforce::core::{ErrorKind, IdempotencyKey};
use marketingforce::crm::crypto::KeyProvider;
use marketingforce::crm::Crm;
use marketingforce::modules::entitlements::EntitlementRegistry;
use marketingforce::modules::products::Products;
use marketingforce::{Platform, TenantHandle};

use marketingforce::sites::analytics::{
    Collector, IpLocator, SiteRegistry, VisitAnalytics, VisitLog,
};
use marketingforce::sites::forms::{CrmLeadSink as SitesCrmSink, FormService};
use marketingforce::sites::keys::SiteKey;
use sha2::{Digest, Sha256};

use super::auth::Authenticator;
use super::config::ServiceConfig;
use super::directory::{Directory, TenantRecord};
use super::idempotency::InFlight;
use super::problem::Problem;
use super::sites::{SiteCache, SiteServices};

/// Builds an [`AppState`].
#[derive(Debug)]
pub struct AppStateBuilder {
    store: Arc<dyn Store>,
    keys: Arc<dyn KeyProvider>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    config: ServiceConfig,
    authenticator: Option<Arc<dyn Authenticator>>,
    site_key: Option<SiteKey>,
    locator: Option<Arc<dyn IpLocator>>,
    #[cfg(feature = "metrics")]
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl AppStateBuilder {
    /// Serve `GET /metrics` from `handle` (the installed Prometheus recorder's; see
    /// [`install_prometheus`](super::telemetry::install_prometheus)). Default: none, and
    /// `GET /metrics` is 404.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn prometheus(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.prometheus = Some(handle);
        self
    }

    /// The key that signs the sites' page-view tokens and keys form digests: the same on every
    /// instance (a token issued by one is verified by another). Default: derived from the
    /// tenant-independent PII master key material through SHA-256 under a label of its own,
    /// so nothing else needs configuring.
    #[must_use]
    pub fn site_key(mut self, key: SiteKey) -> Self {
        self.site_key = Some(key);
        self
    }

    /// Locate visitors' regions with `locator` (default: none; regions show as `unknown`).
    #[must_use]
    pub fn ip_locator(mut self, locator: Arc<dyn IpLocator>) -> Self {
        self.locator = Some(locator);
        self
    }

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
        // The platform's CRM gates capture on the tenant's entitlements: lead management
        // required, live leads within the tenant's `leads_stored` quota (and metered).
        let platform = Platform::builder(self.store.clone())
            .keys(self.keys.clone())
            .clock(self.clock.clone())
            .ids(self.ids.clone())
            .build()?;
        let crm = platform.crm().clone();
        let site_key = match self.site_key {
            Some(k) => k,
            None => derived_site_key(self.keys.as_ref())?,
        };
        let mut collector = Collector::new(
            Arc::new(SiteRegistry::new()),
            site_key.clone(),
            self.clock.clone(),
            self.ids.clone(),
            Arc::new(VisitLog::new(self.store.clone(), 1_000)),
        )
        .durable(true);
        let env = platform.env().clone();
        let mut forms =
            FormService::builder(&env, Arc::new(SitesCrmSink::new(crm.clone())), site_key);
        if let Some(locator) = &self.locator {
            collector = collector.with_locator(locator.clone());
            forms = forms.locator(locator.clone());
        }
        let analytics = Arc::new(VisitAnalytics::new(&env));
        let forms = forms.analytics(analytics.clone()).build();
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
                platform,
                sites: SiteServices {
                    collector,
                    forms,
                    analytics,
                    cache: SiteCache::new(),
                },
                in_flight: InFlight::default(),
                #[cfg(feature = "metrics")]
                prometheus: self.prometheus,
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
    platform: Platform,
    sites: SiteServices,
    in_flight: InFlight,
    #[cfg(feature = "metrics")]
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// Everything the handlers share: the store, the clock and id generator, the tenant
/// directory, and the SDK's [`Platform`] — the CRM, the entitlement registry (quotas and
/// metering) and each tenant's handle (its ad operations). Cheap to clone.
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
            site_key: None,
            locator: None,
            #[cfg(feature = "metrics")]
            prometheus: None,
        }
    }

    /// The Prometheus recorder's handle `GET /metrics` renders, if one was given.
    #[cfg(feature = "metrics")]
    pub fn prometheus(&self) -> Option<&metrics_exporter_prometheus::PrometheusHandle> {
        self.inner.prometheus.as_ref()
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

    /// The environment every SDK service runs on (the store, clock, ids and keys).
    pub fn env(&self) -> &Env {
        self.inner.platform.env()
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
        self.inner.platform.crm()
    }

    /// The beacon collector of the tenants' sites (durable: every beacon is committed before
    /// it is answered).
    pub fn collector(&self) -> &Collector {
        &self.inner.sites.collector
    }

    /// The sites' contact forms, handing leads to the CRM.
    pub fn forms(&self) -> &FormService {
        &self.inner.sites.forms
    }

    /// The sites' visitor analytics.
    pub fn analytics(&self) -> &VisitAnalytics {
        &self.inner.sites.analytics
    }

    pub(super) fn sites(&self) -> &SiteCache {
        &self.inner.sites.cache
    }

    /// The entitlement registry (quotas, seats, usage metering).
    pub fn registry(&self) -> &EntitlementRegistry {
        self.inner.platform.registry()
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

    /// The platform's handle of `tenant` (registering its profile with the platform the first
    /// time, for a tenant provisioned before the service kept the two together).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn handle(&self, tenant: &TenantRecord) -> Result<TenantHandle, Problem> {
        let platform = &self.inner.platform;
        match platform.tenant(&tenant.tenant.id).await {
            Ok(handle) => Ok(handle),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(platform
                .register_tenant(&tenant.tenant, &IdempotencyKey::from_static(PROFILE_KEY))
                .await?),
            Err(e) => Err(e.into()),
        }
    }

    /// The ad-operations service of `tenant`, in its currency and time zone, opened (ledger
    /// replayed) on first use and then kept by its [handle](Self::handle).
    ///
    /// # Errors
    /// Storage errors, a corrupt ledger journal.
    pub async fn ads(&self, tenant: &TenantRecord) -> Result<Arc<AdOps>, Problem> {
        Ok(self.handle(tenant).await?.ads().await?)
    }
}

/// The idempotency key of a tenant's registration with the platform: one per tenant (keys are
/// scoped by tenant), so every instance registers the same profile once.
const PROFILE_KEY: &str = "http_service.profile";

/// The default site key: SHA-256 over a label and the PII keys' fingerprint key of the
/// operator scope, so every instance with the same keys derives the same site key and the
/// PII keys themselves never sign anything public.
fn derived_site_key(keys: &dyn KeyProvider) -> Result<SiteKey, Problem> {
    let material = keys.fingerprint_key(&super::directory::OPERATOR_SCOPE)?;
    let mut h = Sha256::new();
    h.update(b"marketingforce http_service site key v1");
    h.update(material.bytes());
    Ok(SiteKey::new(h.finalize().into()))
}
