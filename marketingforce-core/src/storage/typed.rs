//! Typed access over the raw [`Store`]: entities encoded with serde (JSON).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    Batch, ByteCount, CommitOutcome, Cursor, Expect, IndexEntry, Page, PageRequest, Record, Store,
};
use crate::error::{json_reason, Error, Result};
use crate::tenant::{Tenant, TenantId};

/// A record type stored in a collection.
///
/// The entity declares its collection, its key and the secondary-index entries it is found by;
/// the store keeps the index entries in step with every write.
pub trait Entity: Serialize + DeserializeOwned + Send + Sync {
    /// The collection name (`[a-z0-9_.:-]`, at most 64 characters).
    const COLLECTION: &'static str;

    /// The record key.
    fn key(&self) -> String;

    /// Secondary-index entries (none by default).
    fn indexes(&self) -> Vec<IndexEntry> {
        Vec::new()
    }

    /// The tenant this value belongs to, if it records one. Writing it under another tenant is
    /// refused with [`Error::TenantIsolation`].
    fn tenant(&self) -> Option<&TenantId> {
        None
    }
}

/// A value with the version it was read at (pass the version back to update it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version in the store.
    pub version: u64,
}

impl<E: Entity> Versioned<E> {
    /// An entity of `E`'s collection from a record read through the untyped [`Store`] API, as
    /// [`Collection`] reads it: to decode many records on other threads, say.
    ///
    /// # Errors
    /// [`Error::Serialization`] naming the record (`collection/key`) when it is not an `E`.
    pub fn decode(record: Record) -> Result<Versioned<E>> {
        decode(E::COLLECTION, record)
    }
}

fn decode<E: DeserializeOwned>(collection: &str, record: Record) -> Result<Versioned<E>> {
    decode_record(collection, &record).map(|value| Versioned {
        value,
        version: record.version,
    })
}

/// The value of a record of `collection` decoded as a `T`, as [`Collection`] decodes its
/// entities (the same error, naming the record), without taking the record: to decode a page
/// of records on other threads, or to read only some fields of an entity (a `T` declaring
/// fewer of them; serde skips the rest).
///
/// ```
/// use marketingforce_core::storage::{decode_record, Record};
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Stage {
///     stage: String,
/// }
///
/// let record = Record {
///     key: "lead_1".into(),
///     version: 3,
///     value: br#"{"stage":"new","score":7}"#.to_vec(),
/// };
/// let read: Stage = decode_record("crm.leads", &record).unwrap();
/// assert_eq!(read.stage, "new");
/// let refused = decode_record::<Stage>("crm.leads", &Record { value: b"{}".to_vec(), ..record });
/// assert!(refused.unwrap_err().to_string().contains("crm.leads/lead_1"));
/// ```
///
/// # Errors
/// [`Error::Serialization`] naming the record (`collection/key`) when it is not a `T`.
pub fn decode_record<T: DeserializeOwned>(collection: &str, record: &Record) -> Result<T> {
    serde_json::from_slice(&record.value).map_err(|e| Error::Serialization {
        what: format!("{collection}/{}", record.key),
        reason: json_reason(&e),
    })
}

/// An entity encoded for a batch and checked to belong to its tenant, not yet put: encode many
/// on other threads, then [`put`](Batch::put_encoded) them in order on the batch. Its `Debug`
/// output shows the encoded value's size, not its bytes.
#[derive(Clone)]
pub struct EncodedEntity {
    collection: &'static str,
    key: String,
    value: Vec<u8>,
    indexes: Vec<IndexEntry>,
}

impl fmt::Debug for EncodedEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedEntity")
            .field("collection", &self.collection)
            .field("key", &self.key)
            .field("value", &ByteCount(&self.value))
            .field("indexes", &self.indexes)
            .finish()
    }
}

