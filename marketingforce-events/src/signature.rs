//! Webhook signatures, Stripe style: HMAC-SHA256 over `"{timestamp}.{body}"` under the
//! endpoint's secret, sent as `Marketingforce-Signature: t=<unix seconds>,v1=<hex>`.
//!
//! The sender ([`WebhookSink`](crate::webhook::WebhookSink), feature `webhooks`) signs every
//! request when it sends it (so a retry has a fresh timestamp); the receiver checks the
//! signature and that the timestamp is within a tolerance window ([`WebhookVerifier`]), then
//! drops events it has already processed ([`Inbox`](crate::Inbox)). A captured request
//! replayed later fails the window; one replayed within it is caught by the inbox. During a
//! secret rotation the sender signs with both secrets (two `v1=` entries) and the receiver
//! accepts either.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use marketingforce_core::adapters::secret::Secret;
//! use marketingforce_events::signature::{signature_header, WebhookError, WebhookVerifier};
//!
//! let secret = Secret::new("whsec_5f0c9a1e7d2b4c8a9e3f6b1d0c7a2e4f");
//! let body = br#"{"id":"evt_0192f0c1e3d47a8b9c0d1e2f3a4b5c6d"}"#;
//! let sent_at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
//! let header = signature_header(&[secret.clone()], sent_at.timestamp(), body);
//! assert!(header.starts_with("t=1772442000,v1="));
//!
//! let verifier = WebhookVerifier::new(secret);
//! let a_minute_later = sent_at + chrono::Duration::seconds(60);
//! assert!(verifier.verify_signature(Some(&header), body, a_minute_later).is_ok());
//! // A tampered body, a stale request, a mangled header: each refused, saying why.
//! assert!(matches!(verifier.verify_signature(Some(&header), b"{}", a_minute_later),
//!     Err(WebhookError::BadSignature)));
//! let an_hour_later = sent_at + chrono::Duration::hours(1);
//! assert!(matches!(verifier.verify_signature(Some(&header), body, an_hour_later),
//!     Err(WebhookError::Expired { .. })));
//! assert!(matches!(verifier.verify_signature(Some("v1=abc"), body, a_minute_later),
//!     Err(WebhookError::MalformedHeader { .. })));
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use marketingforce_core::adapters::secret::Secret;
use marketingforce_core::error::{Classification, Classify, Error, ErrorKind};
use marketingforce_core::events::{EventEnvelope, EventId};
use sha2::Sha256;

/// The request header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Marketingforce-Signature";
/// The request header carrying the event's id.
pub const EVENT_ID_HEADER: &str = "Marketingforce-Event-Id";
/// The request header carrying the event's name.
pub const EVENT_NAME_HEADER: &str = "Marketingforce-Event-Name";
/// The request header (and NATS message header) carrying the sequence number of the event's
/// outbox entry within its tenant (the events of one commit share it; see [`LINE_HEADER`]).
pub const SEQUENCE_HEADER: &str = "Marketingforce-Sequence";
/// The request header (and NATS message header) carrying the event's line in its outbox entry
/// (0, 1, …): a tenant's events are in order of ([`SEQUENCE_HEADER`], line).
pub const LINE_HEADER: &str = "Marketingforce-Sequence-Line";
/// How old a signature may be by default (5 minutes, as Stripe).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The signature header is missing or not `t=<unix seconds>,v1=<64 hex digits>[,v1=…]`.
    #[error("the {SIGNATURE_HEADER} header is malformed: {reason}")]
    MalformedHeader {
        /// What is wrong with it.
        reason: String,
    },
    /// No `v1` signature matches the timestamp and body under the secrets: the request was
    /// not sent by the platform, or was altered.
    #[error("no signature in the {SIGNATURE_HEADER} header matches the body under the endpoint's secrets")]
    BadSignature,
    /// The signature is genuine but older than the tolerance: a stale or captured request.
    #[error("the signature is {age_seconds} s old; at most {tolerance_seconds} s are accepted")]
    Expired {
        /// How old the timestamp is.
        age_seconds: i64,
        /// The tolerance.
        tolerance_seconds: u64,
    },
    /// The signature is genuine but its timestamp is further in the future than the
    /// tolerance (a clock far off).
    #[error("the signature's timestamp is {ahead_seconds} s in the future; at most {tolerance_seconds} s are accepted")]
    FromTheFuture {
        /// How far ahead the timestamp is.
        ahead_seconds: i64,
        /// The tolerance.
        tolerance_seconds: u64,
    },
    /// The event was already processed: a redelivery, or a replayed request within the
    /// window. Answer 2xx (so the sender stops) and do nothing.
    #[error("event {event_id} was already processed (a redelivery or a replayed request); acknowledge it and do nothing")]
    Replayed {
        /// The event's id.
        event_id: EventId,
    },
    /// The signed body is not an event envelope.
    #[error("the body is not an event envelope: {reason}")]
    MalformedBody {
        /// Why it does not decode.
        reason: String,
    },
    /// A storage error of the inbox.
    #[error(transparent)]
    Core(#[from] Error),
}

