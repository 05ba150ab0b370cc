//! Ledger behaviour: idempotent ids, balancing, constraints, two-phase transfers, balances as of
//! any time, atomic batches, durability — as examples and as properties.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use marketingforce_ads::ledger::{
    Account, AccountFlags, AccountId, Ledger, LedgerEngine, Leg, Outcome, PendingState, Side,
    TransferError, TransferId, TransferKind, TransferSpec,
};
use marketingforce_ads::AdsError;
use marketingforce_core::env::Env;
use marketingforce_core::money::Currency;
use marketingforce_core::storage::{
    Batch, CommitOutcome, JournalEntry, MemoryStore, Page, PageRequest, Record, Store,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_core::Result as CoreResult;
use proptest::prelude::*;

const CNY: Currency = Currency::CNY;
const USD: Currency = Currency::USD;

fn account(id: u128, currency: Currency, flags: AccountFlags) -> Account {
    Account {
        id: AccountId::new(id),
        currency,
        code: 1,
        owner: 0,
        flags,
    }
}

fn history() -> AccountFlags {
    AccountFlags {
        history: true,
        ..AccountFlags::NONE
    }
}

fn no_overdraft() -> AccountFlags {
    AccountFlags {
        debits_must_not_exceed_credits: true,
        history: true,
        ..AccountFlags::NONE
    }
}

fn two_leg(id: u128, debit: u128, credit: u128, amount: u64) -> TransferSpec {
    TransferSpec::posted(
        TransferId::new(id),
        vec![
            Leg::debit_minor(AccountId::new(debit), amount, CNY),
            Leg::credit_minor(AccountId::new(credit), amount, CNY),
        ],
    )
}

fn engine() -> LedgerEngine {
    let mut e = LedgerEngine::new();
    for id in 1..=3 {
        e.create_account(account(id, CNY, history())).unwrap();
    }
    e.create_account(account(4, CNY, no_overdraft())).unwrap();
    e.create_account(account(5, USD, history())).unwrap();
    e.create_account(account(6, USD, history())).unwrap();
    e
}

#[test]
fn replay_is_a_no_op_and_a_changed_replay_an_error() {
    let mut e = engine();
    let t = two_leg(1, 1, 2, 500);
    assert!(e.submit(std::slice::from_ref(&t), 10).unwrap()[0].is_created());
    let before = e.balance(AccountId::new(1)).unwrap();
    assert_eq!(
        e.submit(std::slice::from_ref(&t), 20).unwrap()[0],
        Outcome::Exists { timestamp: 10 }
    );
    assert_eq!(e.balance(AccountId::new(1)).unwrap(), before);
    let changed = two_leg(1, 1, 2, 501);
    let (i, err) = e.submit(&[changed], 30).unwrap_err();
    assert_eq!(
        (i, err),
        (
            0,
            TransferError::ExistsWithDifferentContent(TransferId::new(1))
        )
    );
    let mut meta_changed = t;
    meta_changed.code = 9;
    assert!(e.submit(&[meta_changed], 30).is_err());
    assert_eq!(e.transfer_count(), 1);
}

#[test]
fn unbalanced_and_malformed_transfers_are_refused() {
    let mut e = engine();
    let unbalanced = TransferSpec::posted(
        TransferId::new(1),
        vec![
            Leg::debit_minor(AccountId::new(1), 500, CNY),
            Leg::credit_minor(AccountId::new(2), 400, CNY),
        ],
    );
    let (_, err) = e.submit(&[unbalanced], 1).unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Unbalanced {
                debits: 500,
                credits: 400,
                ..
            }
        ),
        "{err}"
    );

    // Balanced in total but not per currency.
    let cross = TransferSpec::posted(
        TransferId::new(2),
        vec![
            Leg::debit_minor(AccountId::new(1), 500, CNY),
            Leg::credit_minor(AccountId::new(5), 500, USD),
        ],
    );
    assert!(matches!(
        e.submit(&[cross], 1).unwrap_err().1,
        TransferError::Unbalanced { .. }
    ));

    let wrong_currency = TransferSpec::posted(
        TransferId::new(3),
        vec![
            Leg::debit_minor(AccountId::new(1), 500, USD),
            Leg::credit_minor(AccountId::new(5), 500, USD),
        ],
    );
    assert!(matches!(
        e.submit(&[wrong_currency], 1).unwrap_err().1,
        TransferError::CurrencyMismatch { leg: 0, .. }
    ));
    let one_leg = TransferSpec::posted(
        TransferId::new(4),
        vec![Leg::debit_minor(AccountId::new(1), 500, CNY)],
    );
    assert!(matches!(
        e.submit(&[one_leg], 1).unwrap_err().1,
        TransferError::LegCount { count: 1, .. }
    ));
    assert!(matches!(
        e.submit(&[two_leg(5, 1, 1, 5)], 1).unwrap_err().1,
        TransferError::AccountOnBothSides(_)
    ));
    assert!(matches!(
        e.submit(&[two_leg(6, 1, 99, 5)], 1).unwrap_err().1,
        TransferError::AccountNotFound { leg: 1, .. }
    ));
    assert!(matches!(
        e.submit(&[two_leg(7, 1, 2, 0)], 1).unwrap_err().1,
        TransferError::ZeroAmount { leg: 0 }
    ));
    assert!(matches!(
        e.submit(&[two_leg(0, 1, 2, 1)], 1).unwrap_err().1,
        TransferError::IdMustNotBeZero
    ));
    assert_eq!(e.transfer_count(), 0);
}

