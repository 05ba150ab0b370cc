//! Business calendars: which civil dates are working days.
//!
//! Mainland China moves working days around public holidays: a holiday week is paid for with
//! *make-up working days* (调休) on nearby weekends. "Pay within 3 business days of signing"
//! therefore needs the official schedule, which [`HolidayCalendar::china_mainland`] ships for
//! 2024–2026 and [`HolidayCalendar::extend_from_json`] extends as the State Council publishes
//! later years.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A calendar of business days.
pub trait BusinessCalendar: Send + Sync + fmt::Debug {
    /// Whether `date` is a working day.
    ///
    /// # Errors
    /// A strict calendar refuses dates it has no data for.
    fn is_business_day(&self, date: NaiveDate) -> Result<bool>;

    /// The `days`-th business day after `start` (`start` itself is not counted; zero days is
    /// `start`). "Due within 3 business days of signing on `d`" is `add_business_days(d, 3)`.
    ///
    /// # Errors
    /// As [`BusinessCalendar::is_business_day`].
    fn add_business_days(&self, start: NaiveDate, days: u32) -> Result<NaiveDate> {
        let mut date = start;
        let mut left = days;
        while left > 0 {
            date = date
                .succ_opt()
                .ok_or_else(|| Error::validation("date", "beyond the supported range"))?;
            if self.is_business_day(date)? {
                left -= 1;
            }
        }
        Ok(date)
    }

    /// Number of business days in `(from, to]`; zero when `to <= from`.
    ///
    /// # Errors
    /// As [`BusinessCalendar::is_business_day`].
    fn business_days_between(&self, from: NaiveDate, to: NaiveDate) -> Result<u32> {
        let mut count = 0;
        let mut date = from;
        while date < to {
            date += Duration::days(1);
            if self.is_business_day(date)? {
                count += 1;
            }
        }
        Ok(count)
    }
}

/// What a [`HolidayCalendar`] answers for years it has no schedule for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Treat uncovered years as weekends-only (the default: a due date in January is still
    /// computed before the State Council publishes that year's schedule).
    #[default]
    WeekendsOnly,
    /// Refuse dates in uncovered years with a validation error.
    Strict,
}

/// A weekday name as used in calendar files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)]
pub enum WeekdayName {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<WeekdayName> for Weekday {
    fn from(w: WeekdayName) -> Weekday {
        match w {
            WeekdayName::Mon => Weekday::Mon,
            WeekdayName::Tue => Weekday::Tue,
            WeekdayName::Wed => Weekday::Wed,
            WeekdayName::Thu => Weekday::Thu,
            WeekdayName::Fri => Weekday::Fri,
            WeekdayName::Sat => Weekday::Sat,
            WeekdayName::Sun => Weekday::Sun,
        }
    }
}

/// One public holiday period and the make-up working days that go with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayPeriod {
    /// Name of the holiday.
    pub name: String,
    /// First day off.
    pub from: NaiveDate,
    /// Last day off (inclusive).
    pub to: NaiveDate,
    /// Weekend days that become working days (调休).
    #[serde(default)]
    pub working_days: Vec<NaiveDate>,
}

/// The JSON form of a holiday schedule (see `data/cn-holidays.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidaySchedule {
    /// Human-readable name and source.
    pub name: String,
    /// Region code, e.g. `CN`.
    pub region: String,
    /// Days of the week that are normally off.
    pub weekend: Vec<WeekdayName>,
    /// The years this schedule fully covers.
    pub years: Vec<i32>,
    /// Holiday periods.
    pub holidays: Vec<HolidayPeriod>,
}

/// A calendar of weekends, public holidays and make-up working days, loaded from data.
///
/// ```
/// use marketingforce_core::time::{BusinessCalendar, HolidayCalendar};
/// use chrono::NaiveDate;
///
/// let cn = HolidayCalendar::china_mainland();
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// // Signed on Thursday 2026-09-24, the eve of the Mid-Autumn holiday: the third business day
/// // after it is Wednesday 30 (Monday 28, Tuesday 29, Wednesday 30).
/// assert_eq!(cn.add_business_days(d("2026-09-24"), 3).unwrap(), d("2026-09-30"));
/// // Sunday 2026-09-20 is a make-up working day before National Day.
/// assert!(cn.is_business_day(d("2026-09-20")).unwrap());
/// assert!(!cn.is_business_day(d("2026-10-05")).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct HolidayCalendar {
    name: String,
    weekend: BTreeSet<u32>,
    holidays: BTreeMap<NaiveDate, String>,
    working_days: BTreeMap<NaiveDate, String>,
    years: BTreeSet<i32>,
    coverage: Coverage,
}

