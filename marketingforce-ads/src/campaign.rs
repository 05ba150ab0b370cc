//! Campaigns (objective, budget, schedule, audience, pricing, KPIs) and their daily performance
//! with derived metrics (CTR, CPC, CPM, CPA, conversion rate).
//!
//! ```
//! use marketingforce_ads::campaign::{KpiTarget, Metrics};
//! use marketingforce_core::money::Money;
//!
//! let m = Metrics::compute(120_000, 3_000, 60, Money::cny("3600.00").unwrap());
//! assert_eq!(m.ctr.unwrap().to_string(), "0.025");            // 2.5%
//! assert_eq!(m.cpc.unwrap().to_string(), "1.2000 CNY");
//! assert_eq!(m.cpm.unwrap().to_string(), "30.0000 CNY");
//! assert_eq!(m.cpa.unwrap().to_string(), "60.0000 CNY");
//! assert_eq!(m.conversion_rate.unwrap().to_string(), "0.02");
//!
//! // A solution-services KPI of at most 1.00 per click was missed by 0.20 a click:
//! let kpi = KpiTarget::MaxCpc { max: Money::cny("1.00").unwrap() };
//! assert_eq!(kpi.shortfall(&m).unwrap().to_string(), "600.00 CNY");
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::adapters::ad_platform::{Audience, CampaignStatus, Pricing};
use marketingforce_core::money::{Currency, Decimal, Money, RoundingMode};
use marketingforce_core::storage::{Entity, IndexEntry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{AdsError, Result};
use crate::ids::{AdAccountId, CampaignId, CustomerId, PlatformId};

/// What a campaign is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Objective {
    /// Reach and impressions.
    Awareness,
    /// Clicks to a landing page.
    Traffic,
    /// Orders or other conversions.
    Conversions,
    /// Lead forms.
    Leads,
    /// App installs.
    AppInstalls,
}

impl Objective {
    /// The platform-side name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Objective::Awareness => "awareness",
            Objective::Traffic => "traffic",
            Objective::Conversions => "conversions",
            Objective::Leads => "leads",
            Objective::AppInstalls => "app_installs",
        }
    }
}

/// Budget limits: daily, total, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Budget {
    /// Most spend per day.
    #[serde(default)]
    pub daily: Option<Money>,
    /// Most spend over the campaign.
    #[serde(default)]
    pub total: Option<Money>,
}

/// When a campaign runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    /// First day.
    pub start: NaiveDate,
    /// Last day (inclusive), if any.
    #[serde(default)]
    pub end: Option<NaiveDate>,
    /// Hours of the day (0–23) to deliver in; empty = all day.
    #[serde(default)]
    pub hours: Vec<u8>,
}

impl Schedule {
    /// Whether the campaign runs on `date`.
    pub fn runs_on(&self, date: NaiveDate) -> bool {
        self.start <= date && self.end.is_none_or(|e| date <= e)
    }
}

/// A KPI the agency commits to under solution services. Missing it reduces what the customer
/// pays: the compensation is the spend above what the KPI allows for the units delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kpi", rename_all = "snake_case")]
#[non_exhaustive]
pub enum KpiTarget {
    /// At most `max` per click.
    MaxCpc {
        /// The ceiling.
        max: Money,
    },
    /// At most `max` per thousand impressions.
    MaxCpm {
        /// The ceiling.
        max: Money,
    },
    /// At most `max` per conversion.
    MaxCpa {
        /// The ceiling.
        max: Money,
    },
}

impl KpiTarget {
    /// The ceiling.
    pub fn max(&self) -> Money {
        match self {
            KpiTarget::MaxCpc { max } | KpiTarget::MaxCpm { max } | KpiTarget::MaxCpa { max } => {
                *max
            }
        }
    }

    /// Spend above what the KPI allows for the delivered units, rounded half-up to the minor
    /// unit, never negative and never above the spend.
    ///
    /// # Errors
    /// Mixed currencies or overflow.
    pub fn shortfall(&self, m: &Metrics) -> Result<Money> {
        let units = match self {
            KpiTarget::MaxCpc { .. } => Decimal::from(m.clicks),
            KpiTarget::MaxCpm { .. } => Decimal::from(m.impressions) / Decimal::ONE_THOUSAND,
            KpiTarget::MaxCpa { .. } => Decimal::from(m.conversions),
        };
        let allowed = self.max().checked_mul(units)?;
        let excess = m.spend.checked_sub(&allowed)?;
        if !excess.is_positive() {
            return Ok(Money::zero(m.spend.currency()));
        }
        Ok(excess.checked_min(&m.spend)?.round(RoundingMode::HalfUp))
    }
}

