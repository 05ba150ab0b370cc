//! [`Entitlements`]: the live, per-tenant handle other crates check against.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use foldhash::HashMap as FastMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::NaiveDate;
use marketingforce_core::env::Env;
use marketingforce_core::events::{EventContext, Outbox};
use marketingforce_core::storage::{Batch, Collection, CommitOutcome, Expect, MemoryStore, Store};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, TimeZone};
use serde::Serialize;

use super::grant::{Grant, GrantId, QuotaSource};
use super::seats::{AccountId, SeatAssignment, SeatChange, SeatEvent, SEAT_JOURNAL};
use super::set::EntitlementSet;
use crate::catalog::{Catalog, ModuleId, UsageUnit};
use crate::error::{ModulesError, PackOffer, Result};
use crate::events::{SeatAssigned, SeatReleased};
use crate::metering::book::UsageBook;
use crate::metering::writer::UsageWriter;
use crate::metering::UsageMeter;

/// What a tenant lacking something can buy: usage packs per unit and bundles per module. Used to
/// make denials actionable. Built from a product catalog with
/// [`Products::sales_hints`](crate::products::Products::sales_hints).
#[derive(Debug, Clone, Default)]
pub struct SalesHints {
    /// Packs that add quota, per unit.
    pub packs: HashMap<UsageUnit, Vec<PackOffer>>,
    /// Bundles that include a module, per module.
    pub bundles: HashMap<ModuleId, Vec<String>>,
}

/// Everything the tenants of one registry share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub catalog: Arc<Catalog>,
    pub hints: Arc<SalesHints>,
    pub clock: Arc<dyn Clock>,
    /// The zone of tenants without a registered profile.
    pub default_zone: TimeZone,
    pub writer: UsageWriter,
    /// Where grant, seat and quota events are staged (see [`crate::events`]).
    pub outbox: Outbox,
}

impl Shared {
    /// The outbox over `store` and `clock`. Event ids come from their own (random UUIDv7)
    /// generator.
    pub fn outbox_of(store: &Arc<dyn Store>, clock: &Arc<dyn Clock>) -> Outbox {
        Outbox::new(&Env::builder(store.clone()).clock(clock.clone()).build())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.writer.store()
    }
}

/// The state of one tenant.
#[derive(Debug)]
pub(crate) struct TenantState {
    pub tenant: TenantId,
    /// The tenant's zone (its profile's, fixed at registration): quota windows and grant
    /// start and end dates are read in it.
    pub time_zone: TimeZone,
    pub shared: Arc<Shared>,
    pub grants: RwLock<Vec<Grant>>,
    pub set: RwLock<Arc<EntitlementSet>>,
    pub seats: RwLock<FastMap<ModuleId, BTreeSet<AccountId>>>,
    /// Serialises this process's seat commands of the tenant and holds the head of
    /// [`SEAT_JOURNAL`] that `seats` reflects: a seat command whose head is behind the store's
    /// reloads the assignments first, and its commit is conditional on the head.
    pub seat_sync: tokio::sync::Mutex<u64>,
    /// The head of [`GRANTS_JOURNAL`](super::GRANTS_JOURNAL) the grants reflect.
    pub grants_position: std::sync::atomic::AtomicU64,
    /// Serialises this process's grant reloads of the tenant, so that a reload whose read was
    /// overtaken never installs its older grants over a newer reload's.
    pub grants_sync: tokio::sync::Mutex<()>,
    pub usage: Mutex<UsageBook>,
}

impl TenantState {
    pub fn new(
        tenant: TenantId,
        time_zone: TimeZone,
        shared: Arc<Shared>,
        grants: Vec<Grant>,
        seats: FastMap<ModuleId, BTreeSet<AccountId>>,
        usage: UsageBook,
    ) -> Result<TenantState> {
        let today = shared.clock.today(time_zone);
        let set = EntitlementSet::compile(&shared.catalog, tenant, &grants, today)?;
        let mut usage = usage;
        usage.set_grants(&grants);
        Ok(TenantState {
            tenant,
            time_zone,
            shared,
            grants: RwLock::new(grants),
            set: RwLock::new(Arc::new(set)),
            seats: RwLock::new(seats),
            // 0: the first seat command checks the journal head (and reloads if it moved).
            seat_sync: tokio::sync::Mutex::new(0),
            grants_position: std::sync::atomic::AtomicU64::new(0),
            grants_sync: tokio::sync::Mutex::new(()),
            usage: Mutex::new(usage),
        })
    }

