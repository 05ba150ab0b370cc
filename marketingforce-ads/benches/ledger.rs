//! Ledger throughput: two-leg transfers in memory (one core), and durable through the storage
//! contract with batching and group commit (memory store, the core `SqliteStore`, and the core
//! `PostgresStore` when `MARKETINGFORCE_TEST_POSTGRES_URL` is set), each against a bare
//! `HashMap` insert measured in the same run.
//!
//! Run: `cargo bench -p marketingforce-ads --bench ledger`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use marketingforce_ads::ledger::{
    Account, AccountFlags, AccountId, IdBuildHasher, Ledger, LedgerEngine, Leg, TransferId,
    TransferSpec,
};
use marketingforce_core::env::Env;
use marketingforce_core::id::splitmix64;
use marketingforce_core::money::Currency;
use marketingforce_core::storage::postgres::PostgresOptions;
use marketingforce_core::storage::sqlite::Durability;
use marketingforce_core::storage::{MemoryStore, PostgresStore, SqliteStore, Store, StoreLimits};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};

const ACCOUNTS: u64 = 10_000;

fn accounts(history: bool) -> Vec<Account> {
    (1..=ACCOUNTS)
        .map(|i| Account {
            id: AccountId::new(u128::from(i)),
            currency: Currency::CNY,
            code: 1,
            owner: 0,
            flags: AccountFlags {
                history,
                ..AccountFlags::NONE
            },
        })
        .collect()
}

fn transfers(n: u64, first_id: u64) -> Vec<TransferSpec> {
    (0..n)
        .map(|i| {
            let x = splitmix64(first_id + i);
            let debit = 1 + x % ACCOUNTS;
            let credit = 1 + (debit + (x >> 20) % (ACCOUNTS - 1)) % ACCOUNTS;
            TransferSpec::posted(
                TransferId::new(u128::from(first_id + i)),
                vec![
                    Leg::debit_minor(
                        AccountId::new(u128::from(debit)),
                        1 + (x >> 40) % 100_000,
                        Currency::CNY,
                    ),
                    Leg::credit_minor(
                        AccountId::new(u128::from(credit)),
                        1 + (x >> 40) % 100_000,
                        Currency::CNY,
                    ),
                ],
            )
            .with_meta(20, 202603, 0, 0)
        })
        .collect()
}

fn engine_run(specs: &[TransferSpec], history: bool, batch: usize) -> Duration {
    let mut e = LedgerEngine::with_capacity(ACCOUNTS as usize, specs.len());
    for a in accounts(history) {
        e.create_account(a).unwrap();
    }
    let t0 = Instant::now();
    for (k, chunk) in specs.chunks(batch).enumerate() {
        black_box(e.submit(chunk, k as u64 + 1).unwrap());
    }
    t0.elapsed()
}

/// `n` transfers in batches of `batch`, each batch built just before it is submitted (as a
/// server decodes a request and applies it); only the submits are timed.
fn engine_run_hot(n: u64, history: bool, batch: u64) -> Duration {
    let mut e = LedgerEngine::with_capacity(ACCOUNTS as usize, n as usize);
    for a in accounts(history) {
        e.create_account(a).unwrap();
    }
    let mut total = Duration::ZERO;
    for k in 0..n / batch {
        let specs = transfers(batch, 1 + k * batch);
        let t0 = Instant::now();
        black_box(e.submit(&specs, k + 1).unwrap());
        total += t0.elapsed();
    }
    total
}

fn baseline(n: u64) -> Duration {
    let mut m: HashMap<u128, u64, IdBuildHasher> =
        HashMap::with_capacity_and_hasher(n as usize, IdBuildHasher::default());
    let t0 = Instant::now();
    for i in 0..n {
        m.insert(u128::from(i + 1), i);
    }
    black_box(&m);
    t0.elapsed()
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-01T00:00:00Z").unwrap())
}

