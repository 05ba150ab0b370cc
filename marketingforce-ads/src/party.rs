//! Advertising customers and their qualification review.
//!
//! A customer is a direct advertiser or an agency acting for advertisers. Before it can have ad
//! accounts or top-ups it passes a **qualification review** of its business licence, industry,
//! reputation, credit rating and financial position against a [`QualificationPolicy`]; the
//! result is approved, or rejected with every reason found ([`QualificationReview`]).
//!
//! ```
//! use chrono::NaiveDate;
//! use marketingforce_ads::party::*;
//! use marketingforce_core::money::Money;
//!
//! let policy = QualificationPolicy::default();
//! let mut dossier = QualificationDossier {
//!     licence: BusinessLicence {
//!         number: uscc_with_check_digit("91310000MA1FL8XQ3").unwrap(),
//!         registered_name: "上海某机械有限公司".into(),
//!         expires_on: None,
//!     },
//!     industry: "machinery".into(),
//!     permits: vec![],
//!     reputation: Reputation::default(),
//!     credit_rating: CreditRating::A,
//!     financials: Financials {
//!         net_assets: Money::cny("8000000").unwrap(),
//!         debt_ratio: "55%".parse().unwrap(),
//!         loss_making_years: 0,
//!     },
//! };
//! let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
//! assert_eq!(review(&policy, &dossier, today, "王审核").outcome, ReviewOutcome::Approved);
//!
//! dossier.industry = "gambling".into();
//! dossier.credit_rating = CreditRating::CCC;
//! let r = review(&policy, &dossier, today, "王审核");
//! assert_eq!(r.outcome, ReviewOutcome::Rejected);
//! assert_eq!(r.reasons.len(), 2);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::money::{Money, Rate};
use marketingforce_core::storage::{Entity, IndexEntry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{path, Config};
use crate::error::{AdsError, Result};
use crate::ids::CustomerId;

/// What kind of customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CustomerKind {
    /// An advertiser buying for itself.
    DirectAdvertiser,
    /// An agency acting for advertisers.
    Agency {
        /// The advertisers it acts for.
        advertisers: Vec<String>,
    },
}

/// Where a customer stands in the qualification review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum QualificationStatus {
    /// Not reviewed yet: no accounts, no top-ups.
    Pending,
    /// Approved by the review.
    Approved {
        /// The review.
        review: QualificationReview,
    },
    /// Rejected by the review: no accounts, no top-ups.
    Rejected {
        /// The review.
        review: QualificationReview,
    },
}

impl QualificationStatus {
    /// Whether the customer may have accounts and top-ups.
    pub fn is_approved(&self) -> bool {
        matches!(self, QualificationStatus::Approved { .. })
    }
}

impl fmt::Display for QualificationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QualificationStatus::Pending => f.write_str("pending review"),
            QualificationStatus::Approved { .. } => f.write_str("approved"),
            QualificationStatus::Rejected { review } => {
                let reasons: Vec<String> = review.reasons.iter().map(ToString::to_string).collect();
                write!(f, "rejected: {}", reasons.join("; "))
            }
        }
    }
}

/// An advertising customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// Registered name.
    pub name: String,
    /// Direct advertiser or agency.
    pub kind: CustomerKind,
    /// Industry code.
    pub industry: String,
    /// Business licence number.
    pub licence_number: String,
    /// Qualification status.
    pub qualification: QualificationStatus,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
}

impl Entity for Customer {
    const COLLECTION: &'static str = "ads.customers";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("licence", &self.licence_number)]
    }
}

/// What registering a customer needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NewCustomer {
    /// Registered name.
    pub name: String,
    /// Direct advertiser or agency.
    pub kind: CustomerKind,
    /// Industry code.
    pub industry: String,
    /// Business licence number (unified social credit code).
    pub licence_number: String,
}

impl NewCustomer {
    /// A customer of `kind` registered as `name` in the industry `industry` (code, e.g.
    /// `retail`) under the unified social credit code `licence_number`.
    ///
    /// ```
    /// use marketingforce_ads::party::{uscc_with_check_digit, CustomerKind, NewCustomer};
    ///
    /// let licence = uscc_with_check_digit("91310000MA1FL8XQ3").unwrap();
    /// let c = NewCustomer::new("苏州某品牌有限公司", CustomerKind::DirectAdvertiser, "retail", licence);
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn new(
        name: impl Into<String>,
        kind: CustomerKind,
        industry: impl Into<String>,
        licence_number: impl Into<String>,
    ) -> NewCustomer {
        NewCustomer {
            name: name.into(),
            kind,
            industry: industry.into(),
            licence_number: licence_number.into(),
        }
    }

