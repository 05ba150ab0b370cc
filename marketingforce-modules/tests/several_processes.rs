//! Metering with several processes over one store: each "process" is its own
//! [`EntitlementRegistry`] (its own books, its own group-commit writer) over its own store handle
//! — memory (shared map), a SQLite file opened once per process, and PostgreSQL (one pool per
//! process; skipped with a message when `MARKETINGFORCE_TEST_POSTGRES_URL` is unset). Quotas hold
//! under any routing, keys replay across processes, and a flush dropped mid-commit stores its
//! events exactly once.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use chrono::NaiveDate;
use marketingforce_core::storage::{
    poll_then_drop, Fault, FaultPlan, FaultyStore, MemoryStore, PostgresOptions, PostgresStore,
    SqliteStore, Store,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{AccountId, EntitlementRegistry, Grant, SeatChange};
use marketingforce_modules::ModulesError;

const QUOTA: u64 = 100;
const REQUESTS: u64 = 300;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap())
}

fn registry(store: Arc<dyn Store>) -> EntitlementRegistry {
    EntitlementRegistry::builder(
        &marketingforce_core::env::Env::builder(store)
            .clock(clock())
            .build(),
    )
    .build()
}

/// Three store handles over one SQLite file in `dir`, as three processes open it.
async fn sqlite_stores(dir: &std::path::Path) -> Vec<Arc<dyn Store>> {
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(
            SqliteStore::open(dir.join("shared.db")).await.unwrap(),
        ));
    }
    stores
}

/// Three PostgreSQL pools over one schema, or `None` (with a message) when no server is
/// configured.
async fn postgres_stores() -> Option<Vec<Arc<dyn Store>>> {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return None;
    };
    let schema = std::env::var("MARKETINGFORCE_TEST_POSTGRES_SCHEMA")
        .unwrap_or_else(|_| "mf_modules_processes".into());
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        let options = PostgresOptions::new(url.clone()).schema(schema.clone());
        stores.push(Arc::new(
            PostgresStore::connect_with(options).await.unwrap(),
        ));
    }
    Some(stores)
}

fn grant(tenant: TenantId) -> Grant {
    Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).quota(
        UsageUnit::ArticlesPublished,
        QUOTA,
        QuotaPeriod::Month,
    )
}