    /// Re-read the stored grants (as of the grants journal's head) and recompile — always
    /// when `force`, otherwise only when another process granted since.
    #[operation("modules.entitlements.reload_grants", tenant = self.tenant)]
    pub async fn reload_grants(&self, force: bool) -> Result<()> {
        use std::sync::atomic::Ordering;
        let store = self.shared.store().clone();
        let _sync = self.grants_sync.lock().await;
        let head = store
            .journal_head(&self.tenant, super::GRANTS_JOURNAL)
            .await?;
        if !force && head == self.grants_position.load(Ordering::Acquire) {
            return Ok(());
        }
        let grants: Vec<Grant> = Collection::<Grant>::new(store)
            .list_all(&self.tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        self.install_grants(grants)?;
        self.grants_position.fetch_max(head, Ordering::AcqRel);
        Ok(())
    }

    /// Today in the tenant's zone.
    pub fn today(&self) -> NaiveDate {
        self.shared.clock.today(self.time_zone)
    }

    /// Replace the grants and recompile for today.
    pub fn install_grants(&self, grants: Vec<Grant>) -> Result<()> {
        let today = self.today();
        let set = EntitlementSet::compile(&self.shared.catalog, self.tenant, &grants, today)?;
        self.usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_grants(&grants);
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        *self.grants.write().unwrap_or_else(PoisonError::into_inner) = grants;
        Ok(())
    }
}

/// The live entitlements of one tenant: a cheap-to-clone handle (an `Arc`) for fast, local
/// checks — no storage round trip per check.
///
/// - **Modules**: [`is_enabled`](Self::is_enabled) / [`require`](Self::require).
/// - **Seats**: [`seat_available`](Self::seat_available), [`has_seat`](Self::has_seat),
///   [`assign_seat`](Self::assign_seat) / [`unassign_seat`](Self::unassign_seat) (durable).
/// - **Usage**: [`meter`](Self::meter) gives the tenant's [`UsageMeter`].
///
/// Get one from an [`EntitlementRegistry`](super::EntitlementRegistry) (durable, rebuilt from
/// storage), or in tests straight from a [`Grant`]:
///
/// ```
/// use marketingforce_core::IdempotencyKey;
/// use std::sync::Arc;
/// use chrono::NaiveDate;
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_core::time::ManualClock;
/// use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
/// use marketingforce_modules::entitlements::{AccountId, Entitlements, Grant};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let grant = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01"))
///     .seats(ModuleId::LEADS_ALLOCATION, 2)
///     .quota(UsageUnit::VideosRendered, 10, QuotaPeriod::Month);
/// let ents = Entitlements::from_grant(grant, clock).unwrap();
///
/// assert!(ents.is_enabled(&ModuleId::LEADS_ALLOCATION));
/// assert!(!ents.is_enabled(&ModuleId::T_VIDEO));
/// let li = AccountId::new("li.lei").unwrap();
/// ents.assign_seat(&ModuleId::LEADS_ALLOCATION, &li).await.unwrap();
/// ents.assign_seat(&ModuleId::LEADS_ALLOCATION, &AccountId::new("han.mei").unwrap()).await.unwrap();
/// assert!(!ents.seat_available(&ModuleId::LEADS_ALLOCATION));
/// assert!(ents.assign_seat(&ModuleId::LEADS_ALLOCATION, &AccountId::new("wang").unwrap()).await.is_err());
///
/// let meter = ents.meter();
/// meter.consume(&UsageUnit::VideosRendered, 3u64, &IdempotencyKey::from_static("render-1")).unwrap();
/// meter.consume(&UsageUnit::VideosRendered, 3u64, &IdempotencyKey::from_static("render-1")).unwrap(); // replay: counted once
/// assert_eq!(meter.remaining(&UsageUnit::VideosRendered).get(), 7);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Entitlements {
    pub(crate) state: Arc<TenantState>,
}

