//! A restart (new process, same store) rebuilds exactly the same state, on the durable
//! backends: SQLite always, PostgreSQL when `MARKETINGFORCE_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;

use common::*;
use marketingforce_ads::ledger::{
    Account, AccountFlags, AccountId, Ledger, LedgerEngine, Leg, TransferId, TransferSpec,
};
use marketingforce_ads::period::Month;
use marketingforce_ads::settlement::SettlementMode;
use marketingforce_core::env::Env;
use marketingforce_core::money::Currency;
use marketingforce_core::storage::postgres::PostgresOptions;
use marketingforce_core::storage::sqlite::Durability;
use marketingforce_core::storage::{PostgresStore, SqliteStore, Store, StoreLimits};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};

fn books(
    e: &LedgerEngine,
) -> (
    Vec<(Account, marketingforce_ads::ledger::Balance)>,
    Vec<marketingforce_ads::ledger::Transfer>,
) {
    (
        e.accounts().map(|(a, b)| (*a, *b)).collect(),
        e.transfers().map(|t| t.to_transfer()).collect(),
    )
}

#[test]
fn a_month_on_sqlite_survives_a_restart() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ads.db");
        let open =
            || SqliteStore::open_with(path.clone(), Durability::Normal, StoreLimits::default());
        let store: Arc<dyn Store> = Arc::new(open().await.unwrap());
        let tenant = TenantId::new();
        let w = world_with(store, tenant, 5).await;
        accounts_and_campaigns(&w).await;
        deliver_march(&w, march()).await;
        ingest(&w, march()).await;
        after_month(&w);
        let month: Month = "2026-03".parse().unwrap();
        let statement = w
            .ops
            .settle_month(month, SettlementMode::Final)
            .await
            .unwrap();
        let before = w.ops.ledger().read(books).await.unwrap();
        let invoices = w.ops.invoices_of(&w.distribution.id).await.unwrap();
        drop(w.ops);

        // A new process: a new store handle on the same file, a new service.
        let store: Arc<dyn Store> = Arc::new(open().await.unwrap());
        let clock = Arc::new(ManualClock::new(w.clock.now()));
        let ops = open_ops(store, tenant, clock, 5).await;
        assert_eq!(ops.ledger().read(books).await.unwrap(), before);
        assert_eq!(
            ops.settlement_figures(month).await.unwrap(),
            statement.figures
        );
        assert_eq!(ops.invoices_of(&w.distribution.id).await.unwrap(), invoices);
        ops.attach_platform(w.p1.id, w.sim1.clone());
        ops.attach_platform(w.p2.id, w.sim2.clone());
        assert_eq!(
            ops.settle_month(month, SettlementMode::Final)
                .await
                .unwrap(),
            statement
        );
        assert_eq!(
            ops.ledger().read(books).await.unwrap(),
            before,
            "settling again after a restart changes nothing"
        );
        assert!(ops.reconcile(month).await.unwrap().mismatches.is_empty());
    });
}

#[test]
fn the_ledger_on_postgres_survives_a_restart() {
    let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
        return;
    };
    runtime().block_on(async {
        let schema = format!("mf_ads_test_{}", std::process::id());
        let connect = || {
            PostgresStore::connect_with(PostgresOptions::new(url.clone()).schema(schema.clone()))
        };
        let store: Arc<dyn Store> = Arc::new(connect().await.unwrap());
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::at_rfc3339("2026-03-01T00:00:00Z").unwrap());
        let tenant = TenantId::new();
        let ledger = Ledger::open(&Env::builder(store).clock(clock.clone()).build(), tenant)
            .await
            .unwrap();
        let flags = AccountFlags {
            debits_must_not_exceed_credits: true,
            history: true,
            ..AccountFlags::NONE
        };
        ledger
            .create_accounts(vec![
                Account {
                    id: AccountId::new(1),
                    currency: Currency::CNY,
                    code: 1,
                    owner: 0,
                    flags: AccountFlags::NONE,
                },
                Account {
                    id: AccountId::new(2),
                    currency: Currency::CNY,
                    code: 2,
                    owner: 0,
                    flags,
                },
            ])
            .await
            .unwrap();
        let transfer = |id: u128, amount: u64| {
            TransferSpec::posted(
                TransferId::new(id),
                vec![
                    Leg::debit_minor(AccountId::new(1), amount, Currency::CNY),
                    Leg::credit_minor(AccountId::new(2), amount, Currency::CNY),
                ],
            )
        };
        ledger
            .post((1..=500).map(|i| transfer(i, i as u64)).collect())
            .await
            .unwrap();
        let hold = TransferSpec::pending(
            TransferId::new(1_000),
            vec![
                Leg::debit_minor(AccountId::new(2), 70, Currency::CNY),
                Leg::credit_minor(AccountId::new(1), 70, Currency::CNY),
            ],
        );
        ledger.post(vec![hold]).await.unwrap();
        let before = ledger.read(books).await.unwrap();
        let reopened = Ledger::open(
            &Env::builder(Arc::new(connect().await.unwrap()))
                .clock(clock)
                .build(),
            tenant,
        )
        .await
        .unwrap();
        assert_eq!(reopened.read(books).await.unwrap(), before);
        // Replays after the restart are recognised.
        assert!(!reopened.post(vec![transfer(7, 7)]).await.unwrap()[0].is_created());
    });
}
