//! Exactly-once mutating calls: the first successful [`Reply`] of an idempotency key is
//! recorded with the request's fingerprint, atomically with the call's own final writes, and
//! replayed for retries (see the [module docs](super)).

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use marketingforce::core::storage::{Batch, Fingerprint, Idempotent};
use marketingforce::core::tenant::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::extract::IdempotencyKey;
use super::problem::Problem;
use super::state::AppState;

/// Prefix of the operations under which HTTP replies are recorded: the reply of key `k` to
/// `op` is the store's idempotency claim `http.{op}/{k}` (see
/// [`IdempotencyKey::scoped`](marketingforce::core::IdempotencyKey::scoped)).
pub const RECORD_PREFIX: &str = "http.";

/// Prefix of the keys handed to the SDK's own idempotent commands (lead captures, usage
/// events), derived from the same header.
pub const DOMAIN_PREFIX: &str = "api:";

/// The header marking a replayed response.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A successful answer to a mutating call, as sent and as recorded for replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Location` of a created resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// A reply with `status` and `body`.
    ///
    /// # Errors
    /// 500 when `body` does not encode.
    pub fn new(status: StatusCode, body: &impl Serialize) -> Result<Reply, Problem> {
        Ok(Reply {
            status: status.as_u16(),
            location: None,
            body: serde_json::to_value(body)
                .map_err(|e| Problem::internal(format!("reply does not encode: {e}")))?,
        })
    }

    /// Point `Location` at `path`.
    #[must_use]
    pub fn at(mut self, path: String) -> Reply {
        self.location = Some(path);
        self
    }

    /// The HTTP response; `replayed` adds `Idempotent-Replayed: true`.
    pub fn into_response(self, replayed: bool) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(LOCATION, location);
        }
        if replayed {
            headers.insert(REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}

/// The keys being processed right now, so a concurrent duplicate gets 409 instead of racing.
#[derive(Debug, Default, Clone)]
pub struct InFlight(Arc<Mutex<HashSet<(TenantId, String)>>>);

/// Holds a key in [`InFlight`] until dropped.
#[derive(Debug)]
pub struct InFlightGuard {
    set: InFlight,
    entry: (TenantId, String),
}

impl InFlight {
    /// Mark `key` of `scope` as running.
    ///
    /// # Errors
    /// 409 `request-in-progress` when it already is.
    pub fn enter(&self, scope: TenantId, key: &IdempotencyKey) -> Result<InFlightGuard, Problem> {
        let entry = (scope, key.as_str().to_string());
        let fresh = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(entry.clone());
        if fresh {
            Ok(InFlightGuard {
                set: self.clone(),
                entry,
            })
        } else {
            Err(Problem::in_progress(key.as_str()))
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.entry);
    }
}

/// Run the mutating call `op` with `request` at most once per `key` in `scope`.
///
/// A recorded reply is returned as a replay; a key recorded for another request (operation +
/// body) is 422. Otherwise `run` executes and returns its reply and the writes that must land
/// together with the record (e.g. the tenant directory entry); a failure records nothing.
///
/// # Errors
/// The problem of the check, of `run`, or of the final commit.
pub async fn once<R, F, Fut>(
    state: &AppState,
    scope: TenantId,
    key: &IdempotencyKey,
    op: &str,
    request: &R,
    run: F,
) -> Result<Response, Problem>
where
    R: Serialize + ?Sized,
    F: FnOnce(Idempotent) -> Fut,
    Fut: Future<Output = Result<(Reply, Batch), Problem>>,
{
    let _running = state.in_flight().enter(scope, key)?;
    let idem = idempotent(state, scope, key, op, request)?;
    let store = state.store().as_ref();
    match idem.check::<Reply>(store, &scope).await {
        Ok(Some(recorded)) => return Ok(recorded.into_response(true)),
        Ok(None) => {}
        Err(marketingforce::core::Error::IdempotencyMismatch { .. }) => {
            return Err(Problem::key_reused(key.as_str()))
        }
        Err(e) => return Err(e.into()),
    }
    let (reply, batch) = run(idem.clone()).await?;
    let standing = idem
        .commit(store, &scope, batch, reply.clone())
        .await
        .map_err(|e| match e {
            marketingforce::core::Error::IdempotencyMismatch { .. } => {
                Problem::key_reused(key.as_str())
            }
            other => other.into(),
        })?;
    let replayed = standing != reply;
    Ok(standing.into_response(replayed))
}

/// The idempotent command `http.{op}` for `key` in `scope`, fingerprinted with the scope's
/// fingerprint key ([`KeyProvider::fingerprint_key`]): requests carry personal data (a
/// capture's mobile number and name), and a plain SHA-256 stored next to the key could be
/// reversed by hashing every candidate mobile number. The HMAC reveals nothing without the
/// tenant's key, which is never stored with the record.
///
/// [`KeyProvider::fingerprint_key`]: marketingforce::crm::crypto::KeyProvider::fingerprint_key
///
/// # Errors
/// 400 for a key the SDK refuses; key-provider and encoding problems.
pub fn idempotent<R: Serialize + ?Sized>(
    state: &AppState,
    scope: TenantId,
    key: &IdempotencyKey,
    op: &str,
    request: &R,
) -> Result<Idempotent, Problem> {
    let sdk_key = marketingforce::core::IdempotencyKey::new(key.as_str())
        .map_err(|e| Problem::invalid_idempotency_key(e.to_string()))?;
    let secret = state.keys().fingerprint_key(&scope)?;
    let fingerprint = Fingerprint::keyed(secret.bytes(), &(op, request))?;
    Ok(Idempotent::with_fingerprint(
        &sdk_key,
        &format!("{RECORD_PREFIX}{op}"),
        fingerprint,
    )?)
}

/// The client's key of a stored claim key `http.{op}/{key}` (for messages).
pub fn client_key(claim: &str) -> &str {
    claim.split_once('/').map_or(claim, |(_, key)| key)
}

/// The key handed to the SDK's own idempotent command for `key`: `api:{key}`, or a key
/// [derived](marketingforce::core::IdempotencyKey::derive) from the client's when that would
/// be longer than 128 bytes.
///
/// # Errors
/// 400 `invalid-idempotency-key` with the SDK's reason when the key is not a valid
/// [`IdempotencyKey`](marketingforce::core::IdempotencyKey) (field `idempotency_key`).
pub fn domain_key(key: &IdempotencyKey) -> Result<marketingforce::core::IdempotencyKey, Problem> {
    use marketingforce::core::IdempotencyKey as Key;
    let typed =
        Key::new(key.as_str()).map_err(|e| Problem::invalid_idempotency_key(e.to_string()))?;
    Ok(Key::new(format!("{DOMAIN_PREFIX}{key}")).unwrap_or_else(|_| typed.derive("api")))
}
