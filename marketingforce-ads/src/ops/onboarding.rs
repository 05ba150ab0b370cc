//! Onboarding: bringing a platform, a customer or a console-run ad account into the books in
//! one call each.
//!
//! | command | steps (each one atomic commit) |
//! |---|---|
//! | [`onboard_platform`](AdOps::onboard_platform) | register the platform, sign our agreement with it, record a prepayment |
//! | [`onboard_customer`](AdOps::onboard_customer) | register the customer, review its dossier, sign its framework agreement |
//! | [`onboard_account`](AdOps::onboard_account) | link the platform's ad account, link its campaigns, record a console top-up |
//!
//! Optional steps (an agreement, a prepayment, campaigns, a top-up) run only when asked for.
//!
//! **Input is checked before anything is written**: a bad field is a validation error naming
//! it in the command's own terms (`agreement.credit_limit`, `campaigns[0].draft.budget`,
//! `prepayment.amount`), and nothing is committed.
//!
//! **Idempotent and resumable.** Each step runs under a key [derived](IdempotencyKey::derive)
//! from the command's key (`{key}~platform`, `{key}~agreement`, …), so a retry with the same key
//! replays the steps already committed — returning their first results — and runs the rest:
//! after a crash, a timeout, or a future dropped at any `.await`, the retry completes the
//! command, and a retry of a completed command changes nothing. A step is refused as an
//! [idempotency mismatch](marketingforce_core::Error::IdempotencyMismatch) when a retry
//! changes what it committed (another platform name under the same key). A step that failed
//! committed nothing, so a retry with corrected input for that step (a smaller top-up after
//! [`AdsError::CreditLimitExceeded`]) resumes there.
//!
//! A retry checks its input again first — [`onboard_account`](AdOps::onboard_account) against
//! the customer's and the platform's standing of the day (approved, under agreement).
//!
//! **Errors say what was done.** When a step fails after others committed, the error is
//! [`AdsError::Incomplete`], listing the committed steps (by id) with the failure as its
//! source (whose kind, code, field and retryability it reports).
//!
//! ```
//! use marketingforce_ads::agreement::{PlatformAgreementTerms, PlatformCategory};
//! use marketingforce_ads::ops::PlatformOnboarding;
//! use marketingforce_ads::rebate::PlatformRebatePolicy;
//! use marketingforce_ads::AdOps;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::money::{Currency, Money};
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::IdempotencyKey;
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let ads = AdOps::builder(&Env::new(Arc::new(MemoryStore::new())), TenantId::new())
//!     .open()
//!     .await
//!     .unwrap();
//! let start = "2026-03-01".parse().unwrap();
//! let rebate = PlatformRebatePolicy::standard("5%".parse().unwrap());
//! let onboarding = PlatformOnboarding::new("巨量引擎", "oceanengine", PlatformCategory::ShortVideo)
//!     .agreement(PlatformAgreementTerms::prepaid_one_year(start, Currency::CNY, rebate))
//!     .prepayment(Money::cny("50000").unwrap(), start);
//! let key = IdempotencyKey::from_static("onboard-oceanengine");
//! let first = ads.onboard_platform(onboarding.clone(), &key).await.unwrap();
//! assert!(first.agreement.is_some() && first.prepayment.is_some());
//! // A retry (after a timeout, say) answers the same and records nothing twice.
//! assert_eq!(ads.onboard_platform(onboarding, &key).await.unwrap(), first);
//! # });
//! ```

use std::collections::BTreeSet;

use chrono::NaiveDate;
use marketingforce_core::money::{Money, Rate};
use marketingforce_core::telemetry::operation;
use marketingforce_core::IdempotencyKey;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{prefix, AdOps};
use crate::account::{AdAccount, Funding, TopUp, TopUpRequest};
use crate::agreement::{
    AgreementTerms, FrameworkAgreement, MediaPlatform, PlatformAgreement, PlatformAgreementTerms,
    PlatformCategory, ServiceType,
};
use crate::campaign::{Campaign, CampaignDraft};
use crate::config::Config;
use crate::error::{AdsError, Result};
use crate::ids::{CustomerId, PlatformId};
use crate::ledger::TransferId;
use crate::party::{
    BusinessLicence, CreditRating, Customer, Financials, NewCustomer, QualificationDossier,
    QualificationReview, Reputation, ReviewOutcome,
};
use crate::rebate::PlatformRebatePolicy;

