//! [`Platform`]: the one front door. One builder takes the store (or a store URL) and the
//! environment — clock, id source, calendar, the keys that seal personal data, HTTP settings —
//! with sensible defaults, builds every shared service once, and hands out a
//! [`TenantHandle`] per tenant: that tenant's subscriptions, entitlements and metering, CRM and
//! ad operations, each honouring the tenant's profile (time zone and currency). Every mutating
//! call of a handle takes an [`IdempotencyKey`] as its last argument; the key is unique within
//! (tenant, operation) ([the scoping rule](crate::core::idempotency)).
//!
//! ```
//! use marketingforce::core::keys::KeyRing;
//! use marketingforce::core::tenant::{Tenant, TenantId};
//! use marketingforce::core::IdempotencyKey;
//! use marketingforce::crm::model::Source;
//! use marketingforce::crm::request::CaptureRequest;
//! use marketingforce::crm::LeadQuery;
//! use marketingforce::modules::catalog::ModuleId;
//! use marketingforce::modules::pricing::{QuoteRequest, Term};
//! use marketingforce::Platform;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let platform = Platform::open("memory")
//!     .await?
//!     .keys(KeyRing::new("k1", [7; 32]))
//!     .build()?;
//! let key = |k: &str| IdempotencyKey::new(k).unwrap();
//!
//! let profile = Tenant::new(TenantId::new(), "上海精工机械有限公司")?;
//! let tenant = platform.register_tenant(&profile, &key("signup-1")).await?;
//!
//! // Capture is a paid function: T Cloud Standard with lead management, paid in full today.
//! let bundle = marketingforce::modules::products::BundleId::TCLOUD_STANDARD;
//! let order = QuoteRequest::new(bundle, Term::new(tenant.today(), 12))
//!     .add_on(ModuleId::LEAD_MANAGEMENT);
//! tenant.subscribe(&order, &key("order-1")).await?;
//! tenant.require_module(&ModuleId::LEAD_MANAGEMENT).await?;
//!
//! let lead = tenant
//!     .crm()
//!     .capture(CaptureRequest::new(Source::OwnSite).name("王芳").mobile("13912345678"), &key("form-1"))
//!     .await?;
//! let page = tenant.crm().find(&LeadQuery::new()).await?;
//! assert_eq!(page.items[0].id, lead.lead());
//!
//! // The same tenant again: the cached handle, no store read.
//! assert_eq!(platform.tenant(&profile.id).await?.profile(), &profile);
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! ## Several processes
//!
//! A `Platform` holds caches only: tenant profiles (fixed at registration), the services'
//! per-tenant views (each proven current against the store's journals before a write relies
//! on it, see the crates' docs). Any number of processes may each build a `Platform` over one
//! SQLite file or PostgreSQL database.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDate;
use marketingforce_ads::{AdOps, AdOpsConfig, AdsError};
use marketingforce_core::env::{Env, HttpSettings};
use marketingforce_core::id::IdGenerator;
use marketingforce_core::idempotency::IdempotencyKey;
use marketingforce_core::keys::{KeyProvider, KeyRing};
use marketingforce_core::storage::{Page, Store, StoreUrl};
use marketingforce_core::tenant::{Tenant, TenantDirectory, TenantId};
use marketingforce_core::time::{BusinessCalendar, Clock};
use marketingforce_core::Error;
use marketingforce_crm::gate::{CaptureGate, EntitlementCaptureGate};
use marketingforce_crm::ids::LeadId;
use marketingforce_crm::lifecycle::LeadEvent;
use marketingforce_crm::model::Lead;
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::{CaptureOutcome, Crm, CrmConfig, CrmError, LeadQuery};
use marketingforce_modules::catalog::ModuleId;
use marketingforce_modules::entitlements::{EntitlementRegistry, Entitlements};
use marketingforce_modules::pricing::{QuoteEngine, QuoteRequest};
use marketingforce_modules::subscriptions::{
    Payment, Signing, Subscription, SubscriptionId, Subscriptions,
};
use marketingforce_modules::ModulesError;

#[cfg(feature = "content")]
mod content;
#[cfg(feature = "content")]
pub use content::TenantContent;

