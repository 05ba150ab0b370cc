//! JSON Schemas of the site documents, generated from the types with schemars. The workspace
//! commits them under `schemas/sites/` (checked by its staleness test).
//!
//! ```
//! let schema = marketingforce_sites::schemas::schema_json::<marketingforce_sites::model::Block>();
//! assert!(schema.contains("\"product_grid\""));
//! ```

use schemars::JsonSchema;

/// The pretty-printed schema of `T`.
pub fn schema_json<T: JsonSchema>() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(T)).unwrap_or_default() + "\n"
}
