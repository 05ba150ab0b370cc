//! Domain events of the modules crate: each state change leaves exactly its event in the
//! tenant's outbox, in the same commit; replays leave none; a failed commit leaves neither the
//! change nor the event; quota thresholds are reported once per crossing, even with several
//! processes consuming at once.

use marketingforce_core::IdempotencyKey;
use marketingforce_modules::products::BundleId;
use std::sync::Arc;

use chrono::NaiveDate;
use marketingforce_core::env::Env;
use marketingforce_core::events::{DomainEvent, EventEnvelope, OUTBOX_JOURNAL};
use marketingforce_core::money::Money;
use marketingforce_core::storage::{
    Fault, FaultPlan, FaultyStore, MemoryStore, SqliteStore, Store,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
use marketingforce_modules::entitlements::{AccountId, EntitlementRegistry, Grant, SeatChange};
use marketingforce_modules::events::{
    EntitlementGranted, GrantOrigin, QuotaExhausted, QuotaThresholdReached, SeatAssigned,
    SeatReleased, SubscriptionActivated, SubscriptionCancelled, SubscriptionExpired,
    SubscriptionRefunded, SubscriptionRenewed,
};
use marketingforce_modules::pricing::{QuoteRequest, Term};
use marketingforce_modules::subscriptions::{
    Payment, Renewal, Signing, SubscriptionState, Subscriptions,
};
use marketingforce_modules::ModulesError;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every event in the tenant's outbox, decoded as envelopes.
async fn outbox(store: &dyn Store, tenant: &TenantId) -> Vec<EventEnvelope> {
    store
        .read_journal(tenant, OUTBOX_JOURNAL, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .flat_map(|e| EventEnvelope::all_from_entry(&e.payload).unwrap())
        .collect()
}

fn of<E: DomainEvent>(events: &[EventEnvelope]) -> Vec<E> {
    events
        .iter()
        .filter(|e| e.is::<E>())
        .map(|e| e.decode::<E>().unwrap())
        .collect()
}

fn names(events: &[EventEnvelope]) -> Vec<&str> {
    events.iter().map(EventEnvelope::name).collect()
}

fn signing() -> Signing {
    Signing {
        on: d("2026-03-02"),
        credit_months: 0,
        salesperson: Some("Zhang Wei".into()),
        partner: None,
    }
}

struct World {
    store: Arc<dyn Store>,
    subs: Subscriptions,
    registry: Arc<EntitlementRegistry>,
    tenant: TenantId,
}

fn world(store: Arc<dyn Store>) -> World {
    let clock = clock();
    let registry = Arc::new(
        EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .clock(clock.clone())
                .build(),
        )
        .build(),
    );
    let subs = Subscriptions::builder(&Env::builder(store.clone()).clock(clock).build())
        .registry(registry.clone())
        .build();
    World {
        store,
        subs,
        registry,
        tenant: TenantId::new(),
    }
}

#[test]
fn a_subscription_lifecycle_emits_its_events_once() {
    rt().block_on(async {
        let w = world(Arc::new(MemoryStore::new()));
        let t = w.tenant;
        let req = QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-03-02"), 12));
        let s = w.subs.create_quote(&t, &req, &IdempotencyKey::from_static("quote-1")).await.unwrap();
        let s = w.subs.sign(&t, &s.id, &signing(), &IdempotencyKey::from_static("sign-1")).await.unwrap();
        let pay = Payment {
            on: d("2026-03-02"),
            amount: s.quote.total,
        };
        w.subs
            .record_payment(&t, &s.id, &pay, &IdempotencyKey::from_static("pay-1"))
            .await
            .unwrap();
        // Quoting, signing and paying are not events.
        assert!(outbox(&*w.store, &t).await.is_empty());

        let active = w
            .subs
            .activate(&t, &s.id, d("2026-03-02"), &IdempotencyKey::from_static("act-1"))
            .await
            .unwrap();
        let events = outbox(&*w.store, &t).await;
        let activated = of::<SubscriptionActivated>(&events);
        assert_eq!(activated.len(), 1, "{:?}", names(&events));
        assert_eq!(activated[0].subscription, s.id);
        assert_eq!(activated[0].bundle, "tcloud.basic");
        assert_eq!(activated[0].term_end, d("2027-03-02"));
        assert_eq!(activated[0].contract_value, s.quote.total);
        assert!(!activated[0].on_credit);
        let granted = of::<EntitlementGranted>(&events);
        assert_eq!(granted.len(), active.grants.len());
        assert!(!granted.is_empty());
        assert_eq!(
            granted.iter().map(|g| g.grant).collect::<Vec<_>>(),
            active.grants
        );
        assert!(matches!(&granted[0].origin, GrantOrigin::Subscription { subscription } if *subscription == s.id.to_string()));
        for e in &events {
            assert_eq!(e.tenant(), &t);
            // No personal data: the salesperson's name never leaves.
            assert!(!e.to_json().unwrap().windows(9).any(|w| w == b"Zhang Wei"));
        }

        // Replaying the activation changes nothing and emits nothing.
        w.subs
            .activate(&t, &s.id, d("2026-03-02"), &IdempotencyKey::from_static("act-1"))
            .await
            .unwrap();
        assert_eq!(outbox(&*w.store, &t).await.len(), events.len());

        // Renewal: the old term's event names the quoted renewal.
        let renewal = Renewal {
            months: 12,
            accounts: None,
            add_ons: None,
        };
        let next = w.subs.renew(&t, &s.id, &renewal, &IdempotencyKey::from_static("renew-1")).await.unwrap();
        w.subs.renew(&t, &s.id, &renewal, &IdempotencyKey::from_static("renew-1")).await.unwrap();
        let events = outbox(&*w.store, &t).await;
        let renewed = of::<SubscriptionRenewed>(&events);
        assert_eq!(renewed.len(), 1);
        assert_eq!(renewed[0].subscription, s.id);
        assert_eq!(renewed[0].renewal, next.id);
        assert_eq!(renewed[0].next_term_start, d("2027-03-02"));
        assert_eq!(renewed[0].renewal_value, next.quote.total);

        // Cancelling the renewal: one cancellation, naming the term it renewed.
        w.subs
            .cancel(&t, &next.id, d("2026-04-01"), &IdempotencyKey::from_static("cancel-1"))
            .await
            .unwrap();
        w.subs
            .cancel(&t, &next.id, d("2026-04-01"), &IdempotencyKey::from_static("cancel-1"))
            .await
            .unwrap();
        let events = outbox(&*w.store, &t).await;
        let cancelled = of::<SubscriptionCancelled>(&events);
        assert_eq!(cancelled.len(), 1);
        assert_eq!(cancelled[0].subscription, next.id);
        assert_eq!(cancelled[0].from, SubscriptionState::Quoted);
        assert_eq!(cancelled[0].renewal_of, Some(s.id));

        // The term ends without renewal.
        let expired = w.subs.expire_due(&t, d("2027-03-02")).await.unwrap();
        assert_eq!(expired, vec![s.id]);
        assert!(w.subs.expire_due(&t, d("2027-03-03")).await.unwrap().is_empty());
        let events = outbox(&*w.store, &t).await;
        let ended = of::<SubscriptionExpired>(&events);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].term_end, Some(d("2027-03-02")));
        assert_eq!(
            names(&events).len(),
            granted.len() + 4,
            "{:?}",
            names(&events)
        );
        // Sequence numbers order the events as their changes happened.
        let order: Vec<&str> = names(&events)
            .into_iter()
            .filter(|n| n.starts_with("modules.subscription"))
            .collect();
        assert_eq!(
            order,
            [
                SubscriptionActivated::NAME,
                SubscriptionRenewed::NAME,
                SubscriptionCancelled::NAME,
                SubscriptionExpired::NAME
            ]
        );
    });
}

