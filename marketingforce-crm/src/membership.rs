//! Membership: programs with levels, point earning (purchases, tasks), redemption rules,
//! expiry, locked points (not counted until the return window passes), automatic upgrade and
//! downgrade by points accumulated in a window — every movement on an append-only,
//! double-entry points ledger whose member balances never go negative.
//!
//! Each posting moves points between accounts; the sum of every posting is zero:
//!
//! | movement | from | to |
//! |---|---|---|
//! | earn (locked) | `issued` | `locked` |
//! | earn (unlocked) / unlock | `issued` / `locked` | `available` |
//! | reverse (returned order) | `locked` | `issued` |
//! | redeem | `available` | `redeemed` |
//! | expire | `available` | `expired` |
//!
//! ```
//! use marketingforce_crm::membership::{MembershipProgram, PointsBook};
//! use marketingforce_crm::ids::{LeadId, ProgramId};
//! use marketingforce_core::money::Money;
//! use chrono::{Duration, Utc};
//!
//! let program = MembershipProgram::example(ProgramId::new());
//! program.validate().unwrap();
//! let now = Utc::now();
//! let mut book = PointsBook::default();
//! // A purchase of 1,180.00 CNY earns 1,180 points, locked for the 7-day return window.
//! let points = program.purchase_points(&Money::cny("1180.00").unwrap()).unwrap();
//! book.earn(&program, LeadId::new(), points, now, "order-1");
//! assert_eq!(book.available(), 0);
//! book.settle(&program, now + Duration::days(8));
//! assert_eq!(book.available(), 1180);
//! assert!(book.redeem(&program, LeadId::new(), 5_000, now, "gift").is_err());
//! ```

use marketingforce_core::IdempotencyKey;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use marketingforce_core::env::Env;
use marketingforce_core::events::Outbox;
use marketingforce_core::money::{Money, RoundingMode};
use marketingforce_core::storage::{
    Batch, Collection, CommitOutcome, Entity, Expect, Idempotent, Journal, Page, PageRequest, Store,
};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex as AsyncMutex;

use crate::error::{CrmError, Result};
use crate::events::{command_context, MemberLevelChanged};
use crate::ids::{LeadId, ProgramId};

/// The points ledger journal.
pub const POINTS_JOURNAL: &str = "crm.points";

/// A membership level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberLevel {
    /// Name (e.g. 银卡).
    pub name: String,
    /// Points accumulated in the window needed to hold it.
    pub min_points: u64,
}

/// Earning rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnRules {
    /// Points per yuan of purchase.
    pub points_per_yuan: Decimal,
    /// How fractional points are rounded.
    pub rounding: RoundingMode,
    /// Points per completed task, by task name.
    #[serde(default)]
    pub tasks: BTreeMap<String, u64>,
}

/// Redemption rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRules {
    /// Fewest points per redemption.
    pub min_points: u64,
    /// Redemptions are multiples of this.
    pub multiple_of: u64,
    /// Most points per redemption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<u64>,
}

/// A membership program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipProgram {
    /// Id.
    pub id: ProgramId,
    /// Name.
    pub name: String,
    /// Levels, ascending; the first needs 0 points.
    pub levels: Vec<MemberLevel>,
    /// Earning.
    pub earn: EarnRules,
    /// Redemption.
    pub redemption: RedemptionRules,
    /// Days after earning that points expire (`None`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_days: Option<u32>,
    /// Days purchase points stay locked (the return window).
    pub lock_days: u32,
    /// Trailing window (days) of points that decides the level.
    pub level_window_days: u32,
}

impl Entity for MembershipProgram {
    const COLLECTION: &'static str = "crm.programs";
    fn key(&self) -> String {
        self.id.to_string()
    }
}

/// The most days a program's `lock_days`, `expiry_days` and `level_window_days` may count:
/// 100 years.
pub const MAX_PROGRAM_DAYS: u32 = 36_525;

/// Refuse a day count of a program beyond [`MAX_PROGRAM_DAYS`] (dates computed from it would
/// leave the calendar's range).
fn check_days(field: &str, days: u32) -> Result<()> {
    if days > MAX_PROGRAM_DAYS {
        return Err(CrmError::validation(
            field,
            format!("must be at most {MAX_PROGRAM_DAYS} days"),
        ));
    }
    Ok(())
}

