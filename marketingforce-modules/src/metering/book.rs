//! The usage book of one tenant: quota buckets, what was drawn from them, open reservations and
//! the event keys seen. Pure state, no I/O: the same grants and the same recorded events always
//! give the same balances, which is what makes a restart rebuild exact.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};
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

/// The draws of one event, kept inline when there is one (nearly always), so recording an event
/// allocates nothing for them. Serialized as a plain list, like [`UsageEvent::draws`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Draws {
    /// Exactly one draw.
    One([Draw; 1]),
    /// None, or more than one.
    Many(Vec<Draw>),
}

impl Default for Draws {
    fn default() -> Draws {
        Draws::Many(Vec::new())
    }
}

impl Draws {
    pub fn as_slice(&self) -> &[Draw] {
        match self {
            Draws::One(d) => d,
            Draws::Many(v) => v,
        }
    }

    pub fn push(&mut self, d: Draw) {
        match self {
            Draws::Many(v) if v.is_empty() => *self = Draws::One([d]),
            Draws::Many(v) => v.push(d),
            Draws::One([first]) => {
                *self = Draws::Many(vec![first.clone(), d]);
            }
        }
    }

    pub fn into_vec(self) -> Vec<Draw> {
        match self {
            Draws::One(d) => d.into(),
            Draws::Many(v) => v,
        }
    }
}

impl Serialize for Draws {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

/// An open reservation (capacity held, not yet used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub unit: UsageUnit,
    pub quantity: Quantity,
    pub date: NaiveDate,
    pub draws: Draws,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BucketUse {
    used: u64,
    reserved: u64,
}

/// One quota of a grant for a unit, with the usage of each of its windows.
#[derive(Debug, Clone)]
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
    /// The last window computed, `[start, end)` (empty until the first): a draw on a date
    /// inside it needs no calendar arithmetic.
    last_window: (NaiveDate, NaiveDate),
}

impl QuotaDef {
    fn covers(&self, date: NaiveDate) -> bool {
        self.start <= date && date < self.end
    }

    /// The bucket window containing `date` (which the def covers): `[start, end)`.
    fn window(&self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let (ws, we) = self.last_window;
        if ws <= date && date < we {
            return (ws, we);
        }
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

    /// [`window`](Self::window), remembered for the next call.
    fn window_mut(&mut self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let w = self.window(date);
        self.last_window = w;
        w
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
}

#[derive(Debug, Clone)]
struct UnitBook {
    unit: UsageUnit,
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

/// The first recording of an event key, packed small (the book keeps one per event): the unit
/// as its index in the book, and the kind in the index's lowest bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    quantity: Quantity,
    date: NaiveDate,
    unit_kind: u32,
}

impl Seen {
    fn new(unit: usize, kind: UsageKind, quantity: Quantity, date: NaiveDate) -> Seen {
        let kind_bit = match kind {
            UsageKind::Consume => 0,
            UsageKind::Credit => 1,
        };
        Seen {
            quantity,
            date,
            // Unit indexes stay far below 2^31 (one per distinct unit the tenant uses).
            unit_kind: ((unit as u32) << 1) | kind_bit,
        }
    }

    fn unit(self) -> usize {
        (self.unit_kind >> 1) as usize
    }

    fn kind(self) -> UsageKind {
        if self.unit_kind & 1 == 0 {
            UsageKind::Consume
        } else {
            UsageKind::Credit
        }
    }
}

/// An event key with its hash, computed once: the idempotency map never reads a key's text to
/// hash it again (when it grows) and compares texts only when the full hashes agree.
#[derive(Debug, Clone)]
struct SeenKey {
    hash: u64,
    key: Arc<str>,
}

/// What the idempotency map is looked up by: a stored [`SeenKey`] or a borrowed probe.
trait KeyView {
    fn hash64(&self) -> u64;
    fn text(&self) -> &str;
}

impl KeyView for SeenKey {
    fn hash64(&self) -> u64 {
        self.hash
    }
    fn text(&self) -> &str {
        &self.key
    }
}

/// A lookup by `&str` without allocating a key.
struct Probe<'a> {
    hash: u64,
    text: &'a str,
}

impl KeyView for Probe<'_> {
    fn hash64(&self) -> u64 {
        self.hash
    }
    fn text(&self) -> &str {
        self.text
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for SeenKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash64());
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.hash64() == other.hash64() && self.text() == other.text()
    }
}

impl Eq for dyn KeyView + '_ {}

impl Hash for SeenKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

impl PartialEq for SeenKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for SeenKey {}

