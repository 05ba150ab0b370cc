//! [`IdempotencyKey`]: the one type every mutating call of the SDK takes, last, to make a retry
//! safe.
//!
//! A client that does not know whether its call took effect (a timeout, a dropped connection,
//! an [`OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown) answer) sends the same call again
//! with the same key: if the first call committed, the service answers with its result and
//! changes nothing; if it did not, the call runs now. Reusing a key for a *different* request is
//! refused ([`Error::IdempotencyMismatch`]).
//!
//! ## The scoping rule
//!
//! **A key is unique within (tenant, operation).** The same key sent to two operations names two
//! different commands (`crm.capture` and `ads.top_up` never see each other's keys), and two
//! tenants never share a key. Services store the claim under [`IdempotencyKey::scoped`]`(operation)`
//! = `"{operation}/{key}"` in the tenant's store, where the operation is a storage name
//! ([`check_name`](crate::storage::check_name): `crm.capture`, `modules.subscribe`,
//! `ads.top_up`). [`Idempotent`](crate::storage::Idempotent) applies the rule for you.
//!
//! A command that performs several idempotent sub-steps (a settlement that posts one ledger
//! transfer per account) gives each step a key [derived](IdempotencyKey::derive) from its own.
//!
//! ```
//! use marketingforce_core::idempotency::IdempotencyKey;
//!
//! let key: IdempotencyKey = "order-2026-11-0042".parse().unwrap();
//! assert_eq!(key.scoped("ads.top_up"), "ads.top_up/order-2026-11-0042");
//! // Sub-steps of one command: deterministic, distinct, still valid keys.
//! assert_eq!(key.derive("refund").as_str(), "order-2026-11-0042~refund");
//! assert_ne!(key.derive("line-1"), key.derive("line-2"));
//! // Keys are visible ASCII, 1–128 bytes.
//! assert!(IdempotencyKey::new("has a space").is_err());
//! assert!(IdempotencyKey::new("").is_err());
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A validated idempotency key: 1–[`MAX_LEN`](IdempotencyKey::MAX_LEN) bytes of visible ASCII
/// (`!` to `~`, no spaces or control characters). Cheap to clone. See the
/// [module docs](self) for the scoping rule.
///
/// Serialised as its string; deserialisation validates.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(Arc<str>);

/// Separator between a key and the part of a [derived](IdempotencyKey::derive) key.
const DERIVE_SEPARATOR: char = '~';
/// How many characters of a rejected key an error message shows.
const SHOWN_PREFIX: usize = 16;
/// Hex digits of the digest in a hashed derived key (160 bits).
const DERIVED_DIGEST_HEX: usize = 40;

impl IdempotencyKey {
    /// The longest key, in bytes.
    pub const MAX_LEN: usize = 128;

    /// A key from client input.
    ///
    /// # Errors
    /// A validation error on `idempotency_key` that says why (empty, too long, a character
    /// outside visible ASCII and where), showing at most a short prefix of the input.
    pub fn new(key: impl Into<String>) -> Result<IdempotencyKey> {
        let key = key.into();
        check(&key)?;
        Ok(IdempotencyKey(Arc::from(key)))
    }

    /// A key from a string literal, for tests, examples and fixed keys written in code —
    /// like `http`'s `HeaderValue::from_static`.
    ///
    /// ```
    /// use marketingforce_core::IdempotencyKey;
    ///
    /// let key = IdempotencyKey::from_static("order-2026-11-0042");
    /// assert_eq!(key.as_str(), "order-2026-11-0042");
    /// ```
    ///
    /// # Panics
    /// When `key` is not a valid key (empty, longer than [`MAX_LEN`](Self::MAX_LEN), or not
    /// visible ASCII). Never call it on input: use [`IdempotencyKey::new`], which returns the
    /// validation error instead.
    #[track_caller]
    pub fn from_static(key: &'static str) -> IdempotencyKey {
        match check(key) {
            Ok(()) => IdempotencyKey(Arc::from(key)),
            Err(e) => panic!("IdempotencyKey::from_static({key:?}): {e}"),
        }
    }

