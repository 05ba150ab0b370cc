//! Products and bundles: what customers actually buy, as data.
//!
//! A [`Bundle`] is a product version: T Cloud versions (a flat yearly price for a set of
//! modules with included seats and usage quotas), True Client Standard (a price per account per
//! year, at least 5 accounts), True Client Professional packages (flat, composed from CRM and
//! ancillary modules). A [`UsagePack`] adds quota of one unit (value-added services), priced by
//! a [`PriceSchedule`]. The built-in product catalog is `data/products.json`
//! ([`Products::builtin`]); its schema is [`Products::json_schema`].
//!
//! ```
//! use marketingforce_modules::products::{BundlePricing, Products, Product};
//!
//! let products = Products::builtin();
//! let standard = products.bundle("trueclient.standard").unwrap();
//! assert_eq!(standard.product, Product::TrueClientStandard);
//! match &standard.pricing {
//!     BundlePricing::PerAccount { per_account, min_accounts, .. } => {
//!         assert_eq!(per_account.to_string(), "1180 CNY");
//!         assert_eq!(*min_accounts, 5);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use marketingforce_core::money::{Currency, Money, Quantity};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, ModuleId, ModuleKind, QuotaPeriod, UsageUnit};

mod bundle_id;
use crate::entitlements::SalesHints;
use crate::error::{ModulesError, PackOffer, Result};
use crate::pricing::PriceSchedule;
pub use bundle_id::BundleId;

/// The product lines.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    /// T Cloud, the marketing product.
    TCloud,
    /// True Client Standard, the per-account sales CRM.
    TrueClientStandard,
    /// True Client Professional, packages composed from CRM and ancillary modules.
    TrueClientProfessional,
}

/// How a bundle is priced, per year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BundlePricing {
    /// One price for the bundle.
    Flat {
        /// Price per year.
        annual: Money,
    },
    /// A price per account (seat) per year, with a minimum number of accounts. Each account is
    /// a seat of every module in `seat_modules`.
    PerAccount {
        /// Price per account per year.
        per_account: Money,
        /// Fewest accounts sold.
        min_accounts: u32,
        /// The seat-limited modules an account is a seat of.
        seat_modules: Vec<ModuleId>,
    },
}

/// Seats included in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncludedSeats {
    /// The seat-limited module.
    pub module: ModuleId,
    /// Seats included.
    pub seats: u32,
}

/// Usage included in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncludedUsage {
    /// The unit.
    pub unit: UsageUnit,
    /// Units per period.
    pub quantity: Quantity,
    /// The period.
    pub period: QuotaPeriod,
}

/// A product version: a set of modules with included seats and usage, and its price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Id, e.g. `tcloud.standard`.
    pub id: BundleId,
    /// Display name.
    pub name: String,
    /// Product line.
    pub product: Product,
    /// Price.
    pub pricing: BundlePricing,
    /// Modules included (closed under `requires`).
    pub modules: Vec<ModuleId>,
    /// Seats included (for flat bundles; per-account bundles get one seat per account).
    #[serde(default)]
    pub included_seats: Vec<IncludedSeats>,
    /// Usage included.
    #[serde(default)]
    pub included_usage: Vec<IncludedUsage>,
    /// Usage packs (value-added services) sold with the bundle.
    #[serde(default)]
    pub packs: Vec<String>,
    /// Shortest term sold, in months.
    #[serde(default = "default_min_term")]
    pub min_term_months: u32,
    /// Longest payment credit after delivery, in months (0 = pay in full within 3 business
    /// days of signing; at most 3).
    #[serde(default)]
    pub max_credit_months: u32,
}

fn default_min_term() -> u32 {
    12
}

/// A usage pack: more quota of one unit, priced by a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsagePack {
    /// Id, e.g. `pack.videos_rendered`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The unit it adds.
    pub unit: UsageUnit,
    /// How a quantity is priced.
    pub pricing: PriceSchedule,
    /// The quantity shown when suggesting the pack (a denied consume lists it).
    pub suggested_quantity: Quantity,
    /// Whether a pack bought mid-term is prorated by the days left (default: no — units are
    /// units; the pack still expires with the term).
    #[serde(default)]
    pub prorate: bool,
}

/// The JSON form of a product catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsData {
    /// Version label of the price list.
    pub version: String,
    /// Currency of every price.
    pub currency: Currency,
    /// Bundles.
    pub bundles: Vec<Bundle>,
    /// Usage packs.
    pub packs: Vec<UsagePack>,
}

