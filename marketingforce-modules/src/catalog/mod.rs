//! The module catalog: every functional module the platform sells, as data.
//!
//! A [`Module`] has a namespaced [`ModuleId`], a name and description, one of the six
//! [`KeyArea`]s, a [`ModuleKind`], what it meters ([`Metering`]: nothing, seats, or a
//! [`UsageUnit`]), an annual list price and the modules it requires. A [`Catalog`] is loaded from
//! JSON (schema: [`Catalog::json_schema`]) and validated: unique ids, requirements that exist,
//! no requirement cycles, prices in the catalog currency.
//!
//! The built-in catalog ([`Catalog::builtin`]) ships the modules the vendor describes, embedded
//! from `data/catalog.json`.
//!
//! ```
//! use marketingforce_modules::catalog::{Catalog, Metering, ModuleId, UsageUnit};
//!
//! let catalog = Catalog::builtin();
//! let video = catalog.get(&ModuleId::T_VIDEO).unwrap();
//! assert!(matches!(&video.metering, Metering::Usage { unit: UsageUnit::VideosRendered, .. }));
//! // Enabling T-video enables what it requires.
//! let enabled = catalog.closure([ModuleId::T_VIDEO]).unwrap();
//! assert!(enabled.contains(&ModuleId::MATERIAL_LIBRARY));
//! ```

mod ids;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use marketingforce_core::money::{Currency, Money, Quantity};
use marketingforce_core::storage::Fingerprint;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use ids::{CustomUnit, ModuleId, UsageUnit, BUILTIN_NAMESPACE};

use crate::error::{ModulesError, Result};

/// The six key areas of marketing and sales every module belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeyArea {
    /// Content and Experience: site building, AI content generation.
    ContentExperience,
    /// Advertising and Promotion: content distribution, DSP, SEM, remarketing.
    AdvertisingPromotion,
    /// Social and Relationships: social CRM, marketing automation, live streaming, groups.
    SocialRelationships,
    /// Sales and Delight: lead management, pricing, procedures, membership, fission.
    SalesDelight,
    /// Data and Analytics: BI, CDP, DMP, monitoring, evaluation reports.
    DataAnalytics,
    /// Strategy and Management: team management, budgeting.
    StrategyManagement,
}

/// What kind of module this is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ModuleKind {
    /// A platform / T Cloud module.
    Core,
    /// A True Client CRM module.
    Crm,
    /// An ancillary module (the pool True Client Professional packages are composed from).
    Ancillary,
    /// A third-party module (resold by the platform, or registered on the PaaS layer).
    ThirdParty,
}

/// How long a usage quota lasts before it resets.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum QuotaPeriod {
    /// The whole term of the grant (a year for a yearly contract).
    Term,
    /// Each calendar month (tenant time zone) of the term; unused units do not carry over.
    Month,
}

/// What a module meters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Metering {
    /// Nothing: unlimited use within the term.
    None,
    /// Seats: the function is for individual staff, limited to the accounts bought.
    Seats {
        /// Seats included in the list price.
        included: u32,
        /// Price of one more seat per year.
        extra_seat_price: Money,
    },
    /// A usage unit: a fixed amount is included per period, more can be bought in packs.
    Usage {
        /// The unit.
        unit: UsageUnit,
        /// Units included per period when the module is bought on its own.
        included: Quantity,
        /// The quota period.
        period: QuotaPeriod,
    },
}

/// One functional module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// Namespaced id.
    pub id: ModuleId,
    /// Display name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Key area.
    pub area: KeyArea,
    /// Kind.
    pub kind: ModuleKind,
    /// What it meters.
    pub metering: Metering,
    /// List price per year when bought as an add-on.
    pub list_price: Money,
    /// Modules it requires.
    #[serde(default)]
    pub requires: Vec<ModuleId>,
}

impl Module {
    /// Whether the module is seat-limited.
    pub fn is_seat_limited(&self) -> bool {
        matches!(self.metering, Metering::Seats { .. })
    }

    /// The usage unit the module meters, if any.
    pub fn usage_unit(&self) -> Option<&UsageUnit> {
        match &self.metering {
            Metering::Usage { unit, .. } => Some(unit),
            _ => None,
        }
    }
}

/// The JSON form of a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogData {
    /// A version label of the price list (e.g. `2026.1`); quotes record it.
    pub version: String,
    /// The currency every price is in.
    pub currency: Currency,
    /// The modules.
    pub modules: Vec<Module>,
}

/// A validated module catalog. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Catalog {
    data: CatalogData,
    index: HashMap<ModuleId, usize>,
    fingerprint: String,
}

const BUILTIN_CATALOG: &str = include_str!("../../data/catalog.json");

