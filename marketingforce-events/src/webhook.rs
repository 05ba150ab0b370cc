//! The signed-webhook sink (feature `webhooks`): each event is POSTed, as the envelope's JSON,
//! to an endpoint the embedder configured, signed Stripe-style (see [`signature`](crate::signature)).
//!
//! | header | value |
//! |---|---|
//! | `Content-Type` | `application/json` |
//! | `Marketingforce-Signature` | `t=<unix seconds>,v1=<HMAC-SHA256 hex of "t.body">` (a `v1` per active secret) |
//! | `Marketingforce-Event-Id` | the event id: deduplicate by it |
//! | `Marketingforce-Event-Name` | `crm.lead.captured` |
//! | `Marketingforce-Sequence` | the sequence number of the event's outbox entry within its tenant (one commit's events share it) |
//! | `Marketingforce-Sequence-Line` | the event's line in that entry: events are in order of (sequence, line) |
//!
//! A 2xx answer accepts the event; anything else (a 3xx too: redirects are not followed), a
//! timeout or a refused connection is a failure, retried with exponential backoff and jitter
//! from the first event not accepted (the tenant's later events wait, so order holds). After
//! [`RetryPolicy::max_attempts`] tries the event is dead-lettered and delivery goes on; dead
//! letters are listed and redelivered through the [`Relay`](crate::Relay), which also replays
//! ranges. A `Retry-After` answer (429, 503) is honoured up to the policy's longest backoff.
//!
//! Each endpoint is its own sink, with its own cursor per tenant: a slow or failing endpoint
//! never holds back another. An endpoint receives the events its [`EventFilter`] selects, of
//! every tenant or of the tenants it is limited to; the others count as delivered to it.
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_events::signature::generate_secret;
//! use marketingforce_events::webhook::{WebhookEndpoint, WebhookSink};
//! use marketingforce_events::{EventFilter, Relay};
//!
//! let env = Env::new(Arc::new(MemoryStore::new()));
//! let endpoint = WebhookEndpoint::new("billing", "http://127.0.0.1:8080/hooks", generate_secret())
//!     .unwrap()
//!     .events(EventFilter::new(["modules.subscription.>", "modules.quota.*"]).unwrap());
//! assert!(!format!("{endpoint:?}").contains("whsec_"));
//! let sink = WebhookSink::new(&env, endpoint).unwrap();
//! let relay = Relay::builder(&env, Arc::new(sink)).build().unwrap();
//! assert_eq!(relay.sink_id(), "webhook.billing");
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use marketingforce_core::adapters::secret::Secret;
use marketingforce_core::env::Env;
use marketingforce_core::error::{Error, Result};
use marketingforce_core::storage::check_name;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::error::EventsError;
use crate::event::OutboxEvent;
use crate::filter::EventFilter;
use crate::retry::RetryPolicy;
use crate::signature::{
    signature_header, EVENT_ID_HEADER, EVENT_NAME_HEADER, LINE_HEADER, MIN_SECRET_BYTES,
    SEQUENCE_HEADER, SIGNATURE_HEADER,
};
use crate::sink::{EventSink, FailureKind, SinkFailure};

