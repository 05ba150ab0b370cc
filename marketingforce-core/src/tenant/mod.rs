//! Tenants: the enterprise customers using the platform. Every read and write is scoped by one.

mod directory;

pub use directory::{TenantDirectory, REGISTER_OPERATION};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::entity_id;
use crate::error::{Error, Result};
use crate::money::Currency;
use crate::text::check_display_text;
use crate::time::TimeZone;

entity_id! {
    /// Identifies a tenant. Every storage call takes one; no API reaches across tenants.
    pub struct TenantId("tenant");
}

/// A tenant's profile: who they are and how their dates and money are expressed.
///
/// ```
/// use marketingforce_core::tenant::{Tenant, TenantId};
///
/// let t = Tenant::new(TenantId::new(), "上海某机械有限公司").unwrap();
/// assert_eq!(t.time_zone.name(), "Asia/Shanghai");
/// assert_eq!(t.currency.code(), "CNY");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Legal or display name.
    pub name: String,
    /// Zone of the tenant's civil dates (contracts, settlements). Default Asia/Shanghai.
    #[serde(default)]
    pub time_zone: TimeZone,
    /// Currency of the tenant's contracts. Default CNY.
    #[serde(default)]
    pub currency: Currency,
}

impl Tenant {
    /// A tenant with the defaults (Asia/Shanghai, CNY).
    ///
    /// # Errors
    /// A validation error on `name` when it is blank, longer than 200 characters, or holds
    /// control or bidirectional-override characters ([`check_display_text`]).
    pub fn new(id: TenantId, name: impl Into<String>) -> Result<Tenant> {
        let tenant = Tenant {
            id,
            name: name.into(),
            time_zone: TimeZone::default(),
            currency: Currency::default(),
        };
        tenant.validate()?;
        Ok(tenant)
    }

    /// Check the profile: the name is 1–200 characters of display text (no NUL, ESC or other
    /// control characters, no bidirectional overrides; see [`check_display_text`]).
    ///
    /// # Errors
    /// A validation error on `name`.
    pub fn validate(&self) -> Result<()> {
        let n = self.name.trim().chars().count();
        if n == 0 {
            return Err(Error::validation("name", "must not be blank"));
        }
        if n > 200 {
            return Err(Error::validation("name", "longer than 200 characters"));
        }
        check_display_text(&self.name, "name")
    }

    /// Refuse an item owned by another tenant.
    ///
    /// # Errors
    /// [`Error::TenantIsolation`] when `owner` is not `caller`.
    pub fn ensure_same(caller: &TenantId, owner: &TenantId, what: &str) -> Result<()> {
        if caller == owner {
            Ok(())
        } else {
            Err(Error::TenantIsolation {
                what: what.to_string(),
                owner: owner.to_string(),
                caller: caller.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_control_and_bidi_characters() {
        let id = TenantId::new();
        assert!(Tenant::new(id, "上海某机械有限公司").is_ok());
        for bad in [
            "ACME\0Ltd",
            "ACME\u{1b}[2J",
            "ACME\u{202E}dtL",
            "ACME\u{2066}Ltd\u{2069}",
        ] {
            let e = Tenant::new(id, bad).unwrap_err();
            assert!(
                matches!(&e, Error::Validation { field, .. } if field == "name"),
                "{bad:?}: {e}"
            );
        }
        // Deserialised profiles are checked the same way by validate().
        let t: Tenant = serde_json::from_value(serde_json::json!({
            "id": id.to_string(), "name": "x\u{202D}y"
        }))
        .unwrap();
        assert!(t.validate().is_err());
    }
}