    /// A direct advertiser (buying for itself) registered as `name` in `industry` under the
    /// unified social credit code `licence_number`: [`new`](Self::new) with
    /// [`CustomerKind::DirectAdvertiser`].
    ///
    /// ```
    /// use marketingforce_ads::party::{CustomerKind, NewCustomer};
    ///
    /// let c = NewCustomer::advertiser("苏州某品牌有限公司", "retail", "91310000MA1FL8XQ37");
    /// assert_eq!(c.kind, CustomerKind::DirectAdvertiser);
    /// ```
    pub fn advertiser(
        name: impl Into<String>,
        industry: impl Into<String>,
        licence_number: impl Into<String>,
    ) -> NewCustomer {
        NewCustomer::new(
            name,
            CustomerKind::DirectAdvertiser,
            industry,
            licence_number,
        )
    }

    /// An agency acting for `advertisers`, registered as `name` in `industry` under the unified
    /// social credit code `licence_number`: [`new`](Self::new) with [`CustomerKind::Agency`]
    /// (at least one advertiser, checked by [`validate`](Self::validate)).
    pub fn agency(
        name: impl Into<String>,
        advertisers: impl IntoIterator<Item = impl Into<String>>,
        industry: impl Into<String>,
        licence_number: impl Into<String>,
    ) -> NewCustomer {
        let advertisers = advertisers.into_iter().map(Into::into).collect();
        NewCustomer::new(
            name,
            CustomerKind::Agency { advertisers },
            industry,
            licence_number,
        )
    }

    /// Check the input.
    ///
    /// # Errors
    /// A blank or over-long name, a blank industry, an agency without advertisers.
    pub fn validate(&self) -> Result<()> {
        let n = self.name.trim().chars().count();
        if n == 0 || n > 200 {
            return Err(AdsError::validation("name", "must be 1-200 characters"));
        }
        if self.industry.trim().is_empty() {
            return Err(AdsError::validation("industry", "must not be blank"));
        }
        if self.licence_number.trim().is_empty() {
            return Err(AdsError::validation("licence_number", "must not be blank"));
        }
        if let CustomerKind::Agency { advertisers } = &self.kind {
            if advertisers.is_empty() {
                return Err(AdsError::validation(
                    "kind.advertisers",
                    "an agency acts for at least one advertiser",
                ));
            }
        }
        Ok(())
    }
}

/// The business licence presented for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BusinessLicence {
    /// Unified social credit code (18 characters, GB 32100-2015, with its check character).
    pub number: String,
    /// Registered name on the licence.
    pub registered_name: String,
    /// Expiry date; `None` for a licence without a fixed term (长期).
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
}

impl BusinessLicence {
    /// The licence a customer registered with (its number and registered name), without a
    /// fixed term.
    pub fn of(customer: &Customer) -> BusinessLicence {
        BusinessLicence {
            number: customer.licence_number.clone(),
            registered_name: customer.name.clone(),
            expires_on: None,
        }
    }
}

/// Public reputation findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Reputation {
    /// On a dishonest-entity or platform blacklist.
    #[serde(default)]
    pub blacklisted: bool,
    /// Adverse media reports in the last two years.
    #[serde(default)]
    pub adverse_media: u32,
    /// Open litigation cases as defendant.
    #[serde(default)]
    pub litigation_cases: u32,
    /// Regulatory penalties (advertising law, consumer protection) in the last three years.
    #[serde(default)]
    pub regulatory_penalties: u32,
}

/// A credit rating on the usual letter scale, best first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[allow(clippy::upper_case_acronyms, missing_docs)]
pub enum CreditRating {
    AAA,
    AA,
    A,
    BBB,
    BB,
    B,
    CCC,
    CC,
    C,
    /// No rating available (treated as worst).
    Unrated,
}

/// The financial position presented for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Financials {
    /// Net assets at the last balance sheet date.
    pub net_assets: Money,
    /// Total liabilities ÷ total assets.
    pub debt_ratio: Rate,
    /// Loss-making years among the last three.
    #[serde(default)]
    pub loss_making_years: u32,
}