/// A prepayment of our funds to a platform ([`PlatformOnboarding::prepayment`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Prepayment {
    /// The amount paid (positive, whole fen, the books' currency).
    pub amount: Money,
    /// The day it was paid.
    pub on: NaiveDate,
}

impl Prepayment {
    /// `amount` paid on `on`.
    pub fn new(amount: Money, on: NaiveDate) -> Prepayment {
        Prepayment { amount, on }
    }
}

/// What [`AdOps::onboard_platform`] needs: the platform, and optionally our agreement with it
/// and a prepayment (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PlatformOnboarding {
    /// The platform's name (`巨量引擎`).
    pub name: String,
    /// Its code: the adapter's [`platform_code`](marketingforce_core::adapters::ad_platform::AdPlatform::platform_code),
    /// unique among our platforms (`oceanengine`).
    pub code: String,
    /// Its kind.
    pub category: PlatformCategory,
    /// Our agreement with it, if signed now (default: none; sign later with
    /// [`AdOps::sign_platform_agreement`]).
    #[serde(default)]
    pub agreement: Option<PlatformAgreementTerms>,
    /// A prepayment to record (default: none).
    #[serde(default)]
    pub prepayment: Option<Prepayment>,
}

impl PlatformOnboarding {
    /// Register the platform `name` with adapter code `code` in `category`; nothing else
    /// unless [`agreement`](Self::agreement) and [`prepayment`](Self::prepayment) ask for it.
    pub fn new(
        name: impl Into<String>,
        code: impl Into<String>,
        category: PlatformCategory,
    ) -> PlatformOnboarding {
        PlatformOnboarding {
            name: name.into(),
            code: code.into(),
            category,
            agreement: None,
            prepayment: None,
        }
    }

    /// Ocean Engine (巨量引擎, short video), under the code its adapter reports
    /// ([`oceanengine::DEFAULT_CODE`](crate::platform::oceanengine::DEFAULT_CODE)), so the
    /// [`OceanEnginePlatform`](crate::platform::oceanengine::OceanEnginePlatform) attached later
    /// finds it.
    ///
    /// ```
    /// use marketingforce_ads::agreement::PlatformCategory;
    /// use marketingforce_ads::ops::PlatformOnboarding;
    ///
    /// let media = PlatformOnboarding::oceanengine();
    /// assert_eq!((media.name.as_str(), media.code.as_str()), ("巨量引擎", "ocean-engine"));
    /// assert_eq!(media.category, PlatformCategory::ShortVideo);
    /// ```
    pub fn oceanengine() -> PlatformOnboarding {
        PlatformOnboarding::new(
            "巨量引擎",
            crate::platform::oceanengine::DEFAULT_CODE,
            PlatformCategory::ShortVideo,
        )
    }

    /// A platform we prepay, on the usual terms: record the prepayment of `amount` on `on`, and
    /// sign a one-year agreement from `on` in `amount`'s currency
    /// ([`PlatformAgreementTerms::prepaid_one_year`]: every pricing model, prepaid) paying the
    /// standard rebate `rebate` on spend, settled monthly as prepayment credit
    /// ([`PlatformRebatePolicy::standard`]). Set [`agreement`](Self::agreement) afterwards for
    /// other terms (progressive tiers, monthly invoicing).
    ///
    /// ```
    /// use marketingforce_ads::ops::PlatformOnboarding;
    /// use marketingforce_core::money::{Currency, Money};
    ///
    /// let on = "2026-03-01".parse().unwrap();
    /// let media = PlatformOnboarding::oceanengine()
    ///     .prepaid(Money::cny("50000").unwrap(), on, "5%".parse().unwrap());
    /// let terms = media.agreement.unwrap();
    /// assert_eq!((terms.currency, terms.end.to_string()), (Currency::CNY, "2027-02-28".into()));
    /// assert_eq!(terms.rebate_policy.standard.rate.to_string(), "5%");
    /// assert_eq!(media.prepayment.unwrap().on, on);
    /// ```
    #[must_use]
    pub fn prepaid(self, amount: Money, on: NaiveDate, rebate: Rate) -> PlatformOnboarding {
        let policy = PlatformRebatePolicy::standard(rebate);
        self.agreement(PlatformAgreementTerms::prepaid_one_year(
            on,
            amount.currency(),
            policy,
        ))
        .prepayment(amount, on)
    }

