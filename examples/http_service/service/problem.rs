//! [`Problem`]: every error of the service as an RFC 9457 `application/problem+json` response,
//! and the mapping of the SDK's typed errors to HTTP status codes (see the table in the
//! [module docs](super)).

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use marketingforce::ads::AdsError;
use marketingforce::core::Error as CoreError;
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

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Problem {
        match e {
            CoreError::Validation { field, reason } => {
                Problem::validation(field.clone(), format!("invalid {field}: {reason}"))
            }
            CoreError::NotFound { kind, id } => {
                Problem::not_found(format!("{kind} {id} not found"))
            }
            // Isolation is reported exactly like absence: the caller learns nothing about
            // the other tenant.
            CoreError::TenantIsolation { .. } => Problem::not_found("not found"),
            CoreError::Conflict { .. } => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Concurrent change",
                "the resource changed while the request ran; retry it",
            )
            .retry_after(1),
            CoreError::LimitExceeded {
                limit,
                requested,
                available,
            } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "limit-exceeded",
                "Limit exceeded",
                format!("{limit}: requested {requested}, available {available}"),
            )
            .with("limit", limit)
            .with("requested", requested)
            .with("available", available),
            CoreError::IdempotencyMismatch { key } => Problem::key_reused(&key),
            e @ CoreError::InvalidState { .. } => Problem::new(
                StatusCode::CONFLICT,
                "invalid-state",
                "Invalid state",
                e.to_string(),
            ),
            e @ CoreError::Backend { .. } => {
                let retryable = e.is_retryable();
                let mut p = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backend-unavailable",
                    "Backend unavailable",
                    "the storage backend failed; nothing was changed by this request",
                );
                p.0.internal = Some(e.to_string());
                if retryable {
                    p = p.retry_after(1);
                }
                p
            }
            CoreError::Timeout { operation } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Timeout",
                format!("{operation} timed out; retry with the same Idempotency-Key"),
            )
            .retry_after(1),
            other => Problem::internal(other.to_string()),
        }
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
            e @ CrmError::SeatLimit { .. } => Problem::new(
                StatusCode::FORBIDDEN,
                "seat-limit",
                "No seat",
                e.to_string(),
            ),
            e @ CrmError::ReferralCodeOtherCampaign { .. } => {
                Problem::validation("code", e.to_string())
            }
            other => Problem::internal(other.to_string()),
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
            ModulesError::UsageEventMismatch { key, .. } => {
                Problem::key_reused(key.strip_prefix("api:").unwrap_or(&key))
            }
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
            other => Problem::internal(other.to_string()),
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
            other => Problem::internal(other.to_string()),
        }
    }
}