#[test]
fn a_refund_is_an_event_and_a_refused_refund_is_not() {
    rt().block_on(async {
        let w = world(Arc::new(MemoryStore::new()));
        let t = w.tenant;
        let req = QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-03-02"), 12));
        let s = w
            .subs
            .create_quote(&t, &req, &IdempotencyKey::from_static("q"))
            .await
            .unwrap();
        // Refusing to refund an unpaid subscription writes nothing.
        assert!(w
            .subs
            .refund(
                &t,
                &s.id,
                d("2026-03-03"),
                &IdempotencyKey::from_static("r0")
            )
            .await
            .is_err());
        w.subs
            .sign(&t, &s.id, &signing(), &IdempotencyKey::from_static("s"))
            .await
            .unwrap();
        let pay = Payment {
            on: d("2026-03-02"),
            amount: s.quote.total,
        };
        w.subs
            .record_payment(&t, &s.id, &pay, &IdempotencyKey::from_static("p"))
            .await
            .unwrap();
        assert!(outbox(&*w.store, &t).await.is_empty());
        w.subs
            .refund(
                &t,
                &s.id,
                d("2026-03-03"),
                &IdempotencyKey::from_static("r"),
            )
            .await
            .unwrap();
        let events = outbox(&*w.store, &t).await;
        let refunded = of::<SubscriptionRefunded>(&events);
        assert_eq!(refunded.len(), 1);
        assert_eq!(refunded[0].amount, s.quote.total);
        assert_eq!(events.len(), 1);
    });
}

