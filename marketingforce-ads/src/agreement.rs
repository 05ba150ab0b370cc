//! Framework agreements with customers, media platforms and our agreements with them.
//!
//! A customer's **framework agreement** runs one year (renewable) and fixes the
//! [`ServiceType`] — **solution** services, where the agency is principal (gross basis, with
//! KPIs), or **distribution** services, where it is agent (net basis) — the credit terms (≤ 90
//! days normally, longer only by a recorded exception, up to 210 days in distribution), the
//! credit limit and the customer rebate policy.
//!
//! A **platform agreement** fixes how the platform prices inventory, our settlement terms with
//! it (prepayment, or monthly with payment within N days) and its rebate policy.
//!
//! ```
//! use chrono::NaiveDate;
//! use marketingforce_ads::agreement::*;
//! use marketingforce_ads::rebate::CustomerRebatePolicy;
//! use marketingforce_core::money::Money;
//!
//! let d = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let mut terms = AgreementTerms {
//!     service_type: ServiceType::Distribution,
//!     start: d("2026-01-01"),
//!     end: d("2026-12-31"),
//!     auto_renew: true,
//!     credit_terms_days: 120,
//!     credit_exception: None,
//!     credit_limit: Money::cny("2000000").unwrap(),
//!     customer_rebate: CustomerRebatePolicy::Fixed { rate: "3%".parse().unwrap() },
//! };
//! // 120 days needs a recorded exception.
//! let policy = CreditPolicy::default();
//! assert_eq!(terms.validate(&policy).unwrap_err().field(), Some("credit_terms_days"));
//! terms.credit_exception = Some(CreditException { approved_by: "CFO".into(), reason: "strategic account".into() });
//! assert!(terms.validate(&policy).is_ok());
//! // Solution services cannot go to 210 days even by exception.
//! terms.credit_terms_days = 210;
//! terms.service_type = ServiceType::Solution;
//! assert!(terms.validate(&policy).is_err());
//! ```

use std::fmt;

use chrono::{Datelike, NaiveDate};
use marketingforce_core::adapters::ad_platform::PricingModel;
use marketingforce_core::money::{Currency, Money};
use marketingforce_core::storage::{Entity, IndexEntry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{path, Config};
use crate::error::{AdsError, Result};
use crate::ids::{AgreementId, CustomerId, PlatformAgreementId, PlatformId};
use crate::rebate::{CustomerRebatePolicy, PlatformRebatePolicy, RebatePayout};

/// The two service types and their revenue treatments (IFRS 15 principal vs agent).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ServiceType {
    /// The agency is principal (plans, produces content, buys traffic, commits to KPIs):
    /// **gross basis** — revenue = traffic spend charged − customer rebates (− KPI
    /// compensation); cost = traffic cost − platform rebates + staff costs.
    Solution,
    /// The agency is agent (the customer picks platforms and periods, no KPI guarantee):
    /// **net basis** — revenue = platform rebates − customer rebates; gross billing = traffic
    /// spend − customer rebates.
    Distribution,
}

impl ServiceType {
    /// Both service types.
    pub const ALL: [ServiceType; 2] = [ServiceType::Solution, ServiceType::Distribution];

    /// The ledger owner code of the service type's revenue and cost accounts.
    pub const fn code(self) -> u128 {
        match self {
            ServiceType::Solution => 1,
            ServiceType::Distribution => 2,
        }
    }

    /// The service type of a ledger owner code.
    pub const fn from_code(code: u128) -> Option<ServiceType> {
        match code {
            1 => Some(ServiceType::Solution),
            2 => Some(ServiceType::Distribution),
            _ => None,
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceType::Solution => "solution",
            ServiceType::Distribution => "distribution",
        })
    }
}

/// Limits on credit terms (configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditPolicy {
    /// Longest terms without an exception (90 days).
    pub normal_max_days: u32,
    /// Longest terms by exception in solution services (default 180 days, an assumption: the
    /// business only states that exceptions exist).
    pub solution_exception_max_days: u32,
    /// Longest terms by exception in distribution services (210 days).
    pub distribution_exception_max_days: u32,
}

