//! # A day in the life of the platform
//!
//! Demo code of the `quickstart` example (and its test, which includes this module by path):
//! not part of the library, so the SDK an embedder ships carries no fixed cast.
//!
//! A deterministic, end-to-end story across every crate of the SDK, run over any
//! [`Store`](marketingforce::core::storage::Store): memory, SQLite or PostgreSQL. The `quickstart` example
//! prints it; the integration tests assert its [`Figures`] on all three backends, and across a
//! restart in the middle.
//!
//! | phase | date (2026) | what happens | crates |
//! |---|---|---|---|
//! | [`Catalog`](Phase::Catalog) | Mon 2 Mar | the vendor's 43 modules and 8 bundles are loaded and checked; a channel partner prepays RMB 100,000 | modules |
//! | [`Subscriptions`](Phase::Subscriptions) | 2–3 Mar | 上海精工机械 signs T Cloud Standard + lead management, membership, social fission (RMB 73,200) directly; the partner sells 苏州云帆贸易 True Client Standard × 8 accounts (RMB 9,440) and keeps 65%; both pay and are activated | modules |
//! | [`Entitlements`](Phase::Entitlements) | 3 Mar | modules, seats and quotas in force: T-video refused, the ninth sales account refused | modules, crm |
//! | [`AdsSetup`](Phase::AdsSetup) | 3 Mar | the agency signs the ad platform (4% + quarterly tiers), reviews two advertisers (solution / distribution), tops up, starts campaigns; the creative passes the content compliance review | ads, content |
//! | [`Content`](Phase::Content) | 4 Mar | T-text drafts 6 articles, T-image a poster; an unlawful headline is rejected; approved content is published to the recommended channels within quota | content, modules |
//! | [`Site`](Phase::Site) | 5–8 Mar | 上海精工's official site is built from the machinery template (bilingual, PC and mobile, poster and articles), reviewed and published under its entitlements; 24 visits from search, WeChat, an Ocean Engine ad, a portal and direct are measured by the beacon (a crawler is filtered out); three inquiry forms become CRM leads with consent and attribution | sites, content, crm, modules |
//! | [`Leads`](Phase::Leads) | 9–11 Mar | inquiries from the content are handed to the CRM through the `LeadSink` seam; both tenants' leads are deduped, allocated, followed up, scored, put on SOPs; the SLA escalates and reassigns | content, crm, modules |
//! | [`Conversion`](Phase::Conversion) | 16 Mar | hot prospects sign, join the membership programme; one member runs a fission campaign | crm |
//! | [`AdsMonth`](Phase::AdsMonth) | 17–31 Mar | the campaigns deliver every day; points unlock after the return window | ads, crm |
//! | [`MonthEnd`](Phase::MonthEnd) | 1 Apr | March is settled with rebates on the gross and net bases and reconciled; revenue recognition and SaaS metrics | ads, modules |
//!
//! Time comes from a [`ManualClock`](marketingforce::core::time::ManualClock), ids from seeded
//! generators ([`PhaseIds`]), media platforms are seeded simulators ([`OutsideWorld`]): the same
//! run gives the same figures on every backend, every time.
//!
//! ## Restart in the middle
//! [`Scenario::stop`] drops every service — entitlement caches, dedupe engines, allocators,
//! ledgers, everything in memory — and hands back the outside world; [`Scenario::resume`]
//! reopens the services on the store, which rebuild themselves from it, and continues with the
//! next phase. The final figures are the same as an uninterrupted run's (`tests/quickstart.rs`
//! checks it on every backend):
//!
//! ```text
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let mut run = Scenario::start(store.clone(), 0).await.unwrap();
//! run.run_through(Phase::Leads).await.unwrap();
//!
//! // Restart: every in-memory service is dropped and rebuilt from the store.
//! let outside = run.stop().await.unwrap();
//! let mut run = Scenario::resume(store, 0, outside).await.unwrap();
//! let figures = run.run_to_end().await.unwrap();
//!
//! // Recognised revenue and the remaining performance obligation add up to the bookings.
//! let r = &figures.revenue;
//! assert_eq!(r.recognised.checked_add(&r.rpo).unwrap(), r.booked);
//! assert!(figures.ads.ledger_balanced);
//! ```

mod cast;
mod error;
mod figures;
mod outside;
mod phase;
mod phases;
pub mod report;
mod runner;
mod script;
mod services;

pub use cast::{
    Cast, Person, PhaseIds, DISTRIBUTION_ADVERTISER, JINGGONG, OPERATOR, PARTNER, SALESPERSON,
    YUNFAN,
};
pub use error::{Result, ScenarioError};
pub use figures::{
    AdsFigures, BasisFigures, CatalogFigures, ContentFigures, ContractFigures, Figures,
    FissionFigures, LeadFigures, PartnerFigures, RevenueFigures, SaasFigures, SeatFigures,
    TotalFigures, UsageFigures,
};
pub use outside::OutsideWorld;
pub use phase::Phase;
pub use runner::{PhaseReport, Scenario};
pub use script::{personal_data, poster_request};

/// Run the whole story on `store` (run number 0) and return its figures.
///
/// # Errors
/// As [`Scenario::start`] and [`Scenario::run_to_end`].
pub async fn run(
    store: std::sync::Arc<dyn marketingforce::core::storage::Store>,
) -> Result<Figures> {
    Scenario::start(store, 0).await?.run_to_end().await
}
