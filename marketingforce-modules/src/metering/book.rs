//! The usage book of one tenant: quota buckets, what was drawn from them, open reservations and
//! the event keys seen. Pure state, no I/O: the same grants and the same recorded events always
//! give the same balances, which is what makes a restart rebuild exact.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use marketingforce_core::money::Quantity;
use serde::{Deserialize, Serialize};

use crate::catalog::{QuotaPeriod, UsageUnit};
use crate::entitlements::{Grant, GrantId, QuotaSource};
use crate::error::{ModulesError, Result};

/// Whether an event uses units up or gives them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// Units used.
    Consume,
    /// Units given back (a level unit going down: leads deleted, files removed).
    Credit,
}

/// Units drawn from (or credited to) one quota bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Draw {
    /// The grant whose quota was drawn.
    pub grant: GrantId,
    /// Which of the grant's quotas of the unit: included or purchased.
    pub source: QuotaSource,
    /// First day of the bucket's window (the grant start, or the month's first day in the
    /// grant).
    pub window: NaiveDate,
    /// Units.
    pub quantity: u64,
}

/// One recorded usage event, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// The caller's idempotency key for the event.
    pub key: String,
    /// The unit.
    pub unit: UsageUnit,
    /// Units.
    pub quantity: Quantity,
    /// Consume or credit.
    pub kind: UsageKind,
    /// Civil date the event counted on.
    pub date: NaiveDate,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Where the units went, bucket by bucket.
    pub draws: Vec<Draw>,
}

/// An open reservation (capacity held, not yet used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub unit: UsageUnit,
    pub quantity: Quantity,
    pub date: NaiveDate,
    pub draws: Vec<Draw>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct QuotaDef {
    grant: GrantId,
    source: QuotaSource,
    period: QuotaPeriod,
    start: NaiveDate,
    end: NaiveDate,
    limit: u64,
}

impl QuotaDef {
    fn covers(&self, date: NaiveDate) -> bool {
        self.start <= date && date < self.end
    }

    /// The bucket window containing `date` (which the def covers): `[start, end)`.
    fn window(&self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        match self.period {
            QuotaPeriod::Term => (self.start, self.end),
            QuotaPeriod::Month => {
                let first = date.with_day(1).unwrap_or(date);
                let next = first
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(self.end);
                (first.max(self.start), next.min(self.end))
            }
        }
    }

    fn draw_order(&self) -> (QuotaSource, u8, NaiveDate, GrantId) {
        let period_rank = match self.period {
            QuotaPeriod::Month => 0,
            QuotaPeriod::Term => 1,
        };
        (self.source, period_rank, self.end, self.grant)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BucketUse {
    used: u64,
    reserved: u64,
}

#[derive(Debug, Clone, Default)]
struct UnitBook {
    /// Quota definitions in draw order.
    defs: Vec<QuotaDef>,
    /// Usage per bucket (grant, window start).
    buckets: HashMap<(GrantId, QuotaSource, NaiveDate), BucketUse>,
}

/// The first recording of an event key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub unit: UsageUnit,
    pub quantity: Quantity,
    pub kind: UsageKind,
    pub date: NaiveDate,
}

/// One bucket's state, as reported by [`UnitBalance`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketBalance {
    /// The grant.
    pub grant: GrantId,
    /// Included or purchased.
    pub source: QuotaSource,
    /// First day of the window.
    pub window_start: NaiveDate,
    /// Day after the window (exclusive).
    pub window_end: NaiveDate,
    /// The quota of the window.
    pub limit: Quantity,
    /// Units used.
    pub used: Quantity,
    /// Units held by open reservations.
    pub reserved: Quantity,
}

/// The balance of one unit on one date: every bucket valid that day, and their totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitBalance {
    /// The unit.
    pub unit: UsageUnit,
    /// The date.
    pub date: NaiveDate,
    /// Sum of the limits.
    pub limit: Quantity,
    /// Sum used.
    pub used: Quantity,
    /// Sum reserved.
    pub reserved: Quantity,
    /// What can still be consumed: `limit − used − reserved`.
    pub remaining: Quantity,
    /// The buckets, in draw order.
    pub buckets: Vec<BucketBalance>,
}

/// A denial before any state changed.
pub(crate) enum Denial {
    NoQuota,
    Exceeded {
        remaining: u64,
        limit: u64,
        window_end: NaiveDate,
    },
}

