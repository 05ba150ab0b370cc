//! The core error type shared by every crate of the SDK, and the one classification every
//! crate's errors map to.
//!
//! Each [`Error`] variant says *what* went wrong and *on what*: a validation error names the
//! field path and the reason, a conflict names the record and the versions involved, a backend
//! error keeps its source. Domain crates wrap this type in their own `#[non_exhaustive]` enums.
//!
//! Callers that only need to decide what to do — answer 422 or 409, retry, page someone — look
//! at the [`ErrorKind`] instead, through the [`Classify`] trait that every error of the SDK
//! implements:
//!
//! | [`ErrorKind`] | meaning | retry? |
//! |---|---|---|
//! | `InvalidInput` | the request is malformed; [`Classify::field`] names the field | no |
//! | `NotFound` | what was asked for does not exist (for this tenant) | no |
//! | `Conflict` | a concurrent change won (a record version, a stale view of a journal) | yes, after re-reading |
//! | `IdempotencyMismatch` | the idempotency key was first used for another request | no |
//! | `InvalidState` | a state machine refused the transition | no |
//! | `LimitExceeded` | a quota, seat count, credit limit or size would be exceeded | no |
//! | `RateLimited` | too many calls; wait and retry | yes, later |
//! | `Unauthenticated` / `Forbidden` | no or insufficient credentials; another tenant's data | no |
//! | `Unavailable` | a dependency failed and **nothing was written** | yes |
//! | `OutcomeUnknown` | the call **may or may not have taken effect** | yes, with the same idempotency key |
//! | `Rejected` | an outside party (an ad platform, a model server) refused the request | no |
//! | `Internal` | a bug or a broken dependency | no |
//!
//! ```
//! use marketingforce_core::error::{Classify, Error, ErrorKind};
//!
//! let e = Error::validation("lines[2].quantity", "must be at least 1");
//! assert_eq!(e.kind(), ErrorKind::InvalidInput);
//! assert_eq!(e.code(), "validation");
//! assert_eq!(e.field(), Some("lines[2].quantity"));
//! assert!(!e.is_retryable());
//!
//! // A lost acknowledgement is not "nothing happened": the client retries with the same key.
//! let lost = Error::outcome_unknown("postgres commit", "connection reset while committing");
//! assert_eq!(lost.kind(), ErrorKind::OutcomeUnknown);
//! assert!(lost.is_retryable());
//! ```

use std::fmt;
use std::time::Duration;