impl Financials {
    /// A position with `net_assets` and `debt_ratio` and no loss-making years.
    pub fn new(net_assets: Money, debt_ratio: Rate) -> Financials {
        Financials {
            net_assets,
            debt_ratio,
            loss_making_years: 0,
        }
    }
}

/// Everything the qualification review looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QualificationDossier {
    /// Business licence.
    pub licence: BusinessLicence,
    /// Industry code.
    pub industry: String,
    /// Advertising permits held (e.g. `medical_advertising`), for regulated industries.
    #[serde(default)]
    pub permits: Vec<String>,
    /// Reputation findings.
    #[serde(default)]
    pub reputation: Reputation,
    /// Credit rating.
    pub credit_rating: CreditRating,
    /// Financial position.
    pub financials: Financials,
}

impl QualificationDossier {
    /// The dossier of `customer`: its registered licence and industry, a clean reputation, no
    /// advertising permits, `credit_rating` and `financials`. Add permits (regulated
    /// industries) and reputation findings to the fields afterwards.
    pub fn of(
        customer: &Customer,
        credit_rating: CreditRating,
        financials: Financials,
    ) -> QualificationDossier {
        QualificationDossier {
            licence: BusinessLicence::of(customer),
            industry: customer.industry.clone(),
            permits: Vec::new(),
            reputation: Reputation::default(),
            credit_rating,
            financials,
        }
    }
}

/// The rules a dossier is reviewed against (configuration data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QualificationPolicy {
    /// Industries the agency does not serve.
    pub prohibited_industries: Vec<String>,
    /// Regulated industries → the permit they must hold.
    pub permits_required: BTreeMap<String, String>,
    /// Worst acceptable credit rating.
    pub min_credit_rating: CreditRating,
    /// Highest acceptable debt ratio.
    pub max_debt_ratio: Rate,
    /// Lowest acceptable net assets.
    pub min_net_assets: Money,
    /// Most loss-making years of the last three.
    pub max_loss_making_years: u32,
    /// Most adverse media reports.
    pub max_adverse_media: u32,
    /// Most open litigation cases.
    pub max_litigation_cases: u32,
    /// Most regulatory penalties.
    pub max_regulatory_penalties: u32,
    /// The licence must stay valid at least this many days after the review.
    pub licence_min_validity_days: u32,
}

impl Default for QualificationPolicy {
    /// A conservative default: gambling, tobacco and unlicensed finance refused; medical,
    /// pharmaceutical, healthcare products, finance and education need their permits; rating
    /// BBB or better or A-range; debt ratio ≤ 80%; net assets ≥ RMB 1,000,000.
    fn default() -> Self {
        let permits = [
            ("medical", "medical_advertising"),
            ("pharmaceutical", "drug_advertising"),
            ("health_food", "health_food_advertising"),
            ("finance", "financial_licence"),
            ("education", "education_licence"),
        ];
        QualificationPolicy {
            prohibited_industries: ["gambling", "tobacco", "p2p_lending"]
                .map(String::from)
                .to_vec(),
            permits_required: permits
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            min_credit_rating: CreditRating::BBB,
            max_debt_ratio: Rate::new(rust_decimal::Decimal::new(80, 2)).unwrap_or(Rate::ONE),
            min_net_assets: Money::from_minor(
                100_000_000,
                marketingforce_core::money::Currency::CNY,
            ),
            max_loss_making_years: 2,
            max_adverse_media: 3,
            max_litigation_cases: 5,
            max_regulatory_penalties: 0,
            licence_min_validity_days: 30,
        }
    }
}

impl Config for QualificationPolicy {
    fn validate(&self) -> Result<()> {
        self.min_net_assets.ensure_non_negative("min_net_assets")?;
        if self.max_loss_making_years > 3 {
            return Err(AdsError::validation(
                "max_loss_making_years",
                "counts years among the last three",
            ));
        }
        for (i, industry) in self.prohibited_industries.iter().enumerate() {
            if self.permits_required.contains_key(industry) {
                return Err(AdsError::validation(
                    path("prohibited_industries", &format!("[{i}]")),
                    format!("{industry:?} is both prohibited and permitted with a permit"),
                ));
            }
        }
        Ok(())
    }
}

