//! An HTTP service embedding the Marketingforce SDK: tenants, leads, usage and settlement over
//! one store, with idempotency keys and RFC 9457 problem details. The service itself is the
//! `service` module (routes, error mapping, idempotency); this binary configures and serves it.
//!
//! ```text
//! cargo run --example http_service --features http-example
//! MF_STORE=sqlite:./mf.db MF_PII_KEY=<64 hex digits> cargo run --example http_service --features http-example
//! ```
//!
//! Environment:
//! - `MF_HTTP_ADDR`: address to listen on (default `127.0.0.1:8080`).
//! - `MF_STORE`: `memory` (default), `sqlite:<path>` or `postgres://user:pass@host/db`.
//! - `MF_PII_KEY`: the 32-byte master key sealing personal data, as 64 hex digits. Required
//!   with a durable store (data sealed under a throwaway key could never be read again); with
//!   the memory store a fixed development key is used and a warning printed.
//! - `MF_BODY_LIMIT`: largest request body in bytes (default 65536).
//! - `MF_HEADER_READ_TIMEOUT`: seconds a client may take to send a request header (default 10;
//!   slower connections, e.g. slowloris clients, are closed).
//! - `MF_IDLE_TIMEOUT`: seconds a keep-alive connection may idle between requests (default 60).
//! - `MF_MAX_CONNECTIONS`: connections served at once (default 1024); more wait in the backlog.
//! - `MF_WEBHOOK_SYNC`: seconds between reads of the webhook endpoints (default 2).
//! - `RUST_LOG`: the log filter (default `warn,marketingforce=info,http_service=info`); log
//!   lines are JSON on stderr, with the span (operation, tenant, outcome) of each event.
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (feature `otlp`): export spans over OTLP/HTTP to this
//!   collector (e.g. `http://127.0.0.1:4318`); `OTEL_SERVICE_NAME` names the service. Unset:
//!   no export. A collector that is down costs dropped spans, never a failed request.
//!
//! With the feature `metrics`, `GET /metrics` serves the SDK's counters and histograms in the
//! Prometheus text format. Tenants register webhook endpoints with
//! `POST /tenants/{id}/webhooks`; a background relay delivers their domain events, signed.
//! - `MF_TOKENS`: bearer tokens, comma-separated `token=tenant:role` (`tenant` a tenant id, or
//!   `*` with role `operator`; roles `operator`, `writer`, `reader`; tokens of 16+ characters),
//!   e.g. `MF_TOKENS='op-5f2c9a7e1b3d4c6a=*:operator'`. When set, every request needs
//!   `Authorization: Bearer <token>`. When not set the service runs **open** (every caller is
//!   the operator) and says so on start: for local development only.
//!
//! Then, for example:
//! ```text
//! # with MF_TOKENS set, add -H 'Authorization: Bearer <token>' to every call
//! curl -si localhost:8080/tenants -H 'Idempotency-Key: t-1' -H 'Content-Type: application/json' \
//!      -d '{"name":"上海某机械有限公司","bundle":"tcloud.basic"}'
//! curl -si localhost:8080/tenants/<id>/leads -H 'Idempotency-Key: l-1' -H 'Content-Type: application/json' \
//!      -d '{"source":"own_site","name":"张伟","mobile":"138 1234 5678"}'
//! curl -si localhost:8080/tenants/<id>/usage -H 'Idempotency-Key: u-1' -H 'Content-Type: application/json' \
//!      -d '{"unit":"articles_published","quantity":3}'
//! curl -si localhost:8080/tenants/<id>/webhooks -H 'Idempotency-Key: w-1' -H 'Content-Type: application/json' \
//!      -d '{"url":"http://127.0.0.1:9000/hooks","events":["crm.lead.*"]}'
//! curl -s localhost:8080/metrics        # with --features http-example,metrics
//! ```

// The module is shared with `tests/http_service.rs`, which uses items this binary does not.
#[allow(dead_code, unused_imports)]
mod service;

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use marketingforce::crm::crypto::KeyRing;
use service::{AppState, ServiceConfig, StoreUrl, TokenTable};

/// The development key used with the memory store when `MF_PII_KEY` is not set.
const DEV_KEY: [u8; 32] = *b"marketingforce-dev-key-not-prod!";

