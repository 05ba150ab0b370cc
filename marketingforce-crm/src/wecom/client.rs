//! [`WeComClient`]: one corp's API with its access token shared through the store, the
//! `errcode` envelope, retries with backoff, forced token refresh, and recording.

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

use super::config::{WeComApp, WeComConfig};
use super::errors::{refusal, PLATFORM, TOKEN_REFUSED, TRANSIENT};
use crate::error::{CrmError, Result};

/// JSON fields holding customers' personal data, scrubbed from recordings by
/// [`WeComClient::recording`] (ids are kept so a recording replays; review it all the same).
pub const PERSONAL_FIELDS: &[&str] = &[
    "name",
    "avatar",
    "remark",
    "description",
    "remark_mobiles",
    "remark_corp_name",
    "unionid",
    "corp_name",
    "corp_full_name",
    "group_nickname",
    "position",
];

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

fn encode(s: &str) -> String {
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

/// Why an answer did not decode, without quoting it: answers hold the personal data of
/// contacts, and serde's messages quote the values they refuse.
fn undecodable(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "a value of an unexpected type or form",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// A corp's WeCom API, for one tenant.
pub struct WeComClient {
    tenant: TenantId,
    app: WeComApp,
    config: WeComConfig,
    http: reqwest::Client,
    tokens: SharedTokenCache,
    clock: Arc<dyn Clock>,
    recorder: Option<Arc<Recorder>>,
}

impl fmt::Debug for WeComClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeComClient")
            .field("tenant", &self.tenant)
            .field("app", &self.app)
            .field("base_url", &self.config.base_url)
            .field("recording", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}

struct Issuer<'a>(&'a WeComClient);

impl fmt::Debug for Issuer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Issuer").field(&self.0.app.corp_id).finish()
    }
}

#[async_trait]
impl TokenIssuer for Issuer<'_> {
    fn cache_key(&self) -> String {
        format!("wecom:{}:{}", self.0.app.corp_id, self.0.app.label)
    }

    async fn issue(&self) -> marketingforce_core::Result<IssuedToken> {
        let query = [
            ("corpid", self.0.app.corp_id.as_str()),
            ("corpsecret", self.0.app.secret.expose()),
        ];
        let answer: TokenAnswer = self
            .0
            .exchange("GET", "cgi-bin/gettoken", &query, None, Call::Token)
            .await
            .map_err(|e| match e {
                CrmError::Core(c) => c,
                other => marketingforce_core::Error::backend(PLATFORM, false, other),
            })?;
        Ok(IssuedToken {
            token: Secret::new(answer.access_token),
            expires_in_seconds: answer.expires_in,
        })
    }
}

/// Recover a typed CRM error passed through the token cache.
fn from_core(e: marketingforce_core::Error) -> CrmError {
    match e {
        marketingforce_core::Error::Backend {
            source: Some(source),
            backend,
            message,
            retryable,
        } => match source.downcast::<CrmError>() {
            Ok(crm) => *crm,
            Err(source) => CrmError::Core(marketingforce_core::Error::Backend {
                backend,
                message,
                retryable,
                source: Some(source),
            }),
        },
        other => CrmError::Core(other),
    }
}

impl WeComClient {
    /// The API of `app` for `tenant`; the access token is shared through `store`.
    ///
    /// # Errors
    /// Validation errors on the settings or the credentials.
    pub fn new(
        tenant: TenantId,
        app: WeComApp,
        config: WeComConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<WeComClient> {
        WeComClient::build(tenant, app, config, store, clock, None)
    }

    /// Like [`new`](Self::new), recording every exchange to `recorder` with secrets and the
    /// [`PERSONAL_FIELDS`] scrubbed.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn recording(
        tenant: TenantId,
        app: WeComApp,
        config: WeComConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        recorder: Recorder,
    ) -> Result<WeComClient> {
        let recorder = Arc::new(recorder.redact_fields(PERSONAL_FIELDS.iter().copied()));
        WeComClient::build(tenant, app, config, store, clock, Some(recorder))
    }