/// Everything an [`Entitlements`] handle holds, in comparable form (see
/// [`Entitlements::report`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntitlementsReport {
    /// The tenant.
    pub tenant: TenantId,
    /// Enabled modules, sorted.
    pub modules: Vec<ModuleId>,
    /// Seat limits per module.
    pub seat_limits: BTreeMap<ModuleId, u32>,
    /// Seat holders per module.
    pub seats: BTreeMap<ModuleId, BTreeSet<AccountId>>,
    /// Units used per (unit, grant, quota source, window start).
    pub usage: BTreeMap<(String, GrantId, QuotaSource, NaiveDate), u64>,
    /// Keys of every recorded usage event.
    pub event_keys: Vec<String>,
}

impl Entitlements {
    /// In-memory entitlements from one grant, for tests and examples: the built-in catalog, the
    /// built-in product catalog's hints, a private [`MemoryStore`] and `clock`. The grant itself
    /// is not stored; use [`EntitlementRegistry::grant`](super::EntitlementRegistry::grant) for
    /// durable grants.
    ///
    /// # Errors
    /// The grant does not validate against the built-in catalog.
    pub fn from_grant(grant: Grant, clock: Arc<dyn Clock>) -> Result<Entitlements> {
        let tenant = grant.tenant;
        Entitlements::from_grants(tenant, vec![grant], clock)
    }

    /// Like [`from_grant`](Self::from_grant), with several grants.
    ///
    /// # Errors
    /// A grant is for another tenant or does not validate.
    pub fn from_grants(
        tenant: TenantId,
        grants: Vec<Grant>,
        clock: Arc<dyn Clock>,
    ) -> Result<Entitlements> {
        Entitlements::in_memory(Catalog::builtin(), tenant, grants, clock)
    }

