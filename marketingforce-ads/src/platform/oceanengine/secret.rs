//! [`Secret`]: app secrets and OAuth tokens that never show in logs, `Debug` or `Display`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A credential (the app secret, an access or refresh token, an authorisation code).
///
/// `Debug` and `Display` print `***`; the value is only reachable through [`Secret::expose`],
/// which the connector calls at the one place it puts the value on the wire. It serialises
/// as the plain string, because the token record must be stored for other processes to read:
/// keep configuration files and the store as private as the credentials they hold.
///
/// ```
/// use marketingforce_ads::platform::oceanengine::Secret;
///
/// let secret = Secret::new("0f1e2d3c4b5a");
/// assert_eq!(format!("{secret:?}"), "Secret(***)");
/// assert_eq!(secret.to_string(), "***");
/// assert_eq!(secret.expose(), "0f1e2d3c4b5a");
/// ```
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the credential is empty or blank.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_debug_output_hides_the_value() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            secret: Secret,
        }
        let h = Holder {
            secret: Secret::new("s3cr3t-value"),
        };
        let shown = format!("{h:?} {h:#?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(Secret::new(" ").is_blank());
    }
}