#[test]
fn multi_leg_transfers_balance_per_currency() {
    let mut e = engine();
    let t = TransferSpec::posted(
        TransferId::new(1),
        vec![
            Leg::debit_minor(AccountId::new(1), 700, CNY),
            Leg::credit_minor(AccountId::new(2), 300, CNY),
            Leg::credit_minor(AccountId::new(3), 400, CNY),
            Leg::debit_minor(AccountId::new(5), 90, USD),
            Leg::credit_minor(AccountId::new(6), 90, USD),
        ],
    );
    e.submit(&[t], 1).unwrap();
    assert_eq!(e.balance(AccountId::new(3)).unwrap().credits_posted, 400);
    assert!(e
        .trial_balance_at(u64::MAX)
        .iter()
        .all(|(_, p, q)| *p == 0 && *q == 0));
}

#[test]
fn constraints_are_enforced_at_write_time_including_holds() {
    let mut e = engine();
    // Account 4 is a deposit: it may not be debited beyond its credits.
    e.submit(&[two_leg(1, 1, 4, 1_000)], 1).unwrap();
    let hold = TransferSpec::pending(
        TransferId::new(2),
        vec![
            Leg::debit_minor(AccountId::new(4), 800, CNY),
            Leg::credit_minor(AccountId::new(2), 800, CNY),
        ],
    );
    e.submit(&[hold], 2).unwrap();
    // 800 is reserved: another 300 would exceed the 1,000 of credits.
    let (_, err) = e.submit(&[two_leg(3, 4, 2, 300)], 3).unwrap_err();
    assert_eq!(err, TransferError::ExceedsCredits(AccountId::new(4)));
    // Voiding the hold frees it.
    e.submit(
        &[TransferSpec::void_pending(
            TransferId::new(4),
            TransferId::new(2),
        )],
        4,
    )
    .unwrap();
    e.submit(&[two_leg(3, 4, 2, 300)], 5).unwrap();
    assert_eq!(e.balance(AccountId::new(4)).unwrap().debits_pending, 0);
}

