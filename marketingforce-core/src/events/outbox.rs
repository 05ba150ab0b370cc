//! The outbox journal, [`Batch::append_event`], and the registry through which relays find the
//! tenants that have events.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::{DomainEvent, EventContext, EventEnvelope, EventId};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::id::{IdGenerator, Uuid};
use crate::storage::{Batch, Store};
use crate::tenant::{Tenant, TenantId};
use crate::time::Clock;

/// The journal, in each tenant's scope, that holds the tenant's events in commit order.
///
/// **An entry holds the events of one batch**: their JSON [`EventEnvelope`]s in the order they
/// were appended, one per line (separated by `\n`; an envelope's JSON never holds a raw
/// newline). A batch's events share one entry while it stays within [`OUTBOX_ENTRY_BYTES`];
/// the next event then starts a new entry of the same batch. So an event's place in the outbox
/// is the pair (entry sequence number, line in the entry), and a commit with a hundred events
/// costs the store one journal row, not a hundred. Read entries with [`outbox_lines`] or
/// [`EventEnvelope::all_from_entry`]; an entry written as one bare envelope is simply an
/// entry of one line.
pub const OUTBOX_JOURNAL: &str = "core.outbox";

/// The size up to which a batch's events are joined into one outbox entry (64 KiB). An event
/// that would take the entry past it starts a new entry; an event larger than this (up to
/// [`MAX_PAYLOAD_BYTES`](super::MAX_PAYLOAD_BYTES) of payload) is an entry of its own. It
/// bounds what a relay holds per entry read.
pub const OUTBOX_ENTRY_BYTES: usize = 64 * 1024;

/// The events of one outbox entry, in order: its lines, each one envelope's JSON (see
/// [`OUTBOX_JOURNAL`]). A line that is not an envelope is still a line (it keeps its index),
/// so a reader can report it and go on.
pub fn outbox_lines(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    payload.split(|b| *b == b'\n')
}

/// The reserved scope of the outbox registry: not a tenant (its UUIDv7 timestamp is 0, which
/// no generated id has). The store has no cross-tenant listing, so the tenants that emit events
/// are recorded here for relays to find.
pub const REGISTRY_SCOPE: TenantId =
    TenantId::from_uuid(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0e17));

/// The registry's collection (in [`REGISTRY_SCOPE`]): one record per tenant that emits events,
/// keyed by the tenant id; written once, conditionally, so each tenant is listed once.
pub const REGISTRY_COLLECTION: &str = "core.outbox.tenants";

/// The registry's journal (in [`REGISTRY_SCOPE`]): one entry per registered tenant (its id as
/// text), in registration order. Relays follow it from a position, so finding new tenants costs
/// one read of the journal's tail.
pub const REGISTRY_JOURNAL: &str = "core.outbox.tenants";

impl Batch {
    /// Append `envelope` to `tenant`'s outbox ([`OUTBOX_JOURNAL`]) in this batch, so the event
    /// is committed exactly when the batch's other writes are (see the
    /// [events docs](crate::events)). The batch must be committed under `tenant`. The batch's
    /// events share one outbox entry, in the order they were appended, up to
    /// [`OUTBOX_ENTRY_BYTES`].
    ///
    /// Relays find a tenant's events only once the tenant is registered: use
    /// [`Outbox::append`], or call [`Outbox::register`] once for the tenant beforehand.
    ///
    /// # Errors
    /// [`Error::TenantIsolation`] when the envelope belongs to another tenant; a serialization
    /// error. Nothing is added to the batch on error.
    pub fn append_event(
        &mut self,
        tenant: &TenantId,
        envelope: &EventEnvelope,
    ) -> Result<&mut Batch> {
        if tenant != envelope.tenant() {
            Tenant::ensure_same(
                tenant,
                envelope.tenant(),
                &format!("event {}", envelope.id()),
            )?;
        }
        // A raw newline in JSON can only be whitespace between tokens (strings escape it), and
        // only a payload decoded from pretty-printed JSON has one (the envelope's own fields
        // and serde's compact output never do): a space means the same and keeps the envelope
        // on its line.
        let pretty = envelope.payload_json().as_bytes().contains(&b'\n');
        self.append_joined_with(OUTBOX_JOURNAL, b'\n', OUTBOX_ENTRY_BYTES, |entry| {
            let from = entry.len();
            envelope.write_json(entry)?;
            if pretty {
                for b in entry[from..].iter_mut().filter(|b| **b == b'\n') {
                    *b = b' ';
                }
            }
            Ok(())
        })
    }
}

/// The registry entry of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Registration {
    tenant: TenantId,
}