#[test]
fn a_failed_commit_leaves_neither_the_activation_nor_its_events() {
    rt().block_on(async {
        let faulty = Arc::new(FaultyStore::new(
            Arc::new(MemoryStore::new()),
            FaultPlan::new(7),
        ));
        let w = world(faulty.clone());
        let t = w.tenant;
        let req = QuoteRequest::new(BundleId::TCLOUD_BASIC, Term::new(d("2026-03-02"), 12));
        let s = w
            .subs
            .create_quote(&t, &req, &IdempotencyKey::from_static("q"))
            .await
            .unwrap();
        w.subs
            .sign(&t, &s.id, &signing(), &IdempotencyKey::from_static("s"))
            .await
            .unwrap();
        let pay = Payment {
            on: d("2026-03-02"),
            amount: Money::cny("19800").unwrap(),
        };
        w.subs
            .record_payment(&t, &s.id, &pay, &IdempotencyKey::from_static("p"))
            .await
            .unwrap();
        for fault in [Fault::ErrorBeforeCommit, Fault::PartialWriteRolledBack] {
            faulty.script_matching(fault, "modules.sub:act");
            assert!(w
                .subs
                .activate(
                    &t,
                    &s.id,
                    d("2026-03-02"),
                    &IdempotencyKey::from_static("act")
                )
                .await
                .is_err());
            assert_eq!(
                w.subs.get(&t, &s.id).await.unwrap().state,
                SubscriptionState::Paid
            );
            assert!(outbox(&*w.store, &t).await.is_empty());
        }
        // The change committed with a lost answer: retrying with the key adds nothing more.
        faulty.script_matching(Fault::ErrorAfterCommit, "modules.sub:act");
        assert!(w
            .subs
            .activate(
                &t,
                &s.id,
                d("2026-03-02"),
                &IdempotencyKey::from_static("act")
            )
            .await
            .is_err());
        w.subs
            .activate(
                &t,
                &s.id,
                d("2026-03-02"),
                &IdempotencyKey::from_static("act"),
            )
            .await
            .unwrap();
        let events = outbox(&*w.store, &t).await;
        assert_eq!(of::<SubscriptionActivated>(&events).len(), 1);
    });
}

