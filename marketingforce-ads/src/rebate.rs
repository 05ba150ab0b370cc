//! Rebate policies: what platforms pay the agency, and what the agency gives its customers.
//!
//! - **From platforms** ([`PlatformRebatePolicy`]): a [`StandardRebate`] — a rate on traffic
//!   spend, settled monthly or quarterly, paid as prepayment credit, by netting off payables, or
//!   in cash — plus optional [`ProgressiveRebate`] tiers on the agency's gross spend of a quarter
//!   or a year, computed on the *actual* spend of the period (accrued month by month on spend to
//!   date, trued up when the period closes).
//! - **To customers** ([`CustomerRebatePolicy`]): a predetermined rate (optionally chosen from
//!   tiers by the customer's *estimated* gross billing), tiers on the month's *actual* spend
//!   (marginal or whole-amount), or a fixed amount per month — settled monthly by netting off
//!   receivables.
//!
//! Tier structures are data ([`TierSchedule`]) with both conventions, named:
//! [`TierBasis::Marginal`] (each rate applies to the slice of spend inside its tier, like tax
//! brackets) and [`TierBasis::WholeAmount`] (the rate of the highest tier reached applies to the
//! whole spend).
//!
//! ```
//! use marketingforce_ads::config::Config;
//! use marketingforce_ads::rebate::TierSchedule;
//! use marketingforce_core::money::Money;
//!
//! let tiers = TierSchedule::from_json(r#"{
//!     "basis": "marginal",
//!     "tiers": [
//!         {"from": {"amount": "0", "currency": "CNY"}, "to": {"amount": "1000000", "currency": "CNY"}, "rate": "0%"},
//!         {"from": {"amount": "1000000", "currency": "CNY"}, "to": {"amount": "5000000", "currency": "CNY"}, "rate": "1%"},
//!         {"from": {"amount": "5000000", "currency": "CNY"}, "rate": "2%"}
//!     ]
//! }"#).unwrap();
//! let spend = Money::cny("6000000").unwrap();
//! // 0% of the first million, 1% of the next four, 2% of the last one.
//! assert_eq!(tiers.rebate(&spend).unwrap().amount().normalize().to_string(), "60000");
//!
//! // A gap between tiers is refused, naming the tier.
//! let gap = TierSchedule::from_json(r#"{"basis": "whole_amount", "tiers": [
//!     {"from": {"amount": "0", "currency": "CNY"}, "to": {"amount": "100", "currency": "CNY"}, "rate": "1%"},
//!     {"from": {"amount": "200", "currency": "CNY"}, "rate": "2%"}]}"#).unwrap_err();
//! assert_eq!(gap.field(), Some("tiers[1].from"));
//! ```

use std::str::FromStr;

use marketingforce_core::money::{Currency, Decimal, Money, Rate, RoundingMode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{path, Config};
use crate::error::{AdsError, Result};
use crate::period::PeriodLength;

/// How a tier schedule turns an amount into a rebate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TierBasis {
    /// Each tier's rate applies only to the part of the amount inside that tier.
    Marginal,
    /// The rate of the tier the amount falls in applies to the whole amount.
    WholeAmount,
}

/// One tier: amounts from `from` (inclusive) to `to` (exclusive; open-ended when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Lower bound, inclusive.
    pub from: Money,
    /// Upper bound, exclusive; only the last tier may be open-ended.
    #[serde(default)]
    pub to: Option<Money>,
    /// The rate of the tier.
    pub rate: Rate,
}

/// A progressive tier structure: contiguous tiers from zero, rates never decreasing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierSchedule {
    /// Marginal or whole-amount.
    pub basis: TierBasis,
    /// The tiers, in ascending order.
    pub tiers: Vec<Tier>,
}

impl TierSchedule {
    /// A single open-ended tier: a flat rate.
    pub fn flat(rate: Rate, currency: Currency) -> TierSchedule {
        TierSchedule {
            basis: TierBasis::WholeAmount,
            tiers: vec![Tier {
                from: Money::zero(currency),
                to: None,
                rate,
            }],
        }
    }

    /// The currency of the bounds.
    pub fn currency(&self) -> Currency {
        self.tiers
            .first()
            .map_or(Currency::default(), |t| t.from.currency())
    }

