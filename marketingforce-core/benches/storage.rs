//! Storage benchmarks: per backend, single-record put and get, an atomic batch of 1,000 writes,
//! journal appends in batches of 1,000, and one append per commit without and with a
//! journal-head expectation (the fence of "several processes, one store"). Each figure is
//! printed with its ratio to a bare `BTreeMap` insert of the same keys and values measured in
//! the same run; the fenced append also with its ratio to the unfenced one.
//!
//! The telemetry section measures one small service-like operation (an `#[operation]`
//! function doing a memory-store read and a one-record commit, so three spans) with no
//! subscriber installed (the baseline), with a subscriber that keeps `info` and above (the
//! usual production filter: every span and field of the SDK is skipped) and with a subscriber
//! that takes every span at every level.
//!
//! Run: `cargo bench -p marketingforce-core --features sqlite,postgres --bench storage`
//! (PostgreSQL is measured when `MARKETINGFORCE_TEST_POSTGRES_URL` is set.)

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use marketingforce_core::storage::{Batch, Expect, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;

const MIN_TIME: Duration = Duration::from_millis(1000);
const BATCH: usize = 1000;

/// Repeat `setup` (untimed) then `round` (timed, reporting how many operations it did) for at
/// least MIN_TIME of timed work; returns operations per second.
fn measure<T>(mut setup: impl FnMut(u64) -> T, mut round: impl FnMut(T) -> u64) -> f64 {
    let (mut timed, mut ops, mut i) = (Duration::ZERO, 0u64, 0u64);
    while timed < MIN_TIME {
        let input = setup(i);
        let start = Instant::now();
        ops += round(input);
        timed += start.elapsed();
        i += 1;
    }
    ops as f64 / timed.as_secs_f64()
}

fn records(i: u64) -> Vec<(String, Vec<u8>)> {
    (0..BATCH as u64)
        .map(|j| {
            let k = i * BATCH as u64 + j;
            (format!("rec-{k:012}"), value(k))
        })
        .collect()
}

fn value(i: u64) -> Vec<u8> {
    format!(
        r#"{{"id":{i},"name":"客户{i}","owner":"sales-{}","score":{}}}"#,
        i % 17,
        i % 100
    )
    .into_bytes()
}

fn baseline() -> f64 {
    let mut map = BTreeMap::new();
    measure(records, |rows| {
        for (k, v) in rows {
            map.insert(k, v);
        }
        black_box(map.len());
        BATCH as u64
    })
}

struct Row {
    backend: &'static str,
    /// Stable key of the operation in the machine-readable summary.
    key: &'static str,
    op: &'static str,
    unit: &'static str,
    per_sec: f64,
}

fn bench_backend(rt: &tokio::runtime::Runtime, store: Arc<dyn Store>, rows: &mut Vec<Row>) {
    let backend = store.backend();
    let t = TenantId::new();
    let put_one = measure(
        |i| {
            let mut b = Batch::new();
            b.put(
                "single",
                format!("rec-{i:012}"),
                value(i),
                vec![],
                Expect::Any,
            );
            b
        },
        |b| {
            rt.block_on(store.commit(&t, b)).expect("put");
            1
        },
    );
    rows.push(Row {
        backend,
        key: "put_one",
        op: "single put (1 record/commit)",
        unit: "writes/s",
        per_sec: put_one,
    });
    let get_one = measure(
        |i| format!("rec-{:012}", i % 500),
        |key| {
            black_box(rt.block_on(store.get(&t, "single", &key)).expect("get"));
            1
        },
    );
    rows.push(Row {
        backend,
        key: "get_one",
        op: "single get",
        unit: "reads/s",
        per_sec: get_one,
    });
    let batched = measure(
        |i| {
            let mut b = Batch::new();
            for (k, v) in records(i) {
                b.put("batched", k, v, vec![], Expect::Any);
            }
            b
        },
        |b| {
            rt.block_on(store.commit(&t, b)).expect("batch");
            BATCH as u64
        },
    );
    rows.push(Row {
        backend,
        key: "batch_1000",
        op: "atomic batch of 1,000 writes (writes/s)",
        unit: "writes/s",
        per_sec: batched,
    });
    let journal = measure(
        |i| {
            let mut b = Batch::new();
            for (_, v) in records(i) {
                b.append("postings", v);
            }
            b
        },
        |b| {
            rt.block_on(store.commit(&t, b)).expect("append");
            BATCH as u64
        },
    );
    rows.push(Row {
        backend,
        key: "journal_1000",
        op: "journal append, batches of 1,000 (entries/s)",
        unit: "entries/s",
        per_sec: journal,
    });
    let append_one = measure(
        |i| {
            let mut b = Batch::new();
            b.append("single_appends", value(i));
            b
        },
        |b| {
            rt.block_on(store.commit(&t, b)).expect("append");
            1
        },
    );
    rows.push(Row {
        backend,
        key: "append_one",
        op: "one append per commit",
        unit: "commits/s",
        per_sec: append_one,
    });
    // The same, fenced: round i expects the head the i commits before it left.
    let fenced = measure(
        |i| {
            let mut b = Batch::new();
            b.expect_head("fenced_appends", i)
                .append("fenced_appends", value(i));
            b
        },
        |b| {
            rt.block_on(store.commit(&t, b)).expect("fenced append");
            1
        },
    );
    rows.push(Row {
        backend,
        key: "fenced_append_one",
        op: "one append per commit, expect_head fenced",
        unit: "commits/s",
        per_sec: fenced,
    });
    println!(
        "{backend}: expect_head costs {:.1}% of one-append commit throughput",
        (1.0 - fenced / append_one) * 100.0
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let base = baseline();
    let mut rows = vec![Row {
        backend: "baseline",
        key: "btreemap_insert",
        op: "BTreeMap insert (same keys/values)",
        unit: "writes/s",
        per_sec: base,
    }];
    bench_backend(&rt, Arc::new(MemoryStore::new()), &mut rows);

    #[cfg(feature = "sqlite")]
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = rt
            .block_on(marketingforce_core::storage::SqliteStore::open(
                dir.path().join("bench.sqlite"),
            ))
            .expect("sqlite");
        bench_backend(&rt, Arc::new(store), &mut rows);
    }
    #[cfg(feature = "postgres")]
    match std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") {
        Ok(url) => {
            use marketingforce_core::storage::postgres::{PostgresOptions, PostgresStore};
            let store = rt
                .block_on(PostgresStore::connect_with(
                    PostgresOptions::new(url).schema("mf_bench"),
                ))
                .expect("postgres");
            bench_backend(&rt, Arc::new(store), &mut rows);
        }
        Err(_) => eprintln!("PostgreSQL skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set"),
    }

    telemetry_overhead(&rt);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("\nstorage benchmarks ({cores} cores available; one client task)");
    println!(
        "{:<10} {:<46} {:>14} {:>10}",
        "backend", "operation", "ops/s", "vs base"
    );
    for r in &rows {
        println!(
            "{:<10} {:<46} {:>14.0} {:>9.3}x",
            r.backend,
            r.op,
            r.per_sec,
            r.per_sec / base
        );
    }
    // The machine-readable line the bench suite (`scripts/bench.py`) collects.
    let figures: Vec<serde_json::Value> = rows
        .iter()
        .filter(|r| r.backend != "baseline")
        .map(|r| {
            serde_json::json!({
                "id": format!("storage.{}.{}", r.backend, r.key),
                "label": format!("{}: {}", r.backend, r.op),
                "value": r.per_sec,
                "unit": r.unit,
                "baseline": "BTreeMap insert of the same keys and values",
                "baseline_value": base,
            })
        })
        .collect();
    println!("JSON {}", serde_json::Value::Array(figures));
}

