//! The HTTP side: access tokens through the shared cache, the `errcode` envelope, retries with
//! backoff, forced token refresh, multipart uploads, and recording.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use marketingforce_core::adapters::cassette::{ObservedRequest, RecordedResponse, Recorder};
use marketingforce_core::adapters::secret::Secret;
use marketingforce_core::adapters::token::{
    AccessToken, IssuedToken, SharedTokenCache, TokenIssuer, TokenLookup,
};
use marketingforce_core::storage::Store;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::config::WeChatOaConfig;
use super::errors::{refusal, SYSTEM_BUSY, TOKEN_REFUSED};
use crate::error::{ContentError, Result};

/// A request body.
pub(crate) enum Body {
    None,
    Json(Value),
    /// One file in the form field `media`.
    File {
        filename: String,
        media_type: String,
        bytes: Vec<u8>,
    },
}

/// What the platform answered, before the `errcode` check.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

/// The credentials of one app.
#[derive(Clone)]
pub(crate) struct App {
    pub app_id: String,
    pub secret: Secret,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("app_id", &self.app_id)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Percent-encode a query value.
pub(crate) fn encode(s: &str) -> String {
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

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

/// The Official Account API client.
pub(crate) struct OaClient {
    pub code: String,
    pub config: WeChatOaConfig,
    http: reqwest::Client,
    tokens: SharedTokenCache,
    pub clock: Arc<dyn Clock>,
    recorder: Option<Arc<Recorder>>,
}

impl fmt::Debug for OaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OaClient")
            .field("code", &self.code)
            .field("base_url", &self.config.base_url)
            .field("recording", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}

/// Fetches tokens for one app (`GET cgi-bin/token`).
struct Issuer<'a> {
    client: &'a OaClient,
    app: &'a App,
}

impl fmt::Debug for Issuer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer").field("app", self.app).finish()
    }
}

/// Longest access-token lifetime believed (a day; the platform issues two hours): a longer
/// answer is used for a day, then refreshed, and no clock arithmetic overflows on it.
const MAX_TOKEN_SECONDS: i64 = 24 * 3600;

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

#[async_trait]
impl TokenIssuer for Issuer<'_> {
    fn cache_key(&self) -> String {
        format!("wechat-oa:{}", self.app.app_id)
    }

    async fn issue(&self) -> marketingforce_core::Result<IssuedToken> {
        let query = [
            ("grant_type", "client_credential"),
            ("appid", self.app.app_id.as_str()),
            ("secret", self.app.secret.expose()),
        ];
        let answer: TokenAnswer = self
            .client
            .exchange(
                self.app,
                "GET",
                "cgi-bin/token",
                &query,
                &Body::None,
                Resend::Transient,
            )
            .await
            .map_err(|e| match e {
                // At the token endpoint 40001 means the AppSecret is wrong, not the token.
                ContentError::ChannelApi {
                    channel,
                    code: 40001,
                    message,
                    ..
                } => ContentError::ChannelConfiguration {
                    channel,
                    setting: "app_secret".into(),
                    reason: format!(
                        "the platform refused the AppSecret of app {} (40001: {message})",
                        self.app.app_id
                    ),
                },
                other => other,
            })
            .map_err(marketingforce_core::Error::from)?;
        Ok(IssuedToken {
            token: Secret::new(answer.access_token),
            expires_in_seconds: answer.expires_in.min(MAX_TOKEN_SECONDS),
        })
    }
}

