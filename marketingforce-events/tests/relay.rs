//! The relay over one store: order, crash and takeover, fencing, failures and dead letters,
//! replay, lag, cancellation at every await point, and two relays running concurrently.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{check_first_seen_order, dead_letters, env, numbers, produce, produce_commits};
use marketingforce_core::env::Env;
use marketingforce_core::events::{Outbox, OUTBOX_JOURNAL};
use marketingforce_core::storage::{poll_then_drop, Batch, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_events::{
    EventSink, EventsError, FailureKind, LeaseHolder, MemorySink, NextStep, OutboxEvent, Relay,
    RetryPolicy, SinkFailure, StartFrom, TenantLag,
};

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap())
}

fn manual_env(store: &Arc<dyn Store>, clock: &Arc<ManualClock>) -> Env {
    Env::builder(store.clone()).clock(clock.clone()).build()
}

/// A relay to a memory sink, pumped until it has caught up with `tenant`'s outbox (ten steps at
/// most).
async fn relayed(env: &Env, tenant: &TenantId) -> (MemorySink, Relay) {
    let sink = MemorySink::new("memory");
    let relay = Relay::builder(env, Arc::new(sink.clone())).build().unwrap();
    let mut steps = 0;
    while relay.pump(tenant).await.unwrap().next != NextStep::CaughtUp {
        steps += 1;
        assert!(steps < 10);
    }
    (sink, relay)
}

fn seqs(events: &[OutboxEvent]) -> Vec<u64> {
    events.iter().map(OutboxEvent::seq).collect()
}

#[tokio::test]
async fn delivers_in_order_and_a_second_relay_takes_over_after_a_crash() {
    let store = memory();
    let clock = clock();
    let env = manual_env(&store, &clock);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    produce(&store, &outbox, &tenant, 1, 1200).await;

    let first = MemorySink::new("memory");
    let a = Relay::builder(&env, Arc::new(first.clone()))
        .page_size(500)
        .lease_ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    let step = a.pump(&tenant).await.unwrap();
    assert_eq!(
        (step.delivered, step.position, step.next),
        (500, 500, NextStep::More)
    );
    // Relay A "crashes" (is dropped) holding the lease; B must wait for it to expire.
    drop(a);
    let second = MemorySink::new("memory");
    let b = Relay::builder(&env, Arc::new(second.clone()))
        .page_size(500)
        .lease_ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(matches!(
        b.pump(&tenant).await.unwrap().next,
        NextStep::HeldElsewhere { .. }
    ));
    assert!(second.delivered().is_empty());
    clock.advance(chrono::Duration::seconds(11));
    let mut delivered = 0;
    loop {
        let step = b.pump(&tenant).await.unwrap();
        delivered += step.delivered;
        if step.next == NextStep::CaughtUp {
            break;
        }
    }
    assert_eq!(delivered, 700);
    let all: Vec<u64> = seqs(&first.delivered())
        .into_iter()
        .chain(seqs(&second.delivered()))
        .collect();
    assert_eq!(all, (1..=1200).collect::<Vec<_>>());
    let lag = TenantLag::read(&*store, &tenant, "memory", Some(b.holder()), clock.now())
        .await
        .unwrap();
    assert_eq!((lag.position, lag.head, lag.pending()), (1200, 1200, 0));
    assert!(matches!(lag.lease, LeaseHolder::ThisRelay { .. }));
}

