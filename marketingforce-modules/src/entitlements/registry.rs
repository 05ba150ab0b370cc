//! [`EntitlementRegistry`]: the durable, multi-tenant home of [`Entitlements`].

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};

use marketingforce_core::env::Env;
use marketingforce_core::events::EventContext;
use marketingforce_core::storage::{Batch, Collection, Expect, Store};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::{TenantDirectory, TenantId};
use marketingforce_core::time::{Clock, TimeZone};
use marketingforce_core::Error;

use super::grant::Grant;
use super::handle::{Entitlements, SalesHints, Shared, TenantState};
use super::seats::{AccountId, SeatAssignment};
use crate::catalog::{Catalog, ModuleId};
use crate::error::{ModulesError, Result};
use crate::events::EntitlementGranted;
use crate::metering::book::UsageBook;
use crate::metering::writer::UsageWriter;

/// The journal every grant appends its id to, so that every process can tell with one head
/// query whether its grants of a tenant are current.
pub const GRANTS_JOURNAL: &str = "modules.grants";

/// Builds an [`EntitlementRegistry`].
#[derive(Debug)]
pub struct RegistryBuilder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    catalog: Option<Arc<Catalog>>,
    hints: Option<Arc<SalesHints>>,
    time_zone: TimeZone,
}

impl RegistryBuilder {
    /// Use `catalog` (default: [`Catalog::builtin`]).
    #[must_use]
    pub fn catalog(mut self, catalog: Arc<Catalog>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Use `hints` to explain denials (default: from the built-in product catalog).
    #[must_use]
    pub fn hints(mut self, hints: Arc<SalesHints>) -> Self {
        self.hints = Some(hints);
        self
    }

    /// Date usage and grants of tenants without a registered profile in `zone` (default
    /// Asia/Shanghai). A tenant registered in the
    /// [`TenantDirectory`](marketingforce_core::tenant::TenantDirectory) is dated in its own
    /// profile's zone.
    #[must_use]
    pub fn time_zone(mut self, zone: TimeZone) -> Self {
        self.time_zone = zone;
        self
    }

    /// Build the registry.
    pub fn build(self) -> EntitlementRegistry {
        let clock = self.clock;
        EntitlementRegistry {
            shared: Arc::new(Shared {
                catalog: self.catalog.unwrap_or_else(Catalog::builtin),
                hints: self
                    .hints
                    .unwrap_or_else(|| crate::products::Products::builtin().sales_hints()),
                outbox: Shared::outbox_of(&self.store, &clock),
                clock,
                default_zone: self.time_zone,
                writer: UsageWriter::new(self.store),
            }),
            tenants: RwLock::new(HashMap::new()),
            load_lock: tokio::sync::Mutex::new(()),
        }
    }
}

/// The entitlements of every tenant, kept in memory and rebuilt from the [`Store`].
///
/// - [`load`](Self::load) returns a tenant's [`Entitlements`], rebuilding it from storage the
///   first time (grants, seat assignments, the usage journal).
/// - [`grant`](Self::grant) stores a manual grant; the subscription flow writes grants in its
///   own batches and calls [`refresh`](Self::refresh).
/// - [`flush`](Self::flush) writes queued usage events (group commit); call it periodically
///   or use [`UsageMeter::consume_durable`](crate::metering::UsageMeter::consume_durable).
/// - [`tick`](Self::tick) recompiles tenants whose grants started or ended (call daily or
///   whenever the clock crosses midnight in the tenants' zone).
///
/// ```
/// use marketingforce_core::IdempotencyKey;
/// use std::sync::Arc;
/// use chrono::NaiveDate;
/// use marketingforce_core::env::Env;
/// use marketingforce_core::storage::{MemoryStore, Store};
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_core::time::ManualClock;
/// use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
/// use marketingforce_modules::entitlements::{EntitlementRegistry, Grant};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let clock = Arc::new(ManualClock::at_rfc3339("2026-05-01T10:00:00+08:00").unwrap());
/// let env = Env::builder(store).clock(clock).build();
/// let registry = EntitlementRegistry::builder(&env).build();
/// let tenant = TenantId::new();
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let grant = Grant::new(tenant, d("2026-05-01"), d("2027-05-01"))
///     .quota(UsageUnit::ArticlesPublished, 100, QuotaPeriod::Term);
/// let ents = registry.grant(grant).await.unwrap();
/// ents.meter().consume_durable(&UsageUnit::ArticlesPublished, 40u64, &IdempotencyKey::from_static("post-1")).await.unwrap();
///
/// // A new process on the same store rebuilds the same balance.
/// let again = EntitlementRegistry::builder(&env).build();
/// let rebuilt = again.load(&tenant).await.unwrap();
/// assert_eq!(rebuilt.meter().remaining(&UsageUnit::ArticlesPublished).get(), 60);
/// assert_eq!(rebuilt.report(), ents.report());
/// # });
/// ```
#[derive(Debug)]
pub struct EntitlementRegistry {
    shared: Arc<Shared>,
    tenants: RwLock<HashMap<TenantId, Entitlements>>,
    load_lock: tokio::sync::Mutex<()>,
}

impl EntitlementRegistry {
    /// A builder over `env`'s store and clock. (Event ids come from their own random
    /// generator, not `env`'s ids, so seeded id sequences elsewhere are not disturbed.)
    pub fn builder(env: &Env) -> RegistryBuilder {
        RegistryBuilder {
            store: env.store().clone(),
            clock: env.clock().clone(),
            catalog: None,
            hints: None,
            time_zone: TimeZone::default(),
        }
    }

