//! Webhook endpoints of the tenants and the relay delivering their domain events.
//!
//! - `POST /tenants/{tenant}/webhooks` `{"url", "events"?}` registers an endpoint: `url` an
//!   `http(s)://` URL, `events` the event-type patterns it wants (`crm.lead.*`,
//!   `modules.quota.>`; default every event). The answer (201) carries the endpoint's signing
//!   `secret`; only a replay of the same request (same `Idempotency-Key`) shows it again.
//! - `GET /tenants/{tenant}/webhooks` lists the tenant's endpoints (without secrets).
//! - `DELETE /tenants/{tenant}/webhooks/{webhook}` removes one (204); delivery to it stops
//!   within [`ServiceConfig::webhook_sync`](super::ServiceConfig::webhook_sync).
//!
//! Endpoints live in the store under the operator scope (one record each; the secret sealed
//! under the tenant's PII key, bound to the endpoint id), so every instance over the store
//! sees them. The endpoint id is derived from the tenant and the idempotency key, which makes
//! the creation idempotent without recording the reply (the reply holds the secret in clear).
//!
//! [`dispatch`] runs in every instance: it reads the endpoints every
//! [`webhook_sync`](super::ServiceConfig::webhook_sync) and keeps one
//! [`Relay`] per endpoint, delivering the tenant's outbox (from its start) through a
//! [`WebhookSink`]: signed (`Marketingforce-Signature`), retried with backoff, dead-lettered
//! after the last try. The relays' leases make one instance deliver each tenant's events to
//! an endpoint at a time; a crash loses nothing (the cursor is in the store).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use marketingforce::core::adapters::secret::Secret;
use marketingforce::core::env::Env;
use marketingforce::core::storage::{Collection, Entity, Expect};
use marketingforce::core::tenant::TenantId;
use marketingforce::crm::crypto::{PiiCipher, Sealed};
use marketingforce::events::signature::generate_secret;
use marketingforce::events::webhook::{WebhookEndpoint, WebhookSink};
use marketingforce::events::{EventFilter, Relay, StartFrom};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::directory::OPERATOR_SCOPE;
use super::extract::{IdempotencyKey, JsonBody};
use super::idempotency::REPLAYED;
use super::problem::Problem;
use super::state::AppState;

/// A tenant's webhook endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    /// The endpoint's id (`wh_` and 32 hex digits).
    pub id: String,
    /// The tenant whose events it receives.
    pub tenant: TenantId,
    /// Where events are POSTed.
    pub url: String,
    /// Event-type patterns; empty means every event.
    pub events: Vec<String>,
    /// The signing secret, sealed under the tenant's PII key with the id as associated data.
    pub secret: Sealed,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl Entity for WebhookRecord {
    const COLLECTION: &'static str = "http_service.webhooks";
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// Body of `POST /tenants/{tenant}/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `http://` or `https://` URL receiving the events.
    pub url: String,
    /// Event-type patterns (`crm.lead.*`, `modules.>`); omitted or empty: every event.
    #[serde(default)]
    pub events: Vec<String>,
}