/// Everything a tenant used, per bucket, plus the keys seen and open reservations.
#[derive(Debug, Clone, Default)]
pub(crate) struct UsageBook {
    units: HashMap<UsageUnit, UnitBook>,
    seen: HashMap<String, Seen>,
    held: HashMap<String, Held>,
}

impl UsageBook {
    /// Replace the quota definitions with those of `grants`, keeping all usage.
    pub fn set_grants(&mut self, grants: &[Grant]) {
        for ub in self.units.values_mut() {
            ub.defs.clear();
        }
        for g in grants {
            for q in &g.quotas {
                let ub = self.units.entry(q.unit.clone()).or_default();
                ub.defs.push(QuotaDef {
                    grant: g.id,
                    source: q.source,
                    period: q.period,
                    start: g.start,
                    end: g.end,
                    limit: q.quantity.get(),
                });
            }
        }
        for ub in self.units.values_mut() {
            ub.defs.sort_by_key(QuotaDef::draw_order);
        }
    }

    /// The first recording of `key`, if any.
    pub fn seen(&self, key: &str) -> Option<&Seen> {
        self.seen.get(key)
    }

    /// The open reservation under `key`, if any.
    pub fn held(&self, key: &str) -> Option<&Held> {
        self.held.get(key)
    }

    /// Number of open reservations.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Number of distinct event keys recorded.
    pub fn event_count(&self) -> usize {
        self.seen.len()
    }

    /// Plan drawing `quantity` of `unit` on `date` without changing anything.
    pub fn plan(
        &self,
        unit: &UsageUnit,
        quantity: u64,
        date: NaiveDate,
    ) -> Result<(Vec<Draw>, u64), Denial> {
        let Some(ub) = self.units.get(unit) else {
            return Err(Denial::NoQuota);
        };
        let mut available: u64 = 0;
        let mut limit: u64 = 0;
        let mut window_end: Option<NaiveDate> = None;
        let mut any = false;
        for def in ub.defs.iter().filter(|d| d.covers(date)) {
            any = true;
            let (ws, we) = def.window(date);
            let u = ub
                .buckets
                .get(&(def.grant, def.source, ws))
                .copied()
                .unwrap_or_default();
            available = available.saturating_add(def.limit.saturating_sub(u.used + u.reserved));
            limit = limit.saturating_add(def.limit);
            if window_end.is_none_or(|e| we < e) {
                window_end = Some(we);
            }
        }
        if !any {
            return Err(Denial::NoQuota);
        }
        if available < quantity {
            return Err(Denial::Exceeded {
                remaining: available,
                limit,
                window_end: window_end.unwrap_or(date),
            });
        }
        let mut left = quantity;
        let mut draws = Vec::with_capacity(2);
        for def in ub.defs.iter().filter(|d| d.covers(date)) {
            if left == 0 {
                break;
            }
            let (ws, _) = def.window(date);
            let u = ub
                .buckets
                .get(&(def.grant, def.source, ws))
                .copied()
                .unwrap_or_default();
            let take = def.limit.saturating_sub(u.used + u.reserved).min(left);
            if take > 0 {
                draws.push(Draw {
                    grant: def.grant,
                    source: def.source,
                    window: ws,
                    quantity: take,
                });
                left -= take;
            }
        }
        Ok((draws, available))
    }

    /// Plan crediting `quantity` back to the buckets valid on `date`, latest-drawn first.
    pub fn plan_credit(
        &self,
        unit: &UsageUnit,
        quantity: u64,
        date: NaiveDate,
    ) -> Result<Vec<Draw>> {
        let ub = self.units.get(unit);
        let mut left = quantity;
        let mut draws = Vec::new();
        if let Some(ub) = ub {
            for def in ub.defs.iter().rev().filter(|d| d.covers(date)) {
                if left == 0 {
                    break;
                }
                let (ws, _) = def.window(date);
                let used = ub
                    .buckets
                    .get(&(def.grant, def.source, ws))
                    .map_or(0, |u| u.used);
                let take = used.min(left);
                if take > 0 {
                    draws.push(Draw {
                        grant: def.grant,
                        source: def.source,
                        window: ws,
                        quantity: take,
                    });
                    left -= take;
                }
            }
        }
        if left > 0 {
            return Err(ModulesError::validation(
                "quantity",
                format!(
                    "cannot credit {quantity} {unit}: only {} used in the quotas valid on {date}",
                    quantity - left
                ),
            ));
        }
        Ok(draws)
    }