impl MembershipProgram {
    /// A typical program: 普通/银卡/金卡/钻石, 1 point per yuan, 7-day lock, 1-year expiry.
    pub fn example(id: ProgramId) -> MembershipProgram {
        let level = |name: &str, min_points| MemberLevel {
            name: name.into(),
            min_points,
        };
        MembershipProgram {
            id,
            name: "会员计划".into(),
            levels: vec![
                level("普通会员", 0),
                level("银卡", 1_000),
                level("金卡", 5_000),
                level("钻石", 20_000),
            ],
            earn: EarnRules {
                points_per_yuan: Decimal::ONE,
                rounding: RoundingMode::Down,
                tasks: BTreeMap::from([
                    ("complete_profile".into(), 50),
                    ("attend_event".into(), 200),
                ]),
            },
            redemption: RedemptionRules {
                min_points: 100,
                multiple_of: 100,
                max_points: Some(50_000),
            },
            expiry_days: Some(365),
            lock_days: 7,
            level_window_days: 365,
        }
    }

    /// Check the program.
    ///
    /// # Errors
    /// A validation error naming the path (`levels[2].min_points`, `earn.points_per_yuan`, …).
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(CrmError::validation("name", "must not be blank"));
        }
        match self.levels.first() {
            None => return Err(CrmError::validation("levels", "needs at least one level")),
            Some(l) if l.min_points != 0 => {
                return Err(CrmError::validation(
                    "levels[0].min_points",
                    "the first level starts at 0",
                ))
            }
            _ => {}
        }
        for (i, w) in self.levels.windows(2).enumerate() {
            if let [a, b] = w {
                if b.min_points <= a.min_points {
                    return Err(CrmError::validation(
                        format!("levels[{}].min_points", i + 1),
                        "levels must be strictly ascending",
                    ));
                }
            }
        }
        if self.earn.points_per_yuan.is_sign_negative() {
            return Err(CrmError::validation(
                "earn.points_per_yuan",
                "must not be negative",
            ));
        }
        if self.redemption.multiple_of == 0 {
            return Err(CrmError::validation(
                "redemption.multiple_of",
                "must be positive",
            ));
        }
        if self
            .redemption
            .max_points
            .is_some_and(|m| m < self.redemption.min_points)
        {
            return Err(CrmError::validation(
                "redemption.max_points",
                "is below min_points",
            ));
        }
        check_days("lock_days", self.lock_days)?;
        if let Some(days) = self.expiry_days {
            check_days("expiry_days", days)?;
        }
        check_days("level_window_days", self.level_window_days)?;
        if self.level_window_days == 0 {
            return Err(CrmError::validation(
                "level_window_days",
                "must be positive",
            ));
        }
        if self.expiry_days == Some(0) {
            return Err(CrmError::validation("expiry_days", "must be positive"));
        }
        Ok(())
    }

    /// Points a purchase earns (rounded by the program's rule).
    ///
    /// # Errors
    /// A validation error on `amount` when it is negative or not in CNY.
    pub fn purchase_points(&self, amount: &Money) -> Result<u64> {
        if amount.is_negative() {
            return Err(CrmError::validation("amount", "must not be negative"));
        }
        if amount.currency().code() != "CNY" {
            return Err(CrmError::validation(
                "amount",
                "points are earned on CNY amounts",
            ));
        }
        let product = amount
            .amount()
            .checked_mul(self.earn.points_per_yuan)
            .ok_or_else(|| CrmError::validation("amount", "too large"))?;
        let p = self.earn.rounding.round(product, 0);
        p.to_u64()
            .ok_or_else(|| CrmError::validation("amount", "too large"))
    }

    /// The level for `points` accumulated in the window.
    pub fn level_for(&self, points: u64) -> usize {
        self.levels
            .iter()
            .rposition(|l| points >= l.min_points)
            .unwrap_or(0)
    }
}

/// A ledger account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// The program's issuing account (the source of all points).
    Issued,
    /// The member's locked points.
    Locked,
    /// The member's available points.
    Available,
    /// Points spent.
    Redeemed,
    /// Points expired.
    Expired,
}