#[tokio::test]
async fn a_commits_events_share_an_entry_and_pages_may_end_inside_it() {
    let store = memory();
    let clock = clock();
    let env = manual_env(&store, &clock);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    // Four commits of 3, 5, 1 and 4 events: four outbox entries, thirteen events.
    let sent = produce_commits(&store, &outbox, &tenant, 1, &[3, 5, 1, 4]).await;
    assert_eq!(
        store.journal_head(&tenant, OUTBOX_JOURNAL).await.unwrap(),
        4
    );

    let first = MemorySink::new("memory");
    let a = Relay::builder(&env, Arc::new(first.clone()))
        .page_size(4)
        .lease_ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    let step = a.pump(&tenant).await.unwrap();
    // Three of the first entry, the first of the second: the cursor stops inside entry 2.
    assert_eq!(
        (step.delivered, step.position, step.line, step.next),
        (4, 1, 1, NextStep::More)
    );
    let places: Vec<(u64, u32)> = first
        .delivered()
        .iter()
        .map(|e| (e.seq(), e.line()))
        .collect();
    assert_eq!(places, [(1, 0), (1, 1), (1, 2), (2, 0)]);
    let lag = TenantLag::read(&*store, &tenant, "memory", None, clock.now())
        .await
        .unwrap();
    assert_eq!((lag.position, lag.line, lag.pending()), (1, 1, 3));
    assert_eq!(lag.oldest_pending_at, Some(sent[4].occurred_at()));

    // Relay A "crashes"; B continues from the middle of entry 2 once the lease expires.
    drop(a);
    clock.advance(chrono::Duration::seconds(11));
    let second = MemorySink::new("memory");
    let b = Relay::builder(&env, Arc::new(second.clone()))
        .page_size(4)
        .build()
        .unwrap();
    while b.pump(&tenant).await.unwrap().next != NextStep::CaughtUp {}
    let mut all = numbers(&first.delivered());
    all.extend(numbers(&second.delivered()));
    assert_eq!(
        all,
        (1..=13).collect::<Vec<_>>(),
        "each event once, in order"
    );
    let report = b.pump(&tenant).await.unwrap();
    assert_eq!((report.position, report.line), (4, 0));

    // Replay of an entry range delivers every line of those entries.
    let replayed = b.replay(&tenant, 2..=3).await.unwrap();
    assert_eq!(replayed.delivered, 6);
    assert_eq!(numbers(&second.delivered()[9..]), [4, 5, 6, 7, 8, 9]);
}

#[tokio::test]
async fn an_event_inside_an_entry_is_dead_lettered_by_its_line_and_redelivered() {
    let store = memory();
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    let sent = produce_commits(&store, &outbox, &tenant, 1, &[2, 4]).await;
    // The sink refuses the fourth event for good (line 1 of entry 2).
    let sink = MemorySink::new("memory").with_retry(RetryPolicy::limited(
        1,
        Duration::from_millis(1),
        Duration::from_millis(1),
    ));
    sink.fail_next(3, FailureKind::Refused);
    let relay = Relay::builder(&env, Arc::new(sink.clone()))
        .build()
        .unwrap();
    let step = relay.pump(&tenant).await.unwrap();
    assert_eq!(
        (step.delivered, step.dead_lettered, step.position, step.line),
        (3, 1, 1, 2)
    );
    while relay.pump(&tenant).await.unwrap().next != NextStep::CaughtUp {}
    assert_eq!(numbers(&sink.delivered()), [1, 2, 3, 5, 6]);
    let dead = dead_letters(&relay, &tenant).await;
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].seq, dead[0].line), (2, 1));
    assert_eq!(dead[0].event_id, Some(sent[3].id()));
    let redone = relay.redeliver_dead_letters(&tenant).await.unwrap();
    assert_eq!((redone.delivered, redone.skipped), (1, 0));
    assert_eq!(numbers(&sink.delivered()), [1, 2, 3, 5, 6, 4]);
    assert!(dead_letters(&relay, &tenant).await.is_empty());
}

/// A sink that blocks inside `deliver` until released, so a takeover can happen mid-delivery.
#[derive(Debug)]
struct Gate {
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
    inner: MemorySink,
}

#[async_trait]
impl EventSink for Gate {
    fn id(&self) -> &str {
        "memory"
    }
    async fn deliver(&self, tenant: &TenantId, events: &[OutboxEvent]) -> Result<(), SinkFailure> {
        self.entered.notify_one();
        self.release.notified().await;
        self.inner.deliver(tenant, events).await
    }
}

#[tokio::test]
async fn a_relay_that_lost_its_lease_cannot_move_the_cursor() {
    let store = memory();
    let clock = clock();
    let env = manual_env(&store, &clock);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    produce(&store, &outbox, &tenant, 1, 30).await;

    let gate = Arc::new(Gate {
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
        inner: MemorySink::new("memory"),
    });
    let slow = Relay::builder(&env, gate.clone())
        .page_size(10)
        .lease_ttl(Duration::from_secs(5))
        .delivery_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let task = tokio::spawn({
        let slow = slow.clone();
        async move { slow.pump(&tenant).await }
    });
    gate.entered.notified().await;
    // The slow relay's lease expires while it delivers; another relay takes over.
    clock.advance(chrono::Duration::seconds(6));
    let fast_sink = MemorySink::new("memory");
    let fast = Relay::builder(&env, Arc::new(fast_sink.clone()))
        .page_size(10)
        .lease_ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    let step = fast.pump(&tenant).await.unwrap();
    assert_eq!((step.delivered, step.position), (10, 10));
    let step = fast.pump(&tenant).await.unwrap();
    assert_eq!(step.position, 20);
    gate.release.notify_one();
    let lost = task.await.unwrap().unwrap_err();
    assert!(
        matches!(&lost, EventsError::LeaseLost { epoch: 1, .. }),
        "{lost}"
    );
    // The cursor is the new holder's; the slow relay delivered its page (a duplicate run in
    // order) but moved nothing.
    let lag = TenantLag::read(&*store, &tenant, "memory", None, clock.now())
        .await
        .unwrap();
    assert_eq!(lag.position, 20);
    assert_eq!(seqs(&gate.inner.delivered()), (1..=10).collect::<Vec<_>>());
    // The slow relay now sees the other holder and stays out.
    assert!(matches!(
        slow.pump(&tenant).await.unwrap().next,
        NextStep::HeldElsewhere { .. }
    ));
}

