//! The `http_service` example's webhook endpoints over loopback: a tenant registers an
//! endpoint (the secret is shown on creation and on a replay of it only), the service's
//! dispatcher delivers the tenant's domain events to a receiver on `127.0.0.1:0`, which
//! verifies each signature with the events crate's consumer helper; removal stops it.

// The service module of the example, compiled into this test; the test does not use every item.
#[path = "../examples/http_service/service/mod.rs"]
#[allow(dead_code, unused_imports)]
mod service;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use marketingforce::core::adapters::secret::Secret;
use marketingforce::core::id::SeededIds;
use marketingforce::core::storage::{MemoryStore, Store};
use marketingforce::core::time::{Clock, ManualClock};
use marketingforce::crm::crypto::KeyRing;
use marketingforce::events::signature::{WebhookVerifier, EVENT_NAME_HEADER, SIGNATURE_HEADER};
use serde_json::{json, Value};
use service::{AppState, ServiceConfig};
use tokio::sync::mpsc;

/// One delivery the receiver got: the signature header, the event name header, the body.
#[derive(Debug)]
struct Delivery {
    signature: Option<String>,
    name: Option<String>,
    body: Bytes,
}

/// A webhook receiver on `127.0.0.1:0`: answers 204 and hands every request to the test.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let _ = tx.send(Delivery {
                    signature: header(SIGNATURE_HEADER),
                    name: header(EVENT_NAME_HEADER),
                    body,
                });
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("receiver");
    });
    (url, rx)
}

struct Resp {
    status: u16,
    replayed: bool,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Resp {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON")
    };
    Resp {
        status,
        replayed,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_register_webhooks_and_receive_signed_lead_events() {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00").expect("clock"));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let state = AppState::builder(store.clone(), Arc::new(KeyRing::new("k1", [9; 32])))
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(3, clock.clone())))
        .config(ServiceConfig {
            webhook_sync: Duration::from_millis(100),
            ..ServiceConfig::default()
        })
        .build()
        .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn({
        let state = state.clone();
        async move { service::serve(listener, state).await.expect("serve") }
    });
    let dispatcher = tokio::spawn(service::dispatch(state.clone()));
    let client = reqwest::Client::new();
    let post = |path: String, key: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("Idempotency-Key", key)
            .json(&body)
    };

    let tenant = send(post(
        "/tenants".into(),
        "t-1",
        json!({"name": "上海某机械有限公司", "bundle": "tcloud.basic",
               "add_ons": ["mf.lead_management"]}),
    ))
    .await;
    assert_eq!(tenant.status, 201, "{:#}", tenant.body);
    let tenant = tenant.body["id"].as_str().expect("id").to_string();
    let hooks = format!("/tenants/{tenant}/webhooks");
    let (url, mut deliveries) = receiver().await;

    // Bad endpoints are refused, naming the field.
    for (body, field) in [
        (json!({"url": "ftp://example.com/x"}), "url"),
        (
            json!({"url": url, "events": ["crm.lead.*", "crm..lead"]}),
            "events[1]",
        ),
    ] {
        let refused = send(post(hooks.clone(), "w-bad", body)).await;
        assert_eq!(refused.status, 422, "{:#}", refused.body);
        assert_eq!(refused.body["field"], json!(field), "{:#}", refused.body);
    }

    // Created once per key: the replay shows the same endpoint and secret; another body under
    // the key is refused.
    let request = json!({"url": url, "events": ["crm.lead.*"]});
    let created = send(post(hooks.clone(), "w-1", request.clone())).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert!(!created.replayed);
    let id = created.body["id"].as_str().expect("id").to_string();
    let secret = created.body["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"));
    let replay = send(post(hooks.clone(), "w-1", request.clone())).await;
    assert_eq!((replay.status, replay.replayed), (201, true));
    assert_eq!(replay.body["id"], json!(id));
    assert_eq!(replay.body["secret"], json!(secret));
    let reused = send(post(hooks.clone(), "w-1", json!({"url": url}))).await;
    assert_eq!(reused.status, 422, "{:#}", reused.body);

    // Listed without the secret, by this instance and by another one over the same store
    // (the endpoints are in the store, not in a process).
    let other = AppState::builder(store.clone(), Arc::new(KeyRing::new("k1", [9; 32])))
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(4, clock.clone())))
        .build()
        .expect("second state");
    let other_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let other_base = format!("http://{}", other_listener.local_addr().expect("addr"));
    let other_server =
        tokio::spawn(async move { service::serve(other_listener, other).await.expect("serve") });
    for at in [&base, &other_base] {
        let listed = send(client.get(format!("{at}{hooks}"))).await;
        assert_eq!(listed.status, 200);
        assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(listed.body["items"][0]["id"], json!(id));
        assert!(listed.body["items"][0].get("secret").is_none());
        assert!(!listed.body.to_string().contains(&secret));
    }
    other_server.abort();

    // A lead captured: the receiver gets `crm.lead.captured`, signed with the secret.
    let lead = send(post(
        format!("/tenants/{tenant}/leads"),
        "l-1",
        json!({"source": "own_site", "name": "张伟", "mobile": "138 1234 5678"}),
    ))
    .await;
    assert_eq!(lead.status, 201, "{:#}", lead.body);
    let verifier = WebhookVerifier::new(Secret::new(secret.clone()));
    let mut names = Vec::new();
    let captured = loop {
        let delivery = tokio::time::timeout(Duration::from_secs(30), deliveries.recv())
            .await
            .expect("a delivery within 30 s")
            .expect("the receiver runs");
        verifier
            .verify_signature(delivery.signature.as_deref(), &delivery.body, clock.now())
            .expect("a genuine signature");
        // A tampered body fails the same check.
        let mut tampered = delivery.body.to_vec();
        tampered.push(b' ');
        assert!(verifier
            .verify_signature(delivery.signature.as_deref(), &tampered, clock.now())
            .is_err());
        let name = delivery.name.clone().unwrap_or_default();
        names.push(name.clone());
        if name == "crm.lead.captured" {
            break delivery;
        }
    };
    // Only the events of the filter, and no personal data in them.
    assert!(
        names.iter().all(|n| n.starts_with("crm.lead.")),
        "{names:?}"
    );
    let body = String::from_utf8_lossy(&captured.body);
    assert!(body.contains(&tenant), "{body}");
    for personal in ["张伟", "13812345678", "1234 5678"] {
        assert!(!body.contains(personal), "{personal:?} in {body}");
    }

    // Removed: 204, no longer listed, a second removal is 404.
    let removed = send(client.delete(format!("{base}{hooks}/{id}"))).await;
    assert_eq!(removed.status, 204);
    let listed = send(client.get(format!("{base}{hooks}"))).await;
    assert_eq!(listed.body["items"], json!([]));
    let again = send(client.delete(format!("{base}{hooks}/{id}"))).await;
    assert_eq!(again.status, 404);

    dispatcher.abort();
    server.abort();
}