/// What a posting is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingKind {
    /// Earned.
    Earn,
    /// Unlocked after the return window.
    Unlock,
    /// Locked points cancelled (order returned).
    Reverse,
    /// Redeemed.
    Redeem,
    /// Expired.
    Expire,
}

/// One ledger posting: `points` from `from` to `to`, for a lot of earned points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// Program.
    pub program: ProgramId,
    /// Member.
    pub member: LeadId,
    /// Kind.
    pub kind: PostingKind,
    /// The lot (earning) it concerns.
    pub lot: u64,
    /// Points moved (positive).
    pub points: u64,
    /// From.
    pub from: Account,
    /// To.
    pub to: Account,
    /// When.
    pub at: DateTime<Utc>,
    /// Reference (order, task, redemption id).
    pub reference: String,
}

/// A lot of earned points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    /// Lot number (per member).
    pub id: u64,
    /// Earned at.
    pub earned_at: DateTime<Utc>,
    /// Locked until (none: available at once).
    pub unlock_at: Option<DateTime<Utc>>,
    /// Expires at.
    pub expires_at: Option<DateTime<Utc>>,
    /// Points earned.
    pub points: u64,
    /// Points not yet redeemed, expired or reversed.
    pub remaining: u64,
    /// Still locked.
    pub locked: bool,
    /// Reference.
    pub reference: String,
}

/// A member's points: lots and account balances, derived from postings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointsBook {
    member: Option<LeadId>,
    lots: Vec<Lot>,
    balances: BTreeMap<Account, i128>,
    pending: Vec<Posting>,
}

impl PointsBook {
    /// Available points.
    pub fn available(&self) -> u64 {
        u64::try_from(self.balance(Account::Available)).unwrap_or(0)
    }

    /// Locked points.
    pub fn locked(&self) -> u64 {
        u64::try_from(self.balance(Account::Locked)).unwrap_or(0)
    }

    /// Balance of an account (the issuing account is negative).
    pub fn balance(&self, a: Account) -> i128 {
        self.balances.get(&a).copied().unwrap_or(0)
    }

    /// Sum of all balances: always zero.
    pub fn sum(&self) -> i128 {
        self.balances.values().sum()
    }

    /// The lots.
    pub fn lots(&self) -> &[Lot] {
        &self.lots
    }

    /// Postings made since the last [`take_pending`](Self::take_pending).
    pub fn take_pending(&mut self) -> Vec<Posting> {
        std::mem::take(&mut self.pending)
    }

    /// Apply a posting (also used to rebuild from the journal).
    pub fn apply(&mut self, p: &Posting) {
        self.member.get_or_insert(p.member);
        let pts = i128::from(p.points);
        *self.balances.entry(p.from).or_default() -= pts;
        *self.balances.entry(p.to).or_default() += pts;
        match p.kind {
            PostingKind::Earn => {
                if !self.lots.iter().any(|l| l.id == p.lot) {
                    self.lots.push(Lot {
                        id: p.lot,
                        earned_at: p.at,
                        unlock_at: None,
                        expires_at: None,
                        points: p.points,
                        remaining: p.points,
                        locked: p.to == Account::Locked,
                        reference: p.reference.clone(),
                    });
                }
            }
            PostingKind::Unlock => {
                if let Some(l) = self.lots.iter_mut().find(|l| l.id == p.lot) {
                    l.locked = false;
                }
            }
            PostingKind::Reverse | PostingKind::Redeem | PostingKind::Expire => {
                if let Some(l) = self.lots.iter_mut().find(|l| l.id == p.lot) {
                    l.remaining = l.remaining.saturating_sub(p.points);
                }
            }
        }
    }

    fn post(&mut self, p: Posting) {
        self.apply(&p);
        self.pending.push(p);
    }

    /// Set the unlock and expiry dates of the lots; a date past the calendar's end (a program
    /// that skipped [`validate`](MembershipProgram::validate)) is none: never reached.
    fn timing(&mut self, program: &MembershipProgram) {
        for l in &mut self.lots {
            let earned = l.earned_at;
            let after = |days: u32| earned.checked_add_signed(Duration::days(days.into()));
            l.unlock_at = if l.locked {
                after(program.lock_days)
            } else {
                None
            };
            l.expires_at = program.expiry_days.and_then(after);
        }
    }

