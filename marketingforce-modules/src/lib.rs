//! # marketingforce-modules
//!
//! The commerce side of the Marketingforce platform: the module catalog, products and bundles,
//! subscriptions, pricing and quotes, entitlements and usage metering, revenue recognition,
//! SaaS metrics, channel partners and third-party (PaaS) modules.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::NaiveDate;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::ManualClock;
//! use marketingforce_modules::catalog::{ModuleId, QuotaPeriod, UsageUnit};
//! use marketingforce_modules::entitlements::{Entitlements, Grant};
//!
//! let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
//! let d = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let grant = Grant::new(TenantId::new(), d("2026-03-01"), d("2027-03-01"))
//!     .module(ModuleId::T_TEXT)
//!     .quota(UsageUnit::ArticlesPublished, 500, QuotaPeriod::Month);
//! let ents = Entitlements::from_grant(grant, clock).unwrap();
//! assert!(ents.is_enabled(&ModuleId::T_TEXT));
//! let used = ents.meter().consume(&UsageUnit::ArticlesPublished, 1u64, "article-42").unwrap();
//! assert_eq!(used.remaining.get(), 499);
//! ```
//!
//! ## Entry points
//! - [`catalog`]: [`ModuleId`](catalog::ModuleId) (built-in ids as constants),
//!   [`UsageUnit`](catalog::UsageUnit), [`Catalog`](catalog::Catalog).
//! - [`entitlements`]: [`Entitlements`](entitlements::Entitlements) (per-tenant handle: module
//!   and seat checks, seat assignment), [`Grant`](entitlements::Grant),
//!   [`EntitlementRegistry`](entitlements::EntitlementRegistry) (durable, multi-tenant).
//! - [`metering`]: [`UsageMeter`](metering::UsageMeter) (idempotent consume,
//!   reserve/commit/release, balances, group commit).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod catalog;
pub mod channel;
mod config;
pub mod entitlements;
pub mod error;
pub mod metering;
pub mod metrics;
pub mod paas;
pub mod pricing;
pub mod products;
pub mod revenue;
pub mod subscriptions;

pub use config::schema_json;
pub use error::{ModulesError, PackOffer, Result};
