//! [`Problem`]: every error of the service as an RFC 9457 `application/problem+json` response,
//! and the mapping of the SDK's typed errors to HTTP status codes (see the table in the
//! [module docs](super)).

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use marketingforce::ads::AdsError;
use marketingforce::core::{Classify, Error as CoreError, ErrorKind};
use marketingforce::crm::CrmError;
use marketingforce::modules::ModulesError;
use serde_json::{json, Map, Value};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type`: a `tag:` URI (RFC 4151), which RFC 9457 suggests for type
/// URIs that are identifiers rather than documentation links.
pub const TYPE_PREFIX: &str = "tag:marketingforce.example,2026:problems/";

/// An error response: RFC 9457 problem details (boxed: errors travel in `Result`s).
#[derive(Debug, Clone)]
pub struct Problem(Box<Details>);

#[derive(Debug, Clone)]
struct Details {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    field: Option<String>,
    members: Map<String, Value>,
    retry_after: Option<u64>,
    /// What went wrong inside, logged for 5xx and never sent.
    internal: Option<String>,
}

impl Problem {
    /// A problem of `kind` (the last segment of its `type`) with `status`, `title` and `detail`.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem(Box::new(Details {
            status,
            kind,
            title,
            detail: detail.into(),
            field: None,
            members: Map::new(),
            retry_after: None,
            internal: None,
        }))
    }

    /// The answer to any SDK error: [`classified`](Self::classified) with the error's own
    /// message as the detail.
    pub fn of<E: Classify + std::fmt::Display + ?Sized>(e: &E) -> Problem {
        Problem::classified(e, e.to_string())
    }

    /// The answer to a classified error: the status, type and title of its [`ErrorKind`] (or
    /// of its code where that says more: see [`BY_CODE`]), `detail` unless the kind has a
    /// fixed one, its field for bad input, and the `code` and `retryable` members (not on a
    /// 404: isolation is indistinguishable from absence). 5xx details are logged, not sent.
    pub fn classified(e: &(impl Classify + ?Sized), detail: impl Into<String>) -> Problem {
        let a = answer(e.kind(), e.code());
        let message = detail.into();
        let mut p = match a.detail {
            Some(fixed) => Problem::new(a.status, a.kind, a.title, fixed),
            None => Problem::new(a.status, a.kind, a.title, message.clone()),
        };
        if a.status.is_server_error() {
            p.0.internal = Some(message);
        }
        if let Some(field) = e.field() {
            p = p.with_field(field);
        }
        if a.retry_after {
            p = p.retry_after(1);
        }
        if a.status != StatusCode::NOT_FOUND {
            p = p.with("code", e.code()).with("retryable", e.is_retryable());
        }
        p
    }

    /// Bad input: 422 naming the offending field path.
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Problem {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            detail,
        );
        p.0.field = Some(field.into());
        p
    }

    /// 404: the resource does not exist for this caller.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 405 for `method` on `path`.
    pub fn method_not_allowed(method: &Method, path: &str) -> Problem {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("{method} is not allowed on {path}"),
        )
    }

    /// 400: a mutating call without an `Idempotency-Key` header.
    pub fn missing_idempotency_key() -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "missing-idempotency-key",
            "Idempotency-Key required",
            "every POST needs an Idempotency-Key header so that a retry cannot apply it twice",
        )
        .with_field("Idempotency-Key")
    }

    /// 400: an `Idempotency-Key` header that cannot be used.
    pub fn invalid_idempotency_key(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            detail,
        )
        .with_field("Idempotency-Key")
    }

    /// 409: a request with the same key is still running.
    pub fn in_progress(key: &str) -> Problem {
        Problem::new(
            StatusCode::CONFLICT,
            "request-in-progress",
            "Request in progress",
            format!("a request with Idempotency-Key {key:?} is still being processed; retry later"),
        )
        .retry_after(1)
    }

    /// 422: the key was first used for another request.
    pub fn key_reused(key: &str) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            format!("Idempotency-Key {key:?} was first used for a different request"),
        )
        .with_field("Idempotency-Key")
    }

    /// 400: the body is not JSON.
    pub fn malformed_json(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            detail,
        )
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the body exceeds the limit of {limit} bytes"),
        )
        .with("limit", limit)
    }

    /// 415: the body is not `application/json`.
    pub fn unsupported_media_type(found: &str) -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("the body must be application/json, not {found:?}"),
        )
    }

    /// 500 with an internal cause that is logged, not sent.
    pub fn internal(cause: impl Into<String>) -> Problem {
        let mut p = Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the service failed; the incident was logged",
        );
        p.0.internal = Some(cause.into());
        p
    }

    /// Name the offending field.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.0.field = Some(field.into());
        self
    }

    /// Add an extension member.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl serde::Serialize) -> Problem {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.0.members.insert(name.to_string(), value);
        self
    }

    /// Ask the client to retry after `seconds` (`Retry-After`).
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.0.retry_after = Some(seconds);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The `type` URI.
    pub fn type_uri(&self) -> String {
        format!("{TYPE_PREFIX}{}", self.0.kind)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), json!(self.type_uri()));
        body.insert("title".into(), json!(self.0.title));
        body.insert("status".into(), json!(self.0.status.as_u16()));
        body.insert("detail".into(), json!(self.0.detail));
        if let Some(f) = &self.0.field {
            body.insert("field".into(), json!(f));
        }
        for (k, v) in &self.0.members {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if self.0.status.is_server_error() {
            eprintln!(
                "http_service: {} {}: {}",
                self.0.status.as_u16(),
                self.0.kind,
                self.0.internal.as_deref().unwrap_or(&self.0.detail)
            );
        }
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.0.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.0.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// How an error is answered: status, `type` suffix, title, a fixed detail (else the error's
/// own message) and whether `Retry-After: 1` is sent. Only kinds that guarantee nothing was
/// written say so; `OutcomeUnknown` (lost acknowledgements and timeouts) says the request may
/// have taken effect and that retrying with the same key is safe.
struct Answer {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: Option<&'static str>,
    retry_after: bool,
}

const fn a(
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: Option<&'static str>,
    retry_after: bool,
) -> Answer {
    Answer {
        status,
        kind,
        title,
        detail,
        retry_after,
    }
}

/// The codes whose answer differs from their kind's.
const BY_CODE: [(&str, Answer); 3] = [
    // Isolation is reported exactly like absence: the caller learns nothing about the other
    // tenant.
    (
        "tenant_isolation",
        a(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            Some("not found"),
            false,
        ),
    ),
    (
        "lead_erased",
        a(StatusCode::GONE, "lead-erased", "Lead erased", None, false),
    ),
    // A quota of a window (a day, a month) resets at the window's end: 429, as for a rate
    // limit, with the window in the body rather than a `Retry-After`.
    (
        "quota_exceeded",
        a(
            StatusCode::TOO_MANY_REQUESTS,
            "quota-exceeded",
            "Quota exceeded",
            None,
            false,
        ),
    ),
];

/// The answer to an error of `kind` with `code`: the table over the kinds, except the codes
/// of [`BY_CODE`].
fn answer(kind: ErrorKind, code: &str) -> Answer {
    if let Some((_, by_code)) = BY_CODE.into_iter().find(|(c, _)| *c == code) {
        return by_code;
    }
    use StatusCode as S;
    match kind {
        ErrorKind::InvalidInput => a(
            S::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            None,
            false,
        ),
        ErrorKind::NotFound => a(S::NOT_FOUND, "not-found", "Not found", None, false),
        ErrorKind::Forbidden => a(S::FORBIDDEN, "forbidden", "Forbidden", None, false),
        ErrorKind::Conflict => a(
            S::CONFLICT,
            "conflict",
            "Concurrent change",
            Some(
                "the resource changed while the request ran (a concurrent request, possibly on \
                 another instance, wrote first) and the conflicting write did not take effect: \
                 retry with the same Idempotency-Key",
            ),
            true,
        ),
        ErrorKind::IdempotencyMismatch => a(
            S::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            Some("the Idempotency-Key was first used for a different request"),
            false,
        ),
        ErrorKind::InvalidState => a(S::CONFLICT, "invalid-state", "Invalid state", None, false),
        // A seat count, credit limit, budget, points balance or size: waiting will not help.
        ErrorKind::LimitExceeded => a(S::FORBIDDEN, "limit-exceeded", "Limit reached", None, false),
        ErrorKind::RateLimited => a(
            S::TOO_MANY_REQUESTS,
            "rate-limited",
            "Rate limited",
            None,
            true,
        ),
        ErrorKind::Unauthenticated => a(
            S::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            Some("no valid credentials"),
            false,
        ),
        ErrorKind::Unavailable => a(
            S::SERVICE_UNAVAILABLE,
            "backend-unavailable",
            "Backend unavailable",
            Some(
                "a backend (the store, an ad platform, a channel, a model server) is \
                 unavailable; retry with the same Idempotency-Key, which is safe whether or not \
                 an earlier step of this request took effect",
            ),
            true,
        ),
        ErrorKind::OutcomeUnknown => a(
            S::SERVICE_UNAVAILABLE,
            "outcome-unknown",
            "Outcome unknown",
            Some(
                "the request may or may not have taken effect (a write's acknowledgement was \
                 lost or timed out); retry with the same Idempotency-Key to learn which: it \
                 returns the first result or completes the request, exactly once",
            ),
            true,
        ),
        ErrorKind::Rejected => a(S::UNPROCESSABLE_ENTITY, "rejected", "Rejected", None, false),
        // `Internal`, and kinds added later.
        _ => a(
            S::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            Some("the service failed; the incident was logged"),
            false,
        ),
    }
}

// Each crate's error is answered by its classification (above); the few variants below only
// add what the client can act on: the survivor of a merge, a quota's figures, when to retry,
// and the client's own idempotency key.

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Problem {
        match &e {
            CoreError::IdempotencyMismatch { key } => {
                Problem::key_reused(super::idempotency::client_key(key))
            }
            CoreError::LimitExceeded {
                limit,
                requested,
                available,
            } => Problem::of(&e)
                .with("limit", limit)
                .with("requested", requested)
                .with("available", available),
            CoreError::RateLimited {
                retry_after: Some(wait),
                ..
            } => Problem::of(&e).retry_after(wait.as_secs().max(1)),
            _ => Problem::of(&e),
        }
    }
}

impl From<CrmError> for Problem {
    fn from(e: CrmError) -> Problem {
        match e {
            CrmError::Core(core) => core.into(),
            CrmError::Entitlements(m) => m.into(),
            CrmError::LeadMerged { into, .. } => Problem::of(&e).with("survivor", into.to_string()),
            e => Problem::of(&e),
        }
    }
}

impl From<ModulesError> for Problem {
    fn from(e: ModulesError) -> Problem {
        let e = match e {
            ModulesError::Core(core) => return core.into(),
            e => e,
        };
        match &e {
            ModulesError::NotEntitled {
                module, offered_in, ..
            } => Problem::of(&e)
                .with("module", module.to_string())
                .with("offered_in", offered_in),
            ModulesError::NoQuota { unit, can_buy, .. } => Problem::of(&e)
                .with("unit", unit.to_string())
                .with("can_buy", can_buy),
            ModulesError::QuotaExceeded {
                unit,
                requested,
                remaining,
                limit,
                window_end,
                can_buy,
            } => Problem::of(&e)
                .with("unit", unit.to_string())
                .with("requested", requested.get())
                .with("remaining", remaining.get())
                .with("limit", limit.get())
                .with("window_end", window_end)
                .with("can_buy", can_buy),
            ModulesError::UsageEventMismatch { key, .. } => Problem::key_reused(
                key.strip_prefix(super::idempotency::DOMAIN_PREFIX)
                    .unwrap_or(key),
            ),
            ModulesError::RateLimited { retry_after_ms, .. } => {
                Problem::of(&e).retry_after(retry_after_ms.div_ceil(1000).max(1))
            }
            // What a third-party module said stays in the service.
            ModulesError::ModuleFailed { module, .. } => {
                Problem::classified(&e, format!("module {module} failed"))
            }
            _ => Problem::of(&e),
        }
    }
}

impl From<AdsError> for Problem {
    fn from(e: AdsError) -> Problem {
        match e {
            AdsError::Core(core) => core.into(),
            e => Problem::of(&e),
        }
    }
}
