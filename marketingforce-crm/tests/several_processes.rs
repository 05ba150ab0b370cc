//! Lead capture with several processes over one store: each "process" is its own [`Crm`] (its
//! own dedupe engine and allocator state) over its own store handle — memory (one shared map),
//! a SQLite file opened once per process, and PostgreSQL (one pool per process; skipped with a
//! message when `MARKETINGFORCE_TEST_POSTGRES_URL` is unset). One lead per identity under any
//! routing, keys replay across processes, and a capture dropped mid-commit leaves no ghost.

use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use marketingforce_core::storage::{
    poll_then_drop, Fault, FaultPlan, FaultyStore, MemoryStore, PostgresOptions, PostgresStore,
    SqliteStore, Store,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_crm::crypto::KeyRing;
use marketingforce_crm::model::{LeadStatus, Source};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::{CaptureOutcome, Crm};

const IDENTITIES: usize = 60;

fn crm(store: Arc<dyn Store>) -> Crm {
    // Every process holds the same key material (from the operator's key store).
    Crm::builder(
        &marketingforce_core::env::Env::builder(store)
            .keys(Arc::new(KeyRing::new("k1", [7; 32])))
            .build(),
    )
    .build()
    .unwrap()
}

fn mobile(i: usize) -> String {
    format!("139{:08}", 10_000 + i)
}

async fn live_leads(crm: &Crm, tenant: &TenantId) -> usize {
    crm.all_leads(tenant)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.status == LeadStatus::Active)
        .count()
}