impl EncodedEntity {
    /// Encode `entity` (JSON), checking it belongs to `tenant`.
    ///
    /// # Errors
    /// [`Error::TenantIsolation`] or a serialization error.
    pub fn new<E: Entity>(tenant: &TenantId, entity: &E) -> Result<EncodedEntity> {
        let key = entity.key();
        if let Some(owner) = entity.tenant() {
            // The error's text is built only when the tenants differ.
            if owner != tenant {
                Tenant::ensure_same(tenant, owner, &format!("{}/{key}", E::COLLECTION))?;
            }
        }
        let value = super::json::to_json_exact(entity)?;
        Ok(EncodedEntity {
            collection: E::COLLECTION,
            key,
            value,
            indexes: entity.indexes(),
        })
    }

    /// The encoded value (JSON).
    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

impl Batch {
    /// Put an entity, checking it belongs to `tenant`.
    ///
    /// # Errors
    /// [`Error::TenantIsolation`] or a serialization error.
    pub fn put_entity<E: Entity>(
        &mut self,
        tenant: &TenantId,
        entity: &E,
        expect: Expect,
    ) -> Result<&mut Batch> {
        Ok(self.put_encoded(EncodedEntity::new(tenant, entity)?, expect))
    }

    /// Put an entity encoded by [`EncodedEntity::new`].
    pub fn put_encoded(&mut self, entity: EncodedEntity, expect: Expect) -> &mut Batch {
        let EncodedEntity {
            collection,
            key,
            value,
            indexes,
        } = entity;
        self.put(collection, key, value, indexes, expect)
    }

    /// Delete an entity's record by key.
    pub fn delete_entity<E: Entity>(
        &mut self,
        key: impl Into<String>,
        expect: Expect,
    ) -> &mut Batch {
        self.delete(E::COLLECTION, key, expect)
    }
}

/// Typed access to the collection of entity `E`.
pub struct Collection<E> {
    store: Arc<dyn Store>,
    _entity: PhantomData<fn() -> E>,
}

impl<E> Clone for Collection<E> {
    fn clone(&self) -> Self {
        Collection {
            store: self.store.clone(),
            _entity: PhantomData,
        }
    }
}

impl<E> fmt::Debug for Collection<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("entity", &std::any::type_name::<E>())
            .field("store", &self.store.backend())
            .finish()
    }
}

