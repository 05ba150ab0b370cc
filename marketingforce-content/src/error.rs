//! The crate's error type.

use std::time::Duration;

/// Everything that can go wrong in content generation, review and distribution.
///
/// Bad input is a [`marketingforce_core::Error::Validation`] naming the field path (wrapped in
/// [`ContentError::Core`]); the other variants say what failed and on what.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// A core error: validation (field path + reason), not found, conflict, storage, limits.
    #[error(transparent)]
    Core(#[from] marketingforce_core::Error),

    /// A language-model endpoint failed (see [`LlmError`] for the distinct cases).
    #[error(transparent)]
    Llm(#[from] LlmError),

    /// A supplied image is missing, empty or not an image.
    #[error("image {name:?} is unusable: {reason}")]
    BadImage {
        /// The image's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Text does not fit its box even at the smallest allowed font size (it is never cut).
    #[error("{field} does not fit: {reason}")]
    TextDoesNotFit {
        /// The text field (`headline`, `body[2]`).
        field: String,
        /// Why (lines needed vs available at the minimum size).
        reason: String,
    },

    /// No usable font for the text (CJK fonts are needed for Chinese).
    #[error("no font found for {needed}; searched {searched}. Install a CJK font (e.g. the Debian package fonts-wqy-microhei or fonts-noto-cjk) or pass font files")]
    FontsMissing {
        /// What the text needs (`CJK`, family names).
        needed: String,
        /// Where fonts were looked for.
        searched: String,
    },

    /// An external program the backend needs is not installed.
    #[error("{tool} is not installed or not on PATH ({hint})")]
    ToolMissing {
        /// The program (`ffmpeg`, `espeak-ng`).
        tool: String,
        /// How to get it.
        hint: String,
    },

    /// An external program ran and failed.
    #[error("{tool} failed with {status}: {stderr}")]
    ToolFailed {
        /// The program.
        tool: String,
        /// Its exit status.
        status: String,
        /// The end of what it printed on stderr.
        stderr: String,
    },

    /// The account may not publish: not real-name verified, pending, or suspended.
    #[error("account {account} on {channel} cannot publish: {reason}")]
    AccountNotPublishable {
        /// The channel code.
        channel: String,
        /// The account.
        account: String,
        /// Why (`not real-name verified`, `suspended: …`).
        reason: String,
    },

    /// The content version was not approved by compliance review.
    #[error("content {content_id} v{version} is not approved for publishing: {decision}")]
    NotApproved {
        /// The content id.
        content_id: String,
        /// The version.
        version: u32,
        /// The decision recorded (`rejected`, `needs_human_review`, `not reviewed`).
        decision: String,
    },

    /// The tenant's quota for a usage meter is used up.
    #[error("quota {meter} exhausted: requested {requested}, remaining {remaining}")]
    QuotaExceeded {
        /// The meter.
        meter: crate::distribution::Meter,
        /// Units requested.
        requested: u64,
        /// Units remaining.
        remaining: u64,
    },

    /// Generated content failed the compliance check of a metered generator
    /// ([`Metered::with_compliance`](crate::metered::Metered::with_compliance)); the output was
    /// discarded and no quota was consumed.
    #[error("generated {meter} content is {decision} by the compliance check: {terms}")]
    NotCompliant {
        /// The meter of what was generated.
        meter: crate::distribution::Meter,
        /// The decision (`rejected`).
        decision: String,
        /// The terms found, comma-separated.
        terms: String,
    },

    /// The platform's usage metering failed (other than an exhausted quota, which is
    /// [`ContentError::QuotaExceeded`]).
    #[error("usage metering: {0}")]
    Metering(#[from] marketingforce_modules::ModulesError),

    /// A channel connector is misconfigured: credentials, the platform's IP whitelist, API
    /// permissions. `reason` says what to change where.
    #[error("channel {channel} is misconfigured ({setting}): {reason}")]
    ChannelConfiguration {
        /// The channel code.
        channel: String,
        /// The setting to fix (`app_secret`, `ip_whitelist`, …).
        setting: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A channel's platform refused a call with its own error code and message.
    #[error("channel {channel}: {api} failed with platform code {code}: {message}")]
    ChannelApi {
        /// The channel code.
        channel: String,
        /// The platform API called (`cgi-bin/draft/add`).
        api: String,
        /// The platform's code (`errcode`).
        code: i64,
        /// The platform's message (`errmsg`).
        message: String,
        /// Whether the platform documents the code as transient (system busy).
        retryable: bool,
    },

    /// A channel's publishing rate limit is reached; retry at `retry_at`.
    #[error("rate limit of channel {channel} reached; next slot at {retry_at}")]
    RateLimited {
        /// The channel code.
        channel: String,
        /// When a slot frees up.
        retry_at: chrono::DateTime<chrono::Utc>,
    },
}

/// Result alias of this crate.
pub type Result<T, E = ContentError> = std::result::Result<T, E>;

impl ContentError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ContentError::Core(e) => e.is_retryable(),
            ContentError::Llm(e) => e.is_retryable(),
            ContentError::RateLimited { .. } => true,
            ContentError::ChannelApi { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Recover a typed error from a core error produced through an adapter trait: a
    /// [`marketingforce_core::Error::Backend`] whose source is an [`LlmError`] becomes
    /// [`ContentError::Llm`] again.
    ///
    /// Likewise a backend error whose source is a [`ContentError`] becomes that error, and a
    /// [`marketingforce_core::Error::LimitExceeded`] on a content meter (as produced from
    /// [`ContentError::QuotaExceeded`]) becomes [`ContentError::QuotaExceeded`] again.
    pub fn from_adapter(error: marketingforce_core::Error) -> ContentError {
        match error {
            marketingforce_core::Error::Backend {
                source: Some(source),
                backend,
                message,
                retryable,
            } => match source.downcast::<LlmError>() {
                Ok(llm) => ContentError::Llm(*llm),
                Err(source) => match source.downcast::<ContentError>() {
                    Ok(content) => *content,
                    Err(source) => ContentError::Core(marketingforce_core::Error::Backend {
                        backend,
                        message,
                        retryable,
                        source: Some(source),
                    }),
                },
            },
            marketingforce_core::Error::LimitExceeded {
                limit,
                requested,
                available,
            } => match (
                crate::distribution::Meter::ALL
                    .into_iter()
                    .find(|m| m.as_str() == limit),
                requested.parse::<u64>(),
                available.parse::<u64>(),
            ) {
                (Some(meter), Ok(requested), Ok(remaining)) => ContentError::QuotaExceeded {
                    meter,
                    requested,
                    remaining,
                },
                _ => ContentError::Core(marketingforce_core::Error::LimitExceeded {
                    limit,
                    requested,
                    available,
                }),
            },
            other => ContentError::Core(other),
        }
    }

    pub(crate) fn validation(field: impl Into<String>, reason: impl Into<String>) -> ContentError {
        ContentError::Core(marketingforce_core::Error::validation(field, reason))
    }
}

/// How a call to an OpenAI-compatible endpoint failed. Each case is distinct so callers can
/// react: re-authenticate on [`Unauthorized`](LlmError::Unauthorized), back off on
/// [`RateLimited`](LlmError::RateLimited), report [`Malformed`](LlmError::Malformed) answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// No complete answer within the time limit (connect, first byte or between stream chunks).
    #[error("{endpoint} timed out after {after:?} ({phase})")]
    Timeout {
        /// The URL called.
        endpoint: String,
        /// The limit that was hit.
        after: Duration,
        /// `request` or `stream`.
        phase: String,
    },
    /// 401/403: the key was refused. Not retried.
    #[error("{endpoint} refused the API key ({status}): {message}")]
    Unauthorized {
        /// The URL called.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// 429: too many requests, still so after the retries.
    #[error("{endpoint} is rate limiting (429) after {attempts} attempts: {message}")]
    RateLimited {
        /// The URL called.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// The provider's `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },
    /// 5xx: the server failed, still so after the retries.
    #[error("{endpoint} failed with {status} after {attempts} attempts: {message}")]
    Server {
        /// The URL called.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The provider's message.
        message: String,
    },
    /// Another 4xx: the request was refused (bad model name, too long…). Not retried.
    #[error("{endpoint} rejected the request ({status}): {message}")]
    Rejected {
        /// The URL called.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The answer was not the expected JSON.
    #[error("{endpoint} answered malformed JSON: {reason} (in {excerpt:?})")]
    Malformed {
        /// The URL called.
        endpoint: String,
        /// The parse error.
        reason: String,
        /// The start of the offending text.
        excerpt: String,
    },
    /// The stream ended before `[DONE]` or a finish reason.
    #[error("{endpoint} cut the stream after {received_chars} characters: {reason}")]
    StreamCut {
        /// The URL called.
        endpoint: String,
        /// Characters of content received before the cut.
        received_chars: usize,
        /// What was observed.
        reason: String,
    },
    /// The connection could not be made or broke before an answer.
    #[error("could not reach {endpoint}: {message}")]
    Connect {
        /// The URL called.
        endpoint: String,
        /// The transport's message.
        message: String,
    },
    /// The model answered, but with no usable content.
    #[error("{endpoint} returned no content (finish reason {finish_reason:?})")]
    Empty {
        /// The URL called.
        endpoint: String,
        /// The finish reason given.
        finish_reason: Option<String>,
    },
}

impl LlmError {
    /// Whether a retry may succeed (timeouts, 429, 5xx, connection failures, cut streams).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmError::Timeout { .. }
                | LlmError::RateLimited { .. }
                | LlmError::Server { .. }
                | LlmError::Connect { .. }
                | LlmError::StreamCut { .. }
        )
    }
}

impl From<LlmError> for marketingforce_core::Error {
    fn from(e: LlmError) -> Self {
        let retryable = e.is_retryable();
        marketingforce_core::Error::backend("openai-compatible", retryable, e)
    }
}

impl From<ContentError> for marketingforce_core::Error {
    /// Convert for adapter traits (which speak core errors). Typed LLM errors stay reachable
    /// as the `source` of [`marketingforce_core::Error::Backend`]; an exhausted quota becomes
    /// [`marketingforce_core::Error::LimitExceeded`] naming the meter.
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::Core(c) => c,
            ContentError::Llm(l) => l.into(),
            // The typed limit error of the adapter traits: the meter and what is left.
            ContentError::QuotaExceeded {
                meter,
                requested,
                remaining,
            } => marketingforce_core::Error::LimitExceeded {
                limit: meter.to_string(),
                requested: requested.to_string(),
                available: remaining.to_string(),
            },
            other => {
                let retryable = other.is_retryable();
                marketingforce_core::Error::backend("content", retryable, other)
            }
        }
    }
}

impl ContentError {
    fn classification(&self) -> marketingforce_core::error::Classification<'_> {
        use marketingforce_core::error::{Classification as C, ErrorKind as K};
        match self {
            ContentError::Core(e) => C::of(e),
            ContentError::Metering(e) => C::of(e),
            ContentError::Llm(e) => match e {
                LlmError::RateLimited { .. } => C::new(K::RateLimited, "llm_rate_limited"),
                // The model may have answered (and billed) before the time ran out.
                LlmError::Timeout { .. } => C::new(K::OutcomeUnknown, "llm_timeout"),
                LlmError::Unauthorized { .. } | LlmError::Malformed { .. } => {
                    C::new(K::Internal, "llm_misconfigured")
                }
                _ if e.is_retryable() => C::new(K::Unavailable, "llm_unavailable"),
                _ => C::new(K::Rejected, "llm_refused"),
            },
            ContentError::BadImage { .. } => C::invalid("bad_image", "image"),
            ContentError::TextDoesNotFit { field, .. } => C::invalid("text_does_not_fit", field),
            ContentError::FontsMissing { .. } => C::new(K::Internal, "fonts_missing"),
            ContentError::ToolMissing { .. } => C::new(K::Internal, "tool_missing"),
            ContentError::ToolFailed { .. } => C::new(K::Internal, "tool_failed"),
            ContentError::AccountNotPublishable { .. } => {
                C::new(K::InvalidState, "account_not_publishable")
            }
            ContentError::NotApproved { .. } => C::new(K::InvalidState, "not_approved"),
            ContentError::QuotaExceeded { .. } => C::new(K::LimitExceeded, "quota_exceeded"),
            ContentError::NotCompliant { .. } => C::new(K::Rejected, "not_compliant"),
            ContentError::ChannelConfiguration { .. } => {
                C::new(K::Internal, "channel_misconfigured")
            }
            ContentError::ChannelApi {
                retryable: true, ..
            } => C::new(K::Unavailable, "channel_unavailable"),
            ContentError::ChannelApi { .. } => C::new(K::Rejected, "channel_refused"),
            ContentError::RateLimited { .. } => C::new(K::RateLimited, "rate_limited"),
        }
    }
}

/// The kinds of content errors: invalid input names its field (`headline`, `image`), an
/// exhausted quota is [`LimitExceeded`](marketingforce_core::ErrorKind::LimitExceeded) with code
/// `quota_exceeded` (as in `marketingforce-modules`), a channel's or model's transient failure is
/// [`Unavailable`](marketingforce_core::ErrorKind::Unavailable), its business refusal
/// [`Rejected`](marketingforce_core::ErrorKind::Rejected), a missing font or program is
/// [`Internal`](marketingforce_core::ErrorKind::Internal) (the deployment lacks it).
impl marketingforce_core::Classify for ContentError {
    fn kind(&self) -> marketingforce_core::ErrorKind {
        self.classification().kind
    }
    fn code(&self) -> &'static str {
        self.classification().code
    }
    fn field(&self) -> Option<&str> {
        self.classification().field
    }
}
