//! Loading configuration data (catalogs, bundles, manifests) from JSON with errors that name the
//! offending path.

use serde::de::DeserializeOwned;

use crate::error::{ModulesError, Result};

/// Deserialize `json` into `T`; a type error names the JSON path (`modules[3].list_price`).
pub(crate) fn from_json<T: DeserializeOwned>(json: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ModulesError::validation(path, e.into_inner().to_string())
    })
}

/// Deserialize a `serde_json::Value` into `T` with path-naming errors.
#[allow(dead_code)]
pub(crate) fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ModulesError::validation(path, e.into_inner().to_string())
    })
}

/// The JSON Schema of `T` as pretty JSON text (for the `schemas/` directory and for docs).
pub fn schema_json<T: schemars::JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