#[tokio::test]
async fn failures_back_off_then_dead_letter_and_can_be_redelivered() {
    let store = memory();
    let clock = clock();
    let env = manual_env(&store, &clock);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    let sent = produce(&store, &outbox, &tenant, 1, 6).await;

    let sink = MemorySink::new("memory").with_retry(RetryPolicy::limited(
        3,
        Duration::from_secs(1),
        Duration::from_secs(4),
    ));
    // Two accepted, then event 3 fails three times.
    sink.fail_next(2, FailureKind::Refused)
        .fail_next(0, FailureKind::TimedOut)
        .fail_next(0, FailureKind::Unavailable);
    let relay = Relay::builder(&env, Arc::new(sink.clone()))
        .build()
        .unwrap();

    let step = relay.pump(&tenant).await.unwrap();
    assert_eq!(step.delivered, 2);
    let NextStep::RetryAt(at) = step.next else {
        panic!("{step:?}")
    };
    // Not before the backoff (between 0.5 s and 1 s after the failure).
    assert!(at > clock.now() + chrono::Duration::milliseconds(499));
    assert!(matches!(
        relay.pump(&tenant).await.unwrap().next,
        NextStep::RetryAt(_)
    ));
    let lag = relay.lag();
    assert_eq!((lag.pending(), lag.tenants[0].attempts), (4, 1));
    assert!(lag.tenants[0]
        .last_failure
        .as_deref()
        .unwrap()
        .contains("refused"));
    assert_eq!(
        lag.oldest_age().unwrap(),
        Duration::ZERO,
        "the manual clock has not moved"
    );

    clock.advance(chrono::Duration::seconds(2));
    assert!(matches!(
        relay.pump(&tenant).await.unwrap().next,
        NextStep::RetryAt(_)
    ));
    clock.advance(chrono::Duration::seconds(5));
    let step = relay.pump(&tenant).await.unwrap();
    assert_eq!(
        (step.delivered, step.dead_lettered, step.position),
        (0, 1, 3)
    );
    let step = relay.pump(&tenant).await.unwrap();
    assert_eq!((step.delivered, step.position), (3, 6));
    assert_eq!(seqs(&sink.delivered()), [1, 2, 4, 5, 6]);

    let dead = dead_letters(&relay, &tenant).await;
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].seq, dead[0].attempts), (3, 3));
    assert_eq!(dead[0].event_id, Some(sent[2].id()));
    assert!(dead[0].reason.contains("unavailable"));
    assert_eq!(relay.lag().tenants[0].dead_lettered, 1);

    let redone = relay.redeliver_dead_letters(&tenant).await.unwrap();
    assert_eq!(redone.delivered, 1);
    assert_eq!(seqs(&sink.delivered()), [1, 2, 4, 5, 6, 3]);
    assert!(dead_letters(&relay, &tenant).await.is_empty());

    // Replay of a range: delivered again, cursor unmoved.
    let replayed = relay.replay(&tenant, 2..=4).await.unwrap();
    assert_eq!(replayed.delivered, 3);
    assert_eq!(&seqs(&sink.delivered())[6..], [2, 3, 4]);
    assert_eq!(relay.pump(&tenant).await.unwrap().position, 6);
}