#[marketingforce_core::telemetry::operation("bench.touch", tenant = tenant, key = key)]
async fn touch(
    store: &dyn Store,
    tenant: &TenantId,
    record: &str,
    key: &marketingforce_core::IdempotencyKey,
) -> marketingforce_core::Result<bool> {
    let found = store.get(tenant, "bench", record).await?.is_some();
    let mut batch = Batch::new();
    batch.put("bench", record, b"{}".to_vec(), Vec::new(), Expect::Any);
    store.commit(tenant, batch).await?;
    Ok(found)
}

/// A layer that wants everything and keeps nothing: the cost of the SDK's spans and fields
/// reaching a subscriber, without the cost of any particular output.
struct Everything;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Everything {}

fn telemetry_overhead(rt: &tokio::runtime::Runtime) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    let store = MemoryStore::new();
    let tenant = TenantId::new();
    let key = marketingforce_core::IdempotencyKey::new("bench-key-0001").expect("key");
    let run = || {
        measure(
            |_| (),
            |()| {
                rt.block_on(async {
                    for i in 0..1000u64 {
                        let record = if i % 2 == 0 { "even" } else { "odd" };
                        black_box(touch(&store, &tenant, record, &key).await.expect("touch"));
                    }
                });
                1000
            },
        )
    };
    run(); // warm-up: the records exist and the allocator has settled before the baseline
    let none = run();
    let info = tracing::subscriber::with_default(
        tracing_subscriber::registry()
            .with(Everything.with_filter(tracing_subscriber::filter::LevelFilter::INFO)),
        run,
    );
    let all =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(Everything), run);
    println!("\ntelemetry overhead (one #[operation] with a memory get and a one-record commit)");
    println!(
        "{:<52} {:>14} {:>10}",
        "subscriber", "ops/s", "time vs none"
    );
    for (label, rate) in [
        ("none installed (baseline)", none),
        ("registry, info and above (SDK spans filtered out)", info),
        ("registry, every level (all SDK spans and fields)", all),
    ] {
        println!("{label:<52} {rate:>14.0} {:>11.2}x", none / rate);
    }
}