/// What [`PlatformBuilder::keys`] takes: a key provider, shared or by value.
pub trait IntoKeyProvider {
    /// The provider, shared.
    fn into_key_provider(self) -> Arc<dyn KeyProvider>;
}

impl IntoKeyProvider for Arc<dyn KeyProvider> {
    fn into_key_provider(self) -> Arc<dyn KeyProvider> {
        self
    }
}

impl<P: KeyProvider + 'static> IntoKeyProvider for Arc<P> {
    fn into_key_provider(self) -> Arc<dyn KeyProvider> {
        self
    }
}

impl IntoKeyProvider for KeyRing {
    fn into_key_provider(self) -> Arc<dyn KeyProvider> {
        Arc::new(self)
    }
}

/// Builds a [`Platform`]: every setting has a default except the keys, which the CRM needs to
/// seal personal data.
pub struct PlatformBuilder {
    store: Arc<dyn Store>,
    clock: Option<Arc<dyn Clock>>,
    ids: Option<Arc<dyn IdGenerator>>,
    calendar: Option<Arc<dyn BusinessCalendar>>,
    keys: Option<Arc<dyn KeyProvider>>,
    http: Option<HttpSettings>,
    crm: CrmConfig,
    quotes: Option<QuoteEngine>,
    gate: Option<Arc<dyn CaptureGate>>,
    #[cfg(feature = "content")]
    content: content::ContentSettings,
}

