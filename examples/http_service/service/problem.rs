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

    /// The answer to any classified error (a domain crate's error without a mapping of its
    /// own): the status, type and title of its [`ErrorKind`], `detail`, its field for bad
    /// input, and the `code` and `retryable` members. 5xx details are logged, not sent.
    pub fn classified(e: &dyn Classify, detail: impl Into<String>) -> Problem {
        let a = answer(e.kind());
        let detail = detail.into();
        let mut p = if a.status.is_server_error() {
            let mut p = Problem::new(a.status, a.kind, a.title, a.detail);
            p.0.internal = Some(detail);
            p
        } else {
            Problem::new(a.status, a.kind, a.title, detail)
        };
        if let Some(field) = e.field() {
            p = p.with_field(field);
        }
        if a.retry_after {
            p = p.retry_after(1);
        }
        if !matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Forbidden) {
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

/// How each [`ErrorKind`] is answered: status, `type` suffix, title, the detail (unless the
/// variant's own fields make a better one) and whether `Retry-After: 1` is sent. Only kinds
/// that guarantee nothing was written say so; `OutcomeUnknown` (lost acknowledgements and
/// timeouts) says the request may have taken effect and that retrying with the same key is
/// safe.
struct KindAnswer {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: &'static str,
    retry_after: bool,
}

const fn answer(kind: ErrorKind) -> KindAnswer {
    const fn a(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: &'static str,
        retry_after: bool,
    ) -> KindAnswer {
        KindAnswer {
            status,
            kind,
            title,
            detail,
            retry_after,
        }
    }
    use StatusCode as S;
    match kind {
        ErrorKind::InvalidInput => a(
            S::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            "",
            false,
        ),
        // Isolation (`Forbidden` from the core) is reported exactly like absence: the caller
        // learns nothing about the other tenant.
        ErrorKind::NotFound | ErrorKind::Forbidden => {
            a(S::NOT_FOUND, "not-found", "Not found", "not found", false)
        }
        ErrorKind::Conflict => a(
            S::CONFLICT,
            "conflict",
            "Concurrent change",
            "the resource changed while the request ran (a concurrent request, possibly on \
             another instance, wrote first) and the conflicting write did not take effect: retry \
             with the same Idempotency-Key",
            true,
        ),
        ErrorKind::IdempotencyMismatch => a(
            S::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "the Idempotency-Key was first used for a different request",
            false,
        ),
        ErrorKind::InvalidState => a(S::CONFLICT, "invalid-state", "Invalid state", "", false),
        ErrorKind::LimitExceeded => a(
            S::TOO_MANY_REQUESTS,
            "limit-exceeded",
            "Limit exceeded",
            "",
            false,
        ),
        ErrorKind::RateLimited => a(
            S::TOO_MANY_REQUESTS,
            "rate-limited",
            "Rate limited",
            "",
            true,
        ),
        ErrorKind::Unauthenticated => a(
            S::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            "no valid credentials",
            false,
        ),
        ErrorKind::Unavailable => a(
            S::SERVICE_UNAVAILABLE,
            "backend-unavailable",
            "Backend unavailable",
            "the storage backend is unavailable; retry with the same Idempotency-Key, which \
             is safe whether or not an earlier step of this request took effect",
            true,
        ),
        ErrorKind::OutcomeUnknown => a(
            S::SERVICE_UNAVAILABLE,
            "outcome-unknown",
            "Outcome unknown",
            "the request may or may not have taken effect (a write's acknowledgement was lost \
             or timed out); retry with the same Idempotency-Key to learn which: it returns the \
             first result or completes the request, exactly once",
            true,
        ),
        ErrorKind::Rejected => a(S::UNPROCESSABLE_ENTITY, "rejected", "Rejected", "", false),
        // `Internal`, and kinds added later.
        _ => a(
            S::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the service failed; the incident was logged",
            false,
        ),
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Problem {
        let kind = e.kind();
        let code = e.code();
        let retryable = e.is_retryable();
        let a = answer(kind);
        let mut p = match &e {
            // Variants whose fields make a better answer than the kind alone.
            CoreError::Validation { field, reason } => {
                Problem::validation(field.clone(), format!("invalid {field}: {reason}"))
            }
            CoreError::NotFound { kind, id } => {
                Problem::not_found(format!("{kind} {id} not found"))
            }
            CoreError::IdempotencyMismatch { key } => {
                Problem::key_reused(super::idempotency::client_key(key))
            }
            CoreError::LimitExceeded {
                limit,
                requested,
                available,
            } => Problem::new(
                a.status,
                a.kind,
                a.title,
                format!("{limit}: requested {requested}, available {available}"),
            )
            .with("limit", limit)
            .with("requested", requested)
            .with("available", available),
            CoreError::RateLimited {
                retry_after: Some(wait),
                ..
            } => Problem::new(a.status, a.kind, a.title, e.to_string())
                .retry_after(wait.as_secs().max(1)),
            _ => {
                let detail = if a.detail.is_empty() {
                    e.to_string()
                } else {
                    a.detail.to_string()
                };
                let mut p = Problem::new(a.status, a.kind, a.title, detail);
                if a.status.is_server_error() {
                    p.0.internal = Some(e.to_string());
                }
                p
            }
        };
        if a.retry_after && p.0.retry_after.is_none() {
            p = p.retry_after(1);
        }
        if !matches!(kind, ErrorKind::NotFound | ErrorKind::Forbidden) {
            p = p.with("code", code).with("retryable", retryable);
        }
        p
    }
}

impl From<CrmError> for Problem {
    fn from(e: CrmError) -> Problem {
        match e {
            CrmError::Core(core) => core.into(),
            e @ CrmError::NoIdentity => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no-identity",
                "No identity",
                e.to_string(),
            ),
            CrmError::LeadNotFound(id) => Problem::not_found(format!("lead {id} not found")),
            CrmError::LeadMerged { lead, into } => Problem::new(
                StatusCode::CONFLICT,
                "lead-merged",
                "Lead merged",
                format!("lead {lead} was merged into {into}; use the survivor"),
            )
            .with("survivor", into.to_string()),
            e @ CrmError::LeadErased(_) => Problem::new(
                StatusCode::GONE,
                "lead-erased",
                "Lead erased",
                e.to_string(),
            ),
            e @ CrmError::ReasonRequired { .. } => Problem::validation("reason", e.to_string()),
            e @ (CrmError::IllegalTransition { .. }
            | CrmError::InsufficientPoints { .. }
            | CrmError::ReferralRefused { .. }
            | CrmError::BudgetExhausted { .. }) => Problem::new(
                StatusCode::CONFLICT,
                "invalid-state",
                "Invalid state",
                e.to_string(),
            ),
            e @ (CrmError::AccessDenied { .. } | CrmError::UnknownStaff(_)) => Problem::new(
                StatusCode::FORBIDDEN,
                "access-denied",
                "Access denied",
                e.to_string(),
            ),
            e @ CrmError::SeatLimitReached { .. } => Problem::new(
                StatusCode::FORBIDDEN,
                "seat-limit",
                "No seat",
                e.to_string(),
            ),
            e @ CrmError::ReferralCodeOtherCampaign { .. } => {
                Problem::validation("code", e.to_string())
            }
            // The capture gate: not entitled (403), quota used up (429).
            CrmError::Entitlements(m) => m.into(),
            // Any other error is answered by its kind (a 5xx only for one that is).
            other => {
                let detail = other.to_string();
                Problem::classified(&other, detail)
            }
        }
    }
}

impl From<ModulesError> for Problem {
    fn from(e: ModulesError) -> Problem {
        match e {
            ModulesError::Core(core) => core.into(),
            e @ (ModulesError::UnknownModule { .. }
            | ModulesError::UnknownBundle { .. }
            | ModulesError::UnknownPack { .. }
            | ModulesError::MissingRequirement { .. }) => {
                let field = e.field().unwrap_or("body").to_string();
                Problem::validation(field, e.to_string())
            }
            e @ ModulesError::BelowMinimumSeats { .. } => {
                Problem::validation("accounts", e.to_string())
            }
            ModulesError::NotEntitled {
                tenant,
                module,
                offered_in,
            } => Problem::new(
                StatusCode::FORBIDDEN,
                "not-entitled",
                "Not entitled",
                format!("module {module} is not enabled for tenant {tenant}"),
            )
            .with("module", module.to_string())
            .with("offered_in", offered_in),
            e @ ModulesError::SeatLimitReached { .. } => Problem::new(
                StatusCode::FORBIDDEN,
                "seat-limit",
                "No seat",
                e.to_string(),
            ),
            ModulesError::NoQuota {
                tenant,
                unit,
                can_buy,
            } => Problem::new(
                StatusCode::FORBIDDEN,
                "no-quota",
                "No quota",
                format!("tenant {tenant} has no quota of {unit} today"),
            )
            .with("unit", unit.to_string())
            .with("can_buy", can_buy),
            ModulesError::QuotaExceeded {
                unit,
                requested,
                remaining,
                limit,
                window_end,
                can_buy,
            } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                "Quota exceeded",
                format!(
                    "quota of {unit} exceeded: requested {requested}, {remaining} left of \
                     {limit} until {window_end}"
                ),
            )
            .with("unit", unit.to_string())
            .with("requested", requested.get())
            .with("remaining", remaining.get())
            .with("limit", limit.get())
            .with("window_end", window_end)
            .with("can_buy", can_buy),
            ModulesError::UsageEventMismatch { key, .. } => Problem::key_reused(
                key.strip_prefix(super::idempotency::DOMAIN_PREFIX)
                    .unwrap_or(&key),
            ),
            ModulesError::RateLimited {
                tenant,
                module,
                retry_after_ms,
            } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Rate limited",
                format!("tenant {tenant} called {module} too often"),
            )
            .retry_after(retry_after_ms.div_ceil(1000).max(1)),
            e @ (ModulesError::ReservationNotOpen { .. }
            | ModulesError::RefundNotAllowed { .. }
            | ModulesError::InsufficientPrepayment { .. }) => Problem::new(
                StatusCode::CONFLICT,
                "invalid-state",
                "Invalid state",
                e.to_string(),
            ),
            e @ ModulesError::NamespaceClash { .. } => Problem::validation("id", e.to_string()),
            ModulesError::ModuleFailed { module, message } => {
                let mut p = Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "module-failed",
                    "Module failed",
                    format!("module {module} failed"),
                );
                p.0.internal = Some(message);
                p
            }
            // Any other error is answered by its kind (a 5xx only for one that is).
            other => {
                let detail = other.to_string();
                Problem::classified(&other, detail)
            }
        }
    }
}

