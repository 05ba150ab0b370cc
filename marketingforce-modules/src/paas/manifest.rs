//! [`ModuleManifest`]: what a third-party module declares about itself.

use marketingforce_core::money::{Currency, Money, Quantity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::{
    Catalog, KeyArea, Metering, Module, ModuleId, ModuleKind, QuotaPeriod, UsageUnit,
};
use crate::error::{ModulesError, Result};

/// A permission a module asks for; the host hands the granted scopes to every invocation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[non_exhaustive]
pub enum Scope {
    /// Read leads.
    #[serde(rename = "leads:read")]
    LeadsRead,
    /// Create and update leads.
    #[serde(rename = "leads:write")]
    LeadsWrite,
    /// Read content.
    #[serde(rename = "content:read")]
    ContentRead,
    /// Create content.
    #[serde(rename = "content:write")]
    ContentWrite,
    /// Publish content to channels.
    #[serde(rename = "content:publish")]
    ContentPublish,
    /// Read analytics.
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    /// Send messages (SMS, e-mail) to leads.
    #[serde(rename = "messages:send")]
    MessagesSend,
}

/// A usage unit the module is metered by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeteredUnit {
    /// The unit: a built-in one, or a custom unit in the module's namespace.
    pub unit: UsageUnit,
    /// Units metered automatically per invocation (0: only what the module reports).
    #[serde(default)]
    pub per_call: Quantity,
    /// Units included per term when a tenant buys the module.
    #[serde(default)]
    pub included: Quantity,
}

/// How often one tenant may call the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Calls allowed per window (also the burst size).
    pub calls: u32,
    /// Window length in seconds.
    pub per_seconds: u32,
}

/// A third-party module's manifest.
///
/// ```
/// use marketingforce_modules::catalog::Catalog;
/// use marketingforce_modules::paas::ModuleManifest;
///
/// let json = r#"{
///   "id": "acme.seo_audit", "version": "1.2.0", "name": "SEO audit",
///   "description": "Audits a site's pages for search-engine issues.",
///   "area": "data_analytics",
///   "metered": [{"unit": "acme.pages_audited", "per_call": 1, "included": 1000}],
///   "scopes": ["content:read"],
///   "config_schema": {"type": "object", "properties": {"depth": {"type": "integer", "minimum": 1}}},
///   "price": {"amount": "2400", "currency": "CNY"},
///   "rate_limit": {"calls": 10, "per_seconds": 1}
/// }"#;
/// let m = ModuleManifest::from_json(json, &Catalog::builtin()).unwrap();
/// assert_eq!(m.version.to_string(), "1.2.0");
///
/// // A vendor cannot publish into the platform's namespace.
/// let clash = json.replace("acme.seo_audit", "mf.seo_audit");
/// assert!(ModuleManifest::from_json(&clash, &Catalog::builtin()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleManifest {
    /// Vendor-namespaced id (`<vendor>.<name>`).
    pub id: ModuleId,
    /// Semantic version.
    #[schemars(with = "String")]
    pub version: semver::Version,
    /// Display name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Key area.
    pub area: KeyArea,
    /// Metered units.
    #[serde(default)]
    pub metered: Vec<MeteredUnit>,
    /// Permissions required.
    pub scopes: Vec<Scope>,
    /// JSON Schema of the per-tenant configuration (subset: see [`validate_schema`](super::validate_schema)).
    pub config_schema: serde_json::Value,
    /// Price per year.
    pub price: Money,
    /// Per-tenant rate limit.
    pub rate_limit: RateLimit,
    /// Modules it requires.
    #[serde(default)]
    pub requires: Vec<ModuleId>,
}

impl ModuleManifest {
    /// Parse and validate against `catalog`.
    ///
    /// # Errors
    /// As [`ModuleManifest::validate`], plus type errors naming the JSON path.
    pub fn from_json(json: &str, catalog: &Catalog) -> Result<ModuleManifest> {
        let m: ModuleManifest = crate::config::from_json(json)?;
        m.validate(catalog)?;
        Ok(m)
    }

    /// Check the manifest.
    ///
    /// # Errors
    /// [`ModulesError::NamespaceClash`] for an id in the platform's namespace or already in the
    /// catalog; validation errors naming the field: a custom unit outside the vendor namespace
    /// (`metered[0].unit`), a unit listed twice, no scopes or a scope twice (`scopes[1]`), an
    /// invalid configuration schema (`config_schema.properties.depth.type`), a negative price,
    /// a zero rate limit, an unknown required module (`requires[0]`).
    pub fn validate(&self, catalog: &Catalog) -> Result<()> {
        if self.id.is_builtin() {
            return Err(ModulesError::NamespaceClash {
                id: self.id.to_string(),
                reason: format!(
                    "the {:?} namespace is reserved for the platform",
                    self.id.namespace()
                ),
            });
        }
        if catalog.get(&self.id).is_some() {
            return Err(ModulesError::NamespaceClash {
                id: self.id.to_string(),
                reason: "a module with this id is already in the catalog".into(),
            });
        }
        if self.name.trim().is_empty() {
            return Err(ModulesError::validation("name", "must not be blank"));
        }
        if self.description.trim().is_empty() {
            return Err(ModulesError::validation("description", "must not be blank"));
        }
        for (i, u) in self.metered.iter().enumerate() {
            if let UsageUnit::Custom(c) = &u.unit {
                if c.namespace() != self.id.namespace() {
                    return Err(ModulesError::validation(
                        format!("metered[{i}].unit"),
                        format!(
                            "custom unit {} must be in the vendor namespace {}",
                            u.unit,
                            self.id.namespace()
                        ),
                    ));
                }
            }
            if self.metered[..i].iter().any(|o| o.unit == u.unit) {
                return Err(ModulesError::validation(
                    format!("metered[{i}].unit"),
                    format!("{} listed twice", u.unit),
                ));
            }
        }
        if self.scopes.is_empty() {
            return Err(ModulesError::validation(
                "scopes",
                "declare at least one scope",
            ));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            if self.scopes[..i].contains(s) {
                return Err(ModulesError::validation(
                    format!("scopes[{i}]"),
                    "listed twice",
                ));
            }
        }
        super::schema::validate_schema(&self.config_schema)
            .map_err(|e| e.in_field("config_schema"))?;
        self.price.ensure_price("price", Currency::CNY)?;
        if self.rate_limit.calls == 0 || self.rate_limit.per_seconds == 0 {
            return Err(ModulesError::validation(
                "rate_limit",
                "calls and per_seconds must be at least 1",
            ));
        }
        for (i, r) in self.requires.iter().enumerate() {
            catalog.require(r, &format!("requires[{i}]"))?;
        }
        Ok(())
    }

    /// The catalog entry of the module: third-party kind, metered by its first unit.
    pub fn catalog_module(&self) -> Module {
        let metering = match self.metered.first() {
            Some(u) => Metering::Usage {
                unit: u.unit.clone(),
                included: u.included,
                period: QuotaPeriod::Term,
            },
            None => Metering::None,
        };
        Module {
            id: self.id.clone(),
            name: self.name.clone(),
            description: format!("{} (v{})", self.description, self.version),
            area: self.area,
            kind: ModuleKind::ThirdParty,
            metering,
            list_price: self.price,
            requires: self.requires.clone(),
        }
    }

    /// The JSON Schema of manifest files.
    pub fn json_schema() -> String {
        crate::config::schema_json::<ModuleManifest>()
    }
}