impl WebhookError {
    fn classification(&self) -> Classification<'_> {
        match self {
            WebhookError::MalformedHeader { .. } => Classification {
                kind: ErrorKind::InvalidInput,
                code: "malformed_signature_header",
                field: Some(SIGNATURE_HEADER),
            },
            WebhookError::BadSignature => {
                Classification::new(ErrorKind::Unauthenticated, "bad_signature")
            }
            WebhookError::Expired { .. } => {
                Classification::new(ErrorKind::Unauthenticated, "signature_expired")
            }
            WebhookError::FromTheFuture { .. } => {
                Classification::new(ErrorKind::Unauthenticated, "signature_from_the_future")
            }
            WebhookError::Replayed { .. } => Classification::new(ErrorKind::Conflict, "replayed"),
            WebhookError::MalformedBody { .. } => Classification {
                kind: ErrorKind::InvalidInput,
                code: "malformed_body",
                field: Some("body"),
            },
            WebhookError::Core(e) => Classification::of(e),
        }
    }
}

impl Classify for WebhookError {
    fn kind(&self) -> ErrorKind {
        self.classification().kind
    }
    fn code(&self) -> &'static str {
        self.classification().code
    }
    fn field(&self) -> Option<&str> {
        self.classification().field
    }
    /// A replay is final (the event was processed); everything else follows its kind.
    fn is_retryable(&self) -> bool {
        !matches!(self, WebhookError::Replayed { .. }) && self.kind().is_retryable()
    }
}

fn mac(secret: &Secret, timestamp: i64) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC-SHA256 takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac
}

/// The `v1` signature (lowercase hex) of `body` sent at `timestamp` under `secret`.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret, timestamp);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The signature header's value: `t=<timestamp>,v1=<sig>` with one `v1` per secret (the
/// current one first, then any still being rotated out).
pub fn signature_header(secrets: &[Secret], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, timestamp, body));
    }
    header
}

/// A new random endpoint secret: `whsec_` and 64 hex digits (256 bits).
pub fn generate_secret() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(format!("whsec_{}", hex::encode(bytes)))
}

/// Checks webhook requests: the signature under one of the endpoint's secrets, and the
/// timestamp within the tolerance (default [`DEFAULT_TOLERANCE`]). Secrets never appear in
/// `Debug` output.
#[derive(Debug, Clone)]
pub struct WebhookVerifier {
    secrets: Vec<Secret>,
    tolerance: Duration,
}

/// A parsed signature header.
struct Parsed {
    timestamp: i64,
    signatures: Vec<Vec<u8>>,
}

fn parse(header: Option<&str>) -> Result<Parsed, WebhookError> {
    let malformed = |reason: &str| WebhookError::MalformedHeader {
        reason: reason.to_string(),
    };
    let header = header.ok_or_else(|| malformed("missing"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("every item must be key=value"))?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(malformed("t is given twice"));
                }
                let t = value
                    .parse::<i64>()
                    .map_err(|_| malformed("t must be whole unix seconds"))?;
                timestamp = Some(t);
            }
            "v1" => {
                let sig = hex::decode(value)
                    .ok()
                    .filter(|s| s.len() == 32)
                    .ok_or_else(|| malformed("v1 must be 64 hex digits"))?;
                signatures.push(sig);
            }
            // Other schemes (a future v2) are not ours to check.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| malformed("no t= timestamp"))?;
    if signatures.is_empty() {
        return Err(malformed("no v1= signature"));
    }
    Ok(Parsed {
        timestamp,
        signatures,
    })
}

