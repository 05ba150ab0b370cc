//! [`OutboxEvent`]: one stored event as a sink receives it.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use marketingforce_core::error::{Error, Result};
use marketingforce_core::events::{EventEnvelope, EventId};
use marketingforce_core::storage::JournalEntry;
use marketingforce_core::tenant::TenantId;
use serde::Deserialize;

/// One event of a tenant's outbox, as a sink receives it: the outbox sequence number, the
/// envelope's header fields, and the envelope's stored JSON — the exact bytes every delivery
/// carries (sinks never re-encode it, so every redelivery of an event is byte-identical).
#[derive(Clone)]
pub struct OutboxEvent {
    seq: u64,
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
    /// The event stored as `entry` of `tenant`'s outbox.
    ///
    /// # Errors
    /// [`Error::Serialization`] when the entry is not an envelope, or
    /// [`Error::TenantIsolation`] when it names another tenant.
    pub fn from_entry(tenant: &TenantId, entry: JournalEntry) -> Result<OutboxEvent> {
        let head: Head<'_> =
            serde_json::from_slice(&entry.payload).map_err(|e| Error::Serialization {
                what: format!("outbox entry #{}", entry.seq),
                reason: e.to_string(),
            })?;
        marketingforce_core::tenant::Tenant::ensure_same(
            tenant,
            &head.tenant,
            &format!("outbox entry #{}", entry.seq),
        )?;
        let (id, name, version, occurred_at) = (
            head.id,
            head.name.into_owned(),
            head.version,
            head.occurred_at,
        );
        Ok(OutboxEvent {
            seq: entry.seq,
            id,
            name,
            version,
            tenant: *tenant,
            occurred_at,
            body: Bytes::from(entry.payload),
        })
    }

    /// The event's sequence number in its tenant's outbox (1, 2, 3, … in commit order).
    pub fn seq(&self) -> u64 {
        self.seq
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