/// A validated product catalog.
#[derive(Debug, Clone)]
pub struct Products {
    data: ProductsData,
    bundles: HashMap<String, usize>,
    packs: HashMap<String, usize>,
}

const BUILTIN_PRODUCTS: &str = include_str!("../data/products.json");

fn check_id(id: &str, field: &str) -> Result<()> {
    let ok = (3..=64).contains(&id.len())
        && id.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ModulesError::validation(
            field,
            format!(
                "{id:?} must be 3-64 characters of a-z, 0-9, '_', '.', '-' starting with a letter"
            ),
        ))
    }
}

impl Products {
    /// The built-in product catalog (embedded `data/products.json`), validated against the
    /// built-in module catalog, loaded once.
    pub fn builtin() -> Arc<Products> {
        static BUILTIN: OnceLock<Arc<Products>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Arc::new(
                    Products::from_json(BUILTIN_PRODUCTS, &Catalog::builtin()).unwrap_or_else(
                        |_| Products {
                            data: ProductsData {
                                version: "empty".into(),
                                currency: Currency::CNY,
                                bundles: Vec::new(),
                                packs: Vec::new(),
                            },
                            bundles: HashMap::new(),
                            packs: HashMap::new(),
                        },
                    ),
                )
            })
            .clone()
    }

    /// Load and validate from JSON against `catalog`.
    ///
    /// # Errors
    /// A validation error naming the path: a type error, a duplicate id (`bundles[2].id`), an
    /// unknown module (`bundles[0].modules[3]`), a bundle missing a module its modules require,
    /// included seats of a module that is not seat-limited or not in the bundle, a per-account
    /// bundle without a minimum, credit above 3 months, an unknown pack, a bad price schedule
    /// (`packs[1].pricing.tiers[2].up_to`).
    pub fn from_json(json: &str, catalog: &Catalog) -> Result<Products> {
        Products::from_data(crate::config::from_json(json)?, catalog)
    }

    /// Validate product data against `catalog`.
    ///
    /// # Errors
    /// As [`Products::from_json`].
    pub fn from_data(data: ProductsData, catalog: &Catalog) -> Result<Products> {
        let mut packs = HashMap::new();
        for (i, p) in data.packs.iter().enumerate() {
            let path = format!("packs[{i}]");
            check_id(&p.id, &format!("{path}.id"))?;
            if packs.insert(p.id.clone(), i).is_some() {
                return Err(ModulesError::validation(
                    format!("{path}.id"),
                    format!("duplicate pack id {}", p.id),
                ));
            }
            p.pricing
                .validate(data.currency)
                .map_err(|e| e.in_field(format!("{path}.pricing")))?;
            p.suggested_quantity
                .ensure_positive(&format!("{path}.suggested_quantity"))?;
        }
        let mut bundles = HashMap::new();
        for (i, b) in data.bundles.iter().enumerate() {
            validate_bundle(b, catalog, data.currency, &packs)
                .map_err(|e| e.in_field(format!("bundles[{i}]")))?;
            if bundles.insert(b.id.to_string(), i).is_some() {
                return Err(ModulesError::validation(
                    format!("bundles[{i}].id"),
                    format!("duplicate bundle id {}", b.id),
                ));
            }
        }
        Ok(Products {
            data,
            bundles,
            packs,
        })
    }

    /// The JSON Schema of the product catalog file.
    pub fn json_schema() -> String {
        crate::config::schema_json::<ProductsData>()
    }

    /// The data.
    pub fn data(&self) -> &ProductsData {
        &self.data
    }

    /// Price-list version label.
    pub fn version(&self) -> &str {
        &self.data.version
    }

    /// Every bundle.
    pub fn bundles(&self) -> &[Bundle] {
        &self.data.bundles
    }

    /// Every usage pack.
    pub fn packs(&self) -> &[UsagePack] {
        &self.data.packs
    }

    /// A bundle by id.
    pub fn bundle(&self, id: &str) -> Option<&Bundle> {
        self.bundles.get(id).and_then(|&i| self.data.bundles.get(i))
    }

    /// A bundle that must exist.
    ///
    /// # Errors
    /// [`ModulesError::UnknownBundle`] naming `path`.
    pub fn require_bundle(&self, id: &str, path: &str) -> Result<&Bundle> {
        self.bundle(id).ok_or_else(|| ModulesError::UnknownBundle {
            id: id.to_string(),
            path: path.to_string(),
        })
    }

    /// A usage pack by id.
    pub fn pack(&self, id: &str) -> Option<&UsagePack> {
        self.packs.get(id).and_then(|&i| self.data.packs.get(i))
    }

    /// A usage pack that must exist.
    ///
    /// # Errors
    /// [`ModulesError::UnknownPack`] naming `path`.
    pub fn require_pack(&self, id: &str, path: &str) -> Result<&UsagePack> {
        self.pack(id).ok_or_else(|| ModulesError::UnknownPack {
            id: id.to_string(),
            path: path.to_string(),
        })
    }

    /// What can be bought, for explaining denials: packs per unit (at their suggested
    /// quantity) and bundles per module.
    pub fn sales_hints(&self) -> Arc<SalesHints> {
        let mut hints = SalesHints::default();
        for p in &self.data.packs {
            if let Ok(priced) = p.pricing.price(p.suggested_quantity) {
                hints
                    .packs
                    .entry(p.unit.clone())
                    .or_default()
                    .push(PackOffer {
                        pack: p.id.clone(),
                        quantity: priced.units_granted,
                        price: priced.total,
                    });
            }
        }
        for b in &self.data.bundles {
            for m in &b.modules {
                hints
                    .bundles
                    .entry(m.clone())
                    .or_default()
                    .push(b.id.to_string());
            }
        }
        Arc::new(hints)
    }
}

