//! The ad platform adapter: what an agency asks of a media platform (short video, social,
//! e-commerce, search) on behalf of its advertising customers.
//!
//! [`AdPlatform`] covers the whole operational loop of precision marketing:
//!
//! 1. **Ad accounts** — [`AdPlatform::open_account`] opens an account for an advertiser under
//!    the agency, [`AdPlatform::account`] reads its status (active / suspended for a policy
//!    violation) and balance.
//! 2. **Top-ups** — [`AdPlatform::top_up`] moves funds into an account; the request carries the
//!    caller's `request_id`, which the platform must treat as an idempotency key, so a retried or
//!    timed-out top-up is never applied twice. [`AdPlatform::top_up_status`] answers "did it
//!    happen?" after a timeout.
//! 3. **Campaigns and ads** — [`AdPlatform::create_campaign`] (objective, budget, schedule,
//!    audience and [`Pricing`]: CPC / CPM with a maximum bid, or CPT at a fixed price per
//!    period), [`AdPlatform::set_campaign_status`], and [`AdPlatform::place_ad`], which carries
//!    the reference of the compliance approval of the creative.
//! 4. **Reports** — [`AdPlatform::daily_report`]: spend and performance (impressions, clicks,
//!    conversions, spend) per campaign for one account and one day; [`AdPlatform::conversions`]:
//!    conversions attributed by the click id the e-commerce platform returns with each order.
//! 5. **Rebate statements** — [`AdPlatform::rebate_statement`]: the platform's own computation
//!    of the rebates it owes the agency for a period (standard rate and progressive tiers).
//!
//! The trait is object-safe (`Arc<dyn AdPlatform>`). Implementations live with the ads domain
//! crate: a deterministic simulated platform and an HTTP adapter speaking a documented JSON
//! protocol. Failures use the core [`Error`]: [`Error::Timeout`]
//! when the outcome is unknown, [`Error::Backend`] with `retryable: true`
//! for rate limiting (HTTP 429) and server errors, and with `retryable: false` for refusals.
//!
//! Money on the wire is whatever unit the platform uses (fen, thousandths of a fen, micros);
//! adapters convert to [`Money`] so the rest of the SDK only sees exact decimals.
//!
//! ```
//! use marketingforce_core::adapters::ad_platform::{Pricing, TopUpRequest};
//! use marketingforce_core::money::Money;
//!
//! let pricing = Pricing::Cpc { max_bid: Money::cny("1.20").unwrap() };
//! assert!(pricing.validate("pricing").is_ok());
//! assert!(Pricing::Cpm { max_bid: Money::cny("0").unwrap() }.validate("pricing").is_err());
//!
//! let top_up = TopUpRequest {
//!     request_id: "topup_0192f0c1e3d47a8b9c0d1e2f3a4b5c6d".into(),
//!     account_id: "1760000000000001".into(),
//!     amount: Money::cny("50000.00").unwrap(),
//! };
//! assert!(top_up.validate().is_ok());
//! ```

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::money::{Currency, Money, Rate};

/// How a platform prices inventory.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PricingModel {
    /// Cost per click, from the platform's real-time auction.
    Cpc,
    /// Cost per thousand impressions, from the auction.
    Cpm,
    /// Cost per time: a fixed price for a period (e.g. a splash screen for a day).
    Cpt,
}

impl fmt::Display for PricingModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PricingModel::Cpc => "CPC",
            PricingModel::Cpm => "CPM",
            PricingModel::Cpt => "CPT",
        })
    }
}

/// The period a CPT price buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CptPeriod {
    /// One hour of exclusive placement.
    Hour,
    /// One calendar day of exclusive placement.
    Day,
}

