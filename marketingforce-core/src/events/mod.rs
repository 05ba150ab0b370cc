//! Domain events out: typed, versioned facts written to a per-tenant **outbox** in the same
//! atomic [`Batch`](crate::storage::Batch) as the state change they describe.
//!
//! Services that embed the SDK, and other teams' services elsewhere, react to what happens
//! inside it: a lead captured, a quota at 80%, a settlement closed. Each such fact is a
//! [`DomainEvent`] — a serde + JSON Schema payload with a dotted [`NAME`](DomainEvent::NAME)
//! (`crm.lead.captured`) and a [`VERSION`](DomainEvent::VERSION) — carried in an
//! [`EventEnvelope`] (event id, name, version, tenant, when it occurred, what caused it).
//!
//! ## The outbox: no event without the change, no change without the event
//!
//! A service appends the envelope to the tenant's outbox journal ([`OUTBOX_JOURNAL`]) **in the
//! batch that commits the change** ([`Batch::append_event`](crate::storage::Batch::append_event),
//! or [`Outbox::append`]). The store commits the batch all or nothing, on every backend, so an
//! event exists exactly when its change does. A batch's events are stored together, as one
//! journal entry of newline-separated envelopes (up to [`OUTBOX_ENTRY_BYTES`]), so a commit of
//! a hundred changes and their hundred events writes one outbox row: the entry's sequence
//! number and the event's line in it order the event among the tenant's events. Nothing leaves the process at commit time: a relay (crate
//! `marketingforce-events`) reads the outbox from a durable cursor and delivers it to NATS
//! JetStream or to webhooks, at least once, in order per tenant. A broker that is down never
//! fails or slows a business write.
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::events::{DomainEvent, EventContext, Outbox, OUTBOX_JOURNAL};
//! use marketingforce_core::storage::{Batch, Expect, MemoryStore, Store};
//! use marketingforce_core::tenant::TenantId;
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! /// A quota of a subscribed module crossed a threshold of its limit.
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
//! struct QuotaThresholdReached { meter: String, percent: u8, used: u64, limit: u64 }
//!
//! impl DomainEvent for QuotaThresholdReached {
//!     const NAME: &'static str = "modules.quota.threshold_reached";
//!     const VERSION: u32 = 1;
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let outbox = Outbox::new(&Env::new(store.clone()));
//! let tenant = TenantId::new();
//!
//! // The state change and its event, in one batch.
//! let mut batch = Batch::new();
//! batch.put("meters", "articles", br#"{"used":80}"#.to_vec(), vec![], Expect::Any);
//! let event = QuotaThresholdReached { meter: "articles".into(), percent: 80, used: 80, limit: 100 };
//! let envelope = outbox.append(&tenant, &mut batch, &event, &EventContext::new()).await?;
//! store.commit(&tenant, batch).await?;
//!
//! // One entry per commit: the batch's events, one envelope per line.
//! let entry = &store.read_journal(&tenant, OUTBOX_JOURNAL, 0, 10).await?[0];
//! let stored = marketingforce_core::events::EventEnvelope::all_from_entry(&entry.payload)?;
//! assert_eq!(stored, [envelope]);
//! assert_eq!(stored[0].name(), "modules.quota.threshold_reached");
//! assert_eq!(stored[0].decode::<QuotaThresholdReached>()?, event);
//! # Ok::<(), marketingforce_core::Error>(()) }).unwrap();
//! ```
//!
//! ## Defining a crate's events
//!
//! - One Rust type per business fact, named for the fact in the past tense (`LeadCaptured`,
//!   `SettlementClosed`), deriving `Serialize`, `Deserialize` and `JsonSchema`, with a doc
//!   comment (it becomes the schema's description) and [`DomainEvent`] implemented.
//! - [`NAME`](DomainEvent::NAME) is `<area>.<entity>.<fact>`: lowercase segments of
//!   `[a-z0-9_]` joined by dots, at least three, at most 64 characters
//!   ([`check_event_name`]); the first segment is the crate's area (`crm`, `modules`, `ads`,
//!   `content`, `sites`). Names are subjects on the broker (`mf.<tenant>.<name>`), so they are
//!   stable: never rename, add a new event instead.
//! - [`VERSION`](DomainEvent::VERSION) starts at 1. Adding an optional field keeps the version;
//!   removing, renaming or retyping a field, or changing a field's meaning, is a new version
//!   (emit both versions while consumers move).
//! - **No raw personal data in payloads**: no mobile numbers, emails, names, ID numbers or
//!   message text. Refer to people by id (`lead_…`, `staff_…`) or by a blind-index digest, or
//!   carry a masked form (`138****5678`). Events leave the process and are kept by brokers and
//!   receivers that erasure cannot reach.
//! - Payloads are small facts, not documents: at most [`MAX_PAYLOAD_BYTES`] of JSON, refused
//!   when the envelope is built ([`EventEnvelope::new`]), never at delivery.
//! - Each crate lists its events in an [`EventCatalog`] (a `pub fn event_catalog()`), from
//!   which the committed `schemas/events/` files are generated and checked for staleness
//!   ([`schema_files`]).

