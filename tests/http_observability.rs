//! The `http_service` example's telemetry, end to end over loopback: its spans reach an
//! OpenTelemetry SDK (the in-memory exporter in place of OTLP) with names, tenants and
//! outcomes and without the personal data of the requests; `GET /metrics` serves the SDK's
//! counters in the Prometheus format with their labels.

// The service module of the example, compiled into this test; the test does not use every item.
#[path = "../examples/http_service/service/mod.rs"]
#[allow(dead_code, unused_imports)]
mod service;

use std::sync::{Arc, OnceLock};

use marketingforce::core::id::SeededIds;
use marketingforce::core::storage::MemoryStore;
use marketingforce::core::time::ManualClock;
use marketingforce::crm::crypto::KeyRing;
use metrics_exporter_prometheus::PrometheusHandle;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{json, Value};
use service::AppState;

/// What every test of this binary shares: the process's subscriber (spans to the in-memory
/// exporter) and metrics recorder, both global (the server's tasks run on the runtime's
/// threads).
struct Telemetry {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    prometheus: PrometheusHandle,
}

fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_resource(service::telemetry::resource())
            .build();
        let subscriber =
            tracing_subscriber::registry().with(service::telemetry::otel_layer(&provider));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        let prometheus = service::telemetry::install_prometheus().expect("the only recorder");
        Telemetry {
            exporter,
            provider,
            prometheus,
        }
    })
}

/// A served instance over a fresh memory store and a client for it.
struct Server {
    base: String,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Server {
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00").expect("clock"));
    let state = AppState::builder(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::new("k1", [9; 32])),
    )
    .clock(clock.clone())
    .ids(Arc::new(SeededIds::new(7, clock)))
    .prometheus(telemetry().prometheus.clone())
    .build()
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        service::serve(listener, state).await.expect("serve");
    });
    Server {
        base,
        client: reqwest::Client::new(),
        task,
    }
}

/// The people of the requests: none of this may reach a span.
const NAME: &str = "张伟";
const MOBILE: &str = "138 1234 5678";
const EMAIL: &str = "zhang.wei@example.com";
const PERSONAL: [&str; 6] = [NAME, MOBILE, "13812345678", "1234 5678", EMAIL, "zhang.wei"];

impl Server {
    async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// A tenant with lead management, and one lead captured with a name, mobile and email.
    async fn tenant_with_a_lead(&self) -> String {
        let (status, tenant) = self
            .post(
                "/tenants",
                "t-1",
                json!({"name": "上海某机械有限公司", "bundle": "tcloud.basic",
                       "add_ons": ["mf.lead_management"]}),
            )
            .await;
        assert_eq!(status, 201, "{tenant:#}");
        let id = tenant["id"].as_str().expect("id").to_string();
        let (status, lead) = self
            .post(
                &format!("/tenants/{id}/leads"),
                "l-1",
                json!({"source": "own_site", "name": NAME, "mobile": MOBILE, "email": EMAIL}),
            )
            .await;
        assert_eq!(status, 201, "{lead:#}");
        id
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// Every string of a span an exporter would send: name, attributes, events and theirs.
fn texts(span: &SpanData) -> Vec<String> {
    let mut out = vec![span.name.to_string()];
    for kv in &span.attributes {
        out.push(format!("{}={}", kv.key, kv.value.as_str()));
    }
    for event in span.events.iter() {
        out.push(event.name.to_string());
        for kv in &event.attributes {
            out.push(format!("{}={}", kv.key, kv.value.as_str()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_opentelemetry_with_tenant_and_outcome_and_no_personal_data() {
    let telemetry = telemetry();
    let server = start().await;
    let tenant = server.tenant_with_a_lead().await;
    server.stop().await;
    telemetry.provider.force_flush().expect("flush");
    let spans = telemetry.exporter.get_finished_spans().expect("spans");

    // The SDK's operation span of the capture: its tenant and its outcome.
    let capture = spans
        .iter()
        .find(|s| {
            s.name == "crm.capture" && attribute(s, "tenant").as_deref() == Some(tenant.as_str())
        })
        .unwrap_or_else(|| {
            let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
            panic!("no crm.capture span of tenant {tenant} among {names:?}")
        });
    assert_eq!(attribute(capture, "outcome").as_deref(), Some("ok"));
    // It ran inside the request's span, in one trace: the route template, method and status.
    let request = spans
        .iter()
        .find(|s| {
            s.name == "http.request" && s.span_context.trace_id() == capture.span_context.trace_id()
        })
        .expect("the capture's trace has the request's span");
    assert_eq!(
        attribute(request, "route").as_deref(),
        Some("/tenants/{tenant}/leads")
    );
    assert_eq!(attribute(request, "method").as_deref(), Some("POST"));
    assert_eq!(attribute(request, "status").as_deref(), Some("201"));
    // The tenant's creation and the store's commits are there too.
    for name in ["store.commit", "http.request"] {
        assert!(spans.iter().any(|s| s.name == name), "no {name} span");
    }
    let provisioned = spans
        .iter()
        .filter(|s| attribute(s, "route").as_deref() == Some("/tenants"))
        .count();
    assert!(provisioned >= 1, "no span of POST /tenants");

    // No name, mobile or email in any span, attribute or event.
    let leaks: Vec<String> = spans
        .iter()
        .flat_map(texts)
        .filter(|text| PERSONAL.iter().any(|p| text.contains(p)))
        .collect();
    assert!(leaks.is_empty(), "personal data exported: {leaks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_serves_operation_counters_with_their_labels() {
    let server = start().await;
    let tenant = server.tenant_with_a_lead().await;
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain")));
    let text = response.text().await.expect("text");
    server.stop().await;

    // `name{labels} value` lines with every one of `labels` and a positive value.
    let series = |name: &str, labels: &[&str]| -> bool {
        text.lines().any(|line| {
            line.starts_with(&format!("{name}{{"))
                && labels.iter().all(|l| line.contains(l))
                && line
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v >= 1.0)
        })
    };
    assert!(
        series(
            "marketingforce_operations_total",
            &[
                r#"operation="crm.capture""#,
                r#"outcome="ok""#,
                r#"error_kind="none""#
            ]
        ),
        "no capture counter in:\n{text}"
    );
    assert!(
        series("marketingforce_leads_total", &[r#"result="created""#]),
        "no lead counter in:\n{text}"
    );
    assert!(
        series(
            "marketingforce_store_commits_total",
            &[r#"backend="memory""#]
        ),
        "no commit counter in:\n{text}"
    );
    assert!(
        text.contains("marketingforce_operation_duration_seconds"),
        "no latency histogram in:\n{text}"
    );
    // The tenant label is opt-in (off here), and no personal data is ever a label.
    assert!(!text.contains(&tenant), "a tenant id in the metrics");
    for p in PERSONAL {
        assert!(!text.contains(p), "{p:?} in the metrics");
    }
}
