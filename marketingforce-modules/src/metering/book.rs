//! The usage book of one tenant: quota buckets, what was drawn from them, open reservations and
//! the event keys seen. Pure state, no I/O: the same grants and the same recorded events always
//! give the same balances, which is what makes a restart rebuild exact.

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use marketingforce_core::money::Quantity;
use marketingforce_core::time::TimeZone;
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
    pub key: Arc<str>,
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BucketUse {
    used: u64,
    reserved: u64,
}

/// One quota of a grant for a unit, with the usage of each of its windows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QuotaDef {
    grant: GrantId,
    source: QuotaSource,
    period: QuotaPeriod,
    start: NaiveDate,
    end: NaiveDate,
    limit: u64,
    /// Usage per window start, ascending (one window for a term quota, one per month for a
    /// monthly one); the current window is nearly always the last.
    windows: Vec<(NaiveDate, BucketUse)>,
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
                let (y, m) = (date.year(), date.month());
                let first = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(date);
                let next = if m == 12 {
                    NaiveDate::from_ymd_opt(y + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(y, m + 1, 1)
                }
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

    fn usage(&self, window: NaiveDate) -> BucketUse {
        match self.windows.last() {
            Some((w, u)) if *w == window => *u,
            _ => self
                .windows
                .binary_search_by_key(&window, |(w, _)| *w)
                .map_or_else(|_| BucketUse::default(), |i| self.windows[i].1),
        }
    }

    fn usage_mut(&mut self, window: NaiveDate) -> &mut BucketUse {
        let i = match self.windows.last() {
            Some((w, _)) if *w == window => self.windows.len() - 1,
            _ => match self.windows.binary_search_by_key(&window, |(w, _)| *w) {
                Ok(i) => i,
                Err(i) => {
                    self.windows.insert(i, (window, BucketUse::default()));
                    i
                }
            },
        };
        &mut self.windows[i].1
    }

    fn available(&self, date: NaiveDate) -> (u64, NaiveDate, NaiveDate) {
        let (ws, we) = self.window(date);
        let u = self.usage(ws);
        (self.limit.saturating_sub(u.used + u.reserved), ws, we)
    }
}

#[derive(Debug, Clone, Default)]
struct UnitBook {
    /// Quota definitions in draw order, each with its usage.
    defs: Vec<QuotaDef>,
    /// Usage recorded against quotas no grant defines any more (kept so nothing is lost).
    orphans: BTreeMap<(GrantId, QuotaSource, NaiveDate), BucketUse>,
}

impl UnitBook {
    fn bucket(&mut self, d: &Draw) -> &mut BucketUse {
        match self
            .defs
            .iter()
            .position(|q| q.grant == d.grant && q.source == d.source)
        {
            Some(i) => self.defs[i].usage_mut(d.window),
            None => self
                .orphans
                .entry((d.grant, d.source, d.window))
                .or_default(),
        }
    }
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
    seen: HashMap<Arc<str>, Seen>,
    held: HashMap<Arc<str>, Held>,
    /// The civil date of the last instant asked about, with the instants its day spans.
    day: Option<(DateTime<Utc>, DateTime<Utc>, NaiveDate)>,
}

impl UsageBook {
    /// The civil date of `now` in `zone`, cached for the day.
    pub fn date_of(&mut self, now: DateTime<Utc>, zone: TimeZone) -> NaiveDate {
        if let Some((from, to, date)) = self.day {
            if from <= now && now < to {
                return date;
            }
        }
        let date = zone.date_of(now);
        let from = zone.start_of_day(date);
        let to = date.succ_opt().map_or(from, |d| zone.start_of_day(d));
        self.day = Some((from, to, date));
        date
    }

