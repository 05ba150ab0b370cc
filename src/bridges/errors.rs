//! One domain crate's error as another crate's core error, by classification.

use std::fmt::Display;

use marketingforce_core::{Classify, Error, ErrorKind};

/// `error` (raised by the crate serving `operation`) as a core [`Error`] of the same meaning:
/// invalid input keeps its field; an unknown outcome stays unknown (the caller retries with the
/// same key); other failures become backend errors that keep whether a retry may succeed and
/// the stable code. Messages are the source's, which never carry personal data.
pub(crate) fn reclassify<E: Classify + Display>(operation: &str, error: &E) -> Error {
    match error.kind() {
        ErrorKind::InvalidInput => {
            Error::validation(error.field().unwrap_or(operation), error.to_string())
        }
        ErrorKind::OutcomeUnknown => Error::outcome_unknown(operation, error.to_string()),
        _ => Error::backend_message(
            operation,
            error.is_retryable(),
            format!("{} ({})", error, error.code()),
        ),
    }
}