/// One webhook endpoint: where, which events, signed with which secret, how patiently.
/// Secrets never appear in `Debug` output, nor the URL's query (it may carry a token).
#[derive(Clone)]
pub struct WebhookEndpoint {
    id: String,
    url: Url,
    secrets: Vec<Secret>,
    filter: EventFilter,
    tenants: Option<BTreeSet<TenantId>>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field(
                "url",
                &format!(
                    "{}://{}{}",
                    self.url.scheme(),
                    self.url.host_str().unwrap_or(""),
                    self.url.path()
                ),
            )
            .field("secrets", &self.secrets.len())
            .field("filter", &self.filter)
            .field("tenants", &self.tenants.as_ref().map(BTreeSet::len))
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

fn check_secret(secret: &Secret, field: &str) -> Result<()> {
    if secret.expose().len() < MIN_SECRET_BYTES {
        return Err(Error::validation(
            field,
            format!("must be at least {MIN_SECRET_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl WebhookEndpoint {
    /// An endpoint `id` (a storage name: its sink is `webhook.<id>`) at `url` (http or https),
    /// signing with `secret` (at least 16 bytes; [`generate_secret`](crate::signature::generate_secret)
    /// makes one). Defaults: every event of every tenant, 10 s timeout, 12 tries from 2 s
    /// doubling up to 1 h (about 2 hours in all) before an event is dead-lettered.
    ///
    /// # Errors
    /// A validation error on `id`, `url` or `secret`.
    pub fn new(id: &str, url: &str, secret: Secret) -> Result<WebhookEndpoint> {
        check_name(&format!("webhook.{id}"), "endpoint.id")?;
        // Not quoted: a URL may carry a password.
        let parsed = Url::parse(url)
            .map_err(|e| Error::validation("endpoint.url", format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::validation(
                "endpoint.url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        check_secret(&secret, "endpoint.secret")?;
        Ok(WebhookEndpoint {
            id: id.to_string(),
            url: parsed,
            secrets: vec![secret],
            filter: EventFilter::all(),
            tenants: None,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::limited(12, Duration::from_secs(2), Duration::from_secs(3600)),
        })
    }

    /// Deliver only the events `filter` selects.
    #[must_use]
    pub fn events(mut self, filter: EventFilter) -> WebhookEndpoint {
        self.filter = filter;
        self
    }

    /// Deliver only these tenants' events.
    #[must_use]
    pub fn only_tenants(mut self, tenants: impl IntoIterator<Item = TenantId>) -> WebhookEndpoint {
        self.tenants = Some(tenants.into_iter().collect());
        self
    }

    /// While rotating secrets: also sign with `previous`, so receivers that still verify with
    /// it keep accepting.
    ///
    /// # Errors
    /// A validation error on `previous_secret`.
    pub fn also_signing_with(mut self, previous: Secret) -> Result<WebhookEndpoint> {
        check_secret(&previous, "previous_secret")?;
        self.secrets.push(previous);
        Ok(self)
    }

    /// Give each request this long to be answered (default 10 s; above zero, or
    /// [`WebhookSink::new`] refuses the endpoint).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> WebhookEndpoint {
        self.timeout = timeout;
        self
    }

    /// Retry (and dead-letter) with `retry`.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> WebhookEndpoint {
        self.retry = retry;
        self
    }

    /// The endpoint's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn selects(&self, tenant: &TenantId, name: &str) -> bool {
        self.tenants.as_ref().is_none_or(|t| t.contains(tenant)) && self.filter.matches(name)
    }
}

/// Delivers events to one [`WebhookEndpoint`] (see the [module docs](self)).
pub struct WebhookSink {
    sink_id: String,
    endpoint: WebhookEndpoint,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// The sink of `endpoint`, with `env`'s clock (signature timestamps) and HTTP settings
    /// (connect timeout, user agent). Redirects are not followed.
    ///
    /// # Errors
    /// A validation error on `endpoint.timeout` when it is zero (no request could be
    /// answered in time, and every event would be dead-lettered); [`EventsError::Setup`] when
    /// the HTTP client cannot be built.
    pub fn new(env: &Env, endpoint: WebhookEndpoint) -> Result<WebhookSink, EventsError> {
        if endpoint.timeout.is_zero() {
            return Err(Error::validation("endpoint.timeout", "must be above zero").into());
        }
        let http = env.http();
        let client = reqwest::Client::builder()
            .connect_timeout(http.connect_timeout)
            .timeout(endpoint.timeout)
            .user_agent(http.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EventsError::Setup {
                what: format!("webhook endpoint {}", endpoint.id),
                message: e.without_url().to_string(),
            })?;
        Ok(WebhookSink {
            sink_id: format!("webhook.{}", endpoint.id),
            endpoint,
            client,
            clock: env.clock().clone(),
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &WebhookEndpoint {
        &self.endpoint
    }

    async fn post(
        &self,
        event: &OutboxEvent,
    ) -> std::result::Result<(), (FailureKind, String, Option<Duration>)> {
        let timestamp = self.clock.now().timestamp();
        let signature = signature_header(&self.endpoint.secrets, timestamp, event.body());
        let header = |v: String| {
            HeaderValue::from_str(&v).map_err(|_| {
                (
                    FailureKind::Undeliverable,
                    "a header value is not visible ASCII".to_string(),
                    None,
                )
            })
        };
        let request = self
            .client
            .post(self.endpoint.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(SIGNATURE_HEADER, header(signature)?)
            .header(EVENT_ID_HEADER, header(event.id().to_string())?)
            .header(EVENT_NAME_HEADER, header(event.name().to_string())?)
            .header(SEQUENCE_HEADER, header(event.seq().to_string())?)
            .header(LINE_HEADER, header(event.line().to_string())?)
            .body(event.body().clone());
        // One attempt here: the relay schedules retries (its cursor counts the attempts).
        let sent = marketingforce_core::telemetry::http::request(
            "webhook",
            "POST",
            self.endpoint.url.as_str(),
            1,
            request.send(),
            |r| r.as_ref().ok().map(|r| r.status().as_u16()),
        );
        match sent.await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let wait = matches!(
                    status,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                )
                .then(|| {
                    response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                })
                .flatten();
                Err((
                    FailureKind::Refused,
                    format!("HTTP {}", status.as_u16()),
                    wait,
                ))
            }
            Err(e) if e.is_timeout() => Err((
                FailureKind::TimedOut,
                format!("no answer within {:?}", self.endpoint.timeout),
                None,
            )),
            Err(e) => Err((FailureKind::Unavailable, e.without_url().to_string(), None)),
        }
    }
}

#[async_trait]
impl EventSink for WebhookSink {
    fn id(&self) -> &str {
        &self.sink_id
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.endpoint.retry
    }

    async fn deliver(
        &self,
        tenant: &TenantId,
        events: &[OutboxEvent],
    ) -> std::result::Result<(), SinkFailure> {
        for (i, event) in events.iter().enumerate() {
            if !self.endpoint.selects(tenant, event.name()) {
                continue;
            }
            if let Err((kind, message, wait)) = self.post(event).await {
                let failure = SinkFailure::new(i, kind, message);
                return Err(match wait {
                    Some(w) => failure.retry_after(w),
                    None => failure,
                });
            }
        }
        Ok(())
    }
}