    /// Sign our agreement with the platform on `terms`.
    #[must_use]
    pub fn agreement(mut self, terms: PlatformAgreementTerms) -> PlatformOnboarding {
        self.agreement = Some(terms);
        self
    }

    /// Record that we prepaid `amount` to the platform on `on` (funds its prepaid top-ups).
    #[must_use]
    pub fn prepayment(mut self, amount: Money, on: NaiveDate) -> PlatformOnboarding {
        self.prepayment = Some(Prepayment::new(amount, on));
        self
    }
}

/// What [`AdOps::onboard_platform`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct PlatformOnboarded {
    /// The platform, as registered.
    pub platform: MediaPlatform,
    /// Our agreement with it, when one was asked for.
    pub agreement: Option<PlatformAgreement>,
    /// The ledger transfer of the prepayment, when one was asked for.
    pub prepayment: Option<TransferId>,
}

/// What [`AdOps::onboard_customer`] needs: the customer's registration, the dossier its
/// qualification review looks at, and optionally its framework agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CustomerOnboarding {
    /// The registration.
    pub customer: NewCustomer,
    /// The dossier reviewed: its licence must be the one registered.
    pub dossier: QualificationDossier,
    /// Who is recorded as the reviewer (default
    /// [`DEFAULT_REVIEWER`](Self::DEFAULT_REVIEWER)).
    #[serde(default = "default_reviewer")]
    pub reviewer: String,
    /// The framework agreement, if signed now (default: none; sign later with
    /// [`AdOps::sign_agreement`]).
    #[serde(default)]
    pub agreement: Option<AgreementTerms>,
}

fn default_reviewer() -> String {
    CustomerOnboarding::DEFAULT_REVIEWER.to_string()
}

impl CustomerOnboarding {
    /// The reviewer recorded unless [`reviewer`](Self::reviewer) names one: the review is the
    /// configured policy's check of the dossier.
    pub const DEFAULT_REVIEWER: &'static str = "onboarding";

    /// Onboard `customer`, reviewed on a dossier of its registered licence (without a fixed
    /// term), industry, `credit_rating` and `financials`, with a clean reputation and no
    /// advertising permits — adjust [`dossier`](Self::dossier) for licences with an expiry,
    /// permits of regulated industries or reputation findings.
    pub fn new(
        customer: NewCustomer,
        credit_rating: CreditRating,
        financials: Financials,
    ) -> CustomerOnboarding {
        let dossier = QualificationDossier {
            licence: BusinessLicence {
                number: customer.licence_number.trim().to_string(),
                registered_name: customer.name.trim().to_string(),
                expires_on: None,
            },
            industry: customer.industry.trim().to_lowercase(),
            permits: Vec::new(),
            reputation: Reputation::default(),
            credit_rating,
            financials,
        };
        CustomerOnboarding {
            customer,
            dossier,
            reviewer: Self::DEFAULT_REVIEWER.to_string(),
            agreement: None,
        }
    }

    /// Sign a framework agreement on `terms` once the customer is approved.
    #[must_use]
    pub fn agreement(mut self, terms: AgreementTerms) -> CustomerOnboarding {
        self.agreement = Some(terms);
        self
    }

