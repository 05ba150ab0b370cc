//! The storage conformance suite (feature `testing`): the behaviour every [`Store`] must have.
//!
//! Each check is a public async function taking a store; [`store_conformance_tests!`](crate::store_conformance_tests) expands to
//! one `#[test]` per check, so a backend — ours or a third party's — runs the whole suite with
//! one line. Checks use fresh random tenants, so they can share one database.
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::storage::{MemoryStore, Store};
//!
//! async fn memory() -> Option<Arc<dyn Store>> {
//!     Some(Arc::new(MemoryStore::new()))
//! }
//!
//! marketingforce_core::store_conformance_tests!(memory);
//! # fn main() {}
//! ```
//!
//! A factory returns `None` to skip (e.g. when a database URL is not configured); it should
//! print why.
//!
//! A backend shared by several processes also runs [`racing_writers_across_instances`] with two
//! separately opened handles over one database (stand-ins for two processes): the journal-head
//! expectations must hold across them, not only within one handle.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{Batch, CommitOutcome, Expect, IndexEntry, PageRequest, Store};
use crate::error::{Error, VersionState};
use crate::tenant::TenantId;

/// Names of every check, in the order [`store_conformance_tests!`](crate::store_conformance_tests) declares them.
pub const CHECKS: &[&str] = &[
    "crud",
    "version_conflicts",
    "index_lookups",
    "journal_ordering",
    "atomic_on_conflict",
    "atomic_on_injected_failure",
    "idempotent_replay",
    "concurrent_writers_one_wins",
    "concurrent_journal_appends_gap_free",
    "concurrent_idempotent_commits",
    "tenant_isolation",
    "pagination_stability",
    "large_values",
    "unicode_and_sql_metacharacters",
    "invalid_batches_write_nothing",
    "journal_heads",
    "stale_head_writes_nothing",
    "replay_beats_stale_head",
    "several_heads_in_one_batch",
    "pure_fence",
    "racing_writers_on_one_head",
    "large_batches",
    "get_many",
    "repeated_index_entries",
    "odd_bytes_in_reads",
];

/// Run a check on a fresh multi-threaded tokio runtime (used by the macro's tests).
pub fn block_on<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime: {e}"))
        .block_on(f);
}

/// Expand to one `#[test]` per conformance check for the store made by `$factory`, an
/// `async fn() -> Option<Arc<dyn Store>>` (return `None` to skip).
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:path) => {
        $crate::__conformance_test!($factory, crud);
        $crate::__conformance_test!($factory, version_conflicts);
        $crate::__conformance_test!($factory, index_lookups);
        $crate::__conformance_test!($factory, journal_ordering);
        $crate::__conformance_test!($factory, atomic_on_conflict);
        $crate::__conformance_test!($factory, atomic_on_injected_failure);
        $crate::__conformance_test!($factory, idempotent_replay);
        $crate::__conformance_test!($factory, concurrent_writers_one_wins);
        $crate::__conformance_test!($factory, concurrent_journal_appends_gap_free);
        $crate::__conformance_test!($factory, concurrent_idempotent_commits);
        $crate::__conformance_test!($factory, tenant_isolation);
        $crate::__conformance_test!($factory, pagination_stability);
        $crate::__conformance_test!($factory, large_values);
        $crate::__conformance_test!($factory, unicode_and_sql_metacharacters);
        $crate::__conformance_test!($factory, invalid_batches_write_nothing);
        $crate::__conformance_test!($factory, journal_heads);
        $crate::__conformance_test!($factory, stale_head_writes_nothing);
        $crate::__conformance_test!($factory, replay_beats_stale_head);
        $crate::__conformance_test!($factory, several_heads_in_one_batch);
        $crate::__conformance_test!($factory, pure_fence);
        $crate::__conformance_test!($factory, racing_writers_on_one_head);
        $crate::__conformance_test!($factory, large_batches);
        $crate::__conformance_test!($factory, get_many);
        $crate::__conformance_test!($factory, repeated_index_entries);
        $crate::__conformance_test!($factory, odd_bytes_in_reads);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ($factory:path, $check:ident) => {
        #[test]
        fn $check() {
            $crate::storage::conformance::block_on(async {
                match $factory().await {
                    Some(store) => $crate::storage::conformance::$check(store).await,
                    None => eprintln!(
                        "conformance check {} skipped: the store factory returned None",
                        stringify!($check)
                    ),
                }
            });
        }
    };
}

fn put(batch: &mut Batch, c: &str, k: &str, v: &[u8], ix: &[(&str, &str)], e: Expect) {
    batch.put(
        c,
        k,
        v.to_vec(),
        ix.iter().map(|(n, v)| IndexEntry::new(*n, *v)).collect(),
        e,
    );
}

async fn commit(store: &dyn Store, t: &TenantId, batch: Batch) -> crate::Result<CommitOutcome> {
    store.commit(t, batch).await
}

async fn put_one(
    store: &dyn Store,
    t: &TenantId,
    c: &str,
    k: &str,
    v: &[u8],
    e: Expect,
) -> crate::Result<u64> {
    let mut b = Batch::new();
    put(&mut b, c, k, v, &[], e);
    match commit(store, t, b).await? {
        CommitOutcome::Committed(r) => Ok(r.versions[0]),
        CommitOutcome::Replayed(_) => panic!("replay without an idempotency key"),
    }
}

async fn keys_of_lookup(store: &dyn Store, t: &TenantId, c: &str, n: &str, v: &str) -> Vec<String> {
    let page = store
        .lookup(t, c, n, v, &PageRequest::first(1000))
        .await
        .expect("lookup");
    page.items.into_iter().map(|r| r.key).collect()
}

async fn journal_len(store: &dyn Store, t: &TenantId, j: &str) -> usize {
    store
        .read_journal(t, j, 0, 1_000_000)
        .await
        .expect("read journal")
        .len()
}