    /// The catalog grants are checked against.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.shared.catalog
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.shared.store()
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// A tenant's entitlements if they are loaded.
    pub fn cached(&self, tenant: &TenantId) -> Option<Entitlements> {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned()
    }

    /// A tenant's entitlements, rebuilt from storage on first use, with the grants brought up
    /// to date when another process granted since (one head query of [`GRANTS_JOURNAL`]).
    ///
    /// # Errors
    /// Storage or decoding errors.
    #[operation("modules.entitlements.load", tenant = tenant)]
    pub async fn load(&self, tenant: &TenantId) -> Result<Entitlements> {
        if let Some(e) = self.cached(tenant) {
            e.state.reload_grants(false).await?;
            return Ok(e);
        }
        let _guard = self.load_lock.lock().await;
        if let Some(e) = self.cached(tenant) {
            return Ok(e);
        }
        let ents = self.rebuild(tenant).await?;
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*tenant, ents.clone());
        Ok(ents)
    }

    /// Build a tenant's entitlements from storage alone, without caching them: grants, seat
    /// assignments and the usage journal (each event key counted once). Used by
    /// [`load`](Self::load), and by tests and audits comparing live and stored state.
    ///
    /// # Errors
    /// Storage or decoding errors.
    #[operation("modules.entitlements.rebuild", tenant = tenant)]
    pub async fn rebuild(&self, tenant: &TenantId) -> Result<Entitlements> {
        let store = self.shared.store().clone();
        // The head first: grants read after it are at least as new.
        let grants_head = store.journal_head(tenant, GRANTS_JOURNAL).await?;
        let grants: Vec<Grant> = Collection::<Grant>::new(store.clone())
            .list_all(tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        let mut seats: foldhash::HashMap<ModuleId, BTreeSet<AccountId>> =
            foldhash::HashMap::default();
        for s in Collection::<SeatAssignment>::new(store)
            .list_all(tenant)
            .await?
        {
            seats
                .entry(s.value.module)
                .or_default()
                .insert(s.value.account);
        }
        let mut book = UsageBook::default();
        let mut after = 0;
        loop {
            let chunk = self
                .shared
                .writer
                .journal()
                .read(tenant, after, 500)
                .await?;
            let Some((last, _)) = chunk.last() else { break };
            after = *last;
            for (_, entry) in &chunk {
                for e in &entry.events {
                    book.apply(e);
                }
            }
        }
        book.position = after;
        let time_zone = self.zone_of(tenant).await?;
        let state = TenantState::new(*tenant, time_zone, self.shared.clone(), grants, seats, book)?;
        state.grants_position.store(grants_head, Ordering::Release);
        Ok(Entitlements {
            state: Arc::new(state),
        })
    }

    /// The zone a tenant's quota windows and grants are dated in: its registered profile's
    /// (fixed at registration, so a cached value never goes stale across processes), else the
    /// registry's default.
    async fn zone_of(&self, tenant: &TenantId) -> Result<TimeZone> {
        let directory = TenantDirectory::new(&Env::new(self.shared.store().clone()));
        Ok(match directory.find(tenant).await? {
            Some(profile) => profile.time_zone,
            None => self.shared.default_zone,
        })
    }

    /// Store a grant and apply it. Idempotent by grant id: storing the same grant again
    /// changes nothing; another grant under the same id is an error.
    ///
    /// # Errors
    /// The grant does not validate (field paths), [`Error::IdempotencyMismatch`] for a
    /// different grant under the same id, storage errors.
    #[operation("modules.entitlements.grant")]
    pub async fn grant(&self, grant: Grant) -> Result<Entitlements> {
        grant.validate(&self.shared.catalog)?;
        let tenant = grant.tenant;
        let grants = Collection::<Grant>::new(self.shared.store().clone());
        let mut batch = Batch::new();
        batch.put_entity(&tenant, &grant, Expect::Absent)?;
        // Other processes see the entry and reload the tenant's grants.
        batch.append_json(GRANTS_JOURNAL, &grant.id)?;
        // Its event, committed exactly when the grant is (a grant stored before is a conflict:
        // nothing written, no event).
        self.shared
            .outbox
            .append(
                &tenant,
                &mut batch,
                &EntitlementGranted::of(&grant),
                &EventContext::new(),
            )
            .await?;
        match self.shared.store().commit(&tenant, batch).await {
            Ok(_) => {}
            Err(Error::Conflict { .. }) => {
                let stored = grants.require(&tenant, &grant.id.to_string()).await?;
                if stored.value != grant {
                    return Err(ModulesError::Core(Error::IdempotencyMismatch {
                        key: grant.id.to_string(),
                    }));
                }
            }
            Err(e) => return Err(e.into()),
        }
        self.refresh(&tenant).await
    }

    /// Re-read a tenant's grants from storage and recompile (after the subscription flow wrote
    /// grants). Loads the tenant if it was not loaded.
    ///
    /// # Errors
    /// Storage or decoding errors.
    #[operation("modules.entitlements.refresh", tenant = tenant)]
    pub async fn refresh(&self, tenant: &TenantId) -> Result<Entitlements> {
        let Some(ents) = self.cached(tenant) else {
            return self.load(tenant).await;
        };
        ents.state.reload_grants(true).await?;
        Ok(ents)
    }

    /// Recompile every loaded tenant whose grants started or ended by today. Returns how many
    /// were recompiled.
    ///
    /// # Errors
    /// A grant naming a module the catalog no longer has.
    pub fn tick(&self) -> Result<usize> {
        let all: Vec<Entitlements> = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut n = 0;
        for e in all {
            if e.refresh()? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Write every queued usage event (one batch per tenant).
    ///
    /// # Errors
    /// Storage errors; failed events stay queued for the next flush.
    #[operation("modules.entitlements.flush")]
    pub async fn flush(&self) -> Result<()> {
        self.shared.writer.flush().await
    }

    /// Number of usage events queued and not yet durable.
    pub fn pending_events(&self) -> usize {
        self.shared.writer.pending()
    }
}