    /// Record `reviewer` as the reviewer.
    #[must_use]
    pub fn reviewer(mut self, reviewer: impl Into<String>) -> CustomerOnboarding {
        self.reviewer = reviewer.into();
        self
    }
}

/// What [`AdOps::onboard_customer`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct CustomerOnboarded {
    /// The customer as it stands after the review.
    pub customer: Customer,
    /// The review (approved: a rejection is an error).
    pub review: QualificationReview,
    /// The framework agreement, when one was asked for.
    pub agreement: Option<FrameworkAgreement>,
}

/// A campaign of a linked account ([`AccountOnboarding::campaign`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CampaignLink {
    /// The platform's campaign id.
    pub external_id: String,
    /// Its plan.
    pub draft: CampaignDraft,
}

impl CampaignLink {
    /// The platform's campaign `external_id`, planned as `draft`.
    pub fn new(external_id: impl Into<String>, draft: CampaignDraft) -> CampaignLink {
        CampaignLink {
            external_id: external_id.into(),
            draft,
        }
    }
}

/// A top-up made in the platform's console ([`AccountOnboarding::top_up`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsoleTopUp {
    /// The amount (positive, whole fen, the books' currency).
    pub amount: Money,
    /// Who funds it.
    pub funding: Funding,
    /// The platform's reference of the top-up.
    pub platform_ref: String,
}

impl ConsoleTopUp {
    /// `amount` funded by `funding`, made in the console under `platform_ref`.
    pub fn new(amount: Money, funding: Funding, platform_ref: impl Into<String>) -> ConsoleTopUp {
        ConsoleTopUp {
            amount,
            funding,
            platform_ref: platform_ref.into(),
        }
    }
}

/// What [`AdOps::onboard_account`] needs: a platform's existing ad account to link, its
/// campaigns, and optionally a top-up made in the platform's console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AccountOnboarding {
    /// The customer the account serves.
    pub customer: CustomerId,
    /// The platform.
    pub platform: PlatformId,
    /// The platform's account id.
    pub external_id: String,
    /// The first day whose spend is ours to settle (today or earlier).
    pub since: NaiveDate,
    /// Its campaigns to link (default: none), each platform campaign id at most once.
    #[serde(default)]
    pub campaigns: Vec<CampaignLink>,
    /// A console top-up to record (default: none).
    #[serde(default)]
    pub top_up: Option<ConsoleTopUp>,
}

impl AccountOnboarding {
    /// Link the platform's account `external_id` on `platform` to `customer` from `since`.
    pub fn new(
        customer: CustomerId,
        platform: PlatformId,
        external_id: impl Into<String>,
        since: NaiveDate,
    ) -> AccountOnboarding {
        AccountOnboarding {
            customer,
            platform,
            external_id: external_id.into(),
            since,
            campaigns: Vec::new(),
            top_up: None,
        }
    }

    /// Link the account's campaign `external_id` with its plan `draft` (repeat for each).
    #[must_use]
    pub fn campaign(mut self, external_id: impl Into<String>, draft: CampaignDraft) -> Self {
        self.campaigns.push(CampaignLink::new(external_id, draft));
        self
    }

    /// Record a top-up of `amount` funded by `funding`, made in the platform's console under
    /// `platform_ref`.
    #[must_use]
    pub fn top_up(
        mut self,
        amount: Money,
        funding: Funding,
        platform_ref: impl Into<String>,
    ) -> AccountOnboarding {
        self.top_up = Some(ConsoleTopUp::new(amount, funding, platform_ref));
        self
    }
}

/// What [`AdOps::onboard_account`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct AccountOnboarded {
    /// The linked account.
    pub account: AdAccount,
    /// The linked campaigns, in the order asked.
    pub campaigns: Vec<Campaign>,
    /// The top-up, when one was asked for.
    pub top_up: Option<TopUp>,
}

/// The steps of a command committed so far, for [`AdsError::Incomplete`].
struct Progress {
    command: &'static str,
    done: Vec<String>,
}

impl Progress {
    fn new(command: &'static str) -> Progress {
        Progress {
            command,
            done: Vec::new(),
        }
    }