    fn build(
        tenant: TenantId,
        app: WeComApp,
        config: WeComConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        recorder: Option<Arc<Recorder>>,
    ) -> Result<WeComClient> {
        config.validate()?;
        app.validate()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(config.timeout())
            .build()
            .map_err(|e| {
                CrmError::validation("base_url", format!("cannot build HTTP client: {e}"))
            })?;
        Ok(WeComClient {
            tenant,
            app,
            config,
            http,
            tokens: SharedTokenCache::new(store, clock.clone()),
            clock,
            recorder,
        })
    }

    /// The tenant this client works for.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The corp's credentials (secrets redacted in `Debug`).
    pub fn app(&self) -> &WeComApp {
        &self.app
    }

    /// The transport settings.
    pub fn config(&self) -> &WeComConfig {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The recorder, when recording.
    pub fn recorder(&self) -> Option<&Arc<Recorder>> {
        self.recorder.as_ref()
    }

    /// Make sure an access token is at hand (fetched or refreshed now if need be), so that a
    /// call made right after does not fail on the token: for a caller that must tell "nothing
    /// was sent" from "the outcome is unknown".
    ///
    /// # Errors
    /// As [`get`](Self::get), for `gettoken`.
    pub(crate) async fn ready(&self) -> Result<()> {
        self.token(None).await.map(|_| ())
    }

    async fn token(&self, rejected: Option<&AccessToken>) -> Result<AccessToken> {
        let issuer = Issuer(self);
        for _ in 0..40 {
            match self
                .tokens
                .lookup(&self.tenant, &issuer, rejected)
                .await
                .map_err(from_core)?
            {
                TokenLookup::Ready(t) => return Ok(t),
                TokenLookup::Busy { .. } => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        Err(marketingforce_core::Error::backend_message(
            PLATFORM,
            true,
            format!(
                "the access token of corp {} is being refreshed by another process; try again",
                self.app.corp_id
            ),
        )
        .into())
    }

    /// Check that the credentials work from this server (fetches a token if none is shared).
    ///
    /// # Errors
    /// [`CrmError::PlatformConfiguration`] naming the setting (secret, corp id, trusted IP);
    /// transport errors.
    pub async fn check_credentials(&self) -> Result<()> {
        self.token(None).await.map(|_| ())
    }

    /// `GET` an API (token added; refused token refreshed once).
    ///
    /// # Errors
    /// Typed platform errors ([`CrmError::PlatformApi`], [`CrmError::RateLimited`],
    /// [`CrmError::PlatformConfiguration`]), malformed answers (serialization errors), transport
    /// failures after the retries.
    pub async fn get<T: DeserializeOwned>(&self, api: &str, query: &[(&str, &str)]) -> Result<T> {
        self.call("GET", api, query, None, Call::Idempotent).await
    }

    /// `POST` JSON to an API (token added; refused token refreshed once).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub async fn post<T: DeserializeOwned>(&self, api: &str, body: &Value) -> Result<T> {
        self.call("POST", api, &[], Some(body), Call::Idempotent)
            .await
    }

    /// `POST` JSON to an API whose effect must happen at most once (a mass-message task): an
    /// answer the platform may have acted on without telling (HTTP 5xx, a timeout, a dropped
    /// connection) is returned at once, never retried; refusals that say nothing was done
    /// (`-1`, 45009, 45033, HTTP 429, a connection never made) are retried as usual.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub(crate) async fn post_once<T: DeserializeOwned>(
        &self,
        api: &str,
        body: &Value,
    ) -> Result<T> {
        self.call("POST", api, &[], Some(body), Call::AtMostOnce)
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        api: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        kind: Call,
    ) -> Result<T> {
        let mut token = self.token(None).await?;
        let mut refreshed = false;
        loop {
            let mut q: Vec<(&str, &str)> = vec![("access_token", token.secret())];
            q.extend_from_slice(query);
            match self.exchange::<T>(method, api, &q, body, kind).await {
                Err(CrmError::PlatformApi { code, .. })
                    if TOKEN_REFUSED.contains(&code) && !refreshed =>
                {
                    refreshed = true;
                    token = self.token(Some(&token)).await?;
                }
                other => return other,
            }
        }
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        method: &str,
        api: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        kind: Call,
    ) -> Result<T> {
        let token_call = kind == Call::Token;
        let mut retry = 0;
        loop {
            let sent = marketingforce_core::telemetry::http::request(
                PLATFORM,
                method,
                &self.config.base_url,
                retry + 1,
                self.send(method, api, query, body),
                |r| r.as_ref().ok().map(|(status, _)| *status),
            );
            let failure = match sent.await {
                Ok((status, bytes)) if status < 500 && status != 429 => {
                    match self.check(api, status, &bytes, token_call) {
                        Err(e) if retry < self.config.max_retries && is_transient(&e) => {
                            e.to_string()
                        }
                        Err(e) => return Err(e),
                        Ok(()) => {
                            return serde_json::from_slice(&bytes).map_err(|e| {
                                marketingforce_core::Error::Serialization {
                                    what: format!("answer of {api} from {PLATFORM}"),
                                    reason: undecodable(&e),
                                }
                                .into()
                            })
                        }
                    }
                }
                Ok((status, bytes)) if status >= 500 && kind == Call::AtMostOnce => {
                    return Err(unanswered(format!(
                        "{api}: HTTP {status} {}",
                        excerpt(&bytes)
                    )))
                }
                Ok((status, bytes)) => format!("{api}: HTTP {status} {}", excerpt(&bytes)),
                Err(e) if e.is_timeout() && kind == Call::AtMostOnce => {
                    return Err(marketingforce_core::Error::Timeout {
                        operation: format!("{api} on {PLATFORM}"),
                    }
                    .into())
                }
                Err(e) if !e.is_connect() && kind == Call::AtMostOnce => {
                    return Err(unanswered(format!("{api}: {}", e.without_url())))
                }
                Err(e) if e.is_timeout() && retry >= self.config.max_retries => {
                    return Err(marketingforce_core::Error::Timeout {
                        operation: format!("{api} on {PLATFORM}"),
                    }
                    .into())
                }
                // Without the URL: its query holds the access token (and the secret on token calls).
                Err(e) => format!("{api}: {}", e.without_url()),
            };
            if retry >= self.config.max_retries {
                return Err(
                    marketingforce_core::Error::backend_message(PLATFORM, true, failure).into(),
                );
            }
            let wait = self.config.backoff(retry);
            marketingforce_core::telemetry::http::retrying(PLATFORM, retry + 1, None, wait);
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    fn check(&self, api: &str, status: u16, bytes: &[u8], token_call: bool) -> Result<()> {
        let envelope: Envelope = match serde_json::from_slice(bytes) {
            Ok(e) => e,
            Err(_) if status >= 400 => {
                return Err(marketingforce_core::Error::backend_message(
                    PLATFORM,
                    false,
                    format!("{api}: HTTP {status} {}", excerpt(bytes)),
                )
                .into())
            }
            Err(e) => {
                return Err(marketingforce_core::Error::Serialization {
                    what: format!("answer of {api} from {PLATFORM}"),
                    reason: undecodable(&e),
                }
                .into())
            }
        };
        match envelope.errcode {
            None | Some(0) if status < 400 => Ok(()),
            None | Some(0) => Err(marketingforce_core::Error::backend_message(
                PLATFORM,
                false,
                format!("{api}: HTTP {status} {}", excerpt(bytes)),
            )
            .into()),
            Some(code) => Err(refusal(
                &self.app.corp_id,
                api,
                code,
                envelope.errmsg.as_deref().unwrap_or(""),
                token_call,
                self.clock.now(),
            )),
        }
    }

    async fn send(
        &self,
        method: &str,
        api: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
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
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).unwrap_or_default());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?.to_vec();
        if let Some(rec) = &self.recorder {
            let mut observed = ObservedRequest::new(method, path);
            for (k, v) in query {
                observed = observed.query(*k, *v);
            }
            if let Some(b) = body {
                observed = observed.json(b.clone());
            }
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

/// How a call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `gettoken` (where 40001 means a wrong secret); repeatable.
    Token,
    /// Repeatable: a second delivery does no harm.
    Idempotent,
    /// Never repeated after the platform may have acted on it.
    AtMostOnce,
}

/// A failure after which the platform may or may not have acted (retryable by the caller).
fn unanswered(failure: String) -> CrmError {
    marketingforce_core::Error::backend_message(PLATFORM, true, failure).into()
}

fn is_transient(e: &CrmError) -> bool {
    match e {
        CrmError::PlatformApi { code, .. } | CrmError::RateLimited { code, .. } => {
            TRANSIENT.contains(code)
        }
        _ => false,
    }
}