const CN_SCHEDULE: &str = include_str!("../../data/cn-holidays.json");

impl HolidayCalendar {
    /// The official mainland China schedule for 2024–2026, weekends-only outside those years.
    pub fn china_mainland() -> HolidayCalendar {
        // The shipped data is validated by a unit test, so this cannot fail at run time.
        HolidayCalendar::from_json(CN_SCHEDULE).unwrap_or_else(|_| HolidayCalendar::weekends_only())
    }

    /// Saturday and Sunday off, nothing else.
    pub fn weekends_only() -> HolidayCalendar {
        HolidayCalendar {
            name: "weekends only".into(),
            weekend: [Weekday::Sat, Weekday::Sun]
                .map(|d| d.num_days_from_monday())
                .into(),
            holidays: BTreeMap::new(),
            working_days: BTreeMap::new(),
            years: BTreeSet::new(),
            coverage: Coverage::WeekendsOnly,
        }
    }

    /// Load a schedule from JSON (the shape of [`HolidaySchedule`]).
    ///
    /// # Errors
    /// A validation error naming the offending path: bad JSON, a period ending before it starts,
    /// dates outside the declared years, a make-up day that is not a weekend day, or a date that
    /// is both a holiday and a working day.
    pub fn from_json(json: &str) -> Result<HolidayCalendar> {
        let schedule: HolidaySchedule =
            serde_json::from_str(json).map_err(|e| Error::validation("calendar", e.to_string()))?;
        let mut cal = HolidayCalendar {
            name: schedule.name.clone(),
            weekend: schedule
                .weekend
                .iter()
                .map(|w| Weekday::from(*w).num_days_from_monday())
                .collect(),
            ..HolidayCalendar::weekends_only()
        };
        cal.add_schedule(&schedule)?;
        Ok(cal)
    }

    /// Add another year's schedule (same weekend rule) from JSON; all-or-nothing.
    ///
    /// # Errors
    /// As [`HolidayCalendar::from_json`], plus years already covered.
    pub fn extend_from_json(&mut self, json: &str) -> Result<()> {
        let schedule: HolidaySchedule =
            serde_json::from_str(json).map_err(|e| Error::validation("calendar", e.to_string()))?;
        let mut next = self.clone();
        next.add_schedule(&schedule)?;
        *self = next;
        Ok(())
    }

    /// Switch how uncovered years are answered.
    #[must_use]
    pub fn with_coverage(mut self, coverage: Coverage) -> HolidayCalendar {
        self.coverage = coverage;
        self
    }

    /// The calendar's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `year` has an official schedule loaded.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// The holiday name of `date`, if it is a public holiday.
    pub fn holiday_name(&self, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&date).map(String::as_str)
    }

    fn add_schedule(&mut self, s: &HolidaySchedule) -> Result<()> {
        for (i, year) in s.years.iter().enumerate() {
            if !self.years.insert(*year) {
                return Err(Error::validation(
                    format!("years[{i}]"),
                    format!("{year} is already covered"),
                ));
            }
        }
        let in_years = |d: NaiveDate| s.years.contains(&d.year());
        for (i, p) in s.holidays.iter().enumerate() {
            let path = format!("holidays[{i}]");
            if p.to < p.from {
                return Err(Error::validation(
                    format!("{path}.to"),
                    "ends before it starts",
                ));
            }
            let days = std::iter::successors(Some(p.from), |d| d.succ_opt());
            for day in days.take_while(|d| *d <= p.to) {
                if !in_years(day) {
                    return Err(Error::validation(
                        format!("{path}.from"),
                        format!("{day} is outside the declared years"),
                    ));
                }
                self.holidays.insert(day, p.name.clone());
            }
            for (j, w) in p.working_days.iter().enumerate() {
                let wpath = format!("{path}.working_days[{j}]");
                if !in_years(*w) {
                    return Err(Error::validation(
                        wpath,
                        format!("{w} is outside the declared years"),
                    ));
                }
                if !self.weekend.contains(&w.weekday().num_days_from_monday()) {
                    return Err(Error::validation(
                        wpath,
                        format!("{w} is not a weekend day"),
                    ));
                }
                self.working_days.insert(*w, p.name.clone());
            }
        }
        if let Some(d) = self
            .working_days
            .keys()
            .find(|d| self.holidays.contains_key(d))
        {
            return Err(Error::validation(
                "holidays",
                format!("{d} is both a holiday and a working day"),
            ));
        }
        Ok(())
    }
}