#[test]
fn grants_and_seats_emit_once_per_change() {
    rt().block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let w = world(store.clone());
        let t = w.tenant;
        let m = ModuleId::LEADS_ALLOCATION;
        let g = Grant::new(t, d("2026-03-01"), d("2027-03-01")).seats(m.clone(), 2);
        let e = w.registry.grant(g.clone()).await.unwrap();
        w.registry.grant(g.clone()).await.unwrap(); // stored before: no change
        let events = outbox(&*store, &t).await;
        let granted = of::<EntitlementGranted>(&events);
        assert_eq!(granted.len(), 1);
        assert_eq!(granted[0].grant, g.id);
        assert_eq!(granted[0].origin, GrantOrigin::Manual);
        assert_eq!(granted[0].seats[0].seats, 2);

        let (a, b) = (
            AccountId::new("user_a").unwrap(),
            AccountId::new("user_b").unwrap(),
        );
        assert_eq!(e.assign_seat(&m, &a).await.unwrap(), SeatChange::Assigned);
        assert_eq!(
            e.assign_seat(&m, &a).await.unwrap(),
            SeatChange::AlreadyAssigned
        );
        e.assign_seat(&m, &b).await.unwrap();
        // Refused (limit reached): nothing written, no event.
        assert!(e
            .assign_seat(&m, &AccountId::new("user_c").unwrap())
            .await
            .is_err());
        e.unassign_seat(&m, &a).await.unwrap();
        assert_eq!(
            e.unassign_seat(&m, &a).await.unwrap(),
            SeatChange::NotAssigned
        );
        let events = outbox(&*store, &t).await;
        let assigned = of::<SeatAssigned>(&events);
        let released = of::<SeatReleased>(&events);
        assert_eq!(
            assigned
                .iter()
                .map(|s| (s.account.as_str(), s.assigned))
                .collect::<Vec<_>>(),
            [("user_a", 1), ("user_b", 2)]
        );
        assert_eq!(released.len(), 1);
        assert_eq!(
            (released[0].account.as_str(), released[0].assigned),
            ("user_a", 1)
        );
        // Another process's view is stale: its seat write is refused, reloaded and rebuilt —
        // and carries exactly one event.
        let other = EntitlementRegistry::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .clock(clock() as Arc<dyn Clock>)
                .build(),
        )
        .build();
        let e2 = other.load(&t).await.unwrap();
        e.assign_seat(&m, &a).await.unwrap();
        assert_eq!(
            e2.unassign_seat(&m, &b).await.unwrap(),
            SeatChange::Unassigned
        );
        let events = outbox(&*store, &t).await;
        assert_eq!(of::<SeatAssigned>(&events).len(), 3);
        assert_eq!(of::<SeatReleased>(&events).len(), 2);
    });
}

