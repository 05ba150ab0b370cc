//! Credentials that must never be printed: app secrets, access tokens, callback tokens, AES
//! keys.
//!
//! A [`Secret`] shows `***` in `Debug` and `Display`, is read from configuration (it
//! deserializes from a plain JSON string) but does not serialize, so a configuration holding one
//! cannot be echoed back by accident. The value is reached only through [`Secret::expose`],
//! which makes every use of it easy to find.
//!
//! ```
//! use marketingforce_core::adapters::secret::Secret;
//!
//! let secret: Secret = serde_json::from_str("\"9f2c6a...app-secret\"").unwrap();
//! assert_eq!(format!("{secret:?}"), "Secret(***)");
//! assert_eq!(secret.to_string(), "***");
//! assert_eq!(secret.expose(), "9f2c6a...app-secret");
//! assert!(secret.ct_eq("9f2c6a...app-secret"));
//! ```

use std::borrow::Cow;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// A secret string: redacted in `Debug` and `Display`, deserializable but not serializable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself. Pass it only to the platform that issued it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty or only whitespace.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// Compare with `other` in time independent of where they differ (for signatures and
    /// tokens presented by callers).
    pub fn ct_eq(&self, other: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), other.as_bytes())
    }
}

/// Compare two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Secret")
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "writeOnly": true,
            "description": "A secret (app secret, token, AES key): never logged or echoed back."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_hidden() {
        let s = Secret::new("abc");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert!(s.ct_eq("abc"));
        assert!(!s.ct_eq("abd"));
        assert!(!s.ct_eq("abcd"));
        assert!(Secret::new("  ").is_blank());
    }
}
