//! The call loop: token, rate limit, send, read the envelope, act on the return code.
//!
//! ```text
//! token (refreshed ahead of expiry) → app + advertiser buckets → send
//!   ├─ no answer in time ──────────────────────────────► Timeout (outcome unknown)
//!   ├─ HTTP 429 / 5xx, code 40100, code 50000 ──► backoff with jitter, retry (max_retries)
//!   ├─ code 40102/40104/40105 (token rejected) ──► refresh once, retry once
//!   ├─ code 40103/40107 ─────────────────────────► ReauthorisationRequired
//!   ├─ other code ───────────────────────────────► Refused { code, message, request_id }
//!   └─ code 0 ───────────────────────────────────► data
//! ```
//!
//! A POST whose outcome is unknown (no answer, a broken connection, a 5xx after the retries)
//! is reported as [`Error::Timeout`]: the platform may have acted, so the caller retries with
//! the same request id (the writes this connector makes are idempotent by that id).

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use marketingforce_core::{Error, Result};

use super::auth::Tokens;
use super::codes::{CodeClass, OceanEngineError, BACKEND};
use super::config::OceanEngineConfig;
use super::json::Out;
use super::limiter::RateLimiter;
use super::secret::Secret;
use super::transport::{HttpMethod, Transport, TransportError, WireRequest};
use super::wire;

/// One request to make.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: HttpMethod,
    path: &'static str,
    advertiser: Option<String>,
    query: Vec<(String, String)>,
    body: Option<Out>,
    /// Whether a POST whose outcome is unknown may be sent again as is (it carries the
    /// platform's idempotency key, or is idempotent by nature).
    resend_unknown: bool,
}

impl Call {
    pub(crate) fn get(path: &'static str) -> Call {
        Call {
            method: HttpMethod::Get,
            path,
            advertiser: None,
            query: Vec::new(),
            body: None,
            resend_unknown: true,
        }
    }

    pub(crate) fn post(path: &'static str, body: Out) -> Call {
        Call {
            method: HttpMethod::Post,
            path,
            advertiser: None,
            query: Vec::new(),
            body: Some(body),
            resend_unknown: true,
        }
    }

    /// A POST without a platform-side idempotency key: if its outcome is unknown, report it
    /// (a timeout) instead of sending it again.
    pub(crate) fn no_resend(mut self) -> Call {
        self.resend_unknown = false;
        self
    }

    /// The advertiser the call concerns (for its rate-limit bucket).
    pub(crate) fn for_advertiser(mut self, id: &str) -> Call {
        self.advertiser = Some(id.to_string());
        self
    }

    pub(crate) fn param(mut self, name: &str, value: impl Into<String>) -> Call {
        self.query.push((name.to_string(), value.into()));
        self
    }

    /// A JSON-valued query parameter (`fields=["stat_cost"]`).
    pub(crate) fn json_param(self, name: &str, value: &Out) -> Call {
        let text = value.to_json();
        self.param(name, text)
    }

    fn wire(&self, token: Option<Secret>) -> WireRequest {
        WireRequest {
            method: self.method,
            path: self.path.to_string(),
            query: self.query.clone(),
            body: self.body.as_ref().map(Out::to_json),
            access_token: token,
        }
    }
}

/// Something the connector could not map and kept for a person to look at (an enum value the
/// platform added after this release, …). Never holds personal data or secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Where: field path or enum name, e.g. `advertiser.status`.
    pub field: String,
    /// The value as the platform sent it.
    pub value: String,
    /// What the connector did with it.
    pub handled_as: String,
}

/// Kept notices (the oldest are dropped past a bound).
#[derive(Debug, Default)]
pub(crate) struct Notices(Mutex<Vec<Notice>>);

const MAX_NOTICES: usize = 1000;

impl Notices {
    pub(crate) fn push(&self, notice: Notice) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if all.len() >= MAX_NOTICES {
            all.remove(0);
        }
        if !all.contains(&notice) {
            all.push(notice);
        }
    }

    pub(crate) fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What one exchange came to.
enum Step {
    Done(Value),
    TokenRejected(OceanEngineError),
    Retry {
        error: OceanEngineError,
        outcome_unknown: bool,
    },
    Fail(Error),
}