    /// Earn `points` (locked for the return window when the program has one and the earning
    /// is a purchase, i.e. `reference` starts with `order:` or is any purchase reference).
    pub fn earn(
        &mut self,
        program: &MembershipProgram,
        member: LeadId,
        points: u64,
        at: DateTime<Utc>,
        reference: &str,
    ) {
        self.earn_with_lock(
            program,
            member,
            points,
            at,
            reference,
            program.lock_days > 0,
        );
    }

    fn earn_with_lock(
        &mut self,
        program: &MembershipProgram,
        member: LeadId,
        points: u64,
        at: DateTime<Utc>,
        reference: &str,
        lock: bool,
    ) {
        if points == 0 {
            return;
        }
        let lot = self.lots.iter().map(|l| l.id).max().unwrap_or(0) + 1;
        self.post(Posting {
            program: program.id,
            member,
            kind: PostingKind::Earn,
            lot,
            points,
            from: Account::Issued,
            to: if lock {
                Account::Locked
            } else {
                Account::Available
            },
            at,
            reference: reference.into(),
        });
        self.timing(program);
    }

    /// Unlock lots whose return window passed and expire lots past their expiry.
    pub fn settle(&mut self, program: &MembershipProgram, now: DateTime<Utc>) {
        self.timing(program);
        let due: Vec<(u64, u64, bool, bool, String)> = self
            .lots
            .iter()
            .map(|l| {
                (
                    l.id,
                    l.remaining,
                    l.locked && l.unlock_at.is_some_and(|u| u <= now),
                    l.expires_at.is_some_and(|e| e <= now),
                    l.reference.clone(),
                )
            })
            .collect();
        for (lot, remaining, unlock, expire, reference) in due {
            let m = self.member_of(lot);
            if unlock && remaining > 0 {
                self.post(Posting {
                    program: program.id,
                    member: m,
                    kind: PostingKind::Unlock,
                    lot,
                    points: remaining,
                    from: Account::Locked,
                    to: Account::Available,
                    at: now,
                    reference: reference.clone(),
                });
            }
            let still_locked = self.lots.iter().any(|l| l.id == lot && l.locked);
            if expire && remaining > 0 && !still_locked {
                self.post(Posting {
                    program: program.id,
                    member: m,
                    kind: PostingKind::Expire,
                    lot,
                    points: remaining,
                    from: Account::Available,
                    to: Account::Expired,
                    at: now,
                    reference,
                });
            }
        }
    }

    fn member_of(&self, _lot: u64) -> LeadId {
        self.member
            .unwrap_or_else(|| LeadId::from_uuid(marketingforce_core::id::Uuid::nil()))
    }

    /// Redeem `points`, oldest-expiring lots first.
    ///
    /// # Errors
    /// [`CrmError::InsufficientPoints`], or a validation error on `points` against the
    /// redemption rules.
    pub fn redeem(
        &mut self,
        program: &MembershipProgram,
        member: LeadId,
        points: u64,
        at: DateTime<Utc>,
        reference: &str,
    ) -> Result<()> {
        let r = &program.redemption;
        if points < r.min_points
            || points.checked_rem(r.multiple_of) != Some(0)
            || r.max_points.is_some_and(|m| points > m)
        {
            return Err(CrmError::validation(
                "points",
                format!(
                    "{points} is not a valid redemption (at least {}, multiples of {}{})",
                    r.min_points,
                    r.multiple_of,
                    r.max_points
                        .map(|m| format!(", at most {m}"))
                        .unwrap_or_default()
                ),
            ));
        }
        let available = self.available();
        if points > available {
            return Err(CrmError::InsufficientPoints {
                member,
                requested: points,
                available,
            });
        }
        type Candidate = (Option<DateTime<Utc>>, DateTime<Utc>, u64, u64);
        let mut order: Vec<Candidate> = self
            .lots
            .iter()
            .filter(|l| !l.locked && l.remaining > 0)
            .map(|l| (l.expires_at, l.earned_at, l.id, l.remaining))
            .collect();
        order.sort_by_key(|(e, earned, id, _)| (e.is_none(), *e, *earned, *id));
        let mut left = points;
        for (_, _, lot, remaining) in order {
            if left == 0 {
                break;
            }
            let take = remaining.min(left);
            left -= take;
            self.post(Posting {
                program: program.id,
                member,
                kind: PostingKind::Redeem,
                lot,
                points: take,
                from: Account::Available,
                to: Account::Redeemed,
                at,
                reference: reference.into(),
            });
        }
        Ok(())
    }

