//! Settings of the Official Account channel and of each account (app credentials).

use std::time::Duration;

use marketingforce_core::adapters::secret::Secret;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{ContentError, Result};

/// The production API host.
pub const WECHAT_API: &str = "https://api.weixin.qq.com";

/// The channel code the Official Account channel registers under by default (it is in the
/// built-in catalogue).
pub const DEFAULT_CODE: &str = "wechat-oa";

/// Which permanent material type the cover is uploaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoverMaterial {
    /// `type=thumb`: a JPEG of at most 64 KB (the documented thumbnail material).
    #[default]
    Thumb,
    /// `type=image`: a JPEG or PNG of at most 10 MB.
    Image,
}

impl CoverMaterial {
    /// The `type` query value.
    pub fn as_str(self) -> &'static str {
        match self {
            CoverMaterial::Thumb => "thumb",
            CoverMaterial::Image => "image",
        }
    }

    /// The largest file accepted, in bytes.
    pub fn max_bytes(self) -> usize {
        match self {
            CoverMaterial::Thumb => 64 * 1024,
            CoverMaterial::Image => 10 * 1024 * 1024,
        }
    }
}

/// Settings of a [`WeChatOaChannel`](super::WeChatOaChannel), as configuration data.
///
/// ```
/// use marketingforce_content::distribution::wechat::WeChatOaConfig;
///
/// let c: WeChatOaConfig = serde_json::from_str(r#"{"base_url": "http://127.0.0.1:9"}"#).unwrap();
/// assert_eq!(c.code, "wechat-oa");
/// assert_eq!(c.publish_poll_attempts, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeChatOaConfig {
    /// Channel code in the catalogue (default `wechat-oa`).
    #[serde(default = "default_code")]
    pub code: String,
    /// API host (default `https://api.weixin.qq.com`; a loopback fake in tests).
    #[serde(default = "default_base")]
    pub base_url: String,
    /// Time for one call, in milliseconds (default 10,000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Retries after the first attempt on transport failures, 5xx and `-1` (system busy)
    /// (default 3).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff in milliseconds, doubled per retry (default 200).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Polls of `freepublish/get` after a submit before reporting the publication as still in
    /// progress (default 5).
    #[serde(default = "default_poll_attempts")]
    pub publish_poll_attempts: u32,
    /// Milliseconds between polls (default 2,000).
    #[serde(default = "default_poll_interval")]
    pub publish_poll_interval_ms: u64,
    /// Material type of the cover (default `thumb`).
    #[serde(default)]
    pub cover: CoverMaterial,
}

fn default_code() -> String {
    DEFAULT_CODE.into()
}
fn default_base() -> String {
    WECHAT_API.into()
}
fn default_timeout() -> u64 {
    10_000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    200
}
fn default_poll_attempts() -> u32 {
    5
}
fn default_poll_interval() -> u64 {
    2_000
}

impl Default for WeChatOaConfig {
    fn default() -> Self {
        WeChatOaConfig {
            code: default_code(),
            base_url: default_base(),
            timeout_ms: default_timeout(),
            max_retries: default_retries(),
            backoff_ms: default_backoff(),
            publish_poll_attempts: default_poll_attempts(),
            publish_poll_interval_ms: default_poll_interval(),
            cover: CoverMaterial::default(),
        }
    }
}

impl WeChatOaConfig {
    /// Check the settings.
    ///
    /// # Errors
    /// A validation error naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.code.trim().is_empty() {
            return Err(ContentError::validation("code", "must not be blank"));
        }
        crate::text::check_url("base_url", &self.base_url)?;
        if self.timeout_ms == 0 {
            return Err(ContentError::validation("timeout_ms", "must be positive"));
        }
        if self.max_retries > 10 {
            return Err(ContentError::validation(
                "max_retries",
                "must be at most 10",
            ));
        }
        Ok(())
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        Duration::from_millis(self.backoff_ms).saturating_mul(1 << retry.min(10))
    }
}

/// One Official Account: its app credentials and, for the publish-result callback, the server
/// settings of 设置与开发 → 基本配置 → 服务器配置.
///
/// Secrets are redacted in `Debug` and never serialized:
///
/// ```
/// use marketingforce_content::distribution::wechat::OaAccount;
///
/// let a: OaAccount = serde_json::from_str(r#"{"app_id": "wx0123456789abcdef", "app_secret": "s3cr3t"}"#).unwrap();
/// assert!(!format!("{a:?}").contains("s3cr3t"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OaAccount {
    /// AppID (开发者ID, `wx…`).
    pub app_id: String,
    /// AppSecret (开发者密码).
    pub app_secret: Secret,
    /// Author shown on articles (at most 8 characters), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The server configuration's Token, for verifying callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_token: Option<Secret>,
    /// The server configuration's EncodingAESKey (safe or compatible mode); absent in clear
    /// mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_aes_key: Option<Secret>,
}

impl OaAccount {
    /// An account with credentials only.
    pub fn new(app_id: impl Into<String>, app_secret: impl Into<Secret>) -> OaAccount {
        OaAccount {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            author: None,
            callback_token: None,
            encoding_aes_key: None,
        }
    }

    /// Set the callback token and (for safe mode) EncodingAESKey.
    #[must_use]
    pub fn callback(mut self, token: impl Into<Secret>, aes_key: Option<Secret>) -> OaAccount {
        self.callback_token = Some(token.into());
        self.encoding_aes_key = aes_key;
        self
    }

    /// Check the account.
    ///
    /// # Errors
    /// A validation error on `app_id`, `app_secret` or `author` (never showing the secret).
    pub fn validate(&self) -> Result<()> {
        let id = self.app_id.trim();
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ContentError::validation(
                "app_id",
                "must be the account's AppID (letters and digits, e.g. wx0123456789abcdef)",
            ));
        }
        if self.app_secret.is_blank() {
            return Err(ContentError::validation("app_secret", "must not be blank"));
        }
        if self.author.as_ref().is_some_and(|a| a.chars().count() > 8) {
            return Err(ContentError::validation(
                "author",
                "must be at most 8 characters",
            ));
        }
        Ok(())
    }
}