mod catalog;
mod encode;
mod outbox;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

pub use catalog::{schema_files, EventCatalog, EventType, SchemaFile};
pub use outbox::{
    outbox_lines, Outbox, OUTBOX_ENTRY_BYTES, OUTBOX_JOURNAL, REGISTRY_COLLECTION,
    REGISTRY_JOURNAL, REGISTRY_SCOPE,
};

use crate::entity_id;
use crate::error::{json_reason, quote_input, Error, Result};
use crate::tenant::TenantId;

/// The largest event payload, in bytes of its JSON encoding (64 KiB). Events are facts that
/// refer to records by id, not copies of the records; a larger payload is refused when the
/// envelope is built.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

entity_id! {
    /// Identifies one event (UUIDv7, so ids sort by creation time). Brokers and receivers
    /// deduplicate redeliveries by it (NATS `Nats-Msg-Id`, the consumer's inbox).
    pub struct EventId("evt");
}

/// A typed, versioned business fact that leaves the process (see the [module docs](self) for
/// naming, versioning and what a payload may hold).
pub trait DomainEvent: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The event's name, `<area>.<entity>.<fact>` (e.g. `crm.lead.captured`).
    const NAME: &'static str;
    /// The payload's schema version, from 1.
    const VERSION: u32;
}

/// Whether `name` follows [`check_event_name`]'s rules, in a constant: each event type's name is
/// checked once, when it is compiled, not each time an envelope is built.
const fn is_event_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.len() > 64 {
        return false;
    }
    let (mut segments, mut at_start, mut i) = (1, true, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            if at_start {
                return false;
            }
            segments += 1;
            at_start = true;
        } else if at_start {
            if !b.is_ascii_lowercase() {
                return false;
            }
            at_start = false;
        } else if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return false;
        }
        i += 1;
    }
    !at_start && segments >= 3
}

/// The compile-time check of an event type's name.
struct NameOf<E>(std::marker::PhantomData<E>);

impl<E: DomainEvent> NameOf<E> {
    const WELL_FORMED: bool = is_event_name(E::NAME);
}

/// Check an event name: at least three dot-separated segments of `[a-z0-9_]`, each starting
/// with a letter, at most 64 characters in all (so it is a valid NATS subject suffix and a
/// storage name).
///
/// # Errors
/// A validation error on `field` saying what is wrong.
pub fn check_event_name(name: &str, field: &str) -> Result<()> {
    let segment_ok = |s: &str| {
        s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if name.len() > 64 || name.split('.').count() < 3 || !name.split('.').all(segment_ok) {
        return Err(Error::validation(
            field,
            format!(
                "{} must be <area>.<entity>.<fact>: at least three dot-separated segments of \
                 a-z, 0-9 and '_' starting with a letter, at most 64 characters",
                quote_input(name)
            ),
        ));
    }
    Ok(())
}

/// An identifier from the caller's context that links events together — a request id, a
/// command's idempotency key, another event's id: 1–[`MAX_LEN`](ContextId::MAX_LEN) bytes of
/// visible ASCII. It travels with the event, so it must not hold personal data.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContextId(Arc<str>);

impl ContextId {
    /// The longest context id, in bytes.
    pub const MAX_LEN: usize = 200;

    /// A context id from `value`.
    ///
    /// # Errors
    /// A validation error on `context_id` when it is empty, too long, or holds anything but
    /// visible ASCII.
    pub fn new(value: impl Into<String>) -> Result<ContextId> {
        let value = value.into();
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(Error::validation(
                "context_id",
                format!("must be 1-{} bytes long", Self::MAX_LEN),
            ));
        }
        if !value.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err(Error::validation(
                "context_id",
                format!("{} must be visible ASCII", quote_input(&value)),
            ));
        }
        Ok(ContextId(Arc::from(value)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ContextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContextId({})", self.0)
    }
}

impl FromStr for ContextId {
    type Err = Error;
    fn from_str(s: &str) -> Result<ContextId> {
        ContextId::new(s)
    }
}

impl From<EventId> for ContextId {
    fn from(id: EventId) -> ContextId {
        ContextId(Arc::from(id.to_string()))
    }
}

impl Serialize for ContextId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ContextId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<ContextId, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        ContextId::new(s.into_owned()).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ContextId {
    fn schema_name() -> Cow<'static, str> {
        "ContextId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": ContextId::MAX_LEN,
            "pattern": "^[!-~]+$",
            "description": "An id linking events: a request id, a command's key, another event's id."
        })
    }
}

