//! SaaS metrics, with the vendor's exact definitions.
//!
//! | metric | definition |
//! |---|---|
//! | total users | users who generated revenue in the year; one user with many accounts counts once |
//! | average contract value per user | selling prices of all contracts signed and orders placed in the year ÷ users signing or placing them that year |
//! | subscription user retention | users with subscription revenue in both this year and last ÷ users with subscription revenue last year |
//! | monthly average revenue per user | mean over the 12 months of (month's SaaS revenue ÷ users generating revenue that month); a month without such users counts 0 |
//! | customer acquisition cost | selling & distribution expenses ÷ users signing contracts or placing orders that year |
//! | monthly CAC | mean over the months with signings of (month's expenses ÷ users signing that month ÷ median contract length in months of that month's signings) |
//! | contract value by duration | value signed in the year by term: ≤ 12 months, 12–24 months, > 24 months |
//!
//! A user is a customer tenant. Orders are mid-term purchases (amendments). Money results are
//! rounded half-up to the fen, rates to 4 decimal places, at the end only.
//!
//! ```
//! use std::collections::BTreeMap;
//! use chrono::NaiveDate;
//! use marketingforce_core::money::{Currency, Money};
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_modules::metrics::SaasMetrics;
//! use marketingforce_modules::revenue::{Contract, RevenueBook};
//!
//! let d = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let (a, b) = (TenantId::new(), TenantId::new());
//! let book = RevenueBook::new(Currency::CNY, vec![
//!     Contract::simple("c1", a, Money::cny("19800").unwrap(), d("2026-01-05"), d("2026-01-06"), 12).unwrap(),
//!     Contract::simple("c2", b, Money::cny("49800").unwrap(), d("2026-03-02"), d("2026-03-02"), 24).unwrap(),
//! ]);
//! let expenses = BTreeMap::from([(1, Money::cny("10000").unwrap()), (3, Money::cny("30000").unwrap())]);
//! let m = SaasMetrics::compute(&book, 2026, &expenses).unwrap();
//! assert_eq!(m.total_users, 2);
//! assert_eq!(m.average_contract_value_per_user.unwrap().to_string(), "34800.00 CNY");
//! assert_eq!(m.cac.unwrap().to_string(), "20000.00 CNY");
//! assert_eq!(m.contract_value_by_duration.over_12_to_24.to_string(), "49800.00 CNY");
//! ```

use std::collections::{BTreeMap, BTreeSet};

use chrono::Datelike;
use marketingforce_core::money::{Currency, Decimal, Money, RoundingMode};
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use crate::error::{ModulesError, Result};
use crate::revenue::RevenueBook;

/// Contract value signed in a year, by term length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationBuckets {
    /// Terms of at most 12 months.
    pub up_to_12: Money,
    /// Terms over 12 and at most 24 months.
    pub over_12_to_24: Money,
    /// Terms over 24 months.
    pub over_24: Money,
}

impl DurationBuckets {
    /// The contract value of all terms together (the three buckets summed exactly).
    ///
    /// ```
    /// use marketingforce_core::money::Money;
    /// use marketingforce_modules::metrics::DurationBuckets;
    ///
    /// let cny = |s: &str| Money::cny(s).unwrap();
    /// let b = DurationBuckets { up_to_12: cny("19800"), over_12_to_24: cny("128000"), over_24: cny("0") };
    /// assert_eq!(b.total().unwrap(), cny("147800"));
    /// ```
    ///
    /// # Errors
    /// Buckets in different currencies (field `over_12_to_24` or `over_24`), or overflow.
    pub fn total(&self) -> Result<Money> {
        let currency = self.up_to_12.currency();
        for (field, m) in [
            ("over_12_to_24", &self.over_12_to_24),
            ("over_24", &self.over_24),
        ] {
            if m.currency() != currency {
                return Err(marketingforce_core::Error::validation(
                    field,
                    format!("{} is not in {currency} like up_to_12", m.currency()),
                )
                .into());
            }
        }
        Ok(Money::sum(
            currency,
            [&self.up_to_12, &self.over_12_to_24, &self.over_24],
        )?)
    }
}

/// The metrics of one year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaasMetrics {
    /// The year.
    pub year: i32,
    /// Users who generated revenue in the year.
    pub total_users: u64,
    /// Users who signed contracts or placed orders in the year.
    pub signing_users: u64,
    /// Contract value signed and ordered in the year ÷ signing users (None without signings).
    pub average_contract_value_per_user: Option<Money>,
    /// Users with revenue this year and last ÷ users with revenue last year (None without
    /// revenue last year).
    pub retention_rate: Option<Decimal>,
    /// Mean over the 12 months of revenue ÷ paying users.
    pub monthly_arpu: Money,
    /// Selling & distribution expenses ÷ signing users (None without signings).
    pub cac: Option<Money>,
    /// Mean over months with signings of expenses ÷ signing users ÷ median term months.
    pub monthly_cac: Option<Money>,
    /// Contract value signed in the year by term length.
    pub contract_value_by_duration: DurationBuckets,
}

fn round(m: Money) -> Money {
    crate::round_minor(m, RoundingMode::HalfUp)
}

fn median(mut xs: Vec<u32>) -> Option<Decimal> {
    xs.sort_unstable();
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    Some(if n % 2 == 1 {
        Decimal::from(xs[mid])
    } else {
        (Decimal::from(xs[mid - 1]) + Decimal::from(xs[mid])) / Decimal::TWO
    })
}