fn main() -> ExitCode {
    // Telemetry first, outside the runtime (the OTLP exporter's blocking client is built on
    // this thread).
    let telemetry = match init_telemetry() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("http_service: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| -> Box<dyn Error> { format!("cannot start the runtime: {e}").into() })
        .and_then(|runtime| runtime.block_on(run()));
    drop(telemetry);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_service: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Flushes and stops the span export when dropped.
struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            // Telemetry never fails the service: a collector that is gone loses the last spans.
            if let Err(e) = provider.shutdown() {
                eprintln!("http_service: span export not flushed: {e}");
            }
        }
    }
}

/// JSON log lines filtered by `RUST_LOG`; with the feature `otlp` and an OTLP endpoint in the
/// environment, span export too.
fn init_telemetry() -> Result<Telemetry, String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let registry = tracing_subscriber::registry()
        .with(service::telemetry::json_layer().with_filter(service::telemetry::env_filter()));
    #[cfg(feature = "otlp")]
    {
        let provider = service::telemetry::otlp_provider()?;
        let otel = provider.as_ref().map(|p| {
            service::telemetry::otel_layer(p).with_filter(service::telemetry::env_filter())
        });
        registry
            .with(otel)
            .try_init()
            .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
        if provider.is_none() {
            eprintln!("http_service: OTEL_EXPORTER_OTLP_ENDPOINT not set; spans are not exported");
        }
        Ok(Telemetry { provider })
    }
    #[cfg(not(feature = "otlp"))]
    {
        registry
            .try_init()
            .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
        Ok(Telemetry {})
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let addr = std::env::var("MF_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let store_url: StoreUrl = std::env::var("MF_STORE")
        .unwrap_or_else(|_| "memory".into())
        .parse()?;
    let key = match std::env::var("MF_PII_KEY") {
        Ok(hex) => parse_key(&hex)?,
        Err(_) if !store_url.is_durable() => {
            eprintln!(
                "http_service: MF_PII_KEY not set; using the development key (memory store only)"
            );
            DEV_KEY
        }
        Err(_) => return Err(format!("MF_PII_KEY is required with the store {store_url}").into()),
    };
    let mut config = ServiceConfig::default();
    if let Some(limit) = env_number("MF_BODY_LIMIT")? {
        config.body_limit = limit;
    }
    if let Some(secs) = env_number("MF_HEADER_READ_TIMEOUT")? {
        config.header_read_timeout = Duration::from_secs(secs as u64);
    }
    if let Some(secs) = env_number("MF_IDLE_TIMEOUT")? {
        config.idle_timeout = Duration::from_secs(secs as u64);
    }
    if let Some(n) = env_number("MF_MAX_CONNECTIONS")? {
        config.max_connections = n;
    }
    if let Some(secs) = env_number("MF_WEBHOOK_SYNC")? {
        config.webhook_sync = Duration::from_secs(secs as u64);
    }
    let store = store_url.open().await?;
    let mut builder = AppState::builder(store, Arc::new(KeyRing::new("k1", key))).config(config);
    match std::env::var("MF_TOKENS") {
        Ok(spec) => builder = builder.authenticator(Arc::new(TokenTable::parse(&spec)?)),
        Err(_) => eprintln!(
            "http_service: MF_TOKENS not set; running OPEN (no authentication, every caller is \
             the operator): for local development only"
        ),
    }
    #[cfg(feature = "metrics")]
    {
        let handle = service::telemetry::install_prometheus()?;
        tokio::spawn(service::telemetry::upkeep(handle.clone()));
        builder = builder.prometheus(handle);
    }
    let state = builder
        .build()
        .map_err(|p| format!("cannot start: {:?}", p.body()))?;
    // Domain events to the tenants' webhook endpoints, next to the server.
    tokio::spawn(service::dispatch(state.clone()));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "http_service: listening on http://{} (store: {store_url})",
        listener.local_addr()?
    );
    service::serve(listener, state).await?;
    Ok(())
}

/// A positive number from the environment variable `name`, if set.
fn env_number(name: &str) -> Result<Option<usize>, String> {
    match std::env::var(name) {
        Ok(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            Ok(_) => Err(format!("{name} must be positive")),
            Err(e) => Err(format!("{name} {raw:?}: {e}")),
        },
        Err(_) => Ok(None),
    }
}

/// 64 hex digits → 32 bytes.
fn parse_key(hex: &str) -> Result<[u8; 32], String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return Err("MF_PII_KEY must be 64 hex digits (32 bytes)".into());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).unwrap_or_default();
        *byte = u8::from_str_radix(pair, 16)
            .map_err(|_| format!("MF_PII_KEY: {pair:?} is not a hex byte"))?;
    }
    Ok(key)
}
