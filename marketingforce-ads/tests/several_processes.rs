//! Ad operations with several processes over one store: each "process" is its own [`AdOps`]
//! (its own ledger engine) over the same store. Top-ups routed over the processes never exceed
//! platform funds or a credit limit, the ledger balances, and a reopened ledger holds every
//! acknowledged transfer exactly once.

mod common;

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::sync::Arc;

use common::*;
use marketingforce_ads::account::{Funding, TopUpRequest};
use marketingforce_ads::ledger::{
    Account, AccountFlags, AccountId, Ledger, Leg, TransferId, TransferSpec,
};
use marketingforce_ads::AdsError;
use marketingforce_core::money::Currency;
use marketingforce_core::storage::{MemoryStore, SqliteStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;

/// Twelve top-ups of 100 000 against 800 000 of platform funds, alternating between two
/// processes: exactly eight are accepted, and the refusals are true.
async fn funds_hold(store: Arc<dyn Store>) {
    let w = world_with(store.clone(), TenantId::new(), 7).await;
    let other = Arc::new(open_ops(store, w.tenant, w.clock.clone(), 107).await);
    other.attach_platform(w.p1.id, w.sim1.clone());
    other.attach_platform(w.p2.id, w.sim2.clone());
    let a = Arc::new(w.ops);
    let account = a
        .open_ad_account(&w.solution.id, &w.p1.id, &IdempotencyKey::from_static("s1"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let ops = if i % 2 == 0 { a.clone() } else { other.clone() };
        let account = account.id;
        tasks.push(tokio::spawn(async move {
            let request = TopUpRequest {
                account,
                amount: cny("100000"),
                funding: Funding::Credit,
            };
            // A client retries a retryable answer (a conflict under contention) with its key.
            loop {
                match ops
                    .top_up(
                        request.clone(),
                        &IdempotencyKey::new(format!("t{i}")).unwrap(),
                    )
                    .await
                {
                    Err(e) if e.is_retryable() => continue,
                    other => return other,
                }
            }
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(AdsError::PlatformFundsInsufficient { .. }) => {}
            Err(e) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(
        accepted, 8,
        "top-ups accepted against 800 000 of platform funds"
    );
    for ops in [&a, &other] {
        let exposure = ops.exposure(&w.solution.id).await.unwrap();
        assert_eq!(
            exposure.exposure,
            cny("800000"),
            "every process sees the same exposure"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_funds_hold_across_processes_in_memory() {
    funds_hold(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_funds_hold_across_processes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    funds_hold(Arc::new(
        SqliteStore::open(dir.path().join("ads.db")).await.unwrap(),
    ))
    .await;
}

/// Two ledgers of one tenant posting concurrently: every transfer is stored once, a reopened
/// ledger agrees with both, and an account that must not go negative never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ledgers_post_to_one_journal() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> = Arc::new(
        marketingforce_core::time::ManualClock::at_rfc3339("2026-03-01T00:00:00Z").unwrap(),
    );
    let tenant = TenantId::new();
    let a = Arc::new(
        Ledger::open(
            &Env::builder(store.clone()).clock(clock.clone()).build(),
            tenant,
        )
        .await
        .unwrap(),
    );
    let (funds, sink) = (AccountId::new(1), AccountId::new(2));
    let mut guarded = AccountFlags::NONE;
    guarded.debits_must_not_exceed_credits = true;
    a.create_accounts(vec![
        Account {
            id: funds,
            currency: Currency::CNY,
            code: 1,
            owner: 0,
            flags: guarded,
        },
        Account {
            id: sink,
            currency: Currency::CNY,
            code: 2,
            owner: 0,
            flags: AccountFlags::NONE,
        },
        Account {
            id: AccountId::new(3),
            currency: Currency::CNY,
            code: 3,
            owner: 0,
            flags: AccountFlags::NONE,
        },
    ])
    .await
    .unwrap();
    // 500 into the guarded account.
    a.post(vec![TransferSpec::posted(
        TransferId::new(1),
        vec![
            Leg::debit_minor(AccountId::new(3), 500, Currency::CNY),
            Leg::credit_minor(funds, 500, Currency::CNY),
        ],
    )])
    .await
    .unwrap();
    let b = Arc::new(
        Ledger::open(
            &Env::builder(store.clone()).clock(clock.clone()).build(),
            tenant,
        )
        .await
        .unwrap(),
    );
    // 80 debits of 10 from it, alternating: exactly 50 fit.
    let mut tasks = Vec::new();
    for i in 0..80u128 {
        let ledger = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let spec = TransferSpec::posted(
                TransferId::new(100 + i),
                vec![
                    Leg::debit_minor(funds, 10, Currency::CNY),
                    Leg::credit_minor(sink, 10, Currency::CNY),
                ],
            );
            // A retryable answer (out of attempts under contention) is sent again.
            loop {
                match ledger.post(vec![spec.clone()]).await {
                    Err(e) if e.is_retryable() => continue,
                    other => return other,
                }
            }
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(AdsError::Transfer { .. }) => {}
            Err(e) => panic!("unexpected answer: {e}"),
        }
    }
    assert_eq!(accepted, 50);
    let reopened = Ledger::open(&Env::builder(store).clock(clock).build(), tenant)
        .await
        .unwrap();
    for ledger in [&*a, &*b, &reopened] {
        let f = ledger.balance(funds).await.unwrap().unwrap();
        assert_eq!((f.credits_posted, f.debits_posted), (500, 500));
        assert_eq!(
            ledger.balance(sink).await.unwrap().unwrap().credits_posted,
            500
        );
        assert_eq!(ledger.read(|e| e.transfer_count()).await.unwrap(), 51);
    }
}

/// Checks read before a write — "no customer with this licence", "no overlapping agreement" —
/// hold across processes: two processes registering one licence, or signing overlapping
/// agreements for one customer, at once, cannot both succeed (each read before the other
/// wrote; a guard record in each write makes the later commit conflict). The refused one's
/// retry under its key gets the validation error a sequential call gets.
#[tokio::test]
async fn uniqueness_and_overlap_checks_hold_across_processes() {
    use marketingforce_ads::agreement::ServiceType;
    use marketingforce_ads::party::{uscc_with_check_digit, CustomerKind, NewCustomer};
    use marketingforce_core::storage::{FaultPlan, FaultyStore};
    use marketingforce_core::time::ManualClock;

    let faulty = Arc::new(FaultyStore::new(
        Arc::new(MemoryStore::new()),
        FaultPlan::new(1),
    ));
    let tenant = TenantId::new();
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-01T10:00:00+08:00").unwrap());
    let a = open_ops(faulty.clone(), tenant, clock.clone(), 1).await;
    let b = open_ops(faulty.clone(), tenant, clock.clone(), 2).await;
    let key = |p: &str, k: &str| IdempotencyKey::new(format!("{p}-{k}")).unwrap();
    let new = || NewCustomer {
        name: "上海某某贸易有限公司".into(),
        kind: CustomerKind::DirectAdvertiser,
        industry: "retail".into(),
        licence_number: uscc_with_check_digit("91310000MA1FL8XQ3").unwrap(),
    };
    // Both processes at once, every store call suspending once so that the two interleave
    // (each reads before the other writes); then each outcome settled as a client does (a
    // retryable answer retried with its key).
    let (ka, kb) = (key("a", "register"), key("b", "register"));
    faulty.suspend_at_every_call(true);
    let (mut ra, mut rb) = tokio::join!(
        a.register_customer(new(), &ka),
        b.register_customer(new(), &kb)
    );
    faulty.suspend_at_every_call(false);
    while matches!(&ra, Err(e) if e.is_retryable()) {
        ra = a.register_customer(new(), &ka).await;
    }
    while matches!(&rb, Err(e) if e.is_retryable()) {
        rb = b.register_customer(new(), &kb).await;
    }
    let (customer, refused) = match (ra, rb) {
        (Ok(c), Err(e)) | (Err(e), Ok(c)) => (c, e),
        other => panic!("one registration must succeed and one be refused: {other:?}"),
    };
    assert_eq!(refused.field(), Some("licence_number"), "{refused}");
    a.review_customer(
        &customer.id,
        &dossier(&customer),
        "审核员",
        &key("a", "review"),
    )
    .await
    .unwrap();
    let t = || terms(ServiceType::Solution, "3%", 30, "500000");
    let (ka, kb) = (key("a", "sign"), key("b", "sign"));
    faulty.suspend_at_every_call(true);
    let (mut sa, mut sb) = tokio::join!(
        a.sign_agreement(&customer.id, t(), &ka),
        b.sign_agreement(&customer.id, t(), &kb)
    );
    faulty.suspend_at_every_call(false);
    while matches!(&sa, Err(e) if e.is_retryable()) {
        sa = a.sign_agreement(&customer.id, t(), &ka).await;
    }
    while matches!(&sb, Err(e) if e.is_retryable()) {
        sb = b.sign_agreement(&customer.id, t(), &kb).await;
    }
    match (&sa, &sb) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => assert_eq!(e.field(), Some("start"), "{e}"),
        other => panic!("one agreement must be signed and one refused: {other:?}"),
    }
    assert_eq!(a.agreements_of(&customer.id).await.unwrap().len(), 1);
}