impl fmt::Debug for PlatformBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformBuilder")
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl PlatformBuilder {
    /// Use `clock` (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Draw ids from `ids` (default: random UUIDv7s).
    #[must_use]
    pub fn ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = Some(ids);
        self
    }

    /// Count business days with `calendar` (default: mainland China's, with its holidays).
    #[must_use]
    pub fn calendar(mut self, calendar: Arc<dyn BusinessCalendar>) -> Self {
        self.calendar = Some(calendar);
        self
    }

    /// Seal personal data and key fingerprints with `keys` (required): a shared provider
    /// (`Arc<dyn KeyProvider>`, `Arc<P>` — in production a `KeyProvider` over your KMS) or a
    /// [`KeyRing`] by value.
    #[must_use]
    pub fn keys(mut self, keys: impl IntoKeyProvider) -> Self {
        self.keys = Some(keys.into_key_provider());
        self
    }

    /// Talk to outside platforms with `http` (default: [`HttpSettings::default`]).
    #[must_use]
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.http = Some(http);
        self
    }

    /// The CRM's configuration: allocation, scoring, SLA, dedupe (default:
    /// [`CrmConfig::default`]; per-tenant settings are stored by the CRM itself).
    #[must_use]
    pub fn crm_config(mut self, config: CrmConfig) -> Self {
        self.crm = config;
        self
    }

    /// Price subscriptions with `engine` (default: the built-in catalog and products).
    #[must_use]
    pub fn quote_engine(mut self, engine: QuoteEngine) -> Self {
        self.quotes = Some(engine);
        self
    }

    /// Gate lead capture with `gate` instead of the default
    /// [`EntitlementCaptureGate`] (module `mf.lead_management` required, live leads within the
    /// tenant's `leads_stored` quota, metered). [`OpenCapture`](marketingforce_crm::gate::OpenCapture)
    /// turns the gate off, for embedders that sell nothing by module.
    #[must_use]
    pub fn capture_gate(mut self, gate: Arc<dyn CaptureGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Review content against `lexicon` as the base word list (default: the built-in
    /// Advertising Law list); tenants add their own with
    /// [`TenantContent::set_lexicon`].
    #[cfg(feature = "content")]
    #[must_use]
    pub fn lexicon(mut self, lexicon: marketingforce_content::compliance::Lexicon) -> Self {
        self.content.lexicon = Some(lexicon);
        self
    }

    /// Generate text with `generator` (default: the offline template generator; an
    /// OpenAI-compatible backend with the content crate's `openai` feature).
    #[cfg(feature = "content")]
    #[must_use]
    pub fn text_generator(
        mut self,
        generator: Arc<dyn marketingforce_core::adapters::generation::TextGenerator>,
    ) -> Self {
        self.content.text = Some(generator);
        self
    }

    /// Generate images with `generator` (default: the SVG template generator).
    #[cfg(feature = "content")]
    #[must_use]
    pub fn image_generator(
        mut self,
        generator: Arc<dyn marketingforce_core::adapters::generation::ImageGenerator>,
    ) -> Self {
        self.content.images = Some(generator);
        self
    }

    /// Build the services. Nothing is read from the store yet: each tenant's state is
    /// rebuilt from it on first use.
    ///
    /// # Errors
    /// A validation error on `keys` when none were given; the CRM refuses its configuration.
    pub fn build(self) -> Result<Platform, CrmError> {
        let mut env = Env::builder(self.store.clone());
        if let Some(c) = self.clock {
            env = env.clock(c);
        }
        if let Some(i) = self.ids {
            env = env.ids(i);
        }
        if let Some(c) = self.calendar {
            env = env.calendar(c);
        }
        if let Some(h) = self.http {
            env = env.http(h);
        }
        let keys = self.keys.ok_or_else(|| {
            CrmError::validation(
                "keys",
                "the platform seals personal data: pass a KeyProvider to PlatformBuilder::keys",
            )
        })?;
        let env = env.keys(keys.clone()).build();
        let quotes = self.quotes.unwrap_or_else(QuoteEngine::builtin);
        let registry = Arc::new(
            EntitlementRegistry::builder(
                &marketingforce_core::env::Env::builder(env.store().clone())
                    .clock(env.clock().clone())
                    .build(),
            )
            .build(),
        );
        let subscriptions = Subscriptions::builder(&env)
            .engine(quotes)
            .registry(registry.clone())
            .build();
        let gate = self
            .gate
            .unwrap_or_else(|| Arc::new(EntitlementCaptureGate::new(registry.clone())));
        let crm = Crm::builder(&env)
            .config(self.crm)
            .capture_gate(gate)
            .build()?;
        #[cfg(feature = "content")]
        let content = content::ContentServices::build(&env, &registry, self.content);
        Ok(Platform {
            inner: Arc::new(Inner {
                #[cfg(feature = "content")]
                content,
                directory: TenantDirectory::new(&env),
                env,
                registry,
                subscriptions,
                crm: Arc::new(crm),
                handles: Mutex::new(HashMap::new()),
            }),
        })
    }
}

struct Inner {
    env: Env,
    directory: TenantDirectory,
    registry: Arc<EntitlementRegistry>,
    subscriptions: Subscriptions,
    crm: Arc<Crm>,
    #[cfg(feature = "content")]
    content: content::ContentServices,
    handles: Mutex<HashMap<TenantId, TenantHandle>>,
}

/// The composition root (see the [module docs](self)). Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("store", &self.inner.env.store().backend())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Start building a platform over `store`.
    pub fn builder(store: Arc<dyn Store>) -> PlatformBuilder {
        PlatformBuilder {
            store,
            clock: None,
            ids: None,
            calendar: None,
            keys: None,
            http: None,
            crm: CrmConfig::default(),
            quotes: None,
            gate: None,
            #[cfg(feature = "content")]
            content: content::ContentSettings::default(),
        }
    }

    /// Start building a platform over the store at `url`: `memory`, `sqlite:<path>` or
    /// `postgres://…` ([`storage::open`](crate::core::storage::open)). A SQLite file's
    /// directory is created when missing.
    ///
    /// # Errors
    /// The URL is not one of those (a validation error on `store`); the SQLite file's
    /// directory cannot be created; the store cannot be opened.
    pub async fn open(url: &str) -> Result<PlatformBuilder, Error> {
        if let StoreUrl::Sqlite { path } = StoreUrl::parse(url)? {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::backend("sqlite", false, e))?;
            }
        }
        Ok(Platform::builder(
            marketingforce_core::storage::open(url).await?,
        ))
    }

    /// The environment every service runs on.
    pub fn env(&self) -> &Env {
        &self.inner.env
    }

    /// The shared entitlement registry (for calls across tenants, e.g. a nightly `tick`).
    pub fn registry(&self) -> &Arc<EntitlementRegistry> {
        &self.inner.registry
    }

    /// The shared CRM service (per-tenant calls are easier through [`TenantHandle::crm`]).
    pub fn crm(&self) -> &Arc<Crm> {
        &self.inner.crm
    }

    /// The shared content review service (per-tenant calls are easier through
    /// [`TenantHandle::content`]).
    #[cfg(feature = "content")]
    pub fn reviews(&self) -> &marketingforce_content::compliance::ReviewService {
        self.inner.content.reviews()
    }

    /// The shared subscription service.
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.inner.subscriptions
    }

    /// Register a tenant's profile (name, time zone, currency — fixed from now on) and hand
    /// out its handle. A replay with the same key and profile answers the same; registering
    /// an id that exists with another profile is refused.
    ///
    /// # Errors
    /// Validation errors naming the field; an idempotency mismatch; storage errors.
    pub async fn register_tenant(
        &self,
        profile: &Tenant,
        key: &IdempotencyKey,
    ) -> Result<TenantHandle, Error> {
        let profile = self.inner.directory.register(profile, key).await?;
        Ok(self.handle(profile))
    }

    /// The handle of a registered tenant: its profile is read once, then cached.
    ///
    /// # Errors
    /// Not found for a tenant never registered; storage errors.
    pub async fn tenant(&self, id: &TenantId) -> Result<TenantHandle, Error> {
        if let Some(h) = self.cached(id) {
            return Ok(h);
        }
        let profile = self.inner.directory.get(id).await?;
        Ok(self.handle(profile))
    }

    fn cached(&self, id: &TenantId) -> Option<TenantHandle> {
        self.inner
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn handle(&self, profile: Tenant) -> TenantHandle {
        let mut handles = self
            .inner
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        handles
            .entry(profile.id)
            .or_insert_with(|| TenantHandle {
                profile: Arc::new(profile),
                inner: self.inner.clone(),
                ads: Arc::new(Mutex::new(None)),
            })
            .clone()
    }
}

