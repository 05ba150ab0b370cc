//! The RFC 3339 text of a UTC instant, written and read without the formatting machinery.
//!
//! Records carry many instants (a lead: its creation, every touch, every capture's evidence),
//! and chrono's `Serialize` writes each through `core::fmt`, one character at a time: a fifth
//! of encoding a lead. [`serialize_utc`] writes the same text from a stack buffer.
//!
//! Reading them back, chrono's `Deserialize` runs its general RFC 3339 parser (any offset,
//! any separator case, signed years) for each: [`deserialize_utc`] reads the one form
//! [`serialize_utc`] writes directly, and hands anything else to chrono, so it accepts and
//! refuses exactly what chrono does, with chrono's errors.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

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

/// The instant of `text` when it is in the form [`rfc3339`] writes — `YYYY-MM-DDTHH:MM:SS`,
/// then `Z` or a `.`, one to nine digits and `Z` — with a valid date and a second below 60;
/// `None` for anything else (which chrono then reads, or refuses).
fn parse_canonical(text: &str) -> Option<DateTime<Utc>> {
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1, rest @ ..] =
        text.as_bytes()
    else {
        return None;
    };
    let digits = |ds: &[u8]| {
        ds.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nano = match rest {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z'] if (1..=9).contains(&fraction.len()) => {
            let scale = 10u32.pow(9 - fraction.len() as u32);
            digits(fraction)? * scale
        }
        _ => return None,
    };
    let second = digits(&[*s0, *s1])?;
    if second >= 60 {
        // A leap second: chrono keeps it as nanoseconds past the 59th.
        return None;
    }
    let year = i32::try_from(digits(&[*y0, *y1, *y2, *y3])?).ok()?;
    let naive = NaiveDate::from_ymd_opt(year, digits(&[*mo0, *mo1])?, digits(&[*d0, *d1])?)?
        .and_hms_nano_opt(digits(&[*h0, *h1])?, digits(&[*mi0, *mi1])?, second, nano)?;
    Some(Utc.from_utc_datetime(&naive))
}

/// Deserialize a UTC instant as chrono's `Deserialize` does (the same instants accepted, the
/// same refused, with the same errors), reading the form [`serialize_utc`] writes without
/// chrono's general parser: for `#[serde(deserialize_with = …)]` on a `DateTime<Utc>` field.
///
/// ```
/// use chrono::{DateTime, Utc};
///
/// #[derive(serde::Deserialize)]
/// struct Touch {
///     #[serde(deserialize_with = "marketingforce_core::time::deserialize_utc")]
///     at: DateTime<Utc>,
/// }
///
/// let touch: Touch = serde_json::from_str(r#"{"at":"2026-12-06T15:04:05.120Z"}"#).unwrap();
/// assert_eq!(touch.at, "2026-12-06T15:04:05.120Z".parse::<DateTime<Utc>>().unwrap());
/// // Any other RFC 3339 text is read by chrono, to the same instant.
/// let touch: Touch = serde_json::from_str(r#"{"at":"2026-12-06T23:04:05.12+08:00"}"#).unwrap();
/// assert_eq!(touch.at, "2026-12-06T15:04:05.120Z".parse::<DateTime<Utc>>().unwrap());
/// ```
///
/// # Errors
/// The deserializer's, or chrono's when the text is not an RFC 3339 date and time.
pub fn deserialize_utc<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(UtcVisitor)
}

/// [`deserialize_utc`] for an optional instant (`null` is `None`, as serde reads it).
///
/// # Errors
/// As [`deserialize_utc`].
pub fn deserialize_utc_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    struct Instant(DateTime<Utc>);
    impl<'de> Deserialize<'de> for Instant {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize_utc(d).map(Instant)
        }
    }
    Ok(Option::<Instant>::deserialize(d)?.map(|i| i.0))
}

struct UtcVisitor;

