//! The core error type shared by every crate of the SDK.
//!
//! Each variant says *what* went wrong and *on what*: a validation error names the field path
//! and the reason, a conflict names the record and the versions involved, a backend error keeps
//! its source. Domain crates wrap this type in their own `#[non_exhaustive]` enums.

use std::fmt;

/// Result alias used across the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error source carried by [`Error::Backend`].
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

    /// A backend (database, HTTP platform, model server, external process) failed.
    #[error("{backend} failed: {message}")]
    Backend {
        /// Which backend (`sqlite`, `postgres`, `http`, …).
        backend: String,
        /// What it said.
        message: String,
        /// Whether retrying the same call may succeed.
        retryable: bool,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// A call did not complete in time; whether it took effect is unknown.
    #[error("{operation} timed out")]
    Timeout {
        /// The operation that timed out.
        operation: String,
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

    /// Whether a retry of the same call may succeed (timeouts, retryable backend failures,
    /// optimistic-concurrency conflicts after a re-read).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. }
                | Error::Backend {
                    retryable: true,
                    ..
                }
                | Error::Conflict { .. }
        )
    }

    /// A short, stable, machine-readable code for the variant (for logs and HTTP mapping).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "validation",
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::TenantIsolation { .. } => "tenant_isolation",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::IdempotencyMismatch { .. } => "idempotency_mismatch",
            Error::InvalidState { .. } => "invalid_state",
            Error::Backend { .. } => "backend",
            Error::Timeout { .. } => "timeout",
            Error::Serialization { .. } => "serialization",
        }
    }
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
            reason: e.to_string(),
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
}