/// Transport, limiter and tokens of one app for one tenant.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) config: OceanEngineConfig,
    transport: Arc<dyn Transport>,
    limiter: RateLimiter,
    pub(crate) tokens: Tokens,
    pub(crate) notices: Notices,
}

impl Client {
    pub(crate) fn new(
        config: OceanEngineConfig,
        transport: Arc<dyn Transport>,
        tokens: Tokens,
    ) -> Client {
        Client {
            limiter: RateLimiter::new(config.app_qps, config.advertiser_qps),
            config,
            transport,
            tokens,
            notices: Notices::default(),
        }
    }

    pub(crate) fn with_transport(&mut self, transport: Arc<dyn Transport>) {
        self.transport = transport;
    }

    pub(crate) fn notice(&self, field: &str, value: &str, handled_as: &str) {
        self.notices.push(Notice {
            field: field.to_string(),
            value: value.to_string(),
            handled_as: handled_as.to_string(),
        });
    }

    /// Make an authenticated call; the envelope's `data`, numbers as their literal text.
    pub(crate) async fn call(&self, call: &Call) -> Result<Value> {
        let mut token_retried = false;
        let mut attempt = 0u32;
        loop {
            let (token, generation) = self.tokens.access(self).await?;
            self.limiter.acquire(call.advertiser.as_deref()).await;
            match self.exchange(&call.wire(Some(token)), attempt + 1).await {
                Step::Done(data) => return Ok(data),
                Step::TokenRejected(error) => {
                    if token_retried {
                        return Err(error.into_core());
                    }
                    token_retried = true;
                    self.tokens.rejected(self, generation).await?;
                }
                Step::Retry {
                    error,
                    outcome_unknown,
                } => {
                    let blind = outcome_unknown && !call.resend_unknown;
                    if blind || attempt >= self.config.max_retries {
                        return Err(self.exhausted(call, error, attempt + 1, outcome_unknown));
                    }
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                Step::Fail(e) => return Err(e),
            }
        }
    }

    /// Call an OAuth endpoint (no token; the app's bucket still applies).
    pub(crate) async fn oauth(&self, path: &'static str, body: Out) -> Result<Value> {
        let call = Call::post(path, body);
        let mut attempt = 0u32;
        loop {
            self.limiter.acquire(None).await;
            match self.exchange(&call.wire(None), attempt + 1).await {
                Step::Done(data) => return Ok(data),
                Step::TokenRejected(error) => return Err(error.into_core()),
                Step::Retry {
                    error,
                    outcome_unknown,
                } => {
                    if attempt >= self.config.max_retries {
                        return Err(self.exhausted(&call, error, attempt + 1, outcome_unknown));
                    }
                    self.backoff(attempt).await;
                    attempt += 1;
                }
                Step::Fail(e) => return Err(e),
            }
        }
    }

    /// `oauth2/refresh_token/` with `refresh_token`; a refusal means authorise again.
    pub(crate) async fn refresh_grant(&self, refresh_token: &Secret) -> Result<Value> {
        let body =
            super::auth::refresh_body(&self.config.app_id, &self.config.secret, refresh_token);
        self.oauth("oauth2/refresh_token/", body)
            .await
            .map_err(|e| match OceanEngineError::find(&e) {
                Some(OceanEngineError::Refused { code, message, .. }) => {
                    OceanEngineError::ReauthorisationRequired {
                        reason: format!("the refresh was refused (code {code}: {message})"),
                    }
                    .into_core()
                }
                _ => e,
            })
    }

    fn exhausted(
        &self,
        call: &Call,
        error: OceanEngineError,
        attempts: u32,
        unknown: bool,
    ) -> Error {
        if unknown && call.method == HttpMethod::Post {
            return Error::Timeout {
                operation: format!(
                    "{BACKEND} POST {} ({error}); the outcome is unknown, retry with the same request id",
                    call.path
                ),
            };
        }
        match error {
            OceanEngineError::RateLimited {
                endpoint,
                code,
                message,
                ..
            } => OceanEngineError::RateLimited {
                endpoint,
                code,
                message,
                attempts,
            },
            OceanEngineError::Transient {
                endpoint,
                code,
                message,
                ..
            } => OceanEngineError::Transient {
                endpoint,
                code,
                message,
                attempts,
            },
            other => other,
        }
        .into_core()
    }

    async fn exchange(&self, request: &WireRequest, attempt: u32) -> Step {
        let endpoint = request.path.clone();
        let post = request.method == HttpMethod::Post;
        let method = if post { "POST" } else { "GET" };
        let sent = marketingforce_core::telemetry::http::request(
            BACKEND,
            method,
            &self.config.base_url,
            attempt,
            self.transport.send(request),
            |r| r.as_ref().ok().map(|r| r.status),
        );
        let response = match sent.await {
            Ok(r) => r,
            Err(TransportError::Timeout) => {
                return Step::Fail(Error::Timeout {
                    operation: format!("{BACKEND} {} {endpoint}", request.method),
                })
            }
            Err(TransportError::TooLarge { limit }) => {
                return Step::Fail(
                    OceanEngineError::OversizedPage {
                        endpoint,
                        what: format!("the body exceeds max_response_bytes ({limit})"),
                    }
                    .into_core(),
                )
            }
            Err(TransportError::Connect(reason)) => {
                return Step::Retry {
                    error: OceanEngineError::Transient {
                        endpoint,
                        code: 0,
                        message: format!("could not connect: {reason}"),
                        attempts: 1,
                    },
                    outcome_unknown: false,
                }
            }
            Err(other) => {
                return Step::Retry {
                    error: OceanEngineError::Transient {
                        endpoint,
                        code: 0,
                        message: other.to_string(),
                        attempts: 1,
                    },
                    outcome_unknown: post,
                }
            }
        };
        if response.status == 429 {
            return Step::Retry {
                error: OceanEngineError::RateLimited {
                    endpoint,
                    code: 429,
                    message: "HTTP 429".into(),
                    attempts: 1,
                },
                outcome_unknown: false,
            };
        }
        if response.status >= 500 {
            return Step::Retry {
                error: OceanEngineError::Http {
                    endpoint,
                    status: response.status,
                },
                outcome_unknown: post,
            };
        }
        if response.status != 200 {
            return Step::Fail(
                OceanEngineError::Http {
                    endpoint,
                    status: response.status,
                }
                .into_core(),
            );
        }
        let envelope = match wire::envelope(&response.body, &endpoint) {
            Ok(e) => e,
            Err(e) => return Step::Fail(e.into_core()),
        };
        let refused = || OceanEngineError::Refused {
            endpoint: endpoint.clone(),
            code: envelope.code,
            message: envelope.message.clone(),
            request_id: envelope.request_id.clone(),
        };
        match self.config.error_codes.classify(envelope.code) {
            CodeClass::Ok => Step::Done(envelope.data),
            CodeClass::TokenRejected => Step::TokenRejected(refused()),
            CodeClass::RateLimited => Step::Retry {
                error: OceanEngineError::RateLimited {
                    endpoint: endpoint.clone(),
                    code: envelope.code,
                    message: envelope.message.clone(),
                    attempts: 1,
                },
                outcome_unknown: false,
            },
            CodeClass::Transient => Step::Retry {
                error: OceanEngineError::Transient {
                    endpoint: endpoint.clone(),
                    code: envelope.code,
                    message: envelope.message.clone(),
                    attempts: 1,
                },
                outcome_unknown: false,
            },
            CodeClass::Reauthorise => Step::Fail(
                OceanEngineError::ReauthorisationRequired {
                    reason: format!("code {}: {}", envelope.code, envelope.message),
                }
                .into_core(),
            ),
            CodeClass::Refused => Step::Fail(refused().into_core()),
        }
    }

    /// Exponential backoff with jitter: a random wait in [d/2, d], d = backoff·2^attempt.
    async fn backoff(&self, attempt: u32) {
        let full = self
            .config
            .backoff_ms
            .saturating_mul(1u64 << attempt.min(16))
            .min(self.config.max_backoff_ms);
        let half = full / 2;
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        let jitter = if full > half {
            h.finish() % (full - half + 1)
        } else {
            0
        };
        let wait = Duration::from_millis(half + jitter);
        marketingforce_core::telemetry::http::retrying(BACKEND, attempt + 1, None, wait);
        tokio::time::sleep(wait).await;
    }
}
