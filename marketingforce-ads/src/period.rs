//! Calendar periods of settlement: months, quarters and years.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use marketingforce_core::{Error, Result};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar month, written `2026-03`.
///
/// ```
/// use marketingforce_ads::period::Month;
///
/// let m: Month = "2026-02".parse().unwrap();
/// assert_eq!(m.days(), 28);
/// assert_eq!(m.last_day().to_string(), "2026-02-28");
/// assert_eq!(m.next().to_string(), "2026-03");
/// assert_eq!(m.key(), 202602);
/// assert!("2026-13".parse::<Month>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month `year`-`month`.
    ///
    /// # Errors
    /// A validation error on `month` outside 1–12 or a year outside 1–9999.
    pub fn new(year: i32, month: u32) -> Result<Month> {
        if !(1..=12).contains(&month) {
            return Err(Error::validation("month", format!("{month} is not 1-12")));
        }
        if !(1..=9999).contains(&year) {
            return Err(Error::validation(
                "month",
                format!("year {year} is out of range"),
            ));
        }
        Ok(Month { year, month })
    }

    /// The month containing `date`.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The year.
    pub const fn year(&self) -> i32 {
        self.year
    }

    /// The month number, 1–12.
    pub const fn month(&self) -> u32 {
        self.month
    }

    /// The first day.
    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The last day.
    pub fn last_day(&self) -> NaiveDate {
        self.next()
            .first_day()
            .pred_opt()
            .unwrap_or_else(|| self.first_day())
    }

    /// Number of days.
    pub fn days(&self) -> u32 {
        self.last_day().day()
    }

    /// Every day of the month, in order.
    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> {
        self.first_day().iter_days().take(self.days() as usize)
    }

    /// The following month.
    pub fn next(&self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The preceding month.
    pub fn prev(&self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The numeric key `yyyymm` (used as the ledger period of monthly postings).
    pub fn key(&self) -> u32 {
        self.year.unsigned_abs() * 100 + self.month
    }

    /// The month of a `yyyymm` key.
    pub fn from_key(key: u32) -> Option<Month> {
        Month::new(i32::try_from(key / 100).ok()?, key % 100).ok()
    }

    /// The months of the `period` that contains this month, up to and including this one.
    pub fn months_to_date(&self, period: PeriodLength) -> Vec<Month> {
        let start = period.start_month(*self);
        let mut out = Vec::new();
        let mut m = start;
        while m <= *self {
            out.push(m);
            m = m.next();
        }
        out
    }

    /// Whether this month is the last of its `period`.
    pub fn closes(&self, period: PeriodLength) -> bool {
        period.start_month(self.next()) == self.next()
    }
}

/// The numeric key `yyyymmdd` of a date (the ledger period of dated postings).
pub fn date_key(date: NaiveDate) -> u32 {
    date.year().unsigned_abs() * 10_000 + date.month() * 100 + date.day()
}

/// The value date of a ledger period key: a `yyyymmdd` key is that day, a `yyyymm` key is the
/// month's last day.
pub fn value_date(key: u32) -> Option<NaiveDate> {
    if key >= 1_000_000 {
        NaiveDate::from_ymd_opt(
            i32::try_from(key / 10_000).ok()?,
            (key / 100) % 100,
            key % 100,
        )
    } else {
        Month::from_key(key).map(|m| m.last_day())
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = Error;
    fn from_str(s: &str) -> Result<Month> {
        let bad = || Error::validation("month", format!("{s:?} is not a month like 2026-03"));
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        Month::new(y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?)
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Cow::<str>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Month {
    fn schema_name() -> Cow<'static, str> {
        "Month".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^\d{4}-(0[1-9]|1[0-2])$",
            "description": "A calendar month, e.g. \"2026-03\".",
        })
    }
}

/// How often something is settled: monthly, quarterly or annually (calendar periods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodLength {
    /// Calendar months.
    Monthly,
    /// Calendar quarters (Jan–Mar, Apr–Jun, …).
    Quarterly,
    /// Calendar years.
    Annual,
}

impl PeriodLength {
    /// The first month of the period containing `month`.
    pub fn start_month(self, month: Month) -> Month {
        let m = match self {
            PeriodLength::Monthly => month.month,
            PeriodLength::Quarterly => (month.month - 1) / 3 * 3 + 1,
            PeriodLength::Annual => 1,
        };
        Month {
            year: month.year,
            month: m,
        }
    }

    /// The last month of the period containing `month`.
    pub fn end_month(self, month: Month) -> Month {
        let start = self.start_month(month);
        let len = match self {
            PeriodLength::Monthly => 1,
            PeriodLength::Quarterly => 3,
            PeriodLength::Annual => 12,
        };
        let mut m = start;
        for _ in 1..len {
            m = m.next();
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_and_years() {
        let m: Month = "2026-05".parse().unwrap();
        assert_eq!(
            PeriodLength::Quarterly.start_month(m).to_string(),
            "2026-04"
        );
        assert_eq!(PeriodLength::Quarterly.end_month(m).to_string(), "2026-06");
        assert_eq!(PeriodLength::Annual.end_month(m).to_string(), "2026-12");
        assert!(!m.closes(PeriodLength::Quarterly));
        assert!("2026-06"
            .parse::<Month>()
            .unwrap()
            .closes(PeriodLength::Quarterly));
        assert!("2026-12"
            .parse::<Month>()
            .unwrap()
            .closes(PeriodLength::Annual));
        assert_eq!(m.months_to_date(PeriodLength::Quarterly).len(), 2);
        assert_eq!(
            "2026-12".parse::<Month>().unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(
            "2026-01".parse::<Month>().unwrap().prev().to_string(),
            "2025-12"
        );
    }

    #[test]
    fn keys_and_value_dates() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        assert_eq!(date_key(d), 20260315);
        assert_eq!(value_date(20260315), Some(d));
        assert_eq!(value_date(202603).unwrap().to_string(), "2026-03-31");
        assert_eq!(Month::from_key(202603).unwrap().to_string(), "2026-03");
        for bad in ["2026-3", "26-03", "2026-00", "abc"] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}