    /// Check the structure, naming the offending path under `field`.
    ///
    /// # Errors
    /// No tiers; a first tier not starting at zero; a tier ending at or before its start; a gap
    /// or an overlap between consecutive tiers; a closed last tier or an open tier before the
    /// last; mixed currencies; a rate lower than the previous tier's.
    pub fn validate_at(&self, field: &str) -> Result<()> {
        let at = |i: usize, f: &str| path(field, &format!("tiers[{i}].{f}"));
        let Some(first) = self.tiers.first() else {
            return Err(AdsError::validation(
                path(field, "tiers"),
                "at least one tier is required",
            ));
        };
        let currency = first.from.currency();
        if !first.from.is_zero() {
            return Err(AdsError::validation(
                at(0, "from"),
                format!("the first tier must start at 0, not {}", first.from),
            ));
        }
        for (i, t) in self.tiers.iter().enumerate() {
            for (name, m) in [("from", Some(t.from)), ("to", t.to)] {
                if let Some(m) = m {
                    if m.currency() != currency {
                        return Err(AdsError::validation(
                            at(i, name),
                            format!("{m} is not in {currency} like the first tier"),
                        ));
                    }
                    if m.is_negative() {
                        return Err(AdsError::validation(at(i, name), "must not be negative"));
                    }
                }
            }
            let last = i + 1 == self.tiers.len();
            match (t.to, last) {
                (None, false) => {
                    return Err(AdsError::validation(
                        at(i, "to"),
                        "only the last tier may be open-ended",
                    ))
                }
                (Some(to), true) => {
                    return Err(AdsError::validation(
                        at(i, "to"),
                        format!(
                            "the last tier must be open-ended (amounts above {to} have no rate)"
                        ),
                    ))
                }
                (Some(to), false) if to.amount() <= t.from.amount() => {
                    return Err(AdsError::validation(
                        at(i, "to"),
                        format!("{to} does not lie above the tier's start {}", t.from),
                    ))
                }
                _ => {}
            }
            if i > 0 {
                let prev = &self.tiers[i - 1];
                let prev_to = prev.to.map(|m| m.amount()).unwrap_or_default();
                if t.from.amount() > prev_to {
                    return Err(AdsError::validation(
                        at(i, "from"),
                        format!(
                            "leaves a gap: tiers[{}] ends at {prev_to}, this tier starts at {}",
                            i - 1,
                            t.from.amount()
                        ),
                    ));
                }
                if t.from.amount() < prev_to {
                    return Err(AdsError::validation(
                        at(i, "from"),
                        format!("overlaps tiers[{}], which runs to {prev_to}", i - 1),
                    ));
                }
                if t.rate < prev.rate {
                    return Err(AdsError::validation(
                        at(i, "rate"),
                        format!(
                            "{} is below the previous tier's {}: progressive tiers never decrease",
                            t.rate, prev.rate
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The tier an amount falls in (amounts below zero fall in the first).
    pub fn tier_for(&self, amount: Decimal) -> Option<&Tier> {
        self.tiers
            .iter()
            .rev()
            .find(|t| t.from.amount() <= amount)
            .or_else(|| self.tiers.first())
    }

    /// The rate of the tier an amount falls in.
    pub fn rate_for(&self, amount: &Money) -> Rate {
        self.tier_for(amount.amount())
            .map_or(Rate::ZERO, |t| t.rate)
    }

    /// The rebate on `amount`, unrounded (round it with a named mode before posting). Amounts at
    /// or below zero earn nothing.
    ///
    /// # Errors
    /// A currency other than the schedule's, or overflow.
    pub fn rebate(&self, amount: &Money) -> Result<Money> {
        let currency = self.currency();
        if amount.currency() != currency {
            return Err(AdsError::validation(
                "amount",
                format!("{amount} is not in the tier currency {currency}"),
            ));
        }
        let x = amount.amount();
        if x <= Decimal::ZERO {
            return Ok(Money::zero(currency));
        }
        let total = match self.basis {
            TierBasis::WholeAmount => x * self.rate_for(amount).value(),
            TierBasis::Marginal => {
                let mut total = Decimal::ZERO;
                for t in &self.tiers {
                    let lo = t.from.amount();
                    if x <= lo {
                        break;
                    }
                    let hi = t.to.map_or(x, |to| to.amount().min(x));
                    let slice = hi.checked_sub(lo).ok_or_else(overflow)?;
                    let part = slice.checked_mul(t.rate.value()).ok_or_else(overflow)?;
                    total = total.checked_add(part).ok_or_else(overflow)?;
                }
                total
            }
        };
        Ok(Money::new(total, currency))
    }
}

fn overflow() -> AdsError {
    AdsError::validation("amount", "arithmetic overflow in tier computation")
}

impl Config for TierSchedule {
    fn validate(&self) -> Result<()> {
        self.validate_at("")
    }
}

/// How a platform pays a rebate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RebatePayout {
    /// As credit for future traffic (added to our prepaid funds at the platform).
    PrepaymentCredit,
    /// By netting off what we owe the platform (needs monthly settlement terms).
    NetPayables,
    /// In cash, recorded when received.
    Cash,
}

/// The standard rebate: a rate on traffic spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardRebate {
    /// Rate on traffic spend.
    pub rate: Rate,
    /// Settled (paid out) monthly or quarterly; accrued monthly either way.
    pub settlement: PeriodLength,
    /// How it is paid.
    pub payout: RebatePayout,
}

/// Progressive rebates on the agency's gross spend with the platform in a quarter or a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressiveRebate {
    /// The period whose actual gross spend the tiers apply to.
    pub period: PeriodLength,
    /// The tiers.
    pub schedule: TierSchedule,
    /// How it is paid when the period closes.
    pub payout: RebatePayout,
}

/// What a platform pays the agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformRebatePolicy {
    /// The standard rate.
    pub standard: StandardRebate,
    /// Progressive tiers, if the platform offers them.
    #[serde(default)]
    pub progressive: Option<ProgressiveRebate>,
}

impl PlatformRebatePolicy {
    /// A standard rate settled monthly as prepayment credit, no tiers.
    pub fn standard(rate: Rate) -> PlatformRebatePolicy {
        PlatformRebatePolicy {
            standard: StandardRebate {
                rate,
                settlement: PeriodLength::Monthly,
                payout: RebatePayout::PrepaymentCredit,
            },
            progressive: None,
        }
    }

    /// Check the policy under `field`.
    ///
    /// # Errors
    /// A standard rebate settled annually, a progressive period shorter than a quarter, or a bad
    /// tier schedule.
    pub fn validate_at(&self, field: &str) -> Result<()> {
        if self.standard.settlement == PeriodLength::Annual {
            return Err(AdsError::validation(
                path(field, "standard.settlement"),
                "the standard rebate is settled monthly or quarterly",
            ));
        }
        if let Some(p) = &self.progressive {
            if p.period == PeriodLength::Monthly {
                return Err(AdsError::validation(
                    path(field, "progressive.period"),
                    "progressive rebates are settled quarterly or annually",
                ));
            }
            p.schedule
                .validate_at(&path(field, "progressive.schedule"))?;
        }
        Ok(())
    }
}

impl Config for PlatformRebatePolicy {
    fn validate(&self) -> Result<()> {
        self.validate_at("")
    }
}

/// What the agency gives a customer, settled monthly by netting off receivables: a flat rate,
/// a rate chosen once from tiers by an estimate, tiers on the month's actual spend, or a fixed
/// amount.
///
/// Serialised externally tagged (`{"fixed": {"rate": "3%"}}`) so load errors name the full path.
/// A flat rate is the one-band case of [`Tiered`](Self::Tiered): `{"fixed": {"rate": "3%"}}`
/// rebates exactly what `{"tiered": {"schedule": <one open band from 0 at 3%>}}` does on any
/// positive spend, and data written before tiers existed still loads unchanged.
///
/// ```
/// use marketingforce_ads::config::Config;
/// use marketingforce_ads::rebate::CustomerRebatePolicy;
/// use marketingforce_core::money::{Money, RoundingMode};
///
/// let cny = |s: &str| Money::cny(s).unwrap();
/// // 1% of the first 100,000 of the month's spend, 2% of the next 400,000, 3% above.
/// let marginal = CustomerRebatePolicy::from_json(r#"{"tiered": {"schedule": {
///     "basis": "marginal",
///     "tiers": [
///         {"from": {"amount": "0", "currency": "CNY"}, "to": {"amount": "100000", "currency": "CNY"}, "rate": "1%"},
///         {"from": {"amount": "100000", "currency": "CNY"}, "to": {"amount": "500000", "currency": "CNY"}, "rate": "2%"},
///         {"from": {"amount": "500000", "currency": "CNY"}, "rate": "3%"}
///     ]}}}"#).unwrap();
/// let spend = cny("600000");
/// // 1,000 + 8,000 + 3,000
/// assert_eq!(marginal.rebate_on(&spend, RoundingMode::HalfUp).unwrap(), cny("12000.00"));
///
/// // A fixed 5,000 a month, never more than the month's spend.
/// let fixed = CustomerRebatePolicy::from_json(
///     r#"{"fixed_amount": {"per_month": {"amount": "5000", "currency": "CNY"}}}"#).unwrap();
/// assert_eq!(fixed.rebate_on(&spend, RoundingMode::HalfUp).unwrap(), cny("5000.00"));
/// assert_eq!(fixed.rebate_on(&cny("1200"), RoundingMode::HalfUp).unwrap(), cny("1200.00"));
///
/// // Rates above 100% are refused, naming the path.
/// let e = CustomerRebatePolicy::from_json(r#"{"tiered": {"schedule": {"basis": "whole_amount",
///     "tiers": [{"from": {"amount": "0", "currency": "CNY"}, "rate": "101%"}]}}}"#).unwrap_err();
/// assert_eq!(e.field(), Some("tiered.schedule.tiers[0].rate"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CustomerRebatePolicy {
    /// One rate on the month's spend (the one-band case of [`Tiered`](Self::Tiered)).
    Fixed {
        /// The rate.
        rate: Rate,
    },
    /// A rate chosen from tiers by the customer's estimated gross billing for the agreement
    /// term (fixed when the agreement is signed).
    TieredByEstimate {
        /// The tiers (rates looked up, whole-amount style).
        schedule: TierSchedule,
        /// The estimate the rate is chosen by.
        estimated_gross_billing: Money,
    },
    /// Tiers on the customer's actual traffic spend of the month, on the schedule's basis:
    /// [`TierBasis::Marginal`] (each band at its own rate) or [`TierBasis::WholeAmount`] (the
    /// reached band's rate on the whole spend). A month with no positive spend earns nothing.
    Tiered {
        /// Contiguous bands from zero, rates never decreasing (so the rebate never falls as
        /// spend grows).
        schedule: TierSchedule,
    },
    /// A fixed amount for every month with spend, capped at the month's spend.
    FixedAmount {
        /// The amount per month (non-negative, in minor units of its currency).
        per_month: Money,
    },
}

impl CustomerRebatePolicy {
    /// One rate on the month's spend ([`Fixed`](Self::Fixed)).
    ///
    /// ```
    /// use marketingforce_ads::rebate::CustomerRebatePolicy;
    ///
    /// let policy = CustomerRebatePolicy::flat("3%".parse().unwrap());
    /// assert_eq!(policy.rate().unwrap().to_string(), "3%");
    /// ```
    pub fn flat(rate: Rate) -> CustomerRebatePolicy {
        CustomerRebatePolicy::Fixed { rate }
    }

    /// The single rate that applies whatever the spend: the flat rate, or the rate the estimate
    /// chose. `None` for tiers on actual spend and for fixed amounts, whose effective rate
    /// depends on the month (see [`rebate_on`](Self::rebate_on)).
    pub fn rate(&self) -> Option<Rate> {
        match self {
            CustomerRebatePolicy::Fixed { rate } => Some(*rate),
            CustomerRebatePolicy::TieredByEstimate {
                schedule,
                estimated_gross_billing,
            } => Some(schedule.rate_for(estimated_gross_billing)),
            CustomerRebatePolicy::Tiered { .. } | CustomerRebatePolicy::FixedAmount { .. } => None,
        }
    }

    /// The currency the policy's amounts are in (`None` for a rate alone).
    pub fn currency(&self) -> Option<Currency> {
        match self {
            CustomerRebatePolicy::Fixed { .. } => None,
            CustomerRebatePolicy::TieredByEstimate { schedule, .. }
            | CustomerRebatePolicy::Tiered { schedule } => Some(schedule.currency()),
            CustomerRebatePolicy::FixedAmount { per_month } => Some(per_month.currency()),
        }
    }

    /// The rebate on a customer's traffic spend of one month, rounded once to the currency's
    /// minor units with `rounding`.
    ///
    /// A single rate (flat or chosen by estimate) applies to the spend as it is, so a month
    /// whose refunds exceed its spend reverses part of an earlier rebate; tiers on actual spend
    /// and fixed amounts give nothing on a month without positive spend. Rates lie in 0–100%,
    /// so the rebate never exceeds a positive spend.
    ///
    /// # Errors
    /// A spend in another currency than the policy's amounts (field `customer_rebate`), or
    /// overflow.
    pub fn rebate_on(&self, spend: &Money, rounding: RoundingMode) -> Result<Money> {
        if let Some(currency) = self.currency() {
            if spend.currency() != currency {
                return Err(AdsError::validation(
                    "customer_rebate",
                    format!(
                        "the policy is in {currency}, the spend in {}",
                        spend.currency()
                    ),
                ));
            }
        }
        let raw = match self {
            CustomerRebatePolicy::Fixed { .. } | CustomerRebatePolicy::TieredByEstimate { .. } => {
                let rate = self.rate().unwrap_or(Rate::ZERO);
                spend.checked_mul(rate.value())?
            }
            CustomerRebatePolicy::Tiered { schedule } => schedule.rebate(spend)?,
            CustomerRebatePolicy::FixedAmount { per_month } => {
                if spend.is_positive() {
                    per_month.checked_min(spend)?
                } else {
                    Money::zero(spend.currency())
                }
            }
        };
        Ok(raw.round(rounding))
    }

    /// Check the policy under `field`.
    ///
    /// # Errors
    /// A bad schedule (bands not ascending from zero, gaps, overlaps, decreasing rates), a
    /// negative estimate or one in another currency than the tiers, a negative or fractional
    /// fixed amount.
    pub fn validate_at(&self, field: &str) -> Result<()> {
        match self {
            CustomerRebatePolicy::Fixed { .. } => Ok(()),
            CustomerRebatePolicy::TieredByEstimate {
                schedule,
                estimated_gross_billing,
            } => {
                let field = path(field, "tiered_by_estimate");
                schedule.validate_at(&path(&field, "schedule"))?;
                let f = path(&field, "estimated_gross_billing");
                estimated_gross_billing.ensure_non_negative(&f)?;
                if estimated_gross_billing.currency() != schedule.currency() {
                    return Err(AdsError::validation(
                        f,
                        format!(
                            "{estimated_gross_billing} is not in the tier currency {}",
                            schedule.currency()
                        ),
                    ));
                }
                Ok(())
            }
            CustomerRebatePolicy::Tiered { schedule } => {
                schedule.validate_at(&path(field, "tiered.schedule"))
            }
            CustomerRebatePolicy::FixedAmount { per_month } => {
                let f = path(field, "fixed_amount.per_month");
                per_month.ensure_non_negative(&f)?;
                per_month.ensure_minor_units(&f)?;
                Ok(())
            }
        }
    }
}

impl From<Rate> for CustomerRebatePolicy {
    /// A flat `rate` ([`CustomerRebatePolicy::flat`]).
    fn from(rate: Rate) -> CustomerRebatePolicy {
        CustomerRebatePolicy::flat(rate)
    }
}

impl FromStr for CustomerRebatePolicy {
    type Err = AdsError;

    /// A flat rate written as a rate (`"3%"`, `"0.03"`), as a deal sheet states one. The other
    /// policies have no one-line form: build them, or load them with `from_json`.
    ///
    /// ```
    /// use marketingforce_ads::rebate::CustomerRebatePolicy;
    ///
    /// let policy: CustomerRebatePolicy = "3%".parse().unwrap();
    /// assert_eq!(policy, CustomerRebatePolicy::flat("3%".parse().unwrap()));
    /// let e = "3 percent".parse::<CustomerRebatePolicy>().unwrap_err();
    /// assert_eq!(e.field(), Some("customer_rebate"));
    /// ```
    ///
    /// # Errors
    /// A validation error on `customer_rebate` for text that is not a rate from 0 to 100%.
    fn from_str(s: &str) -> Result<CustomerRebatePolicy> {
        Ok(CustomerRebatePolicy::flat(Rate::parse_field(
            s,
            "customer_rebate",
        )?))
    }
}

impl Config for CustomerRebatePolicy {
    fn validate(&self) -> Result<()> {
        self.validate_at("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny(s: &str) -> Money {
        Money::cny(s).unwrap()
    }

    fn schedule(basis: TierBasis) -> TierSchedule {
        TierSchedule {
            basis,
            tiers: vec![
                Tier {
                    from: cny("0"),
                    to: Some(cny("100")),
                    rate: "1%".parse().unwrap(),
                },
                Tier {
                    from: cny("100"),
                    to: Some(cny("200")),
                    rate: "2%".parse().unwrap(),
                },
                Tier {
                    from: cny("200"),
                    to: None,
                    rate: "3%".parse().unwrap(),
                },
            ],
        }
    }

    #[test]
    fn marginal_and_whole_amount_differ_as_named() {
        let m = schedule(TierBasis::Marginal);
        let w = schedule(TierBasis::WholeAmount);
        m.validate_at("").unwrap();
        let x = cny("250");
        // 1% × 100 + 2% × 100 + 3% × 50
        assert_eq!(
            m.rebate(&x).unwrap().amount().normalize().to_string(),
            "4.5"
        );
        // 3% × 250
        assert_eq!(
            w.rebate(&x).unwrap().amount().normalize().to_string(),
            "7.5"
        );
        // A boundary belongs to the upper tier.
        assert_eq!(w.rate_for(&cny("100")).to_string(), "2%");
        assert!(m.rebate(&cny("-5")).unwrap().is_zero());
        assert!(m.rebate(&Money::parse("5 USD").unwrap()).is_err());
    }

    #[test]
    fn bad_structures_name_the_tier() {
        let mut s = schedule(TierBasis::Marginal);
        s.tiers[1].from = cny("90");
        assert_eq!(
            s.validate_at("p").unwrap_err().field(),
            Some("p.tiers[1].from")
        );
        let mut s = schedule(TierBasis::Marginal);
        s.tiers[2].rate = "1.5%".parse().unwrap();
        assert_eq!(
            s.validate_at("").unwrap_err().field(),
            Some("tiers[2].rate")
        );
        let mut s = schedule(TierBasis::Marginal);
        s.tiers[2].to = Some(cny("900"));
        assert_eq!(s.validate_at("").unwrap_err().field(), Some("tiers[2].to"));
        let mut s = schedule(TierBasis::Marginal);
        s.tiers[0].from = cny("1");
        assert_eq!(
            s.validate_at("").unwrap_err().field(),
            Some("tiers[0].from")
        );
        let mut s = schedule(TierBasis::Marginal);
        s.tiers[1].to = Some(cny("100"));
        assert_eq!(s.validate_at("").unwrap_err().field(), Some("tiers[1].to"));
        assert!(TierSchedule {
            basis: TierBasis::Marginal,
            tiers: vec![]
        }
        .validate_at("")
        .is_err());
    }

    #[test]
    fn rates_out_of_range_are_refused_with_their_path() {
        let e = PlatformRebatePolicy::from_json(
            r#"{"standard": {"rate": "120%", "settlement": "monthly", "payout": "cash"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("standard.rate"), "{e}");
        let e = PlatformRebatePolicy::from_json(
            r#"{"standard": {"rate": "-1%", "settlement": "monthly", "payout": "cash"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("standard.rate"), "{e}");
        let e = PlatformRebatePolicy::from_json(
            r#"{"standard": {"rate": "2%", "settlement": "annual", "payout": "cash"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.field(), Some("standard.settlement"), "{e}");
    }

    #[test]
    fn customer_rate_follows_the_estimate() {
        let p = CustomerRebatePolicy::TieredByEstimate {
            schedule: schedule(TierBasis::WholeAmount),
            estimated_gross_billing: cny("150"),
        };
        p.validate_at("").unwrap();
        assert_eq!(p.rate().map(|r| r.to_string()).as_deref(), Some("2%"));
    }
}
