//! Clocks: where "now" comes from.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::TimeZone;
use crate::error::{quote_input, Error, Result};

/// A source of the current instant. Every timestamp the SDK records comes from one, so tests and
/// simulations control time completely.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Today's civil date in `zone`.
    fn today(&self, zone: TimeZone) -> NaiveDate {
        zone.date_of(self.now())
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests and deterministic simulations.
///
/// Clones share the same time.
///
/// ```
/// use marketingforce_core::time::{Clock, ManualClock};
/// use chrono::Duration;
///
/// let clock = ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00").unwrap();
/// clock.advance(Duration::days(1));
/// assert_eq!(clock.now().to_rfc3339(), "2026-03-02T01:00:00+00:00");
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// A clock stopped at an RFC 3339 instant.
    ///
    /// # Errors
    /// A validation error on `now` when the text is not RFC 3339.
    pub fn at_rfc3339(now: &str) -> Result<ManualClock> {
        DateTime::parse_from_rfc3339(now)
            .map(|t| ManualClock::new(t.with_timezone(&Utc)))
            .map_err(|e| {
                Error::validation("now", format!("{} is not RFC 3339: {e}", quote_input(now)))
            })
    }

    /// Set the time (it may go backwards; the caller decides).
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Move the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
