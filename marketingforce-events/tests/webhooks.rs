//! Signed webhooks against a loopback receiver (axum) built on the consumer helpers
//! (`WebhookReceiver`: signature, tolerance, inbox), with injected 500s, timeouts and slow
//! answers; dead letters and redelivery; filters; secrets kept out of failures.

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{check_first_seen_order, dead_letters, env, produce, QuotaThresholdReached};
use marketingforce_core::adapters::secret::Secret;
use marketingforce_core::error::Classify;
use marketingforce_core::events::{EventContext, Outbox};
use marketingforce_core::storage::{Batch, MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_events::signature::{
    generate_secret, signature_header, WebhookError, WebhookVerifier, SEQUENCE_HEADER,
    SIGNATURE_HEADER,
};
use marketingforce_events::webhook::{WebhookEndpoint, WebhookSink};
use marketingforce_events::{EventFilter, NextStep, Relay, RetryPolicy, WebhookReceiver};

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Status(u16),
    /// Process the event, then answer after this long (longer than the sender's timeout: the
    /// answer is lost and the event redelivered).
    Sleep(Duration),
}

#[derive(Default)]
struct Seen {
    processed: Vec<(TenantId, u64, String)>,
    duplicates: usize,
    refused: Vec<&'static str>,
    requests: usize,
}

#[derive(Clone)]
struct Receiver {
    inner: Arc<WebhookReceiver>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    fail_n: Arc<Mutex<Option<u64>>>,
    seen: Arc<Mutex<Seen>>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.seen.lock().unwrap().requests += 1;
    let fault = r.faults.lock().unwrap().pop_front();
    let status = match fault {
        Some(Fault::Status(code)) => return StatusCode::from_u16(code).unwrap(),
        Some(Fault::Sleep(d)) => {
            let status = handle(&r, &headers, &body).await;
            tokio::time::sleep(d).await;
            status
        }
        None => handle(&r, &headers, &body).await,
    };
    status
}

