//! The envelope's JSON, written in one pass: what staging an event costs on every commit that
//! emits one. The output is byte-for-byte what `serde_json` writes for the derived
//! `Serialize` of [`EventEnvelope`] (a test holds it to that), just without the generic
//! machinery: ids and the timestamp are formatted into stack buffers, the payload (already
//! JSON) is copied.

use chrono::{DateTime, Datelike, Timelike, Utc};
use uuid::Uuid;

use super::EventEnvelope;
use crate::error::Result;

/// The envelope's JSON, as `serde_json::to_vec` of the derived `Serialize` would write it.
pub(super) fn envelope_json(e: &EventEnvelope) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_envelope_json(&mut out, e)?;
    Ok(out)
}

/// [`envelope_json`], appended to `out` (which may already hold other bytes).
pub(super) fn write_envelope_json(out: &mut Vec<u8>, e: &EventEnvelope) -> Result<()> {
    let payload = e.payload.get().as_bytes();
    out.reserve(192 + payload.len());
    out.extend_from_slice(b"{\"id\":\"");
    push_id(&mut *out, super::EventId::PREFIX, e.id.as_uuid());
    out.extend_from_slice(b"\",\"name\":");
    serde_json::to_writer(&mut *out, &e.name)?;
    out.extend_from_slice(b",\"version\":");
    serde_json::to_writer(&mut *out, &e.version)?;
    out.extend_from_slice(b",\"tenant\":\"");
    push_id(
        &mut *out,
        crate::tenant::TenantId::PREFIX,
        e.tenant.as_uuid(),
    );
    out.extend_from_slice(b"\",\"occurred_at\":");
    push_timestamp(&mut *out, &e.occurred_at)?;
    if let Some(c) = &e.causation_id {
        out.extend_from_slice(b",\"causation_id\":");
        serde_json::to_writer(&mut *out, c)?;
    }
    if let Some(c) = &e.correlation_id {
        out.extend_from_slice(b",\"correlation_id\":");
        serde_json::to_writer(&mut *out, c)?;
    }
    out.extend_from_slice(b",\"payload\":");
    out.extend_from_slice(payload);
    out.push(b'}');
    Ok(())
}

/// `<prefix>_<uuid as 32 lowercase hex digits>`, as the ids' `Display` writes it (no escaping
/// needed: prefixes are lowercase ASCII).
fn push_id(out: &mut Vec<u8>, prefix: &str, id: &Uuid) {
    out.extend_from_slice(prefix.as_bytes());
    out.push(b'_');
    let mut buf = [0u8; 32];
    out.extend_from_slice(id.simple().encode_lower(&mut buf).as_bytes());
}

/// The timestamp as a JSON string in chrono's serde form (RFC 3339, `Z`, as many fraction
/// digits as the nanoseconds need: 0, 3, 6 or 9). Years outside 0–9999 and leap seconds go
/// through chrono's own formatting.
fn push_timestamp(out: &mut Vec<u8>, t: &DateTime<Utc>) -> Result<()> {
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&t.year()) || nanos >= 1_000_000_000 {
        serde_json::to_writer(&mut *out, t)?;
        return Ok(());
    }
    // The year is in 0..=9999 (checked above), so it fits four digits.
    let year = t.year().unsigned_abs();
    out.push(b'"');
    digits(out, year, 4);
    out.push(b'-');
    digits(out, t.month(), 2);
    out.push(b'-');
    digits(out, t.day(), 2);
    out.push(b'T');
    digits(out, t.hour(), 2);
    out.push(b':');
    digits(out, t.minute(), 2);
    out.push(b':');
    digits(out, t.second(), 2);
    if nanos != 0 {
        out.push(b'.');
        if nanos.is_multiple_of(1_000_000) {
            digits(out, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            digits(out, nanos / 1_000, 6);
        } else {
            digits(out, nanos, 9);
        }
    }
    out.extend_from_slice(b"Z\"");
    Ok(())
}

/// `n` as exactly `width` (at most 9) decimal digits, zero-padded.
fn digits(out: &mut Vec<u8>, n: u32, width: usize) {
    let mut buf = [b'0'; 9];
    let mut n = n;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::events::{ContextId, DomainEvent, EventContext, EventId};
    use crate::tenant::TenantId;

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Probe {
        text: String,
        n: i64,
    }
    impl DomainEvent for Probe {
        const NAME: &'static str = "test.probe.seen";
        const VERSION: u32 = 3;
    }

    proptest! {
        /// The one-pass encoding is byte-identical to serde's derived encoding, for any time
        /// (any fraction length, years 0–9999 and outside), any payload text, with and
        /// without context ids.
        #[test]
        fn matches_the_derived_serialization(
            secs in -70_000_000_000i64..300_000_000_000i64,
            nanos in prop_oneof![Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000),
                                 (0u32..1_000_000).prop_map(|u| u * 1_000), 0u32..1_000_000_000],
            text in ".{0,40}",
            n in any::<i64>(),
            causation in proptest::option::of("[!-~]{1,20}"),
            correlation in proptest::option::of("[!-~]{1,20}"),
        ) {
            let at = Utc.timestamp_opt(secs, nanos).single().unwrap();
            let mut context = EventContext::new();
            if let Some(c) = causation {
                context = context.caused_by(ContextId::new(c).unwrap());
            }
            if let Some(c) = correlation {
                context = context.correlated_with(ContextId::new(c).unwrap());
            }
            let e = EventEnvelope::new(TenantId::new(), EventId::new(), at, &Probe { text, n }, &context)
                .unwrap();
            let fast = envelope_json(&e).unwrap();
            let derived = serde_json::to_vec(&e).unwrap();
            prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(derived).unwrap());
        }
    }
}
