//! Splitting an amount into parts that sum exactly (largest-remainder method).

use rust_decimal::Decimal;

use super::Money;
use crate::error::{Error, Result};

impl Money {
    /// The most parts [`Money::allocate`] and [`Money::allocate_by_weights`] split into: a
    /// million (a daily share of 2,700 years, a rebate over a million accounts). Larger requests
    /// are refused with a validation error instead of exhausting memory.
    pub const MAX_PARTS: usize = 1_000_000;

    /// Split into `parts` amounts in whole minor units that sum exactly to `self` and differ from
    /// each other by at most one minor unit; the earlier parts get the extra units.
    ///
    /// ```
    /// use marketingforce_core::money::Money;
    ///
    /// let parts = Money::cny("100.00").unwrap().allocate(3).unwrap();
    /// let shown: Vec<String> = parts.iter().map(|m| m.amount().to_string()).collect();
    /// assert_eq!(shown, ["33.34", "33.33", "33.33"]);
    /// ```
    ///
    /// # Errors
    /// `parts` is zero or above [`Money::MAX_PARTS`], or `self` has digits finer than its
    /// currency's minor unit.
    pub fn allocate(&self, parts: usize) -> Result<Vec<Money>> {
        if parts == 0 {
            return Err(Error::validation("parts", "must be at least 1"));
        }
        check_parts(parts, "parts")?;
        let total = self.whole_minor_units()?;
        let n = i128::try_from(parts).map_err(|_| Error::validation("parts", "too many parts"))?;
        let (sign, abs) = (total.signum(), total.abs());
        let (base, extra) = (abs / n, abs % n);
        Ok((0..n)
            .map(|i| self.with_minor_units(sign * (base + i128::from(i < extra))))
            .collect())
    }

    /// Split in proportion to `weights` (non-negative, not all zero) into amounts in whole minor
    /// units that sum exactly to `self`. Each part is within one minor unit of its exact share;
    /// the units left after flooring go to the largest remainders, ties to the earlier part.
    ///
    /// ```
    /// use marketingforce_core::money::Money;
    /// use rust_decimal::Decimal;
    ///
    /// let rebate = Money::cny("1000.00").unwrap();
    /// let spend = [Decimal::new(3, 0), Decimal::new(3, 0), Decimal::new(3, 0)];
    /// let parts = rebate.allocate_by_weights(&spend).unwrap();
    /// assert_eq!(parts[0].amount().to_string(), "333.34");
    /// assert_eq!(parts[2].amount().to_string(), "333.33");
    /// ```
    ///
    /// # Errors
    /// Empty or negative weights, more than [`Money::MAX_PARTS`] weights, weights summing to
    /// zero, an amount finer than minor units, or amounts and weights so large that exact
    /// integer arithmetic would overflow.
    pub fn allocate_by_weights(&self, weights: &[Decimal]) -> Result<Vec<Money>> {
        if weights.is_empty() {
            return Err(Error::validation(
                "weights",
                "at least one weight is required",
            ));
        }
        check_parts(weights.len(), "weights")?;
        if let Some(i) = weights
            .iter()
            .position(|w| w.is_sign_negative() && !w.is_zero())
        {
            return Err(Error::validation(
                format!("weights[{i}]"),
                "must not be negative",
            ));
        }
        let total = self.whole_minor_units()?;
        let scale = weights.iter().map(Decimal::scale).max().unwrap_or(0);
        let ints = weights
            .iter()
            .map(|w| {
                10i128
                    .checked_pow(scale - w.scale())
                    .and_then(|f| w.mantissa().checked_mul(f))
                    .ok_or_else(too_large)
            })
            .collect::<Result<Vec<i128>>>()?;
        let weight_sum = ints
            .iter()
            .try_fold(0i128, |acc, w| acc.checked_add(*w))
            .ok_or_else(too_large)?;
        if weight_sum == 0 {
            return Err(Error::validation("weights", "must not all be zero"));
        }
        let (sign, abs) = (total.signum(), total.abs());
        let mut shares = Vec::with_capacity(ints.len());
        for w in &ints {
            let num = abs.checked_mul(*w).ok_or_else(too_large)?;
            shares.push((num / weight_sum, num % weight_sum));
        }
        let floored: i128 = shares.iter().map(|(q, _)| q).sum();
        let leftover = usize::try_from(abs - floored).map_err(|_| too_large())?;
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|&a, &b| shares[b].1.cmp(&shares[a].1).then(a.cmp(&b)));
        for &i in order.iter().take(leftover) {
            shares[i].0 += 1;
        }
        Ok(shares
            .into_iter()
            .map(|(q, _)| self.with_minor_units(sign * q))
            .collect())
    }

    fn whole_minor_units(&self) -> Result<i128> {
        let scale = Decimal::from(10i64.pow(self.currency().minor_units()));
        if self.amount().checked_mul(scale).is_none() {
            return Err(Error::validation(
                "amount",
                format!("{self} is too large to count in minor units"),
            ));
        }
        self.to_minor().ok_or_else(|| {
            Error::validation(
                "amount",
                format!(
                    "{self} has digits finer than the {} minor unit; round it before splitting",
                    self.currency()
                ),
            )
        })
    }

    fn with_minor_units(&self, minor: i128) -> Money {
        let mut amount = Decimal::from_i128_with_scale(minor, self.currency().minor_units());
        amount.rescale(self.currency().minor_units());
        Money::new(amount, self.currency())
    }
}

