//! Ocean Engine (巨量引擎) Marketing API as an [`AdPlatform`](marketingforce_core::adapters::ad_platform::AdPlatform):
//! OAuth2 with a grant shared by every process, advertiser accounts and funds, agent transfers,
//! campaigns and ads in both delivery models, and exact daily reports.
//!
//! # Setup
//! 1. **Developer app.** Register as a developer on open.oceanengine.com, create an app and
//!    have the permission groups you need approved (accounts, delivery, reports; the agent
//!    groups for transfers). Note its **APP ID** and **secret**: they go in
//!    [`OceanEngineConfig`] (`app_id`, `secret`; the secret is a [`Secret`], never printed).
//! 2. **Redirect (callback) URL.** Register the URL of your service that will receive the
//!    authorisation code, e.g. `https://agency.example.com/oauth/oceanengine`. Send a person
//!    (the agent's or advertiser's administrator) to
//!    [`OceanEnginePlatform::authorize_url`] with that URL and a `state` you can check; your
//!    callback passes the `auth_code` it receives to [`OceanEnginePlatform::exchange_code`].
//!    From then on the grant is refreshed automatically for ~30 days at a stretch (see
//!    [`auth`]); when [`OceanEngineError::ReauthorisationRequired`] appears, repeat this step.
//! 3. **IP whitelist.** If the app restricts callers by IP, whitelist the egress addresses of
//!    every process that runs the connector (each replica, the batch jobs) in the app's
//!    settings; calls from elsewhere are refused.
//! 4. **Agent id.** For top-ups (agent transfers) and for linking accounts, set `agent_id` to
//!    the agent (代理商) account id. Accounts are opened in the agent console, with the
//!    platform's qualification review; [`open_account`](marketingforce_core::adapters::ad_platform::AdPlatform::open_account)
//!    links the opened account whose licence number is the customer's.
//! 5. **TLS.** The crate builds `reqwest` without TLS; for the production `https://` gateway
//!    enable `reqwest/rustls` in your own manifest.
//!
//! ```no_run
//! # async fn setup() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use marketingforce_ads::config::Config;
//! use marketingforce_ads::platform::oceanengine::{OceanEngineConfig, OceanEnginePlatform, Secret};
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::SystemClock;
//!
//! let config = OceanEngineConfig::from_json(&std::env::var("OCEAN_ENGINE_CONFIG")?)?;
//! let platform = OceanEnginePlatform::new(config, Arc::new(MemoryStore::new()), TenantId::new(), Arc::new(SystemClock))?;
//! // Once, by a person: open this link, approve, and get redirected with ?auth_code=…
//! println!("{}", platform.authorize_url("https://agency.example.com/oauth/oceanengine", "tenant-42")?);
//! // In the callback:
//! let grant = platform.exchange_code(&Secret::new("auth-code-from-the-callback")).await?;
//! println!("authorised for {} advertisers", grant.advertiser_ids.len());
//! # Ok(()) }
//! ```
//!
//! # The protocol
//! Base URL `https://ad.oceanengine.com/open_api/` (configurable; the [`fake`] serves it on
//! loopback). Reads are `GET` with parameters in the query (arrays and objects as JSON text),
//! writes are `POST` with a JSON body; every call but OAuth's carries the `Access-Token`
//! header. Every answer is the envelope `{"code": 0, "message": "OK", "request_id": "…",
//! "data": …}`; the codes are sorted and acted on as [`codes`] describes (refresh once on an
//! expired token, back off on rate limits, typed refusals otherwise).
//!
//! | [`AdPlatform`](marketingforce_core::adapters::ad_platform::AdPlatform) call | Endpoints |
//! |---|---|
//! | `open_account` | `2/agent/advertiser/select/`, `2/advertiser/info/`, `2/advertiser/fund/get/` (links an opened account, [`accounts`]) |
//! | `account` | `2/advertiser/info/`, `2/advertiser/fund/get/` |
//! | `top_up`, `top_up_status` | `v3.0/cg_transfer/create_transfer/`, `v3.0/cg_transfer/query_transfer_detail/` |
//! | `create_campaign`, `set_campaign_status`, `place_ad` | see [`campaigns`] (API 2 campaigns or v3.0 projects/promotions) |
//! | `daily_report` | see [`reports`] |
//! | `conversions`, `rebate_statement` | not offered by the API: [`OceanEngineError::Unsupported`] |
//!
//! # Money
//! Amounts arrive as JSON numbers in yuan (`"stat_cost": 1234.56`) or integers in fen
//! (transfers). They are read from the **literal text** into exact decimals (the connector quotes
//! every number before `serde_json` sees it, so nothing passes through `f64`, and no
//! workspace-wide `serde_json` feature is needed). Decision on floats: an amount with more
//! decimals than `money_decimals` (2 by default), such as `0.30000000000000004`, an exponent
//! (`1.2e3`) or more digits than an exact decimal holds is **refused** with a validation error
//! naming the field (`page 2.data.list[3].stat_cost`), never rounded. Amounts sent (budgets,
//! bids) are written from their decimal text.
//!
//! # Limits, across processes
//! The connector keeps token buckets per app (`app_qps`) and per advertiser (`advertiser_qps`) in
//! this process. The platform counts per app across every process: with `n` replicas give each
//! `app_qps = floor(limit / n)`, or route each advertiser to one replica. Rate-limit answers
//! that get through anyway are retried with exponential backoff and jitter.
//!
//! # Forward compatibility
//! Enum values this release does not know are kept as `Unknown(String)`, handled
//! conservatively (an unknown account status counts as suspended, an unknown transfer status
//! as still processing) and reported through [`OceanEnginePlatform::take_notices`].
//!
//! # Testing and fixtures
//! [`record`] defines the JSON Lines fixture format: record a session with real credentials
//! through [`RecordingTransport`] (secrets and contact fields redacted), replay it with
//! [`ReplayTransport`]. With the `testing` feature, [`fake`] is a loopback server that speaks
//! the protocol (tokens that expire, rate limits, pagination, partial failures) and serves
//! fixture entries, for this crate's tests and for yours.

pub mod accounts;
pub mod auth;
pub mod campaigns;
pub(crate) mod client;
pub mod codes;
pub mod config;
#[cfg(feature = "testing")]
pub mod fake;
pub(crate) mod json;
pub(crate) mod limiter;
mod platform;
pub mod record;
pub mod reports;
mod secret;
pub mod transport;
pub(crate) mod wire;

pub use accounts::{AdvertiserInfo, AdvertiserStatus, Fund, Transfer, TransferState};
pub use auth::{Grant, RefreshLease, TokenRecord};
pub use client::Notice;
pub use codes::{ErrorCodes, ObjectFailure, OceanEngineError};
pub use config::{ApiModel, OceanEngineConfig, DEFAULT_AUTHORIZE_PAGE, DEFAULT_BASE_URL};

/// The platform code the adapter reports unless its configuration names another
/// ([`OceanEngineConfig::code`]); [`PlatformOnboarding::oceanengine`](crate::ops::PlatformOnboarding::oceanengine)
/// registers the platform under it.
pub const DEFAULT_CODE: &str = "ocean-engine";
pub use platform::{request_key, OceanEnginePlatform};
pub use record::{Fixture, FixtureEntry, RecordingTransport, ReplayTransport, RequestMatcher};
pub use reports::{LevelReport, ReportLevel, ReportRow};
pub use secret::Secret;
pub use transport::{
    HttpMethod, HttpTransport, Transport, TransportError, WireRequest, WireResponse,
};
