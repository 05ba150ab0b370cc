//! Against the real NATS server (`MARKETINGFORCE_TEST_NATS_URL`, e.g. `nats://127.0.0.1:4222`;
//! skipped with a message when unset, and failing instead when `CI` is set): relays run as
//! child processes over one SQLite file, one is killed with SIGKILL mid-stream and restarted,
//! two compete — every event reaches the stream, each is processed once after the inbox's
//! dedupe, and first arrivals keep the outbox order per tenant. A broker that is gone never
//! fails a business write: the relay backs off and reports lag.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::{check_first_seen_order, env, produce, produce_commits, LeadCaptured};
use marketingforce_core::events::{EventEnvelope, Outbox};
use marketingforce_core::storage::{MemoryStore, SqliteStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_events::nats::{NatsSettings, NatsSink};
use marketingforce_events::signature::{LINE_HEADER, SEQUENCE_HEADER};
use marketingforce_events::{Inbox, NextStep, Processed, Relay};

const CHILD: &str = "MF_EVENTS_RELAY_CHILD";

fn nats_url() -> Option<String> {
    match std::env::var("MARKETINGFORCE_TEST_NATS_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but MARKETINGFORCE_TEST_NATS_URL is not: .ci/run starts NATS and exports it")
        }
        Err(_) => {
            eprintln!("skipping NATS test: MARKETINGFORCE_TEST_NATS_URL is not set");
            None
        }
    }
}

fn names() -> (String, String) {
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let tag = &tag[tag.len() - 10..];
    (format!("MFTEST_{tag}"), format!("mft{tag}"))
}

/// Entry point of the relay child processes (run by the tests below, not by hand).
#[test]
#[ignore = "a relay child process, started by the NATS tests"]
fn relay_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [path, url, stream, prefix] = parts[..] else {
        panic!("bad child spec");
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).await.unwrap());
            let sink = NatsSink::connect(url, NatsSettings::named(stream, prefix))
                .await
                .unwrap();
            let relay = Relay::builder(&env(&store), Arc::new(sink))
                .page_size(100)
                .lease_ttl(Duration::from_millis(1000))
                .poll_interval(Duration::from_millis(5))
                .max_poll_interval(Duration::from_millis(50))
                .discovery_interval(Duration::from_millis(20))
                .build()
                .unwrap();
            relay.run(std::future::pending::<()>()).await.unwrap();
        });
}

struct Relays(Vec<Child>);