    fn did(&mut self, what: String) {
        self.done.push(what);
    }

    /// `error` of the step at `field` (its validation fields prefixed with it), wrapped in
    /// [`AdsError::Incomplete`] when steps were committed before.
    fn failed(&self, error: AdsError, field: &str) -> AdsError {
        let error = if field.is_empty() {
            error
        } else {
            prefix(error, field)
        };
        if self.done.is_empty() {
            return error;
        }
        AdsError::Incomplete {
            command: self.command,
            done: self.done.clone(),
            source: Box::new(error),
        }
    }
}

impl AdOps {
    /// Onboard a media platform: register it, sign our agreement with it and record a
    /// prepayment — the last two when asked for — each step committed once under a key derived
    /// from `key` (see the [module docs](crate::ops::onboarding) for retries).
    ///
    /// # Errors
    /// Before anything is written: a validation error naming the field (`name`, `code`, a
    /// code already registered, `agreement.*` as [`PlatformAgreementTerms::validate`],
    /// `agreement.currency` other than the books', `prepayment.amount`). Afterwards: storage
    /// errors, as [`AdsError::Incomplete`] once the platform is registered; an idempotency
    /// mismatch when `key` was used for another onboarding.
    #[operation("ads.onboard_platform", tenant = self.tenant, key = key)]
    pub async fn onboard_platform(
        &self,
        onboarding: PlatformOnboarding,
        key: &IdempotencyKey,
    ) -> Result<PlatformOnboarded> {
        self.check_platform_onboarding(&onboarding)?;
        let PlatformOnboarding {
            name,
            code,
            category,
            agreement,
            prepayment,
        } = onboarding;
        let mut progress = Progress::new("ads.onboard_platform");
        let platform = self
            .register_platform(&name, &code, category, &key.derive("platform"))
            .await?;
        progress.did(format!("registered platform {}", platform.id));
        let agreement = match agreement {
            Some(terms) => {
                let signed = self
                    .sign_platform_agreement(&platform.id, terms, &key.derive("agreement"))
                    .await
                    .map_err(|e| progress.failed(e, "agreement"))?;
                progress.did(format!("signed platform agreement {}", signed.id));
                Some(signed)
            }
            None => None,
        };
        let prepayment = match prepayment {
            Some(p) => Some(
                self.record_platform_prepayment(
                    &platform.id,
                    p.amount,
                    p.on,
                    &key.derive("prepayment"),
                )
                .await
                .map_err(|e| progress.failed(e, "prepayment"))?,
            ),
            None => None,
        };
        Ok(PlatformOnboarded {
            platform,
            agreement,
            prepayment,
        })
    }

    fn check_platform_onboarding(&self, o: &PlatformOnboarding) -> Result<()> {
        if o.name.trim().is_empty() {
            return Err(AdsError::validation("name", "must not be blank"));
        }
        if o.code.trim().is_empty() {
            return Err(AdsError::validation("code", "must not be blank"));
        }
        if let Some(terms) = &o.agreement {
            terms.validate().map_err(|e| prefix(e, "agreement"))?;
            if terms.currency != self.config.currency {
                return Err(AdsError::validation(
                    "agreement.currency",
                    format!(
                        "{} is not the books' currency {}",
                        terms.currency, self.config.currency
                    ),
                ));
            }
        }
        if let Some(p) = &o.prepayment {
            self.money_in_books(&p.amount, "prepayment.amount")?;
        }
        Ok(())
    }