impl<E: Entity> Collection<E> {
    /// Typed access to `E`'s collection in `store`.
    pub fn new(store: Arc<dyn Store>) -> Collection<E> {
        Collection {
            store,
            _entity: PhantomData,
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Read one entity.
    ///
    /// # Errors
    /// Backend or decoding errors.
    pub async fn get(&self, tenant: &TenantId, key: &str) -> Result<Option<Versioned<E>>> {
        self.store
            .get(tenant, E::COLLECTION, key)
            .await?
            .map(|r| decode(E::COLLECTION, r))
            .transpose()
    }

    /// Read several entities at once ([`Store::get_many`]): one answer per key, in the keys'
    /// order, `None` where a key has no record.
    ///
    /// # Errors
    /// Backend or decoding errors.
    pub async fn get_many(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<Vec<Option<Versioned<E>>>> {
        self.store
            .get_many(tenant, E::COLLECTION, keys)
            .await?
            .into_iter()
            .map(|r| r.map(|r| decode(E::COLLECTION, r)).transpose())
            .collect()
    }

    /// Read one entity that must exist.
    ///
    /// # Errors
    /// [`Error::NotFound`], backend or decoding errors.
    pub async fn require(&self, tenant: &TenantId, key: &str) -> Result<Versioned<E>> {
        self.get(tenant, key)
            .await?
            .ok_or_else(|| Error::not_found(E::COLLECTION, key))
    }

    /// A page of entities in key order.
    ///
    /// # Errors
    /// Backend or decoding errors.
    pub async fn list(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Versioned<E>>> {
        self.store
            .list(tenant, E::COLLECTION, page)
            .await?
            .try_map(|r| decode(E::COLLECTION, r))
    }

    /// Every entity of the collection, in key order (reads page by page).
    ///
    /// # Errors
    /// Backend or decoding errors.
    pub async fn list_all(&self, tenant: &TenantId) -> Result<Vec<Versioned<E>>> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(1000);
        loop {
            let p = self.list(tenant, &page).await?;
            out.extend(p.items);
            match p.next {
                Some(c) => page = PageRequest::next(1000, c),
                None => return Ok(out),
            }
        }
    }

    /// A page of the entities whose index `index` has `value`.
    ///
    /// # Errors
    /// Backend or decoding errors.
    pub async fn lookup(
        &self,
        tenant: &TenantId,
        index: &str,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<Versioned<E>>> {
        self.store
            .lookup(tenant, E::COLLECTION, index, value, page)
            .await?
            .try_map(|r| decode(E::COLLECTION, r))
    }

    /// Every entity whose index `index` has `value`.
    ///
    /// # Errors
    /// Backend or decoding errors.
    pub async fn lookup_all(
        &self,
        tenant: &TenantId,
        index: &str,
        value: &str,
    ) -> Result<Vec<Versioned<E>>> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(1000);
        loop {
            let p = self.lookup(tenant, index, value, &page).await?;
            out.extend(p.items);
            match p.next {
                Some(c) => page = PageRequest::next(1000, c),
                None => return Ok(out),
            }
        }
    }

    async fn write_one(&self, tenant: &TenantId, entity: &E, expect: Expect) -> Result<u64> {
        let mut batch = Batch::new();
        batch.put_entity(tenant, entity, expect)?;
        match self.store.commit(tenant, batch).await? {
            CommitOutcome::Committed(r) => Ok(r.versions.first().copied().unwrap_or_default()),
            CommitOutcome::Replayed(_) => Err(Error::backend_message(
                self.store.backend(),
                false,
                "a batch without an idempotency key was reported as replayed",
            )),
        }
    }

    /// Create an entity that must not exist yet; returns its version (1).
    ///
    /// # Errors
    /// [`Error::Conflict`] when the key exists.
    pub async fn insert(&self, tenant: &TenantId, entity: &E) -> Result<u64> {
        self.write_one(tenant, entity, Expect::Absent).await
    }

    /// Replace an entity read at `version`; returns the new version.
    ///
    /// # Errors
    /// [`Error::Conflict`] when it changed since.
    pub async fn update(&self, tenant: &TenantId, entity: &E, version: u64) -> Result<u64> {
        self.write_one(tenant, entity, Expect::Version(version))
            .await
    }

    /// Create or replace an entity regardless of its version; returns the new version.
    ///
    /// # Errors
    /// Backend errors.
    pub async fn upsert(&self, tenant: &TenantId, entity: &E) -> Result<u64> {
        self.write_one(tenant, entity, Expect::Any).await
    }

    /// Delete an entity.
    ///
    /// # Errors
    /// [`Error::Conflict`] when `expect` is not met.
    pub async fn delete(&self, tenant: &TenantId, key: &str, expect: Expect) -> Result<()> {
        let mut batch = Batch::new();
        batch.delete_entity::<E>(key, expect);
        self.store.commit(tenant, batch).await.map(|_| ())
    }
}

/// Typed access to an append-only journal of entries `T`.
pub struct Journal<T> {
    store: Arc<dyn Store>,
    name: String,
    _entry: PhantomData<fn() -> T>,
}

impl<T> Clone for Journal<T> {
    fn clone(&self) -> Self {
        Journal {
            store: self.store.clone(),
            name: self.name.clone(),
            _entry: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Journal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal").field("name", &self.name).finish()
    }
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// The journal `name` in `store`.
    pub fn new(store: Arc<dyn Store>, name: impl Into<String>) -> Journal<T> {
        Journal {
            store,
            name: name.into(),
            _entry: PhantomData,
        }
    }

    /// The journal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Add an append of `entry` to `batch`.
    ///
    /// # Errors
    /// A serialization error.
    pub fn append_in(&self, batch: &mut Batch, entry: &T) -> Result<()> {
        batch.append_json(self.name.clone(), entry).map(|_| ())
    }

    /// Up to `limit` entries after sequence `after`, with their sequence numbers.
    ///
    /// # Errors
    /// Backend or decoding errors.
    pub async fn read(&self, tenant: &TenantId, after: u64, limit: usize) -> Result<Vec<(u64, T)>> {
        self.store
            .read_journal(tenant, &self.name, after, limit)
            .await?
            .into_iter()
            .map(|e| {
                serde_json::from_slice(&e.payload)
                    .map(|t| (e.seq, t))
                    .map_err(|err| Error::Serialization {
                        what: format!("journal {} #{}", self.name, e.seq),
                        reason: err.to_string(),
                    })
            })
            .collect()
    }

    /// One page of entries, in order. A page's cursor is the sequence number of its last entry
    /// (as text): entries appended later come after it, so paging never repeats or skips one.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use marketingforce_core::storage::{Batch, Journal, MemoryStore, PageRequest, Store};
    /// use marketingforce_core::tenant::TenantId;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    /// let journal = Journal::<u32>::new(store.clone(), "readings");
    /// let tenant = TenantId::new();
    /// let mut batch = Batch::new();
    /// for n in 0..5 {
    ///     journal.append_in(&mut batch, &n)?;
    /// }
    /// store.commit(&tenant, batch).await?;
    ///
    /// let (mut all, mut page) = (Vec::new(), PageRequest::first(2));
    /// loop {
    ///     let got = journal.page(&tenant, &page).await?;
    ///     all.extend(got.items);
    ///     match got.next {
    ///         Some(cursor) => page = PageRequest::next(2, cursor),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(all, [0, 1, 2, 3, 4]);
    /// # Ok::<(), marketingforce_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// A validation error on `page.limit` outside 1–10,000, or on `page.after` when it is not a
    /// journal cursor (a sequence number, as this method's pages give); backend or decoding
    /// errors.
    pub async fn page(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<T>> {
        page.validate()?;
        let after = match page.after_key() {
            None => 0,
            Some(key) => key.parse::<u64>().map_err(|_| {
                Error::validation("page.after", "is not a journal cursor (a sequence number)")
            })?,
        };
        let mut entries = self.read(tenant, after, page.limit + 1).await?;
        let next = if entries.len() > page.limit {
            entries.truncate(page.limit);
            entries
                .last()
                .map(|(seq, _)| Cursor::after(seq.to_string()))
        } else {
            None
        };
        Ok(Page {
            items: entries.into_iter().map(|(_, e)| e).collect(),
            next,
        })
    }

    /// Every entry, in order.
    ///
    /// # Errors
    /// Backend or decoding errors.
    pub async fn read_all(&self, tenant: &TenantId) -> Result<Vec<(u64, T)>> {
        let mut out = Vec::new();
        loop {
            let after = out.last().map_or(0, |(s, _)| *s);
            let chunk = self.read(tenant, after, 5000).await?;
            if chunk.is_empty() {
                return Ok(out);
            }
            out.extend(chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Owned {
        id: String,
        tenant: TenantId,
    }

    impl Entity for Owned {
        const COLLECTION: &'static str = "owned";
        fn key(&self) -> String {
            self.id.clone()
        }
        fn tenant(&self) -> Option<&TenantId> {
            Some(&self.tenant)
        }
    }

    /// A stored record that does not decode (an older shape, a corrupt row) is reported by
    /// collection, key and what is wrong, without the record's values: before, serde's words
    /// quoted them (`invalid type: string "13812345678", expected u64`).
    #[test]
    fn decoding_errors_do_not_quote_the_record() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Lead {
            phone: u64,
            name: String,
            stage: Stage,
            budget: Option<crate::money::Money>,
        }
        #[derive(Debug, Deserialize)]
        enum Stage {
            New,
        }
        let secret = "13812345678";
        for (value, says) in [
            (r#"{"phone":"13812345678"}"#, "invalid type"),
            (r#"{"phone":1,"name":13812345678}"#, "invalid type"),
            (
                r#"{"phone":1,"name":"x","stage":"13812345678"}"#,
                "unknown variant",
            ),
            (
                r#"{"phone":1,"name":"x","stage":"New","13812345678":1}"#,
                "unknown field",
            ),
            (
                r#"{"phone":1,"name":"x","stage":"New","budget":{"amount":"13812345678x","currency":"CNY"}}"#,
                "decimal",
            ),
            (r#"{"phone":1,"name":"x"}"#, "missing field `stage`"),
        ] {
            let record = Record {
                key: "lead_1".into(),
                version: 1,
                value: value.as_bytes().to_vec(),
            };
            let e = decode_record::<Lead>("leads", &record)
                .unwrap_err()
                .to_string();
            assert!(!e.contains(secret), "{e}");
            assert!(e.contains("leads/lead_1") && e.contains(says), "{e}");
            assert!(e.contains("line 1"), "{e}");
        }
    }

    /// Paging through a journal gives every entry once, in order, also when entries are
    /// appended between pages; a cursor that is not a sequence number is refused by name.
    #[test]
    fn journal_pages_cover_every_entry_once_in_order() {
        let store: Arc<dyn Store> = Arc::new(super::super::MemoryStore::new());
        let journal = Journal::<u32>::new(store.clone(), "numbers");
        let tenant = TenantId::new();
        let append = |from: u32, to: u32| {
            let (store, journal) = (store.clone(), journal.clone());
            async move {
                let mut batch = Batch::new();
                for n in from..to {
                    journal.append_in(&mut batch, &n).unwrap();
                }
                store.commit(&tenant, batch).await.unwrap();
            }
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                append(0, 25).await;
                let mut seen = Vec::new();
                let mut page = PageRequest::first(7);
                loop {
                    let got = journal.page(&tenant, &page).await.unwrap();
                    assert!(got.items.len() <= 7);
                    seen.extend(got.items);
                    if seen.len() == 14 {
                        append(25, 30).await;
                    }
                    match got.next {
                        Some(cursor) => page = PageRequest::next(7, cursor),
                        None => break,
                    }
                }
                assert_eq!(seen, (0..30).collect::<Vec<u32>>());
                let last = journal
                    .page(&tenant, &PageRequest::first(30))
                    .await
                    .unwrap();
                assert_eq!((last.items.len(), last.next), (30, None));
                let bad = PageRequest::next(7, Cursor::after("lead_1"));
                match journal.page(&tenant, &bad).await {
                    Err(Error::Validation { field, .. }) => assert_eq!(field, "page.after"),
                    other => panic!("expected a validation error, got {other:?}"),
                }
                match journal.page(&tenant, &PageRequest::first(0)).await {
                    Err(Error::Validation { field, .. }) => assert_eq!(field, "page.limit"),
                    other => panic!("expected a validation error, got {other:?}"),
                }
            });
    }

    #[test]
    fn an_entity_of_another_tenant_is_refused_and_named() {
        let (mine, theirs) = (TenantId::new(), TenantId::new());
        let e = Owned {
            id: "k-1".into(),
            tenant: theirs,
        };
        match EncodedEntity::new(&mine, &e) {
            Err(Error::TenantIsolation {
                what,
                owner,
                caller,
            }) => {
                assert_eq!(what, "owned/k-1");
                assert_eq!((owner, caller), (theirs.to_string(), mine.to_string()));
            }
            other => panic!("expected a tenant isolation error, got {other:?}"),
        }
        let encoded = EncodedEntity::new(&theirs, &e).expect("its own tenant");
        assert_eq!(encoded.key, "k-1");
        assert_eq!(
            encoded.value(),
            serde_json::to_vec(&e).expect("json").as_slice()
        );
    }
}
