//! Word lists as data: categories with their legal basis, terms, term families, context
//! exemptions and tenant waivers, in JSON with a JSON Schema ([`Lexicon`]).
//!
//! The built-in list is assembled from one file per article of the Advertising Law
//! ([`BUILTIN_LEXICONS`]): a category names the article it rests on and summarises it in one
//! line, and switches on only for the industries it concerns (medical claims for medical
//! advertisers, appreciation promises for real estate, …). Tenants layer their own lists on top.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};

/// The built-in Advertising Law lists, one JSON file per article (or group of articles), as
/// `(file name, JSON)`. [`Lexicon::builtin`] merges them in this order.
pub const BUILTIN_LEXICONS: &[(&str, &str)] = &[
    (
        "art09-absolute.json",
        include_str!("../../data/compliance/art09-absolute.json"),
    ),
    (
        "art09-exemptions-samr-2023.json",
        include_str!("../../data/compliance/art09-exemptions-samr-2023.json"),
    ),
    (
        "art09-state.json",
        include_str!("../../data/compliance/art09-state.json"),
    ),
    (
        "art09-prohibited-content.json",
        include_str!("../../data/compliance/art09-prohibited-content.json"),
    ),
    (
        "art10-minors.json",
        include_str!("../../data/compliance/art10-minors.json"),
    ),
    (
        "art15-23-46-restricted.json",
        include_str!("../../data/compliance/art15-23-46-restricted.json"),
    ),
    (
        "art16-medical.json",
        include_str!("../../data/compliance/art16-medical.json"),
    ),
    (
        "art17-disease-claims.json",
        include_str!("../../data/compliance/art17-disease-claims.json"),
    ),
    (
        "art18-health-food.json",
        include_str!("../../data/compliance/art18-health-food.json"),
    ),
    (
        "art24-education.json",
        include_str!("../../data/compliance/art24-education.json"),
    ),
    (
        "art25-investment.json",
        include_str!("../../data/compliance/art25-investment.json"),
    ),
    (
        "art26-real-estate.json",
        include_str!("../../data/compliance/art26-real-estate.json"),
    ),
    (
        "art28-false-advertising.json",
        include_str!("../../data/compliance/art28-false-advertising.json"),
    ),
    (
        "art38-endorsers.json",
        include_str!("../../data/compliance/art38-endorsers.json"),
    ),
];

/// The name of the merged built-in list (recorded with every review).
pub const BUILTIN_NAME: &str = "advertising-law-cn";

/// Longest allowed context window of an exemption, in characters.
pub const MAX_WINDOW: u8 = 16;

/// How serious a find is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look; does not block publishing.
    Warn,
    /// A person must review before publishing (restricted products, claims needing evidence).
    Review,
    /// Must not be published as is.
    Reject,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Warn => "warn",
            Severity::Review => "review",
            Severity::Reject => "reject",
        })
    }
}

/// A category of finds, with the law it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Id referenced by terms (`absolute`, `disease_claims`).
    pub id: String,
    /// Display name (`绝对化用语`).
    pub name: String,
    /// Severity of the category's terms.
    pub severity: Severity,
    /// The legal basis as cited (`《广告法》第九条第（三）项`).
    pub law: String,
    /// The article of the Advertising Law (广告法) the category rests on; absent for rules from
    /// other laws or a tenant's own policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<u16>,
    /// What that article says, in one line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// What the rule means for the author.
    pub explanation: String,
    /// Industries the category applies to (empty: every industry). An industry-specific category
    /// takes precedence over a general one listing the same term.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
    /// Industries the category does not apply to (Art. 17 does not apply to medical advertisers,
    /// whose claims Art. 16 governs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except_industries: Vec<String>,
}

impl Category {
    /// Whether the category applies to `industry` (an id resolved by
    /// [`resolve_industry`](super::resolve_industry)).
    pub fn applies_to(&self, industry: Option<&str>) -> bool {
        applies(&self.industries, industry)
            && !industry.is_some_and(|i| self.except_industries.iter().any(|x| x == i))
    }

    /// Whether the category is limited to named industries.
    pub fn is_industry_specific(&self) -> bool {
        !self.industries.is_empty()
    }
}

/// `true` when `industries` is empty or names `industry`.
pub(crate) fn applies(industries: &[String], industry: Option<&str>) -> bool {
    industries.is_empty() || industry.is_some_and(|i| industries.iter().any(|x| x == i))
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
    /// Industries the term applies to (empty: all the category applies to).
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
    /// Industries (empty: all the category applies to).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
}