async fn handle(r: &Receiver, headers: &HeaderMap, body: &Bytes) -> StatusCode {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match r.inner.accept(signature, body).await {
        Ok(event) => {
            let n = event.payload().get("n").and_then(serde_json::Value::as_u64);
            if n.is_some() && n == *r.fail_n.lock().unwrap() {
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            let seq: u64 = headers
                .get(SEQUENCE_HEADER)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0);
            match r.inner.complete(&event, Batch::new()).await {
                Ok(()) => {
                    r.seen.lock().unwrap().processed.push((
                        *event.tenant(),
                        seq,
                        event.id().to_string(),
                    ));
                    StatusCode::OK
                }
                Err(WebhookError::Replayed { .. }) => {
                    r.seen.lock().unwrap().duplicates += 1;
                    StatusCode::OK
                }
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
        Err(WebhookError::Replayed { .. }) => {
            r.seen.lock().unwrap().duplicates += 1;
            StatusCode::OK
        }
        Err(e) => {
            r.seen.lock().unwrap().refused.push(e.code());
            if e.kind() == marketingforce_core::ErrorKind::Unauthenticated {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            }
        }
    }
}

/// Start a receiver verifying with `secret`; returns it and its URL.
async fn receiver(secret: Secret) -> (Receiver, String) {
    let env = env(&(Arc::new(MemoryStore::new()) as Arc<dyn Store>));
    let r = Receiver {
        inner: Arc::new(
            WebhookReceiver::new(&env, "receiver", WebhookVerifier::new(secret)).unwrap(),
        ),
        faults: Arc::default(),
        fail_n: Arc::default(),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/hooks", post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, format!("http://{addr}/hooks"))
}

async fn pump_until_caught_up(relay: &Relay, tenant: &TenantId) {
    for _ in 0..2000 {
        match relay.pump(tenant).await.unwrap().next {
            NextStep::CaughtUp => return,
            NextStep::More => {}
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    panic!("the relay did not catch up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_500s_timeouts_and_slow_answers_in_order() {
    let secret = generate_secret();
    let (r, url) = receiver(secret.clone()).await;
    r.faults.lock().unwrap().extend([
        Fault::Status(500),
        Fault::Status(503),
        Fault::Sleep(Duration::from_millis(400)), // the sender gives up at 200 ms
        Fault::Sleep(Duration::from_millis(50)),  // slow but in time
        Fault::Status(502),
        Fault::Sleep(Duration::from_millis(400)),
    ]);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenants = [TenantId::new(), TenantId::new()];
    for t in &tenants {
        produce(&store, &outbox, t, 1, 25).await;
    }
    let endpoint = WebhookEndpoint::new("receiver", &url, secret)
        .unwrap()
        .timeout(Duration::from_millis(200))
        .retry(RetryPolicy::limited(
            20,
            Duration::from_millis(5),
            Duration::from_millis(40),
        ));
    let relay = Relay::builder(&env, Arc::new(WebhookSink::new(&env, endpoint).unwrap()))
        .poll_interval(Duration::from_millis(5))
        .discovery_interval(Duration::from_millis(10))
        .build()
        .unwrap();
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
    for _ in 0..1000 {
        if r.seen.lock().unwrap().processed.len() == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    let seen = r.seen.lock().unwrap();
    let expected: HashMap<TenantId, u64> = tenants.iter().map(|t| (*t, 25)).collect();
    check_first_seen_order(&seen.processed, &expected);
    // Timed-out requests were processed by the receiver, then redelivered: dropped as replays.
    assert!(seen.duplicates >= 1, "{}", seen.duplicates);
    assert!(seen.refused.is_empty(), "{:?}", seen.refused);
    // 50 processed (two of them answered too late), 3 refused, 2 redelivered after a timeout.
    assert!(seen.requests >= 55, "{}", seen.requests);
    assert!(seen.duplicates >= 2, "{}", seen.duplicates);
    assert_eq!(relay.lag().pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_refused_n_times_is_dead_lettered_and_redelivered_later() {
    let secret = generate_secret();
    let (r, url) = receiver(secret.clone()).await;
    *r.fail_n.lock().unwrap() = Some(3);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    produce(&store, &outbox, &tenant, 1, 6).await;
    let endpoint = WebhookEndpoint::new("receiver", &url, secret)
        .unwrap()
        .retry(RetryPolicy::limited(
            3,
            Duration::from_millis(1),
            Duration::from_millis(4),
        ));
    let relay = Relay::builder(&env, Arc::new(WebhookSink::new(&env, endpoint).unwrap()))
        .build()
        .unwrap();
    pump_until_caught_up(&relay, &tenant).await;
    let dead = dead_letters(&relay, &tenant).await;
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].seq, dead[0].attempts), (3, 3));
    assert_eq!(dead[0].reason, "refused after 0 accepted: HTTP 500");
    let got: Vec<u64> = r
        .seen
        .lock()
        .unwrap()
        .processed
        .iter()
        .map(|p| p.1)
        .collect();
    assert_eq!(got, [1, 2, 4, 5, 6]);

    *r.fail_n.lock().unwrap() = None;
    assert_eq!(
        relay
            .redeliver_dead_letters(&tenant)
            .await
            .unwrap()
            .delivered,
        1
    );
    let got: Vec<u64> = r
        .seen
        .lock()
        .unwrap()
        .processed
        .iter()
        .map(|p| p.1)
        .collect();
    assert_eq!(got, [1, 2, 4, 5, 6, 3]);
    // A replayed range reaches the receiver, which drops it as already processed.
    relay.replay(&tenant, 1..=6).await.unwrap();
    assert_eq!(r.seen.lock().unwrap().duplicates, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_receive_only_the_events_and_tenants_they_select() {
    let secret = generate_secret();
    let (r, url) = receiver(secret.clone()).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let (mine, other) = (TenantId::new(), TenantId::new());
    for t in [mine, other] {
        produce(&store, &outbox, &t, 1, 3).await;
        let mut batch = Batch::new();
        let quota = QuotaThresholdReached {
            meter: "articles".into(),
            percent: 80,
        };
        outbox
            .append(&t, &mut batch, &quota, &EventContext::new())
            .await
            .unwrap();
        store.commit(&t, batch).await.unwrap();
    }
    let endpoint = WebhookEndpoint::new("quota-watch", &url, secret)
        .unwrap()
        .events(EventFilter::new(["example.quota.*"]).unwrap())
        .only_tenants([mine]);
    let relay = Relay::builder(&env, Arc::new(WebhookSink::new(&env, endpoint).unwrap()))
        .build()
        .unwrap();
    pump_until_caught_up(&relay, &mine).await;
    pump_until_caught_up(&relay, &other).await;
    let seen = r.seen.lock().unwrap();
    assert_eq!(seen.processed.len(), 1);
    assert_eq!((seen.processed[0].0, seen.processed[0].1), (mine, 4));
    // Unselected events still move the cursor: nothing is pending.
    assert_eq!(relay.lag().pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_malformed_requests_are_refused_saying_why() {
    let secret = generate_secret();
    let (r, url) = receiver(secret.clone()).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let outbox = Outbox::new(&env(&store));
    let body = produce(&store, &outbox, &TenantId::new(), 1, 1).await[0]
        .to_json()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let client = reqwest::Client::new();
    let send = |header: Option<String>| {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        async move {
            let mut request = client.post(&url).body(body);
            if let Some(h) = header {
                request = request.header(SIGNATURE_HEADER, h);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    let forged = signature_header(&[generate_secret()], now, &body);
    let stale = signature_header(std::slice::from_ref(&secret), now - 3600, &body);
    let good = signature_header(std::slice::from_ref(&secret), now, &body);
    assert_eq!(send(Some(forged)).await, 401);
    assert_eq!(send(Some(stale)).await, 401);
    assert_eq!(send(Some("t=abc,v1=00".into())).await, 400);
    assert_eq!(send(None).await, 400);
    assert_eq!(send(Some(good.clone())).await, 200);
    // The same signed request again within the window: a replay, acknowledged, not processed.
    assert_eq!(send(Some(good)).await, 200);
    let seen = r.seen.lock().unwrap();
    assert_eq!(
        seen.refused,
        [
            "bad_signature",
            "signature_expired",
            "malformed_signature_header",
            "malformed_signature_header"
        ]
    );
    assert_eq!((seen.processed.len(), seen.duplicates), (1, 1));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_lag_and_its_secrets_stay_out_of_reports() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let env = env(&store);
    let outbox = Outbox::new(&env);
    let tenant = TenantId::new();
    // A port nobody listens on; the URL carries a token in its query.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let secret = Secret::new("whsec_do_not_print_me_0123456789");
    let endpoint = WebhookEndpoint::new(
        "down",
        &format!("http://127.0.0.1:{port}/hooks?token=s3cr3t-token"),
        secret,
    )
    .unwrap();
    let sink = WebhookSink::new(&env, endpoint).unwrap();
    let shown = format!("{sink:?}");
    assert!(
        !shown.contains("do_not_print") && !shown.contains("s3cr3t"),
        "{shown}"
    );
    let relay = Relay::builder(&env, Arc::new(sink)).build().unwrap();
    produce(&store, &outbox, &tenant, 1, 3).await; // business writes are unaffected
    let step = relay.pump(&tenant).await.unwrap();
    assert!(matches!(step.next, NextStep::RetryAt(_)));
    let lag = relay.lag();
    assert_eq!(lag.pending(), 3);
    let failure = lag.tenants[0].last_failure.clone().unwrap();
    assert!(failure.starts_with("unavailable"), "{failure}");
    assert!(
        !failure.contains("s3cr3t") && !failure.contains("do_not_print"),
        "{failure}"
    );
    assert!(WebhookEndpoint::new("x", "ftp://example.com", generate_secret()).is_err());
    assert!(WebhookEndpoint::new("x", "http://127.0.0.1/", Secret::new("short")).is_err());
    // A URL that does not parse is refused without quoting it: it may carry a password.
    let bad = WebhookEndpoint::new("x", "https://hooks:s3cr3t@exa mple.com/", generate_secret())
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("endpoint.url") && !bad.contains("s3cr3t"),
        "{bad}"
    );
}

/// An endpoint whose requests may take no time at all is refused when its sink is built,
/// naming the setting. Before, the sink was built: every request timed out before it was
/// sent, and every event was dead-lettered once its tries were used up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_timeout_is_refused_when_the_sink_is_built() {
    let secret = generate_secret();
    let (_receiver, url) = receiver(secret.clone()).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let env = env(&store);
    let tenant = TenantId::new();
    produce(&store, &Outbox::new(&env), &tenant, 1, 1).await;
    let endpoint = WebhookEndpoint::new("zero", &url, secret)
        .unwrap()
        .timeout(Duration::ZERO)
        .retry(RetryPolicy::limited(
            1,
            Duration::from_millis(1),
            Duration::from_millis(1),
        ));
    match WebhookSink::new(&env, endpoint) {
        Err(e) => assert_eq!(e.field(), Some("endpoint.timeout"), "{e}"),
        Ok(sink) => {
            let relay = Relay::builder(&env, Arc::new(sink)).build().unwrap();
            let step = relay.pump(&tenant).await.unwrap();
            panic!(
                "built; its first step delivered {} and dead-lettered {}",
                step.delivered, step.dead_lettered
            );
        }
    }
}
