//! Settlement figures over several months: a quarter, a year, any run of months — overall, per
//! service type and per platform — and rebate rates rounded to a stated precision.
//!
//! A roll-up sums the months' *lines* (and staff costs) and derives every total and rate from
//! those sums once, so a yearly rate is the rate of the year's money, never an average of
//! monthly rates, and nothing is rounded twice.

use std::collections::BTreeSet;

use marketingforce_core::money::{Currency, Decimal, RoundingMode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::figures::{LineFigures, SettlementFigures, Summary};
use crate::agreement::ServiceType;
use crate::error::{AdsError, Result};
use crate::ids::PlatformId;
use crate::period::Month;

/// Which rebate rate of a [`Summary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RebateRate {
    /// Rebates from platforms ÷ traffic spend.
    Received,
    /// Rebates to customers ÷ traffic spend.
    Offered,
    /// Received − offered.
    Net,
}

impl Summary {
    /// A rebate rate computed from the summary's money and rounded half-even to `dp` decimal
    /// places (a fraction: `0.0215` is 2.15%); `None` when there was no spend.
    ///
    /// The stored `rate_*` fields carry 6 places; this computes from the amounts themselves, so
    /// asking for 2 or 4 places never rounds twice.
    pub fn rate_rounded(&self, rate: RebateRate, dp: u32) -> Option<Decimal> {
        let spend = self.spend.amount();
        if spend.is_zero() {
            return None;
        }
        let numerator = match rate {
            RebateRate::Received => self.platform_rebates.amount(),
            RebateRate::Offered => self.customer_rebates.amount(),
            RebateRate::Net => self
                .platform_rebates
                .amount()
                .checked_sub(self.customer_rebates.amount())?,
        };
        let fraction = numerator.checked_div(spend)?;
        Some(RoundingMode::HalfEven.round(fraction, dp).normalize())
    }
}

/// One line for a report or a log: spend, the rebates both ways, revenue, gross profit and the
/// net rebate rate as a percentage with two decimals (`-` without spend).
///
/// ```
/// # use marketingforce_ads::settlement::Summary;
/// # fn show(overall: &Summary) {
/// println!("March: {overall}");
/// // March: spend 1000.00 CNY · platform rebates 50.00 CNY · customer rebates 30.00 CNY ·
/// //        revenue 20.00 CNY · gross profit 20.00 CNY · net rebate rate 2.00%
/// # }
/// ```
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "spend {} · platform rebates {} · customer rebates {} · revenue {} · gross profit {} \
             · net rebate rate ",
            self.spend,
            self.platform_rebates,
            self.customer_rebates,
            self.revenue,
            self.gross_profit
        )?;
        match self
            .rate_rounded(RebateRate::Net, 4)
            .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
        {
            Some(pct) => write!(f, "{:.2}%", pct),
            None => f.write_str("-"),
        }
    }
}

/// The figures of several months added up: overall, per service type, per platform and per
/// month, from [`SettlementRollup::of`].
///
/// ```
/// # use marketingforce_ads::settlement::{SettlementFigures, SettlementRollup};
/// # fn year(months: &[SettlementFigures]) -> marketingforce_ads::Result<()> {
/// use marketingforce_ads::settlement::RebateRate;
/// let rollup = SettlementRollup::of(months)?;
/// let net = rollup.overall.rate_rounded(RebateRate::Net, 4); // e.g. Some(0.0195)
/// # let _ = net; Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementRollup {
    /// The currency.
    pub currency: Currency,
    /// The months included, ascending.
    pub months: Vec<Month>,
    /// Each month's overall summary, in the order of `months`.
    pub monthly: Vec<(Month, Summary)>,
    /// Totals per service type over all the months (with their staff costs).
    pub by_service_type: Vec<(ServiceType, Summary)>,
    /// Totals per platform over all the months (staff costs are not attributed to platforms).
    pub by_platform: Vec<(PlatformId, Summary)>,
    /// Totals over everything.
    pub overall: Summary,
}

impl SettlementRollup {
    /// Add up the figures of several months (in any order).
    ///
    /// # Errors
    /// No figures (field `months`); figures in different currencies or the same month twice
    /// (field `months[i]`).
    pub fn of(figures: &[SettlementFigures]) -> Result<SettlementRollup> {
        let Some(first) = figures.first() else {
            return Err(AdsError::validation(
                "months",
                "at least one month of figures is required",
            ));
        };
        let currency = first.currency;
        let mut seen = BTreeSet::new();
        for (i, f) in figures.iter().enumerate() {
            if f.currency != currency {
                return Err(AdsError::validation(
                    format!("months[{i}]"),
                    format!("{} figures are in {}, not {currency}", f.month, f.currency),
                ));
            }
            if !seen.insert(f.month) {
                return Err(AdsError::validation(
                    format!("months[{i}]"),
                    format!("{} appears twice", f.month),
                ));
            }
        }
        let mut sorted: Vec<&SettlementFigures> = figures.iter().collect();
        sorted.sort_by_key(|f| f.month);
        let lines = || sorted.iter().flat_map(|f| f.lines.iter());
        let staff = |s: Option<ServiceType>| -> i128 {
            sorted
                .iter()
                .flat_map(|f| f.staff_costs.iter())
                .filter(|(t, _)| s.is_none_or(|x| x == *t))
                .map(|(_, m)| m.to_minor().unwrap_or_default())
                .sum()
        };
        let by_service_type = ServiceType::ALL
            .into_iter()
            .map(|s| {
                let of_type = lines().filter(move |l| l.service_type == s);
                (s, Summary::of(currency, of_type, staff(Some(s))))
            })
            .collect();
        let platforms: BTreeSet<PlatformId> = lines().map(|l| l.platform).collect();
        let by_platform = platforms
            .into_iter()
            .map(|p| {
                let on: Vec<&LineFigures> = lines().filter(|l| l.platform == p).collect();
                (p, Summary::of(currency, on.into_iter(), 0))
            })
            .collect();
        Ok(SettlementRollup {
            currency,
            months: sorted.iter().map(|f| f.month).collect(),
            monthly: sorted.iter().map(|f| (f.month, f.overall())).collect(),
            by_service_type,
            by_platform,
            overall: Summary::of(currency, lines(), staff(None)),
        })
    }

    /// The totals of one service type.
    pub fn service_type(&self, service: ServiceType) -> Option<&Summary> {
        self.by_service_type
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, x)| x)
    }
}
