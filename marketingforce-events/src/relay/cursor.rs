//! The per-(tenant, sink) cursor record, which is also the lease: position, holder, epoch,
//! expiry, retry state. Its store version is the fencing token.

use chrono::{DateTime, Utc};
use marketingforce_core::error::Result;
use marketingforce_core::storage::{Entity, Store};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

/// The collection of cursor records, in each tenant's scope, keyed by sink id.
pub(crate) const CURSOR_COLLECTION: &str = "events.relay_cursors";

/// The stored cursor and lease of one sink in one tenant's scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CursorRecord {
    pub sink: String,
    /// The last outbox entry wholly delivered (or dead-lettered): its sequence number.
    pub position: u64,
    /// Lines of the entry after `position` already delivered (or dead-lettered): a page may
    /// end inside an entry, which holds the events of one commit. Absent in records written
    /// before entries held several events.
    #[serde(default)]
    pub line: u32,
    /// Incremented each time another relay takes the lease.
    pub epoch: u64,
    /// The relay holding the lease, if any.
    pub holder: Option<String>,
    /// Until when the holder's lease runs, unless renewed.
    pub lease_until: DateTime<Utc>,
    /// Failed tries of the next event (line `line` of entry `position + 1`).
    pub attempts: u32,
    /// Not before this time is the next event tried again.
    pub retry_at: Option<DateTime<Utc>>,
    /// What the last failure was (a status, an error class; never a payload or a secret).
    pub last_failure: Option<String>,
    /// Events delivered through this cursor, in all.
    pub delivered_total: u64,
    /// Events dead-lettered through this cursor, in all.
    pub dead_lettered_total: u64,
}

impl Entity for CursorRecord {
    const COLLECTION: &'static str = CURSOR_COLLECTION;
    fn key(&self) -> String {
        self.sink.clone()
    }
}

impl CursorRecord {
    pub(crate) fn fresh(sink: &str) -> CursorRecord {
        CursorRecord {
            sink: sink.to_string(),
            position: 0,
            line: 0,
            epoch: 0,
            holder: None,
            lease_until: DateTime::<Utc>::UNIX_EPOCH,
            attempts: 0,
            retry_at: None,
            last_failure: None,
            delivered_total: 0,
            dead_lettered_total: 0,
        }
    }

    /// Until when another relay holds the lease, if one does.
    pub fn held_by_other(&self, me: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.holder {
            Some(h) if h != me && self.lease_until > now => Some(self.lease_until),
            _ => None,
        }
    }

    /// Whether `me` holds the lease with at least `margin` left.
    pub fn held_by(&self, me: &str, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.holder.as_deref() == Some(me) && self.lease_until > now + margin
    }

    /// The record with the lease taken (or renewed) by `me` until `until`.
    pub fn acquired(&self, me: &str, until: DateTime<Utc>) -> CursorRecord {
        let mut next = self.clone();
        if next.holder.as_deref() != Some(me) {
            next.epoch += 1;
            next.holder = Some(me.to_string());
        }
        next.lease_until = until;
        next
    }
}

/// A cursor record as read, with its store version (0 when it does not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub record: CursorRecord,
    pub version: u64,
}

impl Cursor {
    /// Read the cursor of `sink` in `tenant`'s scope (a fresh one at position 0 if absent).
    pub async fn load(store: &dyn Store, tenant: &TenantId, sink: &str) -> Result<Cursor> {
        match store.get(tenant, CURSOR_COLLECTION, sink).await? {
            Some(record) => Ok(Cursor {
                record: serde_json::from_slice(&record.value).map_err(|e| {
                    marketingforce_core::Error::Serialization {
                        what: format!("{CURSOR_COLLECTION}/{sink}"),
                        reason: marketingforce_core::error::json_reason(&e),
                    }
                })?,
                version: record.version,
            }),
            None => Ok(Cursor {
                record: CursorRecord::fresh(sink),
                version: 0,
            }),
        }
    }

    /// The write expectation that fences a commit on this read.
    pub fn expect(&self) -> marketingforce_core::storage::Expect {
        if self.version == 0 {
            marketingforce_core::storage::Expect::Absent
        } else {
            marketingforce_core::storage::Expect::Version(self.version)
        }
    }
}

impl CursorRecord {
    /// Move the cursor past the event at (`seq`, `line`), an entry of `lines` lines: to the
    /// entry's end when it was the entry's last line.
    pub fn pass(&mut self, seq: u64, line: u32, lines: u32) {
        if line + 1 >= lines {
            self.position = seq;
            self.line = 0;
        } else {
            self.position = seq - 1;
            self.line = line + 1;
        }
    }

    /// Whether the event at (`seq`, `line`) is still ahead of the cursor.
    pub fn is_ahead(&self, seq: u64, line: u32) -> bool {
        (seq, line) >= (self.position + 1, self.line)
    }
}
