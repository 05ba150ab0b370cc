//! [`Rate`]: a validated fraction in [0, 1] such as a rebate or commission rate.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::amount::parse_decimal;
use crate::error::{Error, Result};

/// A fraction between 0 and 1 inclusive: 0.058 is a 5.8% rebate, 0.65 a 65% commission.
///
/// Parses from a fraction (`"0.058"`) or a percentage (`"5.8%"`); displays as a percentage.
/// Serialised as the fraction in a decimal string, e.g. `"0.058"`; deserialisation also accepts
/// the percentage form.
///
/// ```
/// use marketingforce_core::money::Rate;
///
/// let r: Rate = "5.8%".parse().unwrap();
/// assert_eq!(r.value().to_string(), "0.058");
/// assert_eq!(r.to_string(), "5.8%");
/// assert!("120%".parse::<Rate>().is_err());
/// assert!("abc%".parse::<Rate>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Rate(Decimal);

impl Rate {
    /// The zero rate.
    pub const ZERO: Rate = Rate(Decimal::ZERO);
    /// The rate 1 (100%).
    pub const ONE: Rate = Rate(Decimal::ONE);

    /// A rate from a fraction, validated to lie in [0, 1].
    ///
    /// # Errors
    /// A validation error on `rate`.
    pub fn new(fraction: Decimal) -> Result<Rate> {
        Rate::new_field(fraction, "rate")
    }

    /// Like [`Rate::new`], naming `field` in the error.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn new_field(fraction: Decimal, field: &str) -> Result<Rate> {
        if fraction.is_sign_negative() && !fraction.is_zero() {
            return Err(Error::validation(
                field,
                format!("rate {fraction} is negative"),
            ));
        }
        if fraction > Decimal::ONE {
            return Err(Error::validation(
                field,
                format!("rate {fraction} is above 100%"),
            ));
        }
        Ok(Rate(fraction.normalize()))
    }

    /// A rate from a percentage: `from_percent(5.8)` is 0.058.
    ///
    /// # Errors
    /// A validation error on `rate`, also when the percentage has so many decimal places that
    /// the fraction could not hold them exactly (more than 26).
    pub fn from_percent(percent: Decimal) -> Result<Rate> {
        Rate::new_field(percent_to_fraction(percent, "rate")?, "rate")
    }

    /// Parse `"5.8%"` or `"0.058"`, naming `field` in the error. The value is exact or refused:
    /// `"99.99999999999999999999999999%"` never becomes 100%.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn parse_field(s: &str, field: &str) -> Result<Rate> {
        let t = s.trim();
        match t.strip_suffix('%') {
            Some(p) => {
                Rate::new_field(percent_to_fraction(parse_decimal(p, field)?, field)?, field)
            }
            None => Rate::new_field(parse_decimal(t, field)?, field),
        }
    }

    /// The fraction.
    pub const fn value(self) -> Decimal {
        self.0
    }

    /// The rate in percent (5.8 for 5.8%).
    pub fn percent(self) -> Decimal {
        (self.0 * Decimal::ONE_HUNDRED).normalize()
    }

    /// `1 − self`: the complement, e.g. the share left after a commission.
    pub fn complement(self) -> Rate {
        Rate(Decimal::ONE - self.0)
    }
}

/// `percent / 100`, exactly: the same digits two places further right, or an error when that
/// needs more decimal places than a [`Decimal`] holds (division would round silently).
fn percent_to_fraction(percent: Decimal, field: &str) -> Result<Decimal> {
    let p = percent.normalize();
    p.scale()
        .checked_add(2)
        .and_then(|scale| Decimal::try_from_i128_with_scale(p.mantissa(), scale).ok())
        .ok_or_else(|| {
            Error::validation(
                field,
                format!(
                    "{percent}% has more than {} decimal places; the rate cannot hold it exactly",
                    Decimal::MAX_SCALE - 2
                ),
            )
        })
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.percent())
    }
}

impl FromStr for Rate {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Rate::parse_field(s, "rate")
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        Rate::parse_field(&s, "rate").map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A fraction in [0, 1] as a decimal string (\"0.058\"), or a percentage (\"5.8%\").",
            "pattern": r"^\s*\+?\d+(\.\d+)?%?\s*$",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_forms() {
        assert_eq!(
            "0.058".parse::<Rate>().unwrap(),
            "5.8%".parse::<Rate>().unwrap()
        );
        assert_eq!("100%".parse::<Rate>().unwrap(), Rate::ONE);
        assert_eq!("0".parse::<Rate>().unwrap(), Rate::ZERO);
        assert!("-1%".parse::<Rate>().is_err());
        assert!("1.0001".parse::<Rate>().is_err());
        assert!("%".parse::<Rate>().is_err());
        let e = Rate::parse_field("abc%", "rebate.rate").unwrap_err();
        assert!(e.to_string().contains("rebate.rate"));
    }

    #[test]
    fn percentages_are_exact_or_refused() {
        // 26 decimal places of a percentage are 28 of the fraction: exact.
        let r: Rate = "99.99999999999999999999999999%".parse().unwrap();
        assert!(r < Rate::ONE);
        assert_eq!(r.value().to_string(), "0.9999999999999999999999999999");
        // One more would have been rounded to 100% before.
        for bad in [
            "99.9999999999999999999999999999%",
            "99.999999999999999999999999999%",
            "9.999999999999999999999999999%",
            "0.000000000000000000000000001%",
        ] {
            let e = bad.parse::<Rate>().unwrap_err();
            assert!(matches!(e, Error::Validation { .. }), "{bad}: {e}");
            let e = Rate::parse_field(bad, "rebate.rate").unwrap_err();
            assert!(
                matches!(&e, Error::Validation { field, .. } if field == "rebate.rate"),
                "{bad}: {e}"
            );
        }
        assert!(Rate::from_percent(Decimal::new(9_999_999, 27)).is_err());
        assert_eq!(
            Rate::from_percent(Decimal::new(58, 1)).unwrap(),
            "0.058".parse::<Rate>().unwrap()
        );
        // Trailing zeros do not count as digits lost.
        assert_eq!(
            "5.8000000000000000000000000%".parse::<Rate>().unwrap(),
            "5.8%".parse::<Rate>().unwrap()
        );
        let e = "9".repeat(100_000).parse::<Rate>().unwrap_err().to_string();
        assert!(e.len() < 200);
    }

    #[test]
    fn serde_round_trip() {
        let r: Rate = "65%".parse().unwrap();
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, "\"0.65\"");
        assert_eq!(serde_json::from_str::<Rate>(&j).unwrap(), r);
        assert_eq!(serde_json::from_str::<Rate>("\"65%\"").unwrap(), r);
        assert!(serde_json::from_str::<Rate>("0.65").is_err());
    }
}
