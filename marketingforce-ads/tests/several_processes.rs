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
