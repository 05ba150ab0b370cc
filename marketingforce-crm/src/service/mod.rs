//! The `Crm` service: the lead lifecycle over a [`Store`], with in-memory hot state per tenant
//! (configuration, dedupe engine, allocator, staff snapshot) rebuilt from storage on first use.

mod access;
mod allocate;
mod capture;
mod catch_up;
mod history;
mod lifecycle;
mod query;
mod rebuild;
mod review;
mod scan;

pub use access::{AccessEntry, AccessOutcome, ContactExport, LeadView, ACCESS_LOG_JOURNAL};
pub use allocate::{Allocation, SweepReport};
pub use capture::{CaptureOutcome, ImportReport, RowError, RowResult};
pub use query::{LeadQuery, StatusFilter};

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use marketingforce_core::env::Env;
use marketingforce_core::events::Outbox;
use marketingforce_core::id::IdGenerator;
use marketingforce_core::storage::{
    Batch, Collection, CommitOutcome, EncodedEntity, Entity, Expect, Idempotent, Store, Versioned,
};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tracing::Instrument;

use crate::access::AccessConfig;
use crate::allocation::{AllocationConfig, Allocator, RuleCursor};
use crate::crypto::{BlindIndexer, BlindKind, PiiCipher, Sealer, TenantIndexer};
use crate::dedupe::{DedupeConfig, DedupeEngine};
use crate::error::{CrmError, Result};
use crate::gate::{CaptureGate, OpenCapture};
use crate::ids::{LeadId, UserId};
use crate::lifecycle::{LeadEvent, LifecycleConfig, HISTORY_JOURNAL};
use crate::model::{ContactPii, Lead, LeadStatus, PossibleDuplicate, VaultRecord};
use crate::par;
use crate::profile::{validate_tag_rules, ProfileConfig, ScoringConfig, TagRule};
use crate::seats::{SeatGate, UnlimitedSeats};
use crate::staff::Staff;
use crate::survivorship::SurvivorshipConfig;
use crate::telemetry::{phase, Phase};

/// Every rule of the CRM, as one serde document with a JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CrmConfig {
    /// Lifecycle transitions.
    #[serde(default)]
    pub lifecycle: LifecycleConfig,
    /// Matching rules.
    #[serde(default)]
    pub dedupe: DedupeConfig,
    /// Survivorship rules.
    #[serde(default)]
    pub survivorship: SurvivorshipConfig,
    /// Behaviour profile settings.
    #[serde(default)]
    pub profile: ProfileConfig,
    /// Scoring rules.
    #[serde(default)]
    pub scoring: ScoringConfig,
    /// Classification rules.
    #[serde(default)]
    pub tag_rules: Vec<TagRule>,
    /// Allocation rules, SLA and recycling.
    #[serde(default)]
    pub allocation: AllocationConfig,
    /// Visibility and masking.
    #[serde(default)]
    pub access: AccessConfig,
}

impl CrmConfig {
    /// Check every part; errors name the full path (`allocation.rules[1].name`).
    ///
    /// # Errors
    /// The first validation error found.
    pub fn validate(&self) -> Result<()> {
        self.lifecycle
            .validate()
            .map_err(|e| e.in_field("lifecycle"))?;
        self.dedupe.validate().map_err(|e| e.in_field("dedupe"))?;
        self.survivorship
            .validate()
            .map_err(|e| e.in_field("survivorship"))?;
        self.profile.validate().map_err(|e| e.in_field("profile"))?;
        self.scoring.validate().map_err(|e| e.in_field("scoring"))?;
        validate_tag_rules(&self.tag_rules)?;
        self.allocation
            .validate()
            .map_err(|e| e.in_field("allocation"))?;
        self.access.validate().map_err(|e| e.in_field("access"))?;
        Ok(())
    }

