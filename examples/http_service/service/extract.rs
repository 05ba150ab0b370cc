//! Extractors that turn bad requests into [`Problem`]s: the `Idempotency-Key` header, JSON
//! bodies (size, media type, syntax, field paths) and query strings.

use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::problem::Problem;
use super::state::AppState;

/// The header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest key accepted.
/// The SDK's own limit ([`IdempotencyKey::MAX_LEN`](marketingforce::core::IdempotencyKey::MAX_LEN)):
/// the reply is recorded under the key itself.
pub const MAX_KEY_LEN: usize = marketingforce::core::IdempotencyKey::MAX_LEN;

/// The `Idempotency-Key` of a mutating request: 1–128 visible ASCII characters, given bare or
/// as a structured-field string (`"…"`). Missing or unusable keys are 400.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Check a header value.
    ///
    /// # Errors
    /// 400 `invalid-idempotency-key` saying what is wrong.
    pub fn parse(raw: &[u8]) -> Result<IdempotencyKey, Problem> {
        let text = std::str::from_utf8(raw)
            .map_err(|_| Problem::invalid_idempotency_key("the key must be ASCII"))?
            .trim();
        let key = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text);
        if key.is_empty() {
            return Err(Problem::invalid_idempotency_key("the key is empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(Problem::invalid_idempotency_key(format!(
                "the key has {} characters, at most {MAX_KEY_LEN} are allowed",
                key.len()
            )));
        }
        if let Some(c) = key.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(Problem::invalid_idempotency_key(format!(
                "the key contains {c:?}; use visible ASCII characters"
            )));
        }
        Ok(IdempotencyKey(key.to_string()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let mut values = parts.headers.get_all(IDEMPOTENCY_KEY).iter();
        let first = values.next().ok_or_else(Problem::missing_idempotency_key)?;
        if values.next().is_some() {
            return Err(Problem::invalid_idempotency_key(
                "the header was given more than once",
            ));
        }
        IdempotencyKey::parse(first.as_bytes())
    }
}

/// A JSON body decoded into `T`: at most the configured size (413), `application/json` (415),
/// well-formed (400), and with values `T` accepts (422 naming the field path).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Like [`JsonBody`], but an empty body (with or without a content type) is `T::default()`.
#[derive(Debug)]
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Problem> {
        let (media, bytes) = read_body(req, state).await?;
        if bytes.is_empty() {
            return Err(Problem::malformed_json("the request needs a JSON body"));
        }
        check_media_type(media.as_deref())?;
        decode(&bytes).map(JsonBody)
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for JsonOrEmpty<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Problem> {
        let (media, bytes) = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(JsonOrEmpty(T::default()));
        }
        check_media_type(media.as_deref())?;
        decode(&bytes).map(JsonOrEmpty)
    }
}

async fn read_body(req: Request, state: &AppState) -> Result<(Option<String>, Bytes), Problem> {
    let media = req
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let bytes = Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::too_large(state.config().body_limit)
        } else {
            Problem::malformed_json(format!("the body could not be read: {}", r.body_text()))
        }
    })?;
    Ok((media, bytes))
}

fn check_media_type(media: Option<&str>) -> Result<(), Problem> {
    let Some(media) = media else {
        return Err(Problem::unsupported_media_type("no Content-Type"));
    };
    let essence = media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(Problem::unsupported_media_type(media))
    }
}

/// Decode a JSON document into `T`, classifying failures: syntax and truncation are 400,
/// values `T` does not accept are 422 with the field path (missing and unknown fields are
/// named in the path too).
///
/// # Errors
/// The problem.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => Problem::validation(field_path(&path, &inner), message(&inner)),
            Category::Syntax | Category::Eof | Category::Io => {
                Problem::malformed_json(inner.to_string())
            }
        }
    })?;
    de.end()
        .map_err(|e| Problem::malformed_json(e.to_string()))?;
    Ok(value)
}

/// The error message without serde_json's " at line L column C" suffix, and without the
/// value it refused: `invalid type: string "138…", expected u32` becomes `invalid type:
/// string, expected u32` (a value may be personal data, or megabytes long).
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    without_value(text)
}

/// `text` with the value between serde's "invalid type: " / "invalid value: " / "unknown
/// variant " and ", expected" left out (its kind kept: `string`, `integer`, …).
fn without_value(text: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(rest) = text.strip_prefix(prefix) else {
            continue;
        };
        let Some(end) = rest.find(", expected") else {
            continue;
        };
        let refused = &rest[..end];
        let kind = refused
            .find(['`', '"'])
            .map_or(refused, |quote| refused[..quote].trim_end());
        let tail = &rest[end..];
        return if kind.is_empty() {
            format!("{}{tail}", prefix.trim_end())
        } else {
            format!("{prefix}{kind}{tail}")
        };
    }
    text.to_string()
}

/// The path of the offending field: serde_path_to_error's path (which already ends with an
/// unknown field's name), completed with the field a "missing field `x`" message names.
fn field_path(path: &str, e: &serde_json::Error) -> String {
    let parent = if path == "." { "" } else { path };
    let text = e.to_string();
    let named = text
        .split_once("missing field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_string());
    match (parent, named) {
        ("", Some(n)) => n,
        ("", None) => "body".to_string(),
        (p, Some(n)) => format!("{p}.{n}"),
        (p, None) => p.to_string(),
    }
}

/// Query-string parameters decoded into `T`; failures are 422 naming the parameter.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(t)| Params(t))
            .map_err(|r| {
                let text = r.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_string();
                let named = detail
                    .split_once(':')
                    .map(|(f, reason)| (f.trim().to_string(), reason.trim()))
                    .filter(|(f, _)| !f.contains(' '));
                match named {
                    Some((field, reason)) => {
                        let reason = without_value(reason);
                        Problem::validation(field.clone(), format!("{field}: {reason}"))
                    }
                    None => Problem::validation("query", without_value(&detail)),
                }
            })
    }
}
