//! Tenant time zones and civil dates.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDate, NaiveTime, Offset as _, TimeZone as _, Utc,
};
use chrono_tz::Tz;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{quote_input, Error, Result};

/// An IANA time zone in which a tenant's contracts and settlements are dated.
///
/// The default is `Asia/Shanghai` (UTC+8, no daylight saving). Contract dates, due dates and
/// settlement months are *civil dates* in this zone.
///
/// ```
/// use marketingforce_core::time::TimeZone;
/// use chrono::{TimeZone as _, Utc};
///
/// let tz = TimeZone::default();
/// assert_eq!(tz.name(), "Asia/Shanghai");
/// // 20:00 UTC on 31 Dec is already 1 Jan in Shanghai.
/// let t = Utc.with_ymd_and_hms(2025, 12, 31, 20, 0, 0).unwrap();
/// assert_eq!(tz.date_of(t).to_string(), "2026-01-01");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(Tz);

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(Tz::Asia__Shanghai)
    }
}

impl TimeZone {
    /// UTC.
    pub const UTC: TimeZone = TimeZone(Tz::UTC);
    /// Asia/Shanghai, the default.
    pub const SHANGHAI: TimeZone = TimeZone(Tz::Asia__Shanghai);

    /// The IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The civil date of an instant in this zone. At the very ends of time, where that date is
    /// beyond the calendar chrono holds (the latest instants east of UTC, the earliest west of
    /// it), it is the nearest date chrono holds, never a panic.
    pub fn date_of(&self, instant: DateTime<Utc>) -> NaiveDate {
        let utc = instant.naive_utc();
        let offset = self.0.offset_from_utc_datetime(&utc).fix();
        utc.checked_add_offset(offset)
            .map_or_else(|| nearest_end(offset), |local| local.date())
    }

    /// The first instant of `date` in this zone (midnight, or the first valid time after a gap).
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_time(NaiveTime::MIN);
        match self.0.from_local_datetime(&midnight) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            LocalResult::None => {
                // A gap at midnight (rare DST rules): the day starts one hour later.
                let later = midnight + chrono::Duration::hours(1);
                self.0
                    .from_local_datetime(&later)
                    .earliest()
                    .map_or_else(|| later.and_utc(), |t| t.with_timezone(&Utc))
            }
        }
    }
}

/// The end of the calendar that a local time beyond it is past: the last date for a zone
/// ahead of UTC, the first for one behind.
fn nearest_end(offset: FixedOffset) -> NaiveDate {
    if offset.local_minus_utc() > 0 {
        NaiveDate::MAX
    } else {
        NaiveDate::MIN
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TimeZone {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.parse::<Tz>().map(TimeZone).map_err(|_| {
            Error::validation(
                "time_zone",
                format!("{} is not an IANA time zone", quote_input(s)),
            )
        })
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Cow::<str>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for TimeZone {
    fn schema_name() -> Cow<'static, str> {
        "TimeZone".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An IANA time zone name such as \"Asia/Shanghai\".",
            "examples": ["Asia/Shanghai"],
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, NaiveDate, Utc};
    use proptest::prelude::*;

    use super::TimeZone;

    fn zone() -> impl Strategy<Value = TimeZone> {
        prop::sample::select(chrono_tz::TZ_VARIANTS.to_vec()).prop_map(TimeZone)
    }

    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        let (min, max) = (
            DateTime::<Utc>::MIN_UTC.timestamp(),
            DateTime::<Utc>::MAX_UTC.timestamp(),
        );
        prop_oneof![
            Just(DateTime::<Utc>::MIN_UTC),
            Just(DateTime::<Utc>::MAX_UTC),
            (min..=min + 3 * 86_400)
                .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default()),
            (max - 3 * 86_400..=max)
                .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default()),
            (min..=max).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default()),
        ]
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        let days = (NaiveDate::MAX - NaiveDate::MIN).num_days();
        prop_oneof![
            Just(NaiveDate::MIN),
            Just(NaiveDate::MAX),
            (0..=days).prop_map(|d| NaiveDate::MIN + Duration::days(d)),
        ]
    }

    /// The civil date of the earliest and the latest instant chrono holds, in zones ahead of
    /// and behind UTC: before, `date_of` panicked ("Local time out of range for
    /// `NaiveDateTime`") — the date is beyond the calendar chrono holds. It is now the nearest
    /// date it holds.
    #[test]
    fn the_ends_of_time_have_a_date_in_every_zone() {
        let shanghai = TimeZone::SHANGHAI;
        let new_york: TimeZone = "America/New_York".parse().unwrap();
        assert_eq!(shanghai.date_of(DateTime::<Utc>::MAX_UTC), NaiveDate::MAX);
        assert_eq!(new_york.date_of(DateTime::<Utc>::MIN_UTC), NaiveDate::MIN);
        assert_eq!(shanghai.date_of(DateTime::<Utc>::MIN_UTC), NaiveDate::MIN);
        assert_eq!(new_york.date_of(DateTime::<Utc>::MAX_UTC), NaiveDate::MAX);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any instant has a date in any zone, and the day it falls on starts at or before it
        /// (except at the very ends of time, where the start is clamped).
        #[test]
        fn any_instant_has_a_date_in_any_zone(zone in zone(), at in instant()) {
            let date = zone.date_of(at);
            let start = zone.start_of_day(date);
            prop_assert!(
                start <= at || date == NaiveDate::MAX || date == NaiveDate::MIN,
                "{zone}: {at} is on {date}, which starts at {start}"
            );
        }

        /// Any date has a first instant in any zone, and that instant falls on the date
        /// (except at the ends of the calendar, where it is clamped).
        #[test]
        fn any_date_starts_in_any_zone(zone in zone(), date in date()) {
            let start = zone.start_of_day(date);
            let back = zone.date_of(start);
            prop_assert!(
                back == date || date == NaiveDate::MAX || date == NaiveDate::MIN,
                "{zone}: {date} starts at {start}, which is on {back}"
            );
        }
    }
}
