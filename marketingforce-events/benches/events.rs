//! Domain-event benchmarks:
//!
//! - the cost the outbox adds to a commit: the same business commit (one change, or a batch
//!   of 100) with and without its events, on SQLite and PostgreSQL (ratio target ≤ 1.3×),
//!   measured in interleaved pairs so both sides see the same machine; on the memory store
//!   the same pairs show the CPU cost of staging events (no I/O to hide it);
//! - relay throughput to NATS JetStream (target ≥ 50,000 events/s), against a bare JetStream
//!   publish of the same bodies with the same acks in flight measured in the same run;
//! - events/s from commit to JetStream ack (SQLite producer and relay running together);
//! - relay throughput to a loopback webhook receiver that verifies signatures, against bare
//!   HTTP POSTs of the same bodies.
//!
//! Run: `cargo bench -p marketingforce-events --features nats,webhooks --bench events`
//! (NATS from `MARKETINGFORCE_TEST_NATS_URL`, default `nats://127.0.0.1:4222`; PostgreSQL
//! when `MARKETINGFORCE_TEST_POSTGRES_URL` is set). Prints a table and the `JSON [...]` line
//! `scripts/bench.py` collects.
//!
//! Filters: words after `--` select the sections whose name contains one of them —
//! `outbox.memory`, `outbox.sqlite`, `outbox.postgres`, `nats`, `webhook` — e.g.
//! `cargo bench -p marketingforce-events --features nats,webhooks --bench events -- outbox`
//! runs only the outbox cost figures. No filter runs everything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use marketingforce_core::env::Env;
use marketingforce_core::events::{DomainEvent, EventContext, Outbox};
use marketingforce_core::storage::{Batch, Expect, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_events::nats::{NatsSettings, NatsSink};
use marketingforce_events::signature::{generate_secret, WebhookVerifier, SIGNATURE_HEADER};
use marketingforce_events::webhook::{WebhookEndpoint, WebhookSink};
use marketingforce_events::{EventSink, NextStep, Relay, RetryPolicy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const MIN_TIME: Duration = Duration::from_millis(1500);

/// A lead was captured (bench example; ids only).
#[derive(Serialize, Deserialize, JsonSchema)]
struct LeadCaptured {
    lead: String,
    source: String,
    owner: String,
    score: u32,
}

impl DomainEvent for LeadCaptured {
    const NAME: &'static str = "bench.lead.captured";
    const VERSION: u32 = 1;
}

fn event(i: u64) -> LeadCaptured {
    LeadCaptured {
        lead: format!("lead_{i:012}"),
        source: "form".into(),
        owner: format!("staff_{}", i % 17),
        score: (i % 100) as u32,
    }
}

fn value(i: u64) -> Vec<u8> {
    format!(
        r#"{{"id":"lead_{i:012}","stage":"new","owner":"staff_{}","score":{},"phone_bidx":"hmac:{i:016x}"}}"#,
        i % 17,
        i % 100
    )
    .into_bytes()
}

/// The business change of the outbox figures: lead `i`'s record.
fn put_lead(batch: &mut Batch, i: u64) {
    batch.put(
        "bench.leads",
        format!("lead_{i:012}"),
        value(i),
        vec![],
        Expect::Any,
    );
}

struct Figure {
    id: String,
    label: String,
    value: f64,
    unit: &'static str,
    baseline: String,
    baseline_value: f64,
}

/// One `changes`-change commit for `tenant` (lead numbers from `*next`), with or without an
/// event per change; returns how long building and committing the batch took.
async fn commit_once(
    store: &Arc<dyn Store>,
    outbox: &Outbox,
    tenant: &TenantId,
    changes: u64,
    events: bool,
    next: &mut u64,
) -> Duration {
    let start = Instant::now();
    let mut batch = Batch::new();
    for _ in 0..changes {
        let i = *next;
        put_lead(&mut batch, i);
        if events {
            outbox
                .append(tenant, &mut batch, &event(i), &EventContext::new())
                .await
                .expect("append");
        }
        *next += 1;
    }
    store.commit(tenant, batch).await.expect("commit");
    start.elapsed()
}

/// Commits/s of `changes`-change batches without and with their events, measured as pairs:
/// each round commits once without and once with (alternating which goes first), so both
/// sides see the same machine — a busy moment slows both, not one. Returns (without, with).
async fn paired_commits(store: &Arc<dyn Store>, outbox: &Outbox, changes: u64) -> (f64, f64) {
    let (plain, evented) = (TenantId::new(), TenantId::new());
    outbox.register(&evented).await.expect("register");
    let (mut without, mut with) = (Duration::ZERO, Duration::ZERO);
    let (mut next_plain, mut next_evented, mut rounds) = (0u64, 0u64, 0u32);
    // Warm up both tenants' tables and caches.
    commit_once(store, outbox, &plain, changes, false, &mut next_plain).await;
    commit_once(store, outbox, &evented, changes, true, &mut next_evented).await;
    while without + with < 2 * MIN_TIME {
        if rounds % 2 == 0 {
            without += commit_once(store, outbox, &plain, changes, false, &mut next_plain).await;
            with += commit_once(store, outbox, &evented, changes, true, &mut next_evented).await;
        } else {
            with += commit_once(store, outbox, &evented, changes, true, &mut next_evented).await;
            without += commit_once(store, outbox, &plain, changes, false, &mut next_plain).await;
        }
        rounds += 1;
    }
    let rate = |d: Duration| f64::from(rounds) / d.as_secs_f64();
    (rate(without), rate(with))
}

async fn outbox_cost(store: Arc<dyn Store>, figures: &mut Vec<Figure>) {
    let backend = store.backend();
    let outbox = Outbox::new(&Env::new(store.clone()));
    for changes in [1u64, 100] {
        let (without, with) = paired_commits(&store, &outbox, changes).await;
        let key = if changes == 1 {
            "commit_1".to_string()
        } else {
            format!("batch_{changes}")
        };
        figures.push(Figure {
            id: format!("events.outbox.{backend}_{key}"),
            label: format!("{backend}: commit of {changes} change(s) with their events"),
            value: with,
            unit: "commits/s",
            baseline: format!("the same {backend} commit without events"),
            baseline_value: without,
        });
    }
}

/// Fill a memory store with `tenants × per_tenant` events.
async fn filled(tenants: usize, per_tenant: u64) -> (Arc<dyn Store>, Vec<TenantId>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let outbox = Outbox::new(&Env::new(store.clone()));
    let ids: Vec<TenantId> = (0..tenants).map(|_| TenantId::new()).collect();
    for t in &ids {
        for chunk in 0..per_tenant / 500 {
            let mut batch = Batch::new();
            for i in chunk * 500..(chunk + 1) * 500 {
                outbox
                    .append(t, &mut batch, &event(i), &EventContext::new())
                    .await
                    .expect("append");
            }
            store.commit(t, batch).await.expect("commit");
        }
    }
    (store, ids)
}

/// Every event body of `tenant`'s outbox, in order (an entry holds one commit's events, one
/// per line): what the baselines send.
async fn event_bodies(store: &Arc<dyn Store>, tenant: &TenantId) -> Vec<bytes::Bytes> {
    let mut bodies = Vec::new();
    let mut after = 0;
    loop {
        let entries = store
            .read_journal(
                tenant,
                marketingforce_core::events::OUTBOX_JOURNAL,
                after,
                1000,
            )
            .await
            .expect("read");
        let Some(last) = entries.last().map(|e| e.seq) else {
            return bodies;
        };
        for entry in entries {
            for line in marketingforce_core::events::outbox_lines(&entry.payload) {
                bodies.push(bytes::Bytes::copy_from_slice(line));
            }
        }
        after = last;
    }
}

/// Deliveries a tenant may retry in one figure before the run is declared failed.
const MAX_RETRIES: u32 = 5;

/// Pump every tenant to the end, tenants concurrently; returns events/s (retries included).
async fn relay_all(store: &Arc<dyn Store>, tenants: &[TenantId], sink: Arc<dyn EventSink>) -> f64 {
    let relay = Relay::builder(&Env::new(store.clone()), sink)
        .page_size(1000)
        .build()
        .expect("relay");
    let start = Instant::now();
    let mut total = 0usize;
    let runs = tenants.iter().map(|t| {
        let relay = relay.clone();
        async move {
            let mut n = 0;
            let mut retries = 0;
            loop {
                let step = relay.pump(t).await.expect("pump");
                n += step.delivered;
                match step.next {
                    NextStep::CaughtUp => return n,
                    NextStep::More => {}
                    // A delivery the sink did not confirm (a broker ack timeout): the relay
                    // retries it at its backoff, as in production. The wait stays in the
                    // figure; a sink that keeps failing ends the run.
                    NextStep::RetryAt(at) if retries < MAX_RETRIES => {
                        retries += 1;
                        eprintln!("relay retry {retries} for {t} at {at}: {:?}", relay.lag());
                        let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                        tokio::time::sleep(wait).await;
                    }
                    other => panic!("the sink failed: {other:?} {:?}", relay.lag()),
                }
            }
        }
    });
    for n in futures::future::join_all(runs).await {
        total += n;
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn nats_figures(url: &str, figures: &mut Vec<Figure>) {
    let client = match async_nats::connect(url).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("NATS skipped: {e}");
            return;
        }
    };
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let tag = &tag[tag.len() - 8..];
    let settings = NatsSettings::named(format!("MFBENCH_{tag}"), format!("mfb{tag}"));
    let sink = NatsSink::with_client(client.clone(), settings.clone())
        .await
        .expect("stream");
    let js = sink.jetstream().clone();
    let (tenants, per_tenant) = (8usize, 12_500u64);
    let (store, ids) = filled(tenants, per_tenant).await;

    // Baseline: the same bodies published straight to JetStream, acks awaited per 1,000.
    let bodies: Vec<(String, bytes::Bytes)> = {
        let mut out = Vec::new();
        for t in &ids {
            for body in event_bodies(&store, t).await {
                out.push((sink.subject(t, LeadCaptured::NAME), body));
            }
        }
        out
    };
    let start = Instant::now();
    for chunk in bodies.chunks(1000) {
        let mut acks = Vec::with_capacity(chunk.len());
        for (subject, body) in chunk {
            acks.push(
                js.publish(subject.clone(), body.clone())
                    .await
                    .expect("publish"),
            );
        }
        for ack in acks {
            ack.await.expect("ack");
        }
    }
    let bare = bodies.len() as f64 / start.elapsed().as_secs_f64();

    let relayed = relay_all(&store, &ids, Arc::new(sink)).await;
    figures.push(Figure {
        id: "events.nats.relay".into(),
        label: format!("relay to JetStream, {tenants} tenants x {per_tenant} events (events/s)"),
        value: relayed,
        unit: "events/s",
        baseline: "bare JetStream publishes of the same bodies, 1,000 acks in flight".into(),
        baseline_value: bare,
    });

    // Commit to ack: a SQLite producer committing batches while a relay runs.
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite: Arc<dyn Store> = Arc::new(
        marketingforce_core::storage::SqliteStore::open(dir.path().join("bench.sqlite"))
            .await
            .expect("sqlite"),
    );
    let env = Env::new(sqlite.clone());
    let outbox = Outbox::new(&env);
    let settings2 = NatsSettings::named(format!("MFBENCH2_{tag}"), format!("mfc{tag}"));
    let sink2 = NatsSink::with_client(client.clone(), settings2.clone())
        .await
        .expect("stream");
    let relay = Relay::builder(&env, Arc::new(sink2))
        .page_size(1000)
        .poll_interval(Duration::from_millis(1))
        .max_poll_interval(Duration::from_millis(5))
        .discovery_interval(Duration::from_millis(5))
        .build()
        .expect("relay");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let relay = relay.clone();
        async move {
            relay
                .run(async move {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let producers = 4usize;
    let per_producer = 10_000u64;
    let start = Instant::now();
    let writes = (0..producers).map(|_| {
        let (sqlite, outbox) = (sqlite.clone(), outbox.clone());
        async move {
            let t = TenantId::new();
            for chunk in 0..per_producer / 100 {
                let mut batch = Batch::new();
                for i in chunk * 100..(chunk + 1) * 100 {
                    put_lead(&mut batch, i);
                    outbox
                        .append(&t, &mut batch, &event(i), &EventContext::new())
                        .await
                        .expect("append");
                }
                sqlite.commit(&t, batch).await.expect("commit");
            }
        }
    });
    futures::future::join_all(writes).await;
    let total = producers as u64 * per_producer;
    let mut stream = js.get_stream(&settings2.stream).await.expect("stream");
    loop {
        let n = stream.info().await.expect("info").state.messages;
        if n >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let end_to_end = total as f64 / start.elapsed().as_secs_f64();
    let _ = stop.send(());
    running.await.expect("join").expect("run");
    figures.push(Figure {
        id: "events.nats.commit_to_ack".into(),
        label: format!(
            "SQLite commit (batches of 100) to JetStream ack, {producers} producers (events/s)"
        ),
        value: end_to_end,
        unit: "events/s",
        baseline: "bare JetStream publishes of the same bodies, 1,000 acks in flight".into(),
        baseline_value: bare,
    });
    let _ = js.delete_stream(&settings.stream).await;
    let _ = js.delete_stream(&settings2.stream).await;
}

async fn webhook_figures(figures: &mut Vec<Figure>) {
    let secret = generate_secret();
    let verifier = Arc::new(WebhookVerifier::new(secret.clone()));
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let verifier = verifier.clone();
            async move {
                let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
                match verifier.verify_signature(sig, &body, chrono::Utc::now()) {
                    Ok(_) => StatusCode::OK,
                    Err(_) => StatusCode::UNAUTHORIZED,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (tenants, per_tenant) = (8usize, 1_500u64);
    let (store, ids) = filled(tenants, per_tenant).await;
    let env = Env::new(store.clone());

    // Baseline: the same bodies POSTed, one stream of requests per tenant, unsigned.
    let client = reqwest::Client::new();
    let start = Instant::now();
    let posts = ids.iter().map(|t| {
        let (client, url, store) = (client.clone(), url.clone(), store.clone());
        async move {
            for body in event_bodies(&store, t).await {
                client.post(&url).body(body).send().await.expect("post");
            }
        }
    });
    futures::future::join_all(posts).await;
    let bare = (tenants as u64 * per_tenant) as f64 / start.elapsed().as_secs_f64();

    let endpoint = WebhookEndpoint::new("bench", &url, secret)
        .expect("endpoint")
        .retry(RetryPolicy::forever(
            Duration::from_millis(5),
            Duration::from_millis(50),
        ));
    let sink = WebhookSink::new(&env, endpoint).expect("sink");
    let relayed = relay_all(&store, &ids, Arc::new(sink)).await;
    figures.push(Figure {
        id: "events.webhook.relay".into(),
        label: format!(
            "relay to a loopback webhook receiver verifying signatures, {tenants} tenants (events/s)"
        ),
        value: relayed,
        unit: "events/s",
        baseline: "bare HTTP POSTs of the same bodies, one stream per tenant".into(),
        baseline_value: bare,
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut figures = Vec::new();
    // `cargo bench` passes `--bench`; everything else not starting with `-` is a filter.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |section: &str| filters.is_empty() || filters.iter().any(|f| section.contains(f));
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        if run("outbox.memory") {
            // No I/O: what staging the events costs in CPU (envelope, encoding, batch).
            outbox_cost(Arc::new(MemoryStore::new()), &mut figures).await;
        }
        if run("outbox.sqlite") {
            let sqlite =
                marketingforce_core::storage::SqliteStore::open(dir.path().join("cost.sqlite"))
                    .await
                    .expect("sqlite");
            outbox_cost(Arc::new(sqlite), &mut figures).await;
        }
        match std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") {
            _ if !run("outbox.postgres") => {}
            Ok(url) => {
                use marketingforce_core::storage::postgres::{PostgresOptions, PostgresStore};
                let store = PostgresStore::connect_with(
                    PostgresOptions::new(url).schema("mf_events_bench"),
                )
                .await
                .expect("postgres");
                outbox_cost(Arc::new(store), &mut figures).await;
            }
            Err(_) => eprintln!("PostgreSQL skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set"),
        }
        let url = std::env::var("MARKETINGFORCE_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        if run("nats") {
            nats_figures(&url, &mut figures).await;
        }
        if run("webhook") {
            webhook_figures(&mut figures).await;
        }
    });

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("\nevent benchmarks ({cores} cores available)");
    println!(
        "{:<36} {:>14} {:>14} {:>8}",
        "figure", "value", "baseline", "ratio"
    );
    for f in &figures {
        println!(
            "{:<36} {:>14.0} {:>14.0} {:>7.2}x   {} ({})",
            f.id,
            f.value,
            f.baseline_value,
            f.baseline_value / f.value,
            f.unit,
            f.label
        );
    }
    let json: Vec<serde_json::Value> = figures
        .iter()
        .map(|f| {
            serde_json::json!({
                "id": f.id, "label": f.label, "value": f.value, "unit": f.unit,
                "baseline": f.baseline, "baseline_value": f.baseline_value,
            })
        })
        .collect();
    println!("JSON {}", serde_json::Value::Array(json));
}