#[tokio::test]
async fn an_undecodable_entry_is_dead_lettered_and_does_not_block_the_rest() {
    let store = memory();
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    produce(&store, &outbox, &tenant, 1, 2).await;
    let mut batch = Batch::new();
    batch.append(OUTBOX_JOURNAL, b"not an envelope".to_vec());
    store.commit(&tenant, batch).await.unwrap();
    produce(&store, &outbox, &tenant, 3, 2).await;
    // Another tenant's envelope in this tenant's outbox is refused too.
    let other = produce(&store, &outbox, &TenantId::new(), 1, 1).await;
    let mut batch = Batch::new();
    batch.append(OUTBOX_JOURNAL, other[0].to_json().unwrap());
    store.commit(&tenant, batch).await.unwrap();

    let (sink, relay) = relayed(&env, &tenant).await;
    assert_eq!(seqs(&sink.delivered()), [1, 2, 4, 5]);
    let dead = dead_letters(&relay, &tenant).await;
    assert_eq!(dead.iter().map(|d| d.seq).collect::<Vec<_>>(), [3, 6]);
    assert!(dead[0].event_id.is_none());
    assert!(dead[1].reason.contains("tenant"), "{}", dead[1].reason);
}

#[tokio::test]
async fn a_step_dropped_at_any_await_never_skips_an_event() {
    let store = memory();
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    produce(&store, &outbox, &tenant, 1, 40).await;
    let sink = MemorySink::new("memory");
    let relay = Relay::builder(&env, Arc::new(sink.clone()))
        .page_size(7)
        .build()
        .unwrap();
    let mut polls = 0;
    let mut completed = 0;
    while completed < 12 {
        match poll_then_drop(relay.pump(&tenant), polls).await {
            Some(result) => {
                completed += 1;
                if result.unwrap().next == NextStep::CaughtUp {
                    break;
                }
            }
            None => polls += 1,
        }
        // Whatever was dropped where: the stored cursor never passes what the sink accepted.
        let cursor = TenantLag::read(&*store, &tenant, "memory", None, env.clock().now())
            .await
            .unwrap()
            .position;
        let accepted: Vec<u64> = seqs(&sink.delivered());
        assert!(
            (1..=cursor).all(|s| accepted.contains(&s)),
            "cursor {cursor}"
        );
    }
    let dup = check_first_seen_order(
        &sink
            .delivered()
            .iter()
            .map(|e| (*e.tenant(), e.seq(), e.id().to_string()))
            .collect::<Vec<_>>(),
        &HashMap::from([(tenant, 40)]),
    );
    assert_eq!(
        dup, 0,
        "a step dropped before delivery delivers nothing twice here"
    );
}

/// Two relays, each over its own handle of one SQLite file, run concurrently while producers
/// write: every event arrives, first arrivals in order per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_over_one_sqlite_file_keep_order_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.sqlite");
    let open = || async {
        Arc::new(
            marketingforce_core::storage::SqliteStore::open(&path)
                .await
                .unwrap(),
        ) as Arc<dyn Store>
    };
    let (one, two, producer_store) = (open().await, open().await, open().await);
    let tenants: Vec<TenantId> = (0..4).map(|_| TenantId::new()).collect();
    let sink = MemorySink::new("memory").with_delay(Duration::from_millis(1));
    let relay = |store: &Arc<dyn Store>| {
        Relay::builder(&env(store), Arc::new(sink.clone()))
            .page_size(50)
            .lease_ttl(Duration::from_millis(300))
            .poll_interval(Duration::from_millis(5))
            .max_poll_interval(Duration::from_millis(40))
            .discovery_interval(Duration::from_millis(20))
            .build()
            .unwrap()
    };
    let (a, b) = (relay(&one), relay(&two));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let run = |r: Relay| {
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            r.run(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
        })
    };
    let (ra, rb) = (run(a), run(b));
    let outbox = Outbox::new(&env(&producer_store));
    let per_tenant = 150u64;
    for round in 0..3 {
        for t in &tenants {
            produce(&producer_store, &outbox, t, round * 50 + 1, 50).await;
        }
    }
    let expected: HashMap<TenantId, u64> = tenants.iter().map(|t| (*t, per_tenant)).collect();
    for _ in 0..2000 {
        let got = sink.delivered();
        let mut distinct = std::collections::HashSet::new();
        got.iter().for_each(|e| {
            distinct.insert(e.id());
        });
        if distinct.len() as u64 == per_tenant * tenants.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(true).unwrap();
    ra.await.unwrap().unwrap();
    rb.await.unwrap().unwrap();
    let arrivals: Vec<(TenantId, u64, String)> = sink
        .delivered()
        .iter()
        .map(|e| (*e.tenant(), e.seq(), e.id().to_string()))
        .collect();
    check_first_seen_order(&arrivals, &expected);
}

