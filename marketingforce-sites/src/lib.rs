//! # marketingforce-sites
//!
//! T Cloud's first step: the customer's official platform — PC site, derived mobile (H5)
//! pages, two languages — built from data, rendered to static HTML, with inquiry forms that
//! hand leads to the CRM and visitor analytics that feed lead scoring and the evaluation
//! report.
//!
//! ```
//! use marketingforce_sites::industry::IndustryTemplate;
//! use marketingforce_sites::render::{RenderInputs, Renderer};
//!
//! // 1. A site as data: start from an industry template and edit it.
//! let mut site = IndustryTemplate::Machinery.site().unwrap();
//! site.footer.icp = Some("沪ICP备2026012345号-1".into());
//! site.validate().unwrap();
//! // 2. Render: PC pages, the derived mobile pages, sitemap, robots, CSS and the beacon.
//! let out = Renderer::new().render(&site, &RenderInputs::placeholder_assets(&site)).unwrap();
//! assert!(out.text("index.html").unwrap().contains("沪ICP备2026012345号-1"));
//! assert!(out.files.contains_key("m/en/products.html"));
//! ```
//!
//! ## Map of the crate
//! - [`model`]: [`Site`](model::Site), [`Page`](model::Page) as a tree of typed
//!   [`Block`](model::Block)s, theme, navigation, locales with fallbacks, SEO, assets, forms;
//!   JSON Schemas in [`schemas`]; [`validate`]: errors naming the path.
//! - [`industry`]: starter sites per industry (machinery, retail) as data.
//! - [`render`]: static HTML and CSS through minijinja with auto-escaping; the derived mobile
//!   variant; sitemap, robots, canonical and hreflang; deterministic output.
//! - [`publish`]: publishing gated by the tenant's modules and the Advertising Law review of
//!   every text block.
//! - [`forms`]: validation, PIPL consent, honeypot and rate limits, idempotent hand-off to the
//!   CRM through [`LeadSink`](forms::LeadSink).
//! - [`analytics`]: the beacon's ingestion, sessions, sources, regions, engagement, and the
//!   evaluation report's site figures; [`attribution`]: UTM, click ids, source classes.
//! - [`events`]: the domain events written to the tenant's outbox with the records they
//!   describe (form submitted, site published); [`event_catalog`] lists them.
//! - [`demo`]: 上海精工's site for the quickstart.
//! - `http` (feature `axum`): an axum `Router` for beacons and forms.
//!
//! ## Why a crate of its own
//! Sites have their own template engine (minijinja), their own data model (pages, blocks,
//! themes, forms) and their own ingestion path (beacons at page-view rate); the content crate
//! stays about generating, reviewing and distributing content, and this crate uses it (the
//! compliance review, the safe Markdown reader) like it uses the CRM and the module catalog.
//!
//! ## Feature flags
//! - `axum`: `http::router`, mounting the collector and the form service on an axum `Router`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod analytics;
pub mod attribution;
pub mod demo;
pub mod error;
pub mod events;
pub mod forms;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
pub mod industry;
pub mod keys;
pub mod model;
pub mod publish;
pub mod render;
pub mod schemas;
pub mod validate;

pub use error::{Result, SitesError};
pub use events::event_catalog;
