//! A deterministic simulated ad platform.
//!
//! Seeded: the same seed, calls and days give the same accounts, auctions, clicks, conversions
//! and reports on every run. [`SimulatedPlatform::run_day`] delivers every active campaign for a
//! day: an auction whose clearing price stays under the maximum bid (CPC/CPM) or a fixed price
//! (CPT), a click-through rate drawn between 2% and 3%, conversions on about 2% of clicks with
//! click ids returned with the orders, and delivery capped by the daily budget, the remaining
//! total budget and the account balance. Failures are injected on demand
//! ([`SimulatedPlatform::inject`]): timeouts (including "applied, then timed out"), 429s, server
//! errors and partial reports. Platforms also suspend accounts, restate reports and refund.
//!
//! ```
//! use chrono::NaiveDate;
//! use marketingforce_ads::platform::sim::{SimConfig, SimulatedPlatform};
//! use marketingforce_core::adapters::ad_platform::*;
//! use marketingforce_core::money::{Currency, Money};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let sim = SimulatedPlatform::new(SimConfig::new("sim", 7));
//! let acct = sim.open_account(&OpenAccountRequest {
//!     request_id: "open-1".into(), advertiser_name: "某品牌".into(),
//!     licence_number: "91350100M000100Y43".into(), industry: "retail".into(),
//!     currency: Currency::CNY,
//! }).await.unwrap();
//! sim.top_up(&TopUpRequest { request_id: "t1".into(), account_id: acct.account_id.clone(),
//!     amount: Money::cny("10000.00").unwrap() }).await.unwrap();
//! let d = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
//! sim.create_campaign(&CampaignRequest {
//!     request_id: "c1".into(), account_id: acct.account_id.clone(), name: "春促".into(),
//!     objective: "traffic".into(), pricing: Pricing::Cpc { max_bid: Money::cny("1.50").unwrap() },
//!     daily_budget: Some(Money::cny("2000.00").unwrap()), total_budget: None,
//!     start: d, end: None, audience: Audience::default(),
//! }).await.unwrap();
//! sim.run_day(d);
//! let report = sim.daily_report(&ReportRequest { account_id: acct.account_id, date: d }).await.unwrap();
//! let line = &report.lines[0];
//! assert!(line.spend.amount() <= Money::cny("2000.00").unwrap().amount());
//! let ctr = line.clicks as f64 / line.impressions as f64;
//! assert!((0.019..0.031).contains(&ctr), "{ctr}");
//! # });
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use marketingforce_core::adapters::ad_platform::{
    AdPlatform, CampaignRequest, CampaignStatus, ConversionEvent, CptPeriod, DailyReport,
    OpenAccountRequest, PerformanceLine, PlaceAdRequest, PlacedAd, PlatformAccount,
    PlatformAccountStatus, PlatformCampaign, Pricing, RebateKind, RebateLine, RebateStatement,
    RebateStatementRequest, ReportRequest, TopUpReceipt, TopUpRequest, TopUpStatus,
};
use marketingforce_core::id::splitmix64;
use marketingforce_core::money::{Currency, Decimal, Money, Rate, RoundingMode};
use marketingforce_core::time::TimeZone;
use marketingforce_core::{Error, Result};
use rust_decimal::prelude::ToPrimitive;

use crate::period::Month;
use crate::rebate::PlatformRebatePolicy;

/// Settings of a simulated platform.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The platform code.
    pub code: String,
    /// The seed of every random draw.
    pub seed: u64,
    /// Currency of its accounts.
    pub currency: Currency,
    /// The rebate policy its statements are computed with.
    pub rebates: PlatformRebatePolicy,
    /// Impressions a campaign can win per day when its audience gives no estimate.
    pub default_daily_reach: u64,
    /// Time zone of its report dates.
    pub time_zone: TimeZone,
}

impl SimConfig {
    /// A CNY platform with a 5% standard monthly rebate and 200,000 impressions a day on offer.
    pub fn new(code: &str, seed: u64) -> SimConfig {
        SimConfig {
            code: code.to_string(),
            seed,
            currency: Currency::CNY,
            rebates: PlatformRebatePolicy::standard(
                Rate::new(Decimal::new(5, 2)).unwrap_or(Rate::ZERO),
            ),
            default_daily_reach: 200_000,
            time_zone: TimeZone::default(),
        }
    }
}

