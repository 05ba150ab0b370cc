//! Access control and masking: who sees which leads, and which fields unmasked.
//!
//! - **Visibility**: administrators see every lead; managers see the leads of the teams they
//!   manage and their own; everyone else sees only the leads they own. Unassigned leads and
//!   the public pool are visible only from [`AccessConfig::pool_min_level`] up, so salespeople
//!   never see unassigned prospects.
//! - **Masking** by level: each field is unmasked for its owner from
//!   [`FieldAccess::owner_min_level`] and for others (managers, admins) from
//!   [`FieldAccess::others_min_level`]. Every unmasked read is written to the access log with
//!   who and why; refused reads are logged too.
//!
//! ```
//! use marketingforce_crm::access::{mask_email, mask_mobile, mask_name};
//!
//! assert_eq!(mask_mobile("13812341234"), "138****1234");
//! assert_eq!(mask_email("zhangsan@example.com"), "z***@example.com");
//! assert_eq!(mask_name("张三丰"), "张**");
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::model::Lead;
use crate::staff::{Role, Staff};
use crate::survivorship::Field;

/// Levels from which a field is shown unmasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldAccess {
    /// Minimum level of the lead's owner.
    pub owner_min_level: u8,
    /// Minimum level of anyone else who can see the lead.
    pub others_min_level: u8,
}

/// Visibility and masking rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Minimum level to see unassigned and pooled leads.
    pub pool_min_level: u8,
    /// Per-field unmasking levels; fields not listed are always masked.
    pub fields: BTreeMap<Field, FieldAccess>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        let f = |owner_min_level, others_min_level| FieldAccess {
            owner_min_level,
            others_min_level,
        };
        AccessConfig {
            pool_min_level: 5,
            fields: BTreeMap::from([
                (Field::Name, f(1, 3)),
                (Field::Company, f(1, 2)),
                (Field::Mobile, f(1, 6)),
                (Field::Phone, f(1, 6)),
                (Field::Email, f(2, 6)),
                (Field::WecomId, f(1, 6)),
            ]),
        }
    }
}

impl AccessConfig {
    /// Check the levels.
    ///
    /// # Errors
    /// A validation error on `pool_min_level` or `fields.<field>.*` outside 1–9.
    pub fn validate(&self) -> Result<()> {
        if !(1..=9).contains(&self.pool_min_level) {
            return Err(CrmError::validation("pool_min_level", "must be 1-9"));
        }
        for (f, a) in &self.fields {
            let name = serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            for (k, v) in [
                ("owner_min_level", a.owner_min_level),
                ("others_min_level", a.others_min_level),
            ] {
                if !(1..=9).contains(&v) {
                    return Err(CrmError::validation(
                        format!("fields.{name}.{k}"),
                        "must be 1-9",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether `viewer` may see `lead` at all, and if not, why.
    pub fn can_see(
        &self,
        viewer: &Staff,
        lead: &Lead,
        owner: Option<&Staff>,
    ) -> std::result::Result<(), String> {
        if !viewer.active {
            return Err("the viewer is no longer active".into());
        }
        if viewer.role == Role::Admin {
            return Ok(());
        }
        match lead.owner {
            None => {
                if viewer.level >= self.pool_min_level && viewer.role != Role::Auditor {
                    Ok(())
                } else {
                    Err("unassigned leads are visible from level {} up"
                        .replace("{}", &self.pool_min_level.to_string()))
                }
            }
            Some(o) if o == viewer.id => Ok(()),
            Some(_) => {
                let team = lead.team.or(owner.and_then(|s| s.team));
                if viewer.role == Role::Manager && team.is_some_and(|t| viewer.manages.contains(&t))
                {
                    Ok(())
                } else {
                    Err("the lead is assigned to someone else".into())
                }
            }
        }
    }

    /// Whether `viewer` sees `field` of `lead` unmasked.
    pub fn unmasked(&self, viewer: &Staff, lead: &Lead, field: Field) -> bool {
        if viewer.role == Role::Auditor {
            return false;
        }
        let Some(a) = self.fields.get(&field) else {
            return false;
        };
        if lead.owner == Some(viewer.id) {
            viewer.level >= a.owner_min_level
        } else {
            viewer.level >= a.others_min_level
        }
    }
}

/// `138****1234`: keep the first 3 and last 4 digits.
pub fn mask_mobile(m: &str) -> String {
    let chars: Vec<char> = m.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars.iter().take(3).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// E.164 phones: keep `+`, the first 2 digits and the last 4.
pub fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars.iter().take(3).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// `z***@example.com`: the first character of the local part, then the domain.
pub fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// `张**`: the first character, one `*` per other character.
pub fn mask_name(n: &str) -> String {
    let mut chars = n.chars();
    match chars.next() {
        Some(first) => match chars.count() {
            0 => "*".into(),
            rest => format!("{first}{}", "*".repeat(rest)),
        },
        None => String::new(),
    }
}

/// Companies keep their first two characters.
pub fn mask_company(c: &str) -> String {
    let n = c.chars().count();
    if n <= 3 {
        return "*".repeat(n.max(1));
    }
    let head: String = c.chars().take(2).collect();
    format!("{head}{}", "*".repeat((n - 2).min(8)))
}

/// WeCom ids keep their first 2 characters.
pub fn mask_wecom(w: &str) -> String {
    let head: String = w.chars().take(2).collect();
    format!("{head}****")
}

/// Mask a value of `field`.
pub fn mask(field: Field, value: &str) -> String {
    match field {
        Field::Name => mask_name(value),
        Field::Mobile => mask_mobile(value),
        Field::Phone => mask_phone(value),
        Field::Email => mask_email(value),
        Field::WecomId => mask_wecom(value),
        Field::Company => mask_company(value),
        Field::Region => value.to_string(),
    }
}
