//! ISO-4217 currencies with their minor units.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{quote_input, Error, Result};

/// An ISO-4217 currency the SDK can hold money in.
///
/// The default is [`Currency::CNY`], the currency of the platform's home market.
///
/// ```
/// use marketingforce_core::money::Currency;
///
/// let c: Currency = "hkd".parse().unwrap();
/// assert_eq!(c, Currency::HKD);
/// assert_eq!(c.minor_units(), 2);
/// assert_eq!(Currency::JPY.minor_units(), 0);
/// assert!("XYZ".parse::<Currency>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Currency {
    /// Chinese yuan renminbi (fen: 2 minor digits).
    #[default]
    CNY,
    /// United States dollar.
    USD,
    /// Hong Kong dollar.
    HKD,
    /// Euro.
    EUR,
    /// Pound sterling.
    GBP,
    /// Japanese yen (no minor unit).
    JPY,
}

impl Currency {
    /// Every supported currency.
    pub const ALL: [Currency; 6] = [
        Currency::CNY,
        Currency::USD,
        Currency::HKD,
        Currency::EUR,
        Currency::GBP,
        Currency::JPY,
    ];

    /// The three-letter ISO-4217 code.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::CNY => "CNY",
            Currency::USD => "USD",
            Currency::HKD => "HKD",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
            Currency::JPY => "JPY",
        }
    }

    /// Number of decimal digits of the minor unit (2 for fen and cents, 0 for yen).
    pub const fn minor_units(self) -> u32 {
        match self {
            Currency::JPY => 0,
            _ => 2,
        }
    }

    /// Parse an ISO code, case-insensitively, naming `field` in the error.
    pub fn parse_field(code: &str, field: &str) -> Result<Currency> {
        let upper = code.trim().to_ascii_uppercase();
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == upper)
            .ok_or_else(|| {
                Error::validation(
                    field,
                    format!(
                        "unknown or unsupported currency code {} (supported: {})",
                        quote_input(code),
                        Currency::ALL.map(Currency::code).join(", ")
                    ),
                )
            })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Currency::parse_field(s, "currency")
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "ISO-4217 currency code",
            "enum": Currency::ALL.map(Currency::code),
        })
    }
}
