//! An HTTP content-channel adapter (feature `http-channel`) for platforms (or an in-house
//! gateway) that expose this JSON protocol:
//!
//! | call | request | answer |
//! |---|---|---|
//! | account status | `GET {base}/v1/accounts/{account}` | [`AccountStatus`] |
//! | publish | `POST {base}/v1/publications` with [`PublishRequest`] and `Idempotency-Key` | 200/201 [`PublishReceipt`]; 422 `{"code","reason"}` = rejected |
//! | stats | `GET {base}/v1/accounts/{account}/publications/{id}/stats` | [`ContentStats`] |
//! | inquiries | `GET {base}/v1/accounts/{account}/inquiries[?since=RFC3339]` | `[ChannelInquiry]` |
//!
//! Every request carries `Authorization: Bearer {token}` and `X-Tenant: {tenant}`. 401/403 and
//! 404 are not retried; 429 and 5xx are retried with backoff (publishing too: the idempotency
//! key makes it safe); timeouts become [`marketingforce_core::Error::Timeout`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketingforce_core::adapters::channel::{
    AccountStatus, ChannelInquiry, ContentChannel, ContentStats, PublishOutcome, PublishReceipt,
    PublishRequest,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::Error as CoreError;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{ContentError, Result};

/// Settings of an [`HttpChannel`].
#[derive(Debug, Clone)]
pub struct HttpChannelConfig {
    /// Channel code (as in the catalogue).
    pub code: String,
    /// Base URL (`https://api.platform.example`).
    pub base_url: String,
    /// Bearer token.
    pub token: String,
    /// Time for one call.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff (doubles per retry).
    pub backoff: Duration,
}

