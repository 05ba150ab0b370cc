//! [`OceanEngineConfig`]: everything the connector needs, as serde data with a JSON Schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use marketingforce_core::money::Currency;

use super::codes::ErrorCodes;
use super::secret::Secret;
use crate::config::Config;
use crate::error::{AdsError, Result};

/// The production gateway of the Marketing API.
pub const DEFAULT_BASE_URL: &str = "https://ad.oceanengine.com/open_api/";
/// The page where an advertiser or agent authorises the app.
pub const DEFAULT_AUTHORIZE_PAGE: &str = "https://ad.oceanengine.com/openapi/audit/oauth.html";

/// Which generation of the delivery model campaigns and ads are created in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiModel {
    /// 巨量广告 升级版 (API v3.0): a campaign is a **project** (`v3.0/project/…`), an ad is a
    /// **promotion** (`v3.0/promotion/…`); reports by `v3.0/report/custom/get/`.
    #[default]
    ProjectPromotion,
    /// The classic model (API 2): a campaign is a 广告组 (`2/campaign/…`), an ad a 计划
    /// (`2/ad/…`); reports by `2/report/{advertiser,campaign,ad}/get/`.
    CampaignAd,
}

/// Settings of the Ocean Engine connector.
///
/// Only `app_id` and `secret` are required; the rest have the defaults shown in the JSON
/// Schema (`marketingforce-ads/schemas/ocean-engine-config.schema.json`).
///
/// ```
/// use marketingforce_ads::config::Config;
/// use marketingforce_ads::platform::oceanengine::OceanEngineConfig;
///
/// let config = OceanEngineConfig::from_json(r#"{"app_id": "1690000000000001", "secret": "s"}"#).unwrap();
/// assert_eq!(config.base_url, "https://ad.oceanengine.com/open_api/");
/// // The secret never prints.
/// assert!(!format!("{config:?}").contains("\"s\""));
/// let bad = OceanEngineConfig::from_json(r#"{"app_id": "x", "secret": "s"}"#).unwrap_err();
/// assert_eq!(bad.field(), Some("app_id"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OceanEngineConfig {
    /// The platform code the adapter reports (`AdPlatform::platform_code`).
    #[serde(default = "default_code")]
    pub code: String,
    /// The developer app's id (开发者应用 APP ID), all digits.
    pub app_id: String,
    /// The app's secret.
    pub secret: Secret,
    /// The API gateway, ending in `/` (the protocol fake serves it on loopback).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The authorisation page the OAuth link points to.
    #[serde(default = "default_authorize_page")]
    pub authorize_page_url: String,
    /// The agent (代理商) account id: needed for top-ups (agent transfers) and for linking the
    /// advertiser accounts the agent opened.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Campaign/ad model.
    #[serde(default)]
    pub model: ApiModel,
    /// Currency of the accounts (yuan on the wire).
    #[serde(default)]
    pub currency: Currency,
    /// Requests per second this process sends for the app (all advertisers). The platform's
    /// limit is per app across every process: give each replica its share (see the module docs).
    #[serde(default = "default_app_qps")]
    pub app_qps: u32,
    /// Requests per second this process sends for any one advertiser.
    #[serde(default = "default_advertiser_qps")]
    pub advertiser_qps: u32,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Retries of rate-limit and transient answers (and of connection failures).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff; doubles per retry, with jitter.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Longest backoff.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// Refresh the access token this long before it expires (at most 31 days).
    #[serde(default = "default_refresh_ahead")]
    pub refresh_ahead_secs: u64,
    /// How long a process may hold the refresh lease (must outlive one refresh request; at
    /// most 31 days).
    #[serde(default = "default_refresh_lease")]
    pub refresh_lease_secs: u64,
    /// How often a process waiting for another's refresh rereads the store.
    #[serde(default = "default_refresh_poll")]
    pub refresh_poll_ms: u64,
    /// Rows asked per report page (1–1000, the platform's maximum).
    #[serde(default = "default_page_size")]
    pub report_page_size: u32,
    /// Most pages read for one report before giving up (guards against a looping `total_page`).
    #[serde(default = "default_max_pages")]
    pub max_report_pages: u32,
    /// Largest response body accepted.
    #[serde(default = "default_max_body")]
    pub max_response_bytes: u64,
    /// Most decimals a money amount in yuan may have (2: fen). More digits mean the sender went
    /// through binary floats; the amount is refused, never rounded.
    #[serde(default = "default_money_decimals")]
    pub money_decimals: u32,
    /// A day's report is declared final this many hours after the day ends (Asia/Shanghai).
    /// The platform does not declare finality; this is the agency's policy.
    #[serde(default = "default_final_after")]
    pub final_after_hours: u32,
    /// 推广目的 of new campaigns/projects (`LINK`: sales leads / landing pages).
    #[serde(default = "default_landing_type")]
    pub landing_type: String,
    /// Fund type of agent transfers (`PREPAY_GENERAL`, `CREDIT_GENERAL`, …).
    #[serde(default = "default_capital_type")]
    pub capital_type: String,
    /// 广告来源 shown on promotions (required by `LINK` promotions; 1–10 characters).
    #[serde(default)]
    pub promotion_source: Option<String>,
    /// Extra members of every `v3.0/project/create/` body (asset ids, targeting, optimisation
    /// goals your accounts require); members the connector sets itself win.
    #[serde(default)]
    pub project_defaults: serde_json::Map<String, serde_json::Value>,
    /// Extra members of every `v3.0/promotion/create/` body.
    #[serde(default)]
    pub promotion_defaults: serde_json::Map<String, serde_json::Value>,
    /// Return-code tables.
    #[serde(default)]
    pub error_codes: ErrorCodes,
}