impl Visitor<'_> for UtcVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // chrono's words, so a refusal reads the same.
        f.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
        match parse_canonical(text) {
            Some(t) => Ok(t),
            None => DateTime::<Utc>::deserialize(de::value::StrDeserializer::<E>::new(text)),
        }
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

    /// What `deserialize_utc` makes of `json`, and what chrono makes of it (the instant, or
    /// the error message).
    fn read_both(json: &str) -> (Result<DateTime<Utc>, String>, Result<DateTime<Utc>, String>) {
        #[derive(serde::Deserialize)]
        struct Fast {
            #[serde(deserialize_with = "super::deserialize_utc")]
            at: DateTime<Utc>,
        }
        #[derive(serde::Deserialize)]
        struct Chrono {
            at: DateTime<Utc>,
        }
        let doc = format!(r#"{{"at":{json}}}"#);
        (
            serde_json::from_str::<Fast>(&doc)
                .map(|f| f.at)
                .map_err(|e| e.to_string()),
            serde_json::from_str::<Chrono>(&doc)
                .map(|c| c.at)
                .map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn what_chrono_reads_or_refuses_is_read_or_refused_the_same() {
        for json in [
            r#""2026-12-31T23:59:59Z""#,
            r#""2026-12-31T23:59:59.5Z""#,
            r#""2026-12-31T23:59:59.123456789Z""#,
            // Ten fraction digits, a leap second, an offset, lower case, a space: chrono's.
            r#""2026-12-31T23:59:59.1234567891Z""#,
            r#""2026-12-31T23:59:60Z""#,
            r#""2026-12-31T23:59:60.5Z""#,
            r#""2026-12-31T23:59:59+08:00""#,
            r#""2026-12-31t23:59:59z""#,
            r#""2026-12-31 23:59:59Z""#,
            r#""+12026-12-31T23:59:59Z""#,
            // Refused: no such day, month, hour, minute or second; a bad shape; not a string.
            r#""2026-02-29T00:00:00Z""#,
            r#""2026-13-01T00:00:00Z""#,
            r#""2026-12-31T24:00:00Z""#,
            r#""2026-12-31T23:60:00Z""#,
            r#""2026-12-31T23:59:61Z""#,
            r#""2026-12-31T23:59:59.Z""#,
            r#""2026-12-31T23:59:59""#,
            r#""2026-12-31T23:5a:59Z""#,
            r#""""#,
            "12",
            "null",
        ] {
            let (fast, chrono) = read_both(json);
            assert_eq!(fast, chrono, "{json}");
        }
        // The leap second is read, as chrono reads it.
        assert!(read_both(r#""2026-12-31T23:59:60Z""#).0.is_ok());
    }

    #[test]
    fn an_optional_instant_reads_null_and_absence_as_none() {
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Maybe {
            #[serde(default, deserialize_with = "super::deserialize_utc_opt")]
            at: Option<DateTime<Utc>>,
        }
        let at: DateTime<Utc> = "2026-12-06T15:04:05Z".parse().unwrap();
        for (json, want) in [
            (r#"{"at":"2026-12-06T15:04:05Z"}"#, Some(at)),
            (r#"{"at":null}"#, None),
            ("{}", None),
        ] {
            assert_eq!(
                serde_json::from_str::<Maybe>(json).unwrap(),
                Maybe { at: want }
            );
        }
        assert!(serde_json::from_str::<Maybe>(r#"{"at":"yesterday"}"#).is_err());
    }

    proptest! {
        #[test]
        fn any_instant_written_is_read_back_without_chrono(
            secs in -62_167_219_200i64..253_402_300_800i64,
            nano in prop_oneof![
                Just(0u32),
                (0u32..1_000).prop_map(|m| m * 1_000_000),
                0u32..1_000_000_000,
            ],
        ) {
            let t = DateTime::<Utc>::from_timestamp(secs, nano).unwrap();
            let json = serde_json::to_string(&Fast { at: t, maybe: None }).unwrap();
            let text = json
                .strip_prefix(r#"{"at":""#)
                .and_then(|x| x.strip_suffix(r#"","maybe":null}"#))
                .unwrap();
            prop_assert_eq!(super::parse_canonical(text), Some(t));
            let (fast, chrono) = read_both(&format!("\"{text}\""));
            prop_assert_eq!(fast, chrono);
        }

        #[test]
        fn any_text_of_the_written_shape_is_read_as_chrono_reads_it(
            year in 0u32..10_000,
            month in 0u32..14,
            day in 0u32..33,
            hour in 0u32..26,
            minute in 0u32..62,
            second in 0u32..62,
            fraction in prop::option::of("[0-9]{0,11}"),
            end in prop_oneof![Just("Z"), Just("z"), Just("+08:00"), Just("")],
        ) {
            let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            let json = format!(
                "\"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{end}\""
            );
            let (fast, chrono) = read_both(&json);
            prop_assert_eq!(fast, chrono, "{}", json);
        }

        #[test]
        fn any_text_at_all_is_read_as_chrono_reads_it(text in "[0-9TZ:.+ -]{0,32}") {
            let json = serde_json::to_string(&text).unwrap();
            let (fast, chrono) = read_both(&json);
            prop_assert_eq!(fast, chrono, "{}", json);
        }
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