/// Result alias used across the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error source carried by [`Error::Backend`] and [`Error::OutcomeUnknown`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the core: bad input, missing or conflicting records,
/// isolation and limit violations, and failures of the backends behind the adapter traits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input was rejected. `field` is a path such as `lines[2].quantity` or `currency`.
    #[error("invalid {field}: {reason}")]
    Validation {
        /// Path of the offending field.
        field: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A record that was asked for does not exist (for this tenant).
    #[error("{kind} {id} not found")]
    NotFound {
        /// What kind of thing was looked up (collection, entity or configuration name).
        kind: String,
        /// Its id or key.
        id: String,
    },

    /// An optimistic-concurrency check failed: the record changed since it was read, or exists
    /// when it was expected to be absent.
    #[error("conflict on {collection}/{key}: expected {expected}, found {actual}")]
    Conflict {
        /// Collection of the record.
        collection: String,
        /// Key of the record.
        key: String,
        /// What the writer expected.
        expected: VersionState,
        /// What the store holds.
        actual: VersionState,
    },

    /// Something of one tenant was presented in a call made for another tenant.
    #[error("tenant isolation violation: {what} belongs to tenant {owner}, not to {caller}")]
    TenantIsolation {
        /// What crossed the boundary.
        what: String,
        /// The tenant that owns it.
        owner: String,
        /// The tenant the call was made for.
        caller: String,
    },

    /// A limit (quota, seat count, size, credit, balance) would be exceeded.
    #[error("limit exceeded on {limit}: requested {requested}, available {available}")]
    LimitExceeded {
        /// Which limit.
        limit: String,
        /// What was asked for.
        requested: String,
        /// What is still available.
        available: String,
    },

    /// The same idempotency key was replayed with a different request.
    #[error("idempotency key {key} was first used for a different request")]
    IdempotencyMismatch {
        /// The replayed key.
        key: String,
    },

    /// A state machine refused a transition.
    #[error("{entity} cannot go from {from} to {to}: {reason}")]
    InvalidState {
        /// What kind of entity.
        entity: String,
        /// The current state.
        from: String,
        /// The requested state.
        to: String,
        /// Why not.
        reason: String,
    },

    /// A backend (database, HTTP platform, model server, external process) failed, and the call
    /// **did not take effect**. When the outcome is not known (the connection dropped while a
    /// commit was in flight), the error is [`Error::OutcomeUnknown`] instead.
    #[error("{backend} failed: {message}")]
    Backend {
        /// Which backend (`sqlite`, `postgres`, `http`, …).
        backend: String,
        /// What it said.
        message: String,
        /// Whether retrying the same call may succeed (the backend was busy, unreachable or
        /// refused a serialization conflict). Retryable or not, **nothing was written**.
        retryable: bool,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// A call did not complete in time; whether it took effect is unknown (classified as
    /// [`ErrorKind::OutcomeUnknown`]): retry with the same idempotency key to learn which.
    #[error("{operation} timed out; it may or may not have taken effect")]
    Timeout {
        /// The operation that timed out.
        operation: String,
    },

    /// A call may or may not have taken effect: a commit was sent but its acknowledgement was
    /// lost. Retry with the same idempotency key to learn which — a replay returns the first
    /// result, a first commit does the work once. Never read this as "nothing changed".
    #[error("{operation} may or may not have taken effect ({message}); retry with the same idempotency key to learn which")]
    OutcomeUnknown {
        /// The operation whose outcome is unknown (`postgres commit`, `sqlite commit`, …).
        operation: String,
        /// What went wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// A commit was computed from an in-memory view of a journal that is behind the store:
    /// another process (or task) appended to the journal since the view's position. Nothing was
    /// written. Catch up by reading the journal after the view's position
    /// ([`Store::read_journal`](crate::storage::Store::read_journal) with `after = expected`),
    /// recompute and retry; see "Several processes, one store" in [`storage`](crate::storage).
    #[error("the view of journal {journal} is behind: computed at head {expected}, the journal is at {actual}; catch up from the journal tail (entries after {expected}) and retry")]
    StaleView {
        /// The journal whose head moved.
        journal: String,
        /// The head the commit expected (the view's position).
        expected: u64,
        /// The journal's actual head.
        actual: u64,
    },

    /// Too many calls: wait (at least `retry_after`, when known) and retry.
    #[error("{what} is rate limited{}", retry_hint(.retry_after))]
    RateLimited {
        /// What is rate limited (`ads platform oceanengine`, `module host calls`, …).
        what: String,
        /// How long to wait before retrying, when known.
        retry_after: Option<Duration>,
    },

    /// A value could not be encoded or decoded.
    #[error("could not (de)serialize {what}: {reason}")]
    Serialization {
        /// What was being (de)serialized.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

/// The state of a record's version, as seen in a [`Error::Conflict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// Any version (or none).
    Any,
    /// The record does not exist.
    Absent,
    /// The record exists at this version.
    Version(u64),
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionState::Any => f.write_str("any version"),
            VersionState::Absent => f.write_str("no record"),
            VersionState::Version(v) => write!(f, "version {v}"),
        }
    }
}

/// What kind of failure an error is, whichever crate raised it: the one classification an
/// embedder maps to HTTP statuses, retries and alerts (see the [module docs](self)).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or out of range; [`Classify::field`] names the field.
    InvalidInput,
    /// What was asked for does not exist (for this tenant).
    NotFound,
    /// A concurrent change won: a record's version moved, or the journal a view was computed
    /// from moved on. Retry after re-reading (services do this themselves a bounded number of
    /// times before answering it).
    Conflict,
    /// The idempotency key was first used for a different request.
    IdempotencyMismatch,
    /// A state machine refused the transition (cancel a settled invoice, …).
    InvalidState,
    /// A quota, seat count, credit limit, budget or size would be exceeded.
    LimitExceeded,
    /// Too many calls; wait and retry.
    RateLimited,
    /// No valid credentials were presented.
    Unauthenticated,
    /// The caller may not do this (including reaching another tenant's data).
    Forbidden,
    /// A dependency (database, platform, model server) failed and **nothing was written**;
    /// retrying may succeed.
    Unavailable,
    /// The call **may or may not have taken effect** (a lost acknowledgement, a timeout):
    /// retry with the same idempotency key to learn which.
    OutcomeUnknown,
    /// An outside party (an ad platform, a content channel, a model server) refused the request
    /// for a business reason; retrying the same request will not help.
    Rejected,
    /// A bug or a broken dependency: an invariant did not hold, stored data did not decode.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::IdempotencyMismatch,
        ErrorKind::InvalidState,
        ErrorKind::LimitExceeded,
        ErrorKind::RateLimited,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::Unavailable,
        ErrorKind::OutcomeUnknown,
        ErrorKind::Rejected,
        ErrorKind::Internal,
    ];

    /// Whether retrying may succeed: [`Conflict`](Self::Conflict) (after re-reading),
    /// [`RateLimited`](Self::RateLimited) (after waiting), [`Unavailable`](Self::Unavailable)
    /// and [`OutcomeUnknown`](Self::OutcomeUnknown) (with the same idempotency key).
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Conflict
                | ErrorKind::RateLimited
                | ErrorKind::Unavailable
                | ErrorKind::OutcomeUnknown
        )
    }

    /// The snake_case name (`invalid_input`, `outcome_unknown`, …), as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::IdempotencyMismatch => "idempotency_mismatch",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::OutcomeUnknown => "outcome_unknown",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classification of an error: implemented by every error type of the SDK, so embedders map