/// An endpoint as the API shows it; `secret` only in the answer to its creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookView {
    /// The endpoint's id.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Event-type patterns; empty means every event.
    pub events: Vec<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The signing secret (verify `Marketingforce-Signature` with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookRecord {
    fn view(&self, secret: Option<String>) -> WebhookView {
        WebhookView {
            id: self.id.clone(),
            url: self.url.clone(),
            events: self.events.clone(),
            created_at: self.created_at,
            secret,
        }
    }

    /// The signing secret, unsealed.
    fn secret(&self, state: &AppState) -> Result<Secret, Problem> {
        let plain = PiiCipher::new(state.keys().clone()).open(
            &self.tenant,
            self.id.as_bytes(),
            &self.secret,
        )?;
        let text = String::from_utf8(plain)
            .map_err(|_| Problem::internal(format!("webhook {}: secret is not text", self.id)))?;
        Ok(Secret::new(text))
    }

    /// The endpoint the events crate delivers to: only this tenant's events, those of the
    /// filter.
    fn endpoint(&self, secret: Secret) -> Result<WebhookEndpoint, Problem> {
        let mut endpoint = WebhookEndpoint::new(&self.id, &self.url, secret)
            .map_err(|e| Problem::from(e).with_field("url"))?
            .only_tenants([self.tenant]);
        if !self.events.is_empty() {
            endpoint = endpoint.events(filter(&self.events)?);
        }
        Ok(endpoint)
    }
}

/// The filter of `events` (errors name `events[i]`, as the request's field).
fn filter(events: &[String]) -> Result<EventFilter, Problem> {
    Ok(EventFilter::new(events.iter().map(String::as_str))?)
}

/// The endpoint id of `tenant`'s creation under `key`: the same on every retry and on every
/// instance.
fn endpoint_id(tenant: &TenantId, key: &IdempotencyKey) -> String {
    let mut h = Sha256::new();
    h.update(b"marketingforce http_service webhook id v1\0");
    h.update(tenant.to_string().as_bytes());
    h.update(b"\0");
    h.update(key.as_str().as_bytes());
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("wh_{hex}")
}

fn records(state: &AppState) -> Collection<WebhookRecord> {
    Collection::new(state.store().clone())
}

/// `POST /tenants/{tenant}/webhooks`: 201 with the endpoint and its secret; a retry with the
/// same key and body replays it (`Idempotent-Replayed: true`), with another body is 422.
pub async fn create(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    key: IdempotencyKey,
    JsonBody(request): JsonBody<NewWebhook>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let tenant = record.tenant.id;
    let id = endpoint_id(&tenant, &key);
    let existing = records(&state).get(&OPERATOR_SCOPE, &id).await?;
    let (stored, replayed) = match existing {
        Some(found) => (found.value, true),
        None => {
            let secret = generate_secret();
            let fresh = WebhookRecord {
                id: id.clone(),
                tenant,
                url: request.url.trim().to_string(),
                events: request.events.clone(),
                secret: PiiCipher::new(state.keys().clone()).seal(
                    &tenant,
                    id.as_bytes(),
                    secret.expose().as_bytes(),
                )?,
                created_at: state.clock().now(),
            };
            // Validate as the relay will use it.
            fresh.endpoint(secret)?;
            match records(&state).insert(&OPERATOR_SCOPE, &fresh).await {
                Ok(_) => (fresh, false),
                // A concurrent retry (maybe on another instance) stored it first.
                Err(marketingforce::core::Error::Conflict { .. }) => (
                    records(&state).require(&OPERATOR_SCOPE, &id).await?.value,
                    true,
                ),
                Err(e) => return Err(e.into()),
            }
        }
    };
    if stored.url != request.url.trim() || stored.events != request.events {
        return Err(Problem::key_reused(key.as_str()));
    }
    let secret = stored.secret(&state)?;
    let view = stored.view(Some(secret.expose().to_string()));
    let mut response = (
        StatusCode::CREATED,
        [(
            axum::http::header::LOCATION,
            format!("/tenants/{tenant}/webhooks/{id}"),
        )],
        axum::Json(view),
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// `GET /tenants/{tenant}/webhooks`: the tenant's endpoints, oldest first, without secrets.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let mut items: Vec<WebhookView> = records(&state)
        .list_all(&OPERATOR_SCOPE)
        .await?
        .into_iter()
        .filter(|r| r.value.tenant == record.tenant.id)
        .map(|r| r.value.view(None))
        .collect();
    items.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

/// `DELETE /tenants/{tenant}/webhooks/{webhook}`: 204; 404 for an unknown endpoint or one of
/// another tenant.
pub async fn delete(
    State(state): State<AppState>,
    Path((tenant, webhook)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let not_found = || Problem::not_found(format!("webhook {webhook} not found"));
    if !webhook.starts_with("wh_") {
        return Err(not_found());
    }
    let found = records(&state)
        .get(&OPERATOR_SCOPE, &webhook)
        .await?
        .filter(|r| r.value.tenant == record.tenant.id)
        .ok_or_else(not_found)?;
    match records(&state)
        .delete(&OPERATOR_SCOPE, &webhook, Expect::Version(found.version))
        .await
    {
        Ok(()) => {}
        // Deleted meanwhile by another request.
        Err(marketingforce::core::Error::Conflict { .. }) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A running relay of one endpoint.
struct Running {
    record: WebhookRecord,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Deliver the tenants' domain events to their webhook endpoints, for as long as the future
/// runs (spawn it next to the server; dropping it stops every relay). Every
/// [`webhook_sync`](super::ServiceConfig::webhook_sync) it reads the endpoints from the store,
/// starts a relay for each new one and stops those of removed ones. A store that fails is
/// reported on stderr and read again at the next sync: delivery never stops the service.
pub async fn dispatch(state: AppState) {
    let env = state.env().clone();
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut tick = tokio::time::interval(state.config().webhook_sync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Relays stop when their stop signal fires or its sender is dropped (with this future).
    loop {
        tick.tick().await;
        let stored = match records(&state).list_all(&OPERATOR_SCOPE).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "webhook endpoints not read; retrying at the next sync");
                continue;
            }
        };
        let current: HashMap<String, WebhookRecord> = stored
            .into_iter()
            .map(|r| (r.value.id.clone(), r.value))
            .collect();
        // Removed (or changed) endpoints, and relays that ended: stop them.
        let stale: Vec<String> = running
            .iter()
            .filter(|(id, relay)| {
                current.get(*id) != Some(&relay.record) || relay.task.is_finished()
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(relay) = running.remove(&id) {
                let _ = relay.stop.send(());
            }
        }
        for (id, record) in current {
            if running.contains_key(&id) {
                continue;
            }
            match start(&env, &state, &record) {
                Ok((stop, task)) => {
                    running.insert(id, Running { record, stop, task });
                }
                Err(p) => tracing::warn!(
                    webhook = %id,
                    tenant = %record.tenant,
                    problem = %p.type_uri(),
                    "webhook endpoint not started"
                ),
            }
        }
    }
}

/// Start the relay of `record`'s endpoint.
fn start(
    env: &Env,
    state: &AppState,
    record: &WebhookRecord,
) -> Result<(oneshot::Sender<()>, JoinHandle<()>), Problem> {
    let endpoint = record.endpoint(record.secret(state)?)?;
    let sink = WebhookSink::new(env, endpoint).map_err(|e| Problem::internal(e.to_string()))?;
    // A new endpoint receives what happens from its creation on, not the tenant's history.
    let relay = Relay::builder(env, Arc::new(sink))
        .start_from(StartFrom::OccurredSince(record.created_at))
        .discover_tenants(false)
        .build()
        .map_err(|e| Problem::internal(e.to_string()))?;
    relay.watch(&record.tenant);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = relay.run(shutdown).await {
            tracing::warn!(sink = relay.sink_id(), error = %e, "webhook relay stopped");
        }
    });
    Ok((stop, task))
}