/// The price terms of a campaign: an auction capped by a maximum bid, or a fixed price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Pricing {
    /// Pay per click; the auction price never exceeds `max_bid` per click.
    Cpc {
        /// Highest price per click.
        max_bid: Money,
    },
    /// Pay per thousand impressions; the auction price never exceeds `max_bid` per thousand.
    Cpm {
        /// Highest price per thousand impressions.
        max_bid: Money,
    },
    /// A fixed `price` per `period`.
    Cpt {
        /// Price of one period.
        price: Money,
        /// The period the price buys.
        period: CptPeriod,
    },
}

impl Pricing {
    /// The pricing model.
    pub fn model(&self) -> PricingModel {
        match self {
            Pricing::Cpc { .. } => PricingModel::Cpc,
            Pricing::Cpm { .. } => PricingModel::Cpm,
            Pricing::Cpt { .. } => PricingModel::Cpt,
        }
    }

    /// The bid cap or fixed price.
    pub fn amount(&self) -> Money {
        match self {
            Pricing::Cpc { max_bid } | Pricing::Cpm { max_bid } => *max_bid,
            Pricing::Cpt { price, .. } => *price,
        }
    }

    /// Check that the bid or price is positive and in whole minor units.
    ///
    /// # Errors
    /// A validation error on `<field>.max_bid` or `<field>.price`.
    pub fn validate(&self, field: &str) -> Result<()> {
        let (name, amount) = match self {
            Pricing::Cpc { max_bid } | Pricing::Cpm { max_bid } => ("max_bid", max_bid),
            Pricing::Cpt { price, .. } => ("price", price),
        };
        let path = format!("{field}.{name}");
        amount.ensure_minor_units(&path)?;
        if !amount.is_positive() {
            return Err(Error::validation(
                path,
                format!("must be positive, got {amount}"),
            ));
        }
        Ok(())
    }
}

/// Request to open an ad account for an advertiser under the agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OpenAccountRequest {
    /// Caller's idempotency key: the same id opens at most one account.
    pub request_id: String,
    /// The advertiser's registered name.
    pub advertiser_name: String,
    /// Business licence number (unified social credit code in mainland China).
    pub licence_number: String,
    /// Industry code or name, for the platform's own qualification rules.
    pub industry: String,
    /// Currency of the account.
    pub currency: Currency,
}

/// Status of an account at the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PlatformAccountStatus {
    /// The account can be topped up and deliver ads.
    Active,
    /// Suspended for a policy violation: no delivery, no top-ups.
    Suspended {
        /// What the platform said.
        reason: String,
    },
    /// Closed for good.
    Closed,
}

/// An ad account as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformAccount {
    /// The platform's account id.
    pub account_id: String,
    /// Status.
    pub status: PlatformAccountStatus,
    /// Unspent funds in the account.
    pub balance: Money,
}

/// Request to move funds into an ad account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TopUpRequest {
    /// Caller's idempotency key: retries with the same id are applied once.
    pub request_id: String,
    /// The platform's account id.
    pub account_id: String,
    /// Amount to add (positive, whole minor units).
    pub amount: Money,
}

impl TopUpRequest {
    /// Check the request.
    ///
    /// # Errors
    /// A validation error on `request_id`, `account_id` or `amount`.
    pub fn validate(&self) -> Result<()> {
        non_blank(&self.request_id, "request_id")?;
        non_blank(&self.account_id, "account_id")?;
        self.amount.ensure_minor_units("amount")?;
        if !self.amount.is_positive() {
            return Err(Error::validation(
                "amount",
                format!("must be positive, got {}", self.amount),
            ));
        }
        Ok(())
    }
}

/// Outcome of a top-up at the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TopUpStatus {
    /// The funds are in the account.
    Succeeded,
    /// Accepted but not final yet; ask again with [`AdPlatform::top_up_status`].
    Processing,
    /// Refused; nothing was moved.
    Failed {
        /// What the platform said.
        reason: String,
    },
}

/// The platform's answer to a top-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TopUpReceipt {
    /// The caller's request id.
    pub request_id: String,
    /// The platform's account id.
    pub account_id: String,
    /// Amount of the top-up.
    pub amount: Money,
    /// Outcome.
    pub status: TopUpStatus,
    /// The platform's own reference for the transaction (empty when failed).
    pub platform_ref: String,
}

