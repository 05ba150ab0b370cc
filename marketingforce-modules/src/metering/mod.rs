//! Usage metering: idempotent usage events against quotas, reserve / commit / release, durable
//! through group commit.
//!
//! A tenant's quotas for a unit are *buckets*: one per quota grant and window (the grant's term,
//! or each calendar month for monthly quotas). A consume draws from the buckets valid today in a
//! fixed order — included before purchased, monthly before term-long, earliest-ending first —
//! and records exactly which bucket gave how much, so replaying the journal rebuilds the same
//! balances.
//!
//! - [`UsageMeter::consume`]: atomic check-and-use under the tenant's lock: concurrent callers
//!   never exceed a quota. The event key makes it idempotent: a replay with the same unit and
//!   quantity is counted once; with a different one it is an error
//!   ([`ModulesError::UsageEventMismatch`]).
//! - [`UsageMeter::reserve`] / [`commit`](UsageMeter::commit) / [`release`](UsageMeter::release):
//!   hold capacity before expensive work (rendering a video), then commit what was used or
//!   release it. Holds live in memory only: a restart releases them.
//! - A denial says which quota, how much is left and what can be bought
//!   ([`ModulesError::QuotaExceeded`], [`ModulesError::NoQuota`]).
//! - Durability: every event is queued for the group-commit writer; [`UsageMeter::flush`]
//!   (or [`EntitlementRegistry::flush`](crate::entitlements::EntitlementRegistry::flush)) writes
//!   everything queued in one batch per tenant, and [`UsageMeter::consume_durable`] returns once
//!   its event is stored, sharing the write with every concurrent caller.
//! - Several processes: the book is a view of the tenant's usage journal. Every write is
//!   conditional on the journal head the book was computed from; a process whose book is
//!   behind is refused as stale, catches up from the journal tail, checks its queued events
//!   again on top of the other processes' (refusing those that no longer fit) and retries.
//!   With several processes, the answer of [`UsageMeter::consume_durable`] is the one to
//!   trust: [`UsageMeter::consume`] answers from this process's view before the write, and an
//!   event it accepted can still be refused at the flush (it is then dropped, not stored).
//!   Quotas hold under any routing; with tenant-affine routing the head check never fails.
//!
//! ```
//! use marketingforce_core::IdempotencyKey;
//! use std::sync::Arc;
//! use chrono::NaiveDate;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::ManualClock;
//! use marketingforce_modules::catalog::{QuotaPeriod, UsageUnit};
//! use marketingforce_modules::entitlements::{Entitlements, Grant};
//! use marketingforce_modules::ModulesError;
//!
//! let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
//! let d = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let grant = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01"))
//!     .quota(UsageUnit::VideosRendered, 10, QuotaPeriod::Month);
//! let meter = Entitlements::from_grant(grant, clock).unwrap().meter();
//!
//! // Hold 4 before rendering, then commit the 3 actually rendered.
//! meter.reserve(&UsageUnit::VideosRendered, 4u64, &IdempotencyKey::from_static("job-7")).unwrap();
//! assert_eq!(meter.remaining(&UsageUnit::VideosRendered).get(), 6);
//! meter.commit(3u64, &IdempotencyKey::from_static("job-7")).unwrap();
//! assert_eq!(meter.remaining(&UsageUnit::VideosRendered).get(), 7);
//!
//! // Asking for more than is left is refused with the figures.
//! match meter.consume(&UsageUnit::VideosRendered, 8u64, &IdempotencyKey::from_static("job-8")) {
//!     Err(ModulesError::QuotaExceeded { remaining, window_end, .. }) => {
//!         assert_eq!(remaining.get(), 7);
//!         assert_eq!(window_end, d("2026-04-01")); // the monthly quota resets then
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

pub(crate) mod book;
pub(crate) mod writer;

use marketingforce_core::IdempotencyKey;
use std::sync::{Arc, MutexGuard, PoisonError};

use marketingforce_core::money::Quantity;
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use serde::Serialize;

pub use book::{BucketBalance, Draw, UnitBalance, UsageEvent, UsageKind};
pub use writer::{UsageChunk, USAGE_JOURNAL};

use crate::catalog::UsageUnit;
use crate::entitlements::handle::TenantState;
use crate::error::{ModulesError, Result};
use book::{Consumption, Denial, Drawn, Held, SeenEvent, UsageBook};
use writer::QueuedEvent;