    /// Parse and validate a JSON document.
    ///
    /// # Errors
    /// A serialization error, or the validation error naming the offending path.
    pub fn from_json(json: &str) -> Result<CrmConfig> {
        let cfg: CrmConfig = serde_json::from_str(json)?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// A tenant's own [`CrmConfig`], as stored in its store (collection `crm.config`, one record
/// under the key [`TenantCrmConfig::KEY`]; the store's record version counts the changes).
/// Written by [`Crm::configure`], read when the tenant's in-memory state is rebuilt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantCrmConfig {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// The configuration (validated before it was stored).
    pub config: CrmConfig,
    /// When it was stored.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl TenantCrmConfig {
    /// The key of the (single) record.
    pub const KEY: &'static str = "current";
}

impl Entity for TenantCrmConfig {
    const COLLECTION: &'static str = "crm.config";
    fn key(&self) -> String {
        Self::KEY.to_string()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// Builds a [`Crm`].
#[derive(Debug)]
pub struct CrmBuilder {
    env: Env,
    seats: Arc<dyn SeatGate>,
    gate: Arc<dyn CaptureGate>,
    config: CrmConfig,
    max_clock_skew: chrono::Duration,
}

impl CrmBuilder {
    /// Gate captures (default: [`OpenCapture`], no gate): e.g.
    /// [`EntitlementCaptureGate`](crate::gate::EntitlementCaptureGate) requires the lead
    /// management module and keeps live leads within the `leads_stored` quota.
    #[must_use]
    pub fn capture_gate(mut self, gate: Arc<dyn CaptureGate>) -> Self {
        self.gate = gate;
        self
    }

    /// How far ahead of this service's clock a client-supplied time (`captured_at`, a
    /// behaviour event's `at`) may be (default
    /// [`DEFAULT_MAX_CLOCK_SKEW`](crate::request::DEFAULT_MAX_CLOCK_SKEW), 5 minutes); see
    /// [`check_client_time`](crate::request::check_client_time).
    #[must_use]
    pub fn max_clock_skew(mut self, skew: chrono::Duration) -> Self {
        self.max_clock_skew = skew.abs();
        self
    }
    /// Use a seat policy (default: unlimited).
    #[must_use]
    pub fn seats(mut self, seats: Arc<dyn SeatGate>) -> Self {
        self.seats = seats;
        self
    }
    /// Use `config` as the service default (default: [`CrmConfig::default`]): the configuration
    /// of every tenant that has none of its own (see [`Crm::configure`]).
    #[must_use]
    pub fn config(mut self, config: CrmConfig) -> Self {
        self.config = config;
        self
    }

    /// Validate the configuration and build.
    ///
    /// # Errors
    /// The configuration's validation error.
    pub fn build(self) -> Result<Crm> {
        self.config.validate()?;
        let env = self.env;
        let keys = env.keys()?.clone();
        Ok(Crm {
            outbox: Outbox::new(&env),
            indexer: BlindIndexer::new(keys.clone())?,
            cipher: PiiCipher::new(keys),
            store: env.store().clone(),
            clock: env.clock().clone(),
            ids: env.ids().clone(),
            seats: self.seats,
            gate: self.gate,
            config: Arc::new(self.config),
            tenants: Mutex::default(),
            refreshes: Refreshes::default(),
            max_clock_skew: self.max_clock_skew,
        })
    }
}

/// In-memory state of one tenant.
#[derive(Debug)]
pub(crate) struct TenantState {
    /// The tenant's configuration (its own, or the service default), read by `rebuild`.
    pub config: Arc<CrmConfig>,
    pub engine: DedupeEngine,
    pub alloc: Allocator,
    pub staff: HashMap<UserId, Staff>,
    /// The state may differ from the store (a command is in progress or was dropped at an
    /// await, its commit failed, or it was answered as a replay): the state is rebuilt before
    /// its next use. Set by [`Crm::begin`], cleared only once the store confirmed the commit,
    /// so a cancelled command can never leave memory ahead of the store.
    pub stale: bool,
    /// The head of the tenant's [`WRITES_JOURNAL`] this state was built at (plus this
    /// process's own commits since). Every command's commit is conditional on it: a write
    /// from another process moves the head, and this state then catches up with the writes
    /// after it (or is rebuilt) before it is used.
    pub position: u64,
    /// The owner each open, live lead's load is counted against ([`load_holder`]), so that a
    /// catch-up can move the load of a lead another process changed.
    pub holders: HashMap<LeadId, UserId>,
}

/// The journal every CRM write appends one entry to (the lead ids it touched, no personal
/// data), so that each process can tell, with one head query, whether its in-memory state of a
/// tenant (dedupe keys, allocation loads and cursors, staff) is still current.
pub const WRITES_JOURNAL: &str = "crm.writes";

/// How many times a command refused because another process wrote the tenant meanwhile is
/// run again on the rebuilt state before the refusal ([`Error::StaleView`], retryable) is
/// returned.
pub(crate) const STALE_ATTEMPTS: usize = 8;

/// Whether `e` is a commit refused because the state was stale.
pub(crate) fn is_stale(e: &CrmError) -> bool {
    matches!(
        e,
        CrmError::Core(marketingforce_core::Error::StaleView { .. })
    )
}

/// The CRM service (True Client): see the [crate docs](crate).
pub struct Crm {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    cipher: PiiCipher,
    indexer: BlindIndexer,
    seats: Arc<dyn SeatGate>,
    gate: Arc<dyn CaptureGate>,
    /// Where the domain events of every command are staged ([`crate::events`]).
    outbox: Outbox,
    config: Arc<CrmConfig>,
    tenants: Mutex<HashMap<TenantId, Arc<AsyncMutex<Option<TenantState>>>>>,
    max_clock_skew: chrono::Duration,
    refreshes: Refreshes,
}

/// How often this process brought its in-memory state of a tenant in line with the store
/// ([`Crm::state_refreshes`]).
#[derive(Debug, Default)]
struct Refreshes {
    rebuilt: std::sync::atomic::AtomicU64,
    caught_up: std::sync::atomic::AtomicU64,
}

/// How often a [`Crm`] brought its in-memory state of a tenant (dedupe engine, allocation
/// loads and cursors, staff, configuration) in line with the store, since it was built.
///
/// A process catches up with the writes other processes made since its state's position when
/// it can do so exactly (a few reads: the journal entries, then the leads they name and their
/// vaults); it rebuilds the state from every lead and vault of the tenant at its first command
/// for the tenant, after a configuration change, an un-merge, an erasure or a key rotation
/// made elsewhere, after a command of its own was dropped or failed with its outcome unknown,
/// and when it is too far behind. Many rebuilds under load point at commands of one tenant
/// spread over many processes while its configuration keeps changing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateRefreshes {
    /// States rebuilt from every lead and vault of a tenant.
    pub rebuilt: u64,
    /// States caught up with other processes' writes.
    pub caught_up: u64,
}

impl fmt::Debug for Crm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crm")
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

/// A lead read for change, with the version it was read at (`None`: new).
#[derive(Debug, Clone)]
pub(crate) struct WorkLead {
    pub lead: Lead,
    pub version: Option<u64>,
    /// The owner whose open load the allocator currently counts for this lead.
    pub accounted: Option<UserId>,
}

/// The owner an open, live lead counts against.
pub(crate) fn load_holder(l: &Lead) -> Option<UserId> {
    if l.is_active() && l.stage.is_open() {
        l.owner
    } else {
        None
    }
}

#[derive(Debug, Clone)]
pub(crate) enum WorkVault {
    Put(ContactPii, Option<u64>),
    Delete(u64),
}

/// Changes collected by one command, committed in one batch.
#[derive(Debug, Default)]
pub(crate) struct Work {
    pub leads: BTreeMap<LeadId, WorkLead>,
    pub vaults: BTreeMap<LeadId, WorkVault>,
    pub events: Vec<LeadEvent>,
    pub cursors: Vec<RuleCursor>,
    /// Review-queue facts (proposals, rejections), emitted as events with the batch.
    pub reviews: Vec<crate::events::ReviewFact>,
    pub extra: Batch,
    /// The command also changes a staff member (in `extra`): other processes read the staff
    /// again when they catch up with it.
    pub staff_changed: bool,
}

impl Work {
    pub fn lead_mut(&mut self, id: &LeadId) -> Result<&mut Lead> {
        self.leads
            .get_mut(id)
            .map(|w| &mut w.lead)
            .ok_or(CrmError::LeadNotFound(*id))
    }

    pub fn insert_new(&mut self, lead: Lead) {
        self.leads.insert(
            lead.id,
            WorkLead {
                lead,
                version: None,
                accounted: None,
            },
        );
    }