impl Default for CreditPolicy {
    fn default() -> Self {
        CreditPolicy {
            normal_max_days: 90,
            solution_exception_max_days: 180,
            distribution_exception_max_days: 210,
        }
    }
}

impl Config for CreditPolicy {
    fn validate(&self) -> Result<()> {
        for (field, days) in [
            (
                "solution_exception_max_days",
                self.solution_exception_max_days,
            ),
            (
                "distribution_exception_max_days",
                self.distribution_exception_max_days,
            ),
        ] {
            if days < self.normal_max_days {
                return Err(AdsError::validation(
                    field,
                    format!("{days} is below normal_max_days {}", self.normal_max_days),
                ));
            }
        }
        Ok(())
    }
}

/// A recorded exception allowing credit terms beyond the normal maximum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreditException {
    /// Who approved it.
    pub approved_by: String,
    /// Why.
    pub reason: String,
}

/// The commercial terms of a framework agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementTerms {
    /// Solution (principal) or distribution (agent).
    pub service_type: ServiceType,
    /// First day.
    pub start: NaiveDate,
    /// Last day (inclusive); one year normally.
    pub end: NaiveDate,
    /// Renewed for another year unless terminated.
    pub auto_renew: bool,
    /// Days from invoice to due date.
    pub credit_terms_days: u32,
    /// The exception allowing terms above the normal maximum.
    #[serde(default)]
    pub credit_exception: Option<CreditException>,
    /// Most the customer may owe (receivables and advances, less prepayments).
    pub credit_limit: Money,
    /// Rebate to the customer.
    pub customer_rebate: CustomerRebatePolicy,
}

/// The last day of a one-year term starting on `start` (the day before its anniversary).
fn one_year_from(start: NaiveDate) -> NaiveDate {
    start
        .checked_add_months(chrono::Months::new(12))
        .and_then(|d| d.pred_opt())
        .unwrap_or(NaiveDate::MAX)
}

impl AgreementTerms {
    /// One year of `service_type` from `start` with the usual terms: no auto-renewal, 60 days'
    /// credit (within the normal maximum, so no exception is needed), `credit_limit`, and
    /// `customer_rebate`. Adjust fields afterwards for anything else.
    ///
    /// ```
    /// use marketingforce_ads::agreement::{AgreementTerms, ServiceType};
    /// use marketingforce_ads::rebate::CustomerRebatePolicy;
    /// use marketingforce_core::money::Money;
    ///
    /// let terms = AgreementTerms::one_year(
    ///     ServiceType::Distribution,
    ///     "2026-03-01".parse().unwrap(),
    ///     Money::cny("300000").unwrap(),
    ///     CustomerRebatePolicy::Fixed { rate: "3%".parse().unwrap() },
    /// );
    /// assert_eq!(terms.end.to_string(), "2027-02-28");
    /// assert!(terms.validate(&Default::default()).is_ok());
    /// ```
    pub fn one_year(
        service_type: ServiceType,
        start: NaiveDate,
        credit_limit: Money,
        customer_rebate: CustomerRebatePolicy,
    ) -> AgreementTerms {
        AgreementTerms {
            service_type,
            start,
            end: one_year_from(start),
            auto_renew: false,
            credit_terms_days: 60,
            credit_exception: None,
            credit_limit,
            customer_rebate,
        }
    }

    /// [`one_year`](Self::one_year) of [`ServiceType::Distribution`]: we buy traffic as the
    /// customer's agent (no KPI guarantees).
    ///
    /// ```
    /// use marketingforce_ads::agreement::{AgreementTerms, ServiceType};
    /// use marketingforce_core::money::Money;
    ///
    /// let start = "2026-03-01".parse().unwrap();
    /// let terms = AgreementTerms::distribution(start, Money::cny("300000").unwrap(), "3%".parse().unwrap());
    /// assert_eq!(terms.service_type, ServiceType::Distribution);
    /// assert_eq!(terms.customer_rebate.rate().unwrap().to_string(), "3%");
    /// ```
    pub fn distribution(
        start: NaiveDate,
        credit_limit: Money,
        customer_rebate: CustomerRebatePolicy,
    ) -> AgreementTerms {
        AgreementTerms::one_year(
            ServiceType::Distribution,
            start,
            credit_limit,
            customer_rebate,
        )
    }