/// Create, read, update with the read version, delete; versions count from 1.
pub async fn crud(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    assert_eq!(s.get(&t, "things", "a").await.unwrap(), None);
    assert_eq!(
        put_one(s, &t, "things", "a", b"one", Expect::Absent)
            .await
            .unwrap(),
        1
    );
    let r = s
        .get(&t, "things", "a")
        .await
        .unwrap()
        .expect("created record");
    assert_eq!(
        (r.key.as_str(), r.version, r.value.as_slice()),
        ("a", 1, &b"one"[..])
    );
    assert_eq!(
        put_one(s, &t, "things", "a", b"two", Expect::Version(1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        put_one(s, &t, "things", "a", b"three", Expect::Any)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        s.get(&t, "things", "a").await.unwrap().unwrap().value,
        b"three"
    );
    let mut b = Batch::new();
    b.delete("things", "a", Expect::Version(3));
    commit(s, &t, b).await.unwrap();
    assert_eq!(s.get(&t, "things", "a").await.unwrap(), None);
    // Deleting what is not there with no expectation is a no-op.
    let mut b = Batch::new();
    b.delete("things", "a", Expect::Any);
    commit(s, &t, b).await.unwrap();
    // Receipts report versions and sequences in batch order.
    let mut b = Batch::new();
    put(&mut b, "things", "x", b"x", &[], Expect::Absent);
    put(&mut b, "things", "y", b"y", &[], Expect::Absent);
    b.append("log", b"1".to_vec()).append("log", b"2".to_vec());
    match commit(s, &t, b).await.unwrap() {
        CommitOutcome::Committed(r) => {
            assert_eq!(r.versions, vec![1, 1]);
            assert_eq!(r.sequences, vec![1, 2]);
        }
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// Optimistic concurrency: every unmet expectation is a conflict naming the record and the
/// versions, and changes nothing.
pub async fn version_conflicts(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    put_one(s, &t, "things", "k", b"v1", Expect::Absent)
        .await
        .unwrap();
    let cases = [
        (Expect::Absent, VersionState::Version(1)),
        (Expect::Version(7), VersionState::Version(1)),
    ];
    for (expect, actual) in cases {
        match put_one(s, &t, "things", "k", b"bad", expect).await {
            Err(Error::Conflict {
                collection,
                key,
                expected,
                actual: found,
            }) => {
                assert_eq!((collection.as_str(), key.as_str()), ("things", "k"));
                assert_eq!(expected, expect.state());
                assert_eq!(found, actual);
            }
            other => panic!("expected a conflict for {expect:?}, got {other:?}"),
        }
    }
    match put_one(s, &t, "things", "missing", b"x", Expect::Version(1)).await {
        Err(Error::Conflict { actual, .. }) => assert_eq!(actual, VersionState::Absent),
        other => panic!("expected a conflict on a missing record, got {other:?}"),
    }
    let mut b = Batch::new();
    b.delete("things", "k", Expect::Version(2));
    assert!(matches!(
        commit(s, &t, b).await,
        Err(Error::Conflict { .. })
    ));
    let r = s.get(&t, "things", "k").await.unwrap().unwrap();
    assert_eq!((r.version, r.value.as_slice()), (1, &b"v1"[..]));
    assert_eq!(s.get(&t, "things", "missing").await.unwrap(), None);
    // A create of a record that exists fails its whole batch: the writes before it (a create
    // with an index entry) and the batch's appends are not kept.
    let mut b = Batch::new();
    put(
        &mut b,
        "things",
        "fresh",
        b"f",
        &[("tag", "t")],
        Expect::Absent,
    );
    put(&mut b, "things", "k", b"again", &[], Expect::Absent);
    b.append("log", b"x".to_vec());
    match commit(s, &t, b).await {
        Err(Error::Conflict { key, actual, .. }) => {
            assert_eq!((key.as_str(), actual), ("k", VersionState::Version(1)));
        }
        other => panic!("expected a conflict on the second create, got {other:?}"),
    }
    assert_eq!(s.get(&t, "things", "fresh").await.unwrap(), None);
    let tagged = s
        .lookup(&t, "things", "tag", "t", &PageRequest::default())
        .await
        .unwrap();
    assert!(tagged.items.is_empty(), "{tagged:?}");
    assert_eq!(s.journal_head(&t, "log").await.unwrap(), 0);
    let r = s.get(&t, "things", "k").await.unwrap().unwrap();
    assert_eq!((r.version, r.value.as_slice()), (1, &b"v1"[..]));
}

/// Index entries follow the record through puts and deletes; lookups are key-ordered.
pub async fn index_lookups(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let mut b = Batch::new();
    put(
        &mut b,
        "leads",
        "l3",
        b"3",
        &[("owner", "li"), ("region", "sh")],
        Expect::Absent,
    );
    put(
        &mut b,
        "leads",
        "l1",
        b"1",
        &[("owner", "li")],
        Expect::Absent,
    );
    put(
        &mut b,
        "leads",
        "l2",
        b"2",
        &[("owner", "wang"), ("region", "sh")],
        Expect::Absent,
    );
    commit(s, &t, b).await.unwrap();
    assert_eq!(
        keys_of_lookup(s, &t, "leads", "owner", "li").await,
        ["l1", "l3"]
    );
    assert_eq!(
        keys_of_lookup(s, &t, "leads", "region", "sh").await,
        ["l2", "l3"]
    );
    assert!(keys_of_lookup(s, &t, "leads", "owner", "zhao")
        .await
        .is_empty());
    assert!(keys_of_lookup(s, &t, "other", "owner", "li")
        .await
        .is_empty());
    // Reassign l1: the old entry disappears, the new one appears.
    let mut b = Batch::new();
    put(
        &mut b,
        "leads",
        "l1",
        b"1b",
        &[("owner", "wang")],
        Expect::Version(1),
    );
    commit(s, &t, b).await.unwrap();
    assert_eq!(keys_of_lookup(s, &t, "leads", "owner", "li").await, ["l3"]);
    assert_eq!(
        keys_of_lookup(s, &t, "leads", "owner", "wang").await,
        ["l1", "l2"]
    );
    let found = s
        .lookup(&t, "leads", "owner", "wang", &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(found.items[0].value, b"1b");
    assert_eq!(found.items[0].version, 2);
    // Deleting removes its entries.
    let mut b = Batch::new();
    b.delete("leads", "l3", Expect::Any);
    commit(s, &t, b).await.unwrap();
    assert!(keys_of_lookup(s, &t, "leads", "owner", "li")
        .await
        .is_empty());
    assert_eq!(keys_of_lookup(s, &t, "leads", "region", "sh").await, ["l2"]);
    // Lookup pages.
    let mut b = Batch::new();
    for i in 0..25 {
        put(
            &mut b,
            "tagged",
            &format!("k{i:02}"),
            b"x",
            &[("tag", "hot")],
            Expect::Absent,
        );
    }
    commit(s, &t, b).await.unwrap();
    let mut seen = Vec::new();
    let mut req = PageRequest::first(10);
    loop {
        let p = s.lookup(&t, "tagged", "tag", "hot", &req).await.unwrap();
        seen.extend(p.items.into_iter().map(|r| r.key));
        match p.next {
            Some(c) => req = PageRequest::next(10, c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    assert_eq!(seen, expected);
}

/// Journals number entries 1, 2, 3, … per tenant and journal, in commit order.
pub async fn journal_ordering(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    for round in 0..5u8 {
        let mut b = Batch::new();
        for i in 0..3u8 {
            b.append("a", vec![round, i]);
        }
        b.append("b", vec![round]);
        commit(s, &t, b).await.unwrap();
    }
    let a = s.read_journal(&t, "a", 0, 100).await.unwrap();
    assert_eq!(a.len(), 15);
    for (i, e) in a.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(e.payload, vec![(i / 3) as u8, (i % 3) as u8]);
    }
    let b = s.read_journal(&t, "b", 0, 100).await.unwrap();
    assert_eq!(b.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    let tail = s.read_journal(&t, "a", 10, 3).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [11, 12, 13]);
    assert!(s.read_journal(&t, "a", 15, 10).await.unwrap().is_empty());
    assert!(s.read_journal(&t, "none", 0, 10).await.unwrap().is_empty());
    // After any sequence a journal can hold: nothing, on every backend (the SQL ones refused a
    // position past their integer range).
    for far in [u64::MAX, 1 << 63] {
        assert!(s.read_journal(&t, "a", far, 10).await.unwrap().is_empty());
    }
}

async fn assert_untouched(s: &dyn Store, t: &TenantId) {
    let r = s.get(t, "acct", "existing").await.unwrap().unwrap();
    assert_eq!(
        (r.version, r.value.as_slice()),
        (1, &b"before"[..]),
        "existing record changed"
    );
    assert_eq!(
        s.get(t, "acct", "new").await.unwrap(),
        None,
        "new record visible"
    );
    assert!(
        keys_of_lookup(s, t, "acct", "ix", "after").await.is_empty(),
        "index entry visible"
    );
    assert_eq!(
        keys_of_lookup(s, t, "acct", "ix", "before").await,
        ["existing"]
    );
    assert_eq!(
        journal_len(s, t, "postings").await,
        0,
        "journal entry visible"
    );
    assert_eq!(
        s.idempotency(t, "idem-1").await.unwrap(),
        None,
        "idempotency key kept"
    );
}

/// The new record `acct/new`, indexed `ix = after`, that [`assert_untouched`] must not see.
fn put_new(b: &mut Batch) {
    put(b, "acct", "new", b"new", &[("ix", "after")], Expect::Absent);
}

fn mixed_batch() -> Batch {
    let mut b = Batch::new();
    put(
        &mut b,
        "acct",
        "existing",
        b"after",
        &[("ix", "after")],
        Expect::Version(1),
    );
    put_new(&mut b);
    b.append("postings", b"p1".to_vec());
    b.claim_idempotency("idem-1", "fp", b"resp".to_vec());
    b
}

async fn seed_existing(s: &dyn Store, t: &TenantId) {
    let mut b = Batch::new();
    put(
        &mut b,
        "acct",
        "existing",
        b"before",
        &[("ix", "before")],
        Expect::Absent,
    );
    commit(s, t, b).await.unwrap();
}

/// A conflict on the last write of a batch leaves nothing of the batch visible.
pub async fn atomic_on_conflict(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    seed_existing(s, &t).await;
    let mut b = mixed_batch();
    put(
        &mut b,
        "acct",
        "existing-too",
        b"x",
        &[],
        Expect::Version(9),
    );
    assert!(matches!(
        commit(s, &t, b).await,
        Err(Error::Conflict { .. })
    ));
    assert_untouched(s, &t).await;
    // A delete, then a new record, then the conflict: the deleted record is back with its
    // index entry, and the conflict names the write it refused.
    let mut b = Batch::new();
    b.delete("acct", "existing", Expect::Version(1));
    put_new(&mut b);
    put(&mut b, "other", "missing", b"x", &[], Expect::Version(3));
    match commit(s, &t, b).await {
        Err(Error::Conflict {
            collection,
            key,
            expected,
            actual,
        }) => {
            assert_eq!((collection.as_str(), key.as_str()), ("other", "missing"));
            assert_eq!(
                (expected, actual),
                (VersionState::Version(3), VersionState::Absent)
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_untouched(s, &t).await;
}

/// A failure injected after any number of applied writes rolls the whole batch back.
pub async fn atomic_on_injected_failure(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    seed_existing(s, &t).await;
    for after in 0..=2 {
        let mut b = mixed_batch();
        b.fail_after_writes(after);
        match commit(s, &t, b).await {
            Err(e @ Error::Backend { .. }) => assert!(e.is_retryable(), "{e}"),
            other => panic!("expected an injected backend failure, got {other:?}"),
        }
        assert_untouched(s, &t).await;
    }
    // The same batch without the fault commits.
    commit(s, &t, mixed_batch()).await.unwrap();
    assert_eq!(
        s.get(&t, "acct", "new").await.unwrap().unwrap().value,
        b"new"
    );
}

/// Replaying an idempotency key returns the stored response and writes nothing; reusing it for
/// another request is an error.
pub async fn idempotent_replay(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let batch = |v: &[u8]| {
        let mut b = Batch::new();
        put(&mut b, "orders", "o1", v, &[], Expect::Any);
        b.append("order_log", v.to_vec());
        b.claim_idempotency("order-2026-001", "fp-a", b"first response".to_vec());
        b
    };
    assert!(matches!(
        commit(s, &t, batch(b"v")).await.unwrap(),
        CommitOutcome::Committed(_)
    ));
    for _ in 0..3 {
        match commit(s, &t, batch(b"v")).await.unwrap() {
            CommitOutcome::Replayed(r) => assert_eq!(r, b"first response"),
            other => panic!("expected a replay, got {other:?}"),
        }
    }
    assert_eq!(s.get(&t, "orders", "o1").await.unwrap().unwrap().version, 1);
    assert_eq!(journal_len(s, &t, "order_log").await, 1);
    assert_eq!(
        s.idempotency(&t, "order-2026-001").await.unwrap(),
        Some(("fp-a".to_string(), b"first response".to_vec()))
    );
    let mut other = Batch::new();
    other.append("order_log", b"other".to_vec());
    other.claim_idempotency("order-2026-001", "fp-b", b"other".to_vec());
    match commit(s, &t, other).await {
        Err(Error::IdempotencyMismatch { key }) => assert_eq!(key, "order-2026-001"),
        other => panic!("expected an idempotency mismatch, got {other:?}"),
    }
    assert_eq!(journal_len(s, &t, "order_log").await, 1);
}

/// Concurrent compare-and-set writers on one record: exactly one wins per version.
pub async fn concurrent_writers_one_wins(store: Arc<dyn Store>) {
    let t = TenantId::new();
    put_one(&*store, &t, "counters", "c", b"0", Expect::Absent)
        .await
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..8u8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            put_one(&*store, &t, "counters", "c", &[i], Expect::Version(1)).await
        }));
    }
    let mut winners = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        match h.await.expect("task") {
            Ok(v) => {
                assert_eq!(v, 2);
                winners.push(i as u8);
            }
            Err(Error::Conflict { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer must win");
    let r = store.get(&t, "counters", "c").await.unwrap().unwrap();
    assert_eq!((r.version, r.value), (2, vec![winners[0]]));
}

/// Concurrent appenders: sequence numbers are gap-free and every entry appears once.
pub async fn concurrent_journal_appends_gap_free(store: Arc<dyn Store>) {
    let t = TenantId::new();
    let mut handles = Vec::new();
    for w in 0..6u8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..10u8 {
                let mut b = Batch::new();
                b.append("events", vec![w, i])
                    .append("events", vec![w, i, 1]);
                store.commit(&t, b).await.expect("append");
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let entries = store.read_journal(&t, "events", 0, 10_000).await.unwrap();
    assert_eq!(entries.len(), 120);
    assert!(
        entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1),
        "gap or reorder"
    );
    let distinct: HashSet<_> = entries.iter().map(|e| e.payload.clone()).collect();
    assert_eq!(distinct.len(), 120);
    // Each batch's two entries are adjacent.
    for pair in entries.chunks(2) {
        assert_eq!(pair[0].payload[..2], pair[1].payload[..2]);
    }
}

/// Concurrent commits with the same idempotency key: one commits, the rest replay it.
pub async fn concurrent_idempotent_commits(store: Arc<dyn Store>) {
    let t = TenantId::new();
    let mut handles = Vec::new();
    for i in 0..6u8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut b = Batch::new();
            b.append("topups", vec![i]);
            b.claim_idempotency("topup-1", "fp", vec![i]);
            store.commit(&t, b).await
        }));
    }
    let mut committed = Vec::new();
    let mut replayed = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        match h.await.expect("task") {
            Ok(CommitOutcome::Committed(_)) => committed.push(i as u8),
            Ok(CommitOutcome::Replayed(r)) => replayed.push(r),
            Err(e) if e.is_retryable() => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(committed.len(), 1);
    assert!(replayed.iter().all(|r| *r == vec![committed[0]]));
    let entries = store.read_journal(&t, "topups", 0, 100).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].payload, vec![committed[0]]);
}

/// Nothing written for one tenant is visible to another, and keys do not collide.
pub async fn tenant_isolation(store: Arc<dyn Store>) {
    let s = &*store;
    let (a, b) = (TenantId::new(), TenantId::new());
    let mut batch = Batch::new();
    put(
        &mut batch,
        "leads",
        "same-key",
        b"tenant a",
        &[("phone", "h1")],
        Expect::Absent,
    );
    batch.append("history", b"a".to_vec());
    batch.claim_idempotency("k", "fp", b"a".to_vec());
    commit(s, &a, batch).await.unwrap();
    assert_eq!(s.get(&b, "leads", "same-key").await.unwrap(), None);
    assert!(s
        .list(&b, "leads", &PageRequest::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(keys_of_lookup(s, &b, "leads", "phone", "h1")
        .await
        .is_empty());
    assert!(s
        .read_journal(&b, "history", 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.idempotency(&b, "k").await.unwrap(), None);
    // The same key in tenant b is a different record, and its journal starts at 1.
    let mut batch = Batch::new();
    put(
        &mut batch,
        "leads",
        "same-key",
        b"tenant b",
        &[("phone", "h1")],
        Expect::Absent,
    );
    batch.append("history", b"b".to_vec());
    batch.claim_idempotency("k", "other-fp", b"b".to_vec());
    match commit(s, &b, batch).await.unwrap() {
        CommitOutcome::Committed(r) => assert_eq!((r.versions[0], r.sequences[0]), (1, 1)),
        other => panic!("expected a commit, got {other:?}"),
    }
    assert_eq!(
        s.get(&a, "leads", "same-key").await.unwrap().unwrap().value,
        b"tenant a"
    );
    assert_eq!(
        s.lookup(&a, "leads", "phone", "h1", &PageRequest::default())
            .await
            .unwrap()
            .items[0]
            .value,
        b"tenant a"
    );
}

/// Paging visits every record that exists throughout exactly once, in key order, even while
/// other records are inserted and deleted between pages.
pub async fn pagination_stability(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let mut b = Batch::new();
    for i in 0..120 {
        put(
            &mut b,
            "items",
            &format!("k{:04}", i * 2),
            b"x",
            &[],
            Expect::Absent,
        );
    }
    commit(s, &t, b).await.unwrap();
    let mut seen = Vec::new();
    let mut req = PageRequest::first(7);
    let mut round = 0usize;
    loop {
        let p = s.list(&t, "items", &req).await.unwrap();
        assert!(p.items.len() <= 7);
        seen.extend(p.items.iter().map(|r| r.key.clone()));
        // Churn: insert odd keys everywhere and delete odd keys inserted earlier.
        let mut churn = Batch::new();
        let odd = |r: usize| format!("k{:04}", (r * 37 % 120) * 2 + 1);
        put(&mut churn, "items", &odd(round), b"y", &[], Expect::Any);
        if round > 2 && odd(round - 2) != odd(round) {
            churn.delete("items", odd(round - 2), Expect::Any);
        }
        commit(s, &t, churn).await.unwrap();
        round += 1;
        match p.next {
            Some(c) => req = PageRequest::next(7, c),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages must be in key order without repeats");
    let evens: BTreeSet<String> = seen
        .iter()
        .filter(|k| k.ends_with(['0', '2', '4', '6', '8']))
        .cloned()
        .collect();
    assert_eq!(
        evens.len(),
        120,
        "every record present throughout must be seen once"
    );
    for bad in [0, PageRequest::MAX_LIMIT + 1] {
        assert!(matches!(
            s.list(&t, "items", &PageRequest::first(bad)).await,
            Err(Error::Validation { .. })
        ));
    }
}

/// Values up to the backend's limit round-trip; one byte more is refused and writes nothing.
pub async fn large_values(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let limits = s.limits();
    let big: Vec<u8> = (0..limits.max_value_bytes)
        .map(|i| (i % 251) as u8)
        .collect();
    put_one(s, &t, "blobs", "big", &big, Expect::Absent)
        .await
        .unwrap();
    assert_eq!(s.get(&t, "blobs", "big").await.unwrap().unwrap().value, big);
    let mut too_big = big.clone();
    too_big.push(0);
    let mut b = Batch::new();
    put(&mut b, "blobs", "other", b"small", &[], Expect::Absent);
    put(&mut b, "blobs", "too-big", &too_big, &[], Expect::Absent);
    assert!(matches!(
        commit(s, &t, b).await,
        Err(Error::LimitExceeded { .. })
    ));
    assert_eq!(s.get(&t, "blobs", "other").await.unwrap(), None);
    let long_key = "k".repeat(limits.max_key_bytes + 1);
    assert!(matches!(
        put_one(s, &t, "blobs", &long_key, b"x", Expect::Any).await,
        Err(Error::LimitExceeded { .. })
    ));
    // A batch of many writes commits at once.
    let mut b = Batch::new();
    for i in 0..2000 {
        put(
            &mut b,
            "many",
            &format!("{i:05}"),
            &i.to_string().into_bytes(),
            &[("parity", if i % 2 == 0 { "even" } else { "odd" })],
            Expect::Absent,
        );
    }
    commit(s, &t, b).await.unwrap();
    assert_eq!(
        keys_of_lookup(s, &t, "many", "parity", "odd").await.len(),
        1000
    );
}

/// Unicode, emoji, SQL metacharacters and arbitrary bytes are stored and returned byte-exact.
pub async fn unicode_and_sql_metacharacters(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let nasty = [
        "'; DROP TABLE mf_records; --",
        "\"quoted\" \\backslash\\ %_like_% $1 ?1 :name",
        "上海市浦东新区 张三 13812345678",
        "emoji 😀🚀 and ZWJ 👩‍💻 and combining é",
        "tab\tnewline\nreturn\r",
        "ｆｕｌｌ－ｗｉｄｔｈ １００％",
    ];
    let mut b = Batch::new();
    for (i, text) in nasty.iter().enumerate() {
        put(
            &mut b,
            "texts",
            text,
            text.as_bytes(),
            &[("v", text)],
            Expect::Absent,
        );
        b.append("texts_log", format!("{i}:{text}").into_bytes());
    }
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    put(&mut b, "texts", "binary", &all_bytes, &[], Expect::Absent);
    commit(s, &t, b).await.unwrap();
    for text in nasty {
        let r = s.get(&t, "texts", text).await.unwrap().expect(text);
        assert_eq!(r.key, text);
        assert_eq!(r.value, text.as_bytes());
        assert_eq!(keys_of_lookup(s, &t, "texts", "v", text).await, [text]);
    }
    assert_eq!(
        s.get(&t, "texts", "binary").await.unwrap().unwrap().value,
        all_bytes
    );
    let log = s.read_journal(&t, "texts_log", 0, 100).await.unwrap();
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.payload, format!("{i}:{}", nasty[i]).into_bytes());
    }
    // Listing orders keys byte-wise (UTF-8 code point order) on every backend.
    let listed: Vec<String> = s
        .list(&t, "texts", &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.key)
        .collect();
    let mut expected: Vec<String> = nasty.iter().map(|s| s.to_string()).collect();
    expected.push("binary".into());
    expected.sort();
    assert_eq!(listed, expected);
}

/// Malformed batches are refused with a validation error before anything is written.
pub async fn invalid_batches_write_nothing(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let bad: Vec<(&str, Batch)> = vec![
        ("NUL in key", {
            let mut b = Batch::new();
            put(&mut b, "c", "ok", b"1", &[], Expect::Any);
            put(&mut b, "c", "bad\0key", b"1", &[], Expect::Any);
            b
        }),
        ("empty key", {
            let mut b = Batch::new();
            put(&mut b, "c", "ok", b"1", &[], Expect::Any);
            put(&mut b, "c", "", b"1", &[], Expect::Any);
            b
        }),
        ("bad collection name", {
            let mut b = Batch::new();
            put(&mut b, "c", "ok", b"1", &[], Expect::Any);
            put(&mut b, "Leads; DROP", "k", b"1", &[], Expect::Any);
            b
        }),
        ("same record twice", {
            let mut b = Batch::new();
            put(&mut b, "c", "ok", b"1", &[], Expect::Any);
            b.delete("c", "ok", Expect::Any);
            b
        }),
        ("bad journal name", {
            let mut b = Batch::new();
            put(&mut b, "c", "ok", b"1", &[], Expect::Any);
            b.append("", b"x".to_vec());
            b
        }),
        ("journal head expected twice", {
            let mut b = Batch::new();
            put(&mut b, "c", "ok", b"1", &[], Expect::Any);
            b.expect_head("j", 0).expect_head("j", 1);
            b
        }),
        ("bad expected journal name", {
            let mut b = Batch::new();
            put(&mut b, "c", "ok", b"1", &[], Expect::Any);
            b.expect_head("J J", 0);
            b
        }),
        ("NUL in idempotency fingerprint", {
            let mut b = Batch::new();
            put(&mut b, "c", "ok", b"1", &[], Expect::Any);
            b.claim_idempotency("nul-fingerprint", "fp\0", b"r".to_vec());
            b
        }),
    ];
    for (what, batch) in bad {
        match commit(s, &t, batch).await {
            Err(Error::Validation { .. }) => {}
            other => panic!("{what}: expected a validation error, got {other:?}"),
        }
        assert_eq!(
            s.get(&t, "c", "ok").await.unwrap(),
            None,
            "{what}: partial write"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Journal-head expectations: the fence of "several processes, one store".

fn committed(outcome: crate::Result<CommitOutcome>, what: &str) -> super::Receipt {
    match outcome {
        Ok(CommitOutcome::Committed(r)) => r,
        other => panic!("{what}: expected a commit, got {other:?}"),
    }
}

fn expect_stale(outcome: crate::Result<CommitOutcome>, journal: &str, expected: u64, actual: u64) {
    match outcome {
        Err(Error::StaleView {
            journal: j,
            expected: e,
            actual: a,
        }) => assert_eq!(
            (j.as_str(), e, a),
            (journal, expected, actual),
            "stale view figures"
        ),
        other => panic!("expected a stale view of {journal}, got {other:?}"),
    }
}

/// A journal's head is 0 when it is empty and n after n appends; expecting the current head
/// commits, and the receipt continues from it.
pub async fn journal_heads(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    for n in 0..5u64 {
        let head = s.journal_head(&t, "events").await.unwrap();
        assert_eq!(head, 2 * n, "head after {} appends", 2 * n);
        let mut b = Batch::new();
        b.expect_head("events", head)
            .append("events", vec![n as u8, 0])
            .append("events", vec![n as u8, 1]);
        let r = committed(commit(s, &t, b).await, "append at the head");
        assert_eq!(r.sequences, [head + 1, head + 2]);
        // Appends to another journal do not move this one.
        let mut b = Batch::new();
        b.append("other", vec![n as u8]);
        committed(commit(s, &t, b).await, "other journal");
    }
    assert_eq!(s.journal_head(&t, "events").await.unwrap(), 10);
    assert_eq!(journal_len(s, &t, "events").await, 10);
    assert_eq!(s.journal_head(&t, "other").await.unwrap(), 5);
    assert_eq!(s.journal_head(&t, "never_written").await.unwrap(), 0);
    // Another tenant's journal of the same name is empty.
    assert_eq!(s.journal_head(&TenantId::new(), "events").await.unwrap(), 0);
}

async fn append_n(s: &dyn Store, t: &TenantId, journal: &str, n: usize) {
    let mut b = Batch::new();
    for i in 0..n {
        b.append(journal, vec![i as u8]);
    }
    commit(s, t, b).await.expect("append");
}

/// A batch expecting a head the journal has moved past fails with [`Error::StaleView`] naming
/// the journal and both heads, before any version check, and writes nothing: no record, no
/// index entry, no append, no idempotency claim.
pub async fn stale_head_writes_nothing(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    seed_existing(s, &t).await;
    append_n(s, &t, "usage", 3).await;
    append_n(s, &t, "ledger", 2).await;

    // Stale on the only expectation.
    let mut b = mixed_batch();
    b.expect_head("usage", 2).append("usage", b"late".to_vec());
    expect_stale(commit(s, &t, b).await, "usage", 2, 3);
    assert_untouched(s, &t).await;

    // Current on one journal, stale on another, and a version conflict besides: the stale
    // view is reported and nothing of the batch is written, including the current journal's
    // append.
    let mut b = mixed_batch();
    put(&mut b, "acct", "missing", b"x", &[], Expect::Version(5));
    let mut b2 = Batch::new();
    b2.expect_head("ledger", 2)
        .expect_head("usage", 1)
        .append("ledger", b"late".to_vec())
        .append("usage", b"late".to_vec());
    b2.extend(b);
    expect_stale(commit(s, &t, b2.clone()).await, "usage", 1, 3);
    // The view being ahead of the store is stale too.
    let mut ahead = Batch::new();
    ahead.expect_head("usage", 9).append("usage", b"x".to_vec());
    expect_stale(commit(s, &t, ahead).await, "usage", 9, 3);

    assert_eq!(s.journal_head(&t, "usage").await.unwrap(), 3);
    assert_eq!(s.journal_head(&t, "ledger").await.unwrap(), 2);
    let r = s.get(&t, "acct", "existing").await.unwrap().unwrap();
    assert_eq!((r.version, r.value.as_slice()), (1, &b"before"[..]));
    assert_eq!(s.get(&t, "acct", "new").await.unwrap(), None);
    assert_eq!(journal_len(s, &t, "postings").await, 0);
    assert_eq!(s.idempotency(&t, "idem-1").await.unwrap(), None);

    // Caught up, the same work commits.
    let mut b = mixed_batch();
    b.expect_head("usage", 3).expect_head("ledger", 2);
    b.append("usage", b"now".to_vec());
    let r = committed(commit(s, &t, b).await, "after catching up");
    assert_eq!(r.sequences, [1, 4]);
}

/// A used idempotency key with the same fingerprint replays even when the heads it expected
/// have moved since (the first commit is the answer); with another fingerprint it is a
/// mismatch, not a stale view.
pub async fn replay_beats_stale_head(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let batch = |fp: &str| {
        let mut b = Batch::new();
        b.expect_head("usage", 0)
            .append("usage", b"consume 1".to_vec())
            .claim_idempotency("consume-1", fp, b"remaining 99".to_vec());
        b
    };
    committed(commit(s, &t, batch("fp")).await, "first");
    append_n(s, &t, "usage", 2).await;
    for _ in 0..2 {
        match commit(s, &t, batch("fp")).await {
            Ok(CommitOutcome::Replayed(r)) => assert_eq!(r, b"remaining 99"),
            other => panic!("expected a replay despite the stale head, got {other:?}"),
        }
    }
    match commit(s, &t, batch("other-fp")).await {
        Err(Error::IdempotencyMismatch { key }) => assert_eq!(key, "consume-1"),
        other => panic!("expected an idempotency mismatch, got {other:?}"),
    }
    assert_eq!(s.journal_head(&t, "usage").await.unwrap(), 3);
}

/// Several journals expected in one batch: all must be current; journals appended to without
/// an expectation are unconstrained.
pub async fn several_heads_in_one_batch(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    append_n(s, &t, "seats", 2).await;
    let mut b = Batch::new();
    b.expect_head("seats", 2)
        .expect_head("quota", 0)
        .append("quota", b"q1".to_vec())
        .append("seats", b"s3".to_vec())
        .append("audit", b"a1".to_vec());
    assert_eq!(
        committed(commit(s, &t, b).await, "three journals").sequences,
        [1, 3, 1]
    );
    append_n(s, &t, "audit", 1).await;
    let mut b = Batch::new();
    b.expect_head("quota", 1)
        .expect_head("seats", 3)
        .append("audit", b"a3".to_vec());
    assert_eq!(
        committed(commit(s, &t, b).await, "audit moved freely").sequences,
        [3]
    );
    let mut b = Batch::new();
    b.expect_head("seats", 3)
        .expect_head("quota", 0)
        .append("seats", b"late".to_vec());
    expect_stale(commit(s, &t, b).await, "quota", 0, 1);
    assert_eq!(s.journal_head(&t, "seats").await.unwrap(), 3);
}

/// A batch of head expectations alone is a fence: it commits (writing nothing) when the view is
/// current and fails with a stale view otherwise; a fence on a journal never written expects 0.
pub async fn pure_fence(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let fence = |heads: &[(&str, u64)]| {
        let mut b = Batch::new();
        for (j, h) in heads {
            b.expect_head(*j, *h);
        }
        b
    };
    let r = committed(commit(s, &t, fence(&[("usage", 0)])).await, "empty fence");
    assert!(r.versions.is_empty() && r.sequences.is_empty());
    append_n(s, &t, "usage", 2).await;
    committed(
        commit(s, &t, fence(&[("usage", 2), ("never", 0)])).await,
        "current",
    );
    expect_stale(commit(s, &t, fence(&[("usage", 1)])).await, "usage", 1, 2);
    expect_stale(commit(s, &t, fence(&[("never", 1)])).await, "never", 1, 0);
    assert_eq!(s.journal_head(&t, "usage").await.unwrap(), 2);
    assert_eq!(s.journal_head(&t, "never").await.unwrap(), 0);
    assert!(s.read_journal(&t, "never", 0, 10).await.unwrap().is_empty());
}

/// What one racing writer saw commit: the head it expected and the sequence it got.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Won {
    expected: u64,
    seq: u64,
    payload: Vec<u8>,
}

/// `writers` tasks, each over the store `stores[task % len]`, loop read-head → commit (expect
/// the head, append, put a counter record at head + 1) until `target` commits succeeded in all.
/// Then: the journal is gap-free and holds exactly the successful commits' entries at the
/// sequences their receipts named, each commit's sequence is its expected head + 1, and the
/// counter record holds the last one (no lost update).
async fn race_on_one_head(stores: Vec<Arc<dyn Store>>, writers: usize, target: usize) {
    let t = TenantId::new();
    let successes = Arc::new(AtomicUsize::new(0));
    let won = Arc::new(Mutex::new(Vec::<Won>::new()));
    let mut handles = Vec::new();
    for w in 0..writers {
        let store = stores[w % stores.len()].clone();
        let (successes, won) = (successes.clone(), won.clone());
        handles.push(tokio::spawn(async move {
            let mut attempt = 0u32;
            while successes.load(Ordering::SeqCst) < target {
                attempt += 1;
                let head = match store.journal_head(&t, "race").await {
                    Ok(h) => h,
                    Err(e) if e.is_retryable() => continue,
                    Err(e) => panic!("journal_head: {e}"),
                };
                let payload = format!("w{w}-a{attempt}").into_bytes();
                let mut b = Batch::new();
                b.expect_head("race", head)
                    .append("race", payload.clone())
                    .put(
                        "race_state",
                        "counter",
                        (head + 1).to_string().into_bytes(),
                        vec![],
                        Expect::Any,
                    );
                match store.commit(&t, b).await {
                    Ok(CommitOutcome::Committed(r)) => {
                        successes.fetch_add(1, Ordering::SeqCst);
                        won.lock().unwrap_or_else(|e| e.into_inner()).push(Won {
                            expected: head,
                            seq: r.sequences[0],
                            payload,
                        });
                    }
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(Error::StaleView { .. }) => {}
                    // A busy backend may refuse before writing anything; the writer retries.
                    Err(Error::Backend {
                        retryable: true, ..
                    }) => {}
                    Err(e) => panic!("writer {w}: unexpected error {e}"),
                }
            }
        }));
    }
    for h in handles {
        h.await.expect("writer task");
    }
    let mut won = won.lock().unwrap_or_else(|e| e.into_inner()).clone();
    won.sort();
    assert!(won.len() >= target, "{} commits", won.len());
    let store = &*stores[0];
    let entries = store.read_journal(&t, "race", 0, 1_000_000).await.unwrap();
    assert_eq!(
        entries.len(),
        won.len(),
        "exactly the successful commits are in the journal"
    );
    for (i, (entry, w)) in entries.iter().zip(&won).enumerate() {
        assert_eq!(entry.seq, i as u64 + 1, "gap in the journal");
        assert_eq!(
            w.seq,
            w.expected + 1,
            "a commit landed past the head it expected"
        );
        assert_eq!((w.seq, &w.payload), (entry.seq, &entry.payload));
    }
    assert_eq!(
        store.journal_head(&t, "race").await.unwrap(),
        won.len() as u64
    );
    let counter = store
        .get(&t, "race_state", "counter")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        counter.value,
        won.len().to_string().into_bytes(),
        "lost update"
    );
    assert_eq!(counter.version, won.len() as u64);
}

/// 16 writers race on one journal head through one store handle until 200 commits succeed:
/// every commit that expected a head either landed right after it or failed as a stale view.
pub async fn racing_writers_on_one_head(store: Arc<dyn Store>) {
    race_on_one_head(vec![store], 16, 200).await;
}

/// The same race through two separately opened handles over one database (two SQLite stores on
/// one file, two PostgreSQL pools on one schema): stand-ins for two processes. Backends meant
/// to be shared by several processes must pass it.
pub async fn racing_writers_across_instances(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    race_on_one_head(vec![first, second], 16, 200).await;
}

/// The live records of [`large_batches`]' model: (collection, key) → (version, index entries).
type Model = std::collections::BTreeMap<(String, String), (u64, Vec<(String, String)>)>;

/// The records of `model` and every index look-up of [`large_batches`] match the store.
async fn assert_matches_model(s: &dyn Store, t: &TenantId, model: &Model, step: &str) {
    assert_get_many_matches_model(s, t, model, step).await;
    for collection in ["a", "b"] {
        let page = s
            .list(t, collection, &PageRequest::first(1000))
            .await
            .expect("list");
        let listed: Vec<(String, u64)> = page
            .items
            .iter()
            .map(|r| (r.key.clone(), r.version))
            .collect();
        let expected: Vec<(String, u64)> = model
            .iter()
            .filter(|((c, _), _)| c == collection)
            .map(|((_, k), (v, _))| (k.clone(), *v))
            .collect();
        assert_eq!(listed, expected, "{step}: records of {collection}");
        for (name, value) in [("tier", "0"), ("tier", "1"), ("tier", "2"), ("all", "x")] {
            let expected: Vec<String> = model
                .iter()
                .filter(|((c, _), (_, ix))| {
                    c == collection && ix.iter().any(|(n, v)| n == name && v == value)
                })
                .map(|((_, k), _)| k.clone())
                .collect();
            assert_eq!(
                keys_of_lookup(s, t, collection, name, value).await,
                expected,
                "{step}: look-up {collection} {name}={value}"
            );
        }
    }
}

/// `get_many` of every key the model has ever had, backwards, with one key twice and one
/// never written, answers what the model holds for each, in the keys' order.
async fn assert_get_many_matches_model(s: &dyn Store, t: &TenantId, model: &Model, step: &str) {
    for collection in ["a", "b"] {
        let mut keys: Vec<String> = (0..180).rev().map(|i| format!("r{i:03}")).collect();
        keys.insert(7, "r000".to_string());
        keys.push("never".to_string());
        let got: Vec<Option<u64>> = s
            .get_many(t, collection, &keys)
            .await
            .expect("get_many")
            .into_iter()
            .zip(&keys)
            .map(|(r, k)| {
                r.map(|r| {
                    assert_eq!(&r.key, k, "{step}: get_many answers in the keys' order");
                    r.version
                })
            })
            .collect();
        let expected: Vec<Option<u64>> = keys
            .iter()
            .map(|k| {
                model
                    .get(&(collection.to_string(), k.clone()))
                    .map(|(v, _)| *v)
            })
            .collect();
        assert_eq!(got, expected, "{step}: get_many of {collection}");
    }
}

/// Batches of 150–180 writes over two collections — more than one multi-row statement holds —
/// create records, update them (moving their index entries, or keeping them), delete some, and
/// a batch whose 140th write conflicts writes nothing; versions and every look-up follow a
/// model throughout.
pub async fn large_batches(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let collection = |i: usize| if i.is_multiple_of(2) { "a" } else { "b" };
    let key = |i: usize| format!("r{i:03}");
    let mut model = Model::new();
    let stage = |b: &mut Batch, model: &mut Model, i: usize, round: u64, e: Expect| {
        let mut ix = vec![("tier".to_string(), ((i + round as usize) % 3).to_string())];
        if (i + round as usize).is_multiple_of(5) {
            ix.push(("all".to_string(), "x".to_string()));
        }
        let borrowed: Vec<(&str, &str)> =
            ix.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        put(
            b,
            collection(i),
            &key(i),
            format!("{round}-{i}").as_bytes(),
            &borrowed,
            e,
        );
        model.insert((collection(i).to_string(), key(i)), (round, ix));
    };

    // 150 new records.
    let mut b = Batch::new();
    for i in 0..150 {
        stage(&mut b, &mut model, i, 1, Expect::Absent);
    }
    let CommitOutcome::Committed(r) = commit(s, &t, b).await.expect("create") else {
        panic!("replay without an idempotency key");
    };
    assert_eq!(r.versions, vec![1; 150]);
    assert_matches_model(s, &t, &model, "after creating").await;

    // Update 0..100 (new values and index entries), delete 100..120, create 150..180.
    let mut b = Batch::new();
    for i in 0..100 {
        stage(&mut b, &mut model, i, 2, Expect::Version(1));
    }
    for i in 100..120 {
        b.delete(collection(i), key(i), Expect::Version(1));
        model.remove(&(collection(i).to_string(), key(i)));
    }
    for i in 150..180 {
        stage(&mut b, &mut model, i, 1, Expect::Absent);
    }
    let CommitOutcome::Committed(r) = commit(s, &t, b).await.expect("update") else {
        panic!("replay without an idempotency key");
    };
    let mut expected = vec![2; 100];
    expected.extend([0; 20]);
    expected.extend([1; 30]);
    assert_eq!(r.versions, expected);
    assert_matches_model(s, &t, &model, "after updating").await;
    for i in [0, 63, 64, 99, 150, 179] {
        let record = s
            .get(&t, collection(i), &key(i))
            .await
            .expect("get")
            .expect("live");
        let round = model[&(collection(i).to_string(), key(i))].0;
        assert_eq!(record.value, format!("{round}-{i}").into_bytes());
    }

    // 150 updates of which the 140th expects a version its record does not have: nothing.
    let mut b = Batch::new();
    let mut unchanged = model.clone();
    for (n, i) in (0..100).chain(120..170).enumerate() {
        let current = model[&(collection(i).to_string(), key(i))].0;
        let expect = if n == 139 { current + 1 } else { current };
        stage(&mut b, &mut unchanged, i, 3, Expect::Version(expect));
    }
    let err = commit(s, &t, b)
        .await
        .expect_err("the 140th write conflicts");
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_matches_model(s, &t, &model, "after the refused batch").await;

    // 0..70 again with the index entries they have: new values and versions, same look-ups.
    let mut b = Batch::new();
    for i in 0..70 {
        let at = (collection(i).to_string(), key(i));
        let (version, ix) = model[&at].clone();
        let borrowed: Vec<(&str, &str)> =
            ix.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        put(
            &mut b,
            collection(i),
            &key(i),
            b"again",
            &borrowed,
            Expect::Version(version),
        );
        model.insert(at, (version + 1, ix));
    }
    commit(s, &t, b).await.expect("same index entries");
    assert_matches_model(s, &t, &model, "after putting the same index entries").await;
    let record = s.get(&t, "a", &key(0)).await.expect("get").expect("live");
    assert_eq!(record.value, b"again");
}

/// `get_many` answers one entry per key in the keys' order — values and versions as `get`
/// reads them, `None` for absent and deleted keys, twice for a key given twice — nothing for
/// no keys, and nothing of another tenant's or another collection's records.
pub async fn get_many(store: Arc<dyn Store>) {
    let s = &*store;
    let (t, other) = (TenantId::new(), TenantId::new());
    assert!(s.get_many(&t, "c", &[]).await.expect("no keys").is_empty());
    let absent = s
        .get_many(&t, "c", &["x".to_string()])
        .await
        .expect("unknown tenant");
    assert_eq!(absent.len(), 1);
    assert!(
        absent[0].is_none(),
        "a tenant that wrote nothing has no records"
    );
    let mut b = Batch::new();
    for i in 0..40 {
        put(
            &mut b,
            "c",
            &format!("k{i}"),
            format!("v{i}").as_bytes(),
            &[],
            Expect::Absent,
        );
    }
    put(&mut b, "d", "k1", b"other collection", &[], Expect::Absent);
    commit(s, &t, b).await.expect("seed");
    put_one(s, &other, "c", "k2", b"other tenant", Expect::Absent)
        .await
        .expect("other tenant");
    let mut b = Batch::new();
    put(&mut b, "c", "k3", b"v3 again", &[], Expect::Version(1));
    b.delete("c", "k4", Expect::Version(1));
    commit(s, &t, b).await.expect("update and delete");

    let keys: Vec<String> = ["k3", "k4", "zz", "k1", "k3", "k39", "k2"]
        .iter()
        .map(|k| k.to_string())
        .collect();
    let got = s.get_many(&t, "c", &keys).await.expect("get_many");
    let seen: Vec<Option<(String, u64, Vec<u8>)>> = got
        .into_iter()
        .map(|r| r.map(|r| (r.key, r.version, r.value)))
        .collect();
    let rec = |k: &str, v: u64, value: &str| Some((k.to_string(), v, value.as_bytes().to_vec()));
    assert_eq!(
        seen,
        vec![
            rec("k3", 2, "v3 again"),
            None,
            None,
            rec("k1", 1, "v1"),
            rec("k3", 2, "v3 again"),
            rec("k39", 1, "v39"),
            rec("k2", 1, "v2"),
        ]
    );
    for (i, r) in s
        .get_many(&t, "c", &keys)
        .await
        .expect("again")
        .iter()
        .enumerate()
    {
        let one = s.get(&t, "c", &keys[i]).await.expect("get");
        assert_eq!(
            r.as_ref().map(|r| (&r.key, r.version, &r.value)),
            one.as_ref().map(|r| (&r.key, r.version, &r.value)),
            "get_many and get agree on {}",
            keys[i]
        );
    }
    let theirs = s
        .get_many(&other, "c", &["k1".to_string(), "k2".to_string()])
        .await
        .expect("other tenant");
    assert!(theirs[0].is_none(), "another tenant's record is not read");
    assert_eq!(
        theirs[1].as_ref().map(|r| r.value.clone()),
        Some(b"other tenant".to_vec())
    );
    // Many keys in one call (more than SQLite binds in one statement).
    let many: Vec<String> = (0..1500).map(|i| format!("k{}", i % 50)).collect();
    let got = s.get_many(&t, "c", &many).await.expect("many keys");
    assert_eq!(got.len(), 1500);
    for (k, r) in many.iter().zip(&got) {
        let n: usize = k[1..].parse().expect("number");
        assert_eq!(r.is_some(), n < 40 && n != 4, "{k}");
    }
}

/// A record may declare the same index entry more than once (two tags that happen to be equal,
/// a mobile number given as phone and as WeChat id): it is indexed once under it, the put
/// succeeds on every backend, and later puts and deletes keep the index in step.
pub async fn repeated_index_entries(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let mut b = Batch::new();
    put(
        &mut b,
        "leads",
        "l1",
        b"1",
        &[("tag", "vip"), ("owner", "li"), ("tag", "vip")],
        Expect::Absent,
    );
    put(
        &mut b,
        "leads",
        "l2",
        b"2",
        &[("tag", "vip")],
        Expect::Absent,
    );
    commit(s, &t, b)
        .await
        .expect("a put with a repeated index entry");
    assert_eq!(
        keys_of_lookup(s, &t, "leads", "tag", "vip").await,
        ["l1", "l2"]
    );
    // Updated with the entry repeated again, then once: still found once.
    put_one(s, &t, "leads", "l1", b"1b", Expect::Version(1))
        .await
        .expect("drop every entry");
    let mut b = Batch::new();
    put(
        &mut b,
        "leads",
        "l1",
        b"1c",
        &[("tag", "new"), ("tag", "new")],
        Expect::Version(2),
    );
    commit(s, &t, b).await.expect("repeat an entry on update");
    assert_eq!(keys_of_lookup(s, &t, "leads", "tag", "vip").await, ["l2"]);
    assert_eq!(keys_of_lookup(s, &t, "leads", "tag", "new").await, ["l1"]);
    assert!(keys_of_lookup(s, &t, "leads", "owner", "li")
        .await
        .is_empty());
    let mut b = Batch::new();
    b.delete("leads", "l1", Expect::Version(3));
    commit(s, &t, b).await.expect("delete");
    assert!(keys_of_lookup(s, &t, "leads", "tag", "new")
        .await
        .is_empty());
}

/// Reads given names, keys and cursors that no write can create — a NUL anywhere, a name
/// outside the storage-name alphabet, a megabyte of text — find nothing on every backend
/// (never a backend error), and a page cursor crafted with a NUL in it continues byte-wise
/// after it, as any other cursor does.
pub async fn odd_bytes_in_reads(store: Arc<dyn Store>) {
    let s = &*store;
    let t = TenantId::new();
    let mut b = Batch::new();
    for k in ["a", "a\u{1}", "b"] {
        put(&mut b, "odd", k, b"1", &[("ix", "v")], Expect::Absent);
    }
    b.append("odd_log", b"1".to_vec());
    b.claim_idempotency("odd-claim", "fp", b"r".to_vec());
    committed(commit(s, &t, b).await, "seed");
    let long = "x".repeat(1 << 20);
    let first = PageRequest::first(10);
    for odd in [
        "a\0",
        "\0",
        "odd\0",
        "odd_log\0",
        "odd-claim\0",
        &long,
        "Odd Name",
    ] {
        let shown = crate::error::quote_input(odd);
        let read = |what: &str, r: crate::Result<bool>| match r {
            Ok(nothing) => assert!(nothing, "{what} {shown}: found something"),
            Err(e) => panic!("{what} {shown}: {e}"),
        };
        read("get key", s.get(&t, "odd", odd).await.map(|r| r.is_none()));
        read(
            "get collection",
            s.get(&t, odd, "a").await.map(|r| r.is_none()),
        );
        let keys = [odd.to_string(), "a".to_string()];
        read(
            "get_many key",
            s.get_many(&t, "odd", &keys)
                .await
                .map(|r| r[0].is_none() && r[1].is_some()),
        );
        read(
            "get_many collection",
            s.get_many(&t, odd, &keys)
                .await
                .map(|r| r.iter().all(Option::is_none)),
        );
        read(
            "list collection",
            s.list(&t, odd, &first).await.map(|p| p.items.is_empty()),
        );
        read(
            "lookup value",
            s.lookup(&t, "odd", "ix", odd, &first)
                .await
                .map(|p| p.items.is_empty()),
        );
        read(
            "lookup index",
            s.lookup(&t, "odd", odd, "v", &first)
                .await
                .map(|p| p.items.is_empty()),
        );
        read(
            "lookup collection",
            s.lookup(&t, odd, "ix", "v", &first)
                .await
                .map(|p| p.items.is_empty()),
        );
        read(
            "read_journal",
            s.read_journal(&t, odd, 0, 10).await.map(|e| e.is_empty()),
        );
        read(
            "journal_head",
            s.journal_head(&t, odd).await.map(|h| h == 0),
        );
        read(
            "idempotency",
            s.idempotency(&t, odd).await.map(|c| c.is_none()),
        );
    }
    // A crafted cursor: the keys after "a\0zzz" byte-wise are "a\u{1}" and "b".
    let crafted = PageRequest::next(10, super::Cursor::after("a\0zzz"));
    let keys = |p: super::Page<super::Record>| -> Vec<String> {
        p.items.into_iter().map(|r| r.key).collect()
    };
    let listed = s
        .list(&t, "odd", &crafted)
        .await
        .expect("list after a NUL cursor");
    assert_eq!(keys(listed), ["a\u{1}", "b"]);
    let found = s
        .lookup(&t, "odd", "ix", "v", &crafted)
        .await
        .expect("lookup after a NUL cursor");
    assert_eq!(keys(found), ["a\u{1}", "b"]);
}
