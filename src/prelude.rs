//! The front door in one import: `use marketingforce::prelude::*;` brings the [`Platform`], the
//! types of the everyday calls of a tenant's handle (subscribing, entitlements, lead capture and
//! queries, ad operations from onboarding to the monthly settlement) and the error
//! classification. Everything here is also reachable at its own path; the prelude only saves the
//! imports.
//!
//! ```
//! use marketingforce::prelude::*;
//!
//! let start = "2026-03-02".parse().unwrap();
//! let order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(start, 12))
//!     .add_on(ModuleId::LEAD_MANAGEMENT);
//! assert_eq!(order.add_ons, vec![ModuleId::LEAD_MANAGEMENT]);
//! assert_eq!(Month::of(start).prev().to_string(), "2026-02");
//! ```

pub use crate::platform::{Platform, PlatformBuilder, TenantHandle};
pub use marketingforce_core::env::Env;
pub use marketingforce_core::keys::{KeyProvider, KeyRing};
pub use marketingforce_core::money::{Currency, Money, Rate};
pub use marketingforce_core::tenant::{Tenant, TenantId};
pub use marketingforce_core::{Classify, ErrorKind, IdempotencyKey};

pub use marketingforce_modules::catalog::ModuleId;
pub use marketingforce_modules::pricing::{QuoteRequest, Term};
pub use marketingforce_modules::products::BundleId;

pub use marketingforce_crm::model::Source;
pub use marketingforce_crm::request::CaptureRequest;
pub use marketingforce_crm::LeadQuery;

pub use marketingforce_ads::account::{Funding, TopUpRequest};
pub use marketingforce_ads::agreement::{
    AgreementTerms, PlatformAgreementTerms, PlatformCategory, ServiceType,
};
pub use marketingforce_ads::campaign::{CampaignDraft, Objective};
pub use marketingforce_ads::import::{ImportFormat, ImportOptions};
pub use marketingforce_ads::ops::{AccountOnboarding, CustomerOnboarding, PlatformOnboarding};
pub use marketingforce_ads::party::{
    uscc_with_check_digit, CreditRating, CustomerKind, Financials, NewCustomer,
    QualificationDossier,
};
pub use marketingforce_ads::period::Month;
pub use marketingforce_ads::rebate::{CustomerRebatePolicy, PlatformRebatePolicy};
pub use marketingforce_ads::settlement::{SettlementMode, Summary};
pub use marketingforce_core::adapters::ad_platform::Pricing;
