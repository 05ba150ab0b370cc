//! The quote engine: prices a basket (bundle or accounts, add-on modules, extra seats, usage
//! packs) for a term, or an amendment mid-term with proration by day, and explains every line.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Months, NaiveDate};
use marketingforce_core::money::{Decimal, Money, Quantity, RoundingMode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Metering, ModuleId};
use crate::error::{ModulesError, Result};
use crate::products::{Bundle, BundleId, BundlePricing, Products};

/// A contract term: `months` months from `start` (the end is exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Term {
    /// First day.
    pub start: NaiveDate,
    /// Length in months (1–60).
    pub months: u32,
}

impl Term {
    /// A term of `months` months from `start`.
    pub fn new(start: NaiveDate, months: u32) -> Term {
        Term { start, months }
    }

    /// Check the length.
    ///
    /// # Errors
    /// A validation error on `months` outside 1–60.
    pub fn validate(&self) -> Result<()> {
        if !(1..=60).contains(&self.months) {
            return Err(ModulesError::validation(
                "months",
                format!("{} months is outside 1-60", self.months),
            ));
        }
        self.end().map(|_| ())
    }

    /// The day after the last day.
    ///
    /// # Errors
    /// A date beyond the calendar's range.
    pub fn end(&self) -> Result<NaiveDate> {
        self.start
            .checked_add_months(Months::new(self.months))
            .ok_or_else(|| {
                ModulesError::validation("start", "term ends beyond the supported dates")
            })
    }

    /// Number of days in the term.
    ///
    /// # Errors
    /// As [`Term::end`].
    pub fn days(&self) -> Result<i64> {
        Ok((self.end()? - self.start).num_days())
    }
}

/// Extra seats of a seat-limited module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatLine {
    /// The seat-limited module.
    pub module: ModuleId,
    /// Seats (at least 1).
    pub seats: u32,
}

/// A quantity of a usage pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackLine {
    /// The pack id.
    pub pack: String,
    /// Units wanted (at least 1; package packs round up to whole packages).
    pub quantity: Quantity,
}

/// What to price for a new contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// The bundle (product version).
    pub bundle: BundleId,
    /// The term.
    pub term: Term,
    /// Accounts, for bundles priced per account (required there, refused elsewhere).
    #[serde(default)]
    pub accounts: Option<u32>,
    /// Add-on modules.
    #[serde(default)]
    pub add_ons: Vec<ModuleId>,
    /// Extra seats.
    #[serde(default)]
    pub extra_seats: Vec<SeatLine>,
    /// Usage packs.
    #[serde(default)]
    pub usage_packs: Vec<PackLine>,
}

impl QuoteRequest {
    /// A request for `bundle` over `term` with nothing else.
    pub fn new(bundle: BundleId, term: Term) -> QuoteRequest {
        QuoteRequest {
            bundle,
            term,
            accounts: None,
            add_ons: Vec::new(),
            extra_seats: Vec::new(),
            usage_packs: Vec::new(),
        }
    }

    /// The same request with the add-on module `module` (once, however often it is added).
    ///
    /// ```
    /// use marketingforce_modules::catalog::ModuleId;
    /// use marketingforce_modules::pricing::{QuoteRequest, Term};
    /// use marketingforce_modules::products::BundleId;
    ///
    /// let start = "2026-03-02".parse().unwrap();
    /// let order = QuoteRequest::new(BundleId::TCLOUD_STANDARD, Term::new(start, 12))
    ///     .add_on(ModuleId::LEAD_MANAGEMENT)
    ///     .add_on(ModuleId::LEAD_MANAGEMENT);
    /// assert_eq!(order.add_ons, vec![ModuleId::LEAD_MANAGEMENT]);
    /// ```
    #[must_use]
    pub fn add_on(mut self, module: ModuleId) -> QuoteRequest {
        if !self.add_ons.contains(&module) {
            self.add_ons.push(module);
        }
        self
    }
}

/// What to price mid-term: items bought on `on`, co-terminated with the current term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendmentRequest {
    /// The day the items start.
    pub on: NaiveDate,
    /// More accounts, for bundles priced per account.
    #[serde(default)]
    pub accounts: u32,
    /// Add-on modules.
    #[serde(default)]
    pub add_ons: Vec<ModuleId>,
    /// Extra seats.
    #[serde(default)]
    pub extra_seats: Vec<SeatLine>,
    /// Usage packs.
    #[serde(default)]
    pub usage_packs: Vec<PackLine>,
}