/// One tenant's view of the platform: its profile and its services. Cheap to clone; the
/// platform caches one per tenant.
#[derive(Clone)]
pub struct TenantHandle {
    profile: Arc<Tenant>,
    inner: Arc<Inner>,
    ads: Arc<Mutex<Option<Arc<AdOps>>>>,
}

impl fmt::Debug for TenantHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantHandle")
            .field("tenant", &self.profile.id)
            .finish_non_exhaustive()
    }
}

impl TenantHandle {
    /// The tenant's id.
    pub fn id(&self) -> TenantId {
        self.profile.id
    }

    /// The tenant's profile.
    pub fn profile(&self) -> &Tenant {
        &self.profile
    }

    /// Today in the tenant's time zone, on the platform's clock.
    pub fn today(&self) -> NaiveDate {
        self.inner.env.clock().today(self.profile.time_zone)
    }

    /// Subscribe the tenant to `order` as a direct sale paid in full, signed today in its time
    /// zone: [`TenantSubscriptions::subscribe`] on [`today`](Self::today) (for a sale signed on
    /// another day, or with credit months, a salesperson or a partner, use
    /// [`subscriptions`](Self::subscriptions)). A retry with the same key finishes the sale
    /// exactly once.
    ///
    /// ```
    /// # use marketingforce::prelude::*;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let platform = Platform::open("memory").await?.keys(KeyRing::new("k1", [7; 32])).build()?;
    /// # let key = IdempotencyKey::from_static;
    /// # let tenant = platform.register_tenant(&Tenant::new(TenantId::new(), "上海精工")?, &key("t")).await?;
    /// let order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(tenant.today(), 12));
    /// let subscription = tenant.subscribe(&order, &key("order-1")).await?;
    /// assert_eq!(subscription.quote.start, tenant.today());
    /// assert_eq!(tenant.subscribe(&order, &key("order-1")).await?, subscription);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`TenantSubscriptions::subscribe`].
    pub async fn subscribe(
        &self,
        order: &QuoteRequest,
        key: &IdempotencyKey,
    ) -> Result<Subscription, ModulesError> {
        self.subscriptions()
            .subscribe(order, self.today(), key)
            .await
    }

