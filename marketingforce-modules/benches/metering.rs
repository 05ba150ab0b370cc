//! Usage metering: idempotent consume in memory (goal ≥ 2M events/s on one core) and durable
//! consume through the core `SqliteStore` with group commit (goal ≥ 100k events/s), each with a same-run
//! baseline.
//!
//! `cargo bench -p marketingforce-modules --bench metering`

mod support;

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use marketingforce_core::storage::sqlite::Durability;
use marketingforce_core::storage::{SqliteStore, Store, StoreLimits};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_modules::catalog::{QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{EntitlementRegistry, Entitlements, Grant};
use marketingforce_modules::metering::UsageMeter;

const BATCH: u64 = 200_000;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap())
}

fn grant(tenant: TenantId) -> Grant {
    Grant::new(
        tenant,
        "2026-03-01".parse().unwrap(),
        "2027-03-01".parse().unwrap(),
    )
    .quota(UsageUnit::Publications, 1_000_000_000, QuotaPeriod::Month)
    .purchased(UsageUnit::Publications, 1_000_000_000)
}

fn fresh_meter() -> UsageMeter {
    Entitlements::from_grant(grant(TenantId::new()), clock())
        .unwrap()
        .meter()
}

fn keys(n: u64) -> Vec<String> {
    (0..n).map(|i| format!("evt-{i:010}")).collect()
}

fn in_memory(t: &mut support::Figures, keys: &[String]) {
    t.add(
        "baseline: HashMap<String, u64>::insert(key.clone()) (idempotency map alone)",
        support::ns_per_op(5, BATCH, || {
            let mut m: HashMap<String, u64> = HashMap::new();
            for k in keys {
                m.insert(k.clone(), 1);
            }
            black_box(m.len());
        }),
    );
    t.add_id(
        "modules.metering.consume_memory",
        "UsageMeter::consume, new key each event (check, draw, record, queue)",
        support::ns_per_op(5, BATCH, || {
            let m = fresh_meter();
            for k in keys {
                black_box(
                    m.consume(
                        &UsageUnit::Publications,
                        1u64,
                        &IdempotencyKey::new(k).unwrap(),
                    )
                    .unwrap(),
                );
            }
        }),
    );
    let m = fresh_meter();
    for k in keys {
        m.consume(
            &UsageUnit::Publications,
            1u64,
            &IdempotencyKey::new(k).unwrap(),
        )
        .unwrap();
    }
    t.add_id(
        "modules.metering.consume_memory_replay",
        "UsageMeter::consume, replayed key (counted once)",
        support::ns_per_op(5, BATCH, || {
            for k in keys {
                black_box(
                    m.consume(
                        &UsageUnit::Publications,
                        1u64,
                        &IdempotencyKey::new(k).unwrap(),
                    )
                    .unwrap(),
                );
            }
        }),
    );
    t.add_id(
        "modules.metering.reserve_commit_memory",
        "UsageMeter::reserve + commit, new key each event",
        support::ns_per_op(5, BATCH, || {
            let m = fresh_meter();
            for k in keys {
                m.reserve(
                    &UsageUnit::Publications,
                    2u64,
                    &IdempotencyKey::new(k).unwrap(),
                )
                .unwrap();
                black_box(m.commit(1u64, &IdempotencyKey::new(k).unwrap()).unwrap());
            }
        }),
    );
}