    /// Bring the allocator's load of `id`'s owner in line with the lead as it is now.
    pub fn settle(&mut self, id: &LeadId, alloc: &mut Allocator) {
        if let Some(w) = self.leads.get_mut(id) {
            let now = load_holder(&w.lead);
            if now != w.accounted {
                if let Some(old) = w.accounted {
                    alloc.add_load(old, -1);
                }
                if let Some(new) = now {
                    alloc.add_load(new, 1);
                }
                w.accounted = now;
            }
        }
    }

    /// [`settle`](Self::settle) every lead.
    pub fn settle_all(&mut self, alloc: &mut Allocator) {
        let ids: Vec<LeadId> = self.leads.keys().copied().collect();
        for id in ids {
            self.settle(&id, alloc);
        }
    }
}

/// The idempotency record of `key` whose fingerprint is the keyed digest `digest`.
fn idempotent_by_digest(key: &str, digest: u128) -> Result<Idempotent> {
    #[allow(deprecated)] // moves to Idempotent::with_fingerprint(&IdempotencyKey, ..)
    let idem = Idempotent::legacy(key, &format!("{digest:032x}"))?;
    Ok(idem)
}

/// The entry a CRM write appends to [`WRITES_JOURNAL`].
#[derive(Debug, Serialize)]
struct WriteEntry<'a> {
    leads: &'a [LeadId],
    /// Present when the leads' records (and their vaults) and these facts are all the write
    /// changed of what a process keeps in memory for the tenant, so that another process can
    /// catch up with it ([`catch_up`]) instead of rebuilding its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    catch_up: Option<catch_up::Facts>,
}

/// What a fenced commit did.
#[derive(Debug)]
pub(crate) enum Written {
    /// Stored; the journal's new head.
    Committed(u64),
    /// The idempotency key was used before: the stored response.
    Replayed(Vec<u8>),
}

/// A snapshot taken at the start of a command, restored if it fails.
#[derive(Debug)]
pub(crate) struct Txn {
    alloc: Allocator,
}

impl Crm {
    /// Start building a CRM over `env`: its store, clock and ids, and its keys, which seal
    /// personal data and key the blind indexes (an `env` without keys fails at
    /// [`build`](CrmBuilder::build)).
    pub fn builder(env: &Env) -> CrmBuilder {
        CrmBuilder {
            env: env.clone(),
            seats: Arc::new(UnlimitedSeats),
            gate: Arc::new(OpenCapture),
            config: CrmConfig::default(),
            max_clock_skew: crate::request::DEFAULT_MAX_CLOCK_SKEW,
        }
    }