/// What a quote line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LineKind {
    /// The bundle at its flat price.
    Bundle,
    /// Accounts of a per-account bundle.
    Accounts,
    /// An add-on module.
    AddOn,
    /// Extra seats of a module.
    Seats,
    /// A usage pack.
    UsagePack,
}

/// One priced line, with how it was computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuoteLine {
    /// What it is for.
    pub kind: LineKind,
    /// The bundle, module or pack id.
    pub item: String,
    /// Accounts, seats or units (1 for a bundle or module).
    pub quantity: u64,
    /// The full price of the line for the whole term (before proration).
    pub full_price: Money,
    /// What is charged (the full price, or its prorated part).
    pub amount: Money,
    /// Step-by-step explanation.
    pub explanation: String,
}

/// A priced basket: the inputs, the price-list versions it was priced with, the lines and the
/// total. Reproducible: [`QuoteEngine::reprice`] recomputes it from the stored inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Quote {
    /// The bundle.
    pub bundle: BundleId,
    /// The priced period: the term, or (for an amendment) from `on` to the term's end.
    pub start: NaiveDate,
    /// Day after the priced period.
    pub end: NaiveDate,
    /// Months of the whole term.
    pub term_months: u32,
    /// The inputs of a new contract (None for amendments).
    pub request: Option<QuoteRequest>,
    /// The inputs of an amendment (None for new contracts).
    pub amendment: Option<AmendmentRequest>,
    /// Module catalog version and fingerprint.
    pub catalog_version: String,
    /// Fingerprint of the catalog content.
    pub catalog_fingerprint: String,
    /// Product catalog version.
    pub products_version: String,
    /// The lines.
    pub lines: Vec<QuoteLine>,
    /// The total charged.
    pub total: Money,
}

/// Prices quotes against a module catalog and a product catalog.
///
/// ```
/// use chrono::NaiveDate;
/// use marketingforce_modules::pricing::{QuoteEngine, QuoteRequest, Term};
///
/// let engine = QuoteEngine::builtin();
/// let start: NaiveDate = "2026-03-01".parse().unwrap();
/// let mut req = QuoteRequest::new(marketingforce_modules::products::BundleId::TRUECLIENT_STANDARD, Term::new(start, 12));
/// req.accounts = Some(8);
/// let quote = engine.quote(&req).unwrap();
/// assert_eq!(quote.total.to_string(), "9440.00 CNY");
/// assert!(quote.lines[0].explanation.contains("8 accounts × 1180"));
///
/// req.accounts = Some(3); // below the minimum of 5
/// assert!(engine.quote(&req).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct QuoteEngine {
    catalog: Arc<Catalog>,
    products: Arc<Products>,
}

/// Price of `annual` for `months` months, rounded half-up to the minor unit.
fn term_price(annual: &Money, months: u32) -> Result<Money> {
    Ok(annual
        .checked_mul(Decimal::from(months))?
        .checked_div(Decimal::from(12))
        .map(|m| crate::round_minor(m, RoundingMode::HalfUp))?)
}

/// `full × days_left / days`, rounded half-up: the prorated part of a full-term price.
///
/// Never more than `full` (for `days_left ≤ days`) and never negative.
///
/// # Errors
/// `days` not positive or `days_left` outside `0..=days`.
pub fn prorate(full: &Money, days_left: i64, days: i64) -> Result<Money> {
    if days <= 0 {
        return Err(ModulesError::validation(
            "days",
            "a term must have at least one day",
        ));
    }
    if !(0..=days).contains(&days_left) {
        return Err(ModulesError::validation(
            "on",
            format!("{days_left} days left is outside a term of {days} days"),
        ));
    }
    Ok(full
        .checked_mul(Decimal::from(days_left))?
        .checked_div(Decimal::from(days))
        .map(|m| crate::round_minor(m, RoundingMode::HalfUp))?)
}

struct Basket<'a> {
    accounts: u32,
    add_ons: &'a [ModuleId],
    extra_seats: &'a [SeatLine],
    usage_packs: &'a [PackLine],
}

impl QuoteEngine {
    /// An engine over `catalog` and `products`.
    pub fn new(catalog: Arc<Catalog>, products: Arc<Products>) -> QuoteEngine {
        QuoteEngine { catalog, products }
    }