#[test]
fn pending_transfers_post_or_void_once() {
    let mut e = engine();
    let hold = TransferSpec::pending(
        TransferId::new(1),
        vec![
            Leg::debit_minor(AccountId::new(1), 250, CNY),
            Leg::credit_minor(AccountId::new(2), 250, CNY),
        ],
    );
    e.submit(&[hold], 1).unwrap();
    assert_eq!(
        e.pending_state(TransferId::new(1)),
        Some(PendingState::Open)
    );
    assert_eq!(e.balance(AccountId::new(1)).unwrap().debits_pending, 250);
    e.submit(
        &[TransferSpec::post_pending(
            TransferId::new(2),
            TransferId::new(1),
        )],
        2,
    )
    .unwrap();
    let b = e.balance(AccountId::new(1)).unwrap();
    assert_eq!((b.debits_pending, b.debits_posted), (0, 250));
    assert_eq!(
        e.pending_state(TransferId::new(1)),
        Some(PendingState::Posted {
            by: TransferId::new(2)
        })
    );
    let (_, err) = e
        .submit(
            &[TransferSpec::void_pending(
                TransferId::new(3),
                TransferId::new(1),
            )],
            3,
        )
        .unwrap_err();
    assert!(matches!(err, TransferError::AlreadyPosted { .. }));
    let (_, err) = e
        .submit(
            &[TransferSpec::post_pending(
                TransferId::new(4),
                TransferId::new(99),
            )],
            3,
        )
        .unwrap_err();
    assert_eq!(err, TransferError::PendingNotFound(TransferId::new(99)));
    let (_, err) = e
        .submit(
            &[TransferSpec::post_pending(
                TransferId::new(5),
                TransferId::new(2),
            )],
            3,
        )
        .unwrap_err();
    assert_eq!(err, TransferError::NotPending(TransferId::new(2)));
    // Replaying the post is a no-op.
    assert!(!e
        .submit(
            &[TransferSpec::post_pending(
                TransferId::new(2),
                TransferId::new(1)
            )],
            9
        )
        .unwrap()[0]
        .is_created());
}

#[test]
fn batches_are_atomic() {
    let mut e = engine();
    e.submit(&[two_leg(1, 1, 2, 100)], 1).unwrap();
    let before: Vec<_> = e.accounts().map(|(a, b)| (*a, *b)).collect();
    let batch = [
        two_leg(2, 1, 2, 5),
        two_leg(3, 2, 3, 7),
        two_leg(4, 4, 1, 1_000_000),
    ];
    let (i, err) = e.submit(&batch, 2).unwrap_err();
    assert_eq!(i, 2);
    assert_eq!(err, TransferError::ExceedsCredits(AccountId::new(4)));
    let after: Vec<_> = e.accounts().map(|(a, b)| (*a, *b)).collect();
    assert_eq!(before, after);
    assert_eq!(e.transfer_count(), 1);
    assert!(e.transfer(TransferId::new(2)).is_none());
    assert_eq!(e.last_timestamp(), 1);
}

