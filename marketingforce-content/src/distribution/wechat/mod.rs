//! WeChat Official Accounts (微信公众号) as a content channel (feature `wechat-oa`).
//!
//! [`WeChatOaChannel`] implements [`ContentChannel`](marketingforce_core::adapters::channel::ContentChannel),
//! so the [`Publisher`](super::Publisher) publishes through it like through any other channel —
//! reviewed content only, release quota, rate limits, scheduling — and switching from the
//! [`SimulatedChannel`](super::SimulatedChannel) is a matter of which one is registered (see
//! the umbrella crate's `wechat_channels` example).
//!
//! # What a publication does
//!
//! | step | API | notes |
//! |---|---|---|
//! | access token | `GET cgi-bin/token` | shared by every process through the store ([`SharedTokenCache`](marketingforce_core::adapters::token::SharedTokenCache)); a token refused with 40001 / 42001 / 40014 is refreshed once and the call repeated |
//! | body images | `POST cgi-bin/media/uploadimg` | each JPEG/PNG under 1 MB rehosted once; see [`html`] |
//! | cover | `POST cgi-bin/material/add_material?type=thumb` | an attachment named `cover…`, else the first image attachment, else the first body image; `thumb` takes a JPEG ≤ 64 KB ([`CoverMaterial::Image`] takes larger ones) |
//! | draft | `POST cgi-bin/draft/add` | the article converted by [`html::prepare`] |
//! | publish | `POST cgi-bin/freepublish/submit` | answers a `publish_id` |
//! | result | `POST cgi-bin/freepublish/get`, or the `PUBLISHJOBFINISH` callback | polled [`WeChatOaConfig::publish_poll_attempts`] times |
//! | statistics | `POST datacube/getarticletotal` (and [`WeChatOaChannel::article_summary`] over `getarticlesummary`) | from the day after publication |
//!
//! Every step is recorded in the tenant's store (collection `content.wechat_oa_jobs`) before
//! the next one, keyed by the publisher's idempotency key, so a retry resumes where the last
//! attempt stopped and never submits a draft twice. The one step whose outcome can be
//! genuinely unknown — `freepublish/submit` sent without an answer — is reported as such
//! (not retryable, with what to check), never guessed. A publication WeChat is still
//! processing when polling ends is a retryable failure: retry it with
//! [`Publisher::retry`](super::Publisher::retry), or deliver the callback first and the retry
//! answers at once.
//!
//! # Errors
//!
//! | errcode | becomes |
//! |---|---|
//! | 40001, 42001, 40014 | token refreshed, call repeated once |
//! | -1 (system busy), HTTP 5xx, transport failures | retried with backoff ([`WeChatOaConfig::max_retries`]) |
//! | 45009 (daily quota) / 45011 (minute quota) | [`ContentError::RateLimited`](crate::ContentError::RateLimited), retry at Beijing midnight / in a minute |
//! | 40164 (IP not whitelisted) | [`ContentError::ChannelConfiguration`](crate::ContentError::ChannelConfiguration) naming the IP to whitelist |
//! | 40013, 40125, 41004 (credentials), 48001 (permission) | [`ContentError::ChannelConfiguration`](crate::ContentError::ChannelConfiguration) naming the setting |
//! | 45003 / 45004 / 45002 | validation error on `title` / `digest` / `body_html` |
//! | any other | [`ContentError::ChannelApi`](crate::ContentError::ChannelApi) with the platform's code and message |
//!
//! Publish results other than success (`publish_status` 2–6: originality check, failure,
//! review refusal, deleted, banned) are [`PublishOutcome::Rejected`](marketingforce_core::adapters::channel::PublishOutcome::Rejected)
//! with code `publish_status_N`; unknown statuses are kept as [`PublishStatus::Unknown`] and
//! reported.
//!
//! # Setting up an account
//!
//! 1. **Credentials**: 公众号后台 → 设置与开发 → 基本配置: the *AppID* and *AppSecret*
//!    ([`OaAccount::app_id`], [`OaAccount::app_secret`]). The secret is read from
//!    configuration as a [`Secret`](marketingforce_core::adapters::secret::Secret): it never
//!    appears in `Debug` output, errors or recordings.
//! 2. **IP whitelist**: on the same page, add the public IP of every server that calls the API;
//!    otherwise every call fails with 40164, reported as a configuration error naming the IP.
//! 3. **Callback (optional)**: 服务器配置 → URL = your endpoint, e.g.
//!    `https://example.com/wechat/oa/{account}`; Token → [`OaAccount::callback_token`];
//!    EncodingAESKey (safe mode) → [`OaAccount::encoding_aes_key`]. The endpoint answers `GET`
//!    with [`WeChatOaChannel::verify_url`] and `POST` with [`WeChatOaChannel::handle_callback`]
//!    (reply `success`).
//! 4. **HTTPS**: the API is HTTPS only: enable a TLS feature of `reqwest` (e.g. `rustls`) in your
//!    manifest.
//! 5. **Catalogue**: the channel's code (default `wechat-oa`) must be in the publisher's
//!    catalogue: `ChannelCatalogue::builtin().with_channel(wechat::catalogue_entry())`.
//!
//! # Record and replay
//!
//! [`WeChatOaChannel::recording`] writes every exchange to a
//! [`Recorder`](marketingforce_core::adapters::cassette::Recorder) as a JSON Lines cassette
//! (secrets scrubbed); serve the file from a loopback server and point
//! [`WeChatOaConfig::base_url`] at it to replay the session in tests, as this crate's
//! `tests/wechat_oa.rs` does with the cassettes under `tests/fixtures/wechat/`.
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_content::distribution::wechat::{OaAccount, WeChatOaChannel, WeChatOaConfig};
//! use marketingforce_core::adapters::channel::ContentChannel;
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::SystemClock;
//!
//! let config: WeChatOaConfig = serde_json::from_str(r#"{"base_url": "https://api.weixin.qq.com"}"#).unwrap();
//! let channel = WeChatOaChannel::new(config, Arc::new(MemoryStore::new()), Arc::new(SystemClock)).unwrap();
//! let account: OaAccount = serde_json::from_str(
//!     r#"{"app_id": "wx0123456789abcdef", "app_secret": "from-your-secret-store"}"#).unwrap();
//! channel.add_account(&TenantId::new(), "acme-oa", account).unwrap();
//! assert_eq!(channel.code(), "wechat-oa");
//! assert!(!format!("{channel:?}").contains("from-your-secret-store"));
//! ```