/// Who a campaign should reach.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Audience {
    /// Free-text description of the target audience.
    pub description: String,
    /// Region codes or names (empty = nationwide).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Youngest age targeted.
    #[serde(default)]
    pub age_min: Option<u8>,
    /// Oldest age targeted.
    #[serde(default)]
    pub age_max: Option<u8>,
    /// Interest tags.
    #[serde(default)]
    pub interests: Vec<String>,
    /// Estimated reachable people per day, if known (drives simulated delivery).
    #[serde(default)]
    pub estimated_daily_reach: Option<u64>,
}

/// Request to create a campaign in an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CampaignRequest {
    /// Caller's idempotency key.
    pub request_id: String,
    /// The platform's account id.
    pub account_id: String,
    /// Campaign name.
    pub name: String,
    /// Objective, e.g. `traffic`, `conversions`, `awareness`.
    pub objective: String,
    /// Price terms.
    pub pricing: Pricing,
    /// Daily budget, if any.
    pub daily_budget: Option<Money>,
    /// Total budget, if any.
    pub total_budget: Option<Money>,
    /// First day of delivery.
    pub start: NaiveDate,
    /// Last day of delivery (inclusive), if any.
    pub end: Option<NaiveDate>,
    /// Target audience.
    pub audience: Audience,
}

/// Delivery status of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Delivering (within its schedule and budget).
    Active,
    /// Paused by the advertiser or the agency.
    Paused,
    /// Ended.
    Ended,
}

/// A campaign as the platform sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformCampaign {
    /// The platform's campaign id.
    pub campaign_id: String,
    /// The platform's account id.
    pub account_id: String,
    /// Status.
    pub status: CampaignStatus,
}

/// Request to place a creative (an ad) in a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlaceAdRequest {
    /// Caller's idempotency key.
    pub request_id: String,
    /// The platform's account id.
    pub account_id: String,
    /// The platform's campaign id.
    pub campaign_id: String,
    /// The caller's creative id.
    pub creative_id: String,
    /// Headline.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Media URLs (images, videos).
    #[serde(default)]
    pub media: Vec<String>,
    /// Landing page.
    pub landing_url: String,
    /// Reference of the compliance approval the creative carries.
    pub approval_ref: String,
}

/// A placed ad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlacedAd {
    /// The platform's ad id.
    pub ad_id: String,
    /// The platform's campaign id.
    pub campaign_id: String,
}

/// Which account and day a report is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportRequest {
    /// The platform's account id.
    pub account_id: String,
    /// The civil date (platform time zone, normally the tenant's).
    pub date: NaiveDate,
}

/// One campaign's delivery on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PerformanceLine {
    /// The platform's campaign id.
    pub campaign_id: String,
    /// Impressions served.
    pub impressions: u64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions the platform counted (its own attribution).
    pub conversions: u64,
    /// Amount charged. Negative for a refund (e.g. invalid traffic credited back).
    pub spend: Money,
}

/// Spend and performance of one account on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DailyReport {
    /// The platform's id of this report (stable across re-deliveries of the same data).
    pub report_id: String,
    /// Revision: a restated report has a higher revision.
    pub revision: u32,
    /// The platform's account id.
    pub account_id: String,
    /// The day reported.
    pub date: NaiveDate,
    /// Currency of the spend.
    pub currency: Currency,
    /// Whether the platform declares the day final. A partial report is `false`.
    pub complete: bool,
    /// One line per campaign with delivery.
    pub lines: Vec<PerformanceLine>,
}

