//! Dead letters: events a sink gave up on, kept in the tenant's scope for inspection and
//! redelivery.

use chrono::{DateTime, Utc};
use marketingforce_core::events::EventId;
use marketingforce_core::storage::{Entity, IndexEntry};
use serde::{Deserialize, Serialize};

/// The collection of dead letters, in each tenant's scope, keyed `<sink>/<seq>` (line 0) or
/// `<sink>/<seq>.<line>`.
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
    /// The sequence number of the event's outbox entry.
    pub seq: u64,
    /// The event's line in its entry (an entry holds the events of one commit).
    #[serde(default)]
    pub line: u32,
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
        dead_letter_key(&self.0.sink, self.0.seq, self.0.line)
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new(BY_SINK, &self.0.sink)]
    }
}

/// `<sink>/<seq, 20 digits>` for line 0 (the key of dead letters written before entries held
/// several events), `<sink>/<seq, 20 digits>.<line, 10 digits>` after: key order is outbox
/// order within a sink.
pub(crate) fn dead_letter_key(sink: &str, seq: u64, line: u32) -> String {
    if line == 0 {
        format!("{sink}/{seq:020}")
    } else {
        format!("{sink}/{seq:020}.{line:010}")
    }
}

#[cfg(test)]
mod tests {
    use super::dead_letter_key;

    #[test]
    fn keys_sort_in_outbox_order() {
        let keys = [
            dead_letter_key("s", 1, 0),
            dead_letter_key("s", 1, 2),
            dead_letter_key("s", 1, 10),
            dead_letter_key("s", 2, 0),
            dead_letter_key("s", 10, 1),
        ];
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }
}