impl OaClient {
    pub fn new(
        config: WeChatOaConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        recorder: Option<Arc<Recorder>>,
    ) -> Result<OaClient> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(config.timeout())
            .build()
            .map_err(|e| {
                ContentError::validation("base_url", format!("cannot build HTTP client: {e}"))
            })?;
        Ok(OaClient {
            code: config.code.clone(),
            tokens: SharedTokenCache::new(store, clock.clone()),
            config,
            http,
            clock,
            recorder,
        })
    }

    /// A valid token for `app` (waiting while another process refreshes it).
    pub async fn token(
        &self,
        tenant: &TenantId,
        app: &App,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken> {
        let issuer = Issuer { client: self, app };
        // Another process's refresh takes one call; wait for it a bounded number of times.
        for _ in 0..40 {
            match self
                .tokens
                .lookup(tenant, &issuer, rejected)
                .await
                .map_err(ContentError::from_adapter)?
            {
                TokenLookup::Ready(t) => return Ok(t),
                TokenLookup::Busy { .. } => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        Err(marketingforce_core::Error::backend_message(
            format!("channel {}", self.code),
            true,
            format!(
                "the access token of app {} is being refreshed by another process; try again",
                app.app_id
            ),
        )
        .into())
    }

    /// Call `api` with the app's access token: a refused token is refreshed and the call made
    /// once more; transient failures are retried with backoff. Returns the decoded answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        app: &App,
        method: &str,
        api: &str,
        query: &[(&str, &str)],
        body: &Body,
    ) -> Result<T> {
        self.call_with(tenant, app, method, api, query, body, Resend::Transient)
            .await
    }

    /// [`call`](Self::call) for an API that must not take effect twice (`freepublish/submit`):
    /// sent again only when WeChat certainly did not act on it (it answered "system busy" or
    /// refused the token, HTTP 429, or the connection was never made). A failure after the
    /// request may have arrived (a timeout, a 5xx from a gateway, a connection lost) is
    /// returned at once: its outcome is unknown.
    pub async fn call_at_most_once<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        app: &App,
        method: &str,
        api: &str,
        query: &[(&str, &str)],
        body: &Body,
    ) -> Result<T> {
        self.call_with(tenant, app, method, api, query, body, Resend::OnlyUnsent)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn call_with<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        app: &App,
        method: &str,
        api: &str,
        query: &[(&str, &str)],
        body: &Body,
        resend: Resend,
    ) -> Result<T> {
        let mut token = self.token(tenant, app, None).await?;
        let mut refreshed = false;
        loop {
            let mut q: Vec<(&str, &str)> = vec![("access_token", token.secret())];
            q.extend_from_slice(query);
            match self.exchange::<T>(app, method, api, &q, body, resend).await {
                Err(ContentError::ChannelApi { code, .. })
                    if TOKEN_REFUSED.contains(&code) && !refreshed =>
                {
                    refreshed = true;
                    token = self.token(tenant, app, Some(&token)).await?;
                }
                other => return other,
            }
        }
    }

    /// One logical call without token handling: send, retry transient failures (as `resend`
    /// allows), check the envelope, decode.
    async fn exchange<T: DeserializeOwned>(
        &self,
        app: &App,
        method: &str,
        api: &str,
        query: &[(&str, &str)],
        body: &Body,
        resend: Resend,
    ) -> Result<T> {
        let mut retry = 0;
        loop {
            let sent = marketingforce_core::telemetry::http::request(
                "wechat-oa",
                method,
                &self.config.base_url,
                retry + 1,
                self.send(method, api, query, body),
                |r| r.as_ref().ok().map(|(status, _)| *status),
            );
            let answer = sent.await;
            // Whether WeChat certainly did not act on the request (so sending it again is
            // safe even for an API that must not take effect twice).
            let unsent = match &answer {
                Ok((status, _)) => *status == 429 || *status < 500,
                Err(e) => e.is_connect(),
            };
            let failure = match answer {
                Ok((status, bytes)) if status < 500 && status != 429 => {
                    match self.check(app, api, status, &bytes) {
                        Err(ContentError::ChannelApi { code, .. })
                            if code == SYSTEM_BUSY && retry < self.config.max_retries =>
                        {
                            format!("{api}: system busy (-1)")
                        }
                        Err(e) => return Err(e),
                        Ok(()) => {
                            return serde_json::from_slice(&bytes).map_err(|e| {
                                marketingforce_core::Error::Serialization {
                                    what: format!("answer of {api} from {}", self.code),
                                    reason: format!("{e} (in {:?})", excerpt(&bytes)),
                                }
                                .into()
                            })
                        }
                    }
                }
                Ok((status, bytes)) => format!("{api}: HTTP {status} {}", excerpt(&bytes)),
                Err(e)
                    if e.is_timeout()
                        && (retry >= self.config.max_retries || resend == Resend::OnlyUnsent) =>
                {
                    return Err(marketingforce_core::Error::Timeout {
                        operation: format!("{api} on {}", self.code),
                    }
                    .into())
                }
                // Without the URL: its query holds the access token (and the secret on token calls).
                Err(e) => format!("{api}: {}", e.without_url()),
            };
            if retry >= self.config.max_retries || (resend == Resend::OnlyUnsent && !unsent) {
                return Err(marketingforce_core::Error::backend_message(
                    format!("channel {}", self.code),
                    true,
                    failure,
                )
                .into());
            }
            let wait = self.config.backoff(retry);
            marketingforce_core::telemetry::http::retrying("wechat-oa", retry + 1, None, wait);
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// The `errcode` check of a 2xx–4xx answer.
    fn check(&self, app: &App, api: &str, status: u16, bytes: &[u8]) -> Result<()> {
        let envelope: Envelope = match serde_json::from_slice(bytes) {
            Ok(e) => e,
            Err(_) if status >= 400 => {
                return Err(marketingforce_core::Error::backend_message(
                    format!("channel {}", self.code),
                    false,
                    format!("{api}: HTTP {status} {}", excerpt(bytes)),
                )
                .into())
            }
            Err(e) => {
                return Err(marketingforce_core::Error::Serialization {
                    what: format!("answer of {api} from {}", self.code),
                    reason: format!("{e} (in {:?})", excerpt(bytes)),
                }
                .into())
            }
        };
        match envelope.errcode {
            None | Some(0) if status < 400 => Ok(()),
            None | Some(0) => Err(marketingforce_core::Error::backend_message(
                format!("channel {}", self.code),
                false,
                format!("{api}: HTTP {status} {}", excerpt(bytes)),
            )
            .into()),
            Some(code) => Err(refusal(
                &self.code,
                &app.app_id,
                api,
                code,
                envelope.errmsg.as_deref().unwrap_or(""),
                self.clock.now(),
            )),
        }
    }

    /// Send one HTTP request; record it when recording.
    async fn send(
        &self,
        method: &str,
        api: &str,
        query: &[(&str, &str)],
        body: &Body,
    ) -> std::result::Result<(u16, Vec<u8>), reqwest::Error> {
        let path = format!("/{api}");
        let qs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let url = format!(
            "{}{path}?{}",
            self.config.base_url.trim_end_matches('/'),
            qs.join("&")
        );
        let mut req = if method == "GET" {
            self.http.get(&url)
        } else {
            self.http.post(&url)
        };
        let mut observed = ObservedRequest::new(method, path.clone());
        for (k, v) in query {
            observed = observed.query(*k, *v);
        }
        match body {
            Body::None => {}
            Body::Json(v) => {
                observed = observed.json(v.clone());
                req = req
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(v).unwrap_or_default());
            }
            Body::File {
                filename,
                media_type,
                bytes,
            } => {
                let (boundary, form) = multipart(filename, media_type, bytes);
                req = req
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(form);
            }
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?.to_vec();
        if let Some(rec) = &self.recorder {
            let json = serde_json::from_slice(&bytes).ok();
            let response = RecordedResponse {
                status,
                headers: Default::default(),
                text: json
                    .is_none()
                    .then(|| String::from_utf8_lossy(&bytes).into_owned()),
                json,
            };
            // A recorder that cannot write loses the exchange; the call itself stands.
            let _ = rec.record(&observed, &response);
        }
        Ok((status, bytes))
    }
}

/// A `multipart/form-data` body with one file in the field `media`.
fn multipart(filename: &str, media_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let mut boundary = String::from("marketingforce-wechat-0");
    let mut n = 0u32;
    while bytes
        .windows(boundary.len())
        .any(|w| w == boundary.as_bytes())
    {
        n += 1;
        boundary = format!("marketingforce-wechat-{n}");
    }
    let safe_name: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let mut out = Vec::with_capacity(bytes.len() + 256);
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"{safe_name}\"; filelength={}\r\nContent-Type: {media_type}\r\n\r\n",
            bytes.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(bytes);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_boundaries_avoid_the_content() {
        let (b, body) = multipart("a\"b.jpg", "image/jpeg", b"xx marketingforce-wechat-0 yy");
        assert_eq!(b, "marketingforce-wechat-1");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("filename=\"ab.jpg\""), "{text}");
        assert_eq!(encode("a b/中"), "a%20b%2F%E4%B8%AD");
    }
}

/// Which failures a call is sent again after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Every transient failure (for reads, and writes WeChat applies once however often they
    /// arrive).
    Transient,
    /// Only failures WeChat certainly did not act on.
    OnlyUnsent,
}