impl HttpChannelConfig {
    /// Settings with 10 s calls and 3 retries from 200 ms.
    pub fn new(
        code: impl Into<String>,
        base_url: impl Into<String>,
        token: impl Into<String>,
    ) -> HttpChannelConfig {
        HttpChannelConfig {
            code: code.into(),
            base_url: base_url.into(),
            token: token.into(),
            timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// A content channel reached over HTTP.
#[derive(Debug, Clone)]
pub struct HttpChannel {
    config: HttpChannelConfig,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Rejection {
    #[serde(default)]
    code: String,
    #[serde(default)]
    reason: String,
}

/// Why an answer is not the JSON expected, without quoting it: serde's own messages quote the
/// offending value, and answers (inquiries) carry personal data.
fn shape_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "a value of the wrong type, or a field missing",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl HttpChannel {
    /// A channel for `config`.
    ///
    /// # Errors
    /// A validation error on `base_url`, `code` or `token`.
    pub fn new(config: HttpChannelConfig) -> Result<HttpChannel> {
        crate::text::check_url("base_url", &config.base_url)?;
        if config.code.trim().is_empty() {
            return Err(ContentError::validation("code", "must not be blank"));
        }
        if config.token.trim().is_empty() {
            return Err(ContentError::validation("token", "must not be blank"));
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(config.timeout)
            .build()
            .map_err(|e| {
                ContentError::validation("base_url", format!("cannot build HTTP client: {e}"))
            })?;
        Ok(HttpChannel { config, client })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn backend(&self) -> String {
        format!("channel {}", self.config.code)
    }

    /// Send with retries; returns status and body of the final answer.
    async fn call(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> marketingforce_core::Result<(u16, Vec<u8>)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = build().bearer_auth(&self.config.token);
            let (method, url) = request
                .try_clone()
                .and_then(|r| r.build().ok())
                .map(|r| (r.method().to_string(), r.url().to_string()))
                .unwrap_or_default();
            let result = marketingforce_core::telemetry::http::request(
                &self.config.code,
                &method,
                &url,
                attempt,
                request.send(),
                |r| r.as_ref().ok().map(|r| r.status().as_u16()),
            )
            .await;
            let retryable_failure = match result {
                Err(e) if e.is_timeout() => CoreError::Timeout {
                    operation: format!("{what} on {}", self.config.code),
                },
                Err(e) => CoreError::backend(self.backend(), true, e),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                    if status == 429 || status >= 500 {
                        CoreError::backend_message(
                            self.backend(),
                            true,
                            format!(
                                "{what}: {status} {}",
                                String::from_utf8_lossy(&body)
                                    .chars()
                                    .take(200)
                                    .collect::<String>()
                            ),
                        )
                    } else {
                        return Ok((status, body));
                    }
                }
            };
            if attempt > self.config.max_retries {
                return Err(retryable_failure);
            }
            let wait = self
                .config
                .backoff
                .saturating_mul(1 << (attempt - 1).min(10));
            marketingforce_core::telemetry::http::retrying(&self.config.code, attempt, None, wait);
            tokio::time::sleep(wait).await;
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        what: &str,
        status: u16,
        body: &[u8],
        id: &str,
    ) -> marketingforce_core::Result<T> {
        match status {
            200..=299 => serde_json::from_slice(body).map_err(|e| CoreError::Serialization {
                what: format!("{} answer to {what}", self.config.code),
                reason: shape_error(&e),
            }),
            404 => Err(CoreError::not_found(
                format!("{} {what}", self.config.code),
                id,
            )),
            401 | 403 => Err(CoreError::backend_message(
                self.backend(),
                false,
                format!("{what}: credentials refused ({status})"),
            )),
            _ => Err(CoreError::backend_message(
                self.backend(),
                false,
                format!(
                    "{what}: {status} {}",
                    String::from_utf8_lossy(body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
            )),
        }
    }
}

#[async_trait]
impl ContentChannel for HttpChannel {
    fn code(&self) -> &str {
        &self.config.code
    }

    async fn account_status(
        &self,
        tenant: &TenantId,
        account: &str,
    ) -> marketingforce_core::Result<AccountStatus> {
        let url = self.url(&format!("/v1/accounts/{}", path_segment(account)));
        let (status, body) = self
            .call("account status", || {
                self.client.get(&url).header("x-tenant", tenant.to_string())
            })
            .await?;
        self.decode("account", status, &body, account)
    }

    async fn publish(&self, req: &PublishRequest) -> marketingforce_core::Result<PublishOutcome> {
        let url = self.url("/v1/publications");
        let body = serde_json::to_vec(req)?;
        let (status, answer) = self
            .call("publish", || {
                self.client
                    .post(&url)
                    .header("x-tenant", req.tenant.to_string())
                    .header("idempotency-key", &req.idempotency_key)
                    .header("content-type", "application/json")
                    .body(body.clone())
            })
            .await?;
        if status == 422 {
            let r: Rejection = serde_json::from_slice(&answer).unwrap_or(Rejection {
                code: "rejected".into(),
                reason: String::from_utf8_lossy(&answer).into_owned(),
            });
            return Ok(PublishOutcome::Rejected {
                code: r.code,
                reason: r.reason,
            });
        }
        let receipt: PublishReceipt =
            self.decode("publication", status, &answer, &req.content_id)?;
        Ok(PublishOutcome::Published(receipt))
    }

    async fn stats(
        &self,
        tenant: &TenantId,
        account: &str,
        external_id: &str,
    ) -> marketingforce_core::Result<ContentStats> {
        let url = self.url(&format!(
            "/v1/accounts/{}/publications/{}/stats",
            path_segment(account),
            path_segment(external_id)
        ));
        let (status, body) = self
            .call("stats", || {
                self.client.get(&url).header("x-tenant", tenant.to_string())
            })
            .await?;
        self.decode("publication", status, &body, external_id)
    }

    async fn inquiries(
        &self,
        tenant: &TenantId,
        account: &str,
        since: Option<DateTime<Utc>>,
    ) -> marketingforce_core::Result<Vec<ChannelInquiry>> {
        let mut url = self.url(&format!("/v1/accounts/{}/inquiries", path_segment(account)));
        if let Some(s) = since {
            url.push_str(&format!("?since={}", path_segment(&s.to_rfc3339())));
        }
        let (status, body) = self
            .call("inquiries", || {
                self.client.get(&url).header("x-tenant", tenant.to_string())
            })
            .await?;
        self.decode("inquiries", status, &body, account)
    }
}