#[test]
fn balances_as_of_any_time() {
    let mut e = engine();
    e.submit(&[two_leg(1, 1, 2, 100)], 10).unwrap();
    e.submit(&[two_leg(2, 1, 2, 50)], 20).unwrap();
    e.submit(&[two_leg(3, 2, 1, 30)], 30).unwrap();
    let at = |t| {
        e.balance_at(AccountId::new(1), t)
            .unwrap()
            .net_debit_posted()
    };
    assert_eq!(
        (at(5), at(10), at(15), at(20), at(30), at(99)),
        (0, 100, 100, 150, 120, 120)
    );
    // Timestamps never go backwards even if the clock does.
    let o = e.submit(&[two_leg(4, 1, 2, 1)], 5).unwrap();
    assert_eq!(o[0], Outcome::Created { timestamp: 31 });
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-01T00:00:00Z").unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn durable_ledger_survives_restart_and_rolls_back_failed_commits() {
    runtime().block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let tenant = TenantId::new();
        let ledger = Ledger::open(&Env::builder(store.clone()).clock(clock()).build(), tenant)
            .await
            .unwrap();
        ledger
            .create_accounts(vec![
                account(1, CNY, history()),
                account(2, CNY, no_overdraft()),
            ])
            .await
            .unwrap();
        ledger.post(vec![two_leg(1, 1, 2, 900)]).await.unwrap();
        let hold = TransferSpec::pending(
            TransferId::new(2),
            vec![
                Leg::debit_minor(AccountId::new(2), 400, CNY),
                Leg::credit_minor(AccountId::new(1), 400, CNY),
            ],
        );
        ledger.post(vec![hold]).await.unwrap();

        // A storage failure mid-commit leaves neither the store nor the memory state changed.
        let mut failing = Batch::new();
        failing.put("x", "k", b"v".to_vec(), vec![], Default::default());
        failing.fail_after_writes(1);
        let err = ledger
            .commit(vec![], vec![two_leg(3, 1, 2, 5)], failing)
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(ledger.transfer(TransferId::new(3)).await.unwrap().is_none());

        // An idempotent domain command: the second run is replayed and writes nothing.
        for _ in 0..2 {
            let mut batch = Batch::new();
            batch.claim_idempotency("cmd-1", "fp", b"\"done\"".to_vec());
            ledger
                .commit(vec![], vec![two_leg(4, 1, 2, 10)], batch)
                .await
                .unwrap();
        }
        let mut other = Batch::new();
        other.claim_idempotency("cmd-1", "another-fp", b"x".to_vec());
        let err = ledger
            .commit(vec![], vec![two_leg(5, 1, 2, 10)], other)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            AdsError::Core(marketingforce_core::Error::IdempotencyMismatch { .. })
        ));
        assert!(ledger.transfer(TransferId::new(5)).await.unwrap().is_none());

        let before = ledger
            .read(|e| e.transfers().map(|t| t.to_transfer()).collect::<Vec<_>>())
            .await
            .unwrap();
        let reopened = Ledger::open(&Env::builder(store.clone()).clock(clock()).build(), tenant)
            .await
            .unwrap();
        let after = reopened
            .read(|e| e.transfers().map(|t| t.to_transfer()).collect::<Vec<_>>())
            .await
            .unwrap();
        assert_eq!(before, after);
        assert_eq!(
            reopened.balance(AccountId::new(2)).await.unwrap(),
            ledger.balance(AccountId::new(2)).await.unwrap()
        );
        assert_eq!(
            reopened
                .read(|e| e.pending_state(TransferId::new(2)))
                .await
                .unwrap(),
            Some(PendingState::Open)
        );
        // Another tenant's ledger on the same store is empty.
        let stranger = Ledger::open(&Env::builder(store).clock(clock()).build(), TenantId::new())
            .await
            .unwrap();
        assert_eq!(stranger.read(|e| e.transfer_count()).await.unwrap(), 0);
    });
}

#[test]
fn group_commit_serves_concurrent_callers() {
    runtime().block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let tenant = TenantId::new();
        let ledger = Arc::new(
            Ledger::open(&Env::builder(store.clone()).clock(clock()).build(), tenant)
                .await
                .unwrap(),
        );
        ledger
            .create_accounts(vec![account(1, CNY, history()), account(2, CNY, history())])
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for caller in 0..16u128 {
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                for k in 0..20u128 {
                    let id = 1 + caller * 1000 + k;
                    ledger.post(vec![two_leg(id, 1, 2, 1)]).await.unwrap();
                }
                // A refused transfer fails only its own caller.
                let err = ledger.post(vec![two_leg(0, 1, 2, 1)]).await.unwrap_err();
                assert!(matches!(err, AdsError::Transfer { .. }));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            ledger
                .balance(AccountId::new(1))
                .await
                .unwrap()
                .unwrap()
                .debits_posted,
            320
        );
        let entries = store
            .read_journal(&tenant, "ads.ledger", 0, 10_000)
            .await
            .unwrap();
        assert!(entries.len() <= 321, "{} journal entries", entries.len());
        let reopened = Ledger::open(&Env::builder(store).clock(clock()).build(), tenant)
            .await
            .unwrap();
        assert_eq!(reopened.read(|e| e.transfer_count()).await.unwrap(), 320);
    });
}

