//! Word lists as data: categories, terms, term families and context exemptions, in JSON with a
//! JSON Schema ([`Lexicon`]). The built-in list covers the Advertising Law; tenants and
//! industries layer their own lists on top.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};

/// The built-in Advertising Law lexicon (`data/compliance-lexicon.json`).
pub const BUILTIN_LEXICON: &str = include_str!("../../data/compliance-lexicon.json");

/// How serious a find is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look; does not block publishing.
    Warn,
    /// A person must review before publishing (restricted product categories).
    Review,
    /// Must not be published as is.
    Reject,
}

/// A category of finds, with the law it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Id referenced by terms (`absolute`, `medicine`).
    pub id: String,
    /// Display name (`绝对化用语`).
    pub name: String,
    /// Severity of the category's terms.
    pub severity: Severity,
    /// The legal basis.
    pub law: String,
    /// What the rule says, for the user.
    pub explanation: String,
}

/// One banned or restricted term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TermRule {
    /// The term as written (matching ignores width, case, inserted spaces and symbols).
    pub term: String,
    /// Its category id.
    pub category: String,
    /// A compliant alternative, if there is one (empty or absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// A term-specific explanation (the category's otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Industries the term applies to (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
}

/// A family of terms: every prefix followed by every stem (`全国` + `第一`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TermFamily {
    /// Category id of every generated term.
    pub category: String,
    /// Prefixes.
    pub prefixes: Vec<String>,
    /// Stems.
    pub stems: Vec<String>,
    /// Industries (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
}

/// Why a context exempts a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExemptionKind {
    /// A registered trademark or trade name that contains the term.
    Trademark,
    /// A comparison with the advertiser's own products.
    OwnProductComparison,
    /// A term defined by an official standard or an official designation.
    OfficialStandard,
    /// Ordinary language that is not a claim (ordinals, technical terms).
    #[default]
    OrdinaryUsage,
}

/// A context in which terms are allowed.
///
/// A find is exempt when its text lies inside one of `phrases`, or when every non-empty one of
/// `preceded_by` / `followed_by` has an entry directly before / after it (inserted spaces and
/// symbols ignored). `terms` limits the exemption to those terms (and terms of families built
/// on those stems); empty means every term.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exemption {
    /// Why.
    pub kind: ExemptionKind,
    /// Terms it applies to (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<String>,
    /// Phrases that contain a term and are allowed as a whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phrases: Vec<String>,
    /// Contexts directly before the term.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preceded_by: Vec<String>,
    /// Contexts directly after the term.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followed_by: Vec<String>,
    /// A note for reviewers.
    #[serde(default)]
    pub note: String,
    /// Industries (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
}

/// A word list: the JSON data format of compliance rules.
///
/// ```
/// use marketingforce_content::compliance::Lexicon;
///
/// let base = Lexicon::builtin();
/// assert!(base.term_count() > 400);
/// // A tenant's own list: its registered trademark, and one more banned term.
/// let tenant = Lexicon::from_json(r#"{
///   "version": 1, "name": "tenant-acme",
///   "terms": [{ "term": "秒杀全场", "category": "absolute", "replacement": "限时优惠" }],
///   "exemptions": [{ "kind": "trademark", "phrases": ["第一坊"], "note": "注册商标" }]
/// }"#).unwrap();
/// assert_eq!(tenant.terms.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lexicon {
    /// Format version (1).
    pub version: u32,
    /// Name (recorded with every review).
    pub name: String,
    /// Categories (extension lists may use the base list's categories).
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Terms.
    #[serde(default)]
    pub terms: Vec<TermRule>,
    /// Term families.
    #[serde(default)]
    pub families: Vec<TermFamily>,
    /// Exemptions.
    #[serde(default)]
    pub exemptions: Vec<Exemption>,
}

impl Lexicon {
    /// The built-in Advertising Law list.
    ///
    /// # Panics
    /// Never: the built-in data is checked by the test suite.
    pub fn builtin() -> Lexicon {
        #[allow(clippy::expect_used)]
        Lexicon::from_json(BUILTIN_LEXICON).expect("built-in lexicon is valid")
    }

    /// Parse and check a list (cross-references to categories are checked when lists are
    /// combined into a [`ComplianceChecker`](super::ComplianceChecker)).
    ///
    /// # Errors
    /// A validation error naming the offending path (`terms[3].term`).
    pub fn from_json(json: &str) -> Result<Lexicon> {
        let l: Lexicon = serde_json::from_str(json).map_err(|e| {
            ContentError::validation("lexicon", format!("not a valid lexicon: {e}"))
        })?;
        l.validate()?;
        Ok(l)
    }

    /// Check the list on its own: no blank or duplicate terms, non-empty families and
    /// exemptions with at least one condition.
    ///
    /// # Errors
    /// A validation error naming the offending path.
    pub fn validate(&self) -> Result<()> {
        if self.version != 1 {
            return Err(ContentError::validation(
                "version",
                format!("unsupported version {}", self.version),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(ContentError::validation("name", "must not be blank"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            if c.id.trim().is_empty() || !seen.insert(c.id.as_str()) {
                return Err(ContentError::validation(
                    format!("categories[{i}].id"),
                    format!("blank or duplicate id {:?}", c.id),
                ));
            }
        }
        let mut terms = std::collections::HashSet::new();
        for (i, t) in self.terms.iter().enumerate() {
            let key = super::normalize::normalize_term(&t.term);
            if key.is_empty() {
                return Err(ContentError::validation(
                    format!("terms[{i}].term"),
                    format!(
                        "{:?} has nothing to match once spaces and symbols are removed",
                        t.term
                    ),
                ));
            }
            if !terms.insert(key) {
                return Err(ContentError::validation(
                    format!("terms[{i}].term"),
                    format!("duplicate term {:?}", t.term),
                ));
            }
        }
        for (i, f) in self.families.iter().enumerate() {
            if f.prefixes.is_empty() || f.stems.is_empty() {
                return Err(ContentError::validation(
                    format!("families[{i}]"),
                    "needs prefixes and stems",
                ));
            }
        }
        for (i, e) in self.exemptions.iter().enumerate() {
            if e.phrases.is_empty() && e.preceded_by.is_empty() && e.followed_by.is_empty() {
                return Err(ContentError::validation(
                    format!("exemptions[{i}]"),
                    "needs phrases, preceded_by or followed_by",
                ));
            }
            for (j, p) in e
                .phrases
                .iter()
                .chain(&e.preceded_by)
                .chain(&e.followed_by)
                .enumerate()
            {
                if super::normalize::normalize_term(p).is_empty() {
                    return Err(ContentError::validation(
                        format!("exemptions[{i}][{j}]"),
                        "blank context",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Number of terms including those generated by families.
    pub fn term_count(&self) -> usize {
        self.terms.len()
            + self
                .families
                .iter()
                .map(|f| f.prefixes.len() * f.stems.len())
                .sum::<usize>()
    }

    /// The JSON Schema of the format.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(Lexicon)
    }
}
