//! The storage contract: one small, generic, tenant-scoped trait and its backends.
//!
//! Instead of a repository trait per entity, every domain crate stores its state through the
//! same [`Store`] trait, so a backend implements a handful of methods once:
//!
//! - **versioned records** in named collections, read with [`Store::get`], listed with
//!   [`Store::list`], written with optimistic concurrency ([`Expect`]);
//! - **secondary indexes** declared by the record ([`IndexEntry`]), queried with
//!   [`Store::lookup`];
//! - **append-only journals** with gap-free sequences per journal, read with
//!   [`Store::read_journal`];
//! - an **atomic [`Batch`]** that commits records, index entries, journal entries and an
//!   idempotency key together or not at all ([`Store::commit`]); replaying the key returns the
//!   stored response and writes nothing;
//! - **journal-head expectations** ([`Batch::expect_head`]) that make a commit conditional on
//!   the journals the writer's in-memory view was computed from (see below).
//!
//! Every call takes the [`TenantId`]; there is no cross-tenant query. [`Collection`] and
//! [`Journal`] give typed (serde) access on top, and [`Idempotent`] runs a command exactly once
//! per idempotency key.
//!
//! Backends: [`MemoryStore`] (default, no I/O), `SqliteStore` (feature `sqlite`, embedded and
//! durable) and `PostgresStore` (feature `postgres`, shared; the tenant leads every key so the
//! schema distributes by tenant); [`open`] picks one from a URL ([`StoreUrl`]: `memory`,
//! `sqlite:<path>`, `postgres://…`). The `conformance` module (feature `testing`) holds the
//! behaviour suite every backend passes, and that third parties run against their own backends.
//! The `faulty` module (feature `testing`) wraps any store in a seeded fault injector
//! (`FaultyStore`) and drops futures at chosen await points (`poll_then_drop`) for
//! deterministic simulation tests.
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::storage::{Collection, Entity, IndexEntry, MemoryStore, Store};
//! use marketingforce_core::tenant::TenantId;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! struct Note { id: String, owner: String, text: String }
//!
//! impl Entity for Note {
//!     const COLLECTION: &'static str = "notes";
//!     fn key(&self) -> String { self.id.clone() }
//!     fn indexes(&self) -> Vec<IndexEntry> { vec![IndexEntry::new("owner", &self.owner)] }
//! }
//!
//! # tokio_test(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let notes = Collection::<Note>::new(store);
//! let tenant = TenantId::new();
//! let note = Note { id: "n1".into(), owner: "li".into(), text: "回访客户".into() };
//! let v1 = notes.insert(&tenant, &note).await.unwrap();
//! assert_eq!(v1, 1);
//! let by_owner = notes.lookup(&tenant, "owner", "li", &Default::default()).await.unwrap();
//! assert_eq!(by_owner.items[0].value, note);
//! // Another tenant sees nothing.
//! assert!(notes.get(&TenantId::new(), "n1").await.unwrap().is_none());
//! # });
//! # fn tokio_test<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! ## Several processes, one store
//!
//! Services keep state in memory that they computed from the store — a quota's usage, a ledger's
//! balances, a dedupe index — because a storage round trip per decision is too slow. That state
//! is a **view** of one or more journals **up to a position**: the last sequence number it
//! applied from each. With several processes over one store (replicas behind a load balancer,
//! workers sharing a SQLite file) another process may have appended since, and the view is then
//! a stale cache. Every service follows one protocol, so that a stale view is detected *before*
//! it causes a write:
//!
//! 1. **Position.** The view records, per journal it depends on, the sequence number it has
//!    applied up to (0 for an empty journal; [`Store::journal_head`] tells where a journal is).
//! 2. **Fence every write.** A commit that relies on the view names those positions with
//!    [`Batch::expect_head`]`(journal, position)` — every journal the decision read — next to
//!    its appends. The store checks them atomically with the writes: if a journal moved on, the
//!    commit writes nothing and fails with [`Error::StaleView`](crate::Error::StaleView)
//!    (expected and actual head). An idempotency claim is checked first, so a replayed key still
//!    answers its first result.
//! 3. **Catch up from the tail**, not from scratch: read the entries after the position
//!    ([`Store::read_journal`] with `after = position`, or [`catch_up`]) and apply them to the
//!    view.
//! 4. **Retry, bounded.** Recompute the decision on the caught-up view and commit again, a
//!    handful of times; if the view is still stale (heavy contention), answer the `StaleView` —
//!    a [`Conflict`](crate::ErrorKind::Conflict), retryable — to the caller. Never a panic, a
//!    partial write, or a quota granted twice.
//! 5. **Memory last.** Apply a change to the view only after the store confirmed the commit. A
//!    failed commit or a future dropped at any `.await` leaves the view *behind* the store (the
//!    next commit catches it up), never ahead of it. A view that is a pure function of the
//!    journal prefix can be replaced by any view with a higher position.
//!
//! Reads may be served from the view; when a read must be current, compare the view's position
//! with [`Store::journal_head`] (one cheap query) and catch up first. With tenant-affine routing
//! (all of a tenant's requests to one process) fences practically never fail and the cost is
//! one head check per commit; with any other routing, stale views are caught and retried.
//!
//! A quota consumed from two "processes" (two services, each with its own view, over one
//! store):
//!
//! ```
//! use std::sync::{Arc, Mutex, PoisonError};
//! use marketingforce_core::storage::{catch_up, Batch, MemoryStore, Store};
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::{Error, Result};
//!
//! const JOURNAL: &str = "quota";
//! const ATTEMPTS: usize = 5;
//!
//! /// The view: units used, computed from the journal up to `position`.
//! #[derive(Debug, Clone, Copy, Default)]
//! struct View { position: u64, used: u64 }
//!
//! struct Quota { store: Arc<dyn Store>, tenant: TenantId, limit: u64, view: Mutex<View> }
//!
//! impl Quota {
//!     async fn open(store: Arc<dyn Store>, tenant: TenantId, limit: u64) -> Result<Quota> {
//!         let quota = Quota { store, tenant, limit, view: Mutex::new(View::default()) };
//!         quota.refresh().await?;
//!         Ok(quota)
//!     }
//!
//!     fn view(&self) -> View {
//!         *self.view.lock().unwrap_or_else(PoisonError::into_inner)
//!     }
//!
//!     /// Replace the view by a newer one (never by an older one).
//!     fn publish(&self, newer: View) {
//!         let mut view = self.view.lock().unwrap_or_else(PoisonError::into_inner);
//!         if newer.position > view.position {
//!             *view = newer;
//!         }
//!     }
//!
//!     /// Catch up from the journal tail.
//!     async fn refresh(&self) -> Result<()> {
//!         let mut next = self.view();
//!         next.position = catch_up(&*self.store, &self.tenant, JOURNAL, next.position, |e| {
//!             let units: u64 = std::str::from_utf8(&e.payload).ok()
//!                 .and_then(|s| s.parse().ok())
//!                 .ok_or_else(|| Error::validation("quota entry", "not a number"))?;
//!             next.used += units;
//!             Ok(())
//!         }).await?;
//!         self.publish(next);
//!         Ok(())
//!     }
//!
//!     /// Consume `units`; returns what is left.
//!     async fn consume(&self, units: u64) -> Result<u64> {
//!         let mut last = None;
//!         for _ in 0..ATTEMPTS {
//!             let view = self.view();
//!             if view.used + units > self.limit {
//!                 // Usage only grows, so a refusal from a stale view is still true.
//!                 return Err(Error::limit_exceeded("quota", units, self.limit - view.used));
//!             }
//!             let mut batch = Batch::new();
//!             batch.expect_head(JOURNAL, view.position)
//!                 .append(JOURNAL, units.to_string().into_bytes());
//!             match self.store.commit(&self.tenant, batch).await {
//!                 Ok(_) => {
//!                     // Confirmed: now, and only now, memory moves.
//!                     let used = view.used + units;
//!                     self.publish(View { position: view.position + 1, used });
//!                     return Ok(self.limit - used);
//!                 }
//!                 Err(e @ Error::StaleView { .. }) => {
//!                     // Another process consumed since: catch up and decide again.
//!                     last = Some(e);
//!                     self.refresh().await?;
//!                 }
//!                 Err(e) => return Err(e),
//!             }
//!         }
//!         Err(last.unwrap_or_else(|| Error::validation("attempts", "none made")))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let tenant = TenantId::new();
//! let a = Quota::open(store.clone(), tenant, 10).await?;
//! let b = Quota::open(store.clone(), tenant, 10).await?;
//! assert_eq!(a.consume(6).await?, 4);
//! // b's view is at position 0: its commit is refused as stale, it catches up and retries.
//! assert_eq!(b.consume(3).await?, 1);
//! // a is behind now; it catches up, sees 1 unit left and refuses: 10 is never exceeded.
//! assert!(matches!(a.consume(2).await, Err(Error::LimitExceeded { .. })));
//! assert_eq!((a.view().used, b.view().used), (9, 9));
//! # Ok::<(), Error>(()) }).unwrap();
//! ```

