//! Tenant time zones and civil dates.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, TimeZone as _, Utc};
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

    /// The civil date of an instant in this zone.
    pub fn date_of(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.0).date_naive()
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