/// Durable: `n` transfers posted in client batches of `batch`, one call after the other.
async fn durable_batched(store: Arc<dyn Store>, tenant: TenantId, n: u64, batch: u64) -> Duration {
    let ledger = Ledger::open(&Env::builder(store).clock(clock()).build(), tenant)
        .await
        .unwrap();
    ledger.create_accounts(accounts(false)).await.unwrap();
    let specs = transfers(n, 1);
    let t0 = Instant::now();
    for chunk in specs.chunks(batch as usize) {
        ledger.post(chunk.to_vec()).await.unwrap();
    }
    t0.elapsed()
}

/// Durable: `callers` concurrent tasks each posting single transfers; group commit batches them.
async fn durable_group_commit(store: Arc<dyn Store>, callers: u64, per_caller: u64) -> Duration {
    let ledger = Arc::new(
        Ledger::open(&Env::builder(store).clock(clock()).build(), TenantId::new())
            .await
            .unwrap(),
    );
    ledger.create_accounts(accounts(false)).await.unwrap();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let ledger = ledger.clone();
        let specs = transfers(per_caller, 1 + c * per_caller);
        tasks.push(tokio::spawn(async move {
            for t in specs {
                ledger.post(vec![t]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    t0.elapsed()
}

fn main() {
    let n = 1_000_000u64;
    let specs = transfers(n, 1);
    let base = best_of(3, || baseline(n));
    let hot = best_of(3, || engine_run_hot(n, false, 1_000));
    let hot_hist = best_of(3, || engine_run_hot(n, true, 1_000));
    let hot_big = best_of(3, || engine_run_hot(n, false, 8_190));
    let mem = best_of(3, || engine_run(&specs, false, 1_000));
    let mem_single = best_of(3, || engine_run(&specs, false, 1));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dn = 200_000u64;
    let durable_mem = rt.block_on(durable_batched(
        Arc::new(MemoryStore::new()),
        TenantId::new(),
        dn,
        1_000,
    ));
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str, durability: Durability| -> Arc<dyn Store> {
        let path = dir.path().join(name);
        Arc::new(
            rt.block_on(SqliteStore::open_with(
                path,
                durability,
                StoreLimits::default(),
            ))
            .unwrap(),
        )
    };
    let tenant = TenantId::new();
    let durable_sqlite = rt.block_on(durable_batched(
        sqlite("batched.db", Durability::Full),
        tenant,
        dn,
        1_000,
    ));
    let durable_sqlite_big = rt.block_on(durable_batched(
        sqlite("batched-big.db", Durability::Full),
        TenantId::new(),
        dn,
        8_190,
    ));
    let durable_sqlite_normal = rt.block_on(durable_batched(
        sqlite("batched-normal.db", Durability::Normal),
        TenantId::new(),
        dn,
        1_000,
    ));
    let group_n = (64u64, 100u64);
    let group_sqlite = rt.block_on(durable_group_commit(
        sqlite("group.db", Durability::Full),
        group_n.0,
        group_n.1,
    ));
    let group_mem = rt.block_on(durable_group_commit(
        Arc::new(MemoryStore::new()),
        group_n.0,
        group_n.1,
    ));
    // Durability: a new ledger on the SQLite file replays the journal to the same state.
    let t0 = Instant::now();
    let reopened = sqlite("batched.db", Durability::Full);
    let replayed = rt.block_on(async {
        let ledger = Ledger::open(&Env::builder(reopened).clock(clock()).build(), tenant)
            .await
            .unwrap();
        ledger.read(|e| e.transfer_count()).await.unwrap()
    });
    let replay = t0.elapsed();
    assert_eq!(replayed as u64, dn);
    let postgres = match std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") {
        Ok(url) => rt.block_on(async {
            let options = PostgresOptions::new(url).schema("mf_ads_bench");
            match PostgresStore::connect_with(options).await {
                Ok(store) => {
                    let store: Arc<dyn Store> = Arc::new(store);
                    let batched = durable_batched(store.clone(), TenantId::new(), dn, 1_000).await;
                    let group = durable_group_commit(store, group_n.0, group_n.1).await;
                    Ok((batched, group))
                }
                Err(e) => Err(format!("cannot connect: {e}")),
            }
        }),
        Err(_) => Err("MARKETINGFORCE_TEST_POSTGRES_URL is not set".to_string()),
    };

    let b = rate(n, base);
    println!(
        "\n== ledger: two-leg transfers ({} accounts, 2 cores shared; best of 3) ==",
        ACCOUNTS
    );
    println!(
        "baseline  HashMap<u128,u64> insert          {:>12.0} ops/s",
        b
    );
    // Printed, and collected for the machine-readable line the bench suite collects.
    let mut figures = Vec::new();
    let mut line = |id: &str, name: &str, count: u64, d: Duration| {
        let r = rate(count, d);
        println!(
            "{name:<44}{r:>12.0} transfers/s  ({:.2}x baseline time per op)",
            b / r
        );
        figures.push(serde_json::json!({
            "id": format!("ads.ledger.{id}"),
            "label": name,
            "value": r,
            "unit": "transfers/s",
            "baseline": "HashMap<u128, u64> insert",
            "baseline_value": b,
        }));
    };
    line(
        "memory_batch_1000",
        "memory engine, 1M in batches of 1,000",
        n,
        hot,
    );
    line(
        "memory_batch_8190",
        "memory engine, 1M in batches of 8,190",
        n,
        hot_big,
    );
    line(
        "memory_batch_1000_history",
        "memory engine, batches of 1,000, history on",
        n,
        hot_hist,
    );
    line(
        "memory_prebuilt_batch_1000",
        "memory engine, 1M pre-built input from RAM",
        n,
        mem,
    );
    line(
        "memory_prebuilt_single",
        "memory engine, pre-built, 1 transfer/submit",
        n,
        mem_single,
    );
    line(
        "durable_memory_batch_1000",
        "durable, MemoryStore, client batches 1,000",
        dn,
        durable_mem,
    );
    line(
        "durable_sqlite_full_batch_1000",
        "durable, SqliteStore FULL, batches 1,000",
        dn,
        durable_sqlite,
    );
    line(
        "durable_sqlite_full_batch_8190",
        "durable, SqliteStore FULL, batches 8,190",
        dn,
        durable_sqlite_big,
    );
    line(
        "durable_sqlite_normal_batch_1000",
        "durable, SqliteStore NORMAL, batches 1,000",
        dn,
        durable_sqlite_normal,
    );
    line(
        "durable_sqlite_full_group_commit_64",
        "durable, SqliteStore FULL, group commit 64x1",
        group_n.0 * group_n.1,
        group_sqlite,
    );
    line(
        "durable_memory_group_commit_64",
        "durable, MemoryStore, group commit 64 x1",
        group_n.0 * group_n.1,
        group_mem,
    );
    line(
        "recovery_sqlite_replay",
        "recovery: replay the SQLite journal",
        dn,
        replay,
    );
    match postgres {
        Ok((batched, group)) => {
            line(
                "durable_postgres_batch_1000",
                "durable, PostgresStore, batches 1,000",
                dn,
                batched,
            );
            line(
                "durable_postgres_group_commit_64",
                "durable, PostgresStore, group commit 64x1",
                group_n.0 * group_n.1,
                group,
            );
        }
        Err(reason) => println!("PostgreSQL skipped: {reason}"),
    }
    println!("JSON {}", serde_json::Value::Array(figures));
    println!();

    // Criterion's own measurement of one 1,000-transfer batch, for the record.
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut g = c.benchmark_group("ledger");
    g.throughput(Throughput::Elements(1_000));
    let batch = transfers(1_000, 1);
    g.bench_function("engine_submit_1000_two_leg", |bch| {
        bch.iter_batched(
            || {
                let mut e = LedgerEngine::with_capacity(ACCOUNTS as usize, 1_000);
                for a in accounts(false) {
                    e.create_account(a).unwrap();
                }
                e
            },
            |mut e| black_box(e.submit(&batch, 1).unwrap()),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
    c.final_summary();
}