/// The result of a consume, commit or credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consumed {
    /// The event key.
    pub key: Arc<str>,
    /// The unit.
    pub unit: UsageUnit,
    /// Units consumed (or credited) by the event.
    pub quantity: Quantity,
    /// Consume or credit.
    pub kind: UsageKind,
    /// Units of the unit left today, after the event.
    pub remaining: Quantity,
    /// True when the key had been recorded before: nothing changed this time.
    pub replayed: bool,
    #[serde(skip)]
    ticket: u64,
}

/// An open reservation: capacity held under a key until committed or released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    /// The key (the event key its commit records).
    pub key: Arc<str>,
    /// The unit.
    pub unit: UsageUnit,
    /// Units held.
    pub quantity: Quantity,
    /// True when the same reservation was already open: nothing changed this time.
    pub replayed: bool,
}

/// The usage meter of one tenant: a cheap-to-clone handle, shared with the tenant's
/// [`Entitlements`](crate::entitlements::Entitlements). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct UsageMeter {
    pub(crate) state: Arc<TenantState>,
}

fn check_key(key: &str) -> Result<()> {
    if key.trim().is_empty() {
        return Err(ModulesError::validation(
            "key",
            "an event key must not be blank",
        ));
    }
    if key.len() > 256 {
        return Err(ModulesError::validation(
            "key",
            "an event key must be at most 256 bytes",
        ));
    }
    Ok(())
}

