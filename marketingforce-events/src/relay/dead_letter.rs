//! Dead letters: events a sink gave up on, kept in the tenant's scope for inspection and
//! redelivery.

use chrono::{DateTime, Utc};
use marketingforce_core::events::EventId;
use marketingforce_core::storage::{Entity, IndexEntry};
use serde::{Deserialize, Serialize};

/// The collection of dead letters, in each tenant's scope, keyed `<sink>/<seq>`.
pub(crate) const DEAD_LETTER_COLLECTION: &str = "events.dead_letters";
/// The index of dead letters by sink.
pub(crate) const BY_SINK: &str = "sink";

/// An event a sink did not accept after its retry policy's tries (or that can never be
/// delivered): the relay moved past it so later events flow, and kept this record. Redeliver
/// with [`Relay::redeliver_dead_letters`](crate::Relay::redeliver_dead_letters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The sink that gave up.
    pub sink: String,
    /// The event's outbox sequence number.
    pub seq: u64,
    /// The event's id (absent when the stored entry could not be decoded).
    pub event_id: Option<EventId>,
    /// The event's name (absent when the stored entry could not be decoded).
    pub name: Option<String>,
    /// How many times delivery was tried.
    pub attempts: u32,
    /// The last failure (a status, an error class; never a payload or a secret).
    pub reason: String,
    /// When the relay gave up.
    pub dead_at: DateTime<Utc>,
}

/// The stored form (private, so dead letters are written only by the relay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredDeadLetter(pub DeadLetter);

impl Entity for StoredDeadLetter {
    const COLLECTION: &'static str = DEAD_LETTER_COLLECTION;
    fn key(&self) -> String {
        dead_letter_key(&self.0.sink, self.0.seq)
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new(BY_SINK, &self.0.sink)]
    }
}

/// `<sink>/<seq, 20 digits>`: key order is sequence order within a sink.
pub(crate) fn dead_letter_key(sink: &str, seq: u64) -> String {
    format!("{sink}/{seq:020}")
}