impl BusinessCalendar for HolidayCalendar {
    fn is_business_day(&self, date: NaiveDate) -> Result<bool> {
        if self.coverage == Coverage::Strict && !self.covers(date.year()) {
            return Err(Error::validation(
                "date",
                format!(
                    "calendar {:?} has no schedule for {}",
                    self.name,
                    date.year()
                ),
            ));
        }
        if self.holidays.contains_key(&date) {
            return Ok(false);
        }
        if self.working_days.contains_key(&date) {
            return Ok(true);
        }
        Ok(!self
            .weekend
            .contains(&date.weekday().num_days_from_monday()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn shipped_schedule_is_valid_and_complete() {
        let cal = HolidayCalendar::from_json(CN_SCHEDULE).unwrap();
        for y in [2024, 2025, 2026] {
            assert!(cal.covers(y));
        }
        // 2024: Spring Festival 10–17 Feb off, Sunday 4 and 18 Feb worked.
        assert!(!cal.is_business_day(d("2024-02-12")).unwrap());
        assert!(cal.is_business_day(d("2024-02-18")).unwrap());
        // 2025: National Day and Mid-Autumn merged, 1–8 Oct.
        assert!(!cal.is_business_day(d("2025-10-08")).unwrap());
        assert!(cal.is_business_day(d("2025-10-11")).unwrap());
        // Days off per year: the statutory holidays plus the bridge days paid for by make-up days.
        let count = |y: i32| cal.holidays.keys().filter(|d| d.year() == y).count();
        assert_eq!((count(2024), count(2025), count(2026)), (28, 28, 33));
    }

    #[test]
    fn due_dates_skip_holidays_and_use_make_up_days() {
        let cal = HolidayCalendar::china_mainland();
        // Signed Thursday 2026-02-12: Fri 13 is a business day, Sat 14 is a make-up day, then
        // the holiday runs to Mon 23; Tue 24 is the third business day.
        assert_eq!(
            cal.add_business_days(d("2026-02-12"), 3).unwrap(),
            d("2026-02-24")
        );
        assert_eq!(
            cal.add_business_days(d("2026-02-12"), 0).unwrap(),
            d("2026-02-12")
        );
        assert_eq!(
            cal.business_days_between(d("2026-02-12"), d("2026-02-24"))
                .unwrap(),
            3
        );
    }

    /// A holiday on the last date chrono holds: before, loading the schedule panicked
    /// ("`NaiveDate + TimeDelta` overflowed") stepping past the end of the period.
    #[test]
    fn a_period_ending_on_the_last_date_loads() {
        let last = NaiveDate::MAX;
        let json = format!(
            r#"{{"name":"end","region":"XX","weekend":["Sat","Sun"],"years":[{}],
            "holidays":[{{"name":"last","from":"{}","to":"{last}"}}]}}"#,
            last.year(),
            last - Duration::days(1),
        );
        let cal = HolidayCalendar::from_json(&json).unwrap();
        assert!(!cal.is_business_day(last).unwrap());
        assert_eq!(cal.holiday_name(last), Some("last"));
        let e = cal.add_business_days(last, 1).unwrap_err();
        assert!(
            matches!(&e, Error::Validation { field, .. } if field == "date"),
            "{e}"
        );
    }

    #[test]
    fn strict_coverage_refuses_unknown_years() {
        let strict = HolidayCalendar::china_mainland().with_coverage(Coverage::Strict);
        assert!(strict.is_business_day(d("2027-01-04")).is_err());
        let lenient = HolidayCalendar::china_mainland();
        assert!(lenient.is_business_day(d("2027-01-04")).unwrap());
    }

    #[test]
    fn bad_schedules_name_the_path() {
        let bad = r#"{"name":"x","region":"CN","weekend":["Sat","Sun"],"years":[2027],
            "holidays":[{"name":"h","from":"2027-01-01","to":"2027-01-01","working_days":["2027-01-06"]}]}"#;
        let e = HolidayCalendar::from_json(bad).unwrap_err().to_string();
        assert!(e.contains("holidays[0].working_days[0]"), "{e}");
        let mut cal = HolidayCalendar::china_mainland();
        let dup = CN_SCHEDULE;
        assert!(cal.extend_from_json(dup).is_err());
        assert!(cal.covers(2026));
        let y2027 = r#"{"name":"2027","region":"CN","weekend":["Sat","Sun"],"years":[2027],
            "holidays":[{"name":"元旦","from":"2027-01-01","to":"2027-01-01"}]}"#;
        cal.extend_from_json(y2027).unwrap();
        assert!(!cal.is_business_day(d("2027-01-01")).unwrap());
    }
}
