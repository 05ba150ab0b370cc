//! Several service instances over one store: aggregate throughput with 1, 2 and 4 instances for
//! durable quota consumes, lead captures and ledger transfers, with tenant-affine routing (every
//! tenant's requests to one instance) and random routing, each as a ratio to one instance.
//!
//! Each instance has its own store handle (its own PostgreSQL pool, or its own SQLite
//! connection) and its own in-memory views, as a process would; they share this process's two
//! cores. PostgreSQL when `MARKETINGFORCE_TEST_POSTGRES_URL` is set, otherwise one SQLite file.
//! `MF_BENCH_OPS` sets the commands per run (default 2,000).
//!
//! ```sh
//! MARKETINGFORCE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p marketingforce --bench instances
//! ```

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use marketingforce::ads::ledger::{
    Account, AccountFlags, AccountId as LedgerAccount, Ledger, Leg, TransferId, TransferSpec,
};
use marketingforce::core::money::Currency;
use marketingforce::core::storage::{self, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::{Clock, ManualClock};
use marketingforce::crm::crypto::KeyRing;
use marketingforce::crm::model::Source;
use marketingforce::crm::request::CaptureRequest;
use marketingforce::crm::Crm;
use marketingforce::modules::catalog::{QuotaPeriod, UsageUnit};
use marketingforce::modules::entitlements::{EntitlementRegistry, Grant};

const TENANTS: usize = 4;
/// Concurrent clients per run.
const CLIENTS: usize = 16;

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").expect("clock"))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Consume,
    Capture,
    Transfer,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Consume => "consume",
            Op::Capture => "capture",
            Op::Transfer => "transfer",
        }
    }
}

/// One instance: its own store handle and services.
struct Instance {
    registry: EntitlementRegistry,
    crm: Crm,
    ledgers: Vec<Ledger>,
}

async fn instance(url: &str, tenants: &[TenantId]) -> Instance {
    let store = storage::open(url).await.expect("store");
    let mut ledgers = Vec::new();
    for t in tenants {
        ledgers.push(
            Ledger::open(&Env::builder(store.clone()).clock(clock()).build(), *t)
                .await
                .expect("ledger"),
        );
    }
    Instance {
        registry: EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .clock(clock())
                .build(),
        )
        .build(),
        crm: Crm::builder(
            &marketingforce_core::env::Env::builder(store)
                .keys(Arc::new(KeyRing::new("k1", [7; 32])))
                .clock(clock())
                .build(),
        )
        .build()
        .expect("crm"),
        ledgers,
    }
}

async fn prepare(store: Arc<dyn Store>, tenants: &[TenantId]) {
    let registry = EntitlementRegistry::builder(
        &marketingforce_core::env::Env::builder(store.clone())
            .clock(clock())
            .build(),
    )
    .build();
    let d = |s: &str| s.parse::<NaiveDate>().expect("date");
    for (i, t) in tenants.iter().enumerate() {
        registry
            .grant(Grant::new(*t, d("2026-03-01"), d("2027-03-01")).quota(
                UsageUnit::ArticlesPublished,
                10_000_000,
                QuotaPeriod::Month,
            ))
            .await
            .expect("grant");
        let ledger = Ledger::open(&Env::builder(store.clone()).clock(clock()).build(), *t)
            .await
            .expect("ledger");
        let account = |id: u128| Account {
            id: LedgerAccount::new(id),
            currency: Currency::CNY,
            code: 1,
            owner: 0,
            flags: AccountFlags::NONE,
        };
        ledger
            .create_accounts(vec![account(1), account(2)])
            .await
            .unwrap_or_else(|e| panic!("accounts of tenant {i}: {e}"));
    }
}

