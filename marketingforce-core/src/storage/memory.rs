//! The in-memory backend: the default, with no I/O. State lives as long as the store.

use std::collections::{btree_map, BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;

use super::{
    Batch, CommitOutcome, Expect, IndexEntry, JournalEntry, Page, PageRequest, Receipt, Record,
    Store, StoreLimits, Write,
};
use crate::error::{Error, Result, VersionState};
use crate::telemetry::store::{observe_read, CommitProbe};
use crate::tenant::TenantId;

/// An in-memory [`Store`]: tenant-partitioned maps behind per-tenant locks.
///
/// Fast (no encoding beyond what the caller does, no I/O) and fully transactional: a batch is
/// checked completely before it is applied, and an injected failure rolls back what was applied.
/// Cloning shares the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tenants: Arc<RwLock<HashMap<TenantId, Arc<RwLock<TenantData>>>>>,
    limits: StoreLimits,
}

#[derive(Debug, Default)]
struct TenantData {
    collections: HashMap<String, CollectionData, Fold>,
    journals: HashMap<String, Vec<Vec<u8>>, Fold>,
    idempotency: HashMap<String, (String, Vec<u8>), Fold>,
}

#[derive(Debug, Default)]
struct CollectionData {
    records: BTreeMap<String, Stored>,
    /// Index name → index value → the keys of the records having it, in key order (a
    /// look-up's page order). Nested so that an entry is placed by hashing its name and value
    /// once and comparing record keys only, instead of comparing whole (name, value, key)
    /// tuples on every step down one tree of all entries; a value left with no key is removed.
    index: Index,
}

/// The maps are hashed with foldhash (seeded per process) rather than SipHash: every stored
/// record hashes its collection, index names and values on each write, and SipHash was a fifth
/// of a capture's commit.
type Fold = foldhash::fast::RandomState;

/// A write's result, or the key and the current version its expectation refused.
type Refusable<T> = std::result::Result<T, (String, Option<u64>)>;

/// Index name → value → keys.
type Index = HashMap<String, HashMap<String, Keys, Fold>, Fold>;

/// The keys of the records with one index value, in key order. Most values belong to one
/// record (a blind index, an owner with one lead): that key is kept on its own, without a
/// tree node (a few hundred bytes) around it.
#[derive(Debug)]
enum Keys {
    One(Box<str>),
    Many(BTreeSet<String>),
}

impl Keys {
    /// Add `key`. `absent`: the caller knows it is not there (one search instead of two).
    fn insert(&mut self, key: &str, absent: bool) {
        match self {
            Keys::One(k) if **k == *key => {}
            Keys::One(k) => {
                let first = std::mem::take(k).into_string();
                *self = Keys::Many(BTreeSet::from([first, key.to_string()]));
            }
            Keys::Many(set) => {
                if absent || !set.contains(key) {
                    set.insert(key.to_string());
                }
            }
        }
    }

    /// Remove `key`; true when no key is left.
    fn remove(&mut self, key: &str) -> bool {
        match self {
            Keys::One(k) => **k == *key,
            Keys::Many(set) => {
                set.remove(key);
                set.is_empty()
            }
        }
    }

    /// The keys after `after` (all of them without it), in order.
    fn after<'a>(&'a self, after: Option<&'a str>) -> impl Iterator<Item = &'a str> + 'a {
        let (one, many) = match self {
            Keys::One(k) => (Some(&**k), None),
            Keys::Many(set) => {
                let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
                (None, Some(set.range::<str, _>((lower, Bound::Unbounded))))
            }
        };
        one.into_iter()
            .filter(move |k| after.is_none_or(|a| *k > a))
            .chain(many.into_iter().flatten().map(String::as_str))
    }
}

#[derive(Debug, Clone)]
struct Stored {
    version: u64,
    value: Vec<u8>,
    indexes: Vec<IndexEntry>,
}

impl MemoryStore {
    /// An empty store with the default limits.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store with custom limits.
    pub fn with_limits(limits: StoreLimits) -> MemoryStore {
        MemoryStore {
            limits,
            ..MemoryStore::default()
        }
    }

    fn tenant(&self, tenant: &TenantId) -> Option<Arc<RwLock<TenantData>>> {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned()
    }

    fn tenant_or_create(&self, tenant: &TenantId) -> Arc<RwLock<TenantData>> {
        if let Some(t) = self.tenant(tenant) {
            return t;
        }
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(*tenant)
            .or_default()
            .clone()
    }