/// Why a context exempts a term. The first five follow the lawful uses the SAMR guideline on
/// absolute terms (《广告绝对化用语执法指南》, 市场监管总局公告2023年第6号) recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExemptionKind {
    /// Time or sequence stated as an objective fact (第一次, 第一步, 首个工作日, 最早可于…).
    TimeSequence,
    /// A product parameter or specification with its figure (最大功率15kW, 最小间距0.5mm).
    ProductParameter,
    /// A comparison within the advertiser's own brand or product line (旗下最轻的型号).
    OwnProductComparison,
    /// The advertiser's service attitude, business philosophy or aspiration (力争第一,
    /// 追求最好的服务, 客户第一).
    ServiceAttitude,
    /// A consumer tip on use, timing or storage (最佳饮用温度, 最佳赏味期).
    ConsumerTip,
    /// A grade defined by an official standard, or an official designation or award.
    OfficialStandard,
    /// A registered trademark, trade name or product name that contains the term.
    Trademark,
    /// Ordinary language that is not a claim (technical terms, ages of ten and over).
    #[default]
    OrdinaryUsage,
    /// A tenant waiver of a rule, with its recorded reason (never written in `exemptions`:
    /// see [`Waiver`]).
    TenantWaiver,
}

impl ExemptionKind {
    /// The snake-case name used in the JSON data.
    pub fn as_str(self) -> &'static str {
        match self {
            ExemptionKind::TimeSequence => "time_sequence",
            ExemptionKind::ProductParameter => "product_parameter",
            ExemptionKind::OwnProductComparison => "own_product_comparison",
            ExemptionKind::ServiceAttitude => "service_attitude",
            ExemptionKind::ConsumerTip => "consumer_tip",
            ExemptionKind::OfficialStandard => "official_standard",
            ExemptionKind::Trademark => "trademark",
            ExemptionKind::OrdinaryUsage => "ordinary_usage",
            ExemptionKind::TenantWaiver => "tenant_waiver",
        }
    }
}

/// A context in which terms are allowed.
///
/// A find is exempt when its text lies inside one of `phrases`, or when every condition that is
/// set holds: one of `preceded_by` ends at most `within` characters before it, one of
/// `followed_by` starts at most `within` characters after it (0: directly adjacent), and a
/// figure (an ASCII digit or a Chinese numeral) follows within `number_within` characters.
/// Contexts and phrases never reach across clause punctuation (`，。！？；：、` and line
/// breaks); inserted spaces and symbols are ignored as in matching.
///
/// `terms` and `categories` limit the exemption (both empty: every term). A name in `terms` that
/// is a listed term means exactly that term; a name that is only a family stem means every term
/// generated from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exemption {
    /// Why.
    pub kind: ExemptionKind,
    /// Terms it applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<String>,
    /// Categories it applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Phrases that contain a term and are allowed as a whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phrases: Vec<String>,
    /// Contexts before the term.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preceded_by: Vec<String>,
    /// Contexts after the term.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followed_by: Vec<String>,
    /// How many characters may lie between a context and the term (0–16).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub within: u8,
    /// A figure (ASCII digit or Chinese numeral) must follow the term within this many
    /// characters (1–16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_within: Option<u8>,
    /// A note for reviewers (recorded on the find).
    #[serde(default)]
    pub note: String,
    /// Industries (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// A tenant's decision to switch off a rule of an earlier list (the built-in one), with the
/// reason it is kept on every review record. Finds of a waived rule are still recorded, as
/// exempted, with the reason.
///
/// Exactly one of `term` and `category` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// The term waived, as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// The category waived (every term in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Why (e.g. the approval number or the legal opinion it rests on). Required.
    pub reason: String,
}

/// A word list: the JSON data format of compliance rules.
///
/// ```
/// use marketingforce_content::compliance::Lexicon;
///
/// let base = Lexicon::builtin();
/// assert!(base.term_count() > 900);
/// assert!(base.categories.iter().any(|c| c.article == Some(25)));
/// // A tenant's own list: its registered trademark, and one more banned term.
/// let tenant = Lexicon::from_json(r#"{
///   "version": 1, "name": "tenant-acme",
///   "terms": [{ "term": "秒杀全场", "category": "absolute", "replacement": "限时优惠" }],
///   "exemptions": [{ "kind": "trademark", "phrases": ["第一坊"], "note": "注册商标" }]
/// }"#).unwrap();
/// assert_eq!(tenant.terms.len(), 1);
/// // Bad data is refused with the JSON path of the problem.
/// let e = Lexicon::from_json(r#"{"version": 1, "name": "t",
///   "terms": [{ "term": "x", "category": "absolute", "severity": "reject" }]}"#).unwrap_err();
/// assert!(e.to_string().contains("terms[0]"), "{e}");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lexicon {
    /// Format version (1).
    pub version: u32,
    /// Name (recorded with every review).
    pub name: String,
    /// Categories (extension lists may use the earlier lists' categories).
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
    /// Rules of earlier lists switched off, each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<Waiver>,
}

impl Lexicon {
    /// The built-in Advertising Law list: the files of [`BUILTIN_LEXICONS`] merged.
    ///
    /// # Panics
    /// Never: the built-in data is checked by the test suite.
    pub fn builtin() -> Lexicon {
        #[allow(clippy::expect_used)]
        Lexicon::builtin_checked().expect("built-in lexicon is valid")
    }

    /// The built-in list, or the error naming the file and path of a problem in it.
    ///
    /// # Errors
    /// A validation error whose field starts with the file name
    /// (`art16-medical.json:terms[3].category`).
    pub fn builtin_checked() -> Result<Lexicon> {
        let mut parts = Vec::with_capacity(BUILTIN_LEXICONS.len());
        for (file, json) in BUILTIN_LEXICONS {
            parts.push(Lexicon::from_json(json).map_err(|e| in_file(file, e))?);
        }
        let merged = Lexicon::merge(BUILTIN_NAME, parts);
        merged.validate()?;
        Ok(merged)
    }