impl WebhookVerifier {
    /// A verifier for requests signed with `secret`.
    pub fn new(secret: Secret) -> WebhookVerifier {
        WebhookVerifier {
            secrets: vec![secret],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Also accept signatures under `previous` (while the endpoint's secret is rotated).
    #[must_use]
    pub fn also_accept(mut self, previous: Secret) -> WebhookVerifier {
        self.secrets.push(previous);
        self
    }

    /// Accept timestamps at most `tolerance` away from now.
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> WebhookVerifier {
        self.tolerance = tolerance;
        self
    }

    /// Check `header` (the [`SIGNATURE_HEADER`] value, `None` when absent) against `body` at
    /// `now`; returns the signed timestamp.
    ///
    /// # Errors
    /// [`WebhookError::MalformedHeader`], [`WebhookError::BadSignature`],
    /// [`WebhookError::Expired`] or [`WebhookError::FromTheFuture`].
    pub fn verify_signature(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<i64, WebhookError> {
        let parsed = parse(header)?;
        let genuine = self.secrets.iter().any(|secret| {
            parsed.signatures.iter().any(|sig| {
                let mut mac = mac(secret, parsed.timestamp);
                mac.update(body);
                // Constant time.
                mac.verify_slice(sig).is_ok()
            })
        });
        if !genuine {
            return Err(WebhookError::BadSignature);
        }
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        // Each difference saturates on its own: negating one saturated the other way would
        // overflow.
        let age = now.timestamp().saturating_sub(parsed.timestamp);
        if age > tolerance {
            return Err(WebhookError::Expired {
                age_seconds: age,
                tolerance_seconds: self.tolerance.as_secs(),
            });
        }
        let ahead = parsed.timestamp.saturating_sub(now.timestamp());
        if ahead > tolerance {
            return Err(WebhookError::FromTheFuture {
                ahead_seconds: ahead,
                tolerance_seconds: self.tolerance.as_secs(),
            });
        }
        Ok(parsed.timestamp)
    }

    /// Check the signature ([`verify_signature`](WebhookVerifier::verify_signature)) and
    /// decode the body as an event envelope.
    ///
    /// # Errors
    /// The signature's errors, or [`WebhookError::MalformedBody`].
    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<EventEnvelope, WebhookError> {
        self.verify_signature(header, body, now)?;
        EventEnvelope::from_json(body).map_err(|e| WebhookError::MalformedBody {
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use marketingforce_core::adapters::secret::Secret;

    use super::{signature_header, WebhookError, WebhookVerifier};

    /// Genuine signatures with timestamps at the ends of the integer range, checked against
    /// clocks at the ends of time (and just before 1970): refused as expired or from the
    /// future. Before, `t=9223372036854775807` checked at any instant before 1970 overflowed
    /// negating its age ("attempt to negate with overflow"; a release build wrapped and
    /// accepted it).
    #[test]
    fn extreme_timestamps_are_refused_not_overflowed() {
        let secret = Secret::new("whsec_0123456789abcdef0123456789abcdef");
        let verifier = WebhookVerifier::new(secret.clone());
        let body = b"{}";
        let before_1970 = DateTime::<Utc>::from_timestamp(-1, 0).unwrap_or_default();
        for (t, now) in [
            (i64::MAX, before_1970),
            (i64::MAX, DateTime::<Utc>::MIN_UTC),
            (i64::MAX, Utc::now()),
            (i64::MIN, DateTime::<Utc>::MAX_UTC),
            (i64::MIN, Utc::now()),
        ] {
            let header = signature_header(std::slice::from_ref(&secret), t, body);
            match verifier.verify_signature(Some(&header), body, now) {
                Err(WebhookError::Expired { .. } | WebhookError::FromTheFuture { .. }) => {}
                other => panic!("t={t} at {now}: {other:?}"),
            }
        }
    }
}