/// The calls a failure can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum SimOp {
    OpenAccount,
    Account,
    TopUp,
    TopUpStatus,
    CreateCampaign,
    SetCampaignStatus,
    PlaceAd,
    DailyReport,
    Conversions,
    RebateStatement,
}

/// An injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimFailure {
    /// The call times out before doing anything.
    Timeout,
    /// The call does its work, then times out (the caller cannot know it succeeded).
    TimeoutAfterApplying,
    /// HTTP 429: rate limited.
    RateLimited,
    /// HTTP 500.
    ServerError,
    /// A daily report comes back partial (not final, half its lines).
    PartialReport,
}

#[derive(Debug, Clone)]
struct SimAccount {
    id: String,
    balance: Decimal,
    suspended: Option<String>,
}

#[derive(Debug, Clone)]
struct SimCampaign {
    id: String,
    account: String,
    request: CampaignRequest,
    status: CampaignStatus,
    spent: Decimal,
}

#[derive(Debug, Default)]
struct State {
    accounts: BTreeMap<String, SimAccount>,
    campaigns: BTreeMap<String, SimCampaign>,
    opened: HashMap<String, String>,
    created: HashMap<String, String>,
    placed: HashMap<String, PlacedAd>,
    top_ups: HashMap<String, TopUpReceipt>,
    reports: BTreeMap<(String, NaiveDate), DailyReport>,
    conversions: BTreeMap<(String, NaiveDate), Vec<ConversionEvent>>,
    failures: HashMap<SimOp, VecDeque<SimFailure>>,
    last_day: Option<NaiveDate>,
    counter: u64,
}

/// The simulated platform (see the [module docs](crate::platform::sim)).
#[derive(Debug)]
pub struct SimulatedPlatform {
    config: SimConfig,
    state: Mutex<State>,
}

/// A small deterministic generator (SplitMix64).
struct Draw(u64);

impl Draw {
    fn new(parts: &[u64]) -> Draw {
        Draw(parts.iter().fold(0x5EED, |acc, p| splitmix64(acc ^ p)))
    }

    fn next(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }

    /// A decimal uniformly in [lo, hi) with 4 decimal places.
    fn between(&mut self, lo: Decimal, hi: Decimal) -> Decimal {
        let f = Decimal::new(i64::try_from(self.next() % 10_000).unwrap_or(0), 4);
        lo + (hi - lo) * f
    }
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3)
    })
}