    /// Onboard an advertising customer: register it, review its dossier against the
    /// qualification policy, and sign its framework agreement when asked for — each step
    /// committed once under a key derived from `key` (see the
    /// [module docs](crate::ops::onboarding) for retries).
    ///
    /// A rejected review is recorded (the customer stays registered, rejected, with every
    /// reason) and answered with [`AdsError::Incomplete`] around
    /// [`AdsError::CustomerNotApproved`]; a retry with the same key answers the same. To review
    /// a corrected dossier, call [`review_customer`](AdOps::review_customer) and then
    /// [`sign_agreement`](AdOps::sign_agreement) for the registered customer.
    ///
    /// # Errors
    /// Before anything is written: a validation error naming the field (`customer.*` as
    /// [`NewCustomer::validate`], `dossier.licence.number` other than the registered licence,
    /// `reviewer`, `agreement.*` as [`AgreementTerms::validate`] under the credit policy,
    /// `agreement.credit_limit` in another currency than the books'), a licence already
    /// registered (`customer.licence_number`). Afterwards: a rejected review, storage errors
    /// (as [`AdsError::Incomplete`] once the customer is registered), an idempotency mismatch.
    #[operation("ads.onboard_customer", tenant = self.tenant, key = key)]
    pub async fn onboard_customer(
        &self,
        onboarding: CustomerOnboarding,
        key: &IdempotencyKey,
    ) -> Result<CustomerOnboarded> {
        self.check_customer_onboarding(&onboarding)?;
        let CustomerOnboarding {
            customer,
            dossier,
            reviewer,
            agreement,
        } = onboarding;
        let mut progress = Progress::new("ads.onboard_customer");
        let registered = self
            .register_customer(customer, &key.derive("customer"))
            .await
            .map_err(|e| progress.failed(e, "customer"))?;
        let id = registered.id;
        progress.did(format!("registered customer {id}"));
        let review = self
            .review_customer(&id, &dossier, &reviewer, &key.derive("review"))
            .await
            .map_err(|e| progress.failed(e, ""))?;
        if review.outcome == ReviewOutcome::Rejected {
            progress.did(format!(
                "recorded its rejected review of {}",
                review.reviewed_on
            ));
            let status = self
                .customer(&id)
                .await
                .map_err(|e| progress.failed(e, ""))?
                .qualification
                .to_string();
            return Err(progress.failed(
                AdsError::CustomerNotApproved {
                    customer: id,
                    status,
                },
                "",
            ));
        }
        progress.did(format!("approved it on {}", review.reviewed_on));
        let agreement = match agreement {
            Some(terms) => Some(
                self.sign_agreement(&id, terms, &key.derive("agreement"))
                    .await
                    .map_err(|e| progress.failed(e, "agreement"))?,
            ),
            None => None,
        };
        let customer = self
            .customer(&id)
            .await
            .map_err(|e| progress.failed(e, ""))?;
        Ok(CustomerOnboarded {
            customer,
            review,
            agreement,
        })
    }