    /// The key as sent by the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The claim key services store for this key in `operation`: `"{operation}/{key}"`. The
    /// one scoping rule of the SDK — a key is unique within (tenant, operation) — lives here.
    ///
    /// `operation` should be a storage name ([`check_name`](crate::storage::check_name), e.g.
    /// `crm.capture`); [`Idempotent::new`](crate::storage::Idempotent::new) checks it. Since a
    /// storage name has no `/`, the claim key names exactly one (operation, key) pair.
    pub fn scoped(&self, operation: &str) -> String {
        let mut out = String::with_capacity(operation.len() + 1 + self.0.len());
        out.push_str(operation);
        out.push('/');
        out.push_str(&self.0);
        out
    }

    /// The key of a sub-step `part` of this key's command (`"refund"`, `"account-3"`):
    /// deterministic, so a retried command derives the same sub-keys, and distinct for distinct
    /// parts.
    ///
    /// The result is readable, `"{key}~{part}"`, when `part` is 1–64 characters of
    /// `[A-Za-z0-9_.:-]` and the whole fits in [`MAX_LEN`](Self::MAX_LEN); otherwise it is a
    /// prefix of the key followed by `~!` and 40 hex digits of SHA-256 over the key and the
    /// part. Two different (key, part) pairs never give the same derived key (short of a hash
    /// collision). A client can still *send* a key that equals some derived key; within its own
    /// tenant that only confuses its own commands.
    pub fn derive(&self, part: &str) -> IdempotencyKey {
        let readable = (1..=64).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
            && self.0.len() + 1 + part.len() <= Self::MAX_LEN;
        if readable {
            return IdempotencyKey(Arc::from(format!("{}{DERIVE_SEPARATOR}{part}", self.0)));
        }
        let mut hasher = Sha256::new();
        hasher.update((self.0.len() as u64).to_be_bytes());
        hasher.update(self.0.as_bytes());
        hasher.update(part.as_bytes());
        let digest = hasher.finalize();
        let hex: String = digest
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .take(DERIVED_DIGEST_HEX)
            .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0'))
            .collect();
        // Keys are ASCII, so any byte index is a character boundary.
        let keep = self.0.len().min(Self::MAX_LEN - 2 - DERIVED_DIGEST_HEX);
        IdempotencyKey(Arc::from(format!(
            "{}{DERIVE_SEPARATOR}!{hex}",
            &self.0[..keep]
        )))
    }
}

fn check(key: &str) -> Result<()> {
    let field = "idempotency_key";
    if key.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    if key.len() > IdempotencyKey::MAX_LEN {
        return Err(Error::validation(
            field,
            format!(
                "is {} bytes long; at most {} are allowed (starts with {})",
                key.len(),
                IdempotencyKey::MAX_LEN,
                shown(key)
            ),
        ));
    }
    if let Some((at, c)) = key.char_indices().find(|(_, c)| !matches!(c, '!'..='~')) {
        let what = if c == ' ' {
            "a space".to_string()
        } else {
            format!("U+{:04X}", u32::from(c))
        };
        return Err(Error::validation(
            field,
            format!(
                "must be visible ASCII (! to ~): {what} at byte {at} (starts with {})",
                shown(key)
            ),
        ));
    }
    Ok(())
}

/// A short, escaped prefix of a rejected key.
fn shown(key: &str) -> String {
    match key.char_indices().nth(SHOWN_PREFIX) {
        None => format!("{key:?}"),
        Some((cut, _)) => format!("{:?}…", &key[..cut]),
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", &*self.0)
    }
}

impl FromStr for IdempotencyKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        IdempotencyKey::new(s)
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        IdempotencyKey::new(s)
    }
}