/// 300 concurrent 1-unit consumes routed round-robin over the processes (every tenth also
/// replayed on the next process): exactly the quota is accepted, every refusal is a quota
/// denial, replays are counted once, and a fresh process reads used = quota.
async fn quota_holds(stores: Vec<Arc<dyn Store>>) {
    let tenant = TenantId::new();
    let processes: Vec<Arc<EntitlementRegistry>> = stores
        .iter()
        .map(|s| Arc::new(registry(s.clone())))
        .collect();
    processes[0].grant(grant(tenant)).await.unwrap();
    let n = processes.len();
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let p = processes[i as usize % n].clone();
        let replay_on = processes[(i as usize + 1) % n].clone();
        tasks.push(tokio::spawn(async move {
            let key = IdempotencyKey::new(format!("article-{i}")).unwrap();
            let meter = p.load(&tenant).await.unwrap().meter();
            // A client retries an unknown outcome with the same key until it learns it.
            let mut first = meter
                .consume_durable(&UsageUnit::ArticlesPublished, 1u64, &key)
                .await;
            let mut retried = false;
            while matches!(&first, Err(e) if e.is_retryable()) {
                retried = true;
                first = meter
                    .consume_durable(&UsageUnit::ArticlesPublished, 1u64, &key)
                    .await;
            }
            if i % 10 == 0 {
                if let Ok(c) = &first {
                    assert!(!c.replayed || retried, "{key} first answer");
                    let again = replay_on.load(&tenant).await.unwrap().meter();
                    let r = again
                        .consume_durable(&UsageUnit::ArticlesPublished, 1u64, &key)
                        .await
                        .unwrap();
                    assert!(r.replayed, "{key} replayed on another process");
                }
            }
            // The retry of an event this process queued answers as a replay of it.
            first.map(|c| (c.replayed && !retried, c))
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok((false, _)) => accepted += 1,
            Ok((true, c)) => panic!("a first consume answered as a replay: {c:?}"),
            Err(ModulesError::QuotaExceeded { .. }) => {}
            Err(e) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(accepted, QUOTA, "accepted of {REQUESTS} over {n} processes");
    for p in &processes {
        p.flush().await.unwrap();
    }
    // A restarted process reads the store alone.
    let fresh = registry(stores[0].clone());
    let balance = fresh
        .load(&tenant)
        .await
        .unwrap()
        .meter()
        .balance(&UsageUnit::ArticlesPublished);
    assert_eq!(
        (balance.used.get(), balance.limit.get()),
        (QUOTA, QUOTA),
        "used of limit after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_holds_across_processes_in_memory() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    quota_holds(vec![store.clone(), store.clone(), store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_holds_across_processes_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    quota_holds(sqlite_stores(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_holds_across_processes_on_postgres() {
    if let Some(stores) = postgres_stores().await {
        quota_holds(stores).await;
    }
}

/// A process whose view is stale refuses nothing the store would allow: after another process
/// credited units back, a consume that looked refused is decided again on the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_checked_against_the_journal() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (a, b) = (registry(store.clone()), registry(store.clone()));
    let tenant = TenantId::new();
    a.grant(Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).quota(
        UsageUnit::LeadsStored,
        10,
        QuotaPeriod::Term,
    ))
    .await
    .unwrap();
    let (ma, mb) = (
        a.load(&tenant).await.unwrap().meter(),
        b.load(&tenant).await.unwrap().meter(),
    );
    ma.consume_durable(
        &UsageUnit::LeadsStored,
        10u64,
        &IdempotencyKey::from_static("import"),
    )
    .await
    .unwrap();
    // b catches up when its write is refused as stale, and sees the quota used up.
    let refused = mb
        .consume_durable(
            &UsageUnit::LeadsStored,
            1u64,
            &IdempotencyKey::from_static("one-more"),
        )
        .await;
    assert!(
        matches!(refused, Err(ModulesError::QuotaExceeded { .. })),
        "{refused:?}"
    );
    // a gives 4 back; b's view still says 0 left, but its answer is checked on the journal.
    ma.credit(
        &UsageUnit::LeadsStored,
        4u64,
        &IdempotencyKey::from_static("cleanup"),
    )
    .unwrap();
    a.flush().await.unwrap();
    let c = mb
        .consume_durable(
            &UsageUnit::LeadsStored,
            3u64,
            &IdempotencyKey::from_static("after-cleanup"),
        )
        .await
        .unwrap();
    assert_eq!(c.remaining.get(), 1);
    assert_eq!(mb.remaining(&UsageUnit::LeadsStored).get(), 1);
}

/// A flush dropped while its commit hangs after reaching the store puts its events back; the
/// next flush finds them in the journal and stores nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_flush_stores_each_event_once() {
    let faulty = Arc::new(FaultyStore::new(
        Arc::new(MemoryStore::new()),
        FaultPlan::new(7),
    ));
    let store: Arc<dyn Store> = faulty.clone();
    let reg = registry(store.clone());
    let tenant = TenantId::new();
    reg.grant(grant(tenant)).await.unwrap();
    let meter = reg.load(&tenant).await.unwrap().meter();
    for i in 0..5 {
        meter
            .consume(
                &UsageUnit::ArticlesPublished,
                1u64,
                &IdempotencyKey::new(format!("e{i}")).unwrap(),
            )
            .unwrap();
    }
    faulty.script(Fault::HangAfterCommit);
    assert!(poll_then_drop(reg.flush(), 50).await.is_none(), "hung");
    assert_eq!(reg.pending_events(), 5, "the events went back to the queue");
    reg.flush().await.unwrap();
    assert_eq!(reg.pending_events(), 0);
    let fresh = registry(store);
    let m = fresh.load(&tenant).await.unwrap().meter();
    assert_eq!(m.events_recorded(), 5);
    assert_eq!(
        m.balance(&UsageUnit::ArticlesPublished).used.get(),
        5,
        "stored once"
    );
    let chunks = faulty
        .inner()
        .read_journal(
            &tenant,
            marketingforce_modules::metering::USAGE_JOURNAL,
            0,
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        chunks.len(),
        1,
        "one chunk: the hung commit's; the retry wrote nothing"
    );
}

/// 30 accounts asking for 5 seats at once, routed over three processes: exactly 5 get one;
/// freeing one on a process that has not seen it assigned frees it.
async fn seat_limits_hold(stores: Vec<Arc<dyn Store>>) {
    const SEATS: u32 = 5;
    let tenant = TenantId::new();
    let processes: Vec<Arc<EntitlementRegistry>> = stores
        .iter()
        .map(|s| Arc::new(registry(s.clone())))
        .collect();
    let module = ModuleId::LEADS_ALLOCATION;
    processes[0]
        .grant(Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).seats(module.clone(), SEATS))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let p = processes[i % processes.len()].clone();
        let module = module.clone();
        tasks.push(tokio::spawn(async move {
            let account = AccountId::new(format!("sales-{i}")).unwrap();
            let e = p.load(&tenant).await.unwrap();
            // A retryable answer (out of attempts under contention) is sent again.
            loop {
                match e.assign_seat(&module, &account).await {
                    Err(err) if err.is_retryable() => continue,
                    other => return other.map(|c| (account, c)),
                }
            }
        }));
    }
    let mut holders = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok((account, SeatChange::Assigned)) => holders.push(account),
            Ok(other) => panic!("unexpected change {other:?}"),
            Err(ModulesError::SeatLimitReached { .. }) => {}
            Err(e) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(
        holders.len(),
        SEATS as usize,
        "seats assigned over the processes"
    );
    // Free one through every process in turn: exactly one frees it.
    let mut freed = 0;
    for p in &processes {
        let e = p.load(&tenant).await.unwrap();
        if e.unassign_seat(&module, &holders[0]).await.unwrap() == SeatChange::Unassigned {
            freed += 1;
        }
    }
    assert_eq!(freed, 1);
    let fresh = registry(stores[0].clone()).load(&tenant).await.unwrap();
    assert_eq!(fresh.seat_holders(&module).len(), SEATS as usize - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_limits_hold_across_processes_in_memory() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    seat_limits_hold(vec![store.clone(), store.clone(), store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_limits_hold_across_processes_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    seat_limits_hold(sqlite_stores(dir.path()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_limits_hold_across_processes_on_postgres() {
    if let Some(stores) = postgres_stores().await {
        seat_limits_hold(stores).await;
    }
}

/// A pack bought through one process is usable through another that loaded the tenant before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_made_elsewhere_are_seen() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (a, b) = (registry(store.clone()), registry(store.clone()));
    let tenant = TenantId::new();
    a.grant(grant(tenant)).await.unwrap();
    let mb = b.load(&tenant).await.unwrap().meter();
    assert_eq!(mb.remaining(&UsageUnit::ArticlesPublished).get(), QUOTA);
    a.grant(
        Grant::new(tenant, d("2026-03-01"), d("2027-03-01"))
            .purchased(UsageUnit::ArticlesPublished, 50),
    )
    .await
    .unwrap();
    let mb = b.load(&tenant).await.unwrap().meter();
    assert_eq!(
        mb.remaining(&UsageUnit::ArticlesPublished).get(),
        QUOTA + 50
    );
}

/// Grants written by the subscription flow (activation, add-ons) are seen by another process
/// that loaded the tenant before: they must move the grants journal like a manual grant does,
/// or that process's head check says its (empty) grants are current and it keeps refusing a
/// paying customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_grants_made_elsewhere_are_seen() {
    use marketingforce_core::money::Money;
    use marketingforce_modules::pricing::{QuoteRequest, Term};
    use marketingforce_modules::products::BundleId;
    use marketingforce_modules::subscriptions::{Payment, Signing, Subscriptions};

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let env = marketingforce_core::env::Env::builder(store.clone())
        .clock(clock())
        .build();
    let a = Arc::new(registry(store.clone()));
    let b = registry(store.clone());
    let subs = Subscriptions::builder(&env).registry(a.clone()).build();
    let tenant = TenantId::new();
    // Process b serves the tenant before it buys anything.
    assert!(!b.load(&tenant).await.unwrap().is_enabled(&ModuleId::T_TEXT));
    let key = |k: &'static str| IdempotencyKey::from_static(k);
    let req = QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-03-02"), 12));
    let s = subs.create_quote(&tenant, &req, &key("q")).await.unwrap();
    let signing = Signing {
        on: d("2026-03-02"),
        credit_months: 0,
        salesperson: None,
        partner: None,
    };
    subs.sign(&tenant, &s.id, &signing, &key("s"))
        .await
        .unwrap();
    let pay = Payment {
        on: d("2026-03-02"),
        amount: Money::cny("19800").unwrap(),
    };
    subs.record_payment(&tenant, &s.id, &pay, &key("p"))
        .await
        .unwrap();
    subs.activate(&tenant, &s.id, d("2026-03-02"), &key("a"))
        .await
        .unwrap();
    assert!(a.load(&tenant).await.unwrap().is_enabled(&ModuleId::T_TEXT));
    assert!(
        b.load(&tenant).await.unwrap().is_enabled(&ModuleId::T_TEXT),
        "process b still serves the grants from before the activation"
    );
}

/// A refusal from `consume_durable` is checked against the store before it is given — the
/// grants as well as the usage: a pack bought through another process is used, not refused,
/// by a handle this process loaded before (its grants are a cache of the grants journal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_checked_against_grants_made_elsewhere() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (a, b) = (registry(store.clone()), registry(store.clone()));
    let tenant = TenantId::new();
    a.grant(grant(tenant)).await.unwrap();
    let mb = b.load(&tenant).await.unwrap().meter();
    mb.consume_durable(
        &UsageUnit::ArticlesPublished,
        QUOTA,
        &IdempotencyKey::from_static("all-of-it"),
    )
    .await
    .unwrap();
    a.grant(
        Grant::new(tenant, d("2026-03-01"), d("2027-03-01"))
            .purchased(UsageUnit::ArticlesPublished, 50),
    )
    .await
    .unwrap();
    let c = mb
        .consume_durable(
            &UsageUnit::ArticlesPublished,
            3u64,
            &IdempotencyKey::from_static("from-the-pack"),
        )
        .await;
    assert_eq!(c.map(|c| c.remaining.get()).ok(), Some(47), "refused");
}

/// A store whose first `list` of one collection, once armed, waits until the test opens the
/// gate: a slow read overtaken by later ones.
#[derive(Debug)]
struct GatedStore {
    inner: Arc<dyn Store>,
    collection: &'static str,
    armed: std::sync::atomic::AtomicBool,
    entered: tokio::sync::Notify,
    gate: tokio::sync::Semaphore,
}

#[marketingforce_modules::paas::async_trait]
impl Store for GatedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn get(
        &self,
        tenant: &TenantId,
        collection: &str,
        key: &str,
    ) -> marketingforce_core::Result<Option<marketingforce_core::storage::Record>> {
        self.inner.get(tenant, collection, key).await
    }
    async fn list(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &marketingforce_core::storage::PageRequest,
    ) -> marketingforce_core::Result<
        marketingforce_core::storage::Page<marketingforce_core::storage::Record>,
    > {
        // Read first, then wait: the answer is as of before the wait.
        let answer = self.inner.list(tenant, collection, page).await;
        if collection == self.collection
            && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.entered.notify_one();
            let _permit = self.gate.acquire().await;
        }
        answer
    }
    async fn lookup(
        &self,
        tenant: &TenantId,
        collection: &str,
        index: &str,
        value: &str,
        page: &marketingforce_core::storage::PageRequest,
    ) -> marketingforce_core::Result<
        marketingforce_core::storage::Page<marketingforce_core::storage::Record>,
    > {
        self.inner
            .lookup(tenant, collection, index, value, page)
            .await
    }
    async fn read_journal(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> marketingforce_core::Result<Vec<marketingforce_core::storage::JournalEntry>> {
        self.inner.read_journal(tenant, journal, after, limit).await
    }
    async fn journal_head(
        &self,
        tenant: &TenantId,
        journal: &str,
    ) -> marketingforce_core::Result<u64> {
        self.inner.journal_head(tenant, journal).await
    }
    async fn idempotency(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> marketingforce_core::Result<Option<(String, Vec<u8>)>> {
        self.inner.idempotency(tenant, key).await
    }
    async fn commit(
        &self,
        tenant: &TenantId,
        batch: marketingforce_core::storage::Batch,
    ) -> marketingforce_core::Result<marketingforce_core::storage::CommitOutcome> {
        self.inner.commit(tenant, batch).await
    }
}

/// Two requests of one process bring a tenant's grants up to date at once, the first one's
/// read overtaken by a grant and by the second one: the older answer must not be installed
/// over the newer one, or the process keeps serving without the last grant while its head
/// check says it is current (until some other grant moves the journal again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overtaken_grants_reload_does_not_hide_a_newer_grant() {
    let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let gated = Arc::new(GatedStore {
        inner: shared.clone(),
        collection: "modules.grants",
        armed: std::sync::atomic::AtomicBool::new(false),
        entered: tokio::sync::Notify::new(),
        gate: tokio::sync::Semaphore::new(0),
    });
    let a = registry(shared.clone());
    let b = Arc::new(registry(gated.clone()));
    let tenant = TenantId::new();
    let pack = |n: u64| {
        Grant::new(tenant, d("2026-03-01"), d("2027-03-01"))
            .purchased(UsageUnit::ArticlesPublished, n)
    };
    a.grant(grant(tenant)).await.unwrap();
    b.load(&tenant).await.unwrap();
    a.grant(pack(10)).await.unwrap();
    // The first request's read of the grants is slow.
    gated.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let first = tokio::spawn({
        let b = b.clone();
        async move { b.load(&tenant).await.map(|_| ()) }
    });
    gated.entered.notified().await;
    // Meanwhile another pack is bought, and a second request reloads.
    a.grant(pack(20)).await.unwrap();
    let second = tokio::spawn({
        let b = b.clone();
        async move { b.load(&tenant).await.map(|_| ()) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    gated.gate.add_permits(1);
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    let e = b.load(&tenant).await.unwrap();
    assert_eq!(e.grants().len(), 3, "the last grant is missing");
    assert_eq!(
        e.meter().remaining(&UsageUnit::ArticlesPublished).get(),
        QUOTA + 30
    );
}

/// Seats bought through one process are assignable through a handle another process loaded
/// before: the seat limit is that of the grants as of the grants journal's head, not of the
/// grants the handle was loaded with (it refused with `SeatLimitReached`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_bought_elsewhere_are_assignable() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (a, b) = (registry(store.clone()), registry(store.clone()));
    let tenant = TenantId::new();
    let module = ModuleId::LEADS_ALLOCATION;
    let seats = |n| Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).seats(module.clone(), n);
    a.grant(seats(1)).await.unwrap();
    let eb = b.load(&tenant).await.unwrap();
    let account = |i: u32| AccountId::new(format!("sales-{i}")).unwrap();
    assert_eq!(
        eb.assign_seat(&module, &account(0)).await.unwrap(),
        SeatChange::Assigned
    );
    a.grant(seats(1)).await.unwrap();
    assert_eq!(
        eb.assign_seat(&module, &account(1)).await.unwrap(),
        SeatChange::Assigned,
        "the seat bought through process a"
    );
    assert!(matches!(
        eb.assign_seat(&module, &account(2)).await,
        Err(ModulesError::SeatLimitReached { limit: 2, .. })
    ));
}

/// A hold of the whole of a `u64::MAX` quota in one process and usage recorded by another:
/// once the first catches up, its view holds more than `u64::MAX` units in one bucket. Its
/// reads and checks answer (nothing left), never overflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_plus_another_process_usage_beyond_u64_leaves_nothing_without_overflow() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (first, second) = (registry(store.clone()), registry(store));
    let tenant = TenantId::new();
    let unit = UsageUnit::ArticlesPublished;
    first
        .grant(Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).quota(
            unit.clone(),
            u64::MAX,
            QuotaPeriod::Term,
        ))
        .await
        .unwrap();
    let holder = first.load(&tenant).await.unwrap();
    let other = second.load(&tenant).await.unwrap();
    holder
        .meter()
        .reserve(&unit, u64::MAX, &IdempotencyKey::from_static("hold"))
        .unwrap();
    other
        .meter()
        .consume_durable(&unit, 1u64, &IdempotencyKey::from_static("elsewhere"))
        .await
        .unwrap();
    holder.sync().await.unwrap();
    let meter = holder.meter();
    assert_eq!(meter.remaining(&unit).get(), 0);
    assert_eq!(meter.balance(&unit).remaining.get(), 0);
    assert!(matches!(
        meter.consume(&unit, 1u64, &IdempotencyKey::from_static("more")),
        Err(ModulesError::QuotaExceeded { .. })
    ));
}