// ----- properties ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Posted {
        debit: usize,
        credit: usize,
        amount: u64,
        extra: Option<(usize, u64)>,
    },
    Pending {
        debit: usize,
        credit: usize,
        amount: u64,
    },
    Resolve {
        which: usize,
        post: bool,
    },
    Replay {
        which: usize,
    },
    Unbalanced {
        debit: usize,
        credit: usize,
        amount: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let acct = 0usize..6;
    let amount = 1u64..5_000;
    prop_oneof![
        4 => (acct.clone(), acct.clone(), amount.clone(), proptest::option::of((0usize..6, 1u64..500)))
            .prop_map(|(debit, credit, amount, extra)| Op::Posted { debit, credit, amount, extra }),
        2 => (acct.clone(), acct.clone(), amount.clone())
            .prop_map(|(debit, credit, amount)| Op::Pending { debit, credit, amount }),
        2 => (0usize..64, any::<bool>()).prop_map(|(which, post)| Op::Resolve { which, post }),
        2 => (0usize..64).prop_map(|which| Op::Replay { which }),
        1 => (acct.clone(), acct, amount).prop_map(|(debit, credit, amount)| Op::Unbalanced { debit, credit, amount }),
    ]
}

/// Accounts 1..=6 in CNY; 5 keeps no history (balances as of a time come from a scan), 2 may not
/// be overdrawn, 3 may not go into credit.
fn prop_engine() -> LedgerEngine {
    let mut e = LedgerEngine::new();
    for id in 1..=6u128 {
        let flags = match id {
            2 => AccountFlags {
                debits_must_not_exceed_credits: true,
                history: true,
                ..AccountFlags::NONE
            },
            3 => AccountFlags {
                credits_must_not_exceed_debits: true,
                history: true,
                ..AccountFlags::NONE
            },
            5 => AccountFlags::NONE,
            _ => history(),
        };
        e.create_account(account(id, CNY, flags)).unwrap();
    }
    e
}

fn build(
    op: &Op,
    next_id: u128,
    accepted: &[TransferSpec],
    pendings: &[TransferId],
) -> Option<TransferSpec> {
    let a = |i: usize| AccountId::new(i as u128 + 1);
    Some(match op {
        Op::Posted {
            debit,
            credit,
            amount,
            extra,
        } => {
            let mut legs = vec![Leg::debit_minor(a(*debit), *amount, CNY)];
            match extra {
                Some((third, x)) => {
                    let part = (*x).min(*amount - 1);
                    legs.push(Leg::credit_minor(a(*credit), *amount - part, CNY));
                    legs.push(Leg::credit_minor(a(*third), part, CNY));
                    legs.retain(|l| l.amount > 0);
                }
                None => legs.push(Leg::credit_minor(a(*credit), *amount, CNY)),
            }
            TransferSpec::posted(TransferId::new(next_id), legs).with_meta(7, 202603, 1, 2)
        }
        Op::Pending {
            debit,
            credit,
            amount,
        } => TransferSpec::pending(
            TransferId::new(next_id),
            vec![
                Leg::debit_minor(a(*debit), *amount, CNY),
                Leg::credit_minor(a(*credit), *amount, CNY),
            ],
        ),
        Op::Resolve { which, post } => {
            let p = *pendings.get(which % pendings.len().max(1))?;
            if *post {
                TransferSpec::post_pending(TransferId::new(next_id), p)
            } else {
                TransferSpec::void_pending(TransferId::new(next_id), p)
            }
        }
        Op::Replay { which } => accepted.get(which % accepted.len().max(1))?.clone(),
        Op::Unbalanced {
            debit,
            credit,
            amount,
        } => TransferSpec::posted(
            TransferId::new(next_id),
            vec![
                Leg::debit_minor(a(*debit), *amount, CNY),
                Leg::credit_minor(a(*credit), amount + 1, CNY),
            ],
        ),
    })
}