/// A sink added to a running system starts where it was created, not at the tenant's first
/// event; the start is stored once, so another relay (process) and later events agree on it.
#[tokio::test]
async fn a_sink_started_from_a_time_skips_earlier_history_and_stores_its_start() {
    let store = memory();
    let clock = clock();
    let env = manual_env(&store, &clock);
    let outbox = Outbox::new(&env);
    let (tenant, quiet) = (TenantId::new(), TenantId::new());
    produce(&store, &outbox, &tenant, 1, 37).await;
    clock.advance(chrono::Duration::minutes(5));
    let created = clock.now();
    produce(&store, &outbox, &tenant, 38, 5).await;

    let sink = MemorySink::new("hook");
    let relay = Relay::builder(&env, Arc::new(sink.clone()))
        .start_from(StartFrom::OccurredSince(created))
        .build()
        .unwrap();
    let step = relay.pump(&tenant).await.unwrap();
    assert_eq!((step.delivered, step.position), (5, 42), "{step:?}");
    assert_eq!(seqs(&sink.delivered()), (38..=42).collect::<Vec<_>>());

    // Another relay of the same sink continues from the stored cursor, whatever its setting.
    produce(&store, &outbox, &tenant, 43, 2).await;
    let other = MemorySink::new("hook");
    let relay2 = Relay::builder(&env, Arc::new(other.clone()))
        .lease_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    clock.advance(chrono::Duration::seconds(30));
    let step = relay2.pump(&tenant).await.unwrap();
    assert_eq!((step.delivered, step.position), (2, 44), "{step:?}");

    // A tenant whose events all came later gets every one; the default sink gets all history.
    produce(&store, &outbox, &quiet, 1, 3).await;
    assert_eq!(relay.pump(&quiet).await.unwrap().delivered, 3);
    let everything = MemorySink::new("archive");
    let archive = Relay::builder(&env, Arc::new(everything.clone()))
        .page_size(1000)
        .build()
        .unwrap();
    assert_eq!(archive.pump(&tenant).await.unwrap().delivered, 44);

    // Every event earlier than the start: the cursor is stored at the head, nothing is sent.
    let late = MemorySink::new("late");
    let relay3 = Relay::builder(&env, Arc::new(late.clone()))
        .start_from(StartFrom::OccurredSince(
            clock.now() + chrono::Duration::hours(1),
        ))
        .build()
        .unwrap();
    let step = relay3.pump(&tenant).await.unwrap();
    assert_eq!(
        (step.delivered, step.position, step.next),
        (0, 44, NextStep::CaughtUp)
    );
    assert!(late.delivered().is_empty());
}

/// A sink that answers after a yield (as any sink doing I/O does) and refuses everything.
#[derive(Debug)]
struct Refusing;

#[async_trait]
impl EventSink for Refusing {
    fn id(&self) -> &str {
        "memory"
    }
    async fn deliver(&self, _: &TenantId, _: &[OutboxEvent]) -> Result<(), SinkFailure> {
        tokio::task::yield_now().await;
        Err(SinkFailure::new(0, FailureKind::Unavailable, "down"))
    }
}

/// Settings a relay cannot work with are refused when it is built, naming the setting:
/// durations too long to add to a clock, and a zero discovery interval or delivery timeout.
/// Before, they were accepted: the first step or `run` panicked ("`DateTime + TimeDelta`
/// overflowed", "overflow when adding duration to instant"), `run` re-read the registry in a
/// busy loop, and every delivery timed out before the sink could answer.
#[tokio::test]
async fn unworkable_settings_are_refused_when_building() {
    use marketingforce_core::error::Classify;
    use marketingforce_events::RelayBuilder;

    let store = memory();
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    produce(&store, &outbox, &tenant, 1, 3).await;
    type Configure = fn(RelayBuilder) -> RelayBuilder;
    let cases: [(&str, Configure); 6] = [
        ("lease_ttl", |b| b.lease_ttl(Duration::MAX)),
        ("retry.max", |b| {
            b.retry(RetryPolicy::forever(Duration::MAX, Duration::MAX))
        }),
        ("discovery_interval", |b| {
            b.discovery_interval(Duration::MAX)
        }),
        ("max_poll_interval", |b| {
            b.max_poll_interval(Duration::MAX).discover_tenants(false)
        }),
        ("discovery_interval", |b| {
            b.discovery_interval(Duration::ZERO)
        }),
        ("delivery_timeout", |b| b.delivery_timeout(Duration::ZERO)),
    ];
    for (field, configure) in cases {
        match configure(Relay::builder(&env, Arc::new(Refusing))).build() {
            Err(e) => assert_eq!(e.field(), Some(field), "{e}"),
            Ok(relay) => {
                // What the relay did with the setting before it was refused.
                relay.watch(&tenant);
                let _ = relay.pump(&tenant).await;
                let _ = relay
                    .run(tokio::time::sleep(Duration::from_millis(50)))
                    .await;
                panic!("{field}: accepted, though the relay cannot work with it");
            }
        }
    }
}

