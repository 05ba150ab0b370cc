//! [`Money`]: a decimal amount in one currency, with checked arithmetic and named rounding.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Currency, Quantity, Rate};
use crate::error::{quote_input, Error, Result};

/// How to round an amount to a number of decimal places. Every rounding in the SDK names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoundingMode {
    /// Round half to even ("banker's rounding"): 0.125 → 0.12, 0.135 → 0.14.
    #[default]
    HalfEven,
    /// Round half away from zero (四舍五入, commercial rounding): 0.125 → 0.13.
    HalfUp,
    /// Round half toward zero: 0.125 → 0.12.
    HalfDown,
    /// Truncate toward zero: 0.129 → 0.12, -0.129 → -0.12.
    Down,
    /// Away from zero: 0.121 → 0.13.
    Up,
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceiling,
}

impl RoundingMode {
    fn strategy(self) -> RoundingStrategy {
        match self {
            RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::HalfDown => RoundingStrategy::MidpointTowardZero,
            RoundingMode::Down => RoundingStrategy::ToZero,
            RoundingMode::Up => RoundingStrategy::AwayFromZero,
            RoundingMode::Floor => RoundingStrategy::ToNegativeInfinity,
            RoundingMode::Ceiling => RoundingStrategy::ToPositiveInfinity,
        }
    }

    /// Round `value` to `dp` decimal places with this mode.
    pub fn round(self, value: Decimal, dp: u32) -> Decimal {
        value.round_dp_with_strategy(dp, self.strategy())
    }
}

