//! The compiled checker: layered word lists → one Aho-Corasick automaton over normalised text.

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::lexicon::{Category, ExemptionKind, Lexicon, Severity};
use super::normalize::{normalize_term, Normalized};
use crate::error::{ContentError, Result};

/// The outcome of a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nothing blocks publishing.
    Approved,
    /// A person must review it (restricted categories).
    NeedsHumanReview,
    /// It must not be published as is.
    Rejected,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decision::Approved => "approved",
            Decision::NeedsHumanReview => "needs_human_review",
            Decision::Rejected => "rejected",
        })
    }
}

/// Why a find was exempted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExemptionApplied {
    /// The kind of exemption.
    pub kind: ExemptionKind,
    /// The exemption's note.
    pub note: Arc<str>,
}

/// One find: where it is, what it is, why it matters, what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// The listed term that matched.
    pub term: Arc<str>,
    /// The original text matched (may contain inserted spaces, symbols, full-width forms).
    pub matched: String,
    /// Byte offsets in the original text.
    pub byte_start: usize,
    /// End byte offset (exclusive).
    pub byte_end: usize,
    /// Character offsets in the original text.
    pub char_start: usize,
    /// End character offset (exclusive).
    pub char_end: usize,
    /// Category id.
    pub category: Arc<str>,
    /// Category name.
    pub category_name: Arc<str>,
    /// Severity.
    pub severity: Severity,
    /// Legal basis.
    pub law: Arc<str>,
    /// Explanation for the user.
    pub explanation: Arc<str>,
    /// A compliant alternative, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Arc<str>>,
    /// Set when a context exemption allowed the term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption: Option<ExemptionApplied>,
}

/// The result of scanning a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScanReport {
    /// The decision the finds lead to.
    pub decision: Decision,
    /// Finds that count, in text order.
    pub findings: Vec<Finding>,
    /// Finds allowed by an exemption, in text order (for the record).
    pub exempted: Vec<Finding>,
}

#[derive(Debug, Clone)]
struct Rule {
    term: Arc<str>,
    stem: Option<String>,
    category: usize,
    replacement: Option<Arc<str>>,
    explanation: Option<Arc<str>>,
    /// Whether the normalised term starts / ends with an ASCII letter or digit (then the match
    /// must start / end at a word boundary of the original text).
    ascii_start: bool,
    ascii_end: bool,
}

#[derive(Debug, Clone)]
struct CompiledExemption {
    kind: ExemptionKind,
    note: Arc<str>,
    phrases: Vec<Vec<u8>>,
    preceded_by: Vec<Vec<u8>>,
    followed_by: Vec<Vec<u8>>,
}

/// Checks texts against layered word lists (built-in, industry, tenant).
///
/// ```
/// use marketingforce_content::compliance::{ComplianceChecker, Decision, Lexicon};
///
/// let checker = ComplianceChecker::new(&[&Lexicon::builtin()], None).unwrap();
/// let text = "本店是全国Ｎ Ｏ．１，品质最*好。第一步：联系我们。";
/// let report = checker.scan(text);
/// assert_eq!(report.decision, Decision::Rejected);
/// let terms: Vec<&str> = report.findings.iter().map(|f| f.matched.as_str()).collect();
/// assert_eq!(terms, ["全国Ｎ Ｏ．１", "最*好"]);
/// let f = &report.findings[1];
/// assert_eq!(&text[f.byte_start..f.byte_end], "最*好");
/// assert_eq!(f.char_start, text[..f.byte_start].chars().count());
/// // "第一步" is an ordinal, exempted as ordinary usage.
/// assert_eq!(report.exempted.len(), 1);
/// assert_eq!(checker.apply_replacements(text, &report.findings), "本店是全国Ｎ Ｏ．１，品质优质。第一步：联系我们。");
/// ```
#[derive(Debug, Clone)]
pub struct ComplianceChecker {
    ac: AhoCorasick,
    rules: Vec<Rule>,
    categories: Vec<SharedCategory>,
    exemptions: Vec<CompiledExemption>,
    /// Exemption indexes per rule.
    rule_exemptions: Vec<Vec<usize>>,
    names: String,
}