#[test]
fn quota_thresholds_are_reported_once_per_crossing() {
    rt().block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let w = world(store.clone());
        let t = w.tenant;
        let unit = UsageUnit::ArticlesPublished;
        let g = Grant::new(t, d("2026-03-01"), d("2027-03-01")).quota(
            unit.clone(),
            10,
            QuotaPeriod::Term,
        );
        let e = w.registry.grant(g).await.unwrap();
        let meter = e.meter();
        let threshold = || async {
            let events = outbox(&*store, &t).await;
            (
                of::<QuotaThresholdReached>(&events),
                of::<QuotaExhausted>(&events),
            )
        };
        for (i, q) in [5u64, 2].iter().enumerate() {
            meter
                .consume_durable(&unit, *q, &IdempotencyKey::new(format!("u{i}")).unwrap())
                .await
                .unwrap();
        }
        assert!(threshold().await.0.is_empty(), "7 of 10 is below 80%");
        // 7 → 8 crosses 80%, in the batch that records it.
        meter
            .consume_durable(&unit, 1u64, &IdempotencyKey::from_static("u8"))
            .await
            .unwrap();
        meter
            .consume_durable(&unit, 1u64, &IdempotencyKey::from_static("u8"))
            .await
            .unwrap(); // a replay
        let (reached, exhausted) = threshold().await;
        assert_eq!(reached.len(), 1);
        assert_eq!(
            (reached[0].used, reached[0].limit, reached[0].percent),
            (8, 10, 80)
        );
        assert_eq!(reached[0].usage_key, "u8");
        assert!(exhausted.is_empty());
        meter
            .consume_durable(&unit, 1u64, &IdempotencyKey::from_static("u9"))
            .await
            .unwrap();
        assert_eq!(threshold().await.0.len(), 1, "above 80%: no new crossing");
        meter
            .consume_durable(&unit, 1u64, &IdempotencyKey::from_static("u10"))
            .await
            .unwrap();
        assert!(meter
            .consume_durable(&unit, 1u64, &IdempotencyKey::from_static("u11"))
            .await
            .is_err());
        let (reached, exhausted) = threshold().await;
        assert_eq!(reached.len(), 1);
        assert_eq!(exhausted.len(), 1);
        assert_eq!((exhausted[0].used, exhausted[0].limit), (10, 10));
        assert_eq!(exhausted[0].usage_key, "u10");
        // The journal agrees: each event sits right after the usage entry that crossed.
        let rebuilt = w.registry.rebuild(&t).await.unwrap();
        assert_eq!(rebuilt.meter().remaining(&unit).get(), 0);
    });
}

#[test]
fn one_batch_crossing_both_thresholds_reports_both() {
    rt().block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let w = world(store.clone());
        let t = w.tenant;
        let unit = UsageUnit::SmsSent;
        let g = Grant::new(t, d("2026-03-01"), d("2027-03-01")).quota(
            unit.clone(),
            100,
            QuotaPeriod::Month,
        );
        let e = w.registry.grant(g).await.unwrap();
        let meter = e.meter();
        // Queued in memory, written by one flush (group commit): the crossing is found by the
        // event that made it, inside the batch.
        for i in 0..10 {
            meter
                .consume(&unit, 10u64, &IdempotencyKey::new(format!("k{i}")).unwrap())
                .unwrap();
        }
        w.registry.flush().await.unwrap();
        let events = outbox(&*store, &t).await;
        let reached = of::<QuotaThresholdReached>(&events);
        let exhausted = of::<QuotaExhausted>(&events);
        assert_eq!(reached.len(), 1);
        assert_eq!(reached[0].usage_key, "k7");
        assert_eq!(reached[0].used, 80);
        assert_eq!(exhausted.len(), 1);
        assert_eq!(exhausted[0].usage_key, "k9");
    });
}

#[test]
fn a_failed_usage_write_leaves_no_threshold_event() {
    rt().block_on(async {
        let faulty = Arc::new(FaultyStore::new(
            Arc::new(MemoryStore::new()),
            FaultPlan::new(3),
        ));
        let w = world(faulty.clone());
        let t = w.tenant;
        let unit = UsageUnit::SmsSent;
        let g = Grant::new(t, d("2026-03-01"), d("2027-03-01")).quota(
            unit.clone(),
            10,
            QuotaPeriod::Term,
        );
        let e = w.registry.grant(g).await.unwrap();
        let meter = e.meter();
        faulty.script_matching(Fault::PartialWriteRolledBack, "journal modules.usage");
        assert!(meter
            .consume_durable(&unit, 9u64, &IdempotencyKey::from_static("big"))
            .await
            .is_err());
        let events = outbox(&*w.store, &t).await;
        assert!(of::<QuotaThresholdReached>(&events).is_empty());
        assert_eq!(w.store.journal_head(&t, "modules.usage").await.unwrap(), 0);
        // The next flush writes the usage and its event, once.
        w.registry.flush().await.unwrap();
        w.registry.flush().await.unwrap();
        let events = outbox(&*w.store, &t).await;
        assert_eq!(of::<QuotaThresholdReached>(&events).len(), 1);
        // A commit whose answer was lost is reconciled as a replay of itself: no second event.
        faulty.script_matching(Fault::ErrorAfterCommit, "journal modules.usage");
        let _ = meter
            .consume_durable(&unit, 1u64, &IdempotencyKey::from_static("last"))
            .await;
        w.registry.flush().await.unwrap();
        assert_eq!(
            meter
                .consume_durable(&unit, 1u64, &IdempotencyKey::from_static("last"))
                .await
                .unwrap()
                .remaining
                .get(),
            0
        );
        let events = outbox(&*w.store, &t).await;
        assert_eq!(of::<QuotaExhausted>(&events).len(), 1);
        assert_eq!(of::<QuotaThresholdReached>(&events).len(), 1);
    });
}