/// Approved or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// Every check passed.
    Approved,
    /// At least one check failed.
    Rejected,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectionReason {
    /// The licence number is not a valid unified social credit code.
    LicenceNumberInvalid {
        /// What is wrong.
        detail: String,
    },
    /// The licence expires too soon (or has expired).
    LicenceExpiring {
        /// Expiry date.
        expires_on: NaiveDate,
    },
    /// The industry is not served.
    ProhibitedIndustry {
        /// The industry.
        industry: String,
    },
    /// A regulated industry without its permit.
    PermitMissing {
        /// The industry.
        industry: String,
        /// The permit required.
        permit: String,
    },
    /// On a blacklist.
    Blacklisted,
    /// A reputation count above its limit.
    ReputationLimit {
        /// Which count.
        what: String,
        /// The count.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// Credit rating below the minimum.
    CreditRating {
        /// The rating.
        rating: CreditRating,
        /// The minimum.
        min: CreditRating,
    },
    /// Debt ratio above the maximum.
    DebtRatio {
        /// The ratio.
        ratio: Rate,
        /// The maximum.
        max: Rate,
    },
    /// Net assets below the minimum.
    NetAssets {
        /// Net assets.
        net_assets: Money,
        /// The minimum.
        min: Money,
    },
    /// Too many loss-making years.
    LossMaking {
        /// Loss-making years.
        years: u32,
        /// The maximum.
        max: u32,
    },
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectionReason::LicenceNumberInvalid { detail } => {
                write!(f, "licence number invalid: {detail}")
            }
            RejectionReason::LicenceExpiring { expires_on } => {
                write!(f, "licence expires on {expires_on}")
            }
            RejectionReason::ProhibitedIndustry { industry } => {
                write!(f, "industry {industry} is not served")
            }
            RejectionReason::PermitMissing { industry, permit } => {
                write!(f, "industry {industry} requires permit {permit}")
            }
            RejectionReason::Blacklisted => f.write_str("blacklisted"),
            RejectionReason::ReputationLimit { what, count, max } => {
                write!(f, "{count} {what} (at most {max})")
            }
            RejectionReason::CreditRating { rating, min } => {
                write!(f, "credit rating {rating:?} below {min:?}")
            }
            RejectionReason::DebtRatio { ratio, max } => {
                write!(f, "debt ratio {ratio} above {max}")
            }
            RejectionReason::NetAssets { net_assets, min } => {
                write!(f, "net assets {net_assets} below {min}")
            }
            RejectionReason::LossMaking { years, max } => {
                write!(f, "{years} loss-making years (at most {max})")
            }
        }
    }
}

/// The result of a qualification review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QualificationReview {
    /// Approved or rejected.
    pub outcome: ReviewOutcome,
    /// Every failed check (empty when approved).
    pub reasons: Vec<RejectionReason>,
    /// Civil date of the review.
    pub reviewed_on: NaiveDate,
    /// Who reviewed.
    pub reviewer: String,
}