impl Catalog {
    /// The built-in catalog (embedded `data/catalog.json`), loaded once.
    pub fn builtin() -> Arc<Catalog> {
        static BUILTIN: OnceLock<Arc<Catalog>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                // The shipped data is validated by a unit test; an empty catalog is the only
                // fallback that cannot panic.
                Arc::new(Catalog::from_json(BUILTIN_CATALOG).unwrap_or_else(|_| Catalog::empty()))
            })
            .clone()
    }

    fn empty() -> Catalog {
        Catalog {
            data: CatalogData {
                version: "empty".into(),
                currency: Currency::CNY,
                modules: Vec::new(),
            },
            index: HashMap::new(),
            fingerprint: String::new(),
        }
    }

    /// Load and validate a catalog from JSON.
    ///
    /// # Errors
    /// A validation error naming the path: malformed JSON or a wrong type (`modules[3].area`),
    /// a duplicate id (`modules[7].id`), an unknown or cyclic requirement
    /// (`modules[2].requires[0]`), a price in another currency or negative.
    pub fn from_json(json: &str) -> Result<Catalog> {
        Catalog::from_data(crate::config::from_json(json)?)
    }

    /// Validate catalog data.
    ///
    /// # Errors
    /// As [`Catalog::from_json`].
    pub fn from_data(data: CatalogData) -> Result<Catalog> {
        if data.version.trim().is_empty() {
            return Err(ModulesError::validation("version", "must not be blank"));
        }
        let mut index = HashMap::with_capacity(data.modules.len());
        for (i, m) in data.modules.iter().enumerate() {
            validate_module(m, data.currency).map_err(|e| e.in_field(format!("modules[{i}]")))?;
            if index.insert(m.id.clone(), i).is_some() {
                return Err(ModulesError::validation(
                    format!("modules[{i}].id"),
                    format!("duplicate module id {}", m.id),
                ));
            }
        }
        for (i, m) in data.modules.iter().enumerate() {
            for (j, r) in m.requires.iter().enumerate() {
                if !index.contains_key(r) {
                    return Err(ModulesError::UnknownModule {
                        id: r.to_string(),
                        path: format!("modules[{i}].requires[{j}]"),
                    });
                }
            }
        }
        check_cycles(&data.modules, &index)?;
        let bytes = serde_json::to_vec(&data).map_err(marketingforce_core::Error::from)?;
        Ok(Catalog {
            fingerprint: Fingerprint::of_bytes(&bytes).as_str().to_string(),
            data,
            index,
        })
    }

    /// A new catalog with `module` added (e.g. a third-party module registered on the PaaS
    /// layer).
    ///
    /// # Errors
    /// As [`Catalog::from_data`] (duplicate id, unknown requirement, …).
    pub fn with_module(&self, module: Module) -> Result<Catalog> {
        let mut data = self.data.clone();
        data.modules.push(module);
        Catalog::from_data(data)
    }

    /// The JSON Schema of the catalog file.
    pub fn json_schema() -> String {
        crate::config::schema_json::<CatalogData>()
    }

    /// The price-list version label.
    pub fn version(&self) -> &str {
        &self.data.version
    }

    /// The catalog currency.
    pub fn currency(&self) -> Currency {
        self.data.currency
    }

    /// A SHA-256 fingerprint of the catalog's content (recorded by quotes).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Every module, in file order.
    pub fn modules(&self) -> &[Module] {
        &self.data.modules
    }

    /// The catalog data.
    pub fn data(&self) -> &CatalogData {
        &self.data
    }

    /// A module by id.
    pub fn get(&self, id: &ModuleId) -> Option<&Module> {
        self.index.get(id).and_then(|&i| self.data.modules.get(i))
    }

    /// A module by id that must exist; `path` names where the id came from.
    ///
    /// # Errors
    /// [`ModulesError::UnknownModule`].
    pub fn require(&self, id: &ModuleId, path: &str) -> Result<&Module> {
        self.get(id).ok_or_else(|| ModulesError::UnknownModule {
            id: id.to_string(),
            path: path.to_string(),
        })
    }

    /// `ids` with everything they require, transitively.
    ///
    /// # Errors
    /// [`ModulesError::UnknownModule`] for an id not in the catalog.
    pub fn closure(&self, ids: impl IntoIterator<Item = ModuleId>) -> Result<BTreeSet<ModuleId>> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<ModuleId> = Vec::new();
        for (i, id) in ids.into_iter().enumerate() {
            self.require(&id, &format!("[{i}]"))?;
            stack.push(id);
        }
        while let Some(id) = stack.pop() {
            if out.contains(&id) {
                continue;
            }
            if let Some(m) = self.get(&id) {
                stack.extend(m.requires.iter().cloned());
            }
            out.insert(id);
        }
        Ok(out)
    }
}