/// one [`ErrorKind`] instead of every variant of every crate. Object-safe (`&dyn Classify`).
///
/// A domain crate's error usually wraps the core [`Error`] in one variant and has its own
/// variants besides: delegate the wrapped one, classify the rest, e.g. through one
/// [`Classification`] per variant:
///
/// ```
/// use marketingforce_core::error::{Classification, Classify, Error, ErrorKind};
///
/// #[derive(Debug)]
/// enum LedgerError {
///     Core(Error),
///     CreditLimit { account: String },
/// }
///
/// impl LedgerError {
///     fn classification(&self) -> Classification<'_> {
///         match self {
///             LedgerError::Core(e) => Classification::of(e),
///             LedgerError::CreditLimit { .. } => {
///                 Classification::new(ErrorKind::LimitExceeded, "credit_limit")
///             }
///         }
///     }
/// }
///
/// impl Classify for LedgerError {
///     fn kind(&self) -> ErrorKind { self.classification().kind }
///     fn code(&self) -> &'static str { self.classification().code }
///     fn field(&self) -> Option<&str> { self.classification().field }
/// }
///
/// let e = LedgerError::Core(Error::validation("amount", "must be positive"));
/// assert_eq!((e.kind(), e.code(), e.field()), (ErrorKind::InvalidInput, "validation", Some("amount")));
/// let e = LedgerError::CreditLimit { account: "a1".into() };
/// assert_eq!((e.kind(), e.code(), e.field()), (ErrorKind::LimitExceeded, "credit_limit", None));
/// ```
pub trait Classify {
    /// The kind of failure.
    fn kind(&self) -> ErrorKind;

    /// A stable snake_case code per variant (`validation`, `stale_view`, `quota_exceeded`, …),
    /// finer than the kind; for logs, metrics and machine-readable error bodies.
    fn code(&self) -> &'static str;

    /// The path of the offending field (`lines[2].quantity`) when the input was invalid.
    fn field(&self) -> Option<&str>;

    /// Whether retrying may succeed ([`ErrorKind::is_retryable`] of the kind).
    fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

/// The three answers of [`Classify`] as a value: what a variant of a domain error is, or what
/// the error it wraps says ([`Classification::of`]). See [`Classify`] for the delegation
/// pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification<'a> {
    /// The kind.
    pub kind: ErrorKind,
    /// The stable code.
    pub code: &'static str,
    /// The offending field, for invalid input.
    pub field: Option<&'a str>,
}

impl<'a> Classification<'a> {
    /// A classification without a field.
    pub const fn new(kind: ErrorKind, code: &'static str) -> Classification<'a> {
        Classification {
            kind,
            code,
            field: None,
        }
    }

    /// Invalid input on `field` with `code`.
    pub const fn invalid(code: &'static str, field: &'a str) -> Classification<'a> {
        Classification {
            kind: ErrorKind::InvalidInput,
            code,
            field: Some(field),
        }
    }

    /// What `error` says of itself (delegation to a wrapped error).
    pub fn of<E: Classify + ?Sized>(error: &'a E) -> Classification<'a> {
        Classification {
            kind: error.kind(),
            code: error.code(),
            field: error.field(),
        }
    }
}

impl Classify for Classification<'_> {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
    fn code(&self) -> &'static str {
        self.code
    }
    fn field(&self) -> Option<&str> {
        self.field
    }
}