/// A conversion (order) attributed to a click by the id the e-commerce platform returned with
/// the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConversionEvent {
    /// The order (transaction) id; an order converts at most once.
    pub order_id: String,
    /// The unique id of the clicking consumer returned with the transaction.
    pub click_id: String,
    /// The platform's campaign id of the click.
    pub campaign_id: String,
    /// When the click happened.
    pub clicked_at: DateTime<Utc>,
    /// When the order happened.
    pub converted_at: DateTime<Utc>,
    /// Order value, if reported.
    pub order_value: Option<Money>,
}

/// Which period a rebate statement covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RebateStatementRequest {
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period (inclusive).
    pub to: NaiveDate,
}

/// Kind of a rebate statement line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RebateKind {
    /// The standard percentage of traffic spend.
    Standard,
    /// A progressive (tiered) rebate on gross spend of the period.
    Progressive,
}

/// One line of a rebate statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RebateLine {
    /// Kind of rebate.
    pub kind: RebateKind,
    /// The spend it is computed on.
    pub basis: Money,
    /// The effective rate applied.
    pub rate: Rate,
    /// The rebate amount.
    pub amount: Money,
}

/// The platform's statement of rebates owed to the agency for a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RebateStatement {
    /// The platform's statement id.
    pub statement_id: String,
    /// First day covered.
    pub from: NaiveDate,
    /// Last day covered (inclusive).
    pub to: NaiveDate,
    /// Gross traffic spend of the agency's accounts in the period.
    pub gross_spend: Money,
    /// Rebate lines.
    pub lines: Vec<RebateLine>,
    /// Sum of the lines.
    pub total: Money,
}

/// A media platform the agency buys traffic from, behind an adapter.
///
/// Every mutating call carries the caller's `request_id`; implementations must apply a request
/// id at most once and answer replays with the first outcome. Implementations are `Send + Sync`
/// and used as `Arc<dyn AdPlatform>`.
#[async_trait]
pub trait AdPlatform: Send + Sync + fmt::Debug {
    /// A stable code of the platform behind this adapter (e.g. `ocean-engine`, `sim`).
    fn platform_code(&self) -> &str;

    /// Open an ad account for an advertiser.
    ///
    /// # Errors
    /// [`Error::Backend`] when the platform refuses or fails,
    /// [`Error::Timeout`] when the outcome is unknown.
    async fn open_account(&self, request: &OpenAccountRequest) -> Result<PlatformAccount>;

    /// Read an account's status and balance.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown account, or a backend error.
    async fn account(&self, account_id: &str) -> Result<PlatformAccount>;

    /// Move funds into an account (idempotent by `request_id`).
    ///
    /// # Errors
    /// Backend errors and timeouts; a definitive refusal is a receipt with
    /// [`TopUpStatus::Failed`].
    async fn top_up(&self, request: &TopUpRequest) -> Result<TopUpReceipt>;

    /// The outcome of an earlier top-up, or `None` if the platform never received it.
    ///
    /// # Errors
    /// Backend errors and timeouts.
    async fn top_up_status(
        &self,
        account_id: &str,
        request_id: &str,
    ) -> Result<Option<TopUpReceipt>>;

    /// Create a campaign.
    ///
    /// # Errors
    /// Backend errors and timeouts.
    async fn create_campaign(&self, request: &CampaignRequest) -> Result<PlatformCampaign>;

    /// Pause, resume or end a campaign.
    ///
    /// # Errors
    /// Backend errors and timeouts.
    async fn set_campaign_status(
        &self,
        account_id: &str,
        campaign_id: &str,
        status: CampaignStatus,
    ) -> Result<PlatformCampaign>;

    /// Place an approved creative in a campaign.
    ///
    /// # Errors
    /// Backend errors and timeouts.
    async fn place_ad(&self, request: &PlaceAdRequest) -> Result<PlacedAd>;

    /// Spend and performance of one account on one day.
    ///
    /// # Errors
    /// Backend errors (e.g. a 429 while the platform throttles report downloads) and timeouts.
    async fn daily_report(&self, request: &ReportRequest) -> Result<DailyReport>;

