//! Survivorship: which value of a merged lead's captures becomes the golden value, field by
//! field. Nothing is dropped: the other distinct values are kept as alternates.
//!
//! The order is total (rule, then time, then source priority, then the value itself), so the
//! golden record does not depend on the order captures arrived in.
//!
//! ```
//! use marketingforce_crm::survivorship::{pick, FieldRule, SurvivorshipConfig};
//! use marketingforce_crm::model::Source;
//! use chrono::{TimeZone, Utc};
//!
//! let cfg = SurvivorshipConfig::default();
//! let t1 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
//! let t2 = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
//! let values = [("老地址公司", Source::Import, t2), ("总部登记公司", Source::Headquarters, t1)];
//! // Most recent non-empty wins...
//! let (golden, others) = pick(values.iter().copied(), FieldRule::MostRecent, &cfg);
//! assert_eq!(golden, Some("老地址公司"));
//! assert_eq!(others, vec!["总部登记公司"]);
//! // ...unless the field follows source priority (headquarters ranks above imports).
//! let (golden, _) = pick(values.iter().copied(), FieldRule::SourcePriority, &cfg);
//! assert_eq!(golden, Some("总部登记公司"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, Result};
use crate::identity::{Email, MobileNumber, Phone, WeComId};
use crate::model::{hidden, Contribution, Source};

/// How the golden value of a field is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldRule {
    /// The most recent non-empty value; ties by source priority.
    MostRecent,
    /// The value from the most trusted source; ties by recency.
    SourcePriority,
}

/// A field subject to survivorship.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Person name.
    Name,
    /// Mainland mobile.
    Mobile,
    /// Other phone.
    Phone,
    /// Email.
    Email,
    /// WeCom external user id.
    WecomId,
    /// Company.
    Company,
    /// Region.
    Region,
}

/// Survivorship rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SurvivorshipConfig {
    /// The rule of fields not listed in `fields`.
    pub default_rule: FieldRule,
    /// Per-field rules.
    #[serde(default)]
    pub fields: BTreeMap<Field, FieldRule>,
    /// Sources, most trusted first. Unlisted sources rank after every listed one.
    pub source_priority: Vec<Source>,
}

impl Default for SurvivorshipConfig {
    fn default() -> Self {
        SurvivorshipConfig {
            default_rule: FieldRule::MostRecent,
            fields: BTreeMap::from([(Field::Company, FieldRule::SourcePriority)]),
            source_priority: vec![
                Source::Headquarters,
                Source::Dealer,
                Source::WeCom,
                Source::TCloudInquiry,
                Source::OwnSite,
                Source::IndustryMedia,
                Source::OfflineQr,
                Source::Referral,
                Source::Import,
            ],
        }
    }
}

impl SurvivorshipConfig {
    /// Check the rules.
    ///
    /// # Errors
    /// A validation error on `source_priority[i]` when a source is listed twice.
    pub fn validate(&self) -> Result<()> {
        for (i, s) in self.source_priority.iter().enumerate() {
            if self.source_priority[..i].contains(s) {
                return Err(CrmError::validation(
                    format!("source_priority[{i}]"),
                    format!("{s} is listed twice"),
                ));
            }
        }
        Ok(())
    }

    /// The rule of `field`.
    pub fn rule(&self, field: Field) -> FieldRule {
        self.fields
            .get(&field)
            .copied()
            .unwrap_or(self.default_rule)
    }

    /// Rank of a source (0 = most trusted).
    pub fn rank(&self, source: Source) -> usize {
        self.source_priority
            .iter()
            .position(|s| *s == source)
            .unwrap_or(self.source_priority.len())
    }
}

/// Choose the golden value among `(value, source, captured_at)` candidates; returns it and the
/// other distinct values (sorted). Empty values are ignored.
pub fn pick<'a>(
    candidates: impl IntoIterator<Item = (&'a str, Source, DateTime<Utc>)>,
    rule: FieldRule,
    cfg: &SurvivorshipConfig,
) -> (Option<&'a str>, Vec<&'a str>) {
    let mut best: Option<(&'a str, Source, DateTime<Utc>)> = None;
    let mut all: Vec<&'a str> = Vec::new();
    for c in candidates {
        if c.0.trim().is_empty() {
            continue;
        }
        all.push(c.0);
        let better = match &best {
            None => true,
            Some(b) => {
                let recency = c.2.cmp(&b.2).reverse();
                let priority = cfg.rank(c.1).cmp(&cfg.rank(b.1));
                let ord = match rule {
                    FieldRule::MostRecent => recency.then(priority),
                    FieldRule::SourcePriority => priority.then(recency),
                };
                ord.then(c.0.cmp(b.0)).is_lt()
            }
        };
        if better {
            best = Some(c);
        }
    }
    let golden = best.map(|b| b.0);
    all.sort_unstable();
    all.dedup();
    all.retain(|v| Some(*v) != golden);
    (golden, all)
}

/// The golden identity of a lead, with every other value kept. `Debug` shows which values
/// are present and how many alternates each field has, never the values.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct GoldenIdentity {
    /// Person name.
    pub name: Option<String>,
    /// Mainland mobile (11 digits).
    pub mobile: Option<String>,
    /// Other phone (E.164).
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// WeCom external user id.
    pub wecom_id: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Other values seen per field, not chosen.
    pub alternates: BTreeMap<Field, Vec<String>>,
}

impl fmt::Debug for GoldenIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alternates: BTreeMap<&Field, usize> =
            self.alternates.iter().map(|(k, v)| (k, v.len())).collect();
        f.debug_struct("GoldenIdentity")
            .field("name", &hidden(&self.name))
            .field("mobile", &hidden(&self.mobile))
            .field("phone", &hidden(&self.phone))
            .field("email", &hidden(&self.email))
            .field("wecom_id", &hidden(&self.wecom_id))
            .field("company", &hidden(&self.company))
            .field("alternates", &alternates)
            .finish()
    }
}

impl GoldenIdentity {
    /// Apply survivorship to a lead's contributions.
    pub fn from_contributions(
        contribs: &[Contribution],
        cfg: &SurvivorshipConfig,
    ) -> GoldenIdentity {
        let mut g = GoldenIdentity::default();
        let mut field = |f: Field, get: &dyn Fn(&Contribution) -> Option<&str>| {
            let (golden, others) = pick(
                contribs
                    .iter()
                    .filter_map(|c| get(c).map(|v| (v, c.source, c.at))),
                cfg.rule(f),
                cfg,
            );
            if !others.is_empty() {
                g.alternates
                    .insert(f, others.into_iter().map(str::to_string).collect());
            }
            golden.map(str::to_string)
        };
        let name = field(Field::Name, &|c| c.identity.name.as_deref());
        let mobile = field(Field::Mobile, &|c| {
            c.identity.mobile.as_ref().map(MobileNumber::as_str)
        });
        let phone = field(Field::Phone, &|c| {
            c.identity.phone.as_ref().map(Phone::as_str)
        });
        let email = field(Field::Email, &|c| {
            c.identity.email.as_ref().map(Email::as_str)
        });
        let wecom = field(Field::WecomId, &|c| {
            c.identity.wecom_id.as_ref().map(WeComId::as_str)
        });
        let company = field(Field::Company, &|c| c.identity.company.as_deref());
        g.name = name;
        g.mobile = mobile;
        g.phone = phone;
        g.email = email;
        g.wecom_id = wecom;
        g.company = company;
        g
    }
}