/// What caused an event and which flow it belongs to: the envelope's `causation_id` (the
/// command or event that directly caused it) and `correlation_id` (the flow it is part of,
/// shared by every event the flow produces).
///
/// ```
/// use marketingforce_core::events::{ContextId, EventContext};
///
/// let request: ContextId = "req-7f3a".parse().unwrap();
/// let ctx = EventContext::new().caused_by(request.clone()).correlated_with(request);
/// assert_eq!(ctx.causation_id().unwrap().as_str(), "req-7f3a");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventContext {
    causation_id: Option<ContextId>,
    correlation_id: Option<ContextId>,
}

impl EventContext {
    /// No causation or correlation.
    pub fn new() -> EventContext {
        EventContext::default()
    }

    /// The context of an event caused by `parent`: caused by the parent's id, in the parent's
    /// flow (its correlation id, or its own id when it started the flow).
    pub fn following(parent: &EventEnvelope) -> EventContext {
        EventContext {
            causation_id: Some(parent.id.into()),
            correlation_id: Some(
                parent
                    .correlation_id
                    .clone()
                    .unwrap_or_else(|| parent.id.into()),
            ),
        }
    }

    /// Set what directly caused the event.
    #[must_use]
    pub fn caused_by(mut self, id: ContextId) -> EventContext {
        self.causation_id = Some(id);
        self
    }

    /// Set the flow the event belongs to.
    #[must_use]
    pub fn correlated_with(mut self, id: ContextId) -> EventContext {
        self.correlation_id = Some(id);
        self
    }

    /// What directly caused the event.
    pub fn causation_id(&self) -> Option<&ContextId> {
        self.causation_id.as_ref()
    }

    /// The flow the event belongs to.
    pub fn correlation_id(&self) -> Option<&ContextId> {
        self.correlation_id.as_ref()
    }
}

/// One event as it is stored in the outbox and delivered: id, name, version, tenant, when it
/// occurred, causation and correlation ids, and the payload as JSON. Its JSON encoding is the
/// body of every delivery (NATS message, webhook request); its schema is committed as
/// `schemas/events/envelope.schema.json`.
///
/// Built with [`EventEnvelope::new`] (or [`Outbox::event`]), which checks the name, the
/// version and the payload size; read back with [`EventEnvelope::from_json`] and
/// [`decode`](EventEnvelope::decode).
///
/// The payload is kept as the JSON text it was encoded to: staging an event in the outbox
/// encodes the payload once (no intermediate JSON value), and [`payload`](Self::payload) parses
/// it on first use only. Two envelopes are equal when their fields and their payloads' JSON
/// values are.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EventEnvelope {
    /// The event's id (UUIDv7): deduplicate by it.
    id: EventId,
    /// The event's name (`crm.lead.captured`).
    name: Cow<'static, str>,
    /// The payload's schema version.
    version: u32,
    /// The tenant the fact belongs to.
    tenant: TenantId,
    /// When the fact happened (the service's clock), UTC.
    occurred_at: DateTime<Utc>,
    /// The command or event that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    causation_id: Option<ContextId>,
    /// The flow this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<ContextId>,
    /// The payload: the [`DomainEvent`] as JSON, at most [`MAX_PAYLOAD_BYTES`]. No raw
    /// personal data.
    #[schemars(with = "serde_json::Value")]
    payload: Box<RawValue>,
    /// The payload as a JSON value, parsed on first use of [`payload`](Self::payload).
    #[serde(skip)]
    value: OnceLock<serde_json::Value>,
}

