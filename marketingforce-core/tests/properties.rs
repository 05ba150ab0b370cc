//! Property tests of the core invariants: exact splitting, lossless serde, and — on every backend
//! available — linearisable versioned writes and gap-free journals.

use std::collections::BTreeMap;
use std::sync::Arc;

use marketingforce_core::money::{Currency, Decimal, Money, Rate, RoundingMode};
use marketingforce_core::storage::{Batch, CommitOutcome, Expect, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::Error;
use proptest::prelude::*;

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(Currency::ALL.to_vec())
}

fn money() -> impl Strategy<Value = Money> {
    (any::<i64>(), currency()).prop_map(|(minor, c)| Money::from_minor(minor / 4, c))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn allocate_parts_sum_to_the_whole_and_differ_by_at_most_one_unit(
        m in money(), parts in 1usize..400,
    ) {
        let split = m.allocate(parts).unwrap();
        prop_assert_eq!(split.len(), parts);
        prop_assert_eq!(Money::sum(m.currency(), &split).unwrap(), m);
        let minors: Vec<i128> = split.iter().map(|p| p.to_minor().unwrap()).collect();
        let (lo, hi) = (minors.iter().min().unwrap(), minors.iter().max().unwrap());
        prop_assert!(hi - lo <= 1, "parts differ by more than one minor unit: {minors:?}");
    }

    #[test]
    fn weighted_allocation_is_exact_and_within_one_unit_of_each_share(
        m in money(),
        weights in prop::collection::vec(0u32..10_000, 1..40),
    ) {
        prop_assume!(weights.iter().any(|w| *w > 0));
        let ws: Vec<Decimal> = weights.iter().map(|w| Decimal::new(i64::from(*w), 2)).collect();
        let split = m.allocate_by_weights(&ws).unwrap();
        prop_assert_eq!(Money::sum(m.currency(), &split).unwrap(), m);
        let total_w: Decimal = ws.iter().sum();
        let unit = Decimal::new(1, m.currency().minor_units());
        for (part, w) in split.iter().zip(&ws) {
            let exact = m.amount() * *w / total_w;
            prop_assert!((part.amount() - exact).abs() < unit, "{part} vs exact {exact}");
            if w.is_zero() {
                prop_assert!(part.is_zero());
            }
        }
    }

    #[test]
    fn money_serde_round_trips_exactly(mantissa in any::<i64>(), scale in 0u32..10, c in currency()) {
        let m = Money::new(Decimal::new(mantissa, scale), c);
        let json = serde_json::to_string(&m).unwrap();
        let back: Money = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, m);
        prop_assert_eq!(back.amount().scale(), m.amount().scale());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let amount = v["amount"].as_str().unwrap();
        prop_assert!(!amount.contains(['e', 'E']), "no exponent forms: {}", json);
    }

    #[test]
    fn rate_serde_round_trips(permille in 0u32..=1000) {
        let r = Rate::new(Decimal::new(i64::from(permille), 3)).unwrap();
        let back: Rate = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        prop_assert_eq!(back, r);
        let shown: Rate = r.to_string().parse().unwrap();
        prop_assert_eq!(shown, r);
    }
}

// ---------------------------------------------------------------------------------------------
// Money at the extremes: every operation answers (a value or a typed error), never panics.

/// Any decimal a `Decimal` holds: a 96-bit mantissa of either sign at any scale.
fn extreme_decimal() -> impl Strategy<Value = Decimal> {
    let mantissa = prop_oneof![
        Just((1i128 << 96) - 1),
        Just(-((1i128 << 96) - 1)),
        Just(0i128),
        Just(1i128),
        -((1i128 << 96) - 1)..(1i128 << 96),
    ];
    (mantissa, 0u32..=28).prop_map(|(m, scale)| Decimal::from_i128_with_scale(m, scale))
}

