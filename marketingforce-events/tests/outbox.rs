//! Outbox atomicity on memory, SQLite and PostgreSQL: an event is committed exactly when the
//! state change it describes is — a batch refused by a version conflict, a stale view or an
//! injected failure writes neither, a replayed idempotency key adds no second event — and the
//! example event catalogue generates its schema files.

mod common;

use std::sync::Arc;

use common::{LeadCaptured, QuotaThresholdReached, SettlementClosed};
use marketingforce_core::env::Env;
use marketingforce_core::error::Error;
use marketingforce_core::events::{
    schema_files, EventCatalog, EventContext, EventEnvelope, Outbox, OUTBOX_JOURNAL,
};
use marketingforce_core::storage::postgres::PostgresOptions;
use marketingforce_core::storage::{
    Batch, CommitOutcome, Expect, MemoryStore, PostgresStore, SqliteStore, Store,
};
use marketingforce_core::tenant::TenantId;

async fn atomicity(store: Arc<dyn Store>) {
    let env = Env::new(store.clone());
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    let event = |n| LeadCaptured {
        lead: format!("lead_{n}"),
        source: "import".into(),
        n,
    };
    let record = |batch: &mut Batch, key: &str, expect| {
        batch.put("example.leads", key, b"{}".to_vec(), vec![], expect);
    };
    let head = || async { store.journal_head(&tenant, OUTBOX_JOURNAL).await.unwrap() };
    let exists = |key: &'static str| {
        let store = store.clone();
        async move {
            store
                .get(&tenant, "example.leads", key)
                .await
                .unwrap()
                .is_some()
        }
    };

    // Committed: the change and its event.
    let mut batch = Batch::new();
    record(&mut batch, "a", Expect::Absent);
    let first = outbox
        .append(&tenant, &mut batch, &event(1), &EventContext::new())
        .await
        .unwrap();
    store.commit(&tenant, batch).await.unwrap();
    assert!(exists("a").await);
    let stored = store
        .read_journal(&tenant, OUTBOX_JOURNAL, 0, 10)
        .await
        .unwrap();
    assert_eq!(
        EventEnvelope::all_from_entry(&stored[0].payload).unwrap(),
        [first]
    );

    // A version conflict: neither.
    let mut batch = Batch::new();
    record(&mut batch, "b", Expect::Absent);
    record(&mut batch, "a", Expect::Absent);
    outbox
        .append(&tenant, &mut batch, &event(2), &EventContext::new())
        .await
        .unwrap();
    assert!(matches!(
        store.commit(&tenant, batch).await,
        Err(Error::Conflict { .. })
    ));
    assert!(!exists("b").await);
    assert_eq!(head().await, 1);

    // A stale view: neither.
    let mut batch = Batch::new();
    batch.expect_head("example.stream", 7);
    record(&mut batch, "c", Expect::Any);
    outbox
        .append(&tenant, &mut batch, &event(3), &EventContext::new())
        .await
        .unwrap();
    assert!(matches!(
        store.commit(&tenant, batch).await,
        Err(Error::StaleView { .. })
    ));
    assert!(!exists("c").await);
    assert_eq!(head().await, 1);

    // A backend failure after some writes: rolled back, neither.
    let mut batch = Batch::new();
    record(&mut batch, "d", Expect::Any);
    record(&mut batch, "e", Expect::Any);
    outbox
        .append(&tenant, &mut batch, &event(4), &EventContext::new())
        .await
        .unwrap();
    batch.fail_after_writes(1);
    assert!(store.commit(&tenant, batch).await.is_err());
    assert!(!exists("d").await && !exists("e").await);
    assert_eq!(head().await, 1);

    // A replayed idempotency key: the first commit's change and event, no second event.
    for attempt in 0..2 {
        let mut batch = Batch::new();
        record(&mut batch, "f", Expect::Any);
        outbox
            .append(&tenant, &mut batch, &event(5), &EventContext::new())
            .await
            .unwrap();
        batch.claim_idempotency("example.capture/k-5", "fp", b"\"ok\"".to_vec());
        let outcome = store.commit(&tenant, batch).await.unwrap();
        assert_eq!(matches!(outcome, CommitOutcome::Replayed(_)), attempt == 1);
    }
    assert!(exists("f").await);
    assert_eq!(head().await, 2);
}

#[tokio::test]
async fn outbox_atomicity_in_memory() {
    atomicity(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn outbox_atomicity_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("outbox.sqlite"))
        .await
        .unwrap();
    atomicity(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_atomicity_on_postgres() {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipping PostgreSQL outbox test: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = std::env::var("MARKETINGFORCE_TEST_POSTGRES_SCHEMA")
        .map_or_else(|_| "mf_events_test".to_string(), |s| format!("{s}_events"));
    let store = PostgresStore::connect_with(PostgresOptions::new(url).schema(schema))
        .await
        .unwrap();
    atomicity(Arc::new(store)).await;
}

#[test]
fn the_example_catalogue_generates_its_schema_files() {
    let catalog = EventCatalog::new("example")
        .with::<LeadCaptured>()
        .with::<QuotaThresholdReached>()
        .with::<SettlementClosed>();
    let files = schema_files(std::slice::from_ref(&catalog)).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        names,
        [
            "envelope.schema.json",
            "example.lead.captured.v1.schema.json",
            "example.quota.threshold_reached.v1.schema.json",
            "example.settlement.closed.v1.schema.json",
            "README.md"
        ]
    );
    let index = &files[4].contents;
    assert!(index.contains("| `example.lead.captured` | 1 | An example lead was captured"));
    // The staleness check: written once, then compared.
    let dir = tempfile::tempdir().unwrap();
    for f in &files {
        std::fs::write(dir.path().join(&f.path), &f.contents).unwrap();
    }
    for f in schema_files(std::slice::from_ref(&catalog)).unwrap() {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&f.path)).unwrap(),
            f.contents
        );
    }
    // The same event in two catalogues is refused.
    assert!(schema_files(&[catalog.clone(), catalog]).is_err());
}