    /// Cancel the still-locked points of the purchase `reference` (the order was returned).
    /// Returns the points reversed.
    pub fn reverse(
        &mut self,
        program: &MembershipProgram,
        member: LeadId,
        reference: &str,
        at: DateTime<Utc>,
    ) -> u64 {
        let lots: Vec<(u64, u64)> = self
            .lots
            .iter()
            .filter(|l| l.reference == reference && l.locked && l.remaining > 0)
            .map(|l| (l.id, l.remaining))
            .collect();
        let mut total = 0;
        for (lot, pts) in lots {
            total += pts;
            self.post(Posting {
                program: program.id,
                member,
                kind: PostingKind::Reverse,
                lot,
                points: pts,
                from: Account::Locked,
                to: Account::Issued,
                at,
                reference: reference.into(),
            });
        }
        total
    }

    /// Unlocked points earned within the level window before `now` (still counting points
    /// redeemed since: the level rewards accumulation, not balance).
    pub fn window_points(&self, program: &MembershipProgram, now: DateTime<Utc>) -> u64 {
        let from = now
            .checked_sub_signed(Duration::days(i64::from(program.level_window_days)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.lots
            .iter()
            .filter(|l| !l.locked && l.earned_at > from && l.earned_at <= now)
            .map(|l| l.points)
            .sum()
    }
}

/// A member of a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Program.
    pub program: ProgramId,
    /// The member (a lead, usually a customer).
    pub lead: LeadId,
    /// Index of the current level.
    pub level: usize,
    /// Name of the current level.
    pub level_name: String,
    /// Joined at.
    pub joined_at: DateTime<Utc>,
    /// Level last changed at.
    pub level_changed_at: DateTime<Utc>,
}

impl Entity for Member {
    const COLLECTION: &'static str = "crm.members";
    fn key(&self) -> String {
        format!("{}:{}", self.program, self.lead)
    }
}

/// A member's balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Available to redeem.
    pub available: u64,
    /// Locked until return windows pass.
    pub locked: u64,
    /// Current level index.
    pub level: usize,
}

type Books = HashMap<(ProgramId, LeadId), PointsBook>;

/// A tenant's points books and the head of [`POINTS_JOURNAL`] they reflect.
#[derive(Debug, Default)]
struct TenantBooks {
    books: Books,
    position: u64,
}

/// Refuse an earning after which the points the member ever earned would not fit a `u64`
/// (balances and the level window are counted in `u64`).
fn ensure_room(book: &PointsBook, points: u64, field: &str) -> Result<()> {
    book.lots()
        .iter()
        .try_fold(points, |sum, l| sum.checked_add(l.points))
        .map(|_| ())
        .ok_or_else(|| CrmError::validation(field, "earns more points than a member can hold"))
}

/// How many times a points command is decided again after another process posted points of
/// the tenant meanwhile.
const STALE_ATTEMPTS: usize = 8;

/// The membership service over a [`Store`]: points books are kept in memory, rebuilt from the
/// ledger journal, and every change is written (postings, member record, idempotency key) in
/// one batch.
///
/// Several processes: the books are a view of the points journal. Before a command they are
/// brought up to the journal's head (one head query; the tail is applied), and the write is
/// conditional on that head, so points are never redeemed twice across processes. A command
/// works on a copy of the member's book, which replaces the book only once the store
/// confirmed the write: a call dropped at any await changes nothing in memory.
#[derive(Debug)]
pub struct Membership {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Where level changes are staged as [`MemberLevelChanged`](crate::events::MemberLevelChanged).
    outbox: Outbox,
    tenants: std::sync::Mutex<HashMap<TenantId, Arc<AsyncMutex<TenantBooks>>>>,
}