/// A step dropped while its cursor write was in flight — the write landed, the answer never
/// came — leaves the relay answering truthfully: the next step goes on from the stored
/// cursor, without delivering the page again. Before, the relay kept its cached cursor, which
/// the landed write had made stale: the next step delivered the page a second time and then
/// reported `LeaseLost` ("another relay delivers this tenant's events now") with no other
/// relay running.
#[tokio::test]
async fn a_step_dropped_after_its_cursor_write_landed_goes_on_from_the_store() {
    use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore};

    let memory = memory();
    let faulty = Arc::new(FaultyStore::new(memory.clone(), FaultPlan::new(1)));
    let store: Arc<dyn Store> = faulty.clone();
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    produce(&store, &outbox, &tenant, 1, 10).await;
    let sink = MemorySink::new("memory");
    let relay = Relay::builder(&env, Arc::new(sink.clone()))
        .page_size(5)
        .build()
        .unwrap();
    let first = relay.pump(&tenant).await.unwrap();
    assert_eq!((first.delivered, first.position), (5, 5));
    // The second step's cursor write commits, then the store never answers: the caller gives
    // up and drops the step.
    faulty.script(Fault::HangAfterCommit);
    assert!(poll_then_drop(relay.pump(&tenant), 1000).await.is_none());
    assert_eq!(seqs(&sink.delivered()), (1..=10).collect::<Vec<_>>());
    let third = relay.pump(&tenant).await.unwrap();
    assert_eq!((third.delivered, third.position), (0, 10));
    assert_eq!(third.next, NextStep::CaughtUp);
    assert_eq!(seqs(&sink.delivered()), (1..=10).collect::<Vec<_>>());
}

/// An outbox line whose event name is not an event name (a NATS wildcard, a space) or whose
/// header does not decode is dead-lettered, naming what is wrong without quoting the line's
/// values, and the rest is delivered. Before, the name was handed to the sink as it was (a
/// NATS subject `mf.<tenant>.crm.lead.>`, which the broker refuses on every retry), and the
/// dead letter's reason quoted the undecodable value (`invalid type: string "13812345678"`).
#[tokio::test]
async fn an_entry_with_a_bad_name_or_header_is_dead_lettered_without_its_values() {
    let store = memory();
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    produce(&store, &outbox, &tenant, 1, 2).await;
    // Envelopes of this tenant, made elsewhere and then spoiled.
    let scratch = memory();
    let made = produce(
        &scratch,
        &Outbox::new(&common::env(&scratch)),
        &tenant,
        9,
        1,
    )
    .await;
    let json = String::from_utf8(made[0].to_json().unwrap()).unwrap();
    let name = format!(r#""name":"{}""#, made[0].name());
    for spoiled in [
        json.replace(&name, r#""name":"crm.lead.>""#),
        json.replace(&name, r#""name":"crm.lead.captured x""#),
        json.replace(r#""version":1"#, r#""version":"13812345678""#),
    ] {
        assert_ne!(spoiled, json);
        let mut batch = Batch::new();
        batch.append(OUTBOX_JOURNAL, spoiled.into_bytes());
        store.commit(&tenant, batch).await.unwrap();
    }
    produce(&store, &outbox, &tenant, 6, 2).await;

    let (sink, relay) = relayed(&env, &tenant).await;
    assert_eq!(seqs(&sink.delivered()), [1, 2, 6, 7]);
    let dead = dead_letters(&relay, &tenant).await;
    assert_eq!(dead.iter().map(|d| d.seq).collect::<Vec<_>>(), [3, 4, 5]);
    for d in &dead[..2] {
        assert!(d.reason.contains("event.name"), "{}", d.reason);
    }
    for d in &dead {
        assert!(!d.reason.contains("13812345678"), "{}", d.reason);
    }
}