    /// Replace the quota definitions with those of `grants`, keeping all usage.
    pub fn set_grants(&mut self, grants: &[Grant]) {
        let mut usage: BTreeMap<(UsageUnit, GrantId, QuotaSource, NaiveDate), BucketUse> =
            BTreeMap::new();
        for (unit, ub) in std::mem::take(&mut self.units) {
            for def in ub.defs {
                for (w, u) in def.windows {
                    usage.insert((unit.clone(), def.grant, def.source, w), u);
                }
            }
            for ((g, src, w), u) in ub.orphans {
                usage.insert((unit.clone(), g, src, w), u);
            }
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
                    windows: Vec::new(),
                });
            }
        }
        for ub in self.units.values_mut() {
            ub.defs.sort_by_key(QuotaDef::draw_order);
        }
        for ((unit, g, src, w), u) in usage {
            let d = Draw {
                grant: g,
                source: src,
                window: w,
                quantity: 0,
            };
            *self.units.entry(unit).or_default().bucket(&d) = u;
        }
    }

    /// The first recording of `key`, if any.
    pub fn seen(&self, key: &str) -> Option<&Seen> {
        self.seen.get(key)
    }

    /// The open reservation under `key`, if any.
    pub fn held(&self, key: &str) -> Option<&Held> {
        if self.held.is_empty() {
            return None;
        }
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

    /// Draw `quantity` of `unit` on `date` from the buckets valid then, in draw order, as used
    /// units (or, with `reserve`, as reserved units). All or nothing: a denial changes nothing.
    /// Returns the draws and what is left afterwards.
    pub fn draw(
        &mut self,
        unit: &UsageUnit,
        quantity: u64,
        date: NaiveDate,
        reserve: bool,
    ) -> Result<(Vec<Draw>, u64), Denial> {
        let Some(ub) = self.units.get_mut(unit) else {
            return Err(Denial::NoQuota);
        };
        // Pass 1: what each covering quota has left in its current window (kept for pass 2).
        const INLINE: usize = 8;
        let mut inline = [(0usize, date, 0u64); INLINE];
        let mut spill: Vec<(usize, NaiveDate, u64)> = Vec::new();
        let mut n = 0usize;
        let mut available: u64 = 0;
        let mut limit: u64 = 0;
        let mut window_end: Option<NaiveDate> = None;
        for (i, def) in ub.defs.iter().enumerate().filter(|(_, d)| d.covers(date)) {
            let (a, ws, we) = def.available(date);
            if n < INLINE {
                inline[n] = (i, ws, a);
            } else {
                spill.push((i, ws, a));
            }
            n += 1;
            available = available.saturating_add(a);
            limit = limit.saturating_add(def.limit);
            if window_end.is_none_or(|e| we < e) {
                window_end = Some(we);
            }
        }
        if n == 0 {
            return Err(Denial::NoQuota);
        }
        if available < quantity {
            return Err(Denial::Exceeded {
                remaining: available,
                limit,
                window_end: window_end.unwrap_or(date),
            });
        }
        // Pass 2: draw in order.
        let mut left = quantity;
        let mut draws = Vec::with_capacity(1);
        for &(i, ws, a) in inline[..n.min(INLINE)].iter().chain(spill.iter()) {
            if left == 0 {
                break;
            }
            let take = a.min(left);
            if take == 0 {
                continue;
            }
            let def = &mut ub.defs[i];
            let b = def.usage_mut(ws);
            if reserve {
                b.reserved += take;
            } else {
                b.used += take;
            }
            draws.push(Draw {
                grant: def.grant,
                source: def.source,
                window: ws,
                quantity: take,
            });
            left -= take;
        }
        Ok((draws, available - quantity))
    }

    /// Plan crediting `quantity` back to the buckets valid on `date`, latest-drawn first.
    pub fn plan_credit(
        &self,
        unit: &UsageUnit,
        quantity: u64,
        date: NaiveDate,
    ) -> Result<Vec<Draw>> {
        let mut left = quantity;
        let mut draws = Vec::new();
        if let Some(ub) = self.units.get(unit) {
            for def in ub.defs.iter().rev().filter(|d| d.covers(date)) {
                if left == 0 {
                    break;
                }
                let (ws, _) = def.window(date);
                let take = def.usage(ws).used.min(left);
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

    /// Record that the event `e` was seen (its draws already applied by [`draw`](Self::draw)).
    pub fn mark_seen(&mut self, e: &UsageEvent) {
        self.seen.insert(
            e.key.clone(),
            Seen {
                unit: e.unit.clone(),
                quantity: e.quantity,
                kind: e.kind,
                date: e.date,
            },
        );
    }

    /// Apply a recorded event (rebuild, credits, commits). Returns false (and changes nothing)
    /// when its key was seen.
    pub fn apply(&mut self, e: &UsageEvent) -> bool {
        if self.seen.contains_key(&e.key) {
            return false;
        }
        if let Some(ub) = self.units.get_mut(&e.unit) {
            for d in &e.draws {
                let b = ub.bucket(d);
                match e.kind {
                    UsageKind::Consume => b.used = b.used.saturating_add(d.quantity),
                    UsageKind::Credit => b.used = b.used.saturating_sub(d.quantity),
                }
            }
        } else {
            let ub = self.units.entry(e.unit.clone()).or_default();
            for d in &e.draws {
                let b = ub.bucket(d);
                match e.kind {
                    UsageKind::Consume => b.used = b.used.saturating_add(d.quantity),
                    UsageKind::Credit => b.used = b.used.saturating_sub(d.quantity),
                }
            }
        }
        self.mark_seen(e);
        true
    }

    /// Record an open reservation (its draws already held by [`draw`](Self::draw)).
    pub fn hold(&mut self, key: Arc<str>, held: Held) {
        self.held.insert(key, held);
    }

    /// Drop the reservation under `key`, giving its capacity back.
    pub fn unhold(&mut self, key: &str) -> Option<Held> {
        let held = self.held.remove(key)?;
        let ub = self.units.entry(held.unit.clone()).or_default();
        for d in &held.draws {
            let b = ub.bucket(d);
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
            let u = def.usage(ws);
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
            for def in &ub.defs {
                for (w, u) in &def.windows {
                    if u.used > 0 {
                        out.insert((unit.to_string(), def.grant, def.source, *w), u.used);
                    }
                }
            }
            for ((g, s, w), u) in &ub.orphans {
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
        let mut v: Vec<String> = self.seen.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }
}