/// Hashes a [`SeenKey`] to the hash it carries.
#[derive(Debug, Clone, Copy, Default)]
struct CarriedHash;

impl BuildHasher for CarriedHash {
    type Hasher = CarriedHasher;
    fn build_hasher(&self) -> CarriedHasher {
        CarriedHasher(0)
    }
}

/// See [`CarriedHash`]; anything but a `u64` is folded in byte by byte (never used by the map).
struct CarriedHasher(u64);

impl Hasher for CarriedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The first recording of an event key, as the book reports it.
#[derive(Debug, Clone)]
pub(crate) struct SeenEvent<'a> {
    /// The key as stored (share it instead of allocating another).
    pub key: Arc<str>,
    pub unit: &'a UsageUnit,
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

/// What [`UsageBook::consume`] did.
pub(crate) enum Consumption<'a> {
    /// The key was recorded before: nothing changed.
    Replay(SeenEvent<'a>),
    /// The key holds an open reservation: nothing changed.
    Held,
    /// Refused: nothing changed.
    Denied(Denial),
    /// Drawn and recorded under the key (returned, shared with the book).
    Recorded(Drawn, Arc<str>),
}

/// A successful draw.
pub(crate) struct Drawn {
    /// The unit's index in the book (for [`UsageBook::mark_seen`]).
    pub unit: usize,
    /// Where the units came from.
    pub draws: Draws,
    /// What is left of the unit afterwards.
    pub left: u64,
}

/// Everything a tenant used, per bucket, plus the keys seen and open reservations.
#[derive(Debug, Clone, Default)]
pub(crate) struct UsageBook {
    /// Every unit the book has known, at a stable index (never removed: [`Seen`] refers to it).
    units: Vec<UnitBook>,
    /// The index of each unit in `units`.
    unit_index: HashMap<UsageUnit, usize>,
    seen: std::collections::HashMap<SeenKey, Seen, CarriedHash>,
    /// Hashes event keys for `seen`.
    key_hasher: foldhash::fast::RandomState,
    held: HashMap<Arc<str>, Held>,
    /// The civil date of the last instant asked about, with the instants its day spans.
    day: Option<(DateTime<Utc>, DateTime<Utc>, NaiveDate)>,
    /// The usage journal's sequence number up to which stored events are applied: the
    /// position the next write is conditional on (events applied in memory and still queued
    /// come on top of it).
    pub position: u64,
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

    fn unit(&self, unit: &UsageUnit) -> Option<&UnitBook> {
        self.unit_index.get(unit).map(|&i| &self.units[i])
    }

    /// The index of `unit`, added (with no quota) if the book never knew it.
    fn unit_ix(&mut self, unit: &UsageUnit) -> usize {
        if let Some(&i) = self.unit_index.get(unit) {
            return i;
        }
        let i = self.units.len();
        self.units.push(UnitBook {
            unit: unit.clone(),
            defs: Vec::new(),
            orphans: BTreeMap::new(),
        });
        self.unit_index.insert(unit.clone(), i);
        i
    }

    /// Replace the quota definitions with those of `grants`, keeping all usage.
    pub fn set_grants(&mut self, grants: &[Grant]) {
        let mut usage: BTreeMap<(usize, GrantId, QuotaSource, NaiveDate), BucketUse> =
            BTreeMap::new();
        for (i, ub) in self.units.iter_mut().enumerate() {
            for def in std::mem::take(&mut ub.defs) {
                for (w, u) in def.windows {
                    usage.insert((i, def.grant, def.source, w), u);
                }
            }
            for ((g, src, w), u) in std::mem::take(&mut ub.orphans) {
                usage.insert((i, g, src, w), u);
            }
        }
        for g in grants {
            for q in &g.quotas {
                let i = self.unit_ix(&q.unit);
                self.units[i].defs.push(QuotaDef {
                    grant: g.id,
                    source: q.source,
                    period: q.period,
                    start: g.start,
                    end: g.end,
                    limit: q.quantity.get(),
                    windows: Vec::new(),
                    last_window: (g.start, g.start),
                });
            }
        }
        for ub in &mut self.units {
            ub.defs.sort_by_key(QuotaDef::draw_order);
        }
        for ((i, g, src, w), u) in usage {
            let d = Draw {
                grant: g,
                source: src,
                window: w,
                quantity: 0,
            };
            *self.units[i].bucket(&d) = u;
        }
    }