    fn check_customer_onboarding(&self, o: &CustomerOnboarding) -> Result<()> {
        o.customer.validate().map_err(|e| prefix(e, "customer"))?;
        if o.dossier.licence.number.trim() != o.customer.licence_number.trim() {
            return Err(AdsError::validation(
                "dossier.licence.number",
                "is not the licence the customer registers with",
            ));
        }
        if o.reviewer.trim().is_empty() {
            return Err(AdsError::validation("reviewer", "must not be blank"));
        }
        if let Some(terms) = &o.agreement {
            terms
                .validate(&self.config.credit_policy)
                .map_err(|e| prefix(e, "agreement"))?;
            if terms.credit_limit.currency() != self.config.currency {
                return Err(AdsError::validation(
                    "agreement.credit_limit",
                    format!(
                        "{} is not in the books' currency {}",
                        terms.credit_limit, self.config.currency
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Onboard an ad account run in the platform's own console: link it, link its campaigns,
    /// and record a console top-up when asked for — each step committed once under a key
    /// derived from `key` (campaigns by their platform id; see the
    /// [module docs](crate::ops::onboarding) for retries). The checks are those of
    /// [`link_ad_account`](AdOps::link_ad_account), [`link_campaign`](AdOps::link_campaign)
    /// and [`record_top_up`](AdOps::record_top_up).
    ///
    /// # Errors
    /// Before anything is written: a validation error naming the field (`external_id`,
    /// `since` in the future, `campaigns[i].external_id` blank or repeated,
    /// `campaigns[i].draft.*` as [`CampaignDraft::validate`], `campaigns[i].draft.pricing` the
    /// platform does not sell, `top_up.amount`, `top_up.platform_ref`); an unknown or
    /// unapproved customer, an unknown platform, no agreement with either in force on `since`
    /// and today. Afterwards: a platform account or campaign already linked, the top-up's
    /// credit or funds limits, storage errors — as [`AdsError::Incomplete`] once the account
    /// is linked; an idempotency mismatch.
    #[operation("ads.onboard_account", tenant = self.tenant, key = key)]
    pub async fn onboard_account(
        &self,
        onboarding: AccountOnboarding,
        key: &IdempotencyKey,
    ) -> Result<AccountOnboarded> {
        self.check_account_onboarding(&onboarding).await?;
        let AccountOnboarding {
            customer,
            platform,
            external_id,
            since,
            campaigns,
            top_up,
        } = onboarding;
        let mut progress = Progress::new("ads.onboard_account");
        let account = self
            .link_ad_account(
                &customer,
                &platform,
                &external_id,
                since,
                &key.derive("account"),
            )
            .await?;
        progress.did(format!("linked ad account {}", account.id));
        let mut linked = Vec::with_capacity(campaigns.len());
        for (i, c) in campaigns.into_iter().enumerate() {
            let part = format!("campaign:{}", c.external_id);
            let campaign = self
                .link_campaign(&account.id, &c.external_id, c.draft, &key.derive(&part))
                .await
                .map_err(|e| progress.failed(e, &format!("campaigns[{i}]")))?;
            progress.did(format!("linked campaign {}", campaign.id));
            linked.push(campaign);
        }
        let top_up = match top_up {
            Some(t) => Some(
                self.record_top_up(
                    TopUpRequest::new(account.id, t.amount, t.funding),
                    &t.platform_ref,
                    &key.derive("top-up"),
                )
                .await
                .map_err(|e| progress.failed(e, "top_up"))?,
            ),
            None => None,
        };
        Ok(AccountOnboarded {
            account,
            campaigns: linked,
            top_up,
        })
    }

    async fn check_account_onboarding(&self, o: &AccountOnboarding) -> Result<()> {
        super::link::check_external_id(&o.external_id, "external_id")?;
        let today = self.today();
        if o.since > today {
            return Err(AdsError::validation("since", "must not be in the future"));
        }
        let mut seen = BTreeSet::new();
        for (i, c) in o.campaigns.iter().enumerate() {
            let field = format!("campaigns[{i}].external_id");
            super::link::check_external_id(&c.external_id, &field)?;
            if !seen.insert(c.external_id.as_str()) {
                return Err(AdsError::validation(
                    field,
                    "names a campaign listed before",
                ));
            }
        }
        if let Some(t) = &o.top_up {
            self.money_in_books(&t.amount, "top_up.amount")?;
            super::link::check_external_id(&t.platform_ref, "top_up.platform_ref")?;
        }
        self.approved_customer(&o.customer).await?;
        self.platform(&o.platform).await?;
        self.agreement_on(&o.customer, o.since).await?;
        self.platform_agreement_on(&o.platform, o.since).await?;
        if o.campaigns.is_empty() {
            return Ok(());
        }
        // Plans are checked as linking will check them: under today's agreements.
        let agreement = self.agreement_on(&o.customer, today).await?;
        let platform_terms = self.platform_agreement_on(&o.platform, today).await?;
        let kpis_allowed = agreement.terms.service_type == ServiceType::Solution;
        for (i, c) in o.campaigns.iter().enumerate() {
            let field = format!("campaigns[{i}].draft");
            c.draft
                .validate(self.config.currency, kpis_allowed)
                .map_err(|e| prefix(e, &field))?;
            let model = c.draft.pricing.model();
            if !platform_terms.terms.pricing_models.contains(&model) {
                return Err(AdsError::validation(
                    format!("{field}.pricing"),
                    format!("the platform does not sell {model} inventory"),
                ));
            }
        }
        Ok(())
    }
}