#[derive(Debug, Clone)]
struct SharedCategory {
    id: Arc<str>,
    name: Arc<str>,
    severity: Severity,
    law: Arc<str>,
    explanation: Arc<str>,
}

fn applies(industries: &[String], industry: Option<&str>) -> bool {
    industries.is_empty() || industry.is_some_and(|i| industries.iter().any(|x| x == i))
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

impl ComplianceChecker {
    /// Compile `layers` (base first; later layers add terms, override a term's category or
    /// replacement, add categories and exemptions) for `industry`.
    ///
    /// # Errors
    /// A validation error naming the offending path (`layers[1].terms[0].category`).
    pub fn new(layers: &[&Lexicon], industry: Option<&str>) -> Result<ComplianceChecker> {
        let mut categories: Vec<Category> = Vec::new();
        let mut cat_index: HashMap<String, usize> = HashMap::new();
        for (li, l) in layers.iter().enumerate() {
            l.validate().map_err(|e| match e {
                ContentError::Core(c) => ContentError::Core(c.in_field(format!("layers[{li}]"))),
                other => other,
            })?;
            for c in &l.categories {
                match cat_index.get(&c.id) {
                    Some(&i) => categories[i] = c.clone(),
                    None => {
                        cat_index.insert(c.id.clone(), categories.len());
                        categories.push(c.clone());
                    }
                }
            }
        }
        let mut rules: Vec<Rule> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        fn add(
            by_key: &mut HashMap<String, usize>,
            key: String,
            rule: Rule,
            rules: &mut Vec<Rule>,
        ) {
            match by_key.get(&key) {
                Some(&i) => rules[i] = rule,
                None => {
                    by_key.insert(key, rules.len());
                    rules.push(rule);
                }
            }
        }
        let mut patterns: Vec<String> = Vec::new();
        for (li, l) in layers.iter().enumerate() {
            for (ti, t) in l.terms.iter().enumerate() {
                let cat = *cat_index.get(&t.category).ok_or_else(|| {
                    ContentError::validation(
                        format!("layers[{li}].terms[{ti}].category"),
                        format!("unknown category {:?}", t.category),
                    )
                })?;
                if !applies(&t.industries, industry) {
                    continue;
                }
                let key = normalize_term(&t.term);
                let rule = Rule {
                    ascii_start: key.as_bytes().first().is_some_and(|b| is_word_byte(*b)),
                    ascii_end: key.as_bytes().last().is_some_and(|b| is_word_byte(*b)),
                    term: t.term.as_str().into(),
                    stem: None,
                    category: cat,
                    replacement: t
                        .replacement
                        .as_deref()
                        .filter(|r| !r.is_empty())
                        .map(Into::into),
                    explanation: t.explanation.as_deref().map(Into::into),
                };
                add(&mut by_key, key, rule, &mut rules);
            }
            for (fi, f) in l.families.iter().enumerate() {
                let cat = *cat_index.get(&f.category).ok_or_else(|| {
                    ContentError::validation(
                        format!("layers[{li}].families[{fi}].category"),
                        format!("unknown category {:?}", f.category),
                    )
                })?;
                if !applies(&f.industries, industry) {
                    continue;
                }
                for p in &f.prefixes {
                    for s in &f.stems {
                        let term = format!("{p}{s}");
                        let key = normalize_term(&term);
                        if by_key.contains_key(&key) {
                            continue; // an explicit term wins over a generated one
                        }
                        let rule = Rule {
                            ascii_start: key.as_bytes().first().is_some_and(|b| is_word_byte(*b)),
                            ascii_end: key.as_bytes().last().is_some_and(|b| is_word_byte(*b)),
                            term: term.into(),
                            stem: Some(s.clone()),
                            category: cat,
                            replacement: None,
                            explanation: None,
                        };
                        add(&mut by_key, key, rule, &mut rules);
                    }
                }
            }
        }
        if rules.is_empty() {
            return Err(ContentError::validation("layers", "no terms to check"));
        }
        for r in &rules {
            patterns.push(normalize_term(&r.term));
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .map_err(|e| {
                ContentError::validation("layers", format!("cannot build matcher: {e}"))
            })?;

        // Exemptions, and which rules each applies to.
        let mut exemptions = Vec::new();
        let mut rule_exemptions = vec![Vec::new(); rules.len()];
        let norm_list = |v: &[String]| {
            v.iter()
                .map(|s| normalize_term(s).into_bytes())
                .collect::<Vec<_>>()
        };
        for (li, l) in layers.iter().enumerate() {
            for (ei, e) in l.exemptions.iter().enumerate() {
                if !applies(&e.industries, industry) {
                    continue;
                }
                for (ti, t) in e.terms.iter().enumerate() {
                    let known = rules
                        .iter()
                        .any(|r| &*r.term == t.as_str() || r.stem.as_ref() == Some(t));
                    if !known {
                        return Err(ContentError::validation(
                            format!("layers[{li}].exemptions[{ei}].terms[{ti}]"),
                            format!("{t:?} is not a listed term or stem"),
                        ));
                    }
                }
                let idx = exemptions.len();
                exemptions.push(CompiledExemption {
                    kind: e.kind,
                    note: e.note.as_str().into(),
                    phrases: norm_list(&e.phrases),
                    preceded_by: norm_list(&e.preceded_by),
                    followed_by: norm_list(&e.followed_by),
                });
                for (ri, r) in rules.iter().enumerate() {
                    let named = e.terms.is_empty()
                        || e.terms
                            .iter()
                            .any(|t| t.as_str() == &*r.term || r.stem.as_ref() == Some(t));
                    if named {
                        rule_exemptions[ri].push(idx);
                    }
                }
            }
        }
        let categories = categories
            .into_iter()
            .map(|c| SharedCategory {
                id: c.id.into(),
                name: c.name.into(),
                severity: c.severity,
                law: c.law.into(),
                explanation: c.explanation.into(),
            })
            .collect();
        let names = layers
            .iter()
            .map(|l| format!("{}@{}", l.name, l.version))
            .collect::<Vec<_>>()
            .join("+");
        Ok(ComplianceChecker {
            ac,
            rules,
            categories,
            exemptions,
            rule_exemptions,
            names,
        })
    }

    /// The names and versions of the layers (`advertising-law-cn@1+tenant-acme@1`).
    pub fn lexicon_names(&self) -> &str {
        &self.names
    }

    /// The terms the automaton matches (explicit and family-generated), as listed.
    pub fn terms(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.iter().map(|r| &*r.term)
    }

    /// Number of terms the automaton matches.
    pub fn term_count(&self) -> usize {
        self.rules.len()
    }

    /// Scan `text`.
    pub fn scan(&self, text: &str) -> ScanReport {
        let mut norm = Normalized::default();
        self.scan_with(text, &mut norm)
    }

    /// Scan `text`, reusing a normalisation buffer (for bulk scanning).
    pub fn scan_with(&self, text: &str, norm: &mut Normalized) -> ScanReport {
        norm.fill(text);
        let original = text.as_bytes();
        // Pass 1: compact hits (rule, original span, exemption), no allocation per hit.
        let mut hits: Vec<(u32, usize, usize, Option<usize>)> = Vec::new();
        let mut cursor = norm.cursor();
        for m in self.ac.find_iter(&norm.text) {
            let rule_ix = m.pattern().as_usize();
            let Some(rule) = self.rules.get(rule_ix) else {
                continue;
            };
            let bs = cursor.map(m.start());
            let last = cursor.map(m.end() - 1);
            let be = last
                + text
                    .get(last..)
                    .and_then(|t| t.chars().next())
                    .map_or(1, char::len_utf8);
            // ASCII terms match whole words only.
            if rule.ascii_start && bs > 0 && original.get(bs - 1).is_some_and(|b| is_word_byte(*b))
            {
                continue;
            }
            if rule.ascii_end && original.get(be).is_some_and(|b| is_word_byte(*b)) {
                continue;
            }
            let exemption = self.exemption_for(rule_ix, &norm.text, m.start(), m.end());
            hits.push((rule_ix as u32, bs, be, exemption));
        }
        // Pass 2: character offsets in one forward walk, then the reported finds.
        let mut findings = Vec::new();
        let mut exempted = Vec::new();
        let mut char_pos = 0usize;
        let mut byte_pos = 0usize;
        for (rule_ix, bs, be, exemption) in hits {
            let (Some(rule), matched) = (
                self.rules.get(rule_ix as usize),
                text.get(bs..be).unwrap_or_default(),
            ) else {
                continue;
            };
            let Some(cat) = self.categories.get(rule.category) else {
                continue;
            };
            char_pos += text.get(byte_pos..bs).map_or(0, |s| s.chars().count());
            let char_start = char_pos;
            let char_end = char_start + matched.chars().count();
            char_pos = char_end;
            byte_pos = be;
            let f = Finding {
                term: rule.term.clone(),
                matched: matched.to_string(),
                byte_start: bs,
                byte_end: be,
                char_start,
                char_end,
                category: cat.id.clone(),
                category_name: cat.name.clone(),
                severity: cat.severity,
                law: cat.law.clone(),
                explanation: rule
                    .explanation
                    .clone()
                    .unwrap_or_else(|| cat.explanation.clone()),
                replacement: rule.replacement.clone(),
                exemption: exemption.and_then(|e| self.exemptions.get(e)).map(|e| {
                    ExemptionApplied {
                        kind: e.kind,
                        note: e.note.clone(),
                    }
                }),
            };
            if f.exemption.is_some() {
                exempted.push(f);
            } else {
                findings.push(f);
            }
        }
        let decision = decide(&findings);
        ScanReport {
            decision,
            findings,
            exempted,
        }
    }

    /// Whether `text` has no counted find (fast path: stops at the first).
    pub fn is_clean(&self, text: &str) -> bool {
        self.scan(text).findings.is_empty()
    }

    fn exemption_for(
        &self,
        rule_ix: usize,
        norm: &[u8],
        start: usize,
        end: usize,
    ) -> Option<usize> {
        let term = norm.get(start..end)?;
        for &ei in self.rule_exemptions.get(rule_ix)? {
            let Some(e) = self.exemptions.get(ei) else {
                continue;
            };
            let by_phrase = e.phrases.iter().any(|p| {
                // Every place the term occurs inside the phrase could be this occurrence.
                let mut from = 0;
                while let Some(off) = find(&p[from..], term).map(|o| o + from) {
                    if start >= off && norm[start - off..].starts_with(p) {
                        return true;
                    }
                    from = off + 1;
                }
                false
            });
            let before_ok = !e.preceded_by.is_empty()
                && e.preceded_by.iter().any(|c| norm[..start].ends_with(c));
            let after_ok = !e.followed_by.is_empty()
                && e.followed_by.iter().any(|c| norm[end..].starts_with(c));
            let by_context = (e.preceded_by.is_empty() || before_ok)
                && (e.followed_by.is_empty() || after_ok)
                && (before_ok || after_ok);
            if by_phrase || by_context {
                return Some(ei);
            }
        }
        None
    }

    /// `text` with every find that has a compliant alternative replaced by it (finds without
    /// one are left for the author).
    pub fn apply_replacements(&self, text: &str, findings: &[Finding]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in findings {
            let Some(r) = &f.replacement else { continue };
            if f.byte_start < at || f.byte_end > text.len() {
                continue;
            }
            out.push_str(text.get(at..f.byte_start).unwrap_or_default());
            out.push_str(r.as_ref());
            at = f.byte_end;
        }
        out.push_str(text.get(at..).unwrap_or_default());
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The decision for a list of counted finds.
pub fn decide(findings: &[Finding]) -> Decision {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Reject) => Decision::Rejected,
        Some(Severity::Review) => Decision::NeedsHumanReview,
        _ => Decision::Approved,
    }
}
