//! The RFC 3339 text of a UTC instant, written without the formatting machinery.
//!
//! Records carry many instants (a lead: its creation, every touch, every capture's evidence),
//! and chrono's `Serialize` writes each through `core::fmt`, one character at a time: a fifth
//! of encoding a lead. [`serialize_utc`] writes the same text from a stack buffer.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// The longest text: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// A text being written into a stack buffer.
struct Text {
    buf: [u8; MAX_LEN],
    len: usize,
}

impl Text {
    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// `value` in `width` decimal digits, zero-padded.
    fn digits(&mut self, value: u32, width: usize) {
        let mut v = value;
        let start = self.len;
        for i in (0..width).rev() {
            if let Some(slot) = self.buf.get_mut(start + i) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
        }
        self.len = (start + width).min(MAX_LEN);
    }

    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.buf.get(..self.len)?).ok()
    }
}

/// `t` as chrono's `Serialize` writes it (RFC 3339, `Z`, fractional seconds in 0, 3, 6 or 9
/// digits, whichever is shortest and exact), or `None` for a year outside 0 to 9999, which
/// chrono writes with a sign.
fn rfc3339(t: &DateTime<Utc>) -> Option<Text> {
    // The fields of the naive UTC time: a `DateTime`'s own accessors add its (zero) offset
    // again for each field.
    let t = t.naive_utc();
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut second = t.second();
    let mut nano = t.nanosecond();
    // A leap second (chrono keeps it as nanoseconds past 1e9) is written as second 60.
    if nano >= 1_000_000_000 {
        second += 1;
        nano -= 1_000_000_000;
    }
    let mut s = Text {
        buf: [0; MAX_LEN],
        len: 0,
    };
    s.digits(year, 4);
    s.byte(b'-');
    s.digits(t.month(), 2);
    s.byte(b'-');
    s.digits(t.day(), 2);
    s.byte(b'T');
    s.digits(t.hour(), 2);
    s.byte(b':');
    s.digits(t.minute(), 2);
    s.byte(b':');
    s.digits(second, 2);
    if nano != 0 {
        s.byte(b'.');
        if nano.is_multiple_of(1_000_000) {
            s.digits(nano / 1_000_000, 3);
        } else if nano.is_multiple_of(1_000) {
            s.digits(nano / 1_000, 6);
        } else {
            s.digits(nano, 9);
        }
    }
    s.byte(b'Z');
    Some(s)
}

/// Serialize a UTC instant exactly as chrono does (the same text, so stored records, events
/// and idempotency fingerprints do not change), faster: for `#[serde(serialize_with = …)]` on
/// a `DateTime<Utc>` field. Deserializing needs nothing special: chrono reads the text.
///
/// ```
/// use chrono::{DateTime, Utc};
///
/// #[derive(serde::Serialize)]
/// struct Touch {
///     #[serde(serialize_with = "marketingforce_core::time::serialize_utc")]
///     at: DateTime<Utc>,
/// }
///
/// let at: DateTime<Utc> = "2026-12-06T15:04:05.120Z".parse().unwrap();
/// assert_eq!(
///     serde_json::to_string(&Touch { at }).unwrap(),
///     r#"{"at":"2026-12-06T15:04:05.120Z"}"#
/// );
/// ```
///
/// # Errors
/// The serializer's.
pub fn serialize_utc<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    match rfc3339(t) {
        Some(text) => match text.as_str() {
            Some(text) => s.serialize_str(text),
            None => t.serialize(s),
        },
        None => t.serialize(s),
    }
}

/// [`serialize_utc`] for an optional instant (`null` when absent, as serde writes `None`).
///
/// # Errors
/// The serializer's.
pub fn serialize_utc_opt<S: Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    struct Instant<'a>(&'a DateTime<Utc>);
    impl Serialize for Instant<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize_utc(self.0, s)
        }
    }
    match t {
        Some(t) => s.serialize_some(&Instant(t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, TimeZone, Utc};
    use proptest::prelude::*;

    #[derive(serde::Serialize)]
    struct Fast {
        #[serde(serialize_with = "super::serialize_utc")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "super::serialize_utc_opt")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(serde::Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn same(at: DateTime<Utc>) {
        for maybe in [None, Some(at)] {
            assert_eq!(
                serde_json::to_string(&Fast { at, maybe }).unwrap(),
                serde_json::to_string(&Chrono { at, maybe }).unwrap(),
                "{at:?}"
            );
        }
    }

    #[test]
    fn the_edges_are_written_as_chrono_writes_them() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        for (h, m, s, nano) in [
            (0, 0, 0, 0),
            (23, 59, 59, 999_999_999),
            (12, 0, 0, 1_000_000),
            (12, 0, 0, 1_000),
            (12, 0, 0, 1),
            (12, 0, 0, 120_000_000),
            (12, 0, 0, 123_456_000),
            // A leap second.
            (23, 59, 59, 1_500_000_000),
            (23, 59, 59, 1_000_000_000),
        ] {
            let t = day.and_hms_nano_opt(h, m, s, nano).unwrap();
            same(Utc.from_utc_datetime(&t));
        }
        // Years chrono writes with a sign, and the first and last four-digit years.
        for year in [-1, 0, 1, 999, 9999, 10_000, 262_000] {
            let t = NaiveDate::from_ymd_opt(year, 1, 2)
                .unwrap()
                .and_hms_nano_opt(3, 4, 5, 6)
                .unwrap();
            same(Utc.from_utc_datetime(&t));
        }
        same(DateTime::<Utc>::MIN_UTC);
        same(DateTime::<Utc>::MAX_UTC);
    }

    proptest! {
        #[test]
        fn any_instant_is_written_as_chrono_writes_it(
            secs in -62_167_219_200i64..253_402_300_800i64,
            nano in prop_oneof![
                Just(0u32),
                (0u32..1_000).prop_map(|m| m * 1_000_000),
                (0u32..1_000_000).prop_map(|u| u * 1_000),
                0u32..1_000_000_000,
            ],
        ) {
            let t = DateTime::<Utc>::from_timestamp(secs, nano).unwrap();
            same(t);
        }
    }
}