    /// [`one_year`](Self::one_year) of [`ServiceType::Solution`]: we deliver the campaign as
    /// principal (KPI targets allowed).
    pub fn solution(
        start: NaiveDate,
        credit_limit: Money,
        customer_rebate: CustomerRebatePolicy,
    ) -> AgreementTerms {
        AgreementTerms::one_year(ServiceType::Solution, start, credit_limit, customer_rebate)
    }

    /// Check the terms against `policy`.
    ///
    /// # Errors
    /// A validation error naming the field: a term that ends before it starts or runs longer
    /// than a year and a day, credit terms beyond the normal maximum without an exception or
    /// beyond the service type's exception maximum, a negative or fractional credit limit, a
    /// bad rebate policy or one in another currency than the credit limit.
    pub fn validate(&self, policy: &CreditPolicy) -> Result<()> {
        if self.end < self.start {
            return Err(AdsError::validation("end", "ends before it starts"));
        }
        if (self.end - self.start).num_days() > 366 {
            return Err(AdsError::validation(
                "end",
                "a framework agreement runs at most one year; renew it instead",
            ));
        }
        let exception_max = match self.service_type {
            ServiceType::Solution => policy.solution_exception_max_days,
            ServiceType::Distribution => policy.distribution_exception_max_days,
        };
        if self.credit_terms_days > exception_max {
            return Err(AdsError::validation(
                "credit_terms_days",
                format!(
                    "{} days exceed the {exception_max}-day maximum for {} services",
                    self.credit_terms_days, self.service_type
                ),
            ));
        }
        if self.credit_terms_days > policy.normal_max_days {
            match &self.credit_exception {
                Some(e) if !e.approved_by.trim().is_empty() && !e.reason.trim().is_empty() => {}
                _ => {
                    return Err(AdsError::validation(
                        "credit_terms_days",
                        format!(
                        "{} days exceed the normal {} days: record an approved credit exception",
                        self.credit_terms_days, policy.normal_max_days
                    ),
                    ))
                }
            }
        }
        self.credit_limit.ensure_non_negative("credit_limit")?;
        self.credit_limit.ensure_minor_units("credit_limit")?;
        self.customer_rebate.validate_at("customer_rebate")?;
        match self.customer_rebate.currency() {
            Some(c) if c != self.credit_limit.currency() => Err(AdsError::validation(
                "customer_rebate",
                format!(
                    "the rebate policy is in {c}, the agreement (credit limit) in {}",
                    self.credit_limit.currency()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// A framework agreement with a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FrameworkAgreement {
    /// Id.
    pub id: AgreementId,
    /// The customer.
    pub customer: CustomerId,
    /// The agreement this one renews, if any.
    #[serde(default)]
    pub renews: Option<AgreementId>,
    /// The terms.
    pub terms: AgreementTerms,
}

impl FrameworkAgreement {
    /// Whether the agreement covers `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.terms.start <= date && date <= self.terms.end
    }

    /// The terms of the renewal: the same terms for the following year.
    pub fn renewal_terms(&self) -> AgreementTerms {
        let start = self.terms.end.succ_opt().unwrap_or(self.terms.end);
        let end = NaiveDate::from_ymd_opt(start.year() + 1, start.month(), start.day())
            .and_then(|d| d.pred_opt())
            .or_else(|| start.checked_add_days(chrono::Days::new(364)))
            .unwrap_or(NaiveDate::MAX);
        AgreementTerms {
            start,
            end,
            ..self.terms.clone()
        }
    }
}

impl Entity for FrameworkAgreement {
    const COLLECTION: &'static str = "ads.agreements";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("customer", self.customer.to_string())]
    }
}

/// Kind of media platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlatformCategory {
    /// Short video.
    ShortVideo,
    /// Social media.
    Social,
    /// E-commerce.
    ECommerce,
    /// Search.
    Search,
}

/// A media platform the agency buys traffic from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MediaPlatform {
    /// Id.
    pub id: PlatformId,
    /// Name.
    pub name: String,
    /// Code of its adapter (`AdPlatform::platform_code`).
    pub code: String,
    /// Kind.
    pub category: PlatformCategory,
}

impl Entity for MediaPlatform {
    const COLLECTION: &'static str = "ads.platforms";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("code", &self.code)]
    }
}