/// Durable: `consume_durable` from many concurrent tasks; each flush commits everything queued
/// in one SQLite transaction. Returns ns per event.
fn durable_group_commit(tasks: usize, per_task: usize, durability: Durability) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open_with(
                dir.path().join("usage.db"),
                durability,
                StoreLimits::default(),
            )
            .await
            .unwrap(),
        );
        let reg = Arc::new(
            EntitlementRegistry::builder(
                &marketingforce_core::env::Env::builder(store)
                    .clock(clock() as Arc<dyn Clock>)
                    .build(),
            )
            .build(),
        );
        let tenant = TenantId::new();
        let ents = reg.grant(grant(tenant)).await.unwrap();
        let start = Instant::now();
        let mut handles = Vec::new();
        let local = tokio::task::LocalSet::new();
        for t in 0..tasks {
            let m = ents.meter();
            handles.push(local.spawn_local(async move {
                for i in 0..per_task {
                    m.consume_durable(
                        &UsageUnit::Publications,
                        1u64,
                        &IdempotencyKey::new(format!("t{t}-e{i}")).unwrap(),
                    )
                    .await
                    .unwrap();
                }
            }));
        }
        local
            .run_until(async {
                for h in handles {
                    h.await.unwrap();
                }
            })
            .await;
        let elapsed = start.elapsed();
        // Check the figures are real: a new registry rebuilds every event from SQLite.
        let n = (tasks * per_task) as u64;
        assert_eq!(reg.pending_events(), 0);
        let rebuilt = reg.rebuild(&tenant).await.unwrap();
        assert_eq!(rebuilt.meter().events_recorded() as u64, n);
        elapsed.as_nanos() as f64 / n as f64
    })
}

/// Durable, pipelined: consume in memory, flush every `every` events (one transaction each).
fn durable_pipelined(n: u64, every: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("usage.db"))
                .await
                .unwrap(),
        );
        let reg = EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store)
                .clock(clock() as Arc<dyn Clock>)
                .build(),
        )
        .build();
        let ents = reg.grant(grant(TenantId::new())).await.unwrap();
        let m = ents.meter();
        let keys = keys(n);
        let start = Instant::now();
        for (i, k) in keys.iter().enumerate() {
            m.consume(
                &UsageUnit::Publications,
                1u64,
                &IdempotencyKey::new(k).unwrap(),
            )
            .unwrap();
            if (i as u64 + 1).is_multiple_of(every) {
                reg.flush().await.unwrap();
            }
        }
        reg.flush().await.unwrap();
        start.elapsed().as_nanos() as f64 / n as f64
    })
}

fn bench(c: &mut Criterion) {
    let keys = keys(BATCH);
    let mut t = support::Figures::new("usage metering in memory, one core (ns per event; ratio to the bare idempotency-map insert)");
    in_memory(&mut t, &keys);
    t.print();
    let mut json = t.json(support::Unit::PerSecond("events/s"));

    let mut d = support::Figures::new("durable usage metering through the core SqliteStore (WAL), group commit (ns per event; ratio to in-memory consume)");
    let mem = support::ns_per_op(3, BATCH, || {
        let m = fresh_meter();
        for k in &keys {
            black_box(
                m.consume(
                    &UsageUnit::Publications,
                    1u64,
                    &IdempotencyKey::new(k).unwrap(),
                )
                .unwrap(),
            );
        }
    });
    d.add("baseline: UsageMeter::consume in memory", mem);
    d.add_id(
        "modules.metering.durable_sqlite_full_group_commit",
        "consume_durable, 512 tasks x 400 events, synchronous=FULL (default)",
        durable_group_commit(512, 400, Durability::Full),
    );
    d.add_id(
        "modules.metering.durable_sqlite_normal_group_commit",
        "consume_durable, 512 tasks x 400 events, synchronous=NORMAL",
        durable_group_commit(512, 400, Durability::Normal),
    );
    d.add_id(
        "modules.metering.durable_sqlite_full_flush_5000",
        "consume + flush every 5,000 events, synchronous=FULL",
        durable_pipelined(200_000, 5_000),
    );
    d.print();
    json.extend(d.json(support::Unit::PerSecond("events/s")));
    support::print_json(json);

    let mut g = c.benchmark_group("metering");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("consume_10k_new_keys", |b| {
        b.iter_batched(
            fresh_meter,
            |m| {
                for k in &keys[..10_000] {
                    black_box(
                        m.consume(
                            &UsageUnit::Publications,
                            1u64,
                            &IdempotencyKey::new(k).unwrap(),
                        )
                        .unwrap(),
                    );
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
