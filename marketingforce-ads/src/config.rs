//! Loading configuration (rebate policies, qualification policies, agreements) from JSON with
//! errors that name the offending path.

use marketingforce_core::Error;
use serde::de::DeserializeOwned;

use crate::error::{AdsError, Result};

/// Configuration data: serde with a JSON Schema, validated after loading.
pub trait Config: DeserializeOwned {
    /// Check the semantic rules (ranges, tier continuity, …), naming the offending path.
    ///
    /// # Errors
    /// A validation error whose field is the path from the document root.
    fn validate(&self) -> Result<()>;

    /// Parse and validate a JSON document.
    ///
    /// # Errors
    /// A validation error naming the path of the first problem, e.g. `tiers[2].rate`.
    fn from_json(json: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let value: Self = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "document".to_string()
            } else {
                path
            };
            AdsError::Core(Error::validation(field, e.into_inner().to_string()))
        })?;
        value.validate()?;
        Ok(value)
    }
}

/// `parent.child` / `parent[i]` path joining for nested validation.
pub(crate) fn path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else if child.starts_with('[') {
        format!("{parent}{child}")
    } else {
        format!("{parent}.{child}")
    }
}

/// The JSON Schema of a configuration type, pretty-printed (the committed files under
/// `marketingforce-ads/schemas/` are generated with this).
pub fn json_schema<T: schemars::JsonSchema>() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(T)).unwrap_or_default()
}
