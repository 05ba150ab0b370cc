//! The platform's return codes and the connector's typed errors.
//!
//! Every answer of the Marketing API is an envelope `{code, message, request_id, data}`;
//! `code` 0 is success. The connector sorts the other codes into classes and acts on the class:
//!
//! | Class | Default codes | What the connector does |
//! |---|---|---|
//! | access token expired or invalid | 40102 (expired), 40104 (missing), 40105 (invalid) | refreshes the grant (one refresh per app, see [`auth`](super::auth)) and retries the call **once** |
//! | rate limited | 40100 (too many requests) | waits (exponential backoff with jitter) and retries up to `max_retries` times, then [`OceanEngineError::RateLimited`] (retryable) |
//! | transient | 50000 (system error) | the same backoff, then [`OceanEngineError::Transient`] (retryable) |
//! | re-authorisation needed | 40103 (refresh token expired), 40107 (refresh token invalid) | [`OceanEngineError::ReauthorisationRequired`]: a person must authorise the app again |
//! | anything else | | a business refusal, [`OceanEngineError::Refused`], carrying the platform's code and message (never the raw body) |
//!
//! The tables are configuration ([`ErrorCodes`]): when the platform introduces a code, add it
//! without waiting for a release. Refusals reach callers as the core
//! [`Error::Backend`] with backend `ocean-engine`; the
//! typed error is its `source`, found with [`OceanEngineError::find`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use marketingforce_core::Error;

/// The backend name in core errors.
pub const BACKEND: &str = "ocean-engine";

/// Which codes mean what (defaults: the platform's documented return codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorCodes {
    /// The access token expired or is not valid: refresh once, retry once.
    pub token_rejected: Vec<i64>,
    /// Too many requests: back off and retry.
    pub rate_limited: Vec<i64>,
    /// A passing server failure: back off and retry.
    pub transient: Vec<i64>,
    /// The refresh token is expired or invalid: the app must be authorised again.
    pub reauthorise: Vec<i64>,
}

impl Default for ErrorCodes {
    fn default() -> Self {
        ErrorCodes {
            token_rejected: vec![40102, 40104, 40105],
            rate_limited: vec![40100],
            transient: vec![50000],
            reauthorise: vec![40103, 40107],
        }
    }
}

/// The class of a return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeClass {
    /// 0: success.
    Ok,
    /// Refresh the token and retry once.
    TokenRejected,
    /// Back off and retry.
    RateLimited,
    /// Back off and retry.
    Transient,
    /// Authorise again.
    Reauthorise,
    /// A business refusal.
    Refused,
}

impl ErrorCodes {
    /// The class of `code`.
    pub fn classify(&self, code: i64) -> CodeClass {
        if code == 0 {
            CodeClass::Ok
        } else if self.token_rejected.contains(&code) {
            CodeClass::TokenRejected
        } else if self.rate_limited.contains(&code) {
            CodeClass::RateLimited
        } else if self.transient.contains(&code) {
            CodeClass::Transient
        } else if self.reauthorise.contains(&code) {
            CodeClass::Reauthorise
        } else {
            CodeClass::Refused
        }
    }
}

/// One object a batch call refused while the others went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectFailure {
    /// The object's id.
    pub id: String,
    /// The platform's code for it, when it gives one.
    pub code: Option<i64>,
    /// The platform's message for it.
    pub message: String,
}