impl TryFrom<&str> for IdempotencyKey {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        IdempotencyKey::new(s)
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for IdempotencyKey {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        IdempotencyKey::new(s.into_owned()).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for IdempotencyKey {
    fn schema_name() -> Cow<'static, str> {
        "IdempotencyKey".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An idempotency key: 1-128 characters of visible ASCII, unique within (tenant, operation).",
            "minLength": 1,
            "maxLength": IdempotencyKey::MAX_LEN,
            "pattern": "^[!-~]+$",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_and_reason(e: Error) -> (String, String) {
        match e {
            Error::Validation { field, reason } => (field, reason),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_visible_ascii_up_to_the_limit() {
        for ok in [
            "a",
            "order-2026-11-0042",
            "!~",
            &"k".repeat(128),
            "a/b:c?d=e",
        ] {
            assert_eq!(IdempotencyKey::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refusals_say_why_without_echoing_the_input() {
        let long = format!("secret-{}", "x".repeat(10_000));
        let cases: [(&str, &str); 6] = [
            ("", "must not be empty"),
            (&long, "at most 128"),
            ("has space", "a space at byte 3"),
            ("tab\there", "U+0009 at byte 3"),
            ("订单-1", "U+8BA2 at byte 0"),
            ("nul\0", "U+0000"),
        ];
        for (input, why) in cases {
            let (field, reason) = field_and_reason(IdempotencyKey::new(input).unwrap_err());
            assert_eq!(field, "idempotency_key");
            assert!(reason.contains(why), "{input:?}: {reason}");
            assert!(reason.len() < 160, "{reason}");
        }
        let (_, reason) = field_and_reason(IdempotencyKey::new(long.clone()).unwrap_err());
        assert!(!reason.contains(&long[..40]), "{reason}");
    }

    #[test]
    fn serde_validates_and_round_trips() {
        let key = IdempotencyKey::new("k-1").unwrap();
        assert_eq!(serde_json::to_string(&key).unwrap(), "\"k-1\"");
        assert_eq!(
            serde_json::from_str::<IdempotencyKey>("\"k-1\"").unwrap(),
            key
        );
        assert!(serde_json::from_str::<IdempotencyKey>("\"a b\"").is_err());
        assert!(serde_json::from_str::<IdempotencyKey>("\"\"").is_err());
        let schema = serde_json::to_value(schemars::schema_for!(IdempotencyKey)).unwrap();
        assert_eq!(schema["maxLength"], 128);
    }

    #[test]
    fn from_static_accepts_valid_literals() {
        assert_eq!(
            IdempotencyKey::from_static("k-1"),
            IdempotencyKey::new("k-1").unwrap()
        );
    }

    #[test]
    #[should_panic(expected = "idempotency_key")]
    fn from_static_panics_on_an_invalid_literal() {
        let _ = IdempotencyKey::from_static("has a space");
    }

    #[test]
    fn scoping_is_per_operation() {
        let key = IdempotencyKey::new("k").unwrap();
        assert_eq!(key.scoped("crm.capture"), "crm.capture/k");
        assert_ne!(key.scoped("crm.capture"), key.scoped("ads.top_up"));
    }

    #[test]
    fn derived_keys_are_deterministic_distinct_and_valid() {
        let key = IdempotencyKey::new("settle-2026-11").unwrap();
        assert_eq!(key.derive("account-7"), key.derive("account-7"));
        let mut seen = std::collections::HashSet::new();
        let long_key = IdempotencyKey::new("L".repeat(128)).unwrap();
        for k in [&key, &long_key] {
            for part in [
                "a",
                "b",
                "a~b",
                "with space",
                "",
                "account-7",
                &"p".repeat(200),
            ] {
                let d = k.derive(part);
                assert!(IdempotencyKey::new(d.as_str()).is_ok(), "{d:?}");
                assert!(d.as_str().len() <= IdempotencyKey::MAX_LEN);
                assert!(seen.insert(d.clone()), "collision for {k:?} + {part:?}");
            }
        }
        // Readable where it can be, hashed where it must be.
        assert_eq!(key.derive("a").as_str(), "settle-2026-11~a");
        assert!(key.derive("with space").as_str().contains("~!"));
        // A key containing the separator does not collide with another split of the same text.
        let a = IdempotencyKey::new("x~y").unwrap().derive("z");
        let b = IdempotencyKey::new("x").unwrap().derive("y~z");
        assert_ne!(a, b);
    }
}