impl From<AdsError> for Problem {
    fn from(e: AdsError) -> Problem {
        match e {
            AdsError::Core(core) => core.into(),
            e @ (AdsError::MonthNotOver { .. }
            | AdsError::PreviousMonthUnsettled { .. }
            | AdsError::MissingReports { .. }
            | AdsError::NoAgreement { .. }
            | AdsError::NoPlatformAgreement { .. }
            | AdsError::SpendExceedsFunds { .. }) => Problem::new(
                StatusCode::CONFLICT,
                "settlement-refused",
                "Settlement refused",
                e.to_string(),
            ),
            e @ (AdsError::Transfer { .. }
            | AdsError::LedgerAccount { .. }
            | AdsError::CustomerNotApproved { .. }
            | AdsError::CreditLimitExceeded { .. }
            | AdsError::PrepaymentInsufficient { .. }
            | AdsError::PlatformFundsInsufficient { .. }
            | AdsError::AccountSuspended { .. }
            | AdsError::AccountClosed { .. }
            | AdsError::ConflictingReport { .. }
            | AdsError::CreativeNotApproved { .. }) => Problem::new(
                StatusCode::CONFLICT,
                "invalid-state",
                "Invalid state",
                e.to_string(),
            ),
            AdsError::Platform { platform, source } => {
                let mut p = Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "platform-failed",
                    "Ad platform failed",
                    format!("ad platform {platform} failed"),
                );
                p.0.internal = Some(source.to_string());
                p
            }
            // Any other error is answered by its kind (a 5xx only for one that is).
            other => {
                let detail = other.to_string();
                Problem::classified(&other, detail)
            }
        }
    }
}