/// What went wrong at Ocean Engine, typed (the `source` of the core backend error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OceanEngineError {
    /// A business refusal: the platform's code and message.
    #[error("Ocean Engine refused {endpoint}: code {code}: {message} (request_id {request_id})")]
    Refused {
        /// The endpoint, e.g. `2/campaign/create/`.
        endpoint: String,
        /// The platform's return code.
        code: i64,
        /// The platform's message.
        message: String,
        /// The platform's request id (quote it to the platform's support).
        request_id: String,
    },
    /// Still rate limited after the configured retries.
    #[error("Ocean Engine rate-limited {endpoint} (code {code}: {message}) {attempts} times")]
    RateLimited {
        /// The endpoint.
        endpoint: String,
        /// The platform's code (or 429 for an HTTP 429).
        code: i64,
        /// The platform's message.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A server-side failure that persisted through the retries.
    #[error("Ocean Engine failed on {endpoint} (code {code}: {message}) {attempts} times")]
    Transient {
        /// The endpoint.
        endpoint: String,
        /// The platform's code (or the HTTP status).
        code: i64,
        /// The platform's message.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// No usable grant: authorise the app again (see the module docs of `auth`).
    #[error("the Ocean Engine app must be authorised again: {reason}")]
    ReauthorisationRequired {
        /// Why.
        reason: String,
    },
    /// Some objects of a batch call were refused.
    #[error("Ocean Engine refused {} object(s) on {endpoint}: {}", failures.len(), first_message(failures))]
    PartialFailure {
        /// The endpoint.
        endpoint: String,
        /// The refused objects.
        failures: Vec<ObjectFailure>,
    },
    /// The Marketing API has no such operation (or not for this configuration).
    #[error("{operation} is not available through the Ocean Engine Marketing API: {why}")]
    Unsupported {
        /// The operation.
        operation: String,
        /// Why, and what to do instead.
        why: String,
    },
    /// An HTTP status without the platform's envelope.
    #[error("Ocean Engine answered HTTP {status} on {endpoint}")]
    Http {
        /// The endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
    },
    /// A page larger than asked for, or a body over the size limit.
    #[error("Ocean Engine sent an oversized page on {endpoint}: {what}")]
    OversizedPage {
        /// The endpoint.
        endpoint: String,
        /// What exceeded what.
        what: String,
    },
    /// The body is not the JSON the endpoint documents.
    #[error("Ocean Engine sent malformed JSON on {endpoint}: {reason}")]
    Malformed {
        /// The endpoint.
        endpoint: String,
        /// What was wrong (never the body itself).
        reason: String,
    },
}

fn first_message(failures: &[ObjectFailure]) -> String {
    failures
        .first()
        .map(|f| match f.code {
            Some(c) => format!("{} (code {c}): {}", f.id, f.message),
            None => format!("{}: {}", f.id, f.message),
        })
        .unwrap_or_default()
}

impl OceanEngineError {
    /// The platform's return code, when there is one.
    pub fn code(&self) -> Option<i64> {
        match self {
            OceanEngineError::Refused { code, .. }
            | OceanEngineError::RateLimited { code, .. }
            | OceanEngineError::Transient { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OceanEngineError::RateLimited { .. } | OceanEngineError::Transient { .. }
        ) || matches!(self, OceanEngineError::Http { status, .. } if *status == 429 || *status >= 500)
    }

    /// The core error carrying this one as its source.
    pub fn into_core(self) -> Error {
        Error::Backend {
            backend: BACKEND.to_string(),
            message: self.to_string(),
            retryable: self.is_retryable(),
            source: Some(Box::new(self)),
        }
    }

    /// The typed error behind a core (or ads) error, if it came from this connector.
    ///
    /// ```
    /// use marketingforce_ads::platform::oceanengine::OceanEngineError;
    ///
    /// let e = OceanEngineError::Refused {
    ///     endpoint: "2/campaign/create/".into(),
    ///     code: 40001,
    ///     message: "参数错误".into(),
    ///     request_id: "20260301".into(),
    /// }
    /// .into_core();
    /// assert_eq!(OceanEngineError::find(&e).and_then(|t| t.code()), Some(40001));
    /// assert!(!e.is_retryable());
    /// ```
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a OceanEngineError> {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<OceanEngineError>() {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_sort_into_classes() {
        let codes = ErrorCodes::default();
        assert_eq!(codes.classify(0), CodeClass::Ok);
        assert_eq!(codes.classify(40102), CodeClass::TokenRejected);
        assert_eq!(codes.classify(40100), CodeClass::RateLimited);
        assert_eq!(codes.classify(50000), CodeClass::Transient);
        assert_eq!(codes.classify(40103), CodeClass::Reauthorise);
        assert_eq!(codes.classify(40001), CodeClass::Refused);
        let custom = ErrorCodes {
            rate_limited: vec![40100, 40110],
            ..ErrorCodes::default()
        };
        assert_eq!(custom.classify(40110), CodeClass::RateLimited);
    }

    #[test]
    fn typed_errors_survive_wrapping() {
        let e = OceanEngineError::RateLimited {
            endpoint: "2/report/campaign/get/".into(),
            code: 40100,
            message: "请求过于频繁".into(),
            attempts: 4,
        }
        .into_core();
        assert!(e.is_retryable());
        let ads = crate::AdsError::platform(BACKEND, e);
        let found = OceanEngineError::find(&ads).unwrap();
        assert_eq!(found.code(), Some(40100));
        assert!(ads.is_retryable());
    }
}