/// Review `dossier` against `policy` on `today`: approved when every check passes, otherwise
/// rejected with every reason found.
pub fn review(
    policy: &QualificationPolicy,
    dossier: &QualificationDossier,
    today: NaiveDate,
    reviewer: &str,
) -> QualificationReview {
    let mut reasons = Vec::new();
    if let Err(detail) = check_uscc(&dossier.licence.number) {
        reasons.push(RejectionReason::LicenceNumberInvalid { detail });
    }
    if let Some(expires_on) = dossier.licence.expires_on {
        // A horizon beyond the calendar is one no licence reaches.
        let min = today.checked_add_days(chrono::Days::new(u64::from(
            policy.licence_min_validity_days,
        )));
        if min.is_none_or(|min| expires_on < min) {
            reasons.push(RejectionReason::LicenceExpiring { expires_on });
        }
    }
    let industry = dossier.industry.trim().to_lowercase();
    if policy.prohibited_industries.contains(&industry) {
        reasons.push(RejectionReason::ProhibitedIndustry {
            industry: industry.clone(),
        });
    }
    if let Some(permit) = policy.permits_required.get(&industry) {
        if !dossier.permits.iter().any(|p| p == permit) {
            reasons.push(RejectionReason::PermitMissing {
                industry: industry.clone(),
                permit: permit.clone(),
            });
        }
    }
    let rep = &dossier.reputation;
    if rep.blacklisted {
        reasons.push(RejectionReason::Blacklisted);
    }
    for (what, count, max) in [
        (
            "adverse media reports",
            rep.adverse_media,
            policy.max_adverse_media,
        ),
        (
            "litigation cases",
            rep.litigation_cases,
            policy.max_litigation_cases,
        ),
        (
            "regulatory penalties",
            rep.regulatory_penalties,
            policy.max_regulatory_penalties,
        ),
    ] {
        if count > max {
            reasons.push(RejectionReason::ReputationLimit {
                what: what.into(),
                count,
                max,
            });
        }
    }
    if dossier.credit_rating > policy.min_credit_rating {
        reasons.push(RejectionReason::CreditRating {
            rating: dossier.credit_rating,
            min: policy.min_credit_rating,
        });
    }
    let fin = &dossier.financials;
    if fin.debt_ratio > policy.max_debt_ratio {
        reasons.push(RejectionReason::DebtRatio {
            ratio: fin.debt_ratio,
            max: policy.max_debt_ratio,
        });
    }
    let below = fin
        .net_assets
        .checked_cmp(&policy.min_net_assets)
        .map_or(true, |o| o == std::cmp::Ordering::Less);
    if below {
        reasons.push(RejectionReason::NetAssets {
            net_assets: fin.net_assets,
            min: policy.min_net_assets,
        });
    }
    if fin.loss_making_years > policy.max_loss_making_years {
        reasons.push(RejectionReason::LossMaking {
            years: fin.loss_making_years,
            max: policy.max_loss_making_years,
        });
    }
    QualificationReview {
        outcome: if reasons.is_empty() {
            ReviewOutcome::Approved
        } else {
            ReviewOutcome::Rejected
        },
        reasons,
        reviewed_on: today,
        reviewer: reviewer.to_string(),
    }
}

const USCC_CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_check_char(first17: &str) -> std::result::Result<char, String> {
    let mut sum = 0u32;
    for (i, c) in first17.chars().enumerate() {
        let v = USCC_CHARS
            .find(c)
            .ok_or_else(|| format!("character {c:?} at position {} is not allowed", i + 1))?;
        sum += USCC_WEIGHTS.get(i).copied().unwrap_or(0) * v as u32;
    }
    let check = (31 - sum % 31) % 31;
    USCC_CHARS
        .chars()
        .nth(check as usize)
        .ok_or_else(|| "check computation failed".to_string())
}

/// Validate a unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from
/// `0-9A-HJ-NPQRTUWXY` whose last is the check character.
///
/// # Errors
/// What is wrong, in words (never the code itself: it identifies its holder).
pub fn check_uscc(code: &str) -> std::result::Result<(), String> {
    let code = code.trim();
    let n = code.chars().count();
    if n != 18 {
        return Err(format!("has {n} characters, not 18"));
    }
    let (body, check) = code.split_at(17);
    let expected = uscc_check_char(body)?;
    if !check.starts_with(expected) {
        return Err(format!(
            "check character is {check:?}, expected {expected:?}"
        ));
    }
    Ok(())
}

/// Complete the first 17 characters of a unified social credit code with its check character.
///
/// # Errors
/// A body that is not 17 allowed characters.
pub fn uscc_with_check_digit(first17: &str) -> Result<String> {
    if first17.chars().count() != 17 {
        return Err(AdsError::validation(
            "licence_number",
            "the body is 17 characters",
        ));
    }
    let check = uscc_check_char(first17).map_err(|e| AdsError::validation("licence_number", e))?;
    Ok(format!("{first17}{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uscc_check_character() {
        let code = uscc_with_check_digit("91350100M000100Y4").unwrap();
        assert_eq!(code, "91350100M000100Y43");
        assert!(check_uscc(&code).is_ok());
        assert!(check_uscc("91350100M000100Y44").is_err());
        assert!(check_uscc("91350100M000100Y4I").is_err());
        assert!(check_uscc("123").is_err());
    }

    #[test]
    fn policy_loads_from_json_and_names_bad_paths() {
        let json = serde_json::to_string(&QualificationPolicy::default()).unwrap();
        assert_eq!(
            QualificationPolicy::from_json(&json).unwrap(),
            QualificationPolicy::default()
        );
        let bad = json.replace("\"0.8\"", "\"1.8\"");
        assert_eq!(
            QualificationPolicy::from_json(&bad).unwrap_err().field(),
            Some("max_debt_ratio")
        );
    }
}