impl Relays {
    fn spawn(&mut self, path: &std::path::Path, url: &str, stream: &str, prefix: &str) {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "relay_child", "--test-threads=1"])
            .env(CHILD, format!("{}|{url}|{stream}|{prefix}", path.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.0.push(child);
    }

    /// SIGKILL relay `i` (no shutdown, no cleanup).
    fn kill(&mut self, i: usize) {
        self.0[i].kill().unwrap();
        self.0[i].wait().unwrap();
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn stream_messages(js: &jetstream::Context, stream: &str) -> u64 {
    js.get_stream(stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages
}

/// Every message of the stream, as (tenant, outbox place (entry sequence, line), event id,
/// envelope).
async fn read_back(
    js: &jetstream::Context,
    stream: &str,
) -> Vec<(TenantId, (u64, u32), String, EventEnvelope)> {
    let stream = js.get_stream(stream).await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        let message = stream.get_raw_message(seq).await.unwrap();
        let envelope = EventEnvelope::from_json(&message.payload).unwrap();
        let header = |name: &str| message.headers.get(name).unwrap().as_str().to_string();
        let place = (
            header(SEQUENCE_HEADER).parse().unwrap(),
            header(LINE_HEADER).parse().unwrap(),
        );
        out.push((
            *envelope.tenant(),
            place,
            envelope.id().to_string(),
            envelope,
        ));
    }
    out
}

/// Check the stream as a deduplicating consumer sees it: each event processed once, first
/// arrivals in the producer's order (its running numbers) and in outbox order (the place
/// headers).
async fn check_stream(js: &jetstream::Context, stream: &str, expected: &HashMap<TenantId, u64>) {
    let messages = read_back(js, stream).await;
    let arrivals: Vec<_> = messages
        .iter()
        .map(|(t, _, id, e)| (*t, e.decode::<LeadCaptured>().unwrap().n, id.clone()))
        .collect();
    check_first_seen_order(&arrivals, expected);
    let mut seen = std::collections::HashSet::new();
    let mut last: HashMap<TenantId, (u64, u32)> = HashMap::new();
    for (tenant, place, id, _) in &messages {
        if seen.insert(id.clone()) {
            let before = last.insert(*tenant, *place);
            assert!(before < Some(*place), "{tenant}: {before:?} then {place:?}");
        }
    }
    let inbox = Inbox::new(Arc::new(MemoryStore::new()), "consumer").unwrap();
    let mut first = 0u64;
    for (_, _, _, envelope) in &messages {
        if inbox
            .process(envelope, marketingforce_core::storage::Batch::new())
            .await
            .unwrap()
            == Processed::First
        {
            first += 1;
        }
    }
    assert_eq!(first, expected.values().sum::<u64>());
}

async fn wait_for(js: &jetstream::Context, stream: &str, count: u64, limit: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let n = stream_messages(js, stream).await;
        if n >= count || start.elapsed() > limit {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_stream_and_restarted_delivers_everything_in_order() {
    let Some(url) = nats_url() else { return };
    let (stream, prefix) = names();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let outbox = Outbox::new(&env(&store));
    let tenants: Vec<TenantId> = (0..3).map(|_| TenantId::new()).collect();
    let per_tenant = 1000u64;
    // Commits of several events each: one outbox entry per commit, so pages end inside
    // entries and the kill may land in the middle of one.
    for t in &tenants {
        produce_commits(&store, &outbox, t, 1, &[1, 49, 100, 50]).await;
    }
    let client = async_nats::connect(&url).await.unwrap();
    let js = jetstream::new(client);
    // Create the stream up front so the parent can watch it.
    drop(
        NatsSink::with_client(js.client(), NatsSettings::named(&stream, &prefix))
            .await
            .unwrap(),
    );

    let mut relays = Relays(Vec::new());
    relays.spawn(&path, &url, &stream, &prefix);
    // Keep producing while the relay publishes; kill it mid-stream.
    let producer = {
        let (store, outbox, tenants) = (store.clone(), outbox.clone(), tenants.clone());
        tokio::spawn(async move {
            for round in 0..8u64 {
                for t in &tenants {
                    produce_commits(&store, &outbox, t, 201 + round * 100, &[1, 9, 30, 60]).await;
                }
            }
        })
    };
    let at_kill = wait_for(&js, &stream, 500, Duration::from_secs(60)).await;
    relays.kill(0);
    let total = per_tenant * tenants.len() as u64;
    assert!(
        (500..total).contains(&at_kill),
        "the relay must die mid-stream ({at_kill} of {total} published)"
    );
    producer.await.unwrap();
    relays.spawn(&path, &url, &stream, &prefix);
    let published = wait_for(&js, &stream, total, Duration::from_secs(120)).await;
    assert_eq!(
        published, total,
        "every event reaches the stream once (Nats-Msg-Id)"
    );
    drop(relays);

    let expected: HashMap<TenantId, u64> = tenants.iter().map(|t| (*t, per_tenant)).collect();
    check_stream(&js, &stream, &expected).await;
    js.delete_stream(&stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relay_processes_compete_and_order_per_tenant_holds() {
    let Some(url) = nats_url() else { return };
    let (stream, prefix) = names();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let outbox = Outbox::new(&env(&store));
    let js = jetstream::new(async_nats::connect(&url).await.unwrap());
    drop(
        NatsSink::with_client(js.client(), NatsSettings::named(&stream, &prefix))
            .await
            .unwrap(),
    );
    let tenants: Vec<TenantId> = (0..4).map(|_| TenantId::new()).collect();
    let mut relays = Relays(Vec::new());
    relays.spawn(&path, &url, &stream, &prefix);
    relays.spawn(&path, &url, &stream, &prefix);
    for round in 0..5u64 {
        for t in &tenants {
            produce(&store, &outbox, t, 1 + round * 100, 100).await;
        }
    }
    let total = 500 * tenants.len() as u64;
    let published = wait_for(&js, &stream, total, Duration::from_secs(120)).await;
    assert_eq!(published, total);
    drop(relays);
    let expected: HashMap<TenantId, u64> = tenants.iter().map(|t| (*t, 500)).collect();
    check_stream(&js, &stream, &expected).await;
    js.delete_stream(&stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_never_fails_a_business_write_and_the_relay_reports_lag() {
    let Some(url) = nats_url() else { return };
    let (stream, prefix) = names();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    let client = async_nats::connect(&url).await.unwrap();
    let settings = NatsSettings::named(&stream, &prefix);
    let sink = NatsSink::with_client(client.clone(), settings.clone())
        .await
        .unwrap();
    assert_eq!(
        sink.subject(&tenant, "example.lead.captured"),
        format!("{prefix}.{tenant}.example.lead.captured")
    );
    let js = sink.jetstream().clone();
    js.delete_stream(&stream).await.unwrap();
    let relay = Relay::builder(&env, Arc::new(sink)).build().unwrap();

    // The broker has nowhere to put events: business writes go on regardless.
    produce(&store, &outbox, &tenant, 1, 20).await;
    let step = relay.pump(&tenant).await.unwrap();
    assert_eq!(step.delivered, 0);
    assert!(matches!(step.next, NextStep::RetryAt(_)), "{step:?}");
    let lag = relay.lag();
    assert_eq!(lag.pending(), 20);
    assert!(lag.tenants[0].last_failure.is_some());
    produce(&store, &outbox, &tenant, 21, 5).await;

    // The stream is back: the relay catches up once its backoff has passed.
    drop(NatsSink::with_client(client, settings).await.unwrap());
    let start = Instant::now();
    loop {
        let step = relay.pump(&tenant).await.unwrap();
        if step.position == 25 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{step:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stream_messages(&js, &stream).await, 25);
    js.delete_stream(&stream).await.unwrap();
}

/// Pages larger than the in-flight budget, several tenants at once: each delivery takes a
/// whole chunk's permits at a time, so no delivery holds part of the budget while waiting for
/// the rest (one publish at a time, a single page larger than the budget waits forever for
/// permits that only its own unawaited acknowledgements would free).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_larger_than_the_in_flight_budget_are_delivered_without_starving() {
    let Some(url) = nats_url() else { return };
    let (stream, prefix) = names();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenants: Vec<TenantId> = (0..4).map(|_| TenantId::new()).collect();
    for t in &tenants {
        produce(&store, &outbox, t, 1, 300).await;
    }
    let mut settings = NatsSettings::named(&stream, &prefix);
    settings.max_in_flight = 64;
    let client = async_nats::connect(&url).await.unwrap();
    let sink = NatsSink::with_client(client, settings).await.unwrap();
    let js = sink.jetstream().clone();
    let relay = Relay::builder(&env, Arc::new(sink))
        .page_size(300)
        .delivery_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let steps = futures::future::join_all(tenants.iter().map(|t| relay.pump(t))).await;
    for step in steps {
        let step = step.unwrap();
        assert_eq!(step.delivered, 300, "{step:?}");
        assert_eq!(step.position, 300, "{step:?}");
    }
    assert_eq!(stream_messages(&js, &stream).await, 1200);
    let expected: HashMap<TenantId, u64> = tenants.iter().map(|t| (*t, 300)).collect();
    check_stream(&js, &stream, &expected).await;
    js.delete_stream(&stream).await.unwrap();
}
