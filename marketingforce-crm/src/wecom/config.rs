//! Settings of the WeCom connector and the corp's credentials.

use std::time::Duration;

use marketingforce_core::adapters::secret::Secret;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{CrmError, Result};

/// The production API host.
pub const WECOM_API: &str = "https://qyapi.weixin.qq.com";

/// Transport settings, as configuration data.
///
/// ```
/// use marketingforce_crm::wecom::WeComConfig;
///
/// let c: WeComConfig = serde_json::from_str("{}").unwrap();
/// assert_eq!(c.base_url, "https://qyapi.weixin.qq.com");
/// assert_eq!((c.max_retries, c.page_size), (3, 100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeComConfig {
    /// API host (default `https://qyapi.weixin.qq.com`; a loopback fake in tests).
    #[serde(default = "default_base")]
    pub base_url: String,
    /// Time for one call, in milliseconds (default 10,000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Retries after the first attempt on transport failures, 5xx, `-1` (busy) and 45009 /
    /// 45033 (frequency and concurrency limits) (default 3).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff in milliseconds, doubled per retry (default 500).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Contacts per page of `batch/get_by_user` and groups per page of `groupchat/list`
    /// (1–100, default 100).
    #[serde(default = "default_page")]
    pub page_size: u32,
}

fn default_base() -> String {
    WECOM_API.into()
}
fn default_timeout() -> u64 {
    10_000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    500
}
fn default_page() -> u32 {
    100
}

impl Default for WeComConfig {
    fn default() -> Self {
        WeComConfig {
            base_url: default_base(),
            timeout_ms: default_timeout(),
            max_retries: default_retries(),
            backoff_ms: default_backoff(),
            page_size: default_page(),
        }
    }
}

impl WeComConfig {
    /// Check the settings.
    ///
    /// # Errors
    /// A validation error naming the field.
    pub fn validate(&self) -> Result<()> {
        let b = &self.base_url;
        if !(b.starts_with("https://") || b.starts_with("http://"))
            || b.contains(char::is_whitespace)
        {
            return Err(CrmError::validation(
                "base_url",
                "must be an absolute http(s) URL",
            ));
        }
        if self.timeout_ms == 0 {
            return Err(CrmError::validation("timeout_ms", "must be positive"));
        }
        if self.max_retries > 10 {
            return Err(CrmError::validation("max_retries", "must be at most 10"));
        }
        if !(1..=100).contains(&self.page_size) {
            return Err(CrmError::validation("page_size", "must be 1-100"));
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

/// A corp's credentials for the customer-contact (客户联系) API and its callback.
///
/// Secrets are redacted in `Debug` and never serialized:
///
/// ```
/// use marketingforce_crm::wecom::WeComApp;
///
/// let app: WeComApp = serde_json::from_str(r#"{"corp_id": "ww0123456789abcdef", "secret": "s3cr3t",
///     "callback_token": "tok", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}"#).unwrap();
/// app.validate().unwrap();
/// let shown = format!("{app:?}");
/// assert!(!shown.contains("s3cr3t") && !shown.contains("jWmYm7") && shown.contains("ww0123456789abcdef"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeComApp {
    /// The corp id (企业ID, `ww…`): 我的企业 → 企业信息.
    pub corp_id: String,
    /// The customer-contact secret (客户联系 → API → Secret), or the secret of a self-built app
    /// granted customer-contact permission.
    pub secret: Secret,
    /// The callback Token (客户联系 → API → 接收事件服务器).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_token: Option<Secret>,
    /// The callback EncodingAESKey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_aes_key: Option<Secret>,
    /// A label distinguishing several secrets of one corp in the token cache (default
    /// `contact`).
    #[serde(default = "default_label")]
    pub label: String,
}

fn default_label() -> String {
    "contact".into()
}

impl WeComApp {
    /// Credentials without a callback.
    pub fn new(corp_id: impl Into<String>, secret: impl Into<Secret>) -> WeComApp {
        WeComApp {
            corp_id: corp_id.into(),
            secret: secret.into(),
            callback_token: None,
            encoding_aes_key: None,
            label: default_label(),
        }
    }

    /// Set the callback Token and EncodingAESKey.
    #[must_use]
    pub fn callback(mut self, token: impl Into<Secret>, aes_key: impl Into<Secret>) -> WeComApp {
        self.callback_token = Some(token.into());
        self.encoding_aes_key = Some(aes_key.into());
        self
    }

    /// Check the credentials.
    ///
    /// # Errors
    /// A validation error on `corp_id`, `secret` or `label`, never showing a secret.
    pub fn validate(&self) -> Result<()> {
        let id = self.corp_id.trim();
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CrmError::validation(
                "corp_id",
                "must be the corp id (letters and digits, e.g. ww0123456789abcdef)",
            ));
        }
        if self.secret.is_blank() {
            return Err(CrmError::validation("secret", "must not be blank"));
        }
        if self.label.is_empty()
            || !self
                .label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(CrmError::validation(
                "label",
                "must be letters, digits, - or _",
            ));
        }
        Ok(())
    }
}