/// Delivery numbers and the metrics derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Metrics {
    /// Impressions.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions.
    pub conversions: u64,
    /// Spend.
    pub spend: Money,
    /// Click-through rate = clicks ÷ impressions (6 decimal places, half-even).
    pub ctr: Option<Decimal>,
    /// Cost per click (4 decimal places, half-even).
    pub cpc: Option<Money>,
    /// Cost per thousand impressions (4 decimal places, half-even).
    pub cpm: Option<Money>,
    /// Cost per conversion (4 decimal places, half-even).
    pub cpa: Option<Money>,
    /// Conversion rate = conversions ÷ clicks (6 decimal places, half-even).
    pub conversion_rate: Option<Decimal>,
}

impl Metrics {
    /// Derive the metrics; a metric whose denominator is zero is `None`.
    pub fn compute(impressions: u64, clicks: u64, conversions: u64, spend: Money) -> Metrics {
        let ratio = |n: u64, d: u64| {
            (d > 0).then(|| {
                RoundingMode::HalfEven
                    .round(Decimal::from(n) / Decimal::from(d), 6)
                    .normalize()
            })
        };
        let unit = |d: Decimal| {
            (!d.is_zero())
                .then(|| spend.checked_div(d).ok())
                .flatten()
                .map(|m| {
                    let mut a = RoundingMode::HalfEven.round(m.amount(), 4);
                    a.rescale(4);
                    Money::new(a, m.currency())
                })
        };
        Metrics {
            impressions,
            clicks,
            conversions,
            spend,
            ctr: ratio(clicks, impressions),
            cpc: unit(Decimal::from(clicks)),
            cpm: unit(Decimal::from(impressions) / Decimal::ONE_THOUSAND),
            cpa: unit(Decimal::from(conversions)),
            conversion_rate: ratio(conversions, clicks),
        }
    }

    /// Zero delivery in `currency`.
    pub fn zero(currency: Currency) -> Metrics {
        Metrics::compute(0, 0, 0, Money::zero(currency))
    }
}

/// What creating a campaign needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CampaignDraft {
    /// Name.
    pub name: String,
    /// Objective.
    pub objective: Objective,
    /// Budget.
    pub budget: Budget,
    /// Schedule.
    pub schedule: Schedule,
    /// Target audience.
    pub audience: Audience,
    /// CPC / CPM with a maximum bid, or CPT at a fixed price per period.
    pub pricing: Pricing,
    /// KPIs (solution services only).
    #[serde(default)]
    pub kpis: Vec<KpiTarget>,
}

impl CampaignDraft {
    /// A campaign `name` with `objective`, priced by `pricing`, running all day from `start`
    /// with no end, the whole audience and no KPIs; set the rest with the builder methods. A
    /// campaign needs a budget: [`daily_budget`](Self::daily_budget) or
    /// [`total_budget`](Self::total_budget) (validation names `budget` otherwise).
    ///
    /// ```
    /// use marketingforce_ads::campaign::{CampaignDraft, Objective};
    /// use marketingforce_core::adapters::ad_platform::Pricing;
    /// use marketingforce_core::money::{Currency, Money};
    ///
    /// let cny = |s: &str| Money::cny(s).unwrap();
    /// let start = "2026-03-01".parse().unwrap();
    /// let plan = CampaignDraft::new("春季上新", Objective::Traffic, Pricing::Cpc { max_bid: cny("1.20") }, start)
    ///     .daily_budget(cny("2000"))
    ///     .ends(start + chrono::Days::new(30));
    /// assert_eq!(plan.budget.daily, Some(cny("2000")));
    /// assert!(plan.validate(Currency::CNY, false).is_ok());
    /// ```
    pub fn new(
        name: impl Into<String>,
        objective: Objective,
        pricing: Pricing,
        start: NaiveDate,
    ) -> CampaignDraft {
        CampaignDraft {
            name: name.into(),
            objective,
            budget: Budget {
                daily: None,
                total: None,
            },
            schedule: Schedule {
                start,
                end: None,
                hours: Vec::new(),
            },
            audience: Audience::default(),
            pricing,
            kpis: Vec::new(),
        }
    }

    /// [`new`](Self::new) priced per click, bidding at most `max_bid` a click
    /// ([`Pricing::Cpc`]).
    ///
    /// ```
    /// use marketingforce_ads::campaign::{CampaignDraft, Objective};
    /// use marketingforce_core::adapters::ad_platform::Pricing;
    /// use marketingforce_core::money::Money;
    ///
    /// let bid = Money::cny("1.20").unwrap();
    /// let plan = CampaignDraft::cpc("春季上新", Objective::Traffic, bid, "2026-03-01".parse().unwrap());
    /// assert_eq!(plan.pricing, Pricing::Cpc { max_bid: bid });
    /// ```
    pub fn cpc(
        name: impl Into<String>,
        objective: Objective,
        max_bid: Money,
        start: NaiveDate,
    ) -> CampaignDraft {
        CampaignDraft::new(name, objective, Pricing::Cpc { max_bid }, start)
    }