mod batch;
mod idempotent;
mod json;
pub mod memory;
mod open;
mod page;
mod typed;

#[cfg(feature = "testing")]
mod cancel;
#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod faulty;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_checkpoint;
#[cfg(feature = "sqlite")]
mod sqlite_codec;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use batch::{
    check_key, check_name, Append, Batch, BatchParts, HeadExpectation, IdempotencyClaim, Write,
};
#[cfg(feature = "testing")]
pub use faulty::{
    poll_then_drop, Cancel, DuplicateScope, Fault, FaultPlan, FaultyStore, InjectedFault, StoreCall,
};
pub use idempotent::{Fingerprint, Idempotent};
pub use json::to_json_exact;
pub use memory::MemoryStore;
pub use open::{open, StoreUrl};
pub use page::{Cursor, Page, PageRequest};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use typed::{decode_record, Collection, EncodedEntity, Entity, Journal, Versioned};

use crate::error::{Result, VersionState};
use crate::tenant::TenantId;

/// A stored record: key, version (1 on creation, +1 on every put) and encoded value. Its
/// `Debug` output shows the value's size, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's key within its collection.
    pub key: String,
    /// The version; the first put creates version 1.
    pub version: u64,
    /// The encoded value.
    pub value: Vec<u8>,
}

/// One secondary-index entry of a record: an index name and a value to find it by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Index name, e.g. `phone_bidx` or `owner`.
    pub name: String,
    /// The value the record is found by.
    pub value: String,
}

