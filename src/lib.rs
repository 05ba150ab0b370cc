//! # marketingforce
//!
//! The umbrella crate of the Marketingforce SDK. It re-exports the member crates:
//!
//! | module | crate | feature |
//! |---|---|---|
//! | [`core`] | `marketingforce-core`: money, ids, tenants, time, errors, storage, adapter traits | always |
//! | `modules` | `marketingforce-modules`: catalog, bundles, subscriptions, pricing, entitlements, metering, revenue | `modules` (default) |
//! | `crm` | `marketingforce-crm`: the lead lifecycle | `crm` (default) |
//! | `ads` | `marketingforce-ads`: ad operations and rebate accounting | `ads` (default) |
//! | `content` | `marketingforce-content`: generation, compliance, distribution | `content` (default) |
//! | `sites` | `marketingforce-sites`: official sites, forms, visitor analytics | `sites` (default) |
//! | `events` | `marketingforce-events`: domain events out — the outbox relay, NATS JetStream and webhook sinks, webhook verification and inbox dedupe | `events` (default; sinks: `events-nats`, `events-webhooks`) |
//!
//! ```
//! use marketingforce::core::money::Money;
//!
//! let price = Money::cny("19800").unwrap();
//! assert_eq!(price.to_string(), "19800 CNY");
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "ads")]
pub use marketingforce_ads as ads;
#[cfg(feature = "content")]
pub use marketingforce_content as content;
pub use marketingforce_core as core;
#[cfg(feature = "crm")]
pub use marketingforce_crm as crm;
#[cfg(feature = "events")]
pub use marketingforce_events as events;
#[cfg(feature = "modules")]
pub use marketingforce_modules as modules;
#[cfg(feature = "sites")]
pub use marketingforce_sites as sites;

#[cfg(any(
    all(feature = "ads", feature = "content"),
    all(feature = "content", feature = "crm")
))]
pub mod bridges;
#[cfg(all(feature = "modules", feature = "crm", feature = "ads"))]
pub mod platform;
#[cfg(all(feature = "modules", feature = "crm", feature = "ads"))]
pub use platform::{IntoKeyProvider, Platform, PlatformBuilder, TenantHandle};
#[cfg(all(feature = "modules", feature = "crm", feature = "ads"))]
pub mod prelude;
