//! [`BundleId`]: the typed id of a bundle (product version).

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ModulesError, Result};

/// The id of a bundle (a product version) such as `tcloud.standard`: 3–64 bytes of lowercase
/// letters, digits, `_` and `.`, starting with a letter, at least one `.` separating the
/// product from its version, no empty part. The built-in bundles are constants.
///
/// Validated on construction and deserialisation; serialised as its text. Dereferences to
/// `str`, so it passes where a `&str` is expected.
///
/// ```
/// use marketingforce_modules::products::BundleId;
///
/// assert_eq!(BundleId::TCLOUD_STANDARD.as_str(), "tcloud.standard");
/// let id: BundleId = "trueclient.pro.growth".parse().unwrap();
/// assert_eq!(id, BundleId::TRUECLIENT_PRO_GROWTH);
/// let e = BundleId::new("T Cloud").unwrap_err();
/// assert_eq!(marketingforce_core::Classify::field(&e), Some("bundle"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleId(Cow<'static, str>);

macro_rules! builtin_bundles {
    ($($(#[$m:meta])* $name:ident = $id:literal;)*) => {
        impl BundleId {
            $($(#[$m])* pub const $name: BundleId = BundleId(Cow::Borrowed($id));)*
        }
    };
}

builtin_bundles! {
    /// T Cloud Basic (营销云基础版).
    TCLOUD_BASIC = "tcloud.basic";
    /// T Cloud Standard.
    TCLOUD_STANDARD = "tcloud.standard";
    /// T Cloud Advanced.
    TCLOUD_ADVANCED = "tcloud.advanced";
    /// T Cloud Flagship.
    TCLOUD_FLAGSHIP = "tcloud.flagship";
    /// True Client Standard (priced per account).
    TRUECLIENT_STANDARD = "trueclient.standard";
    /// True Client Professional, growth package.
    TRUECLIENT_PRO_GROWTH = "trueclient.pro.growth";
    /// True Client Professional, enterprise package.
    TRUECLIENT_PRO_ENTERPRISE = "trueclient.pro.enterprise";
    /// True Client Professional, flagship package.
    TRUECLIENT_PRO_FLAGSHIP = "trueclient.pro.flagship";
}

fn check(id: &str) -> Result<()> {
    let ok = (3..=64).contains(&id.len())
        && id.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && id.contains('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        && id.split('.').all(|part| !part.is_empty());
    if ok {
        Ok(())
    } else {
        Err(ModulesError::validation(
            "bundle",
            "must be <product>.<version>: 3-64 characters of a-z, 0-9, '_' and '.', starting with a letter, e.g. \"tcloud.standard\"",
        ))
    }
}

impl BundleId {
    /// A bundle id from text.
    ///
    /// # Errors
    /// A validation error on `bundle` saying what the id must look like (never quoting it).
    pub fn new(id: impl Into<String>) -> Result<BundleId> {
        let id = id.into();
        check(&id)?;
        Ok(BundleId(Cow::Owned(id)))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for BundleId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BundleId({})", self.0)
    }
}

impl Borrow<str> for BundleId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for BundleId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for BundleId {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for BundleId {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl FromStr for BundleId {
    type Err = ModulesError;
    fn from_str(s: &str) -> Result<Self> {
        BundleId::new(s)
    }
}

impl Serialize for BundleId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for BundleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BundleId::new(s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for BundleId {
    fn schema_name() -> Cow<'static, str> {
        "BundleId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A bundle (product version) id <product>.<version>.",
            "pattern": r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$",
            "minLength": 3,
            "maxLength": 64,
            "examples": ["tcloud.standard", "trueclient.pro.growth"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_constants_are_valid_and_bad_ids_are_refused() {
        for id in [
            BundleId::TCLOUD_BASIC,
            BundleId::TCLOUD_STANDARD,
            BundleId::TCLOUD_ADVANCED,
            BundleId::TCLOUD_FLAGSHIP,
            BundleId::TRUECLIENT_STANDARD,
            BundleId::TRUECLIENT_PRO_GROWTH,
            BundleId::TRUECLIENT_PRO_ENTERPRISE,
            BundleId::TRUECLIENT_PRO_FLAGSHIP,
        ] {
            assert_eq!(BundleId::new(id.as_str()).unwrap(), id);
        }
        for bad in [
            "",
            "tcloud",
            "TCloud.basic",
            "tcloud..basic",
            "tcloud.",
            ".basic",
            "t cloud.x",
        ] {
            assert!(BundleId::new(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<BundleId>("\"tcloud basic\"").is_err());
        assert_eq!(
            serde_json::to_string(&BundleId::TCLOUD_BASIC).unwrap(),
            "\"tcloud.basic\""
        );
    }
}
