//! [`Transport`]: how a request reaches the platform, so that the same connector runs over
//! HTTP ([`HttpTransport`]), records a session ([`RecordingTransport`](super::record::RecordingTransport))
//! or replays one ([`ReplayTransport`](super::record::ReplayTransport)).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::secret::Secret;

/// The HTTP method of a call (the Marketing API uses GET for reads, POST for writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum HttpMethod {
    /// `GET`, parameters in the query string (arrays and objects as JSON text).
    #[serde(rename = "GET")]
    Get,
    /// `POST`, a JSON body.
    #[serde(rename = "POST")]
    Post,
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        })
    }
}

/// A request on its way to the platform.
#[derive(Clone)]
pub struct WireRequest {
    /// Method.
    pub method: HttpMethod,
    /// Path below the base URL, e.g. `2/report/campaign/get/`.
    pub path: String,
    /// Query parameters in order.
    pub query: Vec<(String, String)>,
    /// JSON body of a POST.
    pub body: Option<String>,
    /// The `Access-Token` header (none for the OAuth endpoints).
    pub access_token: Option<Secret>,
}

impl fmt::Debug for WireRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body may hold the app secret or a refresh token (OAuth calls): only its size.
        f.debug_struct("WireRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("body_bytes", &self.body.as_ref().map(String::len))
            .field("access_token", &self.access_token)
            .finish()
    }
}

/// The platform's answer, before the envelope is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer in time: the platform may or may not have acted.
    #[error("no answer within the timeout")]
    Timeout,
    /// The request never left (connection refused, DNS): safe to retry.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The body exceeded the size limit.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Anything else (the connection broke mid-answer, a replay had no matching entry…).
    #[error("{0}")]
    Other(String),
}

/// Sends a request and returns the answer. Object-safe: `Arc<dyn Transport>`.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Send `request`.
    ///
    /// # Errors
    /// A [`TransportError`] when there is no answer.
    async fn send(&self, request: &WireRequest) -> Result<WireResponse, TransportError>;
}

/// The real transport: `reqwest` to `base_url`, with a timeout and a body-size limit.
///
/// `reqwest` is built here without TLS; for the production `https://` gateway enable
/// `reqwest/rustls` in your own manifest (see the crate's feature notes).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base_url: String,
    client: reqwest::Client,
    max_body: u64,
}

impl HttpTransport {
    /// A transport to `base_url` (ending in `/`).
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(
        base_url: &str,
        timeout: Duration,
        max_body: u64,
    ) -> Result<HttpTransport, TransportError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| TransportError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpTransport {
            base_url: base_url.to_string(),
            client,
            max_body,
        })
    }
}

fn classify(e: &reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        // Without the URL: it carries the query string.
        TransportError::Connect(without_url(e))
    } else {
        TransportError::Other(without_url(e))
    }
}

/// The error text with the URL (and so the query string) left out.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(&self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = match request.method {
            HttpMethod::Get => self.client.get(url),
            HttpMethod::Post => self.client.post(url),
        };
        builder = builder.query(&request.query);
        if let Some(token) = &request.access_token {
            builder = builder.header("Access-Token", token.expose());
        }
        if let Some(body) = &request.body {
            builder = builder
                .header("Content-Type", "application/json")
                .body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        if response.content_length().is_some_and(|n| n > self.max_body) {
            return Err(TransportError::TooLarge {
                limit: self.max_body,
            });
        }
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if (bytes.len() + chunk.len()) as u64 > self.max_body {
                return Err(TransportError::TooLarge {
                    limit: self.max_body,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = String::from_utf8(bytes)
            .map_err(|_| TransportError::Other("the response body is not UTF-8".into()))?;
        Ok(WireResponse { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token_and_the_body() {
        let r = WireRequest {
            method: HttpMethod::Post,
            path: "oauth2/refresh_token/".into(),
            query: vec![],
            body: Some(r#"{"secret":"app-secret","refresh_token":"rt"}"#.into()),
            access_token: Some(Secret::new("at-123")),
        };
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("app-secret") && !shown.contains("at-123"),
            "{shown}"
        );
        assert!(shown.contains("oauth2/refresh_token/"));
    }
}