/// How we pay a platform for traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SettlementTerms {
    /// We prepay; top-ups draw on the prepaid funds.
    Prepay,
    /// The platform gives credit: top-ups draw on it, it invoices actual spend monthly and we
    /// pay within `pay_within_days` of the month end.
    Monthly {
        /// Days to pay after the month end.
        pay_within_days: u32,
    },
}

/// The terms of our agreement with a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformAgreementTerms {
    /// First day.
    pub start: NaiveDate,
    /// Last day (inclusive).
    pub end: NaiveDate,
    /// Currency of the platform's prices and invoices.
    pub currency: Currency,
    /// The pricing models the platform sells.
    pub pricing_models: Vec<PricingModel>,
    /// How we pay it.
    pub settlement_terms: SettlementTerms,
    /// What it pays us.
    pub rebate_policy: PlatformRebatePolicy,
}

impl PlatformAgreementTerms {
    /// One year from `start` with a platform we prepay, selling every pricing model (CPC, CPM,
    /// CPT) in `currency` and paying `rebate_policy`. Adjust fields afterwards for anything
    /// else.
    ///
    /// ```
    /// use marketingforce_ads::agreement::PlatformAgreementTerms;
    /// use marketingforce_ads::rebate::PlatformRebatePolicy;
    /// use marketingforce_core::money::Currency;
    /// use marketingforce_ads::config::Config;
    ///
    /// let terms = PlatformAgreementTerms::prepaid_one_year(
    ///     "2026-01-01".parse().unwrap(),
    ///     Currency::CNY,
    ///     PlatformRebatePolicy::standard("5%".parse().unwrap()),
    /// );
    /// assert_eq!(terms.end.to_string(), "2026-12-31");
    /// assert!(terms.validate().is_ok());
    /// ```
    pub fn prepaid_one_year(
        start: NaiveDate,
        currency: Currency,
        rebate_policy: PlatformRebatePolicy,
    ) -> PlatformAgreementTerms {
        PlatformAgreementTerms {
            start,
            end: one_year_from(start),
            currency,
            pricing_models: vec![PricingModel::Cpc, PricingModel::Cpm, PricingModel::Cpt],
            settlement_terms: SettlementTerms::Prepay,
            rebate_policy,
        }
    }
}

impl Config for PlatformAgreementTerms {
    fn validate(&self) -> Result<()> {
        if self.end < self.start {
            return Err(AdsError::validation("end", "ends before it starts"));
        }
        if self.pricing_models.is_empty() {
            return Err(AdsError::validation(
                "pricing_models",
                "at least one pricing model",
            ));
        }
        if let SettlementTerms::Monthly { pay_within_days } = self.settlement_terms {
            if !(1..=180).contains(&pay_within_days) {
                return Err(AdsError::validation(
                    "settlement_terms.monthly.pay_within_days",
                    format!("{pay_within_days} is not 1-180"),
                ));
            }
        }
        self.rebate_policy.validate_at("rebate_policy")?;
        let netting = [
            Some(self.rebate_policy.standard.payout),
            self.rebate_policy.progressive.as_ref().map(|p| p.payout),
        ];
        if self.settlement_terms == SettlementTerms::Prepay {
            for (i, payout) in netting.iter().enumerate() {
                if *payout == Some(RebatePayout::NetPayables) {
                    let field = if i == 0 {
                        "standard.payout"
                    } else {
                        "progressive.payout"
                    };
                    return Err(AdsError::validation(
                        path("rebate_policy", field),
                        "netting off payables needs monthly settlement terms (prepaid platforms are owed nothing)",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Our agreement with a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformAgreement {
    /// Id.
    pub id: PlatformAgreementId,
    /// The platform.
    pub platform: PlatformId,
    /// The terms.
    pub terms: PlatformAgreementTerms,
}

impl PlatformAgreement {
    /// Whether the agreement covers `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.terms.start <= date && date <= self.terms.end
    }
}

impl Entity for PlatformAgreement {
    const COLLECTION: &'static str = "ads.platform_agreements";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("platform", self.platform.to_string())]
    }
}