impl Membership {
    /// A service on `env` (its store, clock, and ids for its events).
    pub fn new(env: &Env) -> Membership {
        Membership {
            outbox: Outbox::new(env),
            store: env.store().clone(),
            clock: env.clock().clone(),
            tenants: std::sync::Mutex::default(),
        }
    }

    /// Save (create or replace) a program after validating it.
    ///
    /// # Errors
    /// The validation error naming the path; storage errors.
    #[operation("crm.membership.save_program", tenant = tenant)]
    pub async fn save_program(&self, tenant: &TenantId, program: &MembershipProgram) -> Result<()> {
        program.validate()?;
        Collection::<MembershipProgram>::new(self.store.clone())
            .upsert(tenant, program)
            .await?;
        Ok(())
    }

    async fn program(&self, tenant: &TenantId, id: &ProgramId) -> Result<MembershipProgram> {
        Ok(Collection::<MembershipProgram>::new(self.store.clone())
            .require(tenant, &id.to_string())
            .await?
            .value)
    }

    /// Lock the tenant's books, brought up to the points journal's head.
    async fn books(&self, tenant: &TenantId) -> Result<tokio::sync::OwnedMutexGuard<TenantBooks>> {
        let slot = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(*tenant)
            .or_default()
            .clone();
        let mut guard = slot.lock_owned().await;
        self.catch_up(tenant, &mut guard).await?;
        Ok(guard)
    }

    /// Apply the postings after the books' position (all of them on first use).
    async fn catch_up(&self, tenant: &TenantId, tb: &mut TenantBooks) -> Result<()> {
        if self.store.journal_head(tenant, POINTS_JOURNAL).await? == tb.position {
            return Ok(());
        }
        let journal = Journal::<Posting>::new(self.store.clone(), POINTS_JOURNAL);
        // Applied to a copy: a read failing half-way leaves the books as they were.
        let mut books = tb.books.clone();
        let mut position = tb.position;
        loop {
            let page = journal.read(tenant, position, 1000).await?;
            let Some(&(last, _)) = page.last() else { break };
            for (_, p) in &page {
                books.entry((p.program, p.member)).or_default().apply(p);
            }
            position = last;
        }
        *tb = TenantBooks { books, position };
        Ok(())
    }

    /// Enroll a lead in a program (at the first level).
    ///
    /// # Errors
    /// [`marketingforce_core::Error::NotFound`] for an unknown program; storage errors.
    #[operation("crm.membership.enroll", tenant = tenant)]
    pub async fn enroll(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
    ) -> Result<Member> {
        let p = self.program(tenant, program).await?;
        let members = Collection::<Member>::new(self.store.clone());
        let key = format!("{program}:{lead}");
        if let Some(m) = members.get(tenant, &key).await? {
            return Ok(m.value);
        }
        let now = self.clock.now();
        let m = Member {
            program: *program,
            lead: *lead,
            level: 0,
            level_name: p.levels.first().map(|l| l.name.clone()).unwrap_or_default(),
            joined_at: now,
            level_changed_at: now,
        };
        members.insert(tenant, &m).await?;
        Ok(m)
    }