    /// Refuse a module the tenant is not entitled to today — the check in front of a paid
    /// function: [`Entitlements::require`] on [`entitlements`](Self::entitlements).
    ///
    /// ```
    /// # use marketingforce::prelude::*;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let platform = Platform::open("memory").await?.keys(KeyRing::new("k1", [7; 32])).build()?;
    /// # let key = IdempotencyKey::from_static;
    /// # let tenant = platform.register_tenant(&Tenant::new(TenantId::new(), "上海精工")?, &key("t")).await?;
    /// let e = tenant.require_module(&ModuleId::LEAD_MANAGEMENT).await.unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Forbidden);
    /// let order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(tenant.today(), 12));
    /// tenant.subscribe(&order.add_on(ModuleId::LEAD_MANAGEMENT), &key("order-1")).await?;
    /// tenant.require_module(&ModuleId::LEAD_MANAGEMENT).await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`ModulesError::NotEntitled`], naming the bundles that include the module; storage
    /// errors.
    pub async fn require_module(&self, module: &ModuleId) -> Result<(), ModulesError> {
        self.entitlements().await?.require(module)
    }

    /// The tenant's entitlements today: modules, seats, quotas and the usage meter. Proven
    /// current against the store (grants and usage written by other processes are seen).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn entitlements(&self) -> Result<Entitlements, ModulesError> {
        self.inner.registry.load(&self.profile.id).await
    }

    /// The tenant's subscriptions.
    pub fn subscriptions(&self) -> TenantSubscriptions<'_> {
        TenantSubscriptions { handle: self }
    }

    /// The tenant's CRM.
    pub fn crm(&self) -> TenantCrm<'_> {
        TenantCrm { handle: self }
    }

    /// The tenant's ad operations (accounts, campaigns, ledger, settlement), opened on first
    /// use in the tenant's currency and time zone (settlement months and report days follow
    /// the tenant's calendar), then cached.
    ///
    /// # Errors
    /// Storage errors; a corrupt ledger journal.
    pub async fn ads(&self) -> Result<Arc<AdOps>, AdsError> {
        if let Some(ops) = self
            .ads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(ops);
        }
        let env = &self.inner.env;
        let config = AdOpsConfig {
            currency: self.profile.currency,
            time_zone: self.profile.time_zone,
            ..AdOpsConfig::default()
        };
        let opened = Arc::new(
            AdOps::builder(env, self.profile.id)
                .config(config)
                .open()
                .await?,
        );
        // Two first calls may both open; the first to finish is kept, the other dropped
        // (opening only reads).
        let mut slot = self.ads.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(slot.get_or_insert(opened).clone())
    }
}

/// The key the subscription service stores for `key` in `operation`: the
/// [scoped](IdempotencyKey::scoped) form `"{operation}/{key}"` (as this handle always sent it),
/// or, when that would be longer than [`IdempotencyKey::MAX_LEN`], a key
/// [derived](IdempotencyKey::derive) from `key` and `operation`.
fn scoped(key: &IdempotencyKey, operation: &str) -> IdempotencyKey {
    IdempotencyKey::new(key.scoped(operation)).unwrap_or_else(|_| key.derive(operation))
}

/// A tenant's subscriptions ([`TenantHandle::subscriptions`]).
#[derive(Debug, Clone, Copy)]
pub struct TenantSubscriptions<'a> {
    handle: &'a TenantHandle,
}