fn check_parts(parts: usize, field: &str) -> Result<()> {
    if parts > Money::MAX_PARTS {
        return Err(Error::validation(
            field,
            format!(
                "{parts} parts requested; at most {} are allowed",
                Money::MAX_PARTS
            ),
        ));
    }
    Ok(())
}

fn too_large() -> Error {
    Error::validation("weights", "amount and weights too large to split exactly")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn splits_negative_amounts_symmetrically() {
        let parts = Money::cny("-0.05").unwrap().allocate(2).unwrap();
        assert_eq!(parts[0].amount().to_string(), "-0.03");
        assert_eq!(parts[1].amount().to_string(), "-0.02");
    }

    #[test]
    fn rejects_bad_input() {
        let m = Money::cny("1.00").unwrap();
        assert!(m.allocate(0).is_err());
        assert!(Money::cny("1.001").unwrap().allocate(2).is_err());
        assert!(m.allocate_by_weights(&[]).is_err());
        assert!(m.allocate_by_weights(&[Decimal::ZERO]).is_err());
        let e = m
            .allocate_by_weights(&[Decimal::ONE, Decimal::NEGATIVE_ONE])
            .unwrap_err();
        assert!(e.to_string().contains("weights[1]"));
    }

    #[test]
    fn part_counts_are_bounded_instead_of_panicking_or_aborting() {
        let m = Money::cny("1.00").unwrap();
        for parts in [usize::MAX, 1 << 40, Money::MAX_PARTS + 1] {
            let e = m.allocate(parts).unwrap_err();
            assert!(
                matches!(&e, Error::Validation { field, .. } if field == "parts"),
                "{e}"
            );
        }
        assert_eq!(
            m.allocate(Money::MAX_PARTS).unwrap().len(),
            Money::MAX_PARTS
        );
        let weights = vec![Decimal::ONE; Money::MAX_PARTS + 1];
        let e = m.allocate_by_weights(&weights).unwrap_err();
        assert!(
            matches!(&e, Error::Validation { field, .. } if field == "weights"),
            "{e}"
        );
    }

    /// An amount too large to count in minor units is refused as too large, not as having
    /// digits finer than the minor unit (it has none).
    #[test]
    fn an_amount_too_large_for_minor_units_says_so() {
        let huge = Money::cny("9999999999999999999999999999").unwrap();
        for e in [
            huge.allocate(2).unwrap_err(),
            huge.allocate_by_weights(&[Decimal::ONE]).unwrap_err(),
        ] {
            assert!(
                matches!(&e, Error::Validation { field, .. } if field == "amount"),
                "{e}"
            );
            assert!(!e.to_string().contains("finer"), "{e}");
            assert!(e.to_string().contains("too large"), "{e}");
        }
    }

    #[test]
    fn zero_weight_parts_get_nothing() {
        let m = Money::from_minor(100, Currency::JPY);
        let parts = m
            .allocate_by_weights(&[Decimal::ZERO, Decimal::new(15, 1), Decimal::new(5, 1)])
            .unwrap();
        let v: Vec<_> = parts.iter().map(|p| p.to_minor().unwrap()).collect();
        assert_eq!(v, [0, 75, 25]);
    }
}