impl<T: Classify + ?Sized> Classify for &T {
    fn kind(&self) -> ErrorKind {
        (**self).kind()
    }
    fn code(&self) -> &'static str {
        (**self).code()
    }
    fn field(&self) -> Option<&str> {
        (**self).field()
    }
    fn is_retryable(&self) -> bool {
        (**self).is_retryable()
    }
}

impl<T: Classify + ?Sized> Classify for Box<T> {
    fn kind(&self) -> ErrorKind {
        (**self).kind()
    }
    fn code(&self) -> &'static str {
        (**self).code()
    }
    fn field(&self) -> Option<&str> {
        (**self).field()
    }
    fn is_retryable(&self) -> bool {
        (**self).is_retryable()
    }
}

impl<T: Classify + ?Sized> Classify for std::sync::Arc<T> {
    fn kind(&self) -> ErrorKind {
        (**self).kind()
    }
    fn code(&self) -> &'static str {
        (**self).code()
    }
    fn field(&self) -> Option<&str> {
        (**self).field()
    }
    fn is_retryable(&self) -> bool {
        (**self).is_retryable()
    }
}

impl Error {
    /// A validation error on `field` for `reason`.
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A not-found error for an item of `kind` with `id`.
    pub fn not_found(kind: impl Into<String>, id: impl fmt::Display) -> Self {
        Error::NotFound {
            kind: kind.into(),
            id: id.to_string(),
        }
    }

    /// A limit-exceeded error.
    pub fn limit_exceeded(
        limit: impl Into<String>,
        requested: impl fmt::Display,
        available: impl fmt::Display,
    ) -> Self {
        Error::LimitExceeded {
            limit: limit.into(),
            requested: requested.to_string(),
            available: available.to_string(),
        }
    }

    /// A backend failure with an underlying source error.
    pub fn backend(
        backend: impl Into<String>,
        retryable: bool,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Backend {
            backend: backend.into(),
            message: source.to_string(),
            retryable,
            source: Some(Box::new(source)),
        }
    }

    /// A backend failure described by a message only.
    pub fn backend_message(
        backend: impl Into<String>,
        retryable: bool,
        message: impl Into<String>,
    ) -> Self {
        Error::Backend {
            backend: backend.into(),
            message: message.into(),
            retryable,
            source: None,
        }
    }

    /// An invalid state transition.
    pub fn invalid_state(
        entity: impl Into<String>,
        from: impl fmt::Display,
        to: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidState {
            entity: entity.into(),
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.into(),
        }
    }

    /// Prefix the field path of a validation error, e.g. `lines[2]` + `quantity`.
    ///
    /// Other variants are returned unchanged.
    #[must_use]
    pub fn in_field(self, parent: impl fmt::Display) -> Self {
        match self {
            Error::Validation { field, reason } => Error::Validation {
                field: join_path(&parent.to_string(), &field),
                reason,
            },
            other => other,
        }
    }

    /// A [`Error::OutcomeUnknown`] for `operation` with a message.
    pub fn outcome_unknown(operation: impl Into<String>, message: impl Into<String>) -> Self {
        Error::OutcomeUnknown {
            operation: operation.into(),
            message: message.into(),
            source: None,
        }
    }

    /// A [`Error::OutcomeUnknown`] for `operation` caused by `source`.
    pub fn outcome_unknown_from(
        operation: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::OutcomeUnknown {
            operation: operation.into(),
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// Whether a retry of the same call may succeed: conflicts and stale views after a re-read,
    /// rate limits after a wait, retryable backend failures (nothing was written), and unknown
    /// outcomes with the same idempotency key. The same as [`Classify::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        Classify::is_retryable(self)
    }

    /// A short, stable, machine-readable code for the variant (for logs and HTTP mapping). The
    /// same as [`Classify::code`].
    pub fn code(&self) -> &'static str {
        Classify::code(self)
    }