    /// In-memory entitlements over `catalog` (e.g. one with third-party modules registered on a
    /// [`ModuleHost`](crate::paas::ModuleHost)), for tests and examples.
    ///
    /// # Errors
    /// A grant is for another tenant or does not validate against `catalog`.
    pub fn in_memory(
        catalog: Arc<Catalog>,
        tenant: TenantId,
        grants: Vec<Grant>,
        clock: Arc<dyn Clock>,
    ) -> Result<Entitlements> {
        for (i, g) in grants.iter().enumerate() {
            marketingforce_core::tenant::Tenant::ensure_same(&tenant, &g.tenant, "grant")?;
            g.validate(&catalog)
                .map_err(|e| e.in_field(format!("grants[{i}]")))?;
        }
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let shared = Arc::new(Shared {
            catalog,
            hints: crate::products::Products::builtin().sales_hints(),
            outbox: Shared::outbox_of(&store, &clock),
            clock,
            default_zone: TimeZone::default(),
            writer: UsageWriter::new(store),
        });
        let state = TenantState::new(
            tenant,
            TimeZone::default(),
            shared,
            grants,
            FastMap::default(),
            UsageBook::default(),
        )?;
        Ok(Entitlements {
            state: Arc::new(state),
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.state.tenant
    }

    /// The zone quota windows and grant dates are read in: the tenant's registered profile's
    /// (see [`TenantDirectory`](marketingforce_core::tenant::TenantDirectory)), else the
    /// registry's default.
    pub fn time_zone(&self) -> TimeZone {
        self.state.time_zone
    }

    /// Today in [`time_zone`](Self::time_zone).
    pub fn today(&self) -> NaiveDate {
        self.state.today()
    }

    /// The compiled entitlement set now in force.
    pub fn snapshot(&self) -> Arc<EntitlementSet> {
        self.state
            .set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The grants the entitlements are compiled from.
    pub fn grants(&self) -> Vec<Grant> {
        self.state
            .grants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `module` is enabled. Hot path: one read lock and one hash lookup.
    #[inline]
    pub fn is_enabled(&self, module: &ModuleId) -> bool {
        self.state
            .set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_enabled(module)
    }

    /// Refuse a module the tenant is not entitled to.
    ///
    /// # Errors
    /// [`ModulesError::NotEntitled`], naming the bundles that include the module.
    pub fn require(&self, module: &ModuleId) -> Result<()> {
        if self.is_enabled(module) {
            return Ok(());
        }
        Err(ModulesError::NotEntitled {
            tenant: self.state.tenant.to_string(),
            module: module.clone(),
            offered_in: self
                .state
                .shared
                .hints
                .bundles
                .get(module)
                .cloned()
                .unwrap_or_default(),
        })
    }

    /// The seat limit of a seat-limited module (None when the tenant has no seats of it).
    pub fn seat_limit(&self, module: &ModuleId) -> Option<u32> {
        self.state
            .set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .seat_limit(module)
    }

    /// Seats of `module` currently assigned.
    pub fn seats_assigned(&self, module: &ModuleId) -> u32 {
        let seats = self
            .state
            .seats
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        seats
            .get(module)
            .map_or(0, |s| u32::try_from(s.len()).unwrap_or(u32::MAX))
    }

    /// Whether one more account can be given a seat of `module`. For a module that is enabled
    /// but not seat-limited, always true; for a module that is not enabled, false. Hot path.
    #[inline]
    pub fn seat_available(&self, module: &ModuleId) -> bool {
        let (enabled, limit) = {
            let set = self
                .state
                .set
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            (set.is_enabled(module), set.seat_limit(module))
        };
        match limit {
            None => enabled && !self.is_seat_limited(module),
            Some(limit) => self.seats_assigned(module) < limit,
        }
    }

    /// Whether `account` holds a seat of `module`. Hot path.
    #[inline]
    pub fn has_seat(&self, module: &ModuleId, account: &AccountId) -> bool {
        self.state
            .seats
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(module)
            .is_some_and(|s| s.contains(account))
    }

    /// The accounts holding seats of `module`, sorted.
    pub fn seat_holders(&self, module: &ModuleId) -> Vec<AccountId> {
        self.state
            .seats
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(module)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn is_seat_limited(&self, module: &ModuleId) -> bool {
        self.state
            .shared
            .catalog
            .get(module)
            .is_some_and(crate::catalog::Module::is_seat_limited)
    }

    /// Give `account` a seat of the seat-limited `module`, durably. Idempotent: assigning an
    /// account that holds a seat returns [`SeatChange::AlreadyAssigned`].
    ///
    /// Correct with several processes: the seat limit is that of the grants as of the grants
    /// journal's head (reloaded when another process granted since, so seats bought through it
    /// count), the decision is made on the assignments as of the seat journal's head (reloaded
    /// when another process moved it) and the write is conditional on that head, so a seat
    /// limit is never exceeded. Memory changes only after the store confirmed the write; a call
    /// dropped at any await changes nothing in memory.
    ///
    /// # Errors
    /// [`ModulesError::NotEntitled`] when the tenant has no seats of the module,
    /// [`ModulesError::SeatLimitReached`] when every seat is taken, storage errors (nothing is
    /// assigned then), [`Error::StaleView`](marketingforce_core::Error::StaleView) (retryable)
    /// when other processes kept changing the tenant's seats through every attempt.
    #[operation("modules.entitlements.assign_seat", tenant = self.tenant())]
    pub async fn assign_seat(&self, module: &ModuleId, account: &AccountId) -> Result<SeatChange> {
        self.state.reload_grants(false).await?;
        let limit = self.seat_limit(module);
        let Some(limit) = limit else {
            if self.is_enabled(module) {
                return Err(ModulesError::validation(
                    "module",
                    format!("{module} is not seat-limited for this tenant"),
                ));
            }
            self.require(module)?;
            return Err(ModulesError::validation(
                "module",
                format!("{module} has no seats"),
            ));
        };
        self.seat_command(module, account, SeatChange::Assigned, |holders| {
            if holders.contains(account) {
                return Ok(Some(SeatChange::AlreadyAssigned));
            }
            let assigned = u32::try_from(holders.len()).unwrap_or(u32::MAX);
            if assigned >= limit {
                return Err(ModulesError::SeatLimitReached {
                    module: module.clone(),
                    limit,
                    assigned,
                });
            }
            Ok(None)
        })
        .await
    }

    /// Free `account`'s seat of `module`, durably. Idempotent: an account without a seat returns
    /// [`SeatChange::NotAssigned`]. Correct with several processes, as
    /// [`assign_seat`](Self::assign_seat).
    ///
    /// # Errors
    /// Storage errors (the seat stays assigned then).
    #[operation("modules.entitlements.unassign_seat", tenant = self.tenant())]
    pub async fn unassign_seat(
        &self,
        module: &ModuleId,
        account: &AccountId,
    ) -> Result<SeatChange> {
        self.seat_command(module, account, SeatChange::Unassigned, |holders| {
            Ok((!holders.contains(account)).then_some(SeatChange::NotAssigned))
        })
        .await
    }

    /// Run a seat change: under the tenant's seat lock, on assignments as of the journal head
    /// (reloaded when it moved), `decide` answers without writing (`Some`) or lets the change
    /// be written conditional on the head; stale writes reload and decide again.
    async fn seat_command(
        &self,
        module: &ModuleId,
        account: &AccountId,
        change: SeatChange,
        decide: impl Fn(&BTreeSet<AccountId>) -> Result<Option<SeatChange>>,
    ) -> Result<SeatChange> {
        const ATTEMPTS: usize = 8;
        let tenant = self.state.tenant;
        let store = self.state.shared.store().clone();
        let mut position = self.state.seat_sync.lock().await;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let head = store.journal_head(&tenant, SEAT_JOURNAL).await?;
            if head != *position {
                self.reload_seats(&store).await?;
                *position = head;
            }
            let holders = self
                .state
                .seats
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(module)
                .cloned()
                .unwrap_or_default();
            if let Some(answer) = decide(&holders)? {
                return Ok(answer);
            }
            let at = self.state.shared.clock.now();
            let mut batch = Batch::new();
            batch.expect_head(SEAT_JOURNAL, *position);
            // The seat's event, staged first: the seat journal's entry stays the batch's last
            // append, whose sequence number is the new position below.
            let held = u32::try_from(holders.len()).unwrap_or(u32::MAX);
            let outbox = &self.state.shared.outbox;
            outbox.register(&tenant).await?;
            let envelope = if change == SeatChange::Assigned {
                outbox.event(
                    &tenant,
                    &SeatAssigned {
                        module: module.clone(),
                        account: account.clone(),
                        assigned: held.saturating_add(1),
                    },
                    &EventContext::new(),
                )?
            } else {
                outbox.event(
                    &tenant,
                    &SeatReleased {
                        module: module.clone(),
                        account: account.clone(),
                        assigned: held.saturating_sub(1),
                    },
                    &EventContext::new(),
                )?
            };
            batch.append_event(&tenant, &envelope)?;
            match change {
                SeatChange::Assigned => {
                    let record = SeatAssignment {
                        tenant,
                        module: module.clone(),
                        account: account.clone(),
                        assigned_at: at,
                    };
                    batch.put_entity(&tenant, &record, Expect::Any)?;
                }
                _ => {
                    batch.delete_entity::<SeatAssignment>(
                        format!("{module}/{account}"),
                        Expect::Any,
                    );
                }
            }
            batch.append_json(
                SEAT_JOURNAL,
                &SeatEvent {
                    module: module.clone(),
                    account: account.clone(),
                    change,
                    at,
                },
            )?;
            match store.commit(&tenant, batch).await {
                Ok(CommitOutcome::Committed(receipt)) => {
                    // Confirmed: now memory moves.
                    let mut seats = self
                        .state
                        .seats
                        .write()
                        .unwrap_or_else(PoisonError::into_inner);
                    let holders = seats.entry(module.clone()).or_default();
                    if change == SeatChange::Assigned {
                        holders.insert(account.clone());
                    } else {
                        holders.remove(account);
                    }
                    *position = receipt.sequences.last().copied().unwrap_or(*position);
                    return Ok(change);
                }
                Ok(CommitOutcome::Replayed(_)) => return Ok(change),
                Err(e @ marketingforce_core::Error::StaleView { .. }) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .unwrap_or_else(|| marketingforce_core::Error::validation("attempts", "none made"))
            .into())
    }

    /// Bring this process's view of the tenant — grants, seat assignments and usage — up to the
    /// store's journals, when another process changed them since (one head query each). Checks
    /// and reads answer from memory; call this first when a read must be current across
    /// processes. Writes never need it: they are conditional on the heads and catch up by
    /// themselves.
    ///
    /// # Errors
    /// Storage or decoding errors (the view is left as it was, or partly caught up and still
    /// consistent with a prefix of the journals).
    #[operation("modules.entitlements.sync", tenant = self.tenant())]
    pub async fn sync(&self) -> Result<()> {
        let store = self.state.shared.store().clone();
        let tenant = self.state.tenant;
        self.state.reload_grants(false).await?;
        {
            let mut position = self.state.seat_sync.lock().await;
            let head = store.journal_head(&tenant, SEAT_JOURNAL).await?;
            if head != *position {
                self.reload_seats(&store).await?;
                *position = head;
            }
        }
        self.state.shared.writer.catch_up(&self.state).await?;
        Ok(())
    }

    /// Replace the in-memory seat assignments by the stored ones.
    async fn reload_seats(&self, store: &Arc<dyn Store>) -> Result<()> {
        let mut seats: FastMap<ModuleId, BTreeSet<AccountId>> = FastMap::default();
        for s in Collection::<SeatAssignment>::new(store.clone())
            .list_all(&self.state.tenant)
            .await?
        {
            seats
                .entry(s.value.module)
                .or_default()
                .insert(s.value.account);
        }
        *self
            .state
            .seats
            .write()
            .unwrap_or_else(PoisonError::into_inner) = seats;
        Ok(())
    }

    /// The tenant's usage meter (shares this handle's state).
    pub fn meter(&self) -> UsageMeter {
        UsageMeter {
            state: self.state.clone(),
        }
    }

    /// Recompile for today if a grant started or ended since the last compile. Returns whether
    /// anything was recompiled. Called by
    /// [`EntitlementRegistry::tick`](super::EntitlementRegistry::tick).
    ///
    /// # Errors
    /// A grant naming a module the catalog no longer has.
    pub fn refresh(&self) -> Result<bool> {
        let today = self.state.today();
        let stale = {
            let set = self
                .state
                .set
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            today < set.as_of() || set.next_change().is_some_and(|n| n <= today)
        };
        if !stale {
            return Ok(false);
        }
        // A reload in progress installs the grants it read, compiled for today: this one
        // would race it (and could put the grants it holds back over the newer ones).
        let Ok(_sync) = self.state.grants_sync.try_lock() else {
            return Ok(false);
        };
        let grants = self.grants();
        self.state.install_grants(grants)?;
        Ok(true)
    }

    /// Everything held, in comparable form: compiled set, seat holders, usage per bucket and
    /// recorded event keys. A handle rebuilt from storage reports the same as the live one.
    pub fn report(&self) -> EntitlementsReport {
        let set = self.snapshot();
        let seats = self
            .state
            .seats
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(m, h)| (m.clone(), h.clone()))
            .collect();
        let (usage, event_keys) = {
            let book = self
                .state
                .usage
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (book.usage_snapshot(), book.event_keys())
        };
        EntitlementsReport {
            tenant: self.state.tenant,
            modules: set.modules(),
            seat_limits: set.seat_limits(),
            seats,
            usage,
            event_keys,
        }
    }
}