impl UsageMeter {
    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.state.tenant
    }

    fn book(&self) -> MutexGuard<'_, UsageBook> {
        self.state
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn denied(
        &self,
        unit: &UsageUnit,
        requested: Quantity,
        denial: Denial,
    ) -> ModulesError {
        let can_buy = self
            .state
            .shared
            .hints
            .packs
            .get(unit)
            .cloned()
            .unwrap_or_default();
        match denial {
            Denial::NoQuota => ModulesError::NoQuota {
                tenant: self.state.tenant.to_string(),
                unit: unit.clone(),
                can_buy,
            },
            Denial::Exceeded {
                remaining,
                limit,
                window_end,
            } => ModulesError::QuotaExceeded {
                unit: unit.clone(),
                requested,
                remaining: Quantity::new(remaining),
                limit: Quantity::new(limit),
                window_end,
                can_buy,
            },
        }
    }

    fn replay(
        seen: &SeenEvent<'_>,
        key: &str,
        unit: &UsageUnit,
        quantity: Quantity,
        kind: UsageKind,
    ) -> Result<()> {
        if *seen.unit != *unit || seen.quantity != quantity || seen.kind != kind {
            return Err(ModulesError::UsageEventMismatch {
                key: key.to_string(),
                first_unit: seen.unit.clone(),
                first_quantity: seen.quantity,
                unit: unit.clone(),
                quantity,
            });
        }
        Ok(())
    }

    /// Use `quantity` units of `unit` now, once per event `key`.
    ///
    /// Applied in memory at once and queued for the group-commit writer (see
    /// [`flush`](Self::flush), [`consume_durable`](Self::consume_durable)).
    ///
    /// # Errors
    /// [`ModulesError::NoQuota`] when no quota of the unit is valid today,
    /// [`ModulesError::QuotaExceeded`] when the quotas valid today cannot cover it (nothing is
    /// used then), [`ModulesError::UsageEventMismatch`] when `key` was recorded with another
    /// unit or quantity, a validation error for a zero quantity.
    pub fn consume(
        &self,
        unit: &UsageUnit,
        quantity: impl Into<Quantity>,
        key: &IdempotencyKey,
    ) -> Result<Consumed> {
        self.consume_under(unit, quantity.into(), key.as_str())
    }

    /// [`consume`](Self::consume) under a raw event key: the SDK's own derived keys
    /// (`"{key}:{unit}"` of a module call), whose stored form predates [`IdempotencyKey`].
    pub(crate) fn consume_under(
        &self,
        unit: &UsageUnit,
        quantity: Quantity,
        key: &str,
    ) -> Result<Consumed> {
        check_key(key)?;
        quantity.ensure_positive("quantity")?;
        let now = self.state.shared.clock.now();
        let mut book = self.book();
        let date = book.date_of(now, self.state.time_zone);
        let (Drawn { draws, left, .. }, key) = match book.consume(key, unit, quantity, date) {
            Consumption::Recorded(drawn, key) => (drawn, key),
            Consumption::Replay(seen) => {
                Self::replay(&seen, key, unit, quantity, UsageKind::Consume)?;
                let key = seen.key;
                let remaining = book.remaining(unit, date);
                return Ok(Consumed {
                    key,
                    unit: unit.clone(),
                    quantity,
                    kind: UsageKind::Consume,
                    remaining,
                    replayed: true,
                    ticket: 0,
                });
            }
            Consumption::Held => {
                return Err(ModulesError::ReservationNotOpen {
                    key: key.to_string(),
                    reason: "the key holds an open reservation; commit or release it".into(),
                });
            }
            Consumption::Denied(d) => return Err(self.denied(unit, quantity, d)),
        };
        let event = QueuedEvent {
            key: key.clone(),
            unit: unit.clone(),
            quantity,
            kind: UsageKind::Consume,
            date,
            at: now,
            draws,
        };
        let ticket = self.state.shared.writer.enqueue(&self.state, event);
        drop(book);
        Ok(Consumed {
            key,
            unit: unit.clone(),
            quantity,
            kind: UsageKind::Consume,
            remaining: Quantity::new(left),
            replayed: false,
            ticket,
        })
    }

    /// [`consume`](Self::consume), then wait until the event is stored. Concurrent callers share
    /// one write (group commit).
    ///
    /// This is the answer to trust when several processes meter the same tenant: the write is
    /// conditional on the usage journal's head, so an event that another process's usage left
    /// no room for is refused here (with the figures on the store), and a refusal from this
    /// process's view is checked against the journal before it is given.
    ///
    /// # Errors
    /// As [`consume`](Self::consume); storage errors (the event stays applied and queued, and
    /// the next flush retries it; retrying the call with the same key waits for that);
    /// [`Error::OutcomeUnknown`](marketingforce_core::Error::OutcomeUnknown) when other
    /// processes kept the journal moving through every attempt (the event stays queued).
    #[operation("modules.metering.consume_durable", tenant = self.tenant(), key = key, observe = crate::telemetry::consumed)]
    pub async fn consume_durable(
        &self,
        unit: &UsageUnit,
        quantity: impl Into<Quantity>,
        key: &IdempotencyKey,
    ) -> Result<Consumed> {
        let quantity = quantity.into();
        let c = match self.consume(unit, quantity, key) {
            Err(ModulesError::QuotaExceeded { .. } | ModulesError::NoQuota { .. }) => {
                // Another process may have written since this view was current (a grant, a
                // credit, or this very key): decide again once the view has caught up with the
                // grants and usage journals (or with a flush that ran meanwhile).
                self.state.reload_grants(false).await?;
                self.state.shared.writer.catch_up(&self.state).await?;
                self.consume(unit, quantity, key)?
            }
            other => other?,
        };
        self.wait(c).await
    }

    /// Wait until the event of `c` (a result of this meter) is stored, and return what became
    /// of it: as it was, a replay of another process's recording, or a refusal.
    pub(crate) async fn wait(&self, c: Consumed) -> Result<Consumed> {
        let writer = &self.state.shared.writer;
        if c.ticket == 0 {
            // A replay: make sure everything queued so far (including the first recording)
            // is stored; a failure of other tenants' writes leaves this tenant's stored.
            if let Err(e) = writer.flush().await {
                if writer.has_queued(self.state.tenant) {
                    return Err(e);
                }
            }
            return Ok(c);
        }
        writer.wait_durable(c.ticket).await?;
        match writer.take_fate(c.ticket) {
            None => Ok(c),
            Some(writer::Fate::Replayed) => Ok(Consumed {
                replayed: true,
                remaining: self.remaining(&c.unit),
                ticket: 0,
                ..c
            }),
            Some(writer::Fate::Refused(e)) => Err(e),
            Some(writer::Fate::Reapplied(remaining)) => Ok(Consumed { remaining, ..c }),
        }
    }

    /// Give back `quantity` units of a level unit (leads deleted, storage freed), once per
    /// event `key`. Units go back to the buckets valid today, the last-drawn first.
    ///
    /// # Errors
    /// A validation error when the unit is not a level unit or more would be credited than is
    /// used today; [`ModulesError::UsageEventMismatch`] on a key replayed with other figures.
    pub fn credit(
        &self,
        unit: &UsageUnit,
        quantity: impl Into<Quantity>,
        key: &IdempotencyKey,
    ) -> Result<Consumed> {
        let quantity = quantity.into();
        let key = key.as_str();
        check_key(key)?;
        quantity.ensure_positive("quantity")?;
        if !unit.is_level() {
            return Err(ModulesError::validation(
                "unit",
                format!("{unit} counts events, not a level; it cannot be credited back"),
            ));
        }
        let now = self.state.shared.clock.now();
        let mut book = self.book();
        let date = book.date_of(now, self.state.time_zone);
        let (key, replayed) = if let Some(seen) = book.seen(key) {
            Self::replay(&seen, key, unit, quantity, UsageKind::Credit)?;
            (seen.key, true)
        } else {
            let draws = book.plan_credit(unit, quantity.get(), date)?;
            let key: Arc<str> = Arc::from(key);
            book.record(
                &key,
                unit,
                quantity,
                UsageKind::Credit,
                date,
                draws.as_slice(),
            );
            let event = QueuedEvent {
                key: key.clone(),
                unit: unit.clone(),
                quantity,
                kind: UsageKind::Credit,
                date,
                at: now,
                draws,
            };
            self.state.shared.writer.enqueue(&self.state, event);
            (key, false)
        };
        Ok(Consumed {
            key,
            unit: unit.clone(),
            quantity,
            kind: UsageKind::Credit,
            remaining: book.remaining(unit, date),
            replayed,
            ticket: 0,
        })
    }

    /// Hold `quantity` units of `unit` under `key` until [`commit`](Self::commit) or
    /// [`release`](Self::release). Reserving again with the same key and figures returns the
    /// open reservation.
    ///
    /// # Errors
    /// As [`consume`](Self::consume); [`ModulesError::ReservationNotOpen`] when the key was
    /// already committed.
    pub fn reserve(
        &self,
        unit: &UsageUnit,
        quantity: impl Into<Quantity>,
        key: &IdempotencyKey,
    ) -> Result<Reservation> {
        self.reserve_under(unit, quantity.into(), key.as_str())
    }

    /// [`reserve`](Self::reserve) under a raw event key (see
    /// [`consume_under`](Self::consume_under)).
    pub(crate) fn reserve_under(
        &self,
        unit: &UsageUnit,
        quantity: Quantity,
        key: &str,
    ) -> Result<Reservation> {
        check_key(key)?;
        quantity.ensure_positive("quantity")?;
        let now = self.state.shared.clock.now();
        let mut book = self.book();
        let date = book.date_of(now, self.state.time_zone);
        if book.seen(key).is_some() {
            return Err(ModulesError::ReservationNotOpen {
                key: key.to_string(),
                reason: "already committed".into(),
            });
        }
        if let Some(h) = book.held(key) {
            if h.unit != *unit || h.quantity != quantity {
                return Err(ModulesError::UsageEventMismatch {
                    key: key.to_string(),
                    first_unit: h.unit.clone(),
                    first_quantity: h.quantity,
                    unit: unit.clone(),
                    quantity,
                });
            }
            return Ok(Reservation {
                key: Arc::from(key),
                unit: unit.clone(),
                quantity,
                replayed: true,
            });
        }
        let Drawn { draws, .. } = book
            .draw(unit, quantity.get(), date, true)
            .map_err(|d| self.denied(unit, quantity, d))?;
        let key: Arc<str> = Arc::from(key);
        book.hold(
            key.clone(),
            Held {
                unit: unit.clone(),
                quantity,
                date,
                draws,
            },
        );
        Ok(Reservation {
            key,
            unit: unit.clone(),
            quantity,
            replayed: false,
        })
    }

    /// Turn the reservation `key` into a usage event of `used` units (at most what was held);
    /// the rest is released. Committing again with the same figures returns the recorded event.
    ///
    /// # Errors
    /// [`ModulesError::ReservationNotOpen`] for a key never reserved or released,
    /// a validation error when `used` is zero or more than was held,
    /// [`ModulesError::UsageEventMismatch`] when the key was committed with another quantity.
    pub fn commit(&self, used: impl Into<Quantity>, key: &IdempotencyKey) -> Result<Consumed> {
        self.commit_under(used.into(), key.as_str())
    }

    /// [`commit`](Self::commit) under a raw event key (see
    /// [`consume_under`](Self::consume_under)).
    pub(crate) fn commit_under(&self, used: Quantity, key: &str) -> Result<Consumed> {
        check_key(key)?;
        used.ensure_positive("quantity")?;
        let now = self.state.shared.clock.now();
        let mut book = self.book();
        if let Some(seen) = book.seen(key) {
            let (unit, date) = (seen.unit.clone(), seen.date);
            Self::replay(&seen, key, &unit, used, UsageKind::Consume)?;
            return Ok(Consumed {
                key: seen.key,
                remaining: book.remaining(&unit, date),
                unit,
                quantity: used,
                kind: UsageKind::Consume,
                replayed: true,
                ticket: 0,
            });
        }
        let Some(held) = book.held(key) else {
            return Err(ModulesError::ReservationNotOpen {
                key: key.to_string(),
                reason: "no open reservation under this key (never reserved, or released)".into(),
            });
        };
        if used > held.quantity {
            return Err(ModulesError::validation(
                "quantity",
                format!(
                    "{used} is more than the {} reserved under {key}",
                    held.quantity
                ),
            ));
        }
        let Some(held) = book.unhold(key) else {
            return Err(ModulesError::ReservationNotOpen {
                key: key.to_string(),
                reason: "released concurrently".into(),
            });
        };
        let mut left = used.get();
        let mut draws = book::Draws::default();
        for d in held.draws.as_slice() {
            if left == 0 {
                break;
            }
            let take = d.quantity.min(left);
            left -= take;
            draws.push(book::Draw {
                quantity: take,
                ..d.clone()
            });
        }
        let key: Arc<str> = Arc::from(key);
        book.record(
            &key,
            &held.unit,
            used,
            UsageKind::Consume,
            held.date,
            draws.as_slice(),
        );
        let event = QueuedEvent {
            key: key.clone(),
            unit: held.unit.clone(),
            quantity: used,
            kind: UsageKind::Consume,
            date: held.date,
            at: now,
            draws,
        };
        let ticket = self.state.shared.writer.enqueue(&self.state, event);
        Ok(Consumed {
            key,
            remaining: book.remaining(&held.unit, held.date),
            unit: held.unit,
            quantity: used,
            kind: UsageKind::Consume,
            replayed: false,
            ticket,
        })
    }

    /// [`commit`](Self::commit), then wait until the event is stored.
    ///
    /// # Errors
    /// As [`commit`](Self::commit) and [`consume_durable`](Self::consume_durable).
    #[operation("modules.metering.commit_durable", tenant = self.tenant(), key = key, observe = crate::telemetry::consumed)]
    pub async fn commit_durable(
        &self,
        used: impl Into<Quantity>,
        key: &IdempotencyKey,
    ) -> Result<Consumed> {
        let c = self.commit(used, key)?;
        self.wait(c).await
    }

    /// Release the reservation `key`. Returns false when no reservation was open under it.
    pub fn release(&self, key: &IdempotencyKey) -> bool {
        self.release_under(key.as_str())
    }

    /// [`release`](Self::release) under a raw event key (see
    /// [`consume_under`](Self::consume_under)).
    pub(crate) fn release_under(&self, key: &str) -> bool {
        self.book().unhold(key).is_some()
    }

    /// Units of `unit` that can still be consumed today.
    pub fn remaining(&self, unit: &UsageUnit) -> Quantity {
        self.balance(unit).remaining
    }

    /// The balance of `unit` today, bucket by bucket.
    pub fn balance(&self, unit: &UsageUnit) -> UnitBalance {
        let now = self.state.shared.clock.now();
        let mut book = self.book();
        let date = book.date_of(now, self.state.time_zone);
        book.balance(unit, date)
    }

    /// The balance of every unit the tenant has quota for, today.
    pub fn balances(&self) -> Vec<UnitBalance> {
        let now = self.state.shared.clock.now();
        let mut book = self.book();
        let date = book.date_of(now, self.state.time_zone);
        book.units().iter().map(|u| book.balance(u, date)).collect()
    }

    /// The unit, quantity and kind an event `key` was first recorded with, if it was.
    pub(crate) fn recorded(&self, key: &str) -> Option<(UsageUnit, Quantity, UsageKind)> {
        self.book()
            .seen(key)
            .map(|s| (s.unit.clone(), s.quantity, s.kind))
    }

    /// Number of open reservations.
    pub fn open_reservations(&self) -> usize {
        self.book().held_count()
    }

    /// Number of distinct usage events recorded.
    pub fn events_recorded(&self) -> usize {
        self.book().event_count()
    }

    /// Write every queued usage event (of every tenant sharing the writer).
    ///
    /// # Errors
    /// Storage errors; failed events stay queued for the next flush.
    #[operation("modules.metering.flush", tenant = self.tenant())]
    pub async fn flush(&self) -> Result<()> {
        self.state.shared.writer.flush().await
    }
}