/// What a service uses to emit events: builds envelopes with the environment's ids and clock,
/// registers each tenant once so relays find it, and stages envelopes in the batch that
/// commits the change. Cheap to clone; share one per service (it is shared by all tenants).
///
/// **Registration** writes one record and one registry journal entry in [`REGISTRY_SCOPE`] the
/// first time a tenant emits — before the tenant's own batch commits, so a registered tenant
/// may have no events yet, but a tenant with events is always registered. Each process
/// remembers the tenants it has seen registered: after the first event, a tenant costs no
/// extra write, and a process restart costs one read per tenant. Embedders may also register
/// tenants up front ([`Outbox::register`]).
///
/// Several processes may register the same tenant concurrently: the registry record is created
/// conditionally, so the tenant is listed once.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    registered: Arc<Mutex<HashSet<TenantId>>>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("store", &self.store.backend())
            .field("registered_tenants", &self.registered_count())
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// The outbox over `env`'s store, ids and clock.
    pub fn new(env: &Env) -> Outbox {
        Outbox {
            store: env.store().clone(),
            clock: env.clock().clone(),
            ids: env.ids().clone(),
            registered: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn registered_count(&self) -> usize {
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn is_registered(&self, tenant: &TenantId) -> bool {
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(tenant)
    }

    /// The envelope of `event` for `tenant`: a fresh id from the environment's generator, the
    /// environment's clock for `occurred_at`.
    ///
    /// # Errors
    /// As [`EventEnvelope::new`]: a malformed name or version, an oversized payload.
    pub fn event<E: DomainEvent>(
        &self,
        tenant: &TenantId,
        event: &E,
        context: &EventContext,
    ) -> Result<EventEnvelope> {
        EventEnvelope::new(
            *tenant,
            EventId::generate(&*self.ids),
            self.clock.now(),
            event,
            context,
        )
    }

    /// Make sure relays can find `tenant`'s events: the first call per tenant in this process
    /// reads the registry and, if the tenant is new, registers it (one conditional write);
    /// later calls cost nothing. Idempotent and safe to run concurrently from many processes.
    /// The tenant is remembered only after the store confirmed it is registered, so a dropped
    /// call is simply made again.
    ///
    /// # Errors
    /// Storage errors (the next call tries again).
    pub async fn register(&self, tenant: &TenantId) -> Result<()> {
        if self.is_registered(tenant) {
            return Ok(());
        }
        if *tenant == REGISTRY_SCOPE {
            return Err(Error::validation(
                "tenant",
                "the outbox registry scope is not a tenant",
            ));
        }
        let key = tenant.to_string();
        if self
            .store
            .get(&REGISTRY_SCOPE, REGISTRY_COLLECTION, &key)
            .await?
            .is_none()
        {
            let mut batch = Batch::new();
            let record = serde_json::to_vec(&Registration { tenant: *tenant })?;
            batch
                .put(
                    REGISTRY_COLLECTION,
                    key.clone(),
                    record,
                    vec![],
                    crate::storage::Expect::Absent,
                )
                .append(REGISTRY_JOURNAL, key.into_bytes());
            match self.store.commit(&REGISTRY_SCOPE, batch).await {
                // A concurrent registration of the same tenant won: it is registered.
                Ok(_) | Err(Error::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*tenant);
        Ok(())
    }

    /// Register `tenant` if needed ([`register`](Outbox::register)), build the envelope of
    /// `event` ([`event`](Outbox::event)) and append it to `batch`
    /// ([`Batch::append_event`]); returns the envelope. Commit `batch` under `tenant` with
    /// the state change the event describes.
    ///
    /// # Errors
    /// Registration (storage) errors, or the envelope's errors; `batch` is unchanged on error.
    pub async fn append<E: DomainEvent>(
        &self,
        tenant: &TenantId,
        batch: &mut Batch,
        event: &E,
        context: &EventContext,
    ) -> Result<EventEnvelope> {
        let envelope = self.event(tenant, event, context)?;
        self.register(tenant).await?;
        batch.append_event(tenant, &envelope)?;
        Ok(envelope)
    }

    /// Every registered tenant after registry position `after`, with the position of each
    /// (pass the last one back to continue): how relays discover tenants.
    ///
    /// # Errors
    /// Storage errors; [`Error::Serialization`] for a corrupt registry entry.
    pub async fn registered_after(
        store: &dyn Store,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, TenantId)>> {
        store
            .read_journal(&REGISTRY_SCOPE, REGISTRY_JOURNAL, after, limit)
            .await?
            .into_iter()
            .map(|entry| {
                let text =
                    std::str::from_utf8(&entry.payload).map_err(|e| Error::Serialization {
                        what: format!("outbox registry entry #{}", entry.seq),
                        reason: e.to_string(),
                    })?;
                let tenant = text.parse::<TenantId>().map_err(|e| Error::Serialization {
                    what: format!("outbox registry entry #{}", entry.seq),
                    reason: e.to_string(),
                })?;
                Ok((entry.seq, tenant))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    #[test]
    fn tenants_are_registered_once_across_processes() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
                let (a, b) = (
                    Outbox::new(&Env::new(store.clone())),
                    Outbox::new(&Env::new(store.clone())),
                );
                let (t1, t2) = (TenantId::new(), TenantId::new());
                a.register(&t1).await.unwrap();
                a.register(&t1).await.unwrap();
                b.register(&t1).await.unwrap();
                b.register(&t2).await.unwrap();
                let listed = Outbox::registered_after(&*store, 0, 10).await.unwrap();
                assert_eq!(
                    listed.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
                    vec![t1, t2]
                );
                let rest = Outbox::registered_after(&*store, listed[0].0, 10)
                    .await
                    .unwrap();
                assert_eq!(rest.len(), 1);
                assert!(a.register(&REGISTRY_SCOPE).await.is_err());
                assert_eq!(REGISTRY_SCOPE.to_string().len(), "tenant_".len() + 32);
            });
    }
}
