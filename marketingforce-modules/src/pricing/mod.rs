//! Pricing: price schedules for usage packs, and the quote engine.

mod schedule;

pub use schedule::{PriceSchedule, SchedulePrice, Tier};