    /// [`new`](Self::new) priced per thousand impressions, bidding at most `max_bid` a
    /// thousand ([`Pricing::Cpm`]).
    pub fn cpm(
        name: impl Into<String>,
        objective: Objective,
        max_bid: Money,
        start: NaiveDate,
    ) -> CampaignDraft {
        CampaignDraft::new(name, objective, Pricing::Cpm { max_bid }, start)
    }

    /// Cap the spend per day at `amount`.
    #[must_use]
    pub fn daily_budget(mut self, amount: Money) -> CampaignDraft {
        self.budget.daily = Some(amount);
        self
    }

    /// Cap the spend over the whole campaign at `amount`.
    #[must_use]
    pub fn total_budget(mut self, amount: Money) -> CampaignDraft {
        self.budget.total = Some(amount);
        self
    }

    /// End the campaign after `last_day` (inclusive).
    #[must_use]
    pub fn ends(mut self, last_day: NaiveDate) -> CampaignDraft {
        self.schedule.end = Some(last_day);
        self
    }

    /// Target `audience` (default: everyone).
    #[must_use]
    pub fn audience(mut self, audience: Audience) -> CampaignDraft {
        self.audience = audience;
        self
    }

    /// Check the draft for an account in `currency`; `kpis_allowed` is false under
    /// distribution services (no KPI guarantee).
    ///
    /// # Errors
    /// A validation error naming the field.
    pub fn validate(&self, currency: Currency, kpis_allowed: bool) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(AdsError::validation("name", "must not be blank"));
        }
        self.pricing.validate("pricing")?;
        if self.pricing.amount().currency() != currency {
            return Err(AdsError::validation(
                "pricing",
                format!(
                    "priced in {}, the account is in {currency}",
                    self.pricing.amount().currency()
                ),
            ));
        }
        if self.budget.daily.is_none() && self.budget.total.is_none() {
            return Err(AdsError::validation(
                "budget",
                "set a daily or a total budget",
            ));
        }
        for (field, m) in [
            ("budget.daily", self.budget.daily),
            ("budget.total", self.budget.total),
        ] {
            if let Some(m) = m {
                m.ensure_price(field, currency)?;
                if m.is_zero() {
                    return Err(AdsError::validation(field, "must be positive"));
                }
            }
        }
        if let (Some(d), Some(t)) = (self.budget.daily, self.budget.total) {
            if d.amount() > t.amount() {
                return Err(AdsError::validation(
                    "budget.daily",
                    format!("{d} exceeds the total budget {t}"),
                ));
            }
        }
        if self.schedule.end.is_some_and(|e| e < self.schedule.start) {
            return Err(AdsError::validation(
                "schedule.end",
                "ends before it starts",
            ));
        }
        if let Some(i) = self.schedule.hours.iter().position(|h| *h > 23) {
            return Err(AdsError::validation(
                format!("schedule.hours[{i}]"),
                "hours are 0-23",
            ));
        }
        if let (Some(lo), Some(hi)) = (self.audience.age_min, self.audience.age_max) {
            if lo > hi {
                return Err(AdsError::validation("audience.age_max", "below age_min"));
            }
        }
        if !self.kpis.is_empty() && !kpis_allowed {
            return Err(AdsError::validation(
                "kpis",
                "KPIs are committed under solution services only; distribution carries no KPI guarantee",
            ));
        }
        for (i, k) in self.kpis.iter().enumerate() {
            let field = format!("kpis[{i}].max");
            k.max().ensure_price(&field, currency)?;
            if k.max().is_zero() {
                return Err(AdsError::validation(field, "must be positive"));
            }
        }
        Ok(())
    }
}

/// A campaign in an ad account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Campaign {
    /// Id.
    pub id: CampaignId,
    /// The account.
    pub account: AdAccountId,
    /// The customer.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// The platform's campaign id.
    pub external_id: String,
    /// The plan.
    pub draft: CampaignDraft,
    /// Delivery status.
    pub status: CampaignStatus,
    /// When created.
    pub created_at: DateTime<Utc>,
}

impl Campaign {
    /// The index value that finds a campaign by its platform id.
    pub fn external_key(account: &AdAccountId, external_id: &str) -> String {
        format!("{account}:{external_id}")
    }
}

impl Entity for Campaign {
    const COLLECTION: &'static str = "ads.campaigns";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![
            IndexEntry::new("account", self.account.to_string()),
            IndexEntry::new(
                "external",
                Campaign::external_key(&self.account, &self.external_id),
            ),
        ]
    }
}

/// A campaign's delivery on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DailyPerformance {
    /// The day.
    pub date: NaiveDate,
    /// Delivery and derived metrics (conversions as the platform attributed them by click id).
    pub metrics: Metrics,
    /// Orders we received and attributed to the campaign's clicks by click id that day.
    pub attributed_orders: u64,
}