    /// An engine over the built-in catalogs.
    pub fn builtin() -> QuoteEngine {
        QuoteEngine::new(Catalog::builtin(), crate::products::Products::builtin())
    }

    /// The module catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The product catalog.
    pub fn products(&self) -> &Arc<Products> {
        &self.products
    }

    /// Price a new contract.
    ///
    /// # Errors
    /// [`ModulesError::UnknownBundle`] (`bundle`), a term outside 1–60 months or shorter than
    /// the bundle's minimum (`term.months`), [`ModulesError::BelowMinimumSeats`], accounts on a
    /// flat bundle, [`ModulesError::UnknownModule`] (`add_ons[1]`), an add-on already in the
    /// bundle, [`ModulesError::MissingRequirement`], zero seats or quantities
    /// (`extra_seats[0].seats`), seats of a module that is not seat-limited or not bought,
    /// [`ModulesError::UnknownPack`] (`usage_packs[0].pack`), a pack not sold with the bundle.
    pub fn quote(&self, req: &QuoteRequest) -> Result<Quote> {
        let bundle = self.products.require_bundle(&req.bundle, "bundle")?;
        req.term.validate().map_err(|e| e.in_field("term"))?;
        if req.term.months < bundle.min_term_months {
            return Err(ModulesError::validation(
                "term.months",
                format!(
                    "{} months is shorter than the {} months {} is sold for",
                    req.term.months, bundle.min_term_months, bundle.id
                ),
            ));
        }
        let end = req.term.end()?;
        let mut lines = Vec::new();
        let months = req.term.months;
        match (&bundle.pricing, req.accounts) {
            (BundlePricing::Flat { annual }, None) => {
                let full = term_price(annual, months)?;
                lines.push(QuoteLine {
                    kind: LineKind::Bundle,
                    item: bundle.id.to_string(),
                    quantity: 1,
                    full_price: full,
                    amount: full,
                    explanation: format!(
                        "{}: {} per year × {months}/12 months = {}",
                        bundle.name,
                        annual.amount(),
                        full.amount()
                    ),
                });
            }
            (BundlePricing::Flat { .. }, Some(_)) => {
                return Err(ModulesError::validation(
                    "accounts",
                    format!(
                        "{} is priced flat; buy extra seats instead of accounts",
                        bundle.id
                    ),
                ));
            }
            (
                BundlePricing::PerAccount {
                    per_account,
                    min_accounts,
                    ..
                },
                accounts,
            ) => {
                let n = accounts.unwrap_or(0);
                if n < *min_accounts {
                    return Err(ModulesError::BelowMinimumSeats {
                        bundle: bundle.id.to_string(),
                        minimum: *min_accounts,
                        requested: n,
                    });
                }
                let annual = per_account.checked_mul_int(i64::from(n))?;
                let full = term_price(&annual, months)?;
                lines.push(QuoteLine {
                    kind: LineKind::Accounts,
                    item: bundle.id.to_string(),
                    quantity: u64::from(n),
                    full_price: full,
                    amount: full,
                    explanation: format!(
                        "{}: {n} accounts × {} per account per year × {months}/12 months = {}",
                        bundle.name,
                        per_account.amount(),
                        full.amount()
                    ),
                });
            }
        }
        let owned: BTreeSet<ModuleId> = bundle.modules.iter().cloned().collect();
        let basket = Basket {
            accounts: 0,
            add_ons: &req.add_ons,
            extra_seats: &req.extra_seats,
            usage_packs: &req.usage_packs,
        };
        self.price_items(bundle, &owned, &basket, months, None, &mut lines)?;
        self.finish(
            bundle,
            req.term.start,
            end,
            months,
            Some(req.clone()),
            None,
            lines,
        )
    }