    fn read<T>(&self, tenant: &TenantId, f: impl FnOnce(&TenantData) -> T) -> Option<T> {
        self.tenant(tenant)
            .map(|t| f(&t.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl CollectionData {
    /// Put a new version of `key` if `expect` admits its current version (the new one is
    /// that plus one): the key (for the undo log), the new version and the record replaced; or
    /// the key and the current version that `expect` refused.
    fn put_expecting(
        &mut self,
        key: String,
        expect: Expect,
        value: Vec<u8>,
        indexes: Vec<IndexEntry>,
    ) -> Refusable<(String, u64, Option<Stored>)> {
        // One search of the records, for the check and the put.
        let slot = self.records.entry(key);
        let current = match &slot {
            btree_map::Entry::Occupied(o) => Some(o.get().version),
            btree_map::Entry::Vacant(_) => None,
        };
        let key = slot.key().clone();
        if !expect.admits(current) {
            return Err((key, current));
        }
        let version = current.unwrap_or(0) + 1;
        let stored = Stored {
            version,
            value,
            indexes,
        };
        let old = place(&mut self.index, slot, stored);
        Ok((key, version, old))
    }

    /// Delete `key` if `expect` admits its current version: the key, 0 (a deleted record's
    /// version in a receipt) and the record removed; or the key and the current version that
    /// `expect` refused.
    fn remove_expecting(
        &mut self,
        key: String,
        expect: Expect,
    ) -> Refusable<(String, u64, Option<Stored>)> {
        let current = self.records.get(key.as_str()).map(|s| s.version);
        if !expect.admits(current) {
            return Err((key, current));
        }
        let old = self.remove(&key);
        Ok((key, 0, old))
    }

    fn put(&mut self, key: String, stored: Stored) -> Option<Stored> {
        place(&mut self.index, self.records.entry(key), stored)
    }

    fn remove(&mut self, key: &str) -> Option<Stored> {
        let old = self.records.remove(key);
        if let Some(old) = &old {
            self.unindex(key, &old.indexes);
        }
        old
    }

    fn restore(&mut self, key: &str, previous: Option<Stored>) {
        match previous {
            Some(stored) => {
                self.put(key.to_string(), stored);
            }
            None => {
                self.remove(key);
            }
        }
    }

    fn unindex(&mut self, key: &str, indexes: &[IndexEntry]) {
        for ix in indexes {
            remove_entry(&mut self.index, ix, key);
        }
    }

    /// The keys indexed under `name` = `value`, in key order, after `after` when given.
    fn indexed<'a>(
        &'a self,
        name: &str,
        value: &str,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.index
            .get(name)
            .and_then(|values| values.get(value))
            .into_iter()
            .flat_map(move |keys| keys.after(after))
    }
}

/// Index the record `key` under `ix`, allocating only what is not there yet. `new`: the record
/// is new, so `key` is under no value yet.
/// Put `stored` in the records' `slot`, bringing the index in line: only the entries that
/// changed are added or dropped. Returns the record it replaced.
fn place(
    index: &mut Index,
    slot: btree_map::Entry<'_, String, Stored>,
    stored: Stored,
) -> Option<Stored> {
    match slot {
        btree_map::Entry::Occupied(mut slot) => {
            let old = std::mem::replace(slot.get_mut(), stored);
            let key = slot.key();
            let new = slot.get().indexes.as_slice();
            for ix in new.iter().filter(|ix| !old.indexes.contains(ix)) {
                add_entry(index, ix, key, false);
            }
            for ix in old.indexes.iter().filter(|ix| !new.contains(ix)) {
                remove_entry(index, ix, key);
            }
            Some(old)
        }
        btree_map::Entry::Vacant(slot) => {
            // A key without a record is under no index value: nothing to look up first.
            for ix in &stored.indexes {
                add_entry(index, ix, slot.key(), true);
            }
            slot.insert(stored);
            None
        }
    }
}

fn add_entry(index: &mut Index, ix: &IndexEntry, key: &str, new: bool) {
    let values = match index.get_mut(ix.name.as_str()) {
        Some(v) => v,
        None => index.entry(ix.name.clone()).or_default(),
    };
    match values.get_mut(ix.value.as_str()) {
        Some(keys) => keys.insert(key, new),
        None => {
            values.insert(ix.value.clone(), Keys::One(key.into()));
        }
    }
}

/// Remove the record `key` from `ix`'s entry, dropping a value (and a name) left without keys.
fn remove_entry(index: &mut Index, ix: &IndexEntry, key: &str) {
    let Some(values) = index.get_mut(ix.name.as_str()) else {
        return;
    };
    if values
        .get_mut(ix.value.as_str())
        .is_some_and(|keys| keys.remove(key))
    {
        values.remove(ix.value.as_str());
    }
    if values.is_empty() {
        index.remove(ix.name.as_str());
    }
}

fn record(key: &str, s: &Stored) -> Record {
    Record {
        key: key.to_string(),
        version: s.version,
        value: s.value.clone(),
    }
}

fn injected_failure() -> Error {
    Error::backend_message("memory", true, "injected failure: batch rolled back")
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn limits(&self) -> StoreLimits {
        self.limits
    }

    async fn get(&self, tenant: &TenantId, collection: &str, key: &str) -> Result<Option<Record>> {
        observe_read(
            "store.get",
            "memory",
            self.get_impl(tenant, collection, key),
        )
        .await
    }

    async fn get_many(
        &self,
        tenant: &TenantId,
        collection: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Record>>> {
        observe_read("store.get_many", "memory", async {
            Ok(self
                .read(tenant, |t| {
                    let c = t.collections.get(collection);
                    keys.iter()
                        .map(|k| c.and_then(|c| c.records.get(k)).map(|s| record(k, s)))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_else(|| vec![None; keys.len()]))
        })
        .await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        observe_read(
            "store.list",
            "memory",
            self.list_impl(tenant, collection, page),
        )
        .await
    }

    async fn lookup(
        &self,
        tenant: &TenantId,
        collection: &str,
        index: &str,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        observe_read(
            "store.lookup",
            "memory",
            self.lookup_impl(tenant, collection, index, value, page),
        )
        .await
    }

    async fn read_journal(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        observe_read(
            "store.read_journal",
            "memory",
            self.read_journal_impl(tenant, journal, after, limit),
        )
        .await
    }

    async fn journal_head(&self, tenant: &TenantId, journal: &str) -> Result<u64> {
        observe_read(
            "store.journal_head",
            "memory",
            self.journal_head_impl(tenant, journal),
        )
        .await
    }

    async fn idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<(String, Vec<u8>)>> {
        observe_read(
            "store.idempotency",
            "memory",
            self.idempotency_impl(tenant, key),
        )
        .await
    }

    async fn commit(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        let probe = CommitProbe::new("memory", tenant, &batch);
        probe.observe(self.commit_impl(tenant, batch)).await
    }
}

/// The backend's own reads and commit; the [`Store`] impl above wraps them in telemetry.
impl MemoryStore {
    async fn get_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        key: &str,
    ) -> Result<Option<Record>> {
        Ok(self
            .read(tenant, |t| {
                t.collections
                    .get(collection)
                    .and_then(|c| c.records.get(key))
                    .map(|s| record(key, s))
            })
            .flatten())
    }

    async fn list_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        page.validate()?;
        let items = self
            .read(tenant, |t| {
                let Some(c) = t.collections.get(collection) else {
                    return Vec::new();
                };
                let lower = page
                    .after_key()
                    .map_or(Bound::Unbounded, |k| Bound::Excluded(k.to_string()));
                c.records
                    .range((lower, Bound::Unbounded))
                    .take(page.limit + 1)
                    .map(|(k, s)| record(k, s))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Page::from_overfetch(items, page.limit, |r| &r.key))
    }

    async fn lookup_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        index: &str,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        page.validate()?;
        let items = self
            .read(tenant, |t| {
                let Some(c) = t.collections.get(collection) else {
                    return Vec::new();
                };
                c.indexed(index, value, page.after_key())
                    .filter_map(|k| c.records.get(k).map(|s| record(k, s)))
                    .take(page.limit + 1)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Page::from_overfetch(items, page.limit, |r| &r.key))
    }

    async fn read_journal_impl(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        let skip = usize::try_from(after).unwrap_or(usize::MAX);
        Ok(self
            .read(tenant, |t| {
                t.journals
                    .get(journal)
                    .map(|entries| {
                        entries
                            .iter()
                            .enumerate()
                            .skip(skip)
                            .take(limit)
                            .map(|(i, p)| JournalEntry {
                                seq: i as u64 + 1,
                                payload: p.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default())
    }

    async fn journal_head_impl(&self, tenant: &TenantId, journal: &str) -> Result<u64> {
        Ok(self
            .read(tenant, |t| {
                t.journals.get(journal).map_or(0, |j| j.len() as u64)
            })
            .unwrap_or(0))
    }

    async fn idempotency_impl(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<(String, Vec<u8>)>> {
        Ok(self
            .read(tenant, |t| t.idempotency.get(key).cloned())
            .flatten())
    }

    async fn commit_impl(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        batch.validate(&self.limits)?;
        let data = self.tenant_or_create(tenant);
        let mut t = data.write().unwrap_or_else(PoisonError::into_inner);

        if let Some(claim) = batch.idempotency() {
            if let Some((fp, response)) = t.idempotency.get(&claim.key) {
                return if *fp == claim.fingerprint {
                    Ok(CommitOutcome::Replayed(response.clone()))
                } else {
                    Err(Error::IdempotencyMismatch {
                        key: claim.key.clone(),
                    })
                };
            }
        }

        // The journal heads are checked before anything is touched.
        for h in batch.heads() {
            let actual = t.journals.get(&h.journal).map_or(0, |j| j.len() as u64);
            if actual != h.head {
                return Err(Error::StaleView {
                    journal: h.journal.clone(),
                    expected: h.head,
                    actual,
                });
            }
        }

        // Apply the writes in order, each checked against its record's version as it is
        // applied: a batch writes a key at most once (`validate` refused more), so every write
        // finds the version the batch started from, as a check of them all beforehand would,
        // with one search of the records instead of two. A refused expectation, or an injected
        // failure, undoes what was applied; the lock is held throughout, so nobody saw it.
        let parts = batch.into_parts();
        let write_count = parts.writes.len();
        let fail_at = parts.fail_after_writes;
        let mut versions = Vec::with_capacity(write_count);
        let mut undo: Vec<(String, String, Option<Stored>)> = Vec::with_capacity(write_count);
        for (i, w) in parts.writes.into_iter().enumerate() {
            if fail_at == Some(i) {
                rollback(&mut t, undo);
                return Err(injected_failure());
            }
            let (collection, expect, applied) = match w {
                Write::Put {
                    collection,
                    key,
                    value,
                    indexes,
                    expect,
                } => {
                    let applied = collection_mut(&mut t.collections, &collection)
                        .put_expecting(key, expect, value, indexes);
                    (collection, expect, applied)
                }
                Write::Delete {
                    collection,
                    key,
                    expect,
                } => {
                    let applied = match t.collections.get_mut(collection.as_str()) {
                        Some(c) => c.remove_expecting(key, expect),
                        None if expect.admits(None) => Ok((key, 0, None)),
                        None => Err((key, None)),
                    };
                    (collection, expect, applied)
                }
            };
            match applied {
                Ok((key, version, old)) => {
                    versions.push(version);
                    undo.push((collection, key, old));
                }
                Err((key, current)) => {
                    rollback(&mut t, undo);
                    return Err(Error::Conflict {
                        collection,
                        key,
                        expected: expect.state(),
                        actual: current.map_or(VersionState::Absent, VersionState::Version),
                    });
                }
            }
        }
        if fail_at.is_some_and(|n| n >= write_count) {
            rollback(&mut t, undo);
            return Err(injected_failure());
        }

        let mut sequences = Vec::with_capacity(parts.appends.len());
        for a in parts.appends {
            let j = match t.journals.get_mut(a.journal.as_str()) {
                Some(j) => j,
                None => t.journals.entry(a.journal).or_default(),
            };
            j.push(a.payload);
            sequences.push(j.len() as u64);
        }
        if let Some(claim) = parts.idempotency {
            t.idempotency
                .insert(claim.key, (claim.fingerprint, claim.response));
        }
        // The records replaced and the keys kept for the undo log are freed after the lock.
        drop(t);
        drop(undo);
        Ok(CommitOutcome::Committed(Receipt {
            versions,
            sequences,
        }))
    }
}

fn collection_mut<'a>(
    collections: &'a mut HashMap<String, CollectionData, Fold>,
    name: &str,
) -> &'a mut CollectionData {
    if !collections.contains_key(name) {
        collections.insert(name.to_string(), CollectionData::default());
    }
    collections
        .get_mut(name)
        .unwrap_or_else(|| unreachable!("collection {name} was just inserted"))
}

fn rollback(t: &mut TenantData, undo: Vec<(String, String, Option<Stored>)>) {
    for (collection, key, previous) in undo.into_iter().rev() {
        if let Some(c) = t.collections.get_mut(&collection) {
            c.restore(&key, previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    fn after<'a>(keys: &'a Keys, after: Option<&'a str>) -> Vec<&'a str> {
        keys.after(after).collect()
    }

    #[test]
    fn an_index_value_s_keys_stay_ordered_from_one_to_many_and_back_to_none() {
        let mut keys = Keys::One("m".into());
        keys.insert("m", false);
        assert!(
            matches!(keys, Keys::One(_)),
            "the same key twice is one key"
        );
        assert_eq!(after(&keys, None), ["m"]);
        assert_eq!(after(&keys, Some("a")), ["m"]);
        assert!(after(&keys, Some("m")).is_empty());
        assert!(!keys.remove("x"), "another key is not there to remove");
        for k in ["c", "z", "a"] {
            keys.insert(k, true);
        }
        keys.insert("c", false);
        assert_eq!(after(&keys, None), ["a", "c", "m", "z"]);
        assert_eq!(after(&keys, Some("c")), ["m", "z"]);
        assert!(!keys.remove("c"));
        assert!(!keys.remove("a"));
        assert!(!keys.remove("z"));
        assert!(keys.remove("m"), "the last key leaves the value empty");
        assert!(Keys::One("k".into()).remove("k"));
    }
}
