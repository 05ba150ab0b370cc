//! # marketingforce-modules
//!
//! The commerce side of the Marketingforce platform: the module catalog, products and bundles,
//! subscriptions, pricing and quotes, entitlements and usage metering, revenue recognition,
//! SaaS metrics, channel partners and third-party (PaaS) modules.
//!
//! ```
//! use marketingforce_core::IdempotencyKey;
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
//! let used = ents.meter().consume(&UsageUnit::ArticlesPublished, 1u64, &IdempotencyKey::from_static("article-42")).unwrap();
//! assert_eq!(used.remaining.get(), 499);
//! ```
//!
//! ## Entry points
//! For other crates (CRM seats, content quotas):
//! - [`catalog`]: [`ModuleId`](catalog::ModuleId) (built-in ids as constants such as
//!   `ModuleId::LEADS_ALLOCATION`), [`UsageUnit`](catalog::UsageUnit) (`ArticlesPublished`,
//!   `ImagesGenerated`, `VideosRendered`, `Publications`, `LeadsStored`, `StorageMb`, …).
//! - [`entitlements`]: [`Entitlements`](entitlements::Entitlements) — the per-tenant handle:
//!   `is_enabled`, `require`, `seat_available`, `has_seat`, `assign_seat` / `unassign_seat`;
//!   build one in tests with [`Entitlements::from_grant`](entitlements::Entitlements::from_grant);
//!   in services get them from an [`EntitlementRegistry`](entitlements::EntitlementRegistry).
//! - [`metering`]: [`UsageMeter`](metering::UsageMeter) — `consume` (idempotent per event key),
//!   `reserve` / `commit` / `release`, `credit` for levels, `remaining` / `balance`,
//!   `consume_durable` and `flush` (group commit).
//!
//! The commerce side:
//! - [`catalog`]: the [`Catalog`](catalog::Catalog) of functional modules (built-in:
//!   `data/catalog.json`).
//! - [`products`]: bundles (T Cloud versions, True Client Standard and Professional) and usage
//!   packs (built-in: `data/products.json`).
//! - [`pricing`]: the [`QuoteEngine`](pricing::QuoteEngine): bundles, accounts, add-ons, seats,
//!   tiered / volume / package usage packs, proration by day, explained lines.
//! - [`subscriptions`]: the [`Subscriptions`](subscriptions::Subscriptions) lifecycle (quoted →
//!   signed → paid → active → renewed / expired), journaled, writing grants on activation.
//! - [`revenue`]: ratable daily recognition, deferred revenue, RPO, the monthly waterfall.
//! - [`metrics`]: the vendor's SaaS metrics with their exact definitions.
//! - [`channel`]: channel partners with drawn-down prepayments, and direct sales commissions.
//! - [`paas`]: third-party modules: manifests, the `FunctionalModule` trait, the `ModuleHost`.
//! - The error type [`ModulesError`] (module [`error`]).
//!
//! JSON Schemas of the configuration files (catalog, products, module manifests) are generated
//! into `schemas/` (see [`schema_json`]).
//!
//! ## Feature flags
//! This crate has none: it is pure logic over the storage contract of `marketingforce-core`.
//! Choose a durable backend with `marketingforce-core`'s `sqlite` or `postgres` feature (or the
//! same features of the `marketingforce` umbrella crate) and pass it as an `Arc<dyn Store>`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod catalog;
pub mod channel;
mod config;
pub mod entitlements;
pub mod error;
pub mod events;
pub mod metering;
pub mod metrics;
pub mod paas;
pub mod pricing;
pub mod products;
pub mod revenue;
pub mod subscriptions;
mod telemetry;

pub use config::schema_json;
pub use error::{ModulesError, PackOffer, Result};
pub use events::event_catalog;

/// Round `m` with `mode` to its currency's minor unit and show it at that scale
/// (`34800` → `34800.00`).
pub(crate) fn round_minor(
    m: marketingforce_core::money::Money,
    mode: marketingforce_core::money::RoundingMode,
) -> marketingforce_core::money::Money {
    let r = m.round(mode);
    let mut amount = r.amount();
    amount.rescale(r.currency().minor_units());
    marketingforce_core::money::Money::new(amount, r.currency())
}