    /// Price items bought on `req.on` during `term` of a contract for `bundle` whose tenant
    /// already has `owned` modules. Add-ons and seats are prorated by day to the term's end;
    /// usage packs are prorated only when their data says so.
    ///
    /// # Errors
    /// As [`quote`](Self::quote); `on` outside the term; an empty amendment.
    pub fn quote_amendment(
        &self,
        bundle: &str,
        term: &Term,
        owned: &BTreeSet<ModuleId>,
        req: &AmendmentRequest,
    ) -> Result<Quote> {
        let bundle = self.products.require_bundle(bundle, "bundle")?;
        let end = term.end()?;
        if req.on < term.start || req.on >= end {
            return Err(ModulesError::validation(
                "on",
                format!("{} is outside the term {} to {end}", req.on, term.start),
            ));
        }
        if req.accounts == 0
            && req.add_ons.is_empty()
            && req.extra_seats.is_empty()
            && req.usage_packs.is_empty()
        {
            return Err(ModulesError::validation(
                "",
                "an amendment must buy something",
            ));
        }
        let days = term.days()?;
        let left = (end - req.on).num_days();
        let mut lines = Vec::new();
        let basket = Basket {
            accounts: req.accounts,
            add_ons: &req.add_ons,
            extra_seats: &req.extra_seats,
            usage_packs: &req.usage_packs,
        };
        self.price_items(
            bundle,
            owned,
            &basket,
            term.months,
            Some((left, days)),
            &mut lines,
        )?;
        self.finish(
            bundle,
            req.on,
            end,
            term.months,
            None,
            Some(req.clone()),
            lines,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        bundle: &Bundle,
        start: NaiveDate,
        end: NaiveDate,
        term_months: u32,
        request: Option<QuoteRequest>,
        amendment: Option<AmendmentRequest>,
        lines: Vec<QuoteLine>,
    ) -> Result<Quote> {
        let total = Money::sum(self.catalog.currency(), lines.iter().map(|l| &l.amount))?;
        Ok(Quote {
            bundle: bundle.id.clone(),
            start,
            end,
            term_months,
            request,
            amendment,
            catalog_version: self.catalog.version().to_string(),
            catalog_fingerprint: self.catalog.fingerprint().to_string(),
            products_version: self.products.version().to_string(),
            lines,
            total,
        })
    }

    fn line(
        kind: LineKind,
        item: String,
        quantity: u64,
        full: Money,
        explanation: String,
        proration: Option<(i64, i64)>,
    ) -> Result<QuoteLine> {
        let (amount, explanation) = match proration {
            None => (full, format!("{explanation} = {}", full.amount())),
            Some((left, days)) => {
                let amount = prorate(&full, left, days)?;
                (
                    amount,
                    format!(
                        "{explanation} = {} for the term; prorated {left}/{days} days left = {}",
                        full.amount(),
                        amount.amount()
                    ),
                )
            }
        };
        Ok(QuoteLine {
            kind,
            item,
            quantity,
            full_price: full,
            amount,
            explanation,
        })
    }

    fn price_items(
        &self,
        bundle: &Bundle,
        owned: &BTreeSet<ModuleId>,
        basket: &Basket<'_>,
        months: u32,
        proration: Option<(i64, i64)>,
        lines: &mut Vec<QuoteLine>,
    ) -> Result<()> {
        if basket.accounts > 0 {
            let BundlePricing::PerAccount { per_account, .. } = &bundle.pricing else {
                return Err(ModulesError::validation(
                    "accounts",
                    format!(
                        "{} is priced flat; buy extra seats instead of accounts",
                        bundle.id
                    ),
                ));
            };
            let annual = per_account.checked_mul_int(i64::from(basket.accounts))?;
            let full = term_price(&annual, months)?;
            lines.push(Self::line(
                LineKind::Accounts,
                bundle.id.to_string(),
                u64::from(basket.accounts),
                full,
                format!(
                    "{} more accounts × {} per year × {months}/12 months",
                    basket.accounts,
                    per_account.amount()
                ),
                proration,
            )?);
        }
        let mut all: BTreeSet<ModuleId> = owned.clone();
        all.extend(basket.add_ons.iter().cloned());
        for (i, id) in basket.add_ons.iter().enumerate() {
            let path = format!("add_ons[{i}]");
            let m = self.catalog.require(id, &path)?;
            if owned.contains(id) || basket.add_ons[..i].contains(id) {
                return Err(ModulesError::validation(
                    path,
                    format!("{id} is already included"),
                ));
            }
            for r in &m.requires {
                if !all.contains(r) {
                    return Err(ModulesError::MissingRequirement {
                        module: id.clone(),
                        requires: r.clone(),
                        path,
                    });
                }
            }
            let full = term_price(&m.list_price, months)?;
            lines.push(Self::line(
                LineKind::AddOn,
                id.to_string(),
                1,
                full,
                format!(
                    "add-on {}: {} per year × {months}/12 months",
                    m.name,
                    m.list_price.amount()
                ),
                proration,
            )?);
        }
        let per_account_modules: &[ModuleId] = match &bundle.pricing {
            BundlePricing::PerAccount { seat_modules, .. } => seat_modules,
            BundlePricing::Flat { .. } => &[],
        };
        for (i, s) in basket.extra_seats.iter().enumerate() {
            let path = format!("extra_seats[{i}]");
            let m = self.catalog.require(&s.module, &format!("{path}.module"))?;
            let Metering::Seats {
                extra_seat_price, ..
            } = &m.metering
            else {
                return Err(ModulesError::validation(
                    format!("{path}.module"),
                    format!("{} is not seat-limited", s.module),
                ));
            };
            if !all.contains(&s.module) {
                return Err(ModulesError::validation(
                    format!("{path}.module"),
                    format!("{} is not in the bundle or the add-ons", s.module),
                ));
            }
            if per_account_modules.contains(&s.module) {
                return Err(ModulesError::validation(
                    format!("{path}.module"),
                    format!(
                        "seats of {} come with accounts of {}; buy accounts",
                        s.module, bundle.id
                    ),
                ));
            }
            if s.seats == 0 {
                return Err(ModulesError::validation(
                    format!("{path}.seats"),
                    "must be at least 1",
                ));
            }
            let annual = extra_seat_price.checked_mul_int(i64::from(s.seats))?;
            let full = term_price(&annual, months)?;
            lines.push(Self::line(
                LineKind::Seats,
                s.module.to_string(),
                u64::from(s.seats),
                full,
                format!(
                    "{} extra seats of {} × {} per seat per year × {months}/12 months",
                    s.seats,
                    m.name,
                    extra_seat_price.amount()
                ),
                proration,
            )?);
        }
        for (i, p) in basket.usage_packs.iter().enumerate() {
            let path = format!("usage_packs[{i}]");
            let pack = self
                .products
                .require_pack(&p.pack, &format!("{path}.pack"))?;
            if !bundle.packs.contains(&p.pack) {
                return Err(ModulesError::validation(
                    format!("{path}.pack"),
                    format!("{} is not sold with {}", p.pack, bundle.id),
                ));
            }
            let metered = all
                .iter()
                .filter_map(|m| self.catalog.get(m))
                .any(|m| m.usage_unit() == Some(&pack.unit));
            if !metered {
                return Err(ModulesError::validation(
                    format!("{path}.pack"),
                    format!("no module bought meters {}", pack.unit),
                ));
            }
            let priced = pack
                .pricing
                .price(p.quantity)
                .map_err(|e| e.in_field(&path))?;
            let explanation = format!("{}: {}", pack.name, priced.explanation);
            let line_proration = if pack.prorate { proration } else { None };
            let mut line = Self::line(
                LineKind::UsagePack,
                p.pack.clone(),
                priced.units_granted.get(),
                priced.total,
                explanation
                    .trim_end_matches(&format!(" = {}", priced.total.amount()))
                    .to_string(),
                line_proration,
            )?;
            if proration.is_some() && !pack.prorate {
                line.explanation
                    .push_str(" (usage packs are not prorated; they expire with the term)");
            }
            lines.push(line);
        }
        Ok(())
    }

    /// Recompute a stored quote from its inputs and check it is unchanged.
    ///
    /// # Errors
    /// A validation error on `quote` when the price lists changed since (different version or
    /// fingerprint) or the recomputed lines differ; any error of pricing the inputs.
    pub fn reprice(
        &self,
        quote: &Quote,
        term: Option<&Term>,
        owned: Option<&BTreeSet<ModuleId>>,
    ) -> Result<Quote> {
        if quote.catalog_fingerprint != self.catalog.fingerprint()
            || quote.products_version != self.products.version()
        {
            return Err(ModulesError::validation(
                "quote",
                format!(
                    "priced with catalog {} / products {}, now {} / {}",
                    quote.catalog_version,
                    quote.products_version,
                    self.catalog.version(),
                    self.products.version()
                ),
            ));
        }
        let again = match (&quote.request, &quote.amendment, term, owned) {
            (Some(r), _, _, _) => self.quote(r)?,
            (None, Some(a), Some(t), Some(o)) => self.quote_amendment(&quote.bundle, t, o, a)?,
            _ => {
                return Err(ModulesError::validation(
                    "quote",
                    "an amendment quote is repriced with its term and the modules owned",
                ))
            }
        };
        if again != *quote {
            return Err(ModulesError::validation(
                "quote",
                "repricing the stored inputs gives different lines",
            ));
        }
        Ok(again)
    }
}