fn legs_balance(spec: &TransferSpec) -> bool {
    let debits: u128 = spec
        .legs
        .iter()
        .filter(|l| l.side == Side::Debit)
        .map(|l| u128::from(l.amount))
        .sum();
    let credits: u128 = spec
        .legs
        .iter()
        .filter(|l| l.side == Side::Credit)
        .map(|l| u128::from(l.amount))
        .sum();
    debits == credits
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every stored transfer balances; the trial balance is zero at every instant; replays and
    /// refused transfers change nothing; constraints hold at every instant; balances as of a
    /// time agree between history and scan; rolling back to any checkpoint restores the state.
    #[test]
    fn ledger_invariants(ops in proptest::collection::vec(op(), 1..80)) {
        let mut e = prop_engine();
        let mut accepted: Vec<TransferSpec> = Vec::new();
        let mut pendings: Vec<TransferId> = Vec::new();
        let mut snapshots = Vec::new();
        for (k, op) in ops.iter().enumerate() {
            let Some(spec) = build(op, k as u128 + 1, &accepted, &pendings) else { continue };
            let before: Vec<_> = e.accounts().map(|(_, b)| *b).collect();
            let count = e.transfer_count();
            snapshots.push((e.checkpoint(), before.clone()));
            match e.submit(std::slice::from_ref(&spec), k as u64 * 10) {
                Ok(outcomes) => {
                    if outcomes[0].is_created() {
                        let unbalanced = matches!(op, Op::Unbalanced { .. });
                        prop_assert!(!unbalanced);
                        if spec.kind == TransferKind::Pending { pendings.push(spec.id); }
                        accepted.push(spec);
                    } else {
                        // A replay: nothing changed.
                        let replay = matches!(op, Op::Replay { .. });
                        prop_assert!(replay);
                        let after: Vec<_> = e.accounts().map(|(_, b)| *b).collect();
                        prop_assert_eq!(&before, &after);
                        prop_assert_eq!(count, e.transfer_count());
                    }
                }
                Err(_) => {
                    let after: Vec<_> = e.accounts().map(|(_, b)| *b).collect();
                    prop_assert_eq!(&before, &after);
                    prop_assert_eq!(count, e.transfer_count());
                }
            }
        }
        for t in e.transfers() {
            let spec = t.to_transfer().spec;
            if matches!(spec.kind, TransferKind::Posted | TransferKind::Pending) {
                prop_assert!(legs_balance(&spec), "{:?}", spec);
            }
        }
        let stamps: Vec<u64> = e.transfers().map(|t| t.timestamp()).collect();
        prop_assert!(stamps.windows(2).all(|w| w[0] < w[1]));
        for &ts in stamps.iter().chain([0, u64::MAX].iter()) {
            for (_, posted, pending) in e.trial_balance_at(ts) {
                prop_assert_eq!(posted, 0);
                prop_assert_eq!(pending, 0);
            }
            let deposit = e.balance_at(AccountId::new(2), ts).unwrap();
            prop_assert!(deposit.debits_posted + deposit.debits_pending <= deposit.credits_posted);
            let prepaid = e.balance_at(AccountId::new(3), ts).unwrap();
            prop_assert!(prepaid.credits_posted + prepaid.credits_pending <= prepaid.debits_posted);
        }
        prop_assert_eq!(e.balance_at(AccountId::new(5), u64::MAX), e.balance(AccountId::new(5)));
        // Roll back to every checkpoint, newest first: the balances are exactly as they were.
        for (cp, balances) in snapshots.into_iter().rev() {
            e.rollback(cp);
            let now: Vec<_> = e.accounts().map(|(_, b)| *b).collect();
            prop_assert_eq!(now, balances);
        }
        prop_assert_eq!(e.transfer_count(), 0);
    }

    /// Replaying any accepted transfer, any number of times, in any order, changes nothing.
    #[test]
    fn replaying_commands_changes_nothing(amounts in proptest::collection::vec(1u64..10_000, 1..40), order in any::<u64>()) {
        let mut e = prop_engine();
        let specs: Vec<_> = amounts.iter().enumerate()
            .map(|(i, a)| two_leg(i as u128 + 1, 1 + u128::from((i as u128).is_multiple_of(3)) * 3, 6, *a))
            .collect();
        e.submit(&specs, 1).unwrap();
        let state: Vec<_> = e.accounts().map(|(_, b)| *b).collect();
        let mut shuffled = specs.clone();
        let n = shuffled.len();
        for i in 0..n { shuffled.swap(i, (order as usize).wrapping_mul(i + 7) % n); }
        let outcomes = e.submit(&shuffled, 2).unwrap();
        prop_assert!(outcomes.iter().all(|o| !o.is_created()));
        prop_assert_eq!(state, e.accounts().map(|(_, b)| *b).collect::<Vec<_>>());
    }
}