    /// Refuse a client-supplied time too far ahead of this service's clock or before 2000
    /// (see [`check_client_time`](crate::request::check_client_time)).
    pub(crate) fn check_client_time(
        &self,
        field: &str,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<()> {
        match at {
            Some(at) => {
                crate::request::check_client_time(field, at, self.clock.now(), self.max_clock_skew)
            }
            None => Ok(()),
        }
    }

    /// The service default configuration (from [`CrmBuilder::config`]); a tenant configured
    /// with [`configure`](Self::configure) uses its own instead (see
    /// [`config_for`](Self::config_for)).
    pub fn config(&self) -> &CrmConfig {
        &self.config
    }

    /// The configuration in force for `tenant`: its own (set by
    /// [`configure`](Self::configure)), or the service default when it has none.
    ///
    /// # Errors
    /// Storage errors while reading the tenant's configuration record.
    #[operation("crm.config_for", tenant = tenant)]
    pub async fn config_for(&self, tenant: &TenantId) -> Result<Arc<CrmConfig>> {
        let guard = self.slot(tenant).lock_owned().await;
        match guard.as_ref() {
            Some(st) if !st.stale => Ok(st.config.clone()),
            // Not loaded (or due for a rebuild): read the record, without rebuilding the state.
            _ => self.load_config(tenant).await,
        }
    }

    /// The tenant's stored configuration (validated), or the service default.
    async fn load_config(&self, tenant: &TenantId) -> Result<Arc<CrmConfig>> {
        match Collection::<TenantCrmConfig>::new(self.store.clone())
            .get(tenant, TenantCrmConfig::KEY)
            .await?
        {
            Some(v) => {
                v.value.config.validate()?;
                Ok(Arc::new(v.value.config))
            }
            None => Ok(self.config.clone()),
        }
    }

    /// Give `tenant` its own configuration: it is validated (errors name the path, as
    /// [`CrmConfig::validate`] does, and nothing is written), stored in the tenant's store as a
    /// versioned [`TenantCrmConfig`] record, and the tenant's in-memory state takes it, so every
    /// later command of the tenant uses it (in place when the dedupe settings are unchanged;
    /// otherwise the state is rebuilt from storage under it, as the dedupe engine registered
    /// every lead under the old ones). Other tenants are not
    /// affected; a new `Crm` over the same store loads it. Returns the stored record's version.
    ///
    /// What a change means for existing data:
    /// - **Dedupe**: the matching rules apply to captures from then on. Leads merged (or kept
    ///   apart) under the old rules stay as they are — nothing is re-matched or re-merged; use
    ///   [`merge`](Self::merge) / [`unmerge`](Self::unmerge) to correct individual cases.
    /// - **Allocation**: the allocator is made again exactly as after a restart: owner loads are
    ///   those of the leads, and each rule's round-robin / weighted cursor is restored by
    ///   rule name — a rule that keeps its name continues where it was (its weighted-round-robin
    ///   weights restart from zero when its assignee count changed), a new rule starts at the
    ///   beginning, and the stored cursor of a removed rule is ignored (it resumes if a rule of
    ///   that name is added again).
    /// - **Lifecycle, scoring, tags, survivorship, access**: apply to commands from then on;
    ///   stored stages, scores, tags and regions are not recomputed until the lead next changes.
    ///
    /// Another `Crm` instance sharing the store takes the new configuration at its next
    /// command for the tenant: the change is an entry of the tenant's `crm.writes` journal, and
    /// its catch-up with that entry reads the configuration and the allocation cursors again
    /// (or rebuilds its state of the tenant, when the dedupe settings changed).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use marketingforce_core::env::Env;
    /// use marketingforce_core::storage::MemoryStore;
    /// use marketingforce_core::tenant::TenantId;
    /// use marketingforce_crm::allocation::{AllocationRule, Strategy};
    /// use marketingforce_crm::crypto::KeyRing;
    /// use marketingforce_crm::ids::UserId;
    /// use marketingforce_crm::{Crm, CrmConfig};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let env = Env::builder(Arc::new(MemoryStore::new()))
    ///     .keys(Arc::new(KeyRing::new("k1", [7; 32])))
    ///     .build();
    /// let crm = Crm::builder(&env).build().unwrap();
    /// let (tenant, other) = (TenantId::new(), TenantId::new());
    /// let mut own = CrmConfig::default();
    /// own.allocation.rules = vec![AllocationRule::new("all", Strategy::RoundRobin, vec![UserId::new()])];
    /// assert_eq!(crm.configure(&tenant, own.clone()).await.unwrap(), 1);
    /// assert_eq!(*crm.config_for(&tenant).await.unwrap(), own);
    /// // Other tenants keep the service default.
    /// assert_eq!(*crm.config_for(&other).await.unwrap(), *crm.config());
    ///
    /// // An invalid configuration is refused with its path; the stored one stays in force.
    /// let mut bad = own.clone();
    /// bad.allocation.rules[0].assignees.clear();
    /// assert!(crm.configure(&tenant, bad).await.is_err());
    /// assert_eq!(*crm.config_for(&tenant).await.unwrap(), own);
    /// # });
    /// ```
    ///
    /// # Errors
    /// The validation error (the previous configuration stays in force), a version conflict
    /// when another writer changed the record concurrently, storage errors (after a failure
    /// the tenant's state is rebuilt from storage on its next use, so it follows whatever
    /// record the store holds).
    #[operation("crm.configure", tenant = tenant)]
    pub async fn configure(&self, tenant: &TenantId, config: CrmConfig) -> Result<u64> {
        config.validate()?;
        let mut guard = self.slot(tenant).lock_owned().await;
        let coll = Collection::<TenantCrmConfig>::new(self.store.clone());
        let config = Arc::new(config);
        let record = TenantCrmConfig {
            tenant: *tenant,
            config: CrmConfig::clone(&config),
            updated_at: self.clock.now(),
        };
        // Any failure from here on may leave the store ahead of the memory state: the state is
        // taken out, so that a failed or dropped change leaves it to be rebuilt at next use.
        let state = guard.take();
        let expect = match coll.get(tenant, TenantCrmConfig::KEY).await? {
            Some(v) => Expect::Version(v.version),
            None => Expect::Absent,
        };
        let mut batch = Batch::new();
        batch.put_entity(tenant, &record, expect)?;
        // Other processes see the entry and read the new configuration.
        batch.append_json(
            WRITES_JOURNAL,
            &WriteEntry {
                leads: &[],
                catch_up: Some(catch_up::Facts::configured()),
            },
        )?;
        let version = match self.store.commit(tenant, batch).await? {
            CommitOutcome::Committed(receipt) => receipt.versions.first().copied().unwrap_or(0),
            CommitOutcome::Replayed(_) => 0,
        };
        *guard = Some(match state {
            // The same dedupe settings: the state takes the new configuration in place. It
            // stays at its position, so its next use catches up with the writes since, this
            // change included (which reads the cursors of the rules it keeps).
            Some(mut st) if !st.stale && st.config.dedupe == config.dedupe => {
                catch_up::reconfigure(&mut st, config);
                st
            }
            _ => self.rebuild(tenant).await?,
        });
        Ok(version)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The id generator.
    pub fn ids(&self) -> &Arc<dyn IdGenerator> {
        &self.ids
    }

    /// The blind indexer (for audits: compute the index a value would have).
    pub fn indexer(&self) -> &BlindIndexer {
        &self.indexer
    }

    pub(crate) fn leads(&self) -> Collection<Lead> {
        Collection::new(self.store.clone())
    }

    pub(crate) fn vaults(&self) -> Collection<VaultRecord> {
        Collection::new(self.store.clone())
    }

    /// The tenant's state slot (created empty on first use).
    fn slot(&self, tenant: &TenantId) -> Arc<AsyncMutex<Option<TenantState>>> {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(*tenant)
            .or_default()
            .clone()
    }

    /// Lock the tenant's state, rebuilding it from storage on first use, after a failed or
    /// dropped command, and when another process wrote the tenant since it was built (one
    /// head query of [`WRITES_JOURNAL`]).
    pub(crate) async fn state(
        &self,
        tenant: &TenantId,
    ) -> Result<OwnedMutexGuard<Option<TenantState>>> {
        let mut guard = self.slot(tenant).lock_owned().await;
        let current = match guard.as_mut() {
            Some(st) if !st.stale => {
                let head = self.store.journal_head(tenant, WRITES_JOURNAL).await?;
                // Behind another process's writes: catch up with them where that is exact
                // (every read first, then the changes, so a drop leaves the state as it was).
                head == st.position
                    || match catch_up::read(self, tenant, st, head).await? {
                        Some(changes) => {
                            let done = catch_up::apply(st, changes);
                            if done {
                                self.refreshes
                                    .caught_up
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            done
                        }
                        None => false,
                    }
            }
            _ => false,
        };
        if !current {
            // Dropped here (mid-rebuild), the slot stays empty and the next call rebuilds.
            *guard = None;
            *guard = Some(self.rebuild(tenant).await?);
        }
        Ok(guard)
    }

    /// How often this process rebuilt its in-memory state of a tenant, and how often it caught
    /// it up with other processes' writes (see [`StateRefreshes`]): a figure for a service's
    /// metrics.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use marketingforce_core::env::Env;
    /// use marketingforce_core::storage::{MemoryStore, Store};
    /// use marketingforce_core::tenant::TenantId;
    /// use marketingforce_core::IdempotencyKey;
    /// use marketingforce_crm::crypto::KeyRing;
    /// use marketingforce_crm::model::Source;
    /// use marketingforce_crm::request::CaptureRequest;
    /// use marketingforce_crm::{CaptureOutcome, Crm};
    ///
    /// async fn capture(crm: &Crm, tenant: &TenantId, mobile: &str, form: u32) -> CaptureOutcome {
    ///     let request = CaptureRequest::new(Source::OwnSite).mobile(mobile);
    ///     let key = IdempotencyKey::new(format!("form-{form}")).unwrap();
    ///     crm.capture(tenant, request, &key).await.unwrap()
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// // Two processes over one store (two `Crm`s here, with the same keys).
    /// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// let process = || {
    ///     let env = Env::builder(store.clone())
    ///         .keys(Arc::new(KeyRing::new("k1", [7; 32])))
    ///         .build();
    ///     Crm::builder(&env).build().unwrap()
    /// };
    /// let (a, b) = (process(), process());
    /// let tenant = TenantId::new();
    /// capture(&a, &tenant, "13800000001", 1).await; // a builds its state of the tenant
    /// let by_b = capture(&b, &tenant, "13800000002", 2).await; // so does b
    /// // a catches up with b's capture first: the same person is b's lead.
    /// let by_a = capture(&a, &tenant, "13800000002", 3).await;
    /// assert_eq!(by_a.lead(), by_b.lead());
    /// assert_eq!(a.state_refreshes().rebuilt, 1);
    /// assert_eq!(a.state_refreshes().caught_up, 1);
    /// # });
    /// ```
    pub fn state_refreshes(&self) -> StateRefreshes {
        use std::sync::atomic::Ordering::Relaxed;
        StateRefreshes {
            rebuilt: self.refreshes.rebuilt.load(Relaxed),
            caught_up: self.refreshes.caught_up.load(Relaxed),
        }
    }

    /// Drop the in-memory state of a tenant; the next call rebuilds it from storage.
    pub fn forget_tenant(&self, tenant: &TenantId) {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(tenant);
    }

    async fn rebuild(&self, tenant: &TenantId) -> Result<TenantState> {
        self.refreshes
            .rebuilt
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The head first: data read after it is at least as new, so a commit made from this
        // state is refused if anything was written after the head (and never lets a write
        // through that this state has not seen).
        let position = self.store.journal_head(tenant, WRITES_JOURNAL).await?;
        let indexer = self.indexer.tenant(tenant)?;
        let config = self.load_config(tenant).await?;
        let mut alloc = Allocator::new(&config.allocation);
        let staff: HashMap<UserId, Staff> = Collection::<Staff>::new(self.store.clone())
            .list_all(tenant)
            .await?
            .into_iter()
            .map(|v| (v.value.id, v.value))
            .collect();
        let mut sorted: Vec<&Staff> = staff.values().collect();
        sorted.sort_by_key(|s| s.id);
        for s in sorted {
            alloc.set_staff(s.id, s.active && s.role.takes_leads(), s.capacity, s.team);
        }
        for c in Collection::<RuleCursor>::new(self.store.clone())
            .list_all(tenant)
            .await?
        {
            alloc.restore_cursor(c.value);
        }
        let mut merged = Vec::new();
        let mut separated = Vec::new();
        let mut erased = Vec::new();
        let mut gone = Vec::new();
        let outlines = rebuild::lead_outlines(self, tenant).await?;
        // Sized for every lead at once: grown capture by capture, its tables would be copied
        // and rehashed a few dozen times over.
        let mut engine = DedupeEngine::with_capacity(config.dedupe.clone(), outlines.len());
        let mut holders = HashMap::new();
        for l in outlines {
            if let Some(owner) = l.holder() {
                alloc.add_load(owner, 1);
                holders.insert(l.id, owner);
            }
            match l.status {
                LeadStatus::Active => {}
                LeadStatus::Merged { into } => {
                    merged.push((l.id, into));
                    gone.push(l.id);
                }
                LeadStatus::Erased { .. } => {
                    erased.push(l.id);
                    gone.push(l.id);
                }
            }
            for s in &l.separated_from {
                separated.push((l.id, *s));
            }
        }
        rebuild::vault_keys(self, tenant, &indexer, |lead, keys| {
            engine.load(lead, &keys);
        })
        .await?;
        // An erased lead has no vault, nor have the leads merged into it: they are loaded
        // without keys, so that their merges and the separations naming them load as for any
        // lead, then forgotten as the erasure forgot them.
        for lead in gone {
            if engine.standing(lead).is_none() {
                engine.load(lead, &[]);
            }
        }
        for (absorbed, into) in merged {
            engine.link(absorbed, into)?;
        }
        for (a, b) in separated {
            engine.separate(a, b)?;
        }
        engine.erase_all(&erased);
        // The review queue: every pair in it, whatever its status, is never proposed again
        // (a rejection also keeps the two leads apart through their `separated_from`).
        for v in Collection::<PossibleDuplicate>::new(self.store.clone())
            .list_all(tenant)
            .await?
        {
            engine.mark_proposed(v.value.a, v.value.b);
        }
        Ok(TenantState {
            config,
            engine,
            alloc,
            staff,
            stale: false,
            position,
            holders,
        })
    }

    pub(crate) fn tenant_indexer(&self, tenant: &TenantId) -> Result<TenantIndexer> {
        self.indexer.tenant(tenant)
    }

    pub(crate) fn open_vault(&self, tenant: &TenantId, v: &VaultRecord) -> Result<ContactPii> {
        let plain = self
            .cipher
            .open(tenant, v.lead.to_string().as_bytes(), &v.sealed)?;
        serde_json::from_slice(&plain).map_err(|e| CrmError::Crypto {
            what: format!("vault of {}", v.lead),
            reason: format!("undecodable plaintext: {e}"),
        })
    }

    pub(crate) fn seal_vault(
        &self,
        tenant: &TenantId,
        lead: LeadId,
        pii: &ContactPii,
    ) -> Result<VaultRecord> {
        self.seal_vault_with(
            &self.indexer.tenant(tenant)?,
            &mut self.cipher.sealer(tenant)?,
            lead,
            pii,
        )
    }

    /// [`seal_vault`](Self::seal_vault) with the tenant's indexer and a sealer already at hand
    /// (a commit seals many vaults: the active keys are looked up once).
    pub(crate) fn seal_vault_with(
        &self,
        indexer: &TenantIndexer,
        sealer: &mut Sealer,
        lead: LeadId,
        pii: &ContactPii,
    ) -> Result<VaultRecord> {
        // Sized for the usual contribution (about 560 bytes of JSON), so the plaintext is not
        // copied from buffer to buffer (each copy left behind in freed memory) as it grows.
        let mut plain = Vec::with_capacity(128 + 640 * pii.contributions.len());
        serde_json::to_writer(&mut plain, pii)?;
        let sealed = sealer.seal(lead.to_string().as_bytes(), &plain)?;
        let mut blind = Vec::new();
        for c in &pii.contributions {
            let id = &c.identity;
            let values = [
                id.mobile.as_ref().map(|m| (BlindKind::Mobile, m.as_str())),
                id.phone.as_ref().map(|p| (BlindKind::Phone, p.as_str())),
                id.email.as_ref().map(|e| (BlindKind::Email, e.as_str())),
                id.wecom_id.as_ref().map(|w| (BlindKind::WeCom, w.as_str())),
                id.id_document
                    .as_ref()
                    .map(|d| (BlindKind::IdDocument, d.as_str())),
                id.wechat_unionid
                    .as_ref()
                    .map(|w| (BlindKind::WeChatUnion, w.as_str())),
                id.wechat_openid
                    .as_ref()
                    .map(|w| (BlindKind::WeChatOpen, w.as_str())),
            ];
            for (kind, v) in values.into_iter().flatten() {
                blind.push(indexer.compute(kind, v).index_value(indexer.key_id()));
            }
        }
        blind.sort();
        blind.dedup();
        Ok(VaultRecord {
            lead,
            sealed,
            blind,
        })
    }

    /// Read a lead that must exist for this tenant.
    pub(crate) async fn read_lead(
        &self,
        tenant: &TenantId,
        id: &LeadId,
    ) -> Result<Versioned<Lead>> {
        self.leads()
            .get(tenant, &id.to_string())
            .await?
            .ok_or(CrmError::LeadNotFound(*id))
    }

    /// Read a lead that must be live.
    pub(crate) async fn read_active(
        &self,
        tenant: &TenantId,
        id: &LeadId,
    ) -> Result<Versioned<Lead>> {
        let v = self.read_lead(tenant, id).await?;
        match v.value.status {
            LeadStatus::Active => Ok(v),
            LeadStatus::Merged { into } => Err(CrmError::LeadMerged { lead: *id, into }),
            LeadStatus::Erased { .. } => Err(CrmError::LeadErased(*id)),
        }
    }

    /// Load a lead into `work` (once).
    pub(crate) async fn load_work(
        &self,
        tenant: &TenantId,
        work: &mut Work,
        id: &LeadId,
    ) -> Result<()> {
        if work.leads.contains_key(id) {
            return Ok(());
        }
        let v = self.read_lead(tenant, id).await?;
        work.leads.insert(
            *id,
            WorkLead {
                accounted: load_holder(&v.value),
                lead: v.value,
                version: Some(v.version),
            },
        );
        Ok(())
    }

    /// Start a command on the tenant's state. The state counts as stale until
    /// [`finish`](Self::finish) has the store's confirmation (or [`abort`](Self::abort) undid
    /// the command): a command dropped at any await in between leaves it to be rebuilt.
    pub(crate) fn begin(st: &mut TenantState) -> Txn {
        st.engine.begin();
        st.stale = true;
        Txn {
            alloc: st.alloc.clone(),
        }
    }

    /// Undo a command that wrote nothing (refused before its commit).
    pub(crate) fn abort(st: &mut TenantState, txn: Txn) {
        st.engine.rollback();
        st.alloc = txn.alloc;
        st.stale = false;
    }

    /// Finish a command: settle loads, persist cursors, commit; on failure or replay undo the
    /// in-memory changes and mark the state stale (the batch may have been stored although
    /// the commit failed, and a replay means another delivery stored it), so the next command
    /// rebuilds it from storage. Returns the stored response on a replay.
    pub(crate) async fn finish(
        &self,
        tenant: &TenantId,
        st: &mut TenantState,
        txn: Txn,
        mut work: Work,
        idem: Option<(&Idempotent, Vec<u8>)>,
    ) -> Result<Option<Vec<u8>>> {
        work.settle_all(&mut st.alloc);
        work.cursors = st.alloc.take_touched();
        let holders: Vec<(LeadId, Option<UserId>)> = work
            .leads
            .iter()
            .map(|(id, w)| (*id, load_holder(&w.lead)))
            .collect();
        match self.commit_work(tenant, st.position, work, idem).await {
            Ok(Written::Committed(position)) => {
                st.engine.commit();
                st.position = position;
                st.stale = false;
                for (id, holder) in holders {
                    match holder {
                        Some(owner) => st.holders.insert(id, owner),
                        None => st.holders.remove(&id),
                    };
                }
                Ok(None)
            }
            Ok(Written::Replayed(stored)) => {
                st.engine.rollback();
                st.alloc = txn.alloc;
                Ok(Some(stored))
            }
            Err(e) => {
                st.engine.rollback();
                st.alloc = txn.alloc;
                // Refused because another process wrote first: nothing was stored, and the
                // state is back where it was, so it can catch up with that write.
                if is_stale(&e) {
                    st.stale = false;
                }
                Err(e)
            }
        }
    }

    /// Load a lead's vault into `work` (once) and return its plaintext for change.
    pub(crate) async fn vault_work<'w>(
        &self,
        tenant: &TenantId,
        work: &'w mut Work,
        id: &LeadId,
    ) -> Result<&'w mut ContactPii> {
        if !work.vaults.contains_key(id) {
            let entry = match self.vaults().get(tenant, &id.to_string()).await? {
                Some(v) => WorkVault::Put(self.open_vault(tenant, &v.value)?, Some(v.version)),
                None => WorkVault::Put(ContactPii::default(), None),
            };
            work.vaults.insert(*id, entry);
        }
        match work.vaults.get_mut(id) {
            Some(WorkVault::Put(pii, _)) => Ok(pii),
            _ => Err(CrmError::LeadNotFound(*id)),
        }
    }

    /// Take a lead's vault out of `work` for deletion, returning its plaintext.
    pub(crate) async fn take_vault(
        &self,
        tenant: &TenantId,
        work: &mut Work,
        id: &LeadId,
    ) -> Result<ContactPii> {
        let entry = match work.vaults.remove(id) {
            Some(e) => e,
            None => match self.vaults().get(tenant, &id.to_string()).await? {
                Some(v) => WorkVault::Put(self.open_vault(tenant, &v.value)?, Some(v.version)),
                None => WorkVault::Put(ContactPii::default(), None),
            },
        };
        let (pii, version) = match entry {
            WorkVault::Put(p, v) => (p, v),
            WorkVault::Delete(v) => (ContactPii::default(), Some(v)),
        };
        if let Some(v) = version {
            work.vaults.insert(*id, WorkVault::Delete(v));
        }
        Ok(pii)
    }

    /// Commit `work` in one batch, conditional on the state's `position` (the head of
    /// [`WRITES_JOURNAL`]), optionally under an idempotency key with `response`.
    pub(crate) async fn commit_work(
        &self,
        tenant: &TenantId,
        position: u64,
        work: Work,
        idem: Option<(&Idempotent, Vec<u8>)>,
    ) -> Result<Written> {
        let Work {
            leads,
            vaults,
            events,
            cursors,
            reviews,
            extra,
            staff_changed,
        } = work;
        let mut batch = extra;
        let touched: Vec<LeadId> = leads.keys().copied().collect();
        let facts = Some(catch_up::Facts::of(
            &reviews,
            staff_changed,
            !cursors.is_empty(),
        ));
        // The domain events of the history entries, in the same batch: they exist exactly
        // when the change does. Made first: they read the leads, which encoding then takes.
        let ctx = crate::events::command_context(idem.as_ref().map(|(i, _)| i.key()));
        let envelopes = phase(Phase::Events, events.len()).in_scope(|| {
            let mut envelopes = crate::events::envelopes(
                self.ids.as_ref(),
                self.clock.as_ref(),
                tenant,
                &events,
                |id| leads.get(id).map(|w| &w.lead),
                &ctx,
            )?;
            envelopes.extend(crate::events::review_envelopes(
                &self.outbox,
                tenant,
                &reviews,
                &ctx,
            )?);
            Ok::<_, CrmError>(envelopes)
        })?;
        // Leads are encoded, and vaults sealed, over the cores; the threads only read the
        // working copies, and the calling thread, which allocated them, frees them afterwards.
        // Freed by the threads instead, the commit ran slower than on the calling thread alone
        // (glibc's allocator; `capture_path`, 2-core Intel Xeon: see the README's capture
        // section).
        let changed: Vec<WorkLead> = leads.into_values().collect();
        let encoded = phase(Phase::Encode, changed.len()).in_scope(|| {
            let encoded = par::map(&changed, |w| {
                EncodedEntity::new(tenant, &w.lead).map(|e| (e, w.version))
            });
            drop(changed);
            encoded
        });
        for e in encoded {
            let (e, version) = e?;
            batch.put_encoded(e, version.map_or(Expect::Absent, Expect::Version));
        }
        let mut puts = Vec::new();
        for (id, v) in vaults {
            match v {
                WorkVault::Put(pii, version) => puts.push((id, pii, version)),
                WorkVault::Delete(version) => {
                    batch.delete_entity::<VaultRecord>(id.to_string(), Expect::Version(version));
                }
            }
        }
        if !puts.is_empty() {
            // The tenant's active keys, fetched once for every vault of the commit; each
            // thread seals under the same key with a nonce sequence of its own.
            let ix = self.indexer.tenant(tenant)?;
            let first = std::sync::Mutex::new(Some(self.cipher.sealer(tenant)?));
            let sealed = phase(Phase::Seal, puts.len()).in_scope(|| {
                let sealed = par::map_with(
                    &puts,
                    || {
                        let taken = first.lock().ok().and_then(|mut f| f.take());
                        taken.map_or_else(|| self.cipher.sealer(tenant), Ok)
                    },
                    |sealer, (id, pii, version)| {
                        let sealer = sealer.as_mut().map_err(|e| CrmError::Crypto {
                            what: "vault".into(),
                            reason: e.to_string(),
                        })?;
                        let rec = self.seal_vault_with(&ix, sealer, *id, pii)?;
                        Ok::<_, CrmError>((EncodedEntity::new(tenant, &rec)?, *version))
                    },
                );
                drop(puts);
                sealed
            });
            for rec in sealed {
                let (rec, version) = rec?;
                batch.put_encoded(rec, version.map_or(Expect::Absent, Expect::Version));
            }
        }
        for c in &cursors {
            batch.put_entity(tenant, c, Expect::Any)?;
        }
        let history = phase(Phase::History, events.len())
            .in_scope(|| par::map(&events, marketingforce_core::storage::to_json_exact));
        for entry in history {
            batch.append(HISTORY_JOURNAL, entry?);
        }
        if !envelopes.is_empty() {
            self.outbox.register(tenant).await?;
            for e in &envelopes {
                batch.append_event(tenant, e)?;
            }
        }
        if let Some((i, response)) = idem {
            batch.claim_idempotency(i.key(), i.fingerprint().as_str(), response);
        }
        self.commit_fenced(tenant, position, batch, &touched, facts)
            .instrument(phase(Phase::Store, touched.len()))
            .await
    }

    /// Commit `batch` conditional on [`WRITES_JOURNAL`] being at `position`, appending one
    /// entry (the ids of the leads touched, and the `facts` other processes catch up with
    /// when that is all the batch changes of their state) to it.
    pub(crate) async fn commit_fenced(
        &self,
        tenant: &TenantId,
        position: u64,
        mut batch: Batch,
        touched: &[LeadId],
        facts: Option<catch_up::Facts>,
    ) -> Result<Written> {
        batch.expect_head(WRITES_JOURNAL, position);
        // Last, so that the receipt's last sequence is this journal's new head.
        batch.append_json(
            WRITES_JOURNAL,
            &WriteEntry {
                leads: touched,
                catch_up: facts,
            },
        )?;
        match self.store.commit(tenant, batch).await? {
            CommitOutcome::Committed(receipt) => Ok(Written::Committed(
                receipt.sequences.last().copied().unwrap_or(position),
            )),
            CommitOutcome::Replayed(r) => Ok(Written::Replayed(r)),
        }
    }

    /// Run a command again (on a rebuilt state) while its commit is refused because another
    /// process wrote the tenant since the state was built; [`STALE_ATTEMPTS`] at most.
    pub(crate) async fn retry_stale<T, F, Fut>(&self, mut command: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match command().await {
                Err(e) if is_stale(&e) && attempt < STALE_ATTEMPTS => {
                    marketingforce_core::telemetry::stale_retry("crm.writes", attempt as u64);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// [`idempotent`](Self::idempotent) of `(label, rows)`, with the same fingerprint, the rows
    /// serialized over the cores.
    pub(crate) fn idempotent_rows<R: Serialize + Sync>(
        &self,
        tenant: &TenantId,
        key: &str,
        label: &str,
        rows: &[R],
    ) -> Result<Idempotent> {
        let digest = self.tenant_indexer(tenant)?.digest_json_rows(label, rows)?;
        idempotent_by_digest(key, digest.mac)
    }

    /// An idempotent command whose fingerprint is a keyed digest of `request`, so the stored
    /// fingerprint never lets anyone test guesses of personal data in the request.
    pub(crate) fn idempotent<T: Serialize>(
        &self,
        tenant: &TenantId,
        key: &str,
        request: &T,
    ) -> Result<Idempotent> {
        let digest = self.tenant_indexer(tenant)?.digest_json(request)?;
        idempotent_by_digest(key, digest.mac)
    }

    /// The replayed result of `idem`, if it was used before.
    pub(crate) async fn replayed<R: serde::de::DeserializeOwned>(
        &self,
        tenant: &TenantId,
        idem: &Idempotent,
    ) -> Result<Option<R>> {
        Ok(idem.check(self.store.as_ref(), tenant).await?)
    }

    /// Every lead of a tenant (live, merged and erased), in key order.
    ///
    /// # Errors
    /// Backend or decoding errors.
    #[operation("crm.all_leads", tenant = tenant)]
    pub async fn all_leads(&self, tenant: &TenantId) -> Result<Vec<Lead>> {
        Ok(self
            .leads()
            .list_all(tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Read a lead record (no personal data in it).
    ///
    /// # Errors
    /// [`CrmError::LeadNotFound`].
    #[operation("crm.lead", tenant = tenant)]
    pub async fn lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Lead> {
        Ok(self.read_lead(tenant, id).await?.value)
    }

    /// The history of a lead, oldest first.
    ///
    /// The tenant's history journal holds every lead's entries. An index of it by lead, kept
    /// beside it up to a watermark, gives the lead's entries up to there; the entries after
    /// the watermark are scanned a page at a time (only those that name the lead are decoded).
    /// A read that scanned many entries past the watermark indexes the next ones (best effort:
    /// the answer never depends on it), so the time follows the lead's history and the entries
    /// written since the last indexing, not the tenant's whole history. The `capture_path`
    /// benchmark reports it.
    ///
    /// # Errors
    /// Backend errors; a decoding error for an entry of the lead, or for its index record.
    #[operation("crm.history", tenant = tenant)]
    pub async fn history(&self, tenant: &TenantId, id: &LeadId) -> Result<Vec<LeadEvent>> {
        history::of_lead(self.store.as_ref(), tenant, id).await
    }

    /// The live lead holding `lead` now (itself, or the survivor it was merged into).
    ///
    /// # Errors
    /// [`CrmError::LeadErased`] or [`CrmError::LeadNotFound`].
    #[operation("crm.survivor", tenant = tenant)]
    pub async fn survivor(&self, tenant: &TenantId, lead: &LeadId) -> Result<LeadId> {
        let guard = self.state(tenant).await?;
        let st = guard.as_ref().ok_or(CrmError::LeadNotFound(*lead))?;
        match st.engine.survivor(*lead) {
            Some(s) => Ok(s),
            None => match self.read_lead(tenant, lead).await?.value.status {
                LeadStatus::Erased { .. } => Err(CrmError::LeadErased(*lead)),
                _ => Err(CrmError::LeadNotFound(*lead)),
            },
        }
    }

    /// Re-encrypt every vault record sealed under a key other than the active one and recompute
    /// its blind indexes under the active index key (after [`KeyRing::rotate`]); returns how many
    /// records were rewritten. Afterwards the old key can be retired.
    ///
    /// [`KeyRing::rotate`]: crate::crypto::KeyRing::rotate
    ///
    /// # Errors
    /// Crypto or backend errors; records already rewritten stay rewritten (each batch is
    /// atomic, the operation can be re-run).
    #[operation("crm.rotate_keys", tenant = tenant)]
    pub async fn rotate_keys(&self, tenant: &TenantId) -> Result<usize> {
        let mut guard = self.state(tenant).await?;
        // Other processes rebuild when they see the entries appended below; this one does too.
        if let Some(st) = guard.as_mut() {
            st.stale = true;
        }
        let active = self.cipher.keys().active_data_key(tenant)?.0;
        let index_key = self.indexer.active_key_id(tenant)?;
        let prefix = format!("{index_key}:");
        let mut rewritten = 0;
        let all = self.vaults().list_all(tenant).await?;
        for chunk in all.chunks(1000) {
            let mut batch = Batch::new();
            let mut n = 0;
            for v in chunk {
                let stale_index = v.value.blind.iter().any(|b| !b.starts_with(&prefix));
                if v.value.sealed.key_id == active && !stale_index {
                    continue;
                }
                let pii = self.open_vault(tenant, &v.value)?;
                let rec = self.seal_vault(tenant, v.value.lead, &pii)?;
                batch.put_entity(tenant, &rec, Expect::Version(v.version))?;
                n += 1;
            }
            if n > 0 {
                let leads: Vec<LeadId> = chunk.iter().map(|v| v.value.lead).collect();
                // No catch-up facts: other processes rebuild their state over the new keys.
                batch.append_json(
                    WRITES_JOURNAL,
                    &WriteEntry {
                        leads: &leads,
                        catch_up: None,
                    },
                )?;
                self.store.commit(tenant, batch).await?;
                rewritten += n;
            }
        }
        Ok(rewritten)
    }
}