    /// Conversions attributed by click id for one account and day (by conversion date).
    ///
    /// # Errors
    /// Backend errors and timeouts.
    async fn conversions(&self, request: &ReportRequest) -> Result<Vec<ConversionEvent>>;

    /// The platform's rebate statement for a period.
    ///
    /// # Errors
    /// Backend errors and timeouts.
    async fn rebate_statement(&self, request: &RebateStatementRequest) -> Result<RebateStatement>;
}

fn non_blank(value: &str, field: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::validation(field, "must not be blank"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricing_serialises_with_its_model_tag() {
        let p = Pricing::Cpt {
            price: Money::cny("80000.00").unwrap(),
            period: CptPeriod::Day,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"model":"cpt","price":{"amount":"80000.00","currency":"CNY"},"period":"day"}"#
        );
        assert_eq!(serde_json::from_str::<Pricing>(&json).unwrap(), p);
        assert_eq!(p.model().to_string(), "CPT");
    }

    #[test]
    fn bad_bids_and_top_ups_name_the_field() {
        let e = Pricing::Cpc {
            max_bid: Money::cny("-1").unwrap(),
        }
        .validate("campaign.pricing")
        .unwrap_err();
        assert!(e.to_string().contains("campaign.pricing.max_bid"), "{e}");
        let e = Pricing::Cpm {
            max_bid: Money::cny("1.001").unwrap(),
        }
        .validate("p")
        .unwrap_err();
        assert!(e.to_string().contains("p.max_bid"), "{e}");
        let mut t = TopUpRequest {
            request_id: "r".into(),
            account_id: " ".into(),
            amount: Money::cny("1").unwrap(),
        };
        assert!(t.validate().unwrap_err().to_string().contains("account_id"));
        t.account_id = "a".into();
        t.amount = Money::cny("0").unwrap();
        assert!(t.validate().unwrap_err().to_string().contains("amount"));
    }

    #[derive(Debug)]
    struct Nothing;

    #[async_trait]
    impl AdPlatform for Nothing {
        fn platform_code(&self) -> &str {
            "nothing"
        }
        async fn open_account(&self, _: &OpenAccountRequest) -> Result<PlatformAccount> {
            Err(Error::backend_message("nothing", false, "closed"))
        }
        async fn account(&self, id: &str) -> Result<PlatformAccount> {
            Err(Error::not_found("ad account", id))
        }
        async fn top_up(&self, _: &TopUpRequest) -> Result<TopUpReceipt> {
            Err(Error::Timeout {
                operation: "top_up".into(),
            })
        }
        async fn top_up_status(&self, _: &str, _: &str) -> Result<Option<TopUpReceipt>> {
            Ok(None)
        }
        async fn create_campaign(&self, _: &CampaignRequest) -> Result<PlatformCampaign> {
            Err(Error::backend_message("nothing", true, "429"))
        }
        async fn set_campaign_status(
            &self,
            _: &str,
            _: &str,
            _: CampaignStatus,
        ) -> Result<PlatformCampaign> {
            Err(Error::backend_message("nothing", true, "429"))
        }
        async fn place_ad(&self, _: &PlaceAdRequest) -> Result<PlacedAd> {
            Err(Error::backend_message("nothing", false, "refused"))
        }
        async fn daily_report(&self, _: &ReportRequest) -> Result<DailyReport> {
            Err(Error::backend_message("nothing", true, "429"))
        }
        async fn conversions(&self, _: &ReportRequest) -> Result<Vec<ConversionEvent>> {
            Ok(Vec::new())
        }
        async fn rebate_statement(&self, _: &RebateStatementRequest) -> Result<RebateStatement> {
            Err(Error::backend_message("nothing", false, "none"))
        }
    }

    #[test]
    fn the_trait_is_object_safe() {
        let p: std::sync::Arc<dyn AdPlatform> = std::sync::Arc::new(Nothing);
        assert_eq!(p.platform_code(), "nothing");
    }
}