/// Sequential then concurrent captures of shared identities routed over the processes: one
/// live lead per identity, a key replayed on another process returns the first outcome.
async fn one_lead_per_identity(stores: Vec<Arc<dyn Store>>) {
    let tenant = TenantId::new();
    let processes: Vec<Arc<Crm>> = stores.iter().map(|s| Arc::new(crm(s.clone()))).collect();
    let (a, b) = (&processes[0], &processes[1]);

    // The same mobile on A, then — sequentially — on B: B merges into A's lead.
    let first = a
        .capture(
            &tenant,
            CaptureRequest::new(Source::OwnSite).mobile("13812345678"),
            &IdempotencyKey::from_static("first"),
        )
        .await
        .unwrap();
    let second = b
        .capture(
            &tenant,
            CaptureRequest::new(Source::WeCom)
                .mobile("13812345678")
                .name("王伟"),
            &IdempotencyKey::from_static("second"),
        )
        .await
        .unwrap();
    assert!(matches!(first, CaptureOutcome::Created { .. }), "{first:?}");
    assert!(
        matches!(second, CaptureOutcome::Merged { .. }),
        "{second:?}"
    );
    assert_eq!(first.lead(), second.lead());
    // A's key replayed on B: the first outcome, nothing written.
    let replay = b
        .capture(
            &tenant,
            CaptureRequest::new(Source::OwnSite).mobile("13812345678"),
            &IdempotencyKey::from_static("first"),
        )
        .await
        .unwrap();
    assert_eq!(replay, first);

    // Every identity sent once to every process, concurrently.
    let mut tasks = Vec::new();
    for i in 0..IDENTITIES {
        for (p, crm) in processes.iter().enumerate() {
            let crm = crm.clone();
            tasks.push(tokio::spawn(async move {
                let request = CaptureRequest::new(Source::OwnSite).mobile(mobile(i));
                let key = IdempotencyKey::new(format!("id-{i}-via-{p}")).unwrap();
                // Under this much contention a capture may run out of attempts and answer a
                // retryable stale view: a client sends it again with the same key.
                loop {
                    match crm.capture(&tenant, request.clone(), &key).await {
                        Err(e) if e.is_retryable() => continue,
                        other => return other,
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for p in &processes {
        assert_eq!(
            live_leads(p, &tenant).await,
            IDENTITIES + 1,
            "one live lead per identity"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lead_per_identity_in_memory() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    one_lead_per_identity(vec![store.clone(), store.clone(), store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lead_per_identity_on_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(SqliteStore::open(&path).await.unwrap()));
    }
    one_lead_per_identity(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lead_per_identity_on_postgres() {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = std::env::var("MARKETINGFORCE_TEST_POSTGRES_SCHEMA")
        .unwrap_or_else(|_| "mf_crm_processes".into());
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        let options = PostgresOptions::new(url.clone()).schema(schema.clone());
        stores.push(Arc::new(
            PostgresStore::connect_with(options).await.unwrap(),
        ));
    }
    one_lead_per_identity(stores).await;
}

/// A capture dropped while its commit hangs (before or after it reached the store) leaves no
/// lead in memory that the store does not hold: later captures of the mobile name a lead that
/// exists, and retrying the key answers with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_capture_leaves_no_ghost_lead() {
    for fault in [Fault::HangBeforeCommit, Fault::HangAfterCommit] {
        let faulty = Arc::new(FaultyStore::new(
            Arc::new(MemoryStore::new()),
            FaultPlan::new(11),
        ));
        let crm = crm(faulty.clone());
        let tenant = TenantId::new();
        let request = || CaptureRequest::new(Source::OwnSite).mobile("13700000001");
        // Warm the state (the first call rebuilds it), then let the capture hang and drop it.
        crm.capture(
            &tenant,
            CaptureRequest::new(Source::Import).email("warm@example.org"),
            &IdempotencyKey::from_static("warm"),
        )
        .await
        .unwrap();
        faulty.script(fault);
        let dropped = poll_then_drop(
            crm.capture(&tenant, request(), &IdempotencyKey::from_static("dropped")),
            200,
        )
        .await;
        assert!(
            dropped.is_none(),
            "{fault:?}: the capture hung and was dropped"
        );
        let later = crm
            .capture(&tenant, request(), &IdempotencyKey::from_static("later"))
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        crm.lead(&tenant, &later.lead())
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: the lead it names exists: {e}"));
        let retried = crm
            .capture(&tenant, request(), &IdempotencyKey::from_static("dropped"))
            .await
            .unwrap();
        crm.lead(&tenant, &retried.lead())
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: the retried key names a lead that exists: {e}"));
        assert_eq!(retried.lead(), later.lead(), "{fault:?}");
        assert_eq!(live_leads(&crm, &tenant).await, 2, "{fault:?}");
    }
}

/// Points redeemed through two processes at once: never more than the member has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_are_never_redeemed_twice_across_processes() {
    use marketingforce_core::time::{Clock, ManualClock};
    use marketingforce_crm::ids::{LeadId, ProgramId};
    use marketingforce_crm::membership::{Membership, MembershipProgram};
    use marketingforce_crm::CrmError;

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let process = || {
        Arc::new(Membership::new(
            &marketingforce_core::env::Env::builder(store.clone())
                .clock(clock.clone())
                .build(),
        ))
    };
    let (a, b) = (process(), process());
    let tenant = TenantId::new();
    let program = MembershipProgram::example(ProgramId::new());
    a.save_program(&tenant, &program).await.unwrap();
    let lead = LeadId::new();
    a.enroll(&tenant, &program.id, &lead).await.unwrap();
    // 200 points available on a; b has not seen them yet.
    a.earn_task(
        &tenant,
        &program.id,
        &lead,
        "attend_event",
        &IdempotencyKey::from_static("earn"),
    )
    .await
    .unwrap();
    assert_eq!(
        b.balance(&tenant, &program.id, &lead)
            .await
            .unwrap()
            .available,
        200
    );
    let mut tasks = Vec::new();
    for i in 0..6 {
        let m = if i % 2 == 0 { a.clone() } else { b.clone() };
        let program = program.id;
        tasks.push(tokio::spawn(async move {
            loop {
                match m
                    .redeem(
                        &tenant,
                        &program,
                        &lead,
                        100,
                        "gift",
                        &IdempotencyKey::new(format!("r{i}")).unwrap(),
                    )
                    .await
                {
                    Err(e) if e.is_retryable() => continue,
                    other => return other,
                }
            }
        }));
    }
    let mut redeemed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => redeemed += 1,
            Err(CrmError::InsufficientPoints { .. }) => {}
            Err(e) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(redeemed, 2, "200 points, 100 per redemption");
    for m in [&a, &b] {
        assert_eq!(
            m.balance(&tenant, &program.id, &lead)
                .await
                .unwrap()
                .available,
            0
        );
    }
}