fn validate_module(m: &Module, currency: Currency) -> Result<()> {
    if m.name.trim().is_empty() {
        return Err(ModulesError::validation("name", "must not be blank"));
    }
    if m.description.trim().is_empty() {
        return Err(ModulesError::validation("description", "must not be blank"));
    }
    m.list_price.ensure_price("list_price", currency)?;
    match &m.metering {
        Metering::None => {}
        Metering::Seats {
            extra_seat_price, ..
        } => {
            extra_seat_price.ensure_price("metering.extra_seat_price", currency)?;
            if extra_seat_price.is_zero() {
                return Err(ModulesError::validation(
                    "metering.extra_seat_price",
                    "a seat-limited module must price extra seats",
                ));
            }
        }
        Metering::Usage { unit, .. } => {
            if let UsageUnit::Custom(c) = unit {
                if c.namespace() != m.id.namespace() {
                    return Err(ModulesError::validation(
                        "metering.unit",
                        format!(
                            "custom unit {unit} must be in the module's namespace {}",
                            m.id.namespace()
                        ),
                    ));
                }
            }
        }
    }
    for (j, r) in m.requires.iter().enumerate() {
        if *r == m.id {
            return Err(ModulesError::validation(
                format!("requires[{j}]"),
                "a module cannot require itself",
            ));
        }
    }
    Ok(())
}

fn check_cycles(modules: &[Module], index: &HashMap<ModuleId, usize>) -> Result<()> {
    // Iterative DFS with colours: 0 = new, 1 = on the stack, 2 = done.
    let mut colour = vec![0u8; modules.len()];
    for start in 0..modules.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let requires = &modules[node].requires;
            if let Some(r) = requires.get(*next) {
                let j = *next;
                *next += 1;
                let Some(&child) = index.get(r) else { continue };
                match colour[child] {
                    0 => {
                        colour[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let cycle: Vec<String> = stack
                            .iter()
                            .skip_while(|(n, _)| *n != child)
                            .map(|(n, _)| modules[*n].id.to_string())
                            .chain(std::iter::once(r.to_string()))
                            .collect();
                        return Err(ModulesError::validation(
                            format!("modules[{node}].requires[{j}]"),
                            format!("requirement cycle {}", cycle.join(" -> ")),
                        ));
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_and_covers_the_domain() {
        let c = Catalog::from_json(BUILTIN_CATALOG).unwrap();
        for id in ModuleId::BUILTIN {
            assert!(
                c.get(id).is_some(),
                "constant {id} missing from data/catalog.json"
            );
        }
        let lo = Money::cny("100").unwrap();
        let hi = Money::cny("50000").unwrap();
        for m in c.modules() {
            assert!(
                m.list_price.amount() >= lo.amount() && m.list_price.amount() <= hi.amount(),
                "{} priced {}",
                m.id,
                m.list_price
            );
        }
        let areas: BTreeSet<KeyArea> = c.modules().iter().map(|m| m.area).collect();
        assert_eq!(areas.len(), 6);
        let kinds: BTreeSet<ModuleKind> = c.modules().iter().map(|m| m.kind).collect();
        assert_eq!(kinds.len(), 4);
        assert_eq!(Catalog::builtin().modules().len(), c.modules().len());
    }

    fn tiny(modules: &str) -> String {
        format!(r#"{{"version":"t","currency":"CNY","modules":[{modules}]}}"#)
    }

    fn m(id: &str, requires: &str) -> String {
        format!(
            r#"{{"id":"{id}","name":"n","description":"d","area":"data_analytics","kind":"core",
               "metering":{{"type":"none"}},"list_price":{{"amount":"100","currency":"CNY"}},"requires":[{requires}]}}"#
        )
    }

    #[test]
    fn bad_catalogs_name_the_path() {
        let e =
            Catalog::from_json(&tiny(&format!("{},{}", m("mf.a", ""), m("mf.a", "")))).unwrap_err();
        assert_eq!(e.field(), Some("modules[1].id"), "{e}");
        let e = Catalog::from_json(&tiny(&m("mf.a", r#""mf.zz""#))).unwrap_err();
        assert!(matches!(e, ModulesError::UnknownModule { .. }));
        assert_eq!(e.field(), Some("modules[0].requires[0]"));
        let e = Catalog::from_json(&tiny(&format!(
            "{},{},{}",
            m("mf.a", r#""mf.b""#),
            m("mf.b", r#""mf.c""#),
            m("mf.c", r#""mf.a""#)
        )))
        .unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
        let bad_area = tiny(&m("mf.a", "")).replace("data_analytics", "astrology");
        let e = Catalog::from_json(&bad_area).unwrap_err();
        assert_eq!(e.field(), Some("modules[0].area"), "{e}");
        let bad_price =
            tiny(&m("mf.a", "")).replace(r#""100","currency":"CNY""#, r#""100","currency":"USD""#);
        let e = Catalog::from_json(&bad_price).unwrap_err();
        assert_eq!(e.field(), Some("modules[0].list_price"), "{e}");
        assert!(Catalog::from_json("{").is_err());
    }

    #[test]
    fn schema_is_generated() {
        let s = Catalog::json_schema();
        assert!(s.contains("\"modules\""));
        assert!(s.contains("content_experience"));
    }
}