fn validate_bundle(
    b: &Bundle,
    catalog: &Catalog,
    currency: Currency,
    packs: &HashMap<String, usize>,
) -> Result<()> {
    check_id(&b.id, "id")?;
    if b.name.trim().is_empty() {
        return Err(ModulesError::validation("name", "must not be blank"));
    }
    if b.modules.is_empty() {
        return Err(ModulesError::validation(
            "modules",
            "a bundle needs at least one module",
        ));
    }
    let set: BTreeSet<&ModuleId> = b.modules.iter().collect();
    for (j, id) in b.modules.iter().enumerate() {
        let m = catalog.require(id, &format!("modules[{j}]"))?;
        if b.modules[..j].contains(id) {
            return Err(ModulesError::validation(
                format!("modules[{j}]"),
                format!("{id} listed twice"),
            ));
        }
        for r in &m.requires {
            if !set.contains(r) {
                return Err(ModulesError::MissingRequirement {
                    module: id.clone(),
                    requires: r.clone(),
                    path: format!("modules[{j}]"),
                });
            }
        }
        if b.product == Product::TrueClientProfessional
            && !matches!(m.kind, ModuleKind::Crm | ModuleKind::Ancillary)
        {
            return Err(ModulesError::validation(
                format!("modules[{j}]"),
                format!("{id} is a {:?} module; professional packages are composed from CRM and ancillary modules", m.kind),
            ));
        }
    }
    match &b.pricing {
        BundlePricing::Flat { annual } => annual.ensure_price("pricing.annual", currency)?,
        BundlePricing::PerAccount {
            per_account,
            min_accounts,
            seat_modules,
        } => {
            per_account.ensure_price("pricing.per_account", currency)?;
            if *min_accounts == 0 {
                return Err(ModulesError::validation(
                    "pricing.min_accounts",
                    "must be at least 1",
                ));
            }
            if seat_modules.is_empty() {
                return Err(ModulesError::validation(
                    "pricing.seat_modules",
                    "name at least one seat-limited module",
                ));
            }
            for (j, s) in seat_modules.iter().enumerate() {
                check_seat_module(s, catalog, &set)
                    .map_err(|e| e.in_field(format!("pricing.seat_modules[{j}]")))?;
            }
        }
    }
    for (j, s) in b.included_seats.iter().enumerate() {
        check_seat_module(&s.module, catalog, &set)
            .map_err(|e| e.in_field(format!("included_seats[{j}].module")))?;
        if s.seats == 0 {
            return Err(ModulesError::validation(
                format!("included_seats[{j}].seats"),
                "must be at least 1",
            ));
        }
    }
    for (j, u) in b.included_usage.iter().enumerate() {
        u.quantity
            .ensure_positive(&format!("included_usage[{j}].quantity"))?;
        let metered = b
            .modules
            .iter()
            .filter_map(|m| catalog.get(m))
            .any(|m| m.usage_unit() == Some(&u.unit));
        if !metered {
            return Err(ModulesError::validation(
                format!("included_usage[{j}].unit"),
                format!("no module of the bundle meters {}", u.unit),
            ));
        }
        if b.included_usage[..j].iter().any(|o| o.unit == u.unit) {
            return Err(ModulesError::validation(
                format!("included_usage[{j}].unit"),
                format!("{} included twice", u.unit),
            ));
        }
    }
    for (j, p) in b.packs.iter().enumerate() {
        if !packs.contains_key(p) {
            return Err(ModulesError::UnknownPack {
                id: p.clone(),
                path: format!("packs[{j}]"),
            });
        }
    }
    if b.min_term_months == 0 || b.min_term_months > 60 {
        return Err(ModulesError::validation("min_term_months", "must be 1-60"));
    }
    if b.max_credit_months > 3 {
        return Err(ModulesError::validation(
            "max_credit_months",
            format!(
                "{} months of credit; at most 3 are granted",
                b.max_credit_months
            ),
        ));
    }
    Ok(())
}