fn any_rate() -> impl Strategy<Value = Rate> {
    (0u64..=10u64.pow(18), 0u32..=28).prop_map(|(m, scale)| {
        Rate::new(Decimal::from_i128_with_scale(i128::from(m), scale)).unwrap_or(Rate::ONE)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn money_arithmetic_never_panics_at_the_extremes(
        a in extreme_decimal(),
        b in extreme_decimal(),
        c in currency(),
        rate in any_rate(),
        dp in 0u32..40,
        parts in 1usize..20,
        weights in prop::collection::vec(extreme_decimal(), 1..6),
    ) {
        let (x, y) = (Money::new(a, c), Money::new(b, c));
        let _ = x.checked_add(&y);
        let _ = x.checked_sub(&y);
        let _ = x.checked_mul(b);
        let _ = x.checked_div(b);
        let _ = x.ratio_to(&y);
        let _ = x.mul_rate(rate);
        let _ = x.negate().abs().to_minor();
        for mode in [
            RoundingMode::HalfEven,
            RoundingMode::HalfUp,
            RoundingMode::HalfDown,
            RoundingMode::Down,
            RoundingMode::Up,
            RoundingMode::Floor,
            RoundingMode::Ceiling,
        ] {
            let _ = x.round(mode);
            let _ = x.round_dp(dp, mode);
        }
        let _ = rate.percent();
        let _ = rate.complement();
        let _ = x.allocate(parts);
        let _ = x.round(RoundingMode::Down).allocate(parts);
        let _ = x.round(RoundingMode::Down).allocate_by_weights(&weights);
        let abs: Vec<Decimal> = weights.iter().map(|w| w.abs()).collect();
        let _ = x.round(RoundingMode::Down).allocate_by_weights(&abs);
        let _ = Money::parse(&x.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Backend properties.

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn backends() -> Vec<Arc<dyn Store>> {
    let mut out: Vec<Arc<dyn Store>> = vec![Arc::new(MemoryStore::new())];
    #[cfg(feature = "sqlite")]
    {
        use marketingforce_core::storage::SqliteStore;
        out.push(Arc::new(SqliteStore::open_in_memory().await.unwrap()));
    }
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") {
        use marketingforce_core::storage::postgres::{PostgresOptions, PostgresStore};
        let schema = std::env::var("MARKETINGFORCE_TEST_POSTGRES_SCHEMA")
            .unwrap_or_else(|_| "mf_test_properties".into());
        let mut o = PostgresOptions::new(url).schema(schema);
        o.max_connections = 6;
        out.push(Arc::new(PostgresStore::connect_with(o).await.unwrap()));
    } else {
        eprintln!("PostgreSQL properties skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
    }
    out
}

/// Each writer tries to append its operation ids to a shared record with compare-and-set,
/// retrying `tries` times on conflict. Returns the (version produced, op id) of each success.
async fn cas_writer(
    store: Arc<dyn Store>,
    tenant: TenantId,
    writer: u32,
    ops: u32,
    tries: u32,
) -> Vec<(u64, String)> {
    let mut won = Vec::new();
    for op in 0..ops {
        let id = format!("w{writer}-{op}");
        for _ in 0..tries {
            let current = store.get(&tenant, "cas", "shared").await.unwrap();
            let (expect, mut history): (Expect, Vec<String>) = match current {
                Some(r) => (
                    Expect::Version(r.version),
                    serde_json::from_slice(&r.value).unwrap(),
                ),
                None => (Expect::Absent, Vec::new()),
            };
            history.push(id.clone());
            let mut b = Batch::new();
            b.put(
                "cas",
                "shared",
                serde_json::to_vec(&history).unwrap(),
                vec![],
                expect,
            );
            match store.commit(&tenant, b).await {
                Ok(CommitOutcome::Committed(r)) => {
                    won.push((r.versions[0], id.clone()));
                    break;
                }
                Ok(other) => panic!("unexpected {other:?}"),
                Err(Error::Conflict { .. }) => {}
                Err(e) if e.is_retryable() => {}
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }
    won
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any interleaving of concurrent versioned writers leaves exactly the sequence of the
    /// successful writes: versions 1..=n without gaps, and the stored history is the successful
    /// writes in version order.
    #[test]
    fn concurrent_versioned_writes_are_linearisable(
        writers in 2u32..6, ops in 1u32..6, tries in 1u32..4,
    ) {
        runtime().block_on(async {
            for store in backends().await {
                let tenant = TenantId::new();
                let handles: Vec<_> = (0..writers)
                    .map(|w| tokio::spawn(cas_writer(store.clone(), tenant, w, ops, tries)))
                    .collect();
                let mut wins: Vec<(u64, String)> = Vec::new();
                for h in handles {
                    wins.extend(h.await.unwrap());
                }
                wins.sort();
                let versions: Vec<u64> = wins.iter().map(|(v, _)| *v).collect();
                let expected: Vec<u64> = (1..=wins.len() as u64).collect();
                assert_eq!(versions, expected, "{}: versions must be 1..=n", store.backend());
                let stored = store.get(&tenant, "cas", "shared").await.unwrap();
                let history: Vec<String> = stored
                    .map(|r| serde_json::from_slice(&r.value).unwrap())
                    .unwrap_or_default();
                let ids: Vec<String> = wins.into_iter().map(|(_, id)| id).collect();
                assert_eq!(history, ids, "{}: history must equal the successful writes", store.backend());
            }
        });
    }

    /// Journals number entries 1..=n per journal, in commit order, whatever the mix of batches.
    #[test]
    fn journal_sequences_are_gap_free_and_ordered(
        batches in prop::collection::vec(prop::collection::vec((0usize..3, any::<u8>()), 0..8), 1..12),
    ) {
        runtime().block_on(async {
            for store in backends().await {
                let tenant = TenantId::new();
                let mut model: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
                for (i, batch) in batches.iter().enumerate() {
                    let mut b = Batch::new();
                    for (j, (journal, byte)) in batch.iter().enumerate() {
                        let payload = vec![i as u8, j as u8, *byte];
                        b.append(format!("j{journal}"), payload.clone());
                        model.entry(*journal).or_default().push(payload);
                    }
                    store.commit(&tenant, b).await.unwrap();
                }
                for journal in 0..3usize {
                    let entries = store
                        .read_journal(&tenant, &format!("j{journal}"), 0, 10_000)
                        .await
                        .unwrap();
                    let want = model.get(&journal).cloned().unwrap_or_default();
                    assert_eq!(entries.len(), want.len());
                    for (k, (e, p)) in entries.iter().zip(&want).enumerate() {
                        assert_eq!(e.seq, k as u64 + 1, "{}: gap in j{journal}", store.backend());
                        assert_eq!(&e.payload, p);
                    }
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The head protocol ("several processes, one store"): writers with their own, possibly stale,
// views of one quota journal converge, and no update is lost or granted twice.

#[cfg(feature = "testing")]
mod head_protocol {
    use super::*;
    use marketingforce_core::storage::{catch_up, poll_then_drop};

    const JOURNAL: &str = "quota";
    const ATTEMPTS: usize = 8;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Consumed {
        op: String,
        units: u64,
    }

    /// One "process": a view of the quota journal up to a position.
    struct Writer {
        store: Arc<dyn Store>,
        tenant: TenantId,
        limit: u64,
        position: u64,
        used: u64,
    }

    /// What became of one operation, as its writer saw it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Granted,
        Refused,
        Conflict,
        /// The call was dropped before it answered.
        Dropped,
    }

    impl Writer {
        async fn refresh(&mut self) {
            let mut used = self.used;
            self.position = catch_up(&*self.store, &self.tenant, JOURNAL, self.position, |e| {
                let c: Consumed = serde_json::from_slice(&e.payload)?;
                used += c.units;
                Ok(())
            })
            .await
            .expect("catch up");
            self.used = used;
        }

        /// Consume `units` under idempotency key `op`, following the protocol.
        async fn consume(&mut self, op: &str, units: u64, polls: Option<usize>) -> Seen {
            for _ in 0..ATTEMPTS {
                if self.used + units > self.limit {
                    return Seen::Refused;
                }
                let mut batch = Batch::new();
                batch
                    .expect_head(JOURNAL, self.position)
                    .append_json(
                        JOURNAL,
                        &Consumed {
                            op: op.to_string(),
                            units,
                        },
                    )
                    .unwrap()
                    .claim_idempotency(op, units.to_string(), b"granted".to_vec());
                let call = self.store.commit(&self.tenant, batch);
                let outcome = match polls {
                    // Cancelled at a chosen await point: memory must not move.
                    Some(n) => match poll_then_drop(call, n).await {
                        Some(outcome) => outcome,
                        None => return Seen::Dropped,
                    },
                    None => call.await,
                };
                match outcome {
                    Ok(CommitOutcome::Committed(r)) => {
                        assert_eq!(r.sequences, [self.position + 1]);
                        self.position += 1;
                        self.used += units;
                        return Seen::Granted;
                    }
                    Ok(CommitOutcome::Replayed(_)) => {
                        // An earlier, dropped attempt committed: learn it from the journal.
                        self.refresh().await;
                        return Seen::Granted;
                    }
                    Err(Error::StaleView { .. }) => self.refresh().await,
                    Err(e) if e.is_retryable() => {}
                    Err(e) => panic!("{op}: unexpected error {e}"),
                }
            }
            Seen::Conflict
        }
    }

    async fn run_writers(store: Arc<dyn Store>, plans: Vec<Vec<(u64, Option<usize>)>>, limit: u64) {
        let tenant = TenantId::new();
        let handles: Vec<_> = plans
            .into_iter()
            .enumerate()
            .map(|(w, plan)| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut writer = Writer {
                        store,
                        tenant,
                        limit,
                        position: 0,
                        used: 0,
                    };
                    let mut seen = Vec::new();
                    for (i, (units, polls)) in plan.into_iter().enumerate() {
                        let op = format!("w{w}-op{i}");
                        let mut s = writer.consume(&op, units, polls).await;
                        if s == Seen::Dropped {
                            // The client retries with the same key: it learns what happened.
                            s = writer.consume(&op, units, None).await;
                        }
                        seen.push((op, units, s));
                    }
                    (writer, seen)
                })
            })
            .collect();
        let mut done = Vec::new();
        for h in handles {
            done.push(h.await.unwrap());
        }
        let mut granted = BTreeMap::new();
        let mut views = Vec::new();
        for (mut writer, seen) in done {
            // Everyone is done: one catch-up brings each view to the store's state.
            writer.refresh().await;
            views.push((writer.position, writer.used));
            for (op, units, s) in seen {
                assert_ne!(s, Seen::Dropped);
                if s == Seen::Granted {
                    granted.insert(op, units);
                }
            }
        }
        let entries = store
            .read_journal(&tenant, JOURNAL, 0, 1_000_000)
            .await
            .unwrap();
        let mut in_journal = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1, "{}: gap", store.backend());
            let c: Consumed = serde_json::from_slice(&e.payload).unwrap();
            assert!(
                in_journal.insert(c.op.clone(), c.units).is_none(),
                "{}: {} consumed twice",
                store.backend(),
                c.op
            );
        }
        // Exactly the granted operations are stored: none lost, none granted twice.
        assert_eq!(granted, in_journal, "{}", store.backend());
        let total: u64 = in_journal.values().sum();
        assert!(total <= limit, "{}: {total} > {limit}", store.backend());
        // Every view converged on the store.
        for (position, used) in views {
            assert_eq!(
                (position, used),
                (entries.len() as u64, total),
                "{}",
                store.backend()
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10))]

        /// Writers race with stale views (and some calls cancelled mid-commit, then retried
        /// with the same key): the quota is never exceeded, exactly the granted operations are
        /// in the journal, and every view converges on it.
        #[test]
        fn stale_writers_converge_without_lost_or_double_updates(
            plans in prop::collection::vec(
                prop::collection::vec((1u64..5, prop::option::weighted(0.2, 1usize..4)), 1..10),
                2..6,
            ),
            limit in 5u64..60,
        ) {
            runtime().block_on(async {
                for store in backends().await {
                    run_writers(store, plans.clone(), limit).await;
                }
            });
        }
    }
}
