//! # marketingforce-core
//!
//! The foundation of the Marketingforce SDK: the types every other crate speaks in, and the one
//! storage contract they all persist through.
//!
//! ```
//! use marketingforce_core::money::{Money, Rate, RoundingMode};
//! use marketingforce_core::time::{BusinessCalendar, HolidayCalendar};
//! use chrono::NaiveDate;
//!
//! // True Client Standard: RMB 1,180 per account per year, 8 accounts.
//! let contract = Money::cny("1180.00").unwrap().checked_mul_int(8).unwrap();
//! // Recognised ratably over 365 days: the daily parts sum exactly to the contract value.
//! let days = contract.allocate(365).unwrap();
//! assert_eq!(Money::sum(contract.currency(), &days).unwrap(), contract);
//! // A channel partner keeps 65% commission and is charged the rest.
//! let charged = contract.mul_rate("65%".parse::<Rate>().unwrap().complement());
//! assert_eq!(charged.round(RoundingMode::HalfUp).to_string(), "3304.00 CNY");
//! // Payment is due within 3 business days of signing (Spring Festival 2026 in between).
//! let signed = NaiveDate::from_ymd_opt(2026, 2, 12).unwrap();
//! let due = HolidayCalendar::china_mainland().add_business_days(signed, 3).unwrap();
//! assert_eq!(due.to_string(), "2026-02-24");
//! ```
//!
//! ## What is here
//! - [`money`]: [`Money`](money::Money) (decimal + ISO-4217 currency, CNY default), named
//!   rounding, exact splitting; [`Rate`](money::Rate); [`Quantity`](money::Quantity).
//! - [`id`]: typed, prefixed, time-ordered (UUIDv7) ids via [`entity_id!`], with random and
//!   seeded generators.
//! - [`env`](mod@env): [`Env`], what every service runs on (store, clock, ids, calendar, keys, HTTP
//!   settings); every service is built from one with `Service::new(&env)`.
//! - [`keys`]: the [`KeyProvider`](keys::KeyProvider) contract for encryption, blind-index and
//!   fingerprint keys, and [`KeyRing`](keys::KeyRing).
//! - [`tenant`]: [`TenantId`](tenant::TenantId), the tenant profile and the
//!   [`TenantDirectory`](tenant::TenantDirectory).
//! - [`time`]: [`Clock`](time::Clock) (system and manual), tenant time zones (Asia/Shanghai
//!   default) and [`BusinessCalendar`](time::BusinessCalendar) with the official mainland China
//!   holiday schedule for 2024–2026.
//! - [`error`]: the shared [`Error`] enum, and the [`ErrorKind`] classification ([`Classify`])
//!   every crate's errors map to.
//! - [`events`]: typed, versioned [`DomainEvent`](events::DomainEvent)s in an
//!   [`EventEnvelope`](events::EventEnvelope), appended to the tenant's outbox journal in the
//!   same atomic batch as the change they describe, and the event catalogue.
//! - [`idempotency`]: [`IdempotencyKey`], the validated key every mutating call takes, and the
//!   one rule that scopes it (unique within tenant and operation).
//! - [`text`]: checks for display text (no control or bidirectional-override characters).
//! - [`storage`]: the tenant-scoped [`Store`](storage::Store) contract — versioned records,
//!   secondary indexes, journals, atomic idempotent batches — with the memory, SQLite and
//!   PostgreSQL backends and the conformance suite.
//! - [`telemetry`]: `tracing` spans and events on every operation, commit and outside request,
//!   and metrics through the `metrics` facade (feature `metrics`), with no personal data.
//! - [`adapters`]: traits for the outside world (content channels, ad platforms, text / image /
//!   video generators).
//!
//! ## Feature flags
//! - `sqlite`: [`storage::SqliteStore`], the embedded durable backend (bundled SQLite).
//! - `postgres`: [`storage::PostgresStore`], the shared backend.
//! - `testing`: `storage::conformance`, the behaviour suite for any [`storage::Store`];
//!   `storage::FaultyStore` (seeded fault injection, including calls that never answer) and
//!   `storage::poll_then_drop` (cancel a future at a chosen await point);
//!   `Batch::fail_after_writes`.
//! - `metrics`: counters and histograms through the `metrics` facade
//!   ([`telemetry::names`] lists them).

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The `#[operation]` attribute names `::marketingforce_core`, also inside this crate.
extern crate self as marketingforce_core;

pub mod adapters;
pub mod env;
pub mod error;
pub mod events;
pub mod id;
pub mod idempotency;
pub mod keys;
pub mod money;
pub mod storage;
pub mod telemetry;
pub mod tenant;
pub mod text;
pub mod time;

pub use env::Env;
pub use error::{Classify, Error, ErrorKind, Result};
pub use idempotency::IdempotencyKey;

#[doc(hidden)]
pub mod __private {
    pub use schemars;
    pub use serde;
}