impl IndexEntry {
    /// An entry of index `name` with `value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> IndexEntry {
        IndexEntry {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("key", &self.key)
            .field("version", &self.version)
            .field("value", &ByteCount(&self.value))
            .finish()
    }
}

/// A journal entry: its sequence number (1, 2, 3, … per tenant and journal, without gaps) and
/// the encoded payload. Its `Debug` output shows the payload's size, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Sequence number within the journal.
    pub seq: u64,
    /// The encoded entry.
    pub payload: Vec<u8>,
}

impl fmt::Debug for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalEntry")
            .field("seq", &self.seq)
            .field("payload", &ByteCount(&self.payload))
            .finish()
    }
}

/// Stored bytes in `Debug` output: their size only. Values, payloads and responses may hold
/// personal data, which logs, panic messages and test failures must not show.
pub(crate) struct ByteCount<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for ByteCount<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

/// What a write expects of the record's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Expect {
    /// Write whatever is there (last writer wins).
    #[default]
    Any,
    /// The record must not exist (create).
    Absent,
    /// The record must exist at exactly this version (compare-and-set).
    Version(u64),
}

impl Expect {
    /// Whether a record at `current` (None = absent) satisfies the expectation.
    pub fn admits(self, current: Option<u64>) -> bool {
        match self {
            Expect::Any => true,
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        }
    }

    /// The expectation as a [`VersionState`] for error reports.
    pub fn state(self) -> VersionState {
        match self {
            Expect::Any => VersionState::Any,
            Expect::Absent => VersionState::Absent,
            Expect::Version(v) => VersionState::Version(v),
        }
    }
}

/// The result of a successful [`Store::commit`]. Its `Debug` output shows a replayed
/// response's size, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The batch was written.
    Committed(Receipt),
    /// The idempotency key was used before with the same fingerprint; nothing was written and
    /// this is the response stored by the first commit.
    Replayed(Vec<u8>),
}

impl fmt::Debug for CommitOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommitOutcome::Committed(receipt) => f.debug_tuple("Committed").field(receipt).finish(),
            CommitOutcome::Replayed(response) => f
                .debug_tuple("Replayed")
                .field(&ByteCount(response))
                .finish(),
        }
    }
}

/// What a committed batch wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    /// The new version of each write, in batch order (0 for deletes).
    pub versions: Vec<u64>,
    /// The sequence number of each append, in batch order.
    pub sequences: Vec<u64>,
}

/// Size limits a backend enforces; [`Batch::validate`] applies them before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Longest key, index value or idempotency key, in bytes.
    pub max_key_bytes: usize,
    /// Largest record value, journal payload or idempotent response, in bytes.
    pub max_value_bytes: usize,
    /// Most record writes in one batch.
    pub max_batch_writes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_key_bytes: 1024,
            max_value_bytes: 4 * 1024 * 1024,
            max_batch_writes: 100_000,
        }
    }
}