// ----- cancellation ---------------------------------------------------------------------------

/// A store whose journal head query (`hang_head`) or commit (`hang_commit`, before anything is
/// written) never answers while the flag is set — a stuck backend — so a test can drop a
/// caller suspended at that `.await`.
#[derive(Debug)]
struct Hanging {
    inner: Arc<dyn Store>,
    hang_head: AtomicBool,
    hang_commit: AtomicBool,
}

impl Hanging {
    fn over(inner: Arc<dyn Store>) -> Arc<Hanging> {
        Arc::new(Hanging {
            inner,
            hang_head: AtomicBool::new(false),
            hang_commit: AtomicBool::new(false),
        })
    }
}

#[async_trait::async_trait]
impl Store for Hanging {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn get(
        &self,
        tenant: &TenantId,
        collection: &str,
        key: &str,
    ) -> CoreResult<Option<Record>> {
        self.inner.get(tenant, collection, key).await
    }
    async fn list(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> CoreResult<Page<Record>> {
        self.inner.list(tenant, collection, page).await
    }
    async fn lookup(
        &self,
        tenant: &TenantId,
        collection: &str,
        index: &str,
        value: &str,
        page: &PageRequest,
    ) -> CoreResult<Page<Record>> {
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
    ) -> CoreResult<Vec<JournalEntry>> {
        self.inner.read_journal(tenant, journal, after, limit).await
    }
    async fn journal_head(&self, tenant: &TenantId, journal: &str) -> CoreResult<u64> {
        if self.hang_head.load(SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.journal_head(tenant, journal).await
    }
    async fn idempotency(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> CoreResult<Option<(String, Vec<u8>)>> {
        self.inner.idempotency(tenant, key).await
    }
    async fn commit(&self, tenant: &TenantId, batch: Batch) -> CoreResult<CommitOutcome> {
        if self.hang_commit.load(SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.commit(tenant, batch).await
    }
}

/// Let every other task on the (current-thread) runtime run until it waits.
async fn settle_tasks() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// A ledger over `Hanging` with account 1 and account 2 (no overdraft) holding 900, and two
/// `post`s queued behind a reader stuck on the head query: dropping the reader lets the first
/// post lead a group commit of both.
struct Queued {
    memory: Arc<dyn Store>,
    hanging: Arc<Hanging>,
    tenant: TenantId,
    ledger: Arc<Ledger>,
    reader: tokio::task::JoinHandle<Result<usize, AdsError>>,
    first: tokio::task::JoinHandle<Result<Vec<Outcome>, AdsError>>,
    second: tokio::task::JoinHandle<Result<Vec<Outcome>, AdsError>>,
}

async fn two_posts_queued(first: TransferSpec, second: TransferSpec) -> Queued {
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let hanging = Hanging::over(memory.clone());
    let store: Arc<dyn Store> = hanging.clone();
    let tenant = TenantId::new();
    let ledger = Arc::new(
        Ledger::open(&Env::builder(store).clock(clock()).build(), tenant)
            .await
            .unwrap(),
    );
    ledger
        .create_accounts(vec![
            account(1, CNY, history()),
            account(2, CNY, no_overdraft()),
        ])
        .await
        .unwrap();
    ledger.post(vec![two_leg(1, 1, 2, 900)]).await.unwrap();
    hanging.hang_head.store(true, SeqCst);
    let l = ledger.clone();
    let reader = tokio::spawn(async move { l.read(|e| e.transfer_count()).await });
    settle_tasks().await;
    let l = ledger.clone();
    let first = tokio::spawn(async move { l.post(vec![first]).await });
    let l = ledger.clone();
    let second = tokio::spawn(async move { l.post(vec![second]).await });
    settle_tasks().await;
    Queued {
        memory,
        hanging,
        tenant,
        ledger,
        reader,
        first,
        second,
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Guards cancellation of the group commit leader: when a queued transfer is refused, the
/// leader asks the store for the journal head (to decide again on a caught-up engine) while
/// the group's accepted transfers are applied in memory but not written. A leader dropped at
/// that `.await` must not leave them in memory: the ledger would report a debit the store
/// never recorded (no other process and no restart sees it) and refuse later transfers
/// against money that was never spent.
#[test]
fn a_group_commit_leader_dropped_while_deciding_again_leaves_memory_as_the_store() {
    current_thread().block_on(async {
        // 500 out of the 900, and a transfer refused (id 0).
        let q = two_posts_queued(two_leg(10, 2, 1, 500), two_leg(0, 2, 1, 1)).await;
        // The reader gives up; the first post leads, applies both in memory and, as one was
        // refused, hangs asking for the head. Both callers are dropped there.
        q.reader.abort();
        settle_tasks().await;
        q.second.abort();
        q.first.abort();
        settle_tasks().await;
        q.hanging.hang_head.store(false, SeqCst);

        let reopened = Ledger::open(&Env::builder(q.memory).clock(clock()).build(), q.tenant)
            .await
            .unwrap();
        assert_eq!(
            q.ledger.balance(AccountId::new(2)).await.unwrap(),
            reopened.balance(AccountId::new(2)).await.unwrap(),
            "the ledger's memory ran ahead of the store"
        );
        // Nothing was spent: the 900 can be spent in full.
        q.ledger.post(vec![two_leg(12, 2, 1, 900)]).await.unwrap();
    });
}

/// Guards the answer of a caller whose group commit leader was dropped: the caller's
/// transfers were taken by the leader, which may have been cancelled in the middle of the
/// storage commit, so the caller must get a retryable "outcome unknown" error (read back by id
/// or retry with the same ids) — never a panic of its task.
#[test]
fn a_caller_whose_group_commit_leader_was_dropped_is_told_the_outcome_is_unknown() {
    current_thread().block_on(async {
        let q = two_posts_queued(two_leg(10, 2, 1, 100), two_leg(11, 2, 1, 200)).await;
        // The first post leads the group of both and is dropped while the commit hangs.
        q.hanging.hang_commit.store(true, SeqCst);
        q.reader.abort();
        settle_tasks().await;
        q.first.abort();
        settle_tasks().await;
        q.hanging.hang_commit.store(false, SeqCst);
        q.hanging.hang_head.store(false, SeqCst);
        let answer = q.second.await.expect("the caller's task must not panic");
        let err = answer.expect_err("the leader never answered");
        assert!(
            matches!(
                err,
                AdsError::Core(marketingforce_core::Error::OutcomeUnknown { .. })
            ),
            "{err}"
        );
        assert!(err.is_retryable(), "{err}");
        // Retrying with the same ids settles it.
        q.ledger.post(vec![two_leg(11, 2, 1, 200)]).await.unwrap();
        let reopened = Ledger::open(&Env::builder(q.memory).clock(clock()).build(), q.tenant)
            .await
            .unwrap();
        assert_eq!(
            q.ledger.balance(AccountId::new(2)).await.unwrap(),
            reopened.balance(AccountId::new(2)).await.unwrap()
        );
    });
}
