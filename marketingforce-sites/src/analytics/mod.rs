//! Visitor analytics: a small beacon in every page, an ingestion API, and engagement figures.
//!
//! ## The beacon
//! `assets/mf-beacon.js` (see [`crate::render::BEACON_JS`]) keeps a random visitor id in
//! `localStorage` (no cookies), posts `<collect>/start` when a page loads, and sends cumulative
//! events with `navigator.sendBeacon` to `<collect>/events`: visible time (on
//! `visibilitychange` to hidden and on `pagehide`), deepest scroll, load time, form start and
//! form submit.
//!
//! ## Ingestion
//! [`Collector`] checks each request — size limits, the site's origin, bot user agents
//! ([`is_bot`]) — and answers a start with a signed page-view token ([`token`]); events must
//! carry it, so forged or replayed-elsewhere beacons are refused. A start with the previous
//! page view's token (same visitor, within 30 minutes) continues its session; otherwise a new
//! session is classified by source ([`crate::attribution::classify`]) and located by region
//! ([`IpLocator`], [`CsvRangeTable`]). [`Collector::handle`] is the framework-agnostic handler;
//! `crate::http` (feature `axum`) mounts it.
//!
//! ## Storage and several processes
//! Records go to the tenant's journal `sites.visits` through the core `Store` contract, by
//! group commit ([`VisitLog`]). Nothing is read-modify-written: appends from any number of
//! processes are serialised by the store (gap-free sequences), and every figure is a fold of
//! the journal ([`Engine`]) that is commutative and idempotent per page view, so the figures
//! do not depend on which process appended first, and a duplicated append changes nothing.
//! [`VisitAnalytics`] keeps the fold as a cache and catches up from its last sequence before
//! answering; [`VisitAnalytics::rebuild`] folds from the start.
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::id::SeededIds;
//! use marketingforce_core::storage::{MemoryStore, Store};
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::{Clock, ManualClock};
//! use marketingforce_sites::analytics::*;
//! use marketingforce_sites::attribution::ClientInfo;
//! use marketingforce_sites::industry::IndustryTemplate;
//! use marketingforce_sites::keys::SiteKey;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T10:00:00+08:00").unwrap());
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let site = IndustryTemplate::Machinery.site().unwrap();
//! let tenant = TenantId::new();
//! let registry = Arc::new(SiteRegistry::new());
//! registry.register(tenant, &site, &[]).unwrap();
//! let collector = Collector::new(registry, SiteKey::new([3; 32]), clock.clone(),
//!     Arc::new(SeededIds::new(1, clock.clone())), Arc::new(VisitLog::new(store.clone(), 512)))
//!     .with_locator(Arc::new(CsvRangeTable::test_table()));
//! let client = ClientInfo {
//!     ip: Some("198.51.100.7".parse().unwrap()),
//!     user_agent: Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0".into()),
//!     origin: Some("https://www.example-machinery.cn".into()),
//! };
//! let start = br#"{"site":"machinery-demo","page":"products","url":"https://www.example-machinery.cn/products.html",
//!     "referrer":"https://www.baidu.com/s?wd=%E5%8A%A0%E5%B7%A5%E4%B8%AD%E5%BF%83","visitor":"v-12345678"}"#;
//! let session = collector.start(start, &client).await.unwrap();
//! clock.advance(chrono::Duration::seconds(40));
//! let beacon = format!(r#"{{"token":"{}","events":[{{"type":"dwell","visible_ms":38000}},{{"type":"scroll","depth_pct":80}}]}}"#, session.token);
//! collector.events(beacon.as_bytes(), &client).await.unwrap();
//! // A forged token is refused.
//! let forged = beacon.replace(&session.token[..8], "AAAAAAAA");
//! assert!(collector.events(forged.as_bytes(), &client).await.is_err());
//! collector.flush().await.unwrap();
//!
//! let analytics = VisitAnalytics::new(&Env::new(store));
//! let day = "2026-03-02".parse().unwrap();
//! let by_source = analytics.report(&tenant, None, day, day, Dimension::SourceDetail).await.unwrap();
//! assert_eq!(by_source[0].key, "search:baidu");
//! assert_eq!(by_source[0].avg_dwell_ms, 38_000);
//! let by_region = analytics.report(&tenant, None, day, day, Dimension::Region).await.unwrap();
//! assert_eq!(by_region[0].key, "江苏/苏州");
//! let by_keyword = analytics.report(&tenant, None, day, day, Dimension::Keyword).await.unwrap();
//! assert_eq!(by_keyword[0].key, "加工中心");
//! # });
//! ```

mod bots;
mod collector;
mod engine;
mod figures;
mod geo;
mod log;
mod records;
mod service;
pub mod token;

pub use bots::{is_bot, BOT_MARKERS};
pub use collector::{
    BeaconEvent, BeaconLimits, CollectEndpoint, CollectRequest, CollectResponse, Collector,
    EventBatch, SiteRegistry, StartRequest, StartResponse,
};
pub use engine::{Dimension, EngagementRow, Engine};
pub use figures::{site_figures, SiteFigures};
pub use geo::{CsvRangeTable, IpLocator, Region, TEST_TABLE};
pub use log::VisitLog;
pub use records::{ActivityRecord, PageViewRecord, VisitRecord, VISIT_JOURNAL};
pub use service::{PageViewSummary, VisitAnalytics, VisitAnalyticsBuilder};