    /// One list from several: categories, terms, families, exemptions and waivers concatenated
    /// in order.
    pub fn merge(name: &str, parts: impl IntoIterator<Item = Lexicon>) -> Lexicon {
        let mut out = Lexicon {
            version: 1,
            name: name.to_string(),
            ..Lexicon::default()
        };
        for p in parts {
            out.categories.extend(p.categories);
            out.terms.extend(p.terms);
            out.families.extend(p.families);
            out.exemptions.extend(p.exemptions);
            out.waivers.extend(p.waivers);
        }
        out
    }

    /// Parse and check a list (cross-references to categories are checked when lists are
    /// combined into a [`ComplianceChecker`](super::ComplianceChecker)).
    ///
    /// # Errors
    /// A validation error naming the JSON path of the problem (`terms[3].category`, or the
    /// unknown field's path).
    pub fn from_json(json: &str) -> Result<Lexicon> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let l: Lexicon = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let text = inner.to_string();
            let named = text
                .split_once("missing field `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(n, _)| n.to_string());
            let field = match (path.as_str(), named) {
                (".", Some(n)) => n,
                (".", None) => "lexicon".to_string(),
                (p, Some(n)) => format!("{p}.{n}"),
                (p, None) => p.to_string(),
            };
            ContentError::validation(field, format!("not a valid lexicon: {text}"))
        })?;
        l.validate()?;
        Ok(l)
    }

    /// Check the list on its own: no blank terms, no term twice in one category, non-empty
    /// families, exemptions with at least one condition and windows in range, waivers with a
    /// reason.
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
        let mut seen = HashSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            if c.id.trim().is_empty() || !seen.insert(c.id.as_str()) {
                return Err(ContentError::validation(
                    format!("categories[{i}].id"),
                    format!("blank or duplicate id {:?}", c.id),
                ));
            }
            if let Some(x) = c
                .industries
                .iter()
                .find(|x| c.except_industries.contains(x))
            {
                return Err(ContentError::validation(
                    format!("categories[{i}].except_industries"),
                    format!("{x:?} is both included and excluded"),
                ));
            }
        }
        let mut terms = HashSet::new();
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
            if !terms.insert((key, t.category.as_str())) {
                return Err(ContentError::validation(
                    format!("terms[{i}].term"),
                    format!("duplicate term {:?} in category {:?}", t.term, t.category),
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
            validate_exemption(e).map_err(|err| err.in_field(format!("exemptions[{i}]")))?;
        }
        for (i, w) in self.waivers.iter().enumerate() {
            let path = format!("waivers[{i}]");
            if w.term.is_some() == w.category.is_some() {
                return Err(ContentError::validation(
                    path,
                    "names exactly one of term and category",
                ));
            }
            if w.reason.trim().is_empty() {
                return Err(ContentError::validation(
                    format!("{path}.reason"),
                    "a waiver must record why the rule is switched off",
                ));
            }
        }
        Ok(())
    }

    /// Number of term entries including those generated by families (before industry
    /// selection and deduplication).
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

fn validate_exemption(e: &Exemption) -> std::result::Result<(), marketingforce_core::Error> {
    use marketingforce_core::Error;
    if e.kind == ExemptionKind::TenantWaiver {
        return Err(Error::validation(
            "kind",
            "tenant waivers are written in `waivers`, with a reason",
        ));
    }
    if e.phrases.is_empty()
        && e.preceded_by.is_empty()
        && e.followed_by.is_empty()
        && e.number_within.is_none()
    {
        return Err(Error::validation(
            "",
            "needs phrases, preceded_by, followed_by or number_within",
        ));
    }
    if e.within > MAX_WINDOW {
        return Err(Error::validation(
            "within",
            format!("at most {MAX_WINDOW} characters"),
        ));
    }
    if let Some(n) = e.number_within {
        if n == 0 || n > MAX_WINDOW {
            return Err(Error::validation(
                "number_within",
                format!("between 1 and {MAX_WINDOW} characters"),
            ));
        }
    }
    for (name, list) in [
        ("phrases", &e.phrases),
        ("preceded_by", &e.preceded_by),
        ("followed_by", &e.followed_by),
    ] {
        for (j, p) in list.iter().enumerate() {
            let n = super::normalize::normalize_term(p);
            if n.is_empty() {
                return Err(Error::validation(format!("{name}[{j}]"), "blank context"));
            }
            if n.len() > 64 {
                return Err(Error::validation(
                    format!("{name}[{j}]"),
                    "longer than 64 bytes once normalised",
                ));
            }
        }
    }
    Ok(())
}

/// Prefix a validation error's field with the built-in file it comes from.
fn in_file(file: &str, e: ContentError) -> ContentError {
    match e {
        ContentError::Core(marketingforce_core::Error::Validation { field, reason }) => {
            ContentError::validation(format!("{file}:{field}"), reason)
        }
        other => other,
    }
}