/// Several processes (registries with their own views) consume one tenant's quota at once: the
/// thresholds are still reported exactly once each.
async fn concurrent_consumers(store: Arc<dyn Store>) {
    let t = TenantId::new();
    let unit = UsageUnit::ArticlesPublished;
    let limit = 200u64;
    let g = Grant::new(t, d("2026-03-01"), d("2027-03-01")).quota(
        unit.clone(),
        limit,
        QuotaPeriod::Term,
    );
    let processes: Vec<Arc<EntitlementRegistry>> = (0..3)
        .map(|_| {
            Arc::new(
                EntitlementRegistry::builder(
                    &marketingforce_core::env::Env::builder(store.clone())
                        .clock(clock() as Arc<dyn Clock>)
                        .build(),
                )
                .build(),
            )
        })
        .collect();
    processes[0].grant(g).await.unwrap();
    let mut tasks = Vec::new();
    for (p, reg) in processes.iter().enumerate() {
        for worker in 0..4 {
            let (reg, unit) = (reg.clone(), unit.clone());
            tasks.push(tokio::spawn(async move {
                let e = reg.load(&t).await.unwrap();
                let mut accepted = 0u64;
                for i in 0..40 {
                    let key = IdempotencyKey::new(format!("p{p}-w{worker}-{i}")).unwrap();
                    // The same keys are sent twice, as a retrying client does.
                    for _ in 0..2 {
                        match e.meter().consume_durable(&unit, 2u64, &key).await {
                            Ok(c) if !c.replayed => accepted += 2,
                            Ok(_) => {}
                            Err(err) => assert!(
                                matches!(err, ModulesError::QuotaExceeded { .. })
                                    || err.is_retryable(),
                                "{err}"
                            ),
                        }
                    }
                }
                accepted
            }));
        }
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    for reg in &processes {
        reg.flush().await.unwrap();
    }
    assert!(accepted <= limit, "{accepted}");
    // 480 consumes of 2 against 200: the quota is used up exactly, never exceeded.
    let stored = processes[0].rebuild(&t).await.unwrap();
    assert_eq!(stored.meter().remaining(&unit).get(), 0);
    let events = outbox(&*store, &t).await;
    let reached = of::<QuotaThresholdReached>(&events);
    let exhausted = of::<QuotaExhausted>(&events);
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert_eq!((reached[0].used, reached[0].limit), (160, 200));
    assert_eq!(exhausted.len(), 1, "{exhausted:?}");
    assert_eq!(exhausted[0].used, 200);
    // Every event's tenant and envelope decode; each crossing sits in the batch that recorded
    // the consume named by it.
    let usage = store
        .read_journal(&t, "modules.usage", 0, 100_000)
        .await
        .unwrap();
    let recorded: String = usage
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect();
    assert!(recorded.contains(&format!("\"{}\"", reached[0].usage_key)));
}

#[test]
fn thresholds_are_reported_once_with_concurrent_consumers_in_memory() {
    rt().block_on(concurrent_consumers(Arc::new(MemoryStore::new())));
}

#[test]
fn thresholds_are_reported_once_with_concurrent_consumers_on_sqlite() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("events.sqlite"))
            .await
            .unwrap();
        concurrent_consumers(Arc::new(store)).await;
    });
}