mod callback;
mod channel;
mod client;
mod config;
mod errors;
pub mod html;
mod jobs;
mod stats;
mod wire;

pub use callback::OaCallback;
pub use channel::{WeChatOaChannel, MAX_TITLE_CHARS};
pub use config::{CoverMaterial, OaAccount, WeChatOaConfig, DEFAULT_CODE, WECHAT_API};
pub use jobs::PublishStatus;
pub use stats::ArticleDay;

use marketingforce_core::adapters::channel::{ChannelKind, ContentFormat};
use marketingforce_core::adapters::generation::Audience;

use super::catalogue::{BaseRates, ChannelInfo, RateLimit};

/// The catalogue entry of the Official Account channel under [`DEFAULT_CODE`]: articles, B2B
/// and B2C audiences, one release-quota unit per publication, at most 5 an hour and 20 a day.
pub fn catalogue_entry() -> ChannelInfo {
    ChannelInfo {
        code: DEFAULT_CODE.into(),
        name: "微信公众号".into(),
        kind: ChannelKind::Social,
        formats: vec![ContentFormat::Article],
        audiences: vec![Audience::B2b, Audience::B2c],
        industries: Vec::new(),
        regions: Vec::new(),
        release_cost: 1,
        rate_limit: RateLimit {
            per_hour: 5,
            per_day: 20,
        },
        base_rates: BaseRates {
            exposures_per_day: 3000.0,
            decay: 0.5,
            view_rate: 0.06,
            engagement_rate: 0.02,
            click_rate: 0.004,
            inquiry_rate: 0.0008,
        },
    }
}