impl PartialEq for EventEnvelope {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.version == other.version
            && self.tenant == other.tenant
            && self.occurred_at == other.occurred_at
            && self.causation_id == other.causation_id
            && self.correlation_id == other.correlation_id
            && (self.payload.get() == other.payload.get() || self.payload() == other.payload())
    }
}

impl EventEnvelope {
    /// The envelope of `event` for `tenant`, with its id, the time it occurred and its context.
    ///
    /// # Errors
    /// A validation error on `event.name` or `event.version` when the type's constants are
    /// malformed; [`Error::LimitExceeded`] (limit `event payload bytes (<name>)`) when the
    /// payload's JSON is larger than [`MAX_PAYLOAD_BYTES`]; a serialization error.
    pub fn new<E: DomainEvent>(
        tenant: TenantId,
        id: EventId,
        occurred_at: DateTime<Utc>,
        event: &E,
        context: &EventContext,
    ) -> Result<EventEnvelope> {
        if !NameOf::<E>::WELL_FORMED {
            check_event_name(E::NAME, "event.name")?;
        }
        if E::VERSION == 0 {
            return Err(Error::validation(
                "event.version",
                format!("{} has version 0; versions start at 1", E::NAME),
            ));
        }
        // Encoded once, straight into the raw value (serde_json's own output needs no
        // re-validation).
        let payload = serde_json::value::to_raw_value(event)?;
        if payload.get().len() > MAX_PAYLOAD_BYTES {
            return Err(Error::limit_exceeded(
                format!("event payload bytes ({})", E::NAME),
                payload.get().len(),
                MAX_PAYLOAD_BYTES,
            ));
        }
        Ok(EventEnvelope {
            id,
            name: Cow::Borrowed(E::NAME),
            version: E::VERSION,
            tenant,
            occurred_at,
            causation_id: context.causation_id.clone(),
            correlation_id: context.correlation_id.clone(),
            payload,
            value: OnceLock::new(),
        })
    }

    /// An envelope from its JSON encoding (a stored outbox entry, a delivery's body).
    ///
    /// # Errors
    /// [`Error::Serialization`] when `bytes` is not an envelope.
    pub fn from_json(bytes: &[u8]) -> Result<EventEnvelope> {
        serde_json::from_slice(bytes).map_err(|e| Error::Serialization {
            what: "event envelope".into(),
            reason: json_reason(&e),
        })
    }

    /// Every envelope of one outbox entry (a journal entry's payload of [`OUTBOX_JOURNAL`]),
    /// in order: the events its batch committed.
    ///
    /// # Errors
    /// [`Error::Serialization`] naming the first line that is not an envelope.
    pub fn all_from_entry(payload: &[u8]) -> Result<Vec<EventEnvelope>> {
        outbox_lines(payload)
            .enumerate()
            .map(|(line, bytes)| {
                serde_json::from_slice(bytes).map_err(|e| Error::Serialization {
                    what: format!("event envelope (line {line} of the outbox entry)"),
                    reason: json_reason(&e),
                })
            })
            .collect()
    }