impl SimulatedPlatform {
    /// A platform with `config`.
    pub fn new(config: SimConfig) -> SimulatedPlatform {
        SimulatedPlatform {
            config,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Make the next `times` calls of `op` fail with `failure`.
    pub fn inject(&self, op: SimOp, failure: SimFailure, times: usize) {
        let mut s = self.state();
        let q = s.failures.entry(op).or_default();
        for _ in 0..times {
            q.push_back(failure);
        }
    }

    fn take_failure(&self, op: SimOp) -> Option<SimFailure> {
        self.state()
            .failures
            .get_mut(&op)
            .and_then(VecDeque::pop_front)
    }

    fn fail(&self, op: SimOp, failure: SimFailure) -> Error {
        match failure {
            SimFailure::Timeout | SimFailure::TimeoutAfterApplying => Error::Timeout {
                operation: format!("{} {op:?}", self.config.code),
            },
            SimFailure::RateLimited => Error::backend_message(
                self.config.code.clone(),
                true,
                "HTTP 429 Too Many Requests: rate limited",
            ),
            SimFailure::ServerError | SimFailure::PartialReport => Error::backend_message(
                self.config.code.clone(),
                true,
                "HTTP 500 Internal Server Error",
            ),
        }
    }

    /// Fail before applying when a failure other than "after applying" is queued; returns the
    /// queued "after applying" failure to raise once the work is done.
    fn before(&self, op: SimOp) -> Result<Option<SimFailure>> {
        match self.take_failure(op) {
            None => Ok(None),
            Some(SimFailure::TimeoutAfterApplying) => Ok(Some(SimFailure::TimeoutAfterApplying)),
            Some(SimFailure::PartialReport) => Ok(Some(SimFailure::PartialReport)),
            Some(f) => Err(self.fail(op, f)),
        }
    }

    fn money(&self, amount: Decimal) -> Money {
        Money::new(amount, self.config.currency)
    }

    /// Suspend an account for a policy violation: no top-ups, no delivery.
    pub fn suspend(&self, account_id: &str, reason: &str) {
        if let Some(a) = self.state().accounts.get_mut(account_id) {
            a.suspended = Some(reason.to_string());
        }
    }

    /// Lift a suspension.
    pub fn reinstate(&self, account_id: &str) {
        if let Some(a) = self.state().accounts.get_mut(account_id) {
            a.suspended = None;
        }
    }

    /// Refund `amount` of a campaign's spend on `date` (invalid traffic): the day's report is
    /// restated with a higher revision and the line reduced — negative if nothing was spent.
    pub fn refund(&self, account_id: &str, date: NaiveDate, campaign_id: &str, amount: Money) {
        let mut s = self.state();
        let cur = self.config.currency;
        let report = s
            .reports
            .entry((account_id.to_string(), date))
            .or_insert_with(|| DailyReport {
                report_id: format!("{account_id}-{date}"),
                revision: 1,
                account_id: account_id.to_string(),
                date,
                currency: cur,
                complete: true,
                lines: Vec::new(),
            });
        report.revision += 1;
        match report
            .lines
            .iter_mut()
            .find(|l| l.campaign_id == campaign_id)
        {
            Some(l) => l.spend = l.spend.checked_sub(&amount).unwrap_or(l.spend),
            None => report.lines.push(PerformanceLine {
                campaign_id: campaign_id.to_string(),
                impressions: 0,
                clicks: 0,
                conversions: 0,
                spend: amount.negate(),
            }),
        }
        if let Some(a) = s.accounts.get_mut(account_id) {
            a.balance += amount.amount();
        }
    }

    /// Deliver every active campaign for `date` (idempotent: a day runs once).
    pub fn run_day(&self, date: NaiveDate) {
        let mut s = self.state();
        if s.reports.keys().any(|(_, d)| *d == date) && s.last_day.is_some_and(|l| l >= date) {
            return;
        }
        let campaigns: Vec<SimCampaign> = s.campaigns.values().cloned().collect();
        let mut per_account: BTreeMap<String, Vec<PerformanceLine>> = BTreeMap::new();
        for account in s.accounts.keys() {
            per_account.insert(account.clone(), Vec::new());
        }
        for c in campaigns {
            let runs = c.status == CampaignStatus::Active
                && c.request.start <= date
                && c.request.end.is_none_or(|e| date <= e);
            let Some(account) = s.accounts.get(&c.account).cloned() else {
                continue;
            };
            if !runs || account.suspended.is_some() || account.balance <= Decimal::ZERO {
                continue;
            }
            let mut draw = Draw::new(&[
                self.config.seed,
                hash_str(&c.id),
                u64::from(crate::period::date_key(date)),
            ]);
            let Some((line, events)) = self.deliver(&c, &account, date, &mut draw) else {
                continue;
            };
            if let Some(a) = s.accounts.get_mut(&c.account) {
                a.balance -= line.spend.amount();
            }
            if let Some(sc) = s.campaigns.get_mut(&c.id) {
                sc.spent += line.spend.amount();
            }
            s.conversions
                .entry((c.account.clone(), date))
                .or_default()
                .extend(events);
            per_account.entry(c.account.clone()).or_default().push(line);
        }
        for (account, lines) in per_account {
            s.reports.insert(
                (account.clone(), date),
                DailyReport {
                    report_id: format!("{account}-{date}"),
                    revision: 1,
                    account_id: account,
                    date,
                    currency: self.config.currency,
                    complete: true,
                    lines,
                },
            );
        }
        s.last_day = Some(s.last_day.map_or(date, |l| l.max(date)));
    }

    fn deliver(
        &self,
        c: &SimCampaign,
        account: &SimAccount,
        date: NaiveDate,
        draw: &mut Draw,
    ) -> Option<(PerformanceLine, Vec<ConversionEvent>)> {
        let r = &c.request;
        let reach = r
            .audience
            .estimated_daily_reach
            .unwrap_or(self.config.default_daily_reach);
        let mut cap = account.balance;
        if let Some(d) = r.daily_budget {
            cap = cap.min(d.amount());
        }
        if let Some(t) = r.total_budget {
            cap = cap.min(t.amount() - c.spent);
        }
        if cap <= Decimal::ZERO {
            return None;
        }
        let ctr = draw.between(Decimal::new(2, 2), Decimal::new(3, 2));
        let fen = |x: Decimal| RoundingMode::HalfUp.round(x, 2);
        // Fill rate: a campaign wins 60–100% of its reachable impressions.
        let mut impressions = Decimal::from(reach) * draw.between(Decimal::new(6, 1), Decimal::ONE);
        let (clicks, spend) = match r.pricing {
            Pricing::Cpc { max_bid } => {
                let cpc =
                    fen(max_bid.amount() * draw.between(Decimal::new(55, 2), Decimal::new(95, 2)))
                        .max(Decimal::new(1, 2));
                let mut clicks = (impressions * ctr).floor();
                if clicks * cpc > cap {
                    clicks = (cap / cpc).floor();
                    impressions = (clicks / ctr).floor();
                }
                (clicks, clicks * cpc)
            }
            Pricing::Cpm { max_bid } => {
                let cpm = max_bid.amount() * draw.between(Decimal::new(6, 1), Decimal::new(95, 2));
                let mut spend = fen(impressions.floor() / Decimal::ONE_THOUSAND * cpm);
                if spend > cap {
                    impressions = (cap / cpm * Decimal::ONE_THOUSAND).floor();
                    spend = fen(impressions / Decimal::ONE_THOUSAND * cpm).min(cap);
                }
                ((impressions * ctr).floor(), spend)
            }
            Pricing::Cpt { price, period } => {
                let units = match period {
                    CptPeriod::Day => Decimal::ONE,
                    CptPeriod::Hour => Decimal::from(if r.audience.regions.is_empty() {
                        24
                    } else {
                        12
                    }),
                };
                let spend = price.amount() * units;
                if spend > cap {
                    return None;
                }
                ((impressions * ctr).floor(), spend)
            }
        };
        let impressions = impressions.floor().to_u64().unwrap_or(0);
        let clicks = clicks.floor().to_u64().unwrap_or(0);
        if impressions == 0 && spend.is_zero() {
            return None;
        }
        // About 2% of clicks convert (1.5–2.5%).
        let cvr = draw.between(Decimal::new(15, 3), Decimal::new(25, 3));
        let conversions = (Decimal::from(clicks) * cvr).floor().to_u64().unwrap_or(0);
        let noon = self.config.time_zone.start_of_day(date) + Duration::hours(12);
        let events = (0..conversions)
            .map(|n| {
                let click_id = format!("clk-{}-{date}-{n}", c.id);
                ConversionEvent {
                    order_id: format!(
                        "ord-{:016x}",
                        splitmix64(hash_str(&click_id) ^ self.config.seed)
                    ),
                    click_id,
                    campaign_id: c.id.clone(),
                    clicked_at: noon,
                    converted_at: noon
                        + Duration::minutes(i64::try_from(draw.next() % 300).unwrap_or(0)),
                    order_value: Some(self.money(Decimal::from(50 + draw.next() % 500))),
                }
            })
            .collect();
        Some((
            PerformanceLine {
                campaign_id: c.id.clone(),
                impressions,
                clicks,
                conversions,
                spend: self.money(fen(spend)),
            },
            events,
        ))
    }

    fn next_id(&self, s: &mut State, kind: &str) -> String {
        s.counter += 1;
        format!("{}-{kind}-{:06}", self.config.code, s.counter)
    }

    fn account_view(&self, a: &SimAccount) -> PlatformAccount {
        PlatformAccount {
            account_id: a.id.clone(),
            status: match &a.suspended {
                Some(reason) => PlatformAccountStatus::Suspended {
                    reason: reason.clone(),
                },
                None => PlatformAccountStatus::Active,
            },
            balance: self.money(a.balance),
        }
    }

    fn spend_between(s: &State, from: NaiveDate, to: NaiveDate) -> Decimal {
        s.reports
            .iter()
            .filter(|((_, d), _)| *d >= from && *d <= to)
            .flat_map(|(_, r)| r.lines.iter())
            .map(|l| l.spend.amount())
            .sum()
    }
}

#[async_trait]
impl AdPlatform for SimulatedPlatform {
    fn platform_code(&self) -> &str {
        &self.config.code
    }

    async fn open_account(&self, request: &OpenAccountRequest) -> Result<PlatformAccount> {
        let after = self.before(SimOp::OpenAccount)?;
        let view = {
            let mut s = self.state();
            let id = match s.opened.get(&request.request_id) {
                Some(id) => id.clone(),
                None => {
                    let id = self.next_id(&mut s, "acct");
                    s.opened.insert(request.request_id.clone(), id.clone());
                    s.accounts.insert(
                        id.clone(),
                        SimAccount {
                            id: id.clone(),
                            balance: Decimal::ZERO,
                            suspended: None,
                        },
                    );
                    id
                }
            };
            s.accounts.get(&id).map(|a| self.account_view(a))
        };
        if let Some(f) = after {
            return Err(self.fail(SimOp::OpenAccount, f));
        }
        view.ok_or_else(|| {
            Error::backend_message(self.config.code.clone(), false, "account vanished")
        })
    }

    async fn account(&self, account_id: &str) -> Result<PlatformAccount> {
        if let Some(f) = self.before(SimOp::Account)? {
            return Err(self.fail(SimOp::Account, f));
        }
        self.state()
            .accounts
            .get(account_id)
            .map(|a| self.account_view(a))
            .ok_or_else(|| Error::not_found("ad account", account_id))
    }

    async fn top_up(&self, request: &TopUpRequest) -> Result<TopUpReceipt> {
        request.validate()?;
        let after = self.before(SimOp::TopUp)?;
        let receipt = {
            let mut s = self.state();
            if let Some(r) = s.top_ups.get(&request.request_id) {
                r.clone()
            } else {
                let reference = self.next_id(&mut s, "tx");
                let status = match s.accounts.get_mut(&request.account_id) {
                    None => TopUpStatus::Failed {
                        reason: format!("unknown account {}", request.account_id),
                    },
                    Some(a) if a.suspended.is_some() => TopUpStatus::Failed {
                        reason: format!(
                            "account suspended: {}",
                            a.suspended.clone().unwrap_or_default()
                        ),
                    },
                    Some(_) if request.amount.currency() != self.config.currency => {
                        TopUpStatus::Failed {
                            reason: format!("currency {} not accepted", request.amount.currency()),
                        }
                    }
                    Some(a) => {
                        a.balance += request.amount.amount();
                        TopUpStatus::Succeeded
                    }
                };
                let receipt = TopUpReceipt {
                    request_id: request.request_id.clone(),
                    account_id: request.account_id.clone(),
                    amount: request.amount,
                    platform_ref: if status == TopUpStatus::Succeeded {
                        reference
                    } else {
                        String::new()
                    },
                    status,
                };
                s.top_ups
                    .insert(request.request_id.clone(), receipt.clone());
                receipt
            }
        };
        if let Some(f) = after {
            return Err(self.fail(SimOp::TopUp, f));
        }
        Ok(receipt)
    }

    async fn top_up_status(
        &self,
        _account_id: &str,
        request_id: &str,
    ) -> Result<Option<TopUpReceipt>> {
        if let Some(f) = self.before(SimOp::TopUpStatus)? {
            return Err(self.fail(SimOp::TopUpStatus, f));
        }
        Ok(self.state().top_ups.get(request_id).cloned())
    }

    async fn create_campaign(&self, request: &CampaignRequest) -> Result<PlatformCampaign> {
        request.pricing.validate("pricing")?;
        let after = self.before(SimOp::CreateCampaign)?;
        let created = {
            let mut s = self.state();
            if !s.accounts.contains_key(&request.account_id) {
                return Err(Error::not_found("ad account", &request.account_id));
            }
            let id = match s.created.get(&request.request_id) {
                Some(id) => id.clone(),
                None => {
                    let id = self.next_id(&mut s, "camp");
                    s.created.insert(request.request_id.clone(), id.clone());
                    s.campaigns.insert(
                        id.clone(),
                        SimCampaign {
                            id: id.clone(),
                            account: request.account_id.clone(),
                            request: request.clone(),
                            status: CampaignStatus::Active,
                            spent: Decimal::ZERO,
                        },
                    );
                    id
                }
            };
            PlatformCampaign {
                campaign_id: id,
                account_id: request.account_id.clone(),
                status: CampaignStatus::Active,
            }
        };
        if let Some(f) = after {
            return Err(self.fail(SimOp::CreateCampaign, f));
        }
        Ok(created)
    }

    async fn set_campaign_status(
        &self,
        account_id: &str,
        campaign_id: &str,
        status: CampaignStatus,
    ) -> Result<PlatformCampaign> {
        if let Some(f) = self.before(SimOp::SetCampaignStatus)? {
            return Err(self.fail(SimOp::SetCampaignStatus, f));
        }
        let mut s = self.state();
        let c = s
            .campaigns
            .get_mut(campaign_id)
            .filter(|c| c.account == account_id)
            .ok_or_else(|| Error::not_found("campaign", campaign_id))?;
        c.status = status;
        Ok(PlatformCampaign {
            campaign_id: campaign_id.to_string(),
            account_id: account_id.to_string(),
            status,
        })
    }

    async fn place_ad(&self, request: &PlaceAdRequest) -> Result<PlacedAd> {
        if let Some(f) = self.before(SimOp::PlaceAd)? {
            return Err(self.fail(SimOp::PlaceAd, f));
        }
        if request.approval_ref.trim().is_empty() {
            return Err(Error::backend_message(
                self.config.code.clone(),
                false,
                "ads need a compliance approval reference",
            ));
        }
        let mut s = self.state();
        if let Some(p) = s.placed.get(&request.request_id) {
            return Ok(p.clone());
        }
        if !s.campaigns.contains_key(&request.campaign_id) {
            return Err(Error::not_found("campaign", &request.campaign_id));
        }
        let placed = PlacedAd {
            ad_id: self.next_id(&mut s, "ad"),
            campaign_id: request.campaign_id.clone(),
        };
        s.placed.insert(request.request_id.clone(), placed.clone());
        Ok(placed)
    }

    async fn daily_report(&self, request: &ReportRequest) -> Result<DailyReport> {
        let after = self.before(SimOp::DailyReport)?;
        let s = self.state();
        if !s.accounts.contains_key(&request.account_id) {
            return Err(Error::not_found("ad account", &request.account_id));
        }
        let stored = s
            .reports
            .get(&(request.account_id.clone(), request.date))
            .cloned();
        let ready = s.last_day.is_some_and(|l| request.date <= l);
        drop(s);
        let mut report = stored.unwrap_or_else(|| DailyReport {
            report_id: format!("{}-{}", request.account_id, request.date),
            revision: 1,
            account_id: request.account_id.clone(),
            date: request.date,
            currency: self.config.currency,
            complete: ready,
            lines: Vec::new(),
        });
        if after == Some(SimFailure::PartialReport) {
            report.complete = false;
            report.revision = 0;
            let keep = report.lines.len() / 2;
            report.lines.truncate(keep);
        } else if let Some(f) = after {
            return Err(self.fail(SimOp::DailyReport, f));
        }
        Ok(report)
    }

    async fn conversions(&self, request: &ReportRequest) -> Result<Vec<ConversionEvent>> {
        if let Some(f) = self.before(SimOp::Conversions)? {
            return Err(self.fail(SimOp::Conversions, f));
        }
        Ok(self
            .state()
            .conversions
            .get(&(request.account_id.clone(), request.date))
            .cloned()
            .unwrap_or_default())
    }

    async fn rebate_statement(&self, request: &RebateStatementRequest) -> Result<RebateStatement> {
        if let Some(f) = self.before(SimOp::RebateStatement)? {
            return Err(self.fail(SimOp::RebateStatement, f));
        }
        let s = self.state();
        let gross = Self::spend_between(&s, request.from, request.to);
        let policy = &self.config.rebates;
        let round = |x: Decimal| RoundingMode::HalfUp.round(x, 2);
        let mut lines = vec![RebateLine {
            kind: RebateKind::Standard,
            basis: self.money(gross),
            rate: policy.standard.rate,
            amount: self.money(round(gross * policy.standard.rate.value())),
        }];
        if let Some(p) = &policy.progressive {
            let month = Month::of(request.to);
            if month.closes(p.period) && request.to == month.last_day() {
                let start = p.period.start_month(month).first_day();
                let basis = Self::spend_between(&s, start, request.to).max(Decimal::ZERO);
                let amount = p.schedule.rebate(&self.money(basis)).map_err(|e| {
                    Error::backend_message(self.config.code.clone(), false, e.to_string())
                })?;
                let rate = if basis.is_zero() {
                    Rate::ZERO
                } else {
                    Rate::new(RoundingMode::HalfEven.round(amount.amount() / basis, 6))
                        .unwrap_or(Rate::ZERO)
                };
                lines.push(RebateLine {
                    kind: RebateKind::Progressive,
                    basis: self.money(basis),
                    rate,
                    amount: self.money(round(amount.amount())),
                });
            }
        }
        let total = Money::sum(self.config.currency, lines.iter().map(|l| &l.amount))?;
        Ok(RebateStatement {
            statement_id: format!(
                "{}-rebates-{}-{}",
                self.config.code, request.from, request.to
            ),
            from: request.from,
            to: request.to,
            gross_spend: self.money(gross),
            lines,
            total,
        })
    }
}
