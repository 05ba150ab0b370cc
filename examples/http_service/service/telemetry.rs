//! Operating the service: log lines, traces and metrics.
//!
//! - **Logs**: one JSON object per line on stderr ([`json_layer`]), filtered by `RUST_LOG`
//!   (default [`DEFAULT_FILTER`]). The SDK's spans carry tenant ids, operations and outcomes,
//!   never personal data; [`trace_request`] adds one `http.request` span per request with the
//!   route *template* (`/tenants/{tenant}/leads`), the method and the status.
//! - **Traces** (feature `otlp`): the same spans exported over OTLP/HTTP ([`otlp_provider`],
//!   [`otel_layer`]) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set. Export
//!   runs on the SDK's batch thread: a collector that is down costs dropped spans, never a
//!   failed request.
//! - **Metrics** (feature `metrics`): the SDK's counters and histograms
//!   (`marketingforce::core::telemetry::names`) in the Prometheus text format at
//!   `GET /metrics` ([`install_prometheus`], [`metrics`]).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// The log filter when `RUST_LOG` is not set: the SDK's operations and the service's requests
/// at `info`, everything else (hyper, sqlx, …) at `warn`.
pub const DEFAULT_FILTER: &str = "warn,marketingforce=info,http_service=info";

/// The filter of `RUST_LOG`, or [`DEFAULT_FILTER`] when it is unset or does not parse (then
/// the reason is printed: a typo in a log setting must not stop the service).
pub fn env_filter() -> EnvFilter {
    match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("http_service: RUST_LOG {spec:?} ignored ({e}); using {DEFAULT_FILTER}");
            EnvFilter::new(DEFAULT_FILTER)
        }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    }
}

/// JSON log lines on stderr: the event, its fields and the span it happened in (with the
/// fields of that span: operation, tenant, outcome).
pub fn json_layer<S>() -> impl tracing_subscriber::Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stderr)
}

/// The middleware wrapping every request in an `http.request` span: `method`, `route` (the
/// matched route's template, never the raw path: no ids or query strings) and, once answered,
/// `status`. The SDK's operation spans of the request are its children.
pub async fn trace_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let span = tracing::info_span!(
        "http.request",
        method = %req.method(),
        route = %route,
        status = tracing::field::Empty,
    );
    let response = next.run(req).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    response
}

/// Builds the OTLP span export from the standard environment, when it is configured.
///
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. `http://127.0.0.1:4318`) or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` turns export on (OTLP over HTTP with protobuf); the
/// other `OTEL_EXPORTER_OTLP_*` variables (headers, timeout) apply as the OpenTelemetry
/// specification says. `OTEL_SERVICE_NAME` names the service (default
/// `marketingforce-http-service`). Neither endpoint set: `Ok(None)`, nothing is exported.
///
/// Call it outside an async runtime (the exporter's blocking HTTP client must not be built on
/// one), and [`shutdown`](opentelemetry_sdk::trace::SdkTracerProvider::shutdown) the provider
/// on exit to flush the last spans.
///
/// # Errors
/// The exporter cannot be built (e.g. an endpoint that is not a URL).
#[cfg(feature = "otlp")]
pub fn otlp_provider() -> Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>, String> {
    use opentelemetry_otlp::WithExportConfig;
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()));
    if !configured {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("OTLP exporter: {e}"))?;
    Ok(Some(
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build(),
    ))
}

/// The resource of the service's spans: `service.name` from `OTEL_SERVICE_NAME`, else
/// `marketingforce-http-service`.
#[cfg(feature = "otlp")]
pub fn resource() -> opentelemetry_sdk::Resource {
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "marketingforce-http-service".into());
    opentelemetry_sdk::Resource::builder()
        .with_service_name(name)
        .build()
}

/// The layer handing `tracing`'s spans to `provider`: each span becomes an OpenTelemetry span
/// of the same name, its fields (operation, tenant, outcome, error kind) its attributes.
#[cfg(feature = "otlp")]
pub fn otel_layer<S>(
    provider: &opentelemetry_sdk::trace::SdkTracerProvider,
) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use opentelemetry::trace::TracerProvider as _;
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("marketingforce"))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
}

/// Install the Prometheus recorder as the process's `metrics` recorder and return the handle
/// that renders it (keep it in the [`AppState`](super::AppState) for `GET /metrics`, and call
/// [`run_upkeep`](metrics_exporter_prometheus::PrometheusHandle::run_upkeep) now and then, as
/// [`upkeep`] does).
///
/// # Errors
/// Another recorder is installed already.
#[cfg(feature = "metrics")]
pub fn install_prometheus() -> Result<metrics_exporter_prometheus::PrometheusHandle, String> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the Prometheus recorder: {e}"))
}

/// Drain the histograms of `handle` every few seconds (they keep samples until then); runs
/// until dropped.
#[cfg(feature = "metrics")]
pub async fn upkeep(handle: metrics_exporter_prometheus::PrometheusHandle) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// `GET /metrics`: the Prometheus text exposition of every metric recorded so far; 404 when
/// the service was started without a recorder. Behind authentication like the other
/// non-public routes (with `MF_TOKENS`, an operator token).
#[cfg(feature = "metrics")]
pub async fn metrics(
    axum::extract::State(state): axum::extract::State<super::AppState>,
) -> Result<Response, super::Problem> {
    use axum::response::IntoResponse;
    let Some(handle) = state.prometheus() else {
        return Err(super::Problem::not_found(
            "no metrics recorder is installed in this service",
        ));
    };
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}