fn default_code() -> String {
    super::DEFAULT_CODE.into()
}
fn default_base_url() -> String {
    DEFAULT_BASE_URL.into()
}
fn default_authorize_page() -> String {
    DEFAULT_AUTHORIZE_PAGE.into()
}
fn default_app_qps() -> u32 {
    10
}
fn default_advertiser_qps() -> u32 {
    5
}
fn default_timeout() -> u64 {
    15_000
}
fn default_retries() -> u32 {
    4
}
fn default_backoff() -> u64 {
    500
}
fn default_max_backoff() -> u64 {
    15_000
}
fn default_refresh_ahead() -> u64 {
    3_600
}
fn default_refresh_lease() -> u64 {
    60
}
fn default_refresh_poll() -> u64 {
    250
}
fn default_page_size() -> u32 {
    200
}
fn default_max_pages() -> u32 {
    500
}
fn default_max_body() -> u64 {
    16 * 1024 * 1024
}
fn default_money_decimals() -> u32 {
    2
}
fn default_final_after() -> u32 {
    12
}
fn default_landing_type() -> String {
    "LINK".into()
}
fn default_capital_type() -> String {
    "PREPAY_GENERAL".into()
}

impl OceanEngineConfig {
    /// The longest `refresh_ahead_secs` and `refresh_lease_secs` accepted (31 days): token
    /// instants are computed from them on the clock, and must stay on the calendar.
    pub const MAX_TOKEN_HORIZON_SECS: u64 = 31 * 86_400;

    /// A configuration with defaults for everything but the credentials.
    pub fn new(app_id: impl Into<String>, secret: Secret) -> OceanEngineConfig {
        OceanEngineConfig {
            code: default_code(),
            app_id: app_id.into(),
            secret,
            base_url: default_base_url(),
            authorize_page_url: default_authorize_page(),
            agent_id: None,
            model: ApiModel::default(),
            currency: Currency::CNY,
            app_qps: default_app_qps(),
            advertiser_qps: default_advertiser_qps(),
            timeout_ms: default_timeout(),
            max_retries: default_retries(),
            backoff_ms: default_backoff(),
            max_backoff_ms: default_max_backoff(),
            refresh_ahead_secs: default_refresh_ahead(),
            refresh_lease_secs: default_refresh_lease(),
            refresh_poll_ms: default_refresh_poll(),
            report_page_size: default_page_size(),
            max_report_pages: default_max_pages(),
            max_response_bytes: default_max_body(),
            money_decimals: default_money_decimals(),
            final_after_hours: default_final_after(),
            landing_type: default_landing_type(),
            capital_type: default_capital_type(),
            promotion_source: None,
            project_defaults: serde_json::Map::new(),
            promotion_defaults: serde_json::Map::new(),
            error_codes: ErrorCodes::default(),
        }
    }
}