    fn probe<'k>(&self, key: &'k str) -> Probe<'k> {
        Probe {
            hash: self.key_hasher.hash_one(key),
            text: key,
        }
    }

    fn seen_event(&self, key: Arc<str>, seen: Seen) -> SeenEvent<'_> {
        SeenEvent {
            key,
            unit: &self.units[seen.unit()].unit,
            quantity: seen.quantity,
            kind: seen.kind(),
            date: seen.date,
        }
    }

    /// The first recording of `key`, if any.
    pub fn seen(&self, key: &str) -> Option<SeenEvent<'_>> {
        let probe = self.probe(key);
        let (key, seen) = self.seen.get_key_value(&probe as &dyn KeyView)?;
        Some(self.seen_event(key.key.clone(), *seen))
    }

    /// Consume `quantity` of `unit` on `date` under the new event `key` (see
    /// [`draw`](Self::draw)), unless the key was recorded before or holds a reservation. The
    /// key's text is hashed once, and allocated only when it is recorded.
    pub fn consume(
        &mut self,
        key: &str,
        unit: &UsageUnit,
        quantity: Quantity,
        date: NaiveDate,
    ) -> Consumption<'_> {
        let probe = self.probe(key);
        if let Some((k, seen)) = self.seen.get_key_value(&probe as &dyn KeyView) {
            let (k, seen) = (k.key.clone(), *seen);
            return Consumption::Replay(self.seen_event(k, seen));
        }
        if !self.held.is_empty() && self.held.contains_key(key) {
            return Consumption::Held;
        }
        match draw_in(
            &mut self.units,
            &self.unit_index,
            unit,
            quantity.get(),
            date,
            false,
        ) {
            Err(d) => Consumption::Denied(d),
            Ok(drawn) => {
                let key: Arc<str> = Arc::from(key);
                self.seen.insert(
                    SeenKey {
                        hash: probe.hash,
                        key: key.clone(),
                    },
                    Seen::new(drawn.unit, UsageKind::Consume, quantity, date),
                );
                Consumption::Recorded(drawn, key)
            }
        }
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
    pub fn draw(
        &mut self,
        unit: &UsageUnit,
        quantity: u64,
        date: NaiveDate,
        reserve: bool,
    ) -> Result<Drawn, Denial> {
        draw_in(
            &mut self.units,
            &self.unit_index,
            unit,
            quantity,
            date,
            reserve,
        )
    }

    /// Plan crediting `quantity` back to the buckets valid on `date`, latest-drawn first.
    pub fn plan_credit(&self, unit: &UsageUnit, quantity: u64, date: NaiveDate) -> Result<Draws> {
        let mut left = quantity;
        let mut draws = Draws::default();
        if let Some(ub) = self.unit(unit) {
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

    /// Record that the event `key` was seen (its draws already applied by [`draw`](Self::draw));
    /// `unit` is the index [`draw`](Self::draw) returned.
    pub fn mark_seen(
        &mut self,
        key: Arc<str>,
        unit: usize,
        kind: UsageKind,
        quantity: Quantity,
        date: NaiveDate,
    ) {
        let hash = self.key_hasher.hash_one(&*key);
        self.seen
            .insert(SeenKey { hash, key }, Seen::new(unit, kind, quantity, date));
    }

    /// Apply a recorded event (rebuild). Returns false (and changes nothing) when its key was
    /// seen.
    pub fn apply(&mut self, e: &UsageEvent) -> bool {
        self.record(&e.key, &e.unit, e.quantity, e.kind, e.date, &e.draws)
    }

    /// Apply an event given by its parts (credits, commits, rebuild). Returns false (and
    /// changes nothing) when its key was seen.
    pub fn record(
        &mut self,
        key: &Arc<str>,
        unit: &UsageUnit,
        quantity: Quantity,
        kind: UsageKind,
        date: NaiveDate,
        draws: &[Draw],
    ) -> bool {
        if self.seen.contains_key(&self.probe(key) as &dyn KeyView) {
            return false;
        }
        let i = self.move_usage(unit, kind, draws, true);
        self.mark_seen(key.clone(), i, kind, quantity, date);
        true
    }

    /// Apply (`forward`) or take back the usage an event's draws moved; returns the unit's
    /// index.
    fn move_usage(
        &mut self,
        unit: &UsageUnit,
        kind: UsageKind,
        draws: &[Draw],
        forward: bool,
    ) -> usize {
        let i = self.unit_ix(unit);
        let ub = &mut self.units[i];
        let adds = forward == (kind == UsageKind::Consume);
        for d in draws {
            let b = ub.bucket(d);
            b.used = if adds {
                b.used.saturating_add(d.quantity)
            } else {
                b.used.saturating_sub(d.quantity)
            };
        }
        i
    }

    /// Take back an event applied by [`record`](Self::record) or [`consume`](Self::consume)
    /// and not yet stored (a reconciliation with other processes' events re-applies it on top
    /// of theirs). Returns false (and changes nothing) when the key was not recorded.
    pub fn unrecord(
        &mut self,
        key: &str,
        unit: &UsageUnit,
        kind: UsageKind,
        draws: &[Draw],
    ) -> bool {
        let probe = self.probe(key);
        if self.seen.remove(&probe as &dyn KeyView).is_none() {
            return false;
        }
        self.move_usage(unit, kind, draws, false);
        true
    }

    /// Record an open reservation (its draws already held by [`draw`](Self::draw)).
    pub fn hold(&mut self, key: Arc<str>, held: Held) {
        self.held.insert(key, held);
    }

    /// Drop the reservation under `key`, giving its capacity back.
    pub fn unhold(&mut self, key: &str) -> Option<Held> {
        let held = self.held.remove(key)?;
        let i = self.unit_ix(&held.unit);
        let ub = &mut self.units[i];
        for d in held.draws.as_slice() {
            let b = ub.bucket(d);
            b.reserved = b.reserved.saturating_sub(d.quantity);
        }
        Some(held)
    }

    /// Units used of `unit` on `date` and its limit there: the sums over the quota buckets valid
    /// that day (the `used` and `limit` of [`balance`](Self::balance), without the bucket list).
    pub fn used_and_limit(&self, unit: &UsageUnit, date: NaiveDate) -> (u64, u64) {
        let Some(ub) = self.unit(unit) else {
            return (0, 0);
        };
        let (mut used, mut limit) = (0u64, 0u64);
        for def in ub.defs.iter().filter(|d| d.covers(date)) {
            let (ws, _) = def.window(date);
            used = used.saturating_add(def.usage(ws).used);
            limit = limit.saturating_add(def.limit);
        }
        (used, limit)
    }

    /// How many units of `draws` (an event of `unit`) count towards the usage of `unit` on
    /// `date`: those drawn from the buckets valid that day.
    pub fn counted_on(&self, unit: &UsageUnit, date: NaiveDate, draws: &[Draw]) -> u64 {
        let Some(ub) = self.unit(unit) else {
            return 0;
        };
        draws
            .iter()
            .filter(|d| {
                ub.defs.iter().any(|q| {
                    q.grant == d.grant
                        && q.source == d.source
                        && q.covers(date)
                        && q.window(date).0 == d.window
                })
            })
            .fold(0u64, |n, d| n.saturating_add(d.quantity))
    }

    /// What is left of `unit` on `date` (the `remaining` of [`balance`](Self::balance), without
    /// building the bucket list).
    pub fn remaining(&self, unit: &UsageUnit, date: NaiveDate) -> Quantity {
        let Some(ub) = self.unit(unit) else {
            return Quantity::ZERO;
        };
        let mut remaining = 0u64;
        for def in ub.defs.iter().filter(|d| d.covers(date)) {
            let (ws, _) = def.window(date);
            let u = def.usage(ws);
            remaining = remaining
                .saturating_add(def.limit.saturating_sub(u.used.saturating_add(u.reserved)));
        }
        Quantity::new(remaining)
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
        let Some(ub) = self.unit(unit) else {
            return out;
        };
        let (mut limit, mut used, mut reserved, mut remaining) = (0u64, 0u64, 0u64, 0u64);
        for def in ub.defs.iter().filter(|d| d.covers(date)) {
            let (ws, we) = def.window(date);
            let u = def.usage(ws);
            limit = limit.saturating_add(def.limit);
            used = used.saturating_add(u.used);
            reserved = reserved.saturating_add(u.reserved);
            remaining = remaining
                .saturating_add(def.limit.saturating_sub(u.used.saturating_add(u.reserved)));
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
        for ub in &self.units {
            for def in &ub.defs {
                for (w, u) in &def.windows {
                    if u.used > 0 {
                        out.insert((ub.unit.to_string(), def.grant, def.source, *w), u.used);
                    }
                }
            }
            for ((g, s, w), u) in &ub.orphans {
                if u.used > 0 {
                    out.insert((ub.unit.to_string(), *g, *s, *w), u.used);
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
            .filter(|ub| !ub.defs.is_empty())
            .map(|ub| ub.unit.clone())
            .collect();
        v.sort();
        v
    }

    /// Keys of all recorded events, sorted.
    pub fn event_keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self.seen.keys().map(|k| k.key.to_string()).collect();
        v.sort();
        v
    }
}

/// [`UsageBook::draw`] over the book's units (split from the book so a caller can hold another
/// of its fields).
fn draw_in(
    units: &mut [UnitBook],
    unit_index: &HashMap<UsageUnit, usize>,
    unit: &UsageUnit,
    quantity: u64,
    date: NaiveDate,
    reserve: bool,
) -> Result<Drawn, Denial> {
    let Some(&unit_ix) = unit_index.get(unit) else {
        return Err(Denial::NoQuota);
    };
    let ub = &mut units[unit_ix];
    // Pass 1: what each covering quota has left in its current window (kept for pass 2).
    const INLINE: usize = 8;
    let mut inline = [(0usize, date, 0u64); INLINE];
    let mut spill: Vec<(usize, NaiveDate, u64)> = Vec::new();
    let mut n = 0usize;
    let mut available: u64 = 0;
    let mut limit: u64 = 0;
    let mut window_end: Option<NaiveDate> = None;
    for (i, def) in ub.defs.iter_mut().enumerate() {
        if !def.covers(date) {
            continue;
        }
        let (ws, we) = def.window_mut(date);
        let u = def.usage(ws);
        let a = def.limit.saturating_sub(u.used.saturating_add(u.reserved));
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
    let mut draws = Draws::default();
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
    Ok(Drawn {
        unit: unit_ix,
        draws,
        left: available - quantity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketingforce_core::tenant::TenantId;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn keys_with_the_same_hash_stay_apart() {
        let mut m: std::collections::HashMap<SeenKey, u32, CarriedHash> = Default::default();
        for (text, v) in [("a", 1), ("b", 2)] {
            m.insert(
                SeenKey {
                    hash: 7,
                    key: Arc::from(text),
                },
                v,
            );
        }
        assert_eq!(m.len(), 2);
        let get = |hash, text| m.get(&Probe { hash, text } as &dyn KeyView).copied();
        assert_eq!(get(7, "a"), Some(1));
        assert_eq!(get(7, "b"), Some(2));
        assert_eq!(get(7, "c"), None);
        assert_eq!(get(8, "a"), None);
    }

    #[test]
    fn consume_records_once_and_a_refusal_records_nothing() {
        let unit = UsageUnit::Publications;
        let grant = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01"))
            .quota(unit.clone(), 5, QuotaPeriod::Month)
            .purchased(unit.clone(), 3);
        let mut book = UsageBook::default();
        book.set_grants(&[grant]);
        let day = d("2026-03-02");
        let q = Quantity::new;
        assert!(matches!(
            book.consume("e1", &unit, q(4), day),
            Consumption::Recorded(Drawn { left: 4, .. }, _)
        ));
        match book.consume("e1", &unit, q(4), day) {
            Consumption::Replay(seen) => {
                assert_eq!(
                    (&*seen.key, seen.unit, seen.quantity, seen.kind, seen.date),
                    ("e1", &unit, q(4), UsageKind::Consume, day)
                );
            }
            _ => panic!("not a replay"),
        }
        // Over the quota: refused, and the key stays unrecorded.
        assert!(matches!(
            book.consume("e2", &unit, q(5), day),
            Consumption::Denied(Denial::Exceeded { remaining: 4, .. })
        ));
        assert!(book.seen("e2").is_none());
        // Across the included and the purchased quota.
        match book.consume("e2", &unit, q(3), day) {
            Consumption::Recorded(drawn, key) => {
                assert_eq!(&*key, "e2");
                assert_eq!(drawn.left, 1);
                let split: Vec<u64> = drawn.draws.as_slice().iter().map(|d| d.quantity).collect();
                assert_eq!(split, vec![1, 2]);
            }
            _ => panic!("not recorded"),
        }
        // A key holding a reservation is not consumed.
        let drawn = book
            .draw(&unit, 1, day, true)
            .unwrap_or_else(|_| panic!("draw"));
        book.hold(
            Arc::from("r1"),
            Held {
                unit: unit.clone(),
                quantity: q(1),
                date: day,
                draws: drawn.draws,
            },
        );
        assert!(matches!(
            book.consume("r1", &unit, q(1), day),
            Consumption::Held
        ));
        assert_eq!(book.event_keys(), vec!["e1".to_string(), "e2".to_string()]);
        assert_eq!(book.remaining(&unit, day), q(0));
        // Recorded events replay through `record` as no-ops.
        assert!(!book.record(&Arc::from("e1"), &unit, q(4), UsageKind::Consume, day, &[]));
        assert_eq!(book.event_count(), 2);
    }
}