    /// The kind of failure. The same as [`Classify::kind`].
    pub fn kind(&self) -> ErrorKind {
        Classify::kind(self)
    }
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Validation { .. } => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } | Error::StaleView { .. } => ErrorKind::Conflict,
            Error::TenantIsolation { .. } => ErrorKind::Forbidden,
            Error::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            Error::IdempotencyMismatch { .. } => ErrorKind::IdempotencyMismatch,
            Error::InvalidState { .. } => ErrorKind::InvalidState,
            Error::Backend {
                retryable: true, ..
            } => ErrorKind::Unavailable,
            Error::Backend {
                retryable: false, ..
            }
            | Error::Serialization { .. } => ErrorKind::Internal,
            Error::Timeout { .. } | Error::OutcomeUnknown { .. } => ErrorKind::OutcomeUnknown,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "validation",
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::StaleView { .. } => "stale_view",
            Error::TenantIsolation { .. } => "tenant_isolation",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::IdempotencyMismatch { .. } => "idempotency_mismatch",
            Error::InvalidState { .. } => "invalid_state",
            Error::Backend { .. } => "backend",
            Error::Timeout { .. } => "timeout",
            Error::OutcomeUnknown { .. } => "outcome_unknown",
            Error::Serialization { .. } => "serialization",
            Error::RateLimited { .. } => "rate_limited",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Error::Validation { field, .. } => Some(field),
            _ => None,
        }
    }
}

fn retry_hint(after: &Option<Duration>) -> String {
    match after {
        Some(d) => format!("; retry after {} ms", d.as_millis()),
        None => String::new(),
    }
}

/// Quote outside input for an error message: at most [`QUOTE_LIMIT`] characters, Debug-escaped
/// (control characters shown as escapes), with `…` when cut. A 50 MB input gives a short
/// message.
///
/// ```
/// use marketingforce_core::error::quote_input;
///
/// assert_eq!(quote_input("12.5x"), "\"12.5x\"");
/// let long = "9".repeat(10_000);
/// let q = quote_input(&long);
/// assert!(q.chars().count() < 80 && q.ends_with('…'));
/// ```
pub fn quote_input(input: &str) -> String {
    match input.char_indices().nth(QUOTE_LIMIT) {
        None => format!("{input:?}"),
        Some((cut, _)) => format!("{:?}…", &input[..cut]),
    }
}

/// How many characters of outside input an error message quotes at most ([`quote_input`]).
pub const QUOTE_LIMIT: usize = 64;

/// Why a JSON document did not decode, for an error message: serde_json's words and the
/// position, without the values it quotes from the document — a stored record, a journal
/// payload or an idempotent response may hold personal data. Each quoted value becomes `…`;
/// what the type expected, and the names of missing or duplicate fields, stay.
///
/// ```
/// use marketingforce_core::error::json_reason;
///
/// let e = serde_json::from_str::<u64>(r#""13812345678""#).unwrap_err();
/// assert_eq!(
///     json_reason(&e),
///     r#"invalid type: string "…", expected u64 at line 1 column 13"#
/// );
/// ```
pub fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    // What serde found comes first; what the type expected (its own words) after.
    let (found, expected) = match text.split_once(", expected ") {
        Some((found, expected)) => (found, Some(expected)),
        None => (text.as_str(), None),
    };
    let names_a_field = found.starts_with("missing field") || found.starts_with("duplicate field");
    let mut out = elide_quoted(found, !names_a_field);
    if let Some(expected) = expected {
        out.push_str(", expected ");
        out.push_str(expected);
    }
    out
}

/// `text` with the contents of every double-quoted (Debug-escaped) string, and with `backticks`
/// of every backtick-quoted token, replaced by `…`.
fn elide_quoted(text: &str, backticks: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (false, '"') => break,
                        (false, '\\') => escaped = true,
                        _ => escaped = false,
                    }
                }
                out.push_str("\"…\"");
            }
            '`' if backticks => {
                chars.by_ref().find(|c| *c == '`');
                out.push_str("`…`");
            }
            c => out.push(c),
        }
    }
    out
}