/// Rate (commands/s) of `ops` commands of `op` spread over `n` instances.
async fn run(url: &str, op: Op, n: usize, affine: bool, ops: usize, round: u64) -> f64 {
    let store = storage::open(url).await.expect("store");
    let tenants: Vec<TenantId> = (0..TENANTS).map(|_| TenantId::new()).collect();
    prepare(store, &tenants).await;
    let mut instances = Vec::new();
    for _ in 0..n {
        instances.push(Arc::new(instance(url, &tenants).await));
    }
    let tenants = Arc::new(tenants);
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let instances = instances.clone();
        let tenants = tenants.clone();
        clients.push(tokio::spawn(async move {
            let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64) ^ (round << 32);
            for k in (c..ops).step_by(CLIENTS) {
                rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let t = k % TENANTS;
                let target = if affine {
                    t % instances.len()
                } else {
                    (rng >> 33) as usize % instances.len()
                };
                let inst = &instances[target];
                let tenant = tenants[t];
                match op {
                    Op::Consume => {
                        let meter = inst.registry.load(&tenant).await.expect("load").meter();
                        let key = IdempotencyKey::new(format!("r{round}-k{k}")).expect("key");
                        retry(|| meter.consume_durable(&UsageUnit::ArticlesPublished, 1u64, &key))
                            .await;
                    }
                    Op::Capture => {
                        let request = CaptureRequest::new(Source::OwnSite).mobile(format!(
                            "139{:08}",
                            (round * 1_000_000 + k as u64) % 100_000_000
                        ));
                        let key = IdempotencyKey::new(format!("r{round}-k{k}")).expect("key");
                        retry(|| inst.crm.capture(&tenant, request.clone(), &key)).await;
                    }
                    Op::Transfer => {
                        let spec = TransferSpec::posted(
                            TransferId::new((u128::from(round) << 64) | (k as u128 + 1)),
                            vec![
                                Leg::debit_minor(LedgerAccount::new(1), 1, Currency::CNY),
                                Leg::credit_minor(LedgerAccount::new(2), 1, Currency::CNY),
                            ],
                        );
                        retry(|| inst.ledgers[t].post(vec![spec.clone()])).await;
                    }
                }
            }
        }));
    }
    for c in clients {
        c.await.expect("client");
    }
    ops as f64 / started.elapsed().as_secs_f64()
}

/// Retry an answer that says retrying may help (a stale view under contention, an unknown
/// outcome), as a client with the same key does.
async fn retry<T, E, F, Fut>(mut call: F) -> T
where
    E: marketingforce::core::Classify + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    for _ in 0..50 {
        match call().await {
            Ok(v) => return v,
            Err(e) if e.is_retryable() => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no answer after 50 attempts")
}

fn main() {
    let ops: usize = std::env::var("MF_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("dir");
    let (url, backend) = match std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") {
        Ok(base) => {
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{sep}schema=mf_bench_instances"),
                "PostgreSQL",
            )
        }
        Err(_) => (
            format!("sqlite:{}", dir.path().join("instances.sqlite").display()),
            "SQLite",
        ),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("== several instances over one {backend} store, {ops} commands, {CLIENTS} clients, {TENANTS} tenants ==");
    let mut figures = Vec::new();
    let mut round = 0u64;
    for op in [Op::Consume, Op::Capture, Op::Transfer] {
        round += 1;
        let one = rt.block_on(run(&url, op, 1, true, ops, round));
        println!(
            "{:<9} 1 instance                 {:>9.0} /s  1.00x",
            op.name(),
            one
        );
        for n in [2usize, 4] {
            for affine in [true, false] {
                round += 1;
                let rate = rt.block_on(run(&url, op, n, affine, ops, round));
                let routing = if affine { "affine" } else { "random" };
                println!(
                    "{:<9} {n} instances, {routing:<7} {:>14.0} /s  {:.2}x",
                    op.name(),
                    rate,
                    rate / one
                );
                figures.push(serde_json::json!({
                    "id": format!("instances.{}.{routing}.{n}", op.name()),
                    "label": format!("{} through {n} instances over one {backend} store, {routing} routing", op.name()),
                    "value": rate,
                    "unit": "commands/s",
                    "baseline": format!("{} through 1 instance", op.name()),
                    "baseline_value": one,
                }));
            }
        }
    }
    println!("JSON {}", serde_json::Value::Array(figures));
}
