//! [`PriceSchedule`]: package, graduated-tier and volume pricing of usage quantities.

use marketingforce_core::money::{Currency, Money, Quantity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ModulesError, Result};

/// One tier of a tiered or volume schedule: units up to `up_to` (inclusive; `None` = no upper
/// bound) cost `unit_price` each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Upper bound of the tier (inclusive); the last tier has none.
    pub up_to: Option<Quantity>,
    /// Price per unit in this tier.
    pub unit_price: Money,
}

/// How a quantity of usage units is priced (for a year; see the quote engine for terms).
///
/// ```
/// use marketingforce_core::money::{Money, Quantity};
/// use marketingforce_modules::pricing::{PriceSchedule, Tier};
///
/// let tiers = vec![
///     Tier { up_to: Some(Quantity::new(100)), unit_price: Money::cny("20").unwrap() },
///     Tier { up_to: None, unit_price: Money::cny("15").unwrap() },
/// ];
/// // Graduated: 100 × 20 + 50 × 15.
/// let graduated = PriceSchedule::Tiered { tiers: tiers.clone() };
/// assert_eq!(graduated.price(Quantity::new(150)).unwrap().total, Money::cny("2750").unwrap());
/// // Volume: all 150 at the tier 150 falls in.
/// let volume = PriceSchedule::Volume { tiers };
/// assert_eq!(volume.price(Quantity::new(150)).unwrap().total, Money::cny("2250").unwrap());
/// // Package: whole packages of 100, rounded up.
/// let package = PriceSchedule::Package { size: Quantity::new(100), price: Money::cny("1800").unwrap() };
/// let p = package.price(Quantity::new(150)).unwrap();
/// assert_eq!((p.total, p.units_granted), (Money::cny("3600").unwrap(), Quantity::new(200)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PriceSchedule {
    /// Whole packages of `size` units at `price` each; a quantity is rounded up to packages.
    Package {
        /// Units per package.
        size: Quantity,
        /// Price of one package.
        price: Money,
    },
    /// Graduated tiers: each unit is priced by the tier it falls in.
    Tiered {
        /// The tiers, by ascending `up_to`.
        tiers: Vec<Tier>,
    },
    /// Volume tiers: every unit is priced at the tier the total quantity falls in.
    Volume {
        /// The tiers, by ascending `up_to`.
        tiers: Vec<Tier>,
    },
}

/// A priced quantity with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SchedulePrice {
    /// The total price.
    pub total: Money,
    /// Units the buyer gets (the quantity, or whole packages).
    pub units_granted: Quantity,
    /// How the total was computed, step by step.
    pub explanation: String,
}