pub(crate) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Config for OceanEngineConfig {
    fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: &str| Err(AdsError::validation(field, reason));
        if self.code.trim().is_empty() {
            return bad("code", "must not be blank");
        }
        if !all_digits(&self.app_id) {
            return bad("app_id", "must be the app's numeric id");
        }
        if self.secret.is_blank() {
            return bad("secret", "must not be blank");
        }
        for (field, url) in [
            ("base_url", &self.base_url),
            ("authorize_page_url", &self.authorize_page_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return bad(field, "must be an http(s) URL");
            }
        }
        if !self.base_url.ends_with('/') {
            return bad("base_url", "must end with '/' (e.g. .../open_api/)");
        }
        if let Some(agent) = &self.agent_id {
            if !all_digits(agent) {
                return bad("agent_id", "must be the agent's numeric account id");
            }
        }
        if self.app_qps == 0 || self.advertiser_qps == 0 {
            let field = if self.app_qps == 0 {
                "app_qps"
            } else {
                "advertiser_qps"
            };
            return bad(field, "must be at least 1 request per second");
        }
        if self.timeout_ms == 0 {
            return bad("timeout_ms", "must be positive");
        }
        if self.backoff_ms == 0 || self.backoff_ms > self.max_backoff_ms {
            return bad("backoff_ms", "must be positive and at most max_backoff_ms");
        }
        for (field, secs) in [
            ("refresh_ahead_secs", self.refresh_ahead_secs),
            ("refresh_lease_secs", self.refresh_lease_secs),
        ] {
            if secs > Self::MAX_TOKEN_HORIZON_SECS {
                return bad(field, "must be at most 2678400 (31 days)");
            }
        }
        if self.refresh_lease_secs.saturating_mul(1000) <= self.timeout_ms {
            return bad(
                "refresh_lease_secs",
                "must outlive one refresh request (longer than timeout_ms)",
            );
        }
        if self.refresh_poll_ms == 0 {
            return bad("refresh_poll_ms", "must be positive");
        }
        if !(1..=1000).contains(&self.report_page_size) {
            return bad("report_page_size", "must be between 1 and 1000");
        }
        if self.max_report_pages == 0 {
            return bad("max_report_pages", "must be at least 1");
        }
        if self.max_response_bytes < 1024 {
            return bad("max_response_bytes", "must be at least 1024");
        }
        if self.money_decimals > 8 {
            return bad("money_decimals", "must be at most 8");
        }
        if self.final_after_hours > 24 * 31 {
            return bad("final_after_hours", "must be at most 744 (31 days)");
        }
        if let Some(source) = &self.promotion_source {
            let n = source.chars().count();
            if !(1..=10).contains(&n) {
                return bad("promotion_source", "must have 1 to 10 characters");
            }
        }
        for (field, value) in [
            ("landing_type", &self.landing_type),
            ("capital_type", &self.capital_type),
        ] {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                return bad(field, "must be the platform's enum value, e.g. LINK");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_horizons_beyond_a_month_are_refused() {
        let ok = OceanEngineConfig::new("1690000000000001", Secret::new("s"));
        for secs in [31 * 86_400 + 1, 10_000_000_000_000, u64::MAX] {
            let mut c = ok.clone();
            c.refresh_ahead_secs = secs;
            assert_eq!(
                c.validate().map_err(|e| e.field().map(str::to_string)),
                Err(Some("refresh_ahead_secs".to_string())),
                "{secs}"
            );
            let mut c = ok.clone();
            c.refresh_lease_secs = secs;
            assert_eq!(
                c.validate().map_err(|e| e.field().map(str::to_string)),
                Err(Some("refresh_lease_secs".to_string())),
                "{secs}"
            );
        }
        let mut longest = ok.clone();
        longest.refresh_ahead_secs = OceanEngineConfig::MAX_TOKEN_HORIZON_SECS;
        longest.refresh_lease_secs = OceanEngineConfig::MAX_TOKEN_HORIZON_SECS;
        assert!(longest.validate().is_ok());
    }

    #[test]
    fn defaults_validate_and_bad_values_name_the_field() {
        let ok = OceanEngineConfig::new("1690000000000001", Secret::new("s"));
        assert!(ok.validate().is_ok());
        type Change = Box<dyn Fn(&mut OceanEngineConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("secret", Box::new(|c| c.secret = Secret::new(" "))),
            ("base_url", Box::new(|c| c.base_url = "ftp://x/".into())),
            (
                "base_url",
                Box::new(|c| c.base_url = "https://x/open_api".into()),
            ),
            ("agent_id", Box::new(|c| c.agent_id = Some("agent".into()))),
            ("app_qps", Box::new(|c| c.app_qps = 0)),
            ("report_page_size", Box::new(|c| c.report_page_size = 1001)),
            ("refresh_lease_secs", Box::new(|c| c.refresh_lease_secs = 1)),
            (
                "promotion_source",
                Box::new(|c| c.promotion_source = Some(String::new())),
            ),
            ("landing_type", Box::new(|c| c.landing_type = "link".into())),
        ];
        for (field, change) in cases {
            let mut c = ok.clone();
            change(&mut c);
            assert_eq!(c.validate().unwrap_err().field(), Some(field));
        }
    }
}
