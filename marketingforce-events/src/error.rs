//! [`EventsError`]: what can go wrong relaying events, and how it classifies.

use marketingforce_core::error::{Classification, Classify, Error, ErrorKind};
use marketingforce_core::tenant::TenantId;

use crate::sink::SinkFailure;

/// Errors of the relay, the sinks' setup and replays. Business writes never see these: the
/// outbox is written with the change, and delivery happens later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// A storage, validation or serialization error from the core.
    #[error(transparent)]
    Core(#[from] Error),

    /// This relay's lease on a tenant's cursor was taken over by another relay (its own had
    /// expired): the cursor was not moved, and the other relay delivers the tenant's events now.
    #[error("the relay lost its lease on sink {sink} for tenant {tenant} (epoch {epoch}); another relay delivers this tenant's events now")]
    LeaseLost {
        /// The tenant.
        tenant: TenantId,
        /// The sink.
        sink: String,
        /// The lease epoch this relay held.
        epoch: u64,
    },

    /// A sink could not deliver (during a replay, which reports failures to its caller instead
    /// of retrying).
    #[error("sink {sink} could not deliver: {failure}")]
    Delivery {
        /// The sink.
        sink: String,
        /// What the sink said.
        failure: SinkFailure,
    },

    /// A broker or endpoint could not be set up (connecting to NATS, creating the stream,
    /// building the HTTP client). Nothing was delivered.
    #[error("{what} could not be set up: {message}")]
    Setup {
        /// What was being set up (`nats connection`, `jetstream stream MARKETINGFORCE`, …).
        what: String,
        /// What went wrong (never a secret).
        message: String,
    },
}

impl EventsError {
    fn classification(&self) -> Classification<'_> {
        match self {
            EventsError::Core(e) => Classification::of(e),
            EventsError::LeaseLost { .. } => Classification::new(ErrorKind::Conflict, "lease_lost"),
            EventsError::Delivery { .. } => {
                Classification::new(ErrorKind::Unavailable, "delivery_failed")
            }
            EventsError::Setup { .. } => {
                Classification::new(ErrorKind::Unavailable, "setup_failed")
            }
        }
    }
}

impl Classify for EventsError {
    fn kind(&self) -> ErrorKind {
        self.classification().kind
    }
    fn code(&self) -> &'static str {
        self.classification().code
    }
    fn field(&self) -> Option<&str> {
        self.classification().field
    }
}