impl PriceSchedule {
    /// Check the schedule: positive package size, ascending tiers ending unbounded, prices in
    /// `currency`, non-negative, whole minor units.
    ///
    /// # Errors
    /// A validation error naming the field (`tiers[2].up_to`).
    pub fn validate(&self, currency: Currency) -> Result<()> {
        match self {
            PriceSchedule::Package { size, price } => {
                size.ensure_positive("size")?;
                price.ensure_price("price", currency)?;
            }
            PriceSchedule::Tiered { tiers } | PriceSchedule::Volume { tiers } => {
                if tiers.is_empty() {
                    return Err(ModulesError::validation(
                        "tiers",
                        "at least one tier is required",
                    ));
                }
                let mut prev: Option<Quantity> = None;
                for (i, t) in tiers.iter().enumerate() {
                    t.unit_price
                        .ensure_price(&format!("tiers[{i}].unit_price"), currency)?;
                    let last = i + 1 == tiers.len();
                    match (t.up_to, last) {
                        (None, true) => {}
                        (None, false) => {
                            return Err(ModulesError::validation(
                                format!("tiers[{i}].up_to"),
                                "only the last tier may be unbounded",
                            ))
                        }
                        (Some(_), true) => {
                            return Err(ModulesError::validation(
                                format!("tiers[{i}].up_to"),
                                "the last tier must be unbounded (no up_to)",
                            ))
                        }
                        (Some(u), false) => {
                            if u.is_zero() || prev.is_some_and(|p| u <= p) {
                                return Err(ModulesError::validation(
                                    format!("tiers[{i}].up_to"),
                                    format!(
                                        "{u} must be greater than the previous tier's bound ({})",
                                        prev.map_or("0".to_string(), |p| p.to_string())
                                    ),
                                ));
                            }
                            prev = Some(u);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Price `quantity` units (at least 1).
    ///
    /// # Errors
    /// A validation error on `quantity` when zero; overflow.
    pub fn price(&self, quantity: Quantity) -> Result<SchedulePrice> {
        quantity.ensure_positive("quantity")?;
        let q = quantity.get();
        match self {
            PriceSchedule::Package { size, price } => {
                let packages = q.div_ceil(size.get().max(1));
                let units = packages
                    .checked_mul(size.get())
                    .ok_or_else(|| ModulesError::validation("quantity", "too large"))?;
                let total = price.checked_mul_int(to_i64(packages)?)?;
                Ok(SchedulePrice {
                    total,
                    units_granted: Quantity::new(units),
                    explanation: format!(
                        "{q} units in packages of {size}: {packages} × {} = {}",
                        price.amount(),
                        total.amount()
                    ),
                })
            }
            PriceSchedule::Tiered { tiers } => {
                let currency = tiers
                    .first()
                    .map_or(Currency::CNY, |t| t.unit_price.currency());
                let mut total = Money::zero(currency);
                let mut steps = Vec::new();
                let mut from = 0u64;
                for (i, t) in tiers.iter().enumerate() {
                    if from >= q {
                        break;
                    }
                    let to = t.up_to.map_or(q, |u| u.get().min(q));
                    let n = to.checked_sub(from).ok_or_else(|| {
                        ModulesError::validation(
                            format!("tiers[{i}].up_to"),
                            format!("{to} must be greater than the previous tier's bound ({from})"),
                        )
                    })?;
                    let part = t.unit_price.checked_mul_int(to_i64(n)?)?;
                    total = total.checked_add(&part)?;
                    steps.push(format!("{n} × {}", t.unit_price.amount()));
                    from = to;
                }
                Ok(SchedulePrice {
                    total,
                    units_granted: quantity,
                    explanation: format!(
                        "{q} units, graduated: {} = {}",
                        steps.join(" + "),
                        total.amount()
                    ),
                })
            }
            PriceSchedule::Volume { tiers } => {
                let (i, tier) = tiers
                    .iter()
                    .enumerate()
                    .find(|(_, t)| t.up_to.is_none_or(|u| q <= u.get()))
                    .ok_or_else(|| {
                        ModulesError::validation("tiers", "no tier covers the quantity")
                    })?;
                let total = tier.unit_price.checked_mul_int(to_i64(q)?)?;
                Ok(SchedulePrice {
                    total,
                    units_granted: quantity,
                    explanation: format!(
                        "{q} units, volume tier {} (up to {}): {q} × {} = {}",
                        i + 1,
                        tier.up_to
                            .map_or("unbounded".to_string(), |u| u.to_string()),
                        tier.unit_price.amount(),
                        total.amount()
                    ),
                })
            }
        }
    }
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| ModulesError::validation("quantity", "too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(up_to: Option<u64>, price: &str) -> Tier {
        Tier {
            up_to: up_to.map(Quantity::new),
            unit_price: Money::cny(price).unwrap(),
        }
    }

    #[test]
    fn validation_names_the_tier() {
        let s = PriceSchedule::Tiered {
            tiers: vec![tier(Some(100), "2"), tier(Some(50), "1"), tier(None, "1")],
        };
        let e = s.validate(Currency::CNY).unwrap_err();
        assert_eq!(e.field(), Some("tiers[1].up_to"));
        let s = PriceSchedule::Volume {
            tiers: vec![tier(Some(100), "2"), tier(Some(200), "1")],
        };
        assert_eq!(
            s.validate(Currency::CNY).unwrap_err().field(),
            Some("tiers[1].up_to")
        );
        let s = PriceSchedule::Volume {
            tiers: vec![tier(None, "-1")],
        };
        assert_eq!(
            s.validate(Currency::CNY).unwrap_err().field(),
            Some("tiers[0].unit_price")
        );
        let s = PriceSchedule::Package {
            size: Quantity::ZERO,
            price: Money::cny("1").unwrap(),
        };
        assert_eq!(s.validate(Currency::CNY).unwrap_err().field(), Some("size"));
    }

    #[test]
    fn tier_boundaries() {
        let tiers = vec![
            tier(Some(100), "2"),
            tier(Some(200), "1.5"),
            tier(None, "1"),
        ];
        let g = PriceSchedule::Tiered {
            tiers: tiers.clone(),
        };
        assert_eq!(
            g.price(Quantity::new(100)).unwrap().total,
            Money::cny("200").unwrap()
        );
        assert_eq!(
            g.price(Quantity::new(101)).unwrap().total,
            Money::cny("201.5").unwrap()
        );
        assert_eq!(
            g.price(Quantity::new(250)).unwrap().total,
            Money::cny("400").unwrap()
        );
        let v = PriceSchedule::Volume { tiers };
        assert_eq!(
            v.price(Quantity::new(100)).unwrap().total,
            Money::cny("200").unwrap()
        );
        assert_eq!(
            v.price(Quantity::new(101)).unwrap().total,
            Money::cny("151.5").unwrap()
        );
        assert!(v.price(Quantity::ZERO).is_err());
    }
}