/// An amount of money in one [`Currency`].
///
/// The amount is an exact decimal (`rust_decimal::Decimal`, 28 significant digits), never a
/// float. Intermediate results (a rate applied to a price, a daily share of a contract) may carry
/// more digits than the currency's minor unit; [`Money::round`] brings them back with a named
/// [`RoundingMode`]. Arithmetic is checked: mixing currencies or overflowing is an error, not a
/// panic.
///
/// Serialised as `{"amount": "1180.00", "currency": "CNY"}` — the amount is a decimal *string*,
/// so JSON round trips are lossless and keep the scale.
///
/// ```
/// use marketingforce_core::money::{Money, Rate, RoundingMode};
///
/// let price = Money::parse("1180.00 CNY").unwrap();
/// let seats = price.checked_mul_int(8).unwrap();
/// assert_eq!(seats.to_string(), "9440.00 CNY");
///
/// let rebate = seats.mul_rate("5.8%".parse::<Rate>().unwrap()).round(RoundingMode::HalfUp);
/// assert_eq!(rebate.to_string(), "547.52 CNY");
///
/// // Mixing currencies is an error, not a silent conversion.
/// assert!(price.checked_add(&Money::parse("1 USD").unwrap()).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Money of `amount` in `currency`, at whatever precision `amount` has.
    pub const fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Zero in `currency`, at the currency's minor-unit scale.
    pub fn zero(currency: Currency) -> Money {
        Money::new(Decimal::new(0, currency.minor_units()), currency)
    }

    /// An amount expressed in minor units (fen, cents): `from_minor(118000, CNY)` is 1180.00 CNY.
    pub fn from_minor(minor: i64, currency: Currency) -> Money {
        Money::new(Decimal::new(minor, currency.minor_units()), currency)
    }

    /// Renminbi from a decimal string such as `"19800"` or `"0.35"`.
    ///
    /// # Errors
    /// A validation error on `amount` when the string is not a decimal number.
    pub fn cny(amount: &str) -> Result<Money> {
        Ok(Money::new(parse_decimal(amount, "amount")?, Currency::CNY))
    }

    /// Parse `"<amount> <CODE>"` (e.g. `"19800.00 CNY"`) or a bare amount, which is CNY.
    ///
    /// # Errors
    /// A validation error naming `amount` or `currency`.
    pub fn parse(s: &str) -> Result<Money> {
        let s = s.trim();
        match s.rsplit_once(char::is_whitespace) {
            Some((amount, code)) => Ok(Money::new(
                parse_decimal(amount.trim(), "amount")?,
                Currency::parse_field(code, "currency")?,
            )),
            None => Money::cny(s),
        }
    }

    /// The decimal amount.
    pub const fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    /// Whether the amount is above zero.
    pub fn is_positive(&self) -> bool {
        self.amount.is_sign_positive() && !self.amount.is_zero()
    }

    /// The amount as an integer number of minor units, if it has no finer digits.
    pub fn to_minor(&self) -> Option<i128> {
        let scaled = self
            .amount
            .checked_mul(Decimal::from(10i64.pow(self.currency.minor_units())))?
            .normalize();
        (scaled.scale() == 0).then(|| scaled.mantissa())
    }

    /// Round to the currency's minor unit with `mode`.
    #[must_use]
    pub fn round(&self, mode: RoundingMode) -> Money {
        self.round_dp(self.currency.minor_units(), mode)
    }

    /// Round to `dp` decimal places with `mode`.
    #[must_use]
    pub fn round_dp(&self, dp: u32, mode: RoundingMode) -> Money {
        Money::new(mode.round(self.amount, dp), self.currency)
    }

    /// The same amount with the opposite sign.
    #[must_use]
    pub fn negate(&self) -> Money {
        Money::new(-self.amount, self.currency)
    }

    /// The absolute amount.
    #[must_use]
    pub fn abs(&self) -> Money {
        Money::new(self.amount.abs(), self.currency)
    }

    fn same_currency(&self, other: &Money) -> Result<()> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(Error::validation(
                "currency",
                format!(
                    "cannot combine {} with {}: mixed currencies",
                    self.currency, other.currency
                ),
            ))
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    /// Mixed currencies or overflow.
    pub fn checked_add(&self, other: &Money) -> Result<Money> {
        self.same_currency(other)?;
        self.amount
            .checked_add(other.amount)
            .map(|a| Money::new(a, self.currency))
            .ok_or_else(overflow)
    }

    /// `self - other`.
    ///
    /// # Errors
    /// Mixed currencies or overflow.
    pub fn checked_sub(&self, other: &Money) -> Result<Money> {
        self.same_currency(other)?;
        self.amount
            .checked_sub(other.amount)
            .map(|a| Money::new(a, self.currency))
            .ok_or_else(overflow)
    }

    /// `self × factor` (unrounded).
    ///
    /// # Errors
    /// Overflow.
    pub fn checked_mul(&self, factor: Decimal) -> Result<Money> {
        self.amount
            .checked_mul(factor)
            .map(|a| Money::new(a, self.currency))
            .ok_or_else(overflow)
    }

    /// `self × n` for a whole number of units.
    ///
    /// # Errors
    /// Overflow.
    pub fn checked_mul_int(&self, n: i64) -> Result<Money> {
        self.checked_mul(Decimal::from(n))
    }

    /// `self × quantity` (a unit price times a usage quantity).
    ///
    /// # Errors
    /// Overflow.
    pub fn checked_mul_quantity(&self, quantity: Quantity) -> Result<Money> {
        self.checked_mul(Decimal::from(quantity.get()))
    }

    /// `self × rate` (unrounded). Cannot overflow because a rate is at most 1.
    pub fn mul_rate(&self, rate: Rate) -> Money {
        Money::new(self.amount * rate.value(), self.currency)
    }

    /// `self ÷ divisor` (unrounded, 28 significant digits).
    ///
    /// # Errors
    /// Division by zero or overflow.
    pub fn checked_div(&self, divisor: Decimal) -> Result<Money> {
        if divisor.is_zero() {
            return Err(Error::validation("divisor", "division by zero"));
        }
        self.amount
            .checked_div(divisor)
            .map(|a| Money::new(a, self.currency))
            .ok_or_else(overflow)
    }

    /// The ratio `self ÷ other` as a plain decimal (e.g. a rebate rate), or `None` when `other`
    /// is zero or the ratio does not fit in a decimal.
    ///
    /// # Errors
    /// Mixed currencies.
    pub fn ratio_to(&self, other: &Money) -> Result<Option<Decimal>> {
        self.same_currency(other)?;
        Ok(self.amount.checked_div(other.amount))
    }

    /// Compare two amounts of the same currency.
    ///
    /// # Errors
    /// Mixed currencies.
    pub fn checked_cmp(&self, other: &Money) -> Result<Ordering> {
        self.same_currency(other)?;
        Ok(self.amount.cmp(&other.amount))
    }

    /// The smaller of two amounts of the same currency.
    ///
    /// # Errors
    /// Mixed currencies.
    pub fn checked_min(&self, other: &Money) -> Result<Money> {
        Ok(match self.checked_cmp(other)? {
            Ordering::Greater => *other,
            _ => *self,
        })
    }

    /// Sum amounts that must all be in `currency`; an empty input sums to zero.
    ///
    /// # Errors
    /// A part in another currency, or overflow.
    pub fn sum<'a>(
        currency: Currency,
        parts: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money> {
        parts
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
    }

    /// Reject a negative amount, naming `field`.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn ensure_non_negative(&self, field: &str) -> Result<()> {
        if self.is_negative() {
            Err(Error::validation(
                field,
                format!("must not be negative, got {self}"),
            ))
        } else {
            Ok(())
        }
    }

    /// Reject an amount with digits finer than the currency's minor unit, naming `field`.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn ensure_minor_units(&self, field: &str) -> Result<()> {
        if self.amount.normalize().scale() > self.currency.minor_units() {
            Err(Error::validation(
                field,
                format!(
                    "{self} has more than {} decimal places for {}",
                    self.currency.minor_units(),
                    self.currency
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// Reject anything but a non-negative amount in whole minor units in `currency`.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn ensure_price(&self, field: &str, currency: Currency) -> Result<()> {
        if self.currency != currency {
            return Err(Error::validation(
                field,
                format!("expected {currency}, got {}", self.currency),
            ));
        }
        self.ensure_non_negative(field)?;
        self.ensure_minor_units(field)
    }
}

fn overflow() -> Error {
    Error::validation("amount", "arithmetic overflow")
}

/// The most digits a parsed decimal may have, in all and after the point: a [`Decimal`] holds
/// 28 significant digits exactly, and input with more would be rounded silently.
pub const MAX_DECIMAL_DIGITS: usize = 28;

/// Parse a plain decimal string (no exponent, no float formats), naming `field` in the error.
///
/// The value is exact or refused: more than [`MAX_DECIMAL_DIGITS`] significant digits, or more
/// than that many decimal places, is an error rather than a rounded number. Errors quote at most
/// a short prefix of the input ([`quote_input`]).
///
/// ```
/// use marketingforce_core::money::parse_decimal;
///
/// assert_eq!(parse_decimal("1180.00", "amount").unwrap().to_string(), "1180.00");
/// // 29 significant digits would be rounded: refused instead.
/// assert!(parse_decimal("1.0000000000000000000000000001", "amount").is_err());
/// ```
///
/// # Errors
/// A validation error on `field`.
pub fn parse_decimal(s: &str, field: &str) -> Result<Decimal> {
    let t = s.trim();
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = match unsigned.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (unsigned, None),
    };
    if !(digits(int) && frac.is_none_or(digits)) {
        return Err(Error::validation(
            field,
            format!("{} is not a decimal number", quote_input(s)),
        ));
    }
    let frac = frac.unwrap_or("");
    let significant = int.trim_start_matches('0').len()
        + if int.trim_start_matches('0').is_empty() {
            frac.trim_start_matches('0').len()
        } else {
            frac.len()
        };
    if frac.len() > MAX_DECIMAL_DIGITS {
        return Err(Error::validation(
            field,
            format!(
                "{} has {} decimal places; at most {MAX_DECIMAL_DIGITS} are held exactly",
                quote_input(s),
                frac.len()
            ),
        ));
    }
    if significant > MAX_DECIMAL_DIGITS {
        return Err(Error::validation(
            field,
            format!(
                "{} has {significant} significant digits; at most {MAX_DECIMAL_DIGITS} are held exactly",
                quote_input(s)
            ),
        ));
    }
    Decimal::from_str(t).map_err(|e| Error::validation(field, format!("{}: {e}", quote_input(s))))
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl FromStr for Money {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Money::parse(s)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyRepr<'a> {
    #[serde(borrow)]
    amount: Cow<'a, str>,
    currency: Currency,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        MoneyRepr {
            amount: Cow::Owned(self.amount.to_string()),
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let repr = MoneyRepr::deserialize(d)?;
        let amount = parse_decimal(&repr.amount, "amount").map_err(serde::de::Error::custom)?;
        Ok(Money::new(amount, repr.currency))
    }
}

impl JsonSchema for Money {
    fn schema_name() -> Cow<'static, str> {
        "Money".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "An exact decimal amount in one ISO-4217 currency. The amount is a decimal string, never a float.",
            "properties": {
                "amount": { "type": "string", "pattern": r"^[-+]?\d+(\.\d+)?$" },
                "currency": generator.subschema_for::<Currency>(),
            },
            "required": ["amount", "currency"],
            "additionalProperties": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let m = Money::parse("19800.00 CNY").unwrap();
        assert_eq!(m.amount(), Decimal::new(1980000, 2));
        assert_eq!(m.to_string(), "19800.00 CNY");
        assert_eq!(Money::parse("0.35").unwrap().currency(), Currency::CNY);
        assert!(Money::parse("1e5 CNY").is_err());
        assert!(Money::parse("abc CNY").is_err());
        assert!(Money::parse("1.0 XYZ").is_err());
        assert!(Money::parse("1. CNY").is_err());
        assert!(Money::parse("--1 CNY").is_err());
    }

    #[test]
    fn parsing_refuses_what_it_would_round() {
        // 28 significant digits are exact.
        let m = Money::parse("123456789012345678.9012345678 CNY").unwrap();
        assert_eq!(m.amount().to_string(), "123456789012345678.9012345678");
        assert_eq!(
            Money::cny("0.0000000000000000000000000001")
                .unwrap()
                .amount()
                .to_string(),
            "0.0000000000000000000000000001"
        );
        // Leading zeros are not significant.
        assert_eq!(
            Money::cny("000000000000000000000000000000012.5")
                .unwrap()
                .amount()
                .to_string(),
            "12.5"
        );
        // Beyond 28 digits: refused. Before, the first two were rounded silently (to 100 and
        // to 0).
        for bad in [
            "99.999999999999999999999999999 CNY",
            "0.00000000000000000000000000001",
            "123456789012345678.90123456789 CNY",
            "99999999999999999999999999999",
            "1.0000000000000000000000000001",
        ] {
            let e = Money::parse(bad).unwrap_err();
            assert!(e.to_string().contains("held exactly"), "{bad}: {e}");
        }
    }

    #[test]
    fn parse_errors_quote_a_short_prefix() {
        let huge = format!("{}x CNY", "9".repeat(5_000_000));
        let e = Money::parse(&huge).unwrap_err().to_string();
        assert!(e.len() < 200, "{} bytes", e.len());
        assert!(e.contains('…'));
        let e = Money::parse(&format!("1 {}", "Q".repeat(10_000))).unwrap_err();
        assert!(e.to_string().len() < 300);
    }

    #[test]
    fn checks_name_the_field() {
        let neg = Money::cny("-1").unwrap();
        let err = neg.ensure_non_negative("price").unwrap_err();
        assert!(err.to_string().starts_with("invalid price"));
        let fine = Money::cny("1.005").unwrap();
        assert!(fine.ensure_minor_units("price").is_err());
        assert!(Money::cny("1.50")
            .unwrap()
            .ensure_minor_units("price")
            .is_ok());
        assert!(Money::cny("1.500")
            .unwrap()
            .ensure_minor_units("price")
            .is_ok());
    }

    #[test]
    fn rounding_modes() {
        let m = Money::cny("0.125").unwrap();
        assert_eq!(m.round(RoundingMode::HalfEven).amount().to_string(), "0.12");
        assert_eq!(m.round(RoundingMode::HalfUp).amount().to_string(), "0.13");
        assert_eq!(m.round(RoundingMode::Down).amount().to_string(), "0.12");
        assert_eq!(
            Money::cny("-0.121")
                .unwrap()
                .round(RoundingMode::Floor)
                .amount()
                .to_string(),
            "-0.13"
        );
    }

    #[test]
    fn serde_is_string_based_and_rejects_floats() {
        let m = Money::cny("1180.50").unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"1180.50","currency":"CNY"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#"{"amount":1180.5,"currency":"CNY"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"1","currency":"XYZ"}"#).is_err());
    }

    #[test]
    fn minor_units_round_trip() {
        assert_eq!(
            Money::from_minor(118000, Currency::CNY).to_string(),
            "1180.00 CNY"
        );
        assert_eq!(Money::cny("12.34").unwrap().to_minor(), Some(1234));
        assert_eq!(Money::cny("12.345").unwrap().to_minor(), None);
        assert_eq!(Money::from_minor(500, Currency::JPY).to_minor(), Some(500));
    }
}