impl TenantSubscriptions<'_> {
    fn service(&self) -> &Subscriptions {
        &self.handle.inner.subscriptions
    }

    fn tenant(&self) -> TenantId {
        self.handle.profile.id
    }

    /// Price `request` and record the quote.
    ///
    /// # Errors
    /// Validation errors naming the field (unknown bundle, bad term); an idempotency mismatch.
    pub async fn quote(
        &self,
        request: &QuoteRequest,
        key: &IdempotencyKey,
    ) -> Result<Subscription, ModulesError> {
        self.service()
            .create_quote(&self.tenant(), request, &scoped(key, "modules.quote"))
            .await
    }

    /// Sign the quoted subscription `id`.
    ///
    /// # Errors
    /// Not found; an invalid state; validation errors; an idempotency mismatch.
    pub async fn sign(
        &self,
        id: &SubscriptionId,
        signing: &Signing,
        key: &IdempotencyKey,
    ) -> Result<Subscription, ModulesError> {
        self.service()
            .sign(&self.tenant(), id, signing, &scoped(key, "modules.sign"))
            .await
    }

    /// Record the payment of `id`.
    ///
    /// # Errors
    /// As [`Subscriptions::record_payment`].
    pub async fn pay(
        &self,
        id: &SubscriptionId,
        payment: &Payment,
        key: &IdempotencyKey,
    ) -> Result<Subscription, ModulesError> {
        self.service()
            .record_payment(&self.tenant(), id, payment, &scoped(key, "modules.pay"))
            .await
    }

    /// Activate `id` on `on`: its modules, seats and quotas are granted.
    ///
    /// # Errors
    /// As [`Subscriptions::activate`].
    pub async fn activate(
        &self,
        id: &SubscriptionId,
        on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<Subscription, ModulesError> {
        self.service()
            .activate(&self.tenant(), id, on, &scoped(key, "modules.activate"))
            .await
    }

    /// A direct sale paid in full, in one call: quote `request`, sign it on `signed_on`, take
    /// the quoted total as paid that day, and activate it at the start of its term (or on
    /// `signed_on` when the term started earlier). Each step runs under a key
    /// [derived](IdempotencyKey::derive) from `key`, so a retry after any failure finishes
    /// the sale exactly once.
    ///
    /// # Errors
    /// As the four steps.
    pub async fn subscribe(
        &self,
        request: &QuoteRequest,
        signed_on: NaiveDate,
        key: &IdempotencyKey,
    ) -> Result<Subscription, ModulesError> {
        let quoted = self.quote(request, &key.derive("quote")).await?;
        let signing = Signing {
            on: signed_on,
            credit_months: 0,
            salesperson: None,
            partner: None,
        };
        let signed = self.sign(&quoted.id, &signing, &key.derive("sign")).await?;
        let payment = Payment {
            on: signed_on,
            amount: signed.quote.total,
        };
        let paid = self.pay(&signed.id, &payment, &key.derive("pay")).await?;
        let start = paid.quote.start.max(signed_on);
        self.activate(&paid.id, start, &key.derive("activate"))
            .await
    }

    /// Every subscription of the tenant.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn list(&self) -> Result<Vec<Subscription>, ModulesError> {
        self.service().list(&self.tenant()).await
    }

    /// One subscription.
    ///
    /// # Errors
    /// Not found; storage errors.
    pub async fn get(&self, id: &SubscriptionId) -> Result<Subscription, ModulesError> {
        self.service().get(&self.tenant(), id).await
    }
}

/// A tenant's CRM ([`TenantHandle::crm`]).
#[derive(Debug, Clone, Copy)]
pub struct TenantCrm<'a> {
    handle: &'a TenantHandle,
}

impl TenantCrm<'_> {
    fn tenant(&self) -> TenantId {
        self.handle.profile.id
    }

    /// The shared CRM service, for calls not wrapped here (allocation, access, SOPs, …).
    pub fn service(&self) -> &Arc<Crm> {
        &self.handle.inner.crm
    }

    /// Capture a lead: dedupe decides whether it creates a lead or merges into one.
    ///
    /// # Errors
    /// As [`Crm::capture`].
    pub async fn capture(
        &self,
        request: CaptureRequest,
        key: &IdempotencyKey,
    ) -> Result<CaptureOutcome, CrmError> {
        self.service().capture(&self.tenant(), request, key).await
    }

    /// One lead record (no personal data in it).
    ///
    /// # Errors
    /// Not found (also for another tenant's lead); storage errors.
    pub async fn lead(&self, id: &LeadId) -> Result<Lead, CrmError> {
        self.service().lead(&self.tenant(), id).await
    }

    /// A page of leads matching `query` ([`Crm::find_leads`]).
    ///
    /// # Errors
    /// A validation error naming the field; storage errors.
    pub async fn find(&self, query: &LeadQuery) -> Result<Page<Lead>, CrmError> {
        self.service().find_leads(&self.tenant(), query).await
    }

    /// A lead's history, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn history(&self, id: &LeadId) -> Result<Vec<LeadEvent>, CrmError> {
        self.service().history(&self.tenant(), id).await
    }
}