/// How many journal entries [`catch_up`] reads per round trip.
pub const CATCH_UP_PAGE: usize = 1000;

/// Apply every entry of `journal` after `position` to a view, in order, page by page
/// ([`CATCH_UP_PAGE`] entries per read); returns the view's new position (the last sequence
/// number applied, or `position` when nothing was new). Step 3 of "Several processes, one
/// store" in the [module docs](self).
///
/// # Errors
/// A read error, or the first error `apply` returns (entries before it were applied).
pub async fn catch_up(
    store: &dyn Store,
    tenant: &TenantId,
    journal: &str,
    position: u64,
    mut apply: impl FnMut(&JournalEntry) -> Result<()> + Send,
) -> Result<u64> {
    let mut position = position;
    loop {
        let page = store
            .read_journal(tenant, journal, position, CATCH_UP_PAGE)
            .await?;
        for entry in &page {
            apply(entry)?;
            position = entry.seq;
        }
        if page.len() < CATCH_UP_PAGE {
            return Ok(position);
        }
    }
}

/// The storage contract every backend implements. Object-safe: use it as `Arc<dyn Store>`.
///
/// All methods are tenant-scoped. Implementations must pass the conformance suite
/// (`marketingforce_core::storage::conformance`, feature `testing`).
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// A short backend name (`memory`, `sqlite`, `postgres`, …) for errors and reports.
    fn backend(&self) -> &'static str;

    /// The limits this backend enforces.
    fn limits(&self) -> StoreLimits {
        StoreLimits::default()
    }

    /// Read one record.
    async fn get(&self, tenant: &TenantId, collection: &str, key: &str) -> Result<Option<Record>>;

    /// Read several records of one collection: one answer per key, in the order of `keys`
    /// (`None` where a key has no record; a key given twice is answered twice). Backends
    /// answer in one round trip where they can; the default asks [`get`](Self::get) key by
    /// key. The answers are each current when read, not one snapshot: a write that relies on
    /// them states the versions it read ([`Expect::Version`]).
    ///
    /// # Errors
    /// As [`get`](Self::get); nothing is answered when one read fails.
    async fn get_many(
        &self,
        tenant: &TenantId,
        collection: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Record>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(tenant, collection, key).await?);
        }
        Ok(out)
    }

    /// Records of a collection in key order (byte-wise), a page at a time.
    async fn list(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>>;

    /// Records whose index `index` has the entry `value`, in key order, a page at a time.
    async fn lookup(
        &self,
        tenant: &TenantId,
        collection: &str,
        index: &str,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>>;

    /// Up to `limit` entries of a journal with sequence numbers above `after`, in order.
    async fn read_journal(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>>;

    /// The journal's last sequence number, 0 when it is empty: the position a view that has
    /// seen the whole journal is at. Cheap (one query); use it to check whether a view is
    /// current before answering a read from it, and [`Batch::expect_head`] to make a write
    /// conditional on it.
    async fn journal_head(&self, tenant: &TenantId, journal: &str) -> Result<u64>;

    /// The stored fingerprint and response of an idempotency key, if it was used.
    async fn idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<(String, Vec<u8>)>>;

    /// Commit a batch atomically: all of it or none of it becomes visible.
    ///
    /// Order of checks: [`Batch::validate`]; the idempotency claim (a used key with the same
    /// fingerprint returns [`CommitOutcome::Replayed`] — even if the expected journal heads
    /// have moved since — and with another fingerprint
    /// [`Error::IdempotencyMismatch`](crate::Error::IdempotencyMismatch)); the journal-head
    /// expectations ([`Error::StaleView`](crate::Error::StaleView) on the first that fails);
    /// the expectations of every write ([`Error::Conflict`](crate::Error::Conflict) on the
    /// first that fails); then the writes, index entries, appends and the claim. A failed check
    /// writes nothing, not even the idempotency claim.
    ///
    /// The checks and the writes are one atomic step against every other commit to the same
    /// tenant, from this handle, another handle or another process: two commits expecting the
    /// same head of a journal that both append to it never both succeed.
    ///
    /// Errors say what happened: [`Error::Backend`](crate::Error::Backend) means nothing was
    /// written; [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown) (or
    /// [`Error::Timeout`](crate::Error::Timeout)) means the batch may or may not have been
    /// committed — retry with the same idempotency key to learn which.
    async fn commit(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome>;
}
