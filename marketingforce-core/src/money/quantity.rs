//! [`Quantity`]: a whole number of usage units (articles, videos, leads, megabytes, seats).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{quote_input, Error, Result};

/// A non-negative whole number of usage units.
///
/// Fractional measures use a finer unit (storage in MB rather than GB), so that metering stays
/// exact integer arithmetic. Operations are checked; going below zero or overflowing is an error.
///
/// ```
/// use marketingforce_core::money::Quantity;
///
/// let q = Quantity::new(500);
/// assert_eq!(q.checked_sub(Quantity::new(200)).unwrap(), Quantity::new(300));
/// assert!(q.checked_sub(Quantity::new(501)).is_err());
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(transparent)]
pub struct Quantity(u64);

impl Quantity {
    /// Zero units.
    pub const ZERO: Quantity = Quantity(0);

    /// `n` units.
    pub const fn new(n: u64) -> Quantity {
        Quantity(n)
    }

    /// The number of units.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`.
    ///
    /// # Errors
    /// Overflow.
    pub fn checked_add(self, other: Quantity) -> Result<Quantity> {
        self.0
            .checked_add(other.0)
            .map(Quantity)
            .ok_or_else(|| Error::validation("quantity", "overflow"))
    }

    /// `self − other`.
    ///
    /// # Errors
    /// When `other` is larger than `self`.
    pub fn checked_sub(self, other: Quantity) -> Result<Quantity> {
        self.0.checked_sub(other.0).map(Quantity).ok_or_else(|| {
            Error::validation("quantity", format!("{} is less than {}", self.0, other.0))
        })
    }

    /// `self − other`, or zero.
    #[must_use]
    pub const fn saturating_sub(self, other: Quantity) -> Quantity {
        Quantity(self.0.saturating_sub(other.0))
    }

    /// Parse a whole number of units (`"500"`), naming `field` in the error. Fractions,
    /// signs, exponents and numbers above `u64::MAX` are refused, never rounded or wrapped.
    ///
    /// ```
    /// use marketingforce_core::money::Quantity;
    ///
    /// assert_eq!(Quantity::parse_field(" 500 ", "quantity").unwrap(), Quantity::new(500));
    /// assert!(Quantity::parse_field("1.5", "quantity").is_err());
    /// assert!(Quantity::parse_field("18446744073709551616", "quantity").is_err());
    /// ```
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn parse_field(s: &str, field: &str) -> Result<Quantity> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::validation(
                field,
                format!("{} is not a whole number of units", quote_input(s)),
            ));
        }
        t.parse::<u64>().map(Quantity).map_err(|_| {
            Error::validation(
                field,
                format!("{} is larger than {}", quote_input(s), u64::MAX),
            )
        })
    }

    /// Reject zero, naming `field`.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn ensure_positive(self, field: &str) -> Result<Quantity> {
        if self.0 == 0 {
            Err(Error::validation(field, "must be at least 1"))
        } else {
            Ok(self)
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Quantity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Quantity::parse_field(s, "quantity")
    }
}

impl From<u64> for Quantity {
    fn from(n: u64) -> Self {
        Quantity(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_exact_or_refused() {
        assert_eq!("0".parse::<Quantity>().unwrap(), Quantity::ZERO);
        assert_eq!(
            "18446744073709551615".parse::<Quantity>().unwrap().get(),
            u64::MAX
        );
        for bad in [
            "",
            "-1",
            "+1",
            "1.0",
            "1e3",
            "1_000",
            "18446744073709551616",
        ] {
            let e = bad.parse::<Quantity>().unwrap_err();
            assert!(
                matches!(&e, Error::Validation { field, .. } if field == "quantity"),
                "{bad}"
            );
        }
        let e = "7".repeat(1_000_000).parse::<Quantity>().unwrap_err();
        assert!(e.to_string().len() < 200);
    }
}