fn check_seat_module(id: &ModuleId, catalog: &Catalog, bundle: &BTreeSet<&ModuleId>) -> Result<()> {
    let m = catalog.require(id, "")?;
    if !m.is_seat_limited() {
        return Err(ModulesError::validation(
            "",
            format!("{id} is not seat-limited"),
        ));
    }
    if !bundle.contains(id) {
        return Err(ModulesError::validation(
            "",
            format!("{id} is not in the bundle's modules"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_products_load_and_match_the_domain() {
        let p = Products::from_json(BUILTIN_PRODUCTS, &Catalog::builtin()).unwrap();
        let cny = |s: &str| Money::cny(s).unwrap();
        let tcloud: Vec<&Bundle> = p
            .bundles()
            .iter()
            .filter(|b| b.product == Product::TCloud)
            .collect();
        assert!(tcloud.len() >= 3);
        for b in &tcloud {
            let BundlePricing::Flat { annual } = &b.pricing else {
                panic!("{}", b.id)
            };
            assert!(
                annual.amount() >= cny("19800").amount()
                    && annual.amount() <= cny("128000").amount(),
                "{} {annual}",
                b.id
            );
            assert!(!b.included_usage.is_empty());
        }
        let prices: Vec<Money> = tcloud
            .iter()
            .filter_map(|b| match &b.pricing {
                BundlePricing::Flat { annual } => Some(*annual),
                BundlePricing::PerAccount { .. } => None,
            })
            .collect();
        assert!(prices.contains(&cny("19800")) && prices.contains(&cny("128000")));
        for b in p
            .bundles()
            .iter()
            .filter(|b| b.product == Product::TrueClientProfessional)
        {
            let BundlePricing::Flat { annual } = &b.pricing else {
                panic!("{}", b.id)
            };
            assert!(
                annual.amount() >= cny("128000").amount()
                    && annual.amount() <= cny("198000").amount(),
                "{} {annual}",
                b.id
            );
            assert!(b.max_credit_months == 3);
            assert!(b.packs.len() >= 3, "professional value-added services");
        }
        assert_eq!(Products::builtin().bundles().len(), p.bundles().len());
    }

    #[test]
    fn bad_products_name_the_path() {
        let catalog = Catalog::builtin();
        let mut data: ProductsData = serde_json::from_str(BUILTIN_PRODUCTS).unwrap();
        data.bundles[0]
            .modules
            .push(ModuleId::VIDEO_DUBBING_SUBTITLES);
        data.bundles[0].modules.retain(|m| *m != ModuleId::T_VIDEO);
        let e = Products::from_data(data, &catalog).unwrap_err();
        assert!(
            matches!(
                e,
                ModulesError::MissingRequirement { .. } | ModulesError::Core(_)
            ),
            "{e}"
        );
        assert!(
            e.field().unwrap_or_default().starts_with("bundles[0]"),
            "{e}"
        );

        let mut data: ProductsData = serde_json::from_str(BUILTIN_PRODUCTS).unwrap();
        data.bundles[1].max_credit_months = 6;
        let e = Products::from_data(data, &catalog).unwrap_err();
        assert_eq!(e.field(), Some("bundles[1].max_credit_months"));

        let bad =
            BUILTIN_PRODUCTS.replacen("\"product\": \"t_cloud\"", "\"product\": \"t_phone\"", 1);
        let e = Products::from_json(&bad, &catalog).unwrap_err();
        assert_eq!(e.field(), Some("bundles[0].product"), "{e}");
    }
}