    async fn run<R, F>(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
        key: &str,
        request: &impl Serialize,
        op: F,
    ) -> Result<R>
    where
        R: Serialize + serde::de::DeserializeOwned,
        F: Fn(&mut PointsBook, &MembershipProgram, DateTime<Utc>) -> Result<R>,
    {
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(key, request)?;
        if let Some(prev) = idem.check::<R>(self.store.as_ref(), tenant).await? {
            return Ok(prev);
        }
        let p = self.program(tenant, program).await?;
        let members = Collection::<Member>::new(self.store.clone());
        let mut member = members
            .get(tenant, &format!("{program}:{lead}"))
            .await?
            .ok_or_else(|| {
                CrmError::validation("member", format!("{lead} is not enrolled in {program}"))
            })?;
        let mut guard = self.books(tenant).await?;
        let mut attempt = 1;
        loop {
            // Work on a copy of the member's book: memory changes only once the store confirmed.
            let mut book = guard
                .books
                .get(&(*program, *lead))
                .cloned()
                .unwrap_or_default();
            let now = self.clock.now();
            book.settle(&p, now);
            let result = op(&mut book, &p, now)?;
            book.settle(&p, now);
            let mut m = member.value.clone();
            let level = p.level_for(book.window_points(&p, now));
            let changed = (level != m.level).then(|| MemberLevelChanged {
                program: *program,
                lead: *lead,
                from: m.level,
                to: level,
                level_name: p
                    .levels
                    .get(level)
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
            });
            if level != m.level {
                m.level = level;
                m.level_name = p
                    .levels
                    .get(level)
                    .map(|l| l.name.clone())
                    .unwrap_or_default();
                m.level_changed_at = now;
            }
            let postings = book.take_pending();
            let mut batch = Batch::new();
            batch.expect_head(POINTS_JOURNAL, guard.position);
            for posting in &postings {
                batch.append_json(POINTS_JOURNAL, posting)?;
            }
            if m != member.value {
                batch.put_entity(tenant, &m, Expect::Version(member.version))?;
            }
            if let Some(event) = &changed {
                self.outbox
                    .append(tenant, &mut batch, event, &command_context(Some(key)))
                    .await?;
            }
            batch.claim_idempotency(
                idem.key(),
                idem.fingerprint().as_str(),
                serde_json::to_vec(&result)?,
            );
            // The points journal's new head: the sequence of its last append (the batch also
            // appends to the outbox).
            let last_posting = batch
                .appends()
                .iter()
                .rposition(|a| a.journal == POINTS_JOURNAL);
            match self.store.commit(tenant, batch).await {
                Ok(CommitOutcome::Committed(receipt)) => {
                    if let Some(&last) = last_posting.and_then(|i| receipt.sequences.get(i)) {
                        guard.position = last;
                    }
                    guard.books.insert((*program, *lead), book);
                    return Ok(result);
                }
                Ok(CommitOutcome::Replayed(stored)) => return Ok(serde_json::from_slice(&stored)?),
                Err(marketingforce_core::Error::StaleView { .. }) if attempt < STALE_ATTEMPTS => {
                    // Another process posted points of the tenant: catch up and decide again.
                    attempt += 1;
                    self.catch_up(tenant, &mut guard).await?;
                    member = members
                        .require(tenant, &format!("{program}:{lead}"))
                        .await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Earn points for a purchase; they stay locked for the return window. Returns the points.
    ///
    /// # Errors
    /// A validation error on `amount`; a member not enrolled; storage errors.
    #[operation("crm.membership.earn_purchase", tenant = tenant, key = idempotency_key)]
    pub async fn earn_purchase(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
        amount: &Money,
        order: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<u64> {
        let idempotency_key = idempotency_key.as_str();
        let reference = format!("order:{order}");
        self.run(
            tenant,
            program,
            lead,
            idempotency_key,
            &("purchase", program, lead, amount, order),
            |book, p, now| {
                let points = p.purchase_points(amount)?;
                ensure_room(book, points, "amount")?;
                book.earn(p, *lead, points, now, &reference);
                Ok(points)
            },
        )
        .await
    }

    /// Earn the points of a completed task (available at once). Returns the points.
    ///
    /// # Errors
    /// A validation error on `task` when the program has no such task; storage errors.
    #[operation("crm.membership.earn_task", tenant = tenant, key = idempotency_key)]
    pub async fn earn_task(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
        task: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<u64> {
        let idempotency_key = idempotency_key.as_str();
        self.run(
            tenant,
            program,
            lead,
            idempotency_key,
            &("task", program, lead, task),
            |book, p, now| {
                let points = *p.earn.tasks.get(task).ok_or_else(|| {
                    CrmError::validation(
                        "task",
                        format!("{task:?} earns no points in this program"),
                    )
                })?;
                ensure_room(book, points, "task")?;
                book.earn_with_lock(p, *lead, points, now, &format!("task:{task}"), false);
                Ok(points)
            },
        )
        .await
    }

    /// Redeem points. Returns the points still available.
    ///
    /// # Errors
    /// [`CrmError::InsufficientPoints`] or a validation error against the redemption rules
    /// (nothing is written); storage errors.
    #[operation("crm.membership.redeem", tenant = tenant, key = idempotency_key)]
    pub async fn redeem(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
        points: u64,
        reference: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<u64> {
        let idempotency_key = idempotency_key.as_str();
        self.run(
            tenant,
            program,
            lead,
            idempotency_key,
            &("redeem", program, lead, points, reference),
            |book, p, now| {
                book.redeem(p, *lead, points, now, reference)?;
                Ok(book.available())
            },
        )
        .await
    }

    /// An order was returned within the window: its locked points are reversed. Returns them.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.membership.return_order", tenant = tenant, key = idempotency_key)]
    pub async fn return_order(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
        order: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<u64> {
        let idempotency_key = idempotency_key.as_str();
        let reference = format!("order:{order}");
        self.run(
            tenant,
            program,
            lead,
            idempotency_key,
            &("return", program, lead, order),
            |book, p, now| Ok(book.reverse(p, *lead, &reference, now)),
        )
        .await
    }

    /// Unlock, expire and re-evaluate the level now. Returns the balance.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.membership.settle", tenant = tenant, key = idempotency_key)]
    pub async fn settle(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Balance> {
        let idempotency_key = idempotency_key.as_str();
        self.run(
            tenant,
            program,
            lead,
            idempotency_key,
            &("settle", program, lead),
            |book, p, now| {
                Ok(Balance {
                    available: book.available(),
                    locked: book.locked(),
                    level: p.level_for(book.window_points(p, now)),
                })
            },
        )
        .await
    }

    /// The member record.
    ///
    /// # Errors
    /// Not found; storage errors.
    #[operation("crm.membership.member", tenant = tenant)]
    pub async fn member(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
    ) -> Result<Member> {
        Ok(Collection::<Member>::new(self.store.clone())
            .require(tenant, &format!("{program}:{lead}"))
            .await?
            .value)
    }

    /// The current balances (as of the last change; call [`settle`](Self::settle) to unlock
    /// and expire first).
    ///
    /// # Errors
    /// Storage errors.
    #[operation("crm.membership.balance", tenant = tenant)]
    pub async fn balance(
        &self,
        tenant: &TenantId,
        program: &ProgramId,
        lead: &LeadId,
    ) -> Result<Balance> {
        let m = self.member(tenant, program, lead).await?;
        let guard = self.books(tenant).await?;
        let book = guard.books.get(&(*program, *lead));
        Ok(Balance {
            available: book.map_or(0, PointsBook::available),
            locked: book.map_or(0, PointsBook::locked),
            level: m.level,
        })
    }

    /// One page of the tenant's postings, in order.
    ///
    /// # Errors
    /// A validation error on `page.limit` or `page.after`; storage errors.
    #[operation("crm.membership.ledger", tenant = tenant)]
    pub async fn ledger(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Posting>> {
        Ok(Journal::<Posting>::new(self.store.clone(), POINTS_JOURNAL)
            .page(tenant, page)
            .await?)
    }

    /// Drop the in-memory books of a tenant (they are rebuilt from the ledger on next use).
    pub fn forget_tenant(&self, tenant: &TenantId) {
        self.tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards `PointsBook` given a program that skipped `validate` (day counts of `u32::MAX`,
    /// about 11.7 million years): a date past the calendar's end is never reached — the lot
    /// never unlocks nor expires, and the level window holds every earning — instead of
    /// panicking in the date arithmetic.
    #[test]
    fn day_counts_past_the_calendar_are_never_reached() {
        let mut p = MembershipProgram::example(ProgramId::new());
        p.lock_days = u32::MAX;
        p.expiry_days = Some(u32::MAX);
        p.level_window_days = u32::MAX;
        let (lead, now) = (LeadId::new(), Utc::now());
        let mut book = PointsBook::default();
        book.earn(&p, lead, 100, now, "order:1");
        book.earn_with_lock(&p, lead, 50, now, "task:attend_event", false);
        book.settle(&p, now + Duration::days(3650));
        assert_eq!((book.available(), book.locked()), (50, 100));
        assert_eq!(book.window_points(&p, now + Duration::days(3650)), 50);
        assert_eq!(book.sum(), 0);
    }
}