    fn bucket(&mut self, unit: &UsageUnit, d: &Draw) -> &mut BucketUse {
        // Cloning a built-in unit is free; custom units clone their name.
        self.units
            .entry(unit.clone())
            .or_default()
            .buckets
            .entry((d.grant, d.source, d.window))
            .or_default()
    }

    /// Apply a recorded event. Returns false (and changes nothing) when its key was seen.
    pub fn apply(&mut self, e: &UsageEvent) -> bool {
        if self.seen.contains_key(&e.key) {
            return false;
        }
        for d in &e.draws {
            let b = self.bucket(&e.unit, d);
            match e.kind {
                UsageKind::Consume => b.used = b.used.saturating_add(d.quantity),
                UsageKind::Credit => b.used = b.used.saturating_sub(d.quantity),
            }
        }
        self.seen.insert(
            e.key.clone(),
            Seen {
                unit: e.unit.clone(),
                quantity: e.quantity,
                kind: e.kind,
                date: e.date,
            },
        );
        true
    }

    /// Hold capacity under `key`.
    pub fn hold(&mut self, key: String, held: Held) {
        for d in &held.draws {
            let b = self.bucket(&held.unit, d);
            b.reserved = b.reserved.saturating_add(d.quantity);
        }
        self.held.insert(key, held);
    }

    /// Drop the reservation under `key`, giving its capacity back.
    pub fn unhold(&mut self, key: &str) -> Option<Held> {
        let held = self.held.remove(key)?;
        for d in &held.draws {
            let b = self.bucket(&held.unit, d);
            b.reserved = b.reserved.saturating_sub(d.quantity);
        }
        Some(held)
    }

    /// The balance of `unit` on `date`.
    pub fn balance(&self, unit: &UsageUnit, date: NaiveDate) -> UnitBalance {
        let mut out = UnitBalance {
            unit: unit.clone(),
            date,
            limit: Quantity::ZERO,
            used: Quantity::ZERO,
            reserved: Quantity::ZERO,
            remaining: Quantity::ZERO,
            buckets: Vec::new(),
        };
        let Some(ub) = self.units.get(unit) else {
            return out;
        };
        let (mut limit, mut used, mut reserved, mut remaining) = (0u64, 0u64, 0u64, 0u64);
        for def in ub.defs.iter().filter(|d| d.covers(date)) {
            let (ws, we) = def.window(date);
            let u = ub
                .buckets
                .get(&(def.grant, def.source, ws))
                .copied()
                .unwrap_or_default();
            limit = limit.saturating_add(def.limit);
            used = used.saturating_add(u.used);
            reserved = reserved.saturating_add(u.reserved);
            remaining = remaining.saturating_add(def.limit.saturating_sub(u.used + u.reserved));
            out.buckets.push(BucketBalance {
                grant: def.grant,
                source: def.source,
                window_start: ws,
                window_end: we,
                limit: Quantity::new(def.limit),
                used: Quantity::new(u.used),
                reserved: Quantity::new(u.reserved),
            });
        }
        out.limit = Quantity::new(limit);
        out.used = Quantity::new(used);
        out.reserved = Quantity::new(reserved);
        out.remaining = Quantity::new(remaining);
        out
    }

    /// Every bucket with its used units (sorted), for comparing a live book with a rebuilt one.
    pub fn usage_snapshot(&self) -> BTreeMap<(String, GrantId, QuotaSource, NaiveDate), u64> {
        let mut out = BTreeMap::new();
        for (unit, ub) in &self.units {
            for ((g, s, w), u) in &ub.buckets {
                if u.used > 0 {
                    out.insert((unit.to_string(), *g, *s, *w), u.used);
                }
            }
        }
        out
    }

    /// The units that have quota definitions.
    pub fn units(&self) -> Vec<UsageUnit> {
        let mut v: Vec<UsageUnit> = self
            .units
            .iter()
            .filter(|(_, ub)| !ub.defs.is_empty())
            .map(|(u, _)| u.clone())
            .collect();
        v.sort();
        v
    }

    /// Keys of all recorded events, sorted.
    pub fn event_keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self.seen.keys().cloned().collect();
        v.sort();
        v
    }
}