impl SaasMetrics {
    /// Compute the metrics of `year` from the contracts of `book` and the selling &
    /// distribution `expenses` per month (1–12; missing months are zero).
    ///
    /// # Errors
    /// Mixed currencies, arithmetic overflow.
    pub fn compute(
        book: &RevenueBook,
        year: i32,
        expenses: &BTreeMap<u32, Money>,
    ) -> Result<SaasMetrics> {
        let currency = book
            .contracts()
            .iter()
            .flat_map(|c| c.obligations.first())
            .map(|o| o.value.currency())
            .next()
            .unwrap_or(Currency::CNY);
        let zero = Money::zero(currency);

        let by_month = book.monthly_by_customer(year)?;
        let users: BTreeSet<TenantId> = by_month.keys().map(|(_, t)| *t).collect();
        let last_year: BTreeSet<TenantId> = book.customers_with_revenue(year - 1)?;

        // Signings and orders in the year.
        let mut signed_value = zero;
        let mut signers: BTreeSet<TenantId> = BTreeSet::new();
        let mut month_signers: BTreeMap<u32, BTreeSet<TenantId>> = BTreeMap::new();
        let mut month_terms: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut buckets = DurationBuckets {
            up_to_12: zero,
            over_12_to_24: zero,
            over_24: zero,
        };
        for c in book.contracts() {
            for (i, o) in c.obligations.iter().enumerate() {
                if o.booked_on.year() != year {
                    continue;
                }
                signed_value = signed_value.checked_add(&o.value)?;
                signers.insert(c.customer);
                let bucket = match c.term_months {
                    0..=12 => &mut buckets.up_to_12,
                    13..=24 => &mut buckets.over_12_to_24,
                    _ => &mut buckets.over_24,
                };
                *bucket = bucket.checked_add(&o.value)?;
                if i == 0 {
                    // Monthly CAC counts contract signings (not mid-term orders).
                    let m = o.booked_on.month();
                    month_signers.entry(m).or_default().insert(c.customer);
                    month_terms.entry(m).or_default().push(c.term_months);
                }
            }
        }
        let n_signers = signers.len() as u64;
        let acv = if n_signers == 0 {
            None
        } else {
            Some(round(signed_value.checked_div(Decimal::from(n_signers))?))
        };

        let retention_rate = if last_year.is_empty() {
            None
        } else {
            let kept = last_year.intersection(&users).count();
            Some(
                (Decimal::from(kept as u64) / Decimal::from(last_year.len() as u64))
                    .round_dp_with_strategy(
                        4,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    ),
            )
        };

        let mut arpu_sum = Decimal::ZERO;
        for m in 1..=12u32 {
            let mut revenue = zero;
            let mut payers = 0u64;
            for ((month, _), amount) in by_month.range((m, TenantId::from_uuid(uuid_min()))..) {
                if *month != m {
                    break;
                }
                revenue = revenue.checked_add(amount)?;
                payers += 1;
            }
            if payers > 0 {
                let arpu = revenue.amount() / Decimal::from(payers);
                arpu_sum = within_range(arpu_sum.checked_add(arpu), "monthly_arpu")?;
            }
        }
        let monthly_arpu = round(Money::new(arpu_sum / Decimal::from(12), currency));

        let total_expenses = Money::sum(currency, expenses.values())?;
        let cac = if n_signers == 0 {
            None
        } else {
            Some(round(total_expenses.checked_div(Decimal::from(n_signers))?))
        };

        let mut monthly = Vec::new();
        for (m, who) in &month_signers {
            let Some(med) = month_terms.get(m).cloned().and_then(median) else {
                continue;
            };
            if who.is_empty() || med.is_zero() {
                continue;
            }
            let spent = expenses.get(m).copied().unwrap_or(zero);
            let per_user = spent.amount() / Decimal::from(who.len() as u64);
            monthly.push(within_range(per_user.checked_div(med), "monthly_cac")?);
        }
        let monthly_cac = if monthly.is_empty() {
            None
        } else {
            let total = monthly
                .iter()
                .try_fold(Decimal::ZERO, |acc, x| acc.checked_add(*x));
            let mean = within_range(total, "monthly_cac")? / Decimal::from(monthly.len() as u64);
            Some(round(Money::new(mean, currency)))
        };

        Ok(SaasMetrics {
            year,
            total_users: users.len() as u64,
            signing_users: n_signers,
            average_contract_value_per_user: acv,
            retention_rate,
            monthly_arpu,
            cac,
            monthly_cac,
            contract_value_by_duration: DurationBuckets {
                up_to_12: round(buckets.up_to_12),
                over_12_to_24: round(buckets.over_12_to_24),
                over_24: round(buckets.over_24),
            },
        })
    }
}

/// The result of a checked operation computing the metric `field`, or a validation error on
/// `field` when it left the decimal range.
fn within_range(value: Option<Decimal>, field: &str) -> Result<Decimal> {
    value.ok_or_else(|| {
        ModulesError::validation(field, "arithmetic overflow: beyond the decimal range")
    })
}

fn uuid_min() -> marketingforce_core::id::Uuid {
    marketingforce_core::id::Uuid::nil()
}
