//! Time: clocks, tenant time zones and business calendars.
//!
//! - [`Clock`]: where "now" comes from ([`SystemClock`], [`ManualClock`] for tests).
//! - [`TimeZone`]: the zone a tenant's civil dates live in (Asia/Shanghai by default).
//! - [`BusinessCalendar`]: working days, with [`HolidayCalendar::china_mainland`] shipping the
//!   official 2024–2026 schedule.

mod calendar;
mod clock;
mod text;
mod zone;

pub use calendar::{
    BusinessCalendar, Coverage, HolidayCalendar, HolidayPeriod, HolidaySchedule, WeekdayName,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use text::{deserialize_utc, deserialize_utc_opt, serialize_utc, serialize_utc_opt};
pub use zone::TimeZone;