fn join_path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else if child.is_empty() {
        parent.to_string()
    } else if child.starts_with('[') {
        format!("{parent}{child}")
    } else {
        format!("{parent}.{child}")
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Serialization {
            what: "JSON".into(),
            reason: json_reason(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_compose() {
        let e = Error::validation("quantity", "must be positive")
            .in_field("[2]")
            .in_field("lines");
        match e {
            Error::Validation { field, .. } => assert_eq!(field, "lines[2].quantity"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn messages_name_what_and_why() {
        let e = Error::validation("currency", "unknown code \"XYZ\"");
        assert_eq!(e.to_string(), "invalid currency: unknown code \"XYZ\"");
        assert_eq!(e.code(), "validation");
        let c = Error::Conflict {
            collection: "leads".into(),
            key: "k".into(),
            expected: VersionState::Version(3),
            actual: VersionState::Version(4),
        };
        assert!(c
            .to_string()
            .contains("expected version 3, found version 4"));
        assert!(c.is_retryable());
    }

    fn every_variant() -> Vec<Error> {
        vec![
            Error::validation("f", "r"),
            Error::not_found("lead", "l1"),
            Error::Conflict {
                collection: "c".into(),
                key: "k".into(),
                expected: VersionState::Absent,
                actual: VersionState::Version(1),
            },
            Error::StaleView {
                journal: "usage".into(),
                expected: 4,
                actual: 6,
            },
            Error::TenantIsolation {
                what: "w".into(),
                owner: "a".into(),
                caller: "b".into(),
            },
            Error::limit_exceeded("seats", 3, 2),
            Error::IdempotencyMismatch { key: "k".into() },
            Error::invalid_state("invoice", "settled", "draft", "settled is final"),
            Error::backend_message("postgres", true, "connection refused"),
            Error::backend_message("postgres", false, "schema is newer"),
            Error::Timeout {
                operation: "commit".into(),
            },
            Error::outcome_unknown("postgres commit", "connection reset"),
            Error::Serialization {
                what: "w".into(),
                reason: "r".into(),
            },
            Error::RateLimited {
                what: "platform".into(),
                retry_after: Some(Duration::from_millis(1500)),
            },
        ]
    }

    #[test]
    fn every_variant_is_classified_consistently() {
        use ErrorKind::*;
        let expected = [
            (InvalidInput, "validation"),
            (NotFound, "not_found"),
            (Conflict, "conflict"),
            (Conflict, "stale_view"),
            (Forbidden, "tenant_isolation"),
            (LimitExceeded, "limit_exceeded"),
            (IdempotencyMismatch, "idempotency_mismatch"),
            (InvalidState, "invalid_state"),
            (Unavailable, "backend"),
            (Internal, "backend"),
            (OutcomeUnknown, "timeout"),
            (OutcomeUnknown, "outcome_unknown"),
            (Internal, "serialization"),
            (RateLimited, "rate_limited"),
        ];
        let errors = every_variant();
        assert_eq!(errors.len(), expected.len());
        for (e, (kind, code)) in errors.iter().zip(expected) {
            assert_eq!((e.kind(), e.code()), (kind, code), "{e}");
            // The inherent methods and the trait agree, also through a trait object.
            let dynamic: &dyn Classify = e;
            assert_eq!(dynamic.kind(), kind);
            assert_eq!(e.is_retryable(), kind.is_retryable(), "{e}");
            assert_eq!(Classification::of(e).code, code);
            assert_eq!(e.field().is_some(), kind == InvalidInput, "{e}");
        }
    }

    #[test]
    fn kinds_name_themselves_and_say_whether_to_retry() {
        let retryable: Vec<_> = ErrorKind::ALL
            .iter()
            .filter(|k| k.is_retryable())
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            retryable,
            ["conflict", "rate_limited", "unavailable", "outcome_unknown"]
        );
        for k in ErrorKind::ALL {
            assert_eq!(k.to_string(), k.as_str());
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), k);
        }
    }

    #[test]
    fn new_variants_say_what_to_do() {
        let stale = Error::StaleView {
            journal: "usage".into(),
            expected: 4,
            actual: 6,
        };
        let m = stale.to_string();
        assert!(
            m.contains("behind") && m.contains("catch up") && m.contains("6"),
            "{m}"
        );
        let unknown = Error::outcome_unknown("sqlite commit", "disk I/O error").to_string();
        assert!(unknown.contains("may or may not") && unknown.contains("same idempotency key"));
        let limited = Error::RateLimited {
            what: "oceanengine".into(),
            retry_after: Some(Duration::from_millis(1500)),
        };
        assert_eq!(
            limited.to_string(),
            "oceanengine is rate limited; retry after 1500 ms"
        );
        let timeout = Error::Timeout {
            operation: "commit".into(),
        };
        assert!(timeout.to_string().contains("may or may not"));
    }

    #[test]
    fn quotes_are_short() {
        let huge = "1".repeat(1_000_000);
        let q = quote_input(&huge);
        assert_eq!(q.chars().count(), QUOTE_LIMIT + 3);
        assert!(q.ends_with("\"…"));
        assert_eq!(quote_input("a\u{1b}b"), "\"a\\u{1b}b\"");
        let wide = "价".repeat(100);
        assert!(quote_input(&wide).ends_with('…'));
    }
}