    /// The JSON encoding (what the outbox stores and deliveries carry).
    ///
    /// # Errors
    /// A serialization error.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        encode::envelope_json(self)
    }

    /// [`to_json`](Self::to_json), appended to `out`.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> Result<()> {
        encode::write_envelope_json(out, self)
    }

    /// The event's id.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The payload's schema version.
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

    /// What directly caused the event.
    pub fn causation_id(&self) -> Option<&ContextId> {
        self.causation_id.as_ref()
    }

    /// The flow the event belongs to.
    pub fn correlation_id(&self) -> Option<&ContextId> {
        self.correlation_id.as_ref()
    }

    /// The payload as JSON (parsed on first use).
    pub fn payload(&self) -> &serde_json::Value {
        self.value.get_or_init(|| {
            // The text is JSON: it was encoded by serde_json or validated when read.
            serde_json::from_str(self.payload.get()).unwrap_or(serde_json::Value::Null)
        })
    }

    /// The payload's JSON text, as encoded when the event was built (what deliveries carry).
    pub fn payload_json(&self) -> &str {
        self.payload.get()
    }

    /// Whether this is an `E` (same name and version).
    pub fn is<E: DomainEvent>(&self) -> bool {
        self.name == E::NAME && self.version == E::VERSION
    }

    /// The payload as an `E`.
    ///
    /// # Errors
    /// A validation error on `event.name` when the envelope holds another event or version;
    /// [`Error::Serialization`] when the payload does not decode.
    pub fn decode<E: DomainEvent>(&self) -> Result<E> {
        if !self.is::<E>() {
            return Err(Error::validation(
                "event.name",
                format!(
                    "the envelope holds {} v{}, not {} v{}",
                    self.name,
                    self.version,
                    E::NAME,
                    E::VERSION
                ),
            ));
        }
        serde_json::from_str::<E>(self.payload.get()).map_err(|e| Error::Serialization {
            what: format!("event {} v{}", self.name, self.version),
            reason: json_reason(&e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Batch;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    struct Noted {
        lead: String,
        note: String,
    }
    impl DomainEvent for Noted {
        const NAME: &'static str = "test.lead.noted";
        const VERSION: u32 = 1;
    }

    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    struct BadName;
    impl DomainEvent for BadName {
        const NAME: &'static str = "Lead Captured";
        const VERSION: u32 = 1;
    }

    fn envelope(note: String) -> Result<EventEnvelope> {
        EventEnvelope::new(
            TenantId::new(),
            EventId::new(),
            Utc::now(),
            &Noted {
                lead: "lead_1".into(),
                note,
            },
            &EventContext::new(),
        )
    }

    /// An outbox entry or a delivery body that is not an envelope, and a payload that is not
    /// the event, are reported without the values they hold (before, serde's words quoted
    /// them: `invalid type: string "13812345678", expected u32`).
    #[test]
    fn decoding_errors_do_not_quote_the_event() {
        let good = envelope("13812345678".into()).unwrap().to_json().unwrap();
        let good = String::from_utf8(good).unwrap();
        let bad_version = good.replace(r#""version":1"#, r#""version":"13812345678""#);
        assert_ne!(bad_version, good);
        let e = EventEnvelope::from_json(bad_version.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("13812345678") && e.contains("invalid type"),
            "{e}"
        );
        let entry = format!("{good}\n{bad_version}");
        let e = EventEnvelope::all_from_entry(entry.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(!e.contains("13812345678") && e.contains("line 1"), "{e}");
        #[derive(Debug, Serialize, Deserialize, JsonSchema)]
        struct NotedAsNumber {
            lead: String,
            note: u64,
        }
        impl DomainEvent for NotedAsNumber {
            const NAME: &'static str = "test.lead.noted";
            const VERSION: u32 = 1;
        }
        let e = EventEnvelope::from_json(good.as_bytes())
            .unwrap()
            .decode::<NotedAsNumber>()
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("13812345678") && e.contains("invalid type"),
            "{e}"
        );
    }

    #[test]
    fn oversized_payloads_are_refused_at_construction() {
        assert!(envelope("x".repeat(MAX_PAYLOAD_BYTES - 100)).is_ok());
        let e = envelope("x".repeat(MAX_PAYLOAD_BYTES)).unwrap_err();
        assert!(
            matches!(&e, Error::LimitExceeded { limit, .. } if limit.contains("test.lead.noted")),
            "{e}"
        );
    }

    #[test]
    fn names_are_checked() {
        for ok in ["crm.lead.captured", "modules.quota.threshold_80", "a.b.c.d"] {
            assert!(check_event_name(ok, "n").is_ok(), "{ok}");
        }
        for bad in [
            "crm.lead",
            "crm..captured",
            "Crm.lead.x",
            "crm.lead.1x",
            "crm.lead.ca-p",
        ] {
            assert!(check_event_name(bad, "n").is_err(), "{bad}");
        }
        // The constant check agrees with the checked one.
        let long = format!("a.b.{}", "c".repeat(61));
        for name in [
            "crm.lead.captured",
            "a.b.c.d",
            "m.q.threshold_80",
            "crm.lead",
            "crm..captured",
            ".crm.lead.x",
            "crm.lead.x.",
            "Crm.lead.x",
            "crm.lead.1x",
            "crm.lead.ca-p",
            "",
            &long,
            &long[..64],
        ] {
            assert_eq!(
                is_event_name(name),
                check_event_name(name, "n").is_ok(),
                "{name}"
            );
        }
        let e = EventEnvelope::new(
            TenantId::new(),
            EventId::new(),
            Utc::now(),
            &BadName,
            &EventContext::new(),
        )
        .unwrap_err();
        assert!(matches!(&e, Error::Validation { field, .. } if field == "event.name"));
    }

    #[test]
    fn envelopes_round_trip_and_decode_only_their_type() {
        let parent = envelope("first call".into()).unwrap();
        let json = parent.to_json().unwrap();
        let back = EventEnvelope::from_json(&json).unwrap();
        assert_eq!(back, parent);
        assert!(!String::from_utf8(json).unwrap().contains("causation_id"));
        assert_eq!(back.decode::<Noted>().unwrap().note, "first call");
        assert!(back.decode::<BadName>().is_err());
        let ctx = EventContext::following(&parent);
        assert_eq!(
            ctx.correlation_id().unwrap().as_str(),
            parent.id().to_string()
        );
        assert!(ContextId::new("has space").is_err());
        assert!(ContextId::new("").is_err());
        assert!(EventEnvelope::from_json(b"{}").is_err());
    }

    #[test]
    fn a_batch_refuses_another_tenants_event() {
        let e = envelope("x".into()).unwrap();
        let mut batch = Batch::new();
        assert!(batch.append_event(&TenantId::new(), &e).is_err());
        assert!(batch.appends().is_empty());
        batch.append_event(&e.tenant().clone(), &e).unwrap();
        assert_eq!(batch.appends()[0].journal, OUTBOX_JOURNAL);
    }

    #[test]
    fn a_batchs_events_share_one_entry_in_order_up_to_the_entry_size() {
        let tenant = TenantId::new();
        let noted = |note: String| {
            let event = Noted {
                lead: "lead_1".into(),
                note,
            };
            EventEnvelope::new(
                tenant,
                EventId::new(),
                Utc::now(),
                &event,
                &EventContext::new(),
            )
            .unwrap()
        };
        let mut batch = Batch::new();
        batch.append("other.journal", b"x".to_vec());
        let small: Vec<EventEnvelope> = (0..3).map(|i| noted(format!("n{i}"))).collect();
        for e in &small {
            batch.append_event(&tenant, e).unwrap();
        }
        let outbox: Vec<_> = batch
            .appends()
            .iter()
            .filter(|a| a.journal == OUTBOX_JOURNAL)
            .collect();
        assert_eq!(outbox.len(), 1, "three small events, one entry");
        assert_eq!(outbox_lines(&outbox[0].payload).count(), 3);
        assert_eq!(
            EventEnvelope::all_from_entry(&outbox[0].payload).unwrap(),
            small
        );

        // An event that would take the entry past its size starts the next entry; the entry
        // after a large one takes small events again.
        // Sized so that it fits an entry alone, but not with a small event.
        let small_bytes = noted("after".into()).to_json().unwrap().len();
        let bare = noted(String::new()).to_json().unwrap().len();
        let large = noted("x".repeat(OUTBOX_ENTRY_BYTES - bare - small_bytes / 2));
        batch.append_event(&tenant, &large).unwrap();
        let last = noted("after".into());
        batch.append_event(&tenant, &last).unwrap();
        let entries: Vec<Vec<EventEnvelope>> = batch
            .appends()
            .iter()
            .filter(|a| a.journal == OUTBOX_JOURNAL)
            .map(|a| {
                assert!(a.payload.len() <= OUTBOX_ENTRY_BYTES);
                EventEnvelope::all_from_entry(&a.payload).unwrap()
            })
            .collect();
        assert_eq!(entries, vec![small, vec![large], vec![last]]);
        assert_eq!(batch.appends()[0].payload, b"x");
    }

    #[test]
    fn an_envelope_decoded_from_pretty_json_is_stored_on_one_line() {
        let e = envelope("pretty".into()).unwrap();
        let json = String::from_utf8(e.to_json().unwrap()).unwrap();
        let pretty = json.replace(r#""payload":{"lead""#, "\"payload\":{\n  \"lead\"");
        assert_ne!(pretty, json);
        let back = EventEnvelope::from_json(pretty.as_bytes()).unwrap();
        let mut batch = Batch::new();
        batch.append_event(&e.tenant().clone(), &back).unwrap();
        let payload = &batch.appends()[0].payload;
        assert!(!payload.contains(&b'\n'));
        assert_eq!(EventEnvelope::all_from_entry(payload).unwrap(), vec![e]);
        assert!(EventEnvelope::all_from_entry(b"{}\n").is_err());
    }
}
