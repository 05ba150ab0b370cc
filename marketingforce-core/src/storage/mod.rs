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
//!   stored response and writes nothing.
//!
//! Every call takes the [`TenantId`]; there is no cross-tenant query. [`Collection`] and
//! [`Journal`] give typed (serde) access on top, and [`Idempotent`] runs a command exactly once
//! per idempotency key.
//!
//! Backends: [`MemoryStore`] (default, no I/O), `SqliteStore` (feature `sqlite`, embedded and
//! durable) and `PostgresStore` (feature `postgres`, shared; the tenant leads every key so the
//! schema distributes by tenant). The `conformance` module (feature `testing`) holds the behaviour
//! suite every backend passes, and that third parties run against their own backends.
//! The `faulty` module (feature `testing`) wraps any store in a seeded fault injector
//! (`FaultyStore`) for deterministic simulation tests.
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

mod batch;
mod idempotent;
pub mod memory;
mod page;
mod typed;

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod faulty;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use batch::{check_key, check_name, Append, Batch, BatchParts, IdempotencyClaim, Write};
#[cfg(feature = "testing")]
pub use faulty::{DuplicateScope, Fault, FaultPlan, FaultyStore, InjectedFault, StoreCall};
pub use idempotent::{Fingerprint, Idempotent};
pub use memory::MemoryStore;
pub use page::{Cursor, Page, PageRequest};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use typed::{Collection, Entity, Journal, Versioned};

use crate::error::{Result, VersionState};
use crate::tenant::TenantId;

/// A stored record: key, version (1 on creation, +1 on every put) and encoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A journal entry: its sequence number (1, 2, 3, … per tenant and journal, without gaps) and
/// the encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Sequence number within the journal.
    pub seq: u64,
    /// The encoded entry.
    pub payload: Vec<u8>,
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

/// The result of a successful [`Store::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The batch was written.
    Committed(Receipt),
    /// The idempotency key was used before with the same fingerprint; nothing was written and
    /// this is the response stored by the first commit.
    Replayed(Vec<u8>),
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

    /// The stored fingerprint and response of an idempotency key, if it was used.
    async fn idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<(String, Vec<u8>)>>;

    /// Commit a batch atomically: all of it or none of it becomes visible.
    ///
    /// Order of checks: [`Batch::validate`]; the idempotency claim (a used key with the same
    /// fingerprint returns [`CommitOutcome::Replayed`], with another fingerprint
    /// [`Error::IdempotencyMismatch`](crate::Error::IdempotencyMismatch)); the expectations of
    /// every write ([`Error::Conflict`](crate::Error::Conflict) on the first that fails); then
    /// the writes, index entries and appends.
    async fn commit(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome>;
}
