//! Signed page-view tokens: the server issues one when a page view starts; every later beacon
//! of that page view (and the form posted from it) presents it. The token is the claims as
//! base64url JSON, a dot, and their HMAC-SHA256 under the deployment's [`SiteKey`], so any
//! process of the deployment verifies it without a store round trip, and a client can neither
//! forge one nor report on another page view.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use crate::attribution::{Landing, TrafficSource};
use crate::error::Refusal;
use crate::keys::SiteKey;
use crate::render::Variant;

const DOMAIN: &str = "mf.sites.token.v1";
/// The longest token accepted.
pub const MAX_TOKEN_BYTES: usize = 3072;

/// What a token vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The tenant owning the site.
    pub tenant: TenantId,
    /// The site.
    pub site: String,
    /// The session.
    pub session: String,
    /// This page view.
    pub pageview: String,
    /// The visitor (the beacon's random id).
    pub visitor: String,
    /// The page key.
    pub page: String,
    /// PC or mobile.
    pub variant: Variant,
    /// When the session started.
    pub session_start: DateTime<Utc>,
    /// When this page view started.
    pub at: DateTime<Utc>,
    /// The session's landing attribution.
    pub landing: Landing,
    /// The session's source.
    pub source: TrafficSource,
    /// The session's region, when located.
    pub region: Option<String>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// Sign `claims` into a token.
pub fn issue(key: &SiteKey, claims: &Claims) -> String {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let tag = key.sign(DOMAIN, &json);
    format!("{}.{}", b64().encode(&json), b64().encode(tag))
}

/// Verify a token and read its claims; refuse tokens older than `max_age` since their page
/// view started (or from the future beyond a minute of clock skew).
///
/// # Errors
/// The [`Refusal`]: oversized, malformed, bad signature, expired.
pub fn verify(
    key: &SiteKey,
    token: &str,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
) -> Result<Claims, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Oversized);
    }
    let (body, tag) = token.split_once('.').ok_or(Refusal::Malformed)?;
    let json = b64().decode(body).map_err(|_| Refusal::Malformed)?;
    let tag = b64().decode(tag).map_err(|_| Refusal::Malformed)?;
    if !key.verify(DOMAIN, &json, &tag) {
        return Err(Refusal::BadSignature);
    }
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| Refusal::Malformed)?;
    if claims.at > now + chrono::Duration::minutes(1) || now - claims.at > max_age {
        return Err(Refusal::Expired);
    }
    Ok(claims)
}
