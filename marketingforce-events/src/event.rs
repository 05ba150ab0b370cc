//! [`OutboxEvent`]: one stored event as a sink receives it.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use marketingforce_core::error::{json_reason, Error, Result};
use marketingforce_core::events::{check_event_name, outbox_lines, EventEnvelope, EventId};
use marketingforce_core::storage::JournalEntry;
use marketingforce_core::tenant::TenantId;
use serde::Deserialize;

/// One event of a tenant's outbox, as a sink receives it: its place in the outbox (the entry's
/// sequence number and its line in the entry: an entry holds the events of one commit), the
/// envelope's header fields, and the envelope's stored JSON — the exact bytes every delivery
/// carries (sinks never re-encode it, so every redelivery of an event is byte-identical).
#[derive(Clone)]
pub struct OutboxEvent {
    seq: u64,
    line: u32,
    id: EventId,
    name: String,
    version: u32,
    tenant: TenantId,
    occurred_at: DateTime<Utc>,
    body: Bytes,
}

impl fmt::Debug for OutboxEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body is left out: payloads carry no raw personal data, but logs need not hold them.
        f.debug_struct("OutboxEvent")
            .field("seq", &self.seq)
            .field("line", &self.line)
            .field("id", &self.id)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("tenant", &self.tenant)
            .field("occurred_at", &self.occurred_at)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// The envelope's header fields, read without decoding the payload into a value.
#[derive(Deserialize)]
struct Head<'a> {
    id: EventId,
    #[serde(borrow)]
    name: Cow<'a, str>,
    version: u32,
    tenant: TenantId,
    occurred_at: DateTime<Utc>,
}

impl OutboxEvent {
    /// The events stored in `entry` of `tenant`'s outbox, one result per line, in order
    /// (see [`OUTBOX_JOURNAL`](marketingforce_core::events::OUTBOX_JOURNAL)). The bodies
    /// share the entry's bytes.
    ///
    /// Each line is [`Error::Serialization`] when it is not an envelope (the reason quotes none
    /// of its values), [`Error::TenantIsolation`] when it names another tenant, or a validation
    /// error on `event.name` when its name is not an event name
    /// ([`check_event_name`]).
    pub fn decode_entry(tenant: &TenantId, entry: JournalEntry) -> Vec<Result<OutboxEvent>> {
        let (seq, payload) = (entry.seq, Bytes::from(entry.payload));
        line_ranges(&payload)
            .map(|(line, range)| OutboxEvent::from_line(tenant, seq, line, payload.slice(range)))
            .collect()
    }

    /// The event on line `line` of `entry` of `tenant`'s outbox, if the entry has that line
    /// (only that line is decoded).
    pub(crate) fn in_entry(
        tenant: &TenantId,
        entry: JournalEntry,
        line: u32,
    ) -> Option<Result<OutboxEvent>> {
        let (seq, payload) = (entry.seq, Bytes::from(entry.payload));
        let (_, range) = line_ranges(&payload).find(|(l, _)| *l == line)?;
        Some(OutboxEvent::from_line(
            tenant,
            seq,
            line,
            payload.slice(range),
        ))
    }

    fn from_line(tenant: &TenantId, seq: u64, line: u32, body: Bytes) -> Result<OutboxEvent> {
        let what = || format!("outbox entry #{seq}, line {line}");
        let head: Head<'_> = serde_json::from_slice(&body).map_err(|e| Error::Serialization {
            what: what(),
            reason: json_reason(&e),
        })?;
        if head.tenant != *tenant {
            marketingforce_core::tenant::Tenant::ensure_same(tenant, &head.tenant, &what())?;
        }
        // The name becomes a broker subject and a header: a wildcard, a space or a line break
        // in it is refused here, not by the broker on every retry.
        check_event_name(&head.name, "event.name")?;
        let (id, name, version, occurred_at) = (
            head.id,
            head.name.into_owned(),
            head.version,
            head.occurred_at,
        );
        Ok(OutboxEvent {
            seq,
            line,
            id,
            name,
            version,
            tenant: *tenant,
            occurred_at,
            body,
        })
    }

    /// The sequence number of the event's entry in its tenant's outbox (1, 2, 3, … in commit
    /// order; the events of one commit share it).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The event's line in its entry (0, 1, …): with [`seq`](Self::seq), its place in the
    /// tenant's outbox — events are in order of (seq, line).
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The event's id.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// The event's name (`crm.lead.captured`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The payload's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// When the fact happened.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }

    /// The envelope's JSON, as stored: the body of every delivery.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The whole envelope, decoded.
    ///
    /// # Errors
    /// [`Error::Serialization`] when the body does not decode.
    pub fn envelope(&self) -> Result<EventEnvelope> {
        EventEnvelope::from_json(&self.body)
    }
}

/// Each line of an outbox entry (see [`outbox_lines`]) with its number and its byte range.
fn line_ranges(payload: &[u8]) -> impl Iterator<Item = (u32, std::ops::Range<usize>)> + '_ {
    let mut start = 0;
    outbox_lines(payload).enumerate().map(move |(line, bytes)| {
        let range = start..start + bytes.len();
        start = range.end + 1;
        (u32::try_from(line).unwrap_or(u32::MAX), range)
    })
}
