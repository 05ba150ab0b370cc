//! The compiled checker: layered word lists → one folded automaton over the original text.
//!
//! Compiling resolves, for one industry, which definition of each term is in force: a later
//! list overrides an earlier one; within a list an explicit term beats a family-generated one
//! and an industry-specific category beats a general one (so `治疗` is an Art. 17 find in a
//! machinery ad, an Art. 18 find in a health-food ad and not listed at all for a hospital,
//! whose claims Art. 16 governs). Later lists may add, extend and exempt, but not lower a
//! Reject rule of an earlier list except by a [`Waiver`](super::Waiver) with its reason.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::automaton::FoldedDfa;
use super::context::{CompiledExemption, Context};
use super::industry::resolve_industry;
use super::lexicon::{applies, Category, ExemptionKind, Lexicon, Severity};
use super::normalize::normalize_term;
use crate::error::{ContentError, Result};

/// The outcome of a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nothing blocks publishing.
    Approved,
    /// A person must review it (restricted products, claims that need evidence).
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
    /// The kind of exemption (a lawful use, a trademark, a tenant waiver).
    pub kind: ExemptionKind,
    /// The exemption's note, or the waiver's reason.
    pub note: Arc<str>,
}

/// One find: where it is, what it is, which article it breaks, why it matters, what to write
/// instead.
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
    /// Legal basis as cited.
    pub law: Arc<str>,
    /// The article of the Advertising Law, when the rule rests on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<u16>,
    /// What that article says, in one line.
    #[serde(default)]
    pub summary: Arc<str>,
    /// Explanation for the user.
    pub explanation: Arc<str>,
    /// A compliant alternative, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Arc<str>>,
    /// Set when a context exemption or a tenant waiver allowed the term.
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
    /// Finds allowed by an exemption or waiver, in text order (for the record).
    pub exempted: Vec<Finding>,
}

impl ScanReport {
    /// The decision in plain words: every counted find with its legal basis and alternative,
    /// then every exemption applied and why.
    ///
    /// ```
    /// use marketingforce_content::compliance::{ComplianceChecker, Lexicon};
    /// let checker = ComplianceChecker::new(&[&Lexicon::builtin()], None).unwrap();
    /// let text = "第一步：选型。这台是行业最好的机床，最大功率15kW。";
    /// let why = checker.scan(text).explain();
    /// assert!(why.starts_with("rejected"), "{why}");
    /// assert!(why.contains("第9条"), "{why}");
    /// assert!(why.contains("time_sequence"), "{why}");
    /// assert!(why.contains("product_parameter"), "{why}");
    /// ```
    pub fn explain(&self) -> String {
        explain(self.decision, &self.findings, &self.exempted)
    }
}

pub(crate) fn explain(decision: Decision, findings: &[Finding], exempted: &[Finding]) -> String {
    let mut s = format!(
        "{decision}: {} counted find(s), {} exempted",
        findings.len(),
        exempted.len()
    );
    for f in findings {
        let _ = write!(
            s,
            "\n- {} 「{}」 at chars {}..{}: {} ({}{}) — {}",
            f.severity,
            f.matched,
            f.char_start,
            f.char_end,
            f.category_name,
            f.law,
            f.article.map(|a| format!(", 第{a}条")).unwrap_or_default(),
            f.explanation
        );
        if let Some(r) = &f.replacement {
            let _ = write!(s, "; write 「{r}」 instead");
        }
    }
    for f in exempted {
        if let Some(e) = &f.exemption {
            let _ = write!(
                s,
                "\n- exempted 「{}」 at chars {}..{} ({}{}): {} — {}",
                f.matched,
                f.char_start,
                f.char_end,
                f.category_name,
                f.article.map(|a| format!(", 第{a}条")).unwrap_or_default(),
                e.kind.as_str(),
                e.note
            );
        }
    }
    s
}

/// A waiver in force, as kept on review records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaiverRecord {
    /// The list that waived the rule (`tenant-acme`).
    pub list: String,
    /// The term waived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// The category waived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The severity of the rule switched off.
    pub severity: Severity,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Rule {
    term: Arc<str>,
    /// The normalised term (the automaton's pattern).
    key: Vec<u8>,
    category: usize,
    replacement: Option<Arc<str>>,
    explanation: Option<Arc<str>>,
    /// Whether the normalised term starts / ends with an ASCII letter or digit (then the match
    /// must start / end at a word boundary of the original text).
    ascii_start: bool,
    ascii_end: bool,
    /// The family stem it was generated from.
    stem: Option<String>,
    /// The list that defined it.
    layer: usize,
    /// Exemptions that may apply, in list order.
    exemptions: Vec<usize>,
    /// The reason of a waiver switching the rule off.
    waiver: Option<Arc<str>>,
}

#[derive(Debug, Clone)]
struct SharedCategory {
    id: Arc<str>,
    name: Arc<str>,
    severity: Severity,
    law: Arc<str>,
    article: Option<u16>,
    summary: Arc<str>,
    explanation: Arc<str>,
}

/// A term definition read from a list, before the industry selects among them.
#[derive(Debug, Clone)]
struct Def {
    layer: usize,
    key: String,
    term: String,
    stem: Option<String>,
    category: usize,
    replacement: Option<String>,
    explanation: Option<String>,
    industries: Vec<String>,
    explicit: bool,
    /// Where it is written (`layers[1].terms[3]`).
    path: String,
}

/// How a hit is exempted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Exempt {
    Context(usize),
    Waiver,
}

/// A match of a rule in the original text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub(crate) rule: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) exempt: Option<Exempt>,
}

/// Checks texts against layered word lists (built-in, industry, tenant).
///
/// ```
/// use marketingforce_content::compliance::{ComplianceChecker, Decision, ExemptionKind, Lexicon};
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
/// assert_eq!(f.article, Some(9));
/// // "第一步" states a sequence: the SAMR guideline's lawful use, recorded on the find.
/// assert_eq!(report.exempted[0].exemption.as_ref().unwrap().kind, ExemptionKind::TimeSequence);
/// assert_eq!(checker.apply_replacements(text, &report.findings), "本店是全国Ｎ Ｏ．１，品质优质。第一步：联系我们。");
///
/// // Industry layers: a travel-time claim is an Art. 26 find for a real-estate advertiser only.
/// let homes = ComplianceChecker::new(&[&Lexicon::builtin()], Some("房地产")).unwrap();
/// let ad = "项目距地铁站步行5分钟直达，升值潜力巨大。";
/// assert_eq!(homes.scan(ad).findings.iter().filter(|f| f.article == Some(26)).count(), 2);
/// assert_eq!(checker.scan(ad).decision, Decision::Approved);
/// ```
#[derive(Debug, Clone)]
pub struct ComplianceChecker {
    dfa: FoldedDfa,
    rules: Vec<Rule>,
    categories: Vec<SharedCategory>,
    exemptions: Vec<CompiledExemption>,
    waivers: Vec<WaiverRecord>,
    names: String,
    industry: Option<String>,
}

fn is_word_byte(b: &u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn layer_err(li: usize, e: ContentError) -> ContentError {
    match e {
        ContentError::Core(c) => ContentError::Core(c.in_field(format!("layers[{li}]"))),
        other => other,
    }
}

impl ComplianceChecker {
    /// Compile `layers` (the base list first; later lists add terms, categories and
    /// exemptions, override terms, and waive earlier rules with a reason) for the advertiser's
    /// `industry` (resolved with [`resolve_industry`]; `None`: general rules only).
    ///
    /// # Errors
    /// A validation error naming the offending path (`layers[1].terms[0].category`), in
    /// particular when a later list would lower a Reject rule of an earlier list without a
    /// waiver, or names an unknown term, stem or category.
    pub fn new(layers: &[&Lexicon], industry: Option<&str>) -> Result<ComplianceChecker> {
        let industry = industry.map(resolve_industry).filter(|i| !i.is_empty());
        let ind = industry.as_deref();
        for (li, l) in layers.iter().enumerate() {
            l.validate().map_err(|e| layer_err(li, e))?;
        }
        let (categories, cat_index, cat_layer) = merge_categories(layers)?;
        let defs = collect_defs(layers, &cat_index)?;
        check_definitions(layers, &defs, &categories)?;

        // The definition in force for each term.
        let mut by_key: HashMap<&str, usize> = HashMap::new();
        let mut chosen: Vec<&Def> = Vec::new();
        for li in 0..layers.len() {
            let mut layer_pick: HashMap<&str, &Def> = HashMap::new();
            for d in defs.iter().filter(|d| d.layer == li) {
                let cat = &categories[d.category];
                if !cat.applies_to(ind) || !applies(&d.industries, ind) {
                    continue;
                }
                let rank = |d: &Def| (d.explicit, categories[d.category].is_industry_specific());
                match layer_pick.get(d.key.as_str()) {
                    Some(prev) if rank(prev) > rank(d) => {}
                    _ => {
                        layer_pick.insert(d.key.as_str(), d);
                    }
                }
            }
            // Keep list order for a stable automaton.
            for d in defs.iter().filter(|d| d.layer == li) {
                if layer_pick
                    .get(d.key.as_str())
                    .is_some_and(|p| std::ptr::eq(*p, d))
                {
                    match by_key.get(d.key.as_str()) {
                        Some(&i) => chosen[i] = d,
                        None => {
                            by_key.insert(d.key.as_str(), chosen.len());
                            chosen.push(d);
                        }
                    }
                }
            }
        }
        if chosen.is_empty() {
            return Err(ContentError::validation("layers", "no terms to check"));
        }
        let mut rules: Vec<Rule> = chosen
            .iter()
            .map(|d| Rule {
                term: d.term.as_str().into(),
                key: d.key.as_bytes().to_vec(),
                category: d.category,
                replacement: d
                    .replacement
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(Into::into),
                explanation: d.explanation.as_deref().map(Into::into),
                ascii_start: d.key.as_bytes().first().is_some_and(is_word_byte),
                ascii_end: d.key.as_bytes().last().is_some_and(is_word_byte),
                stem: d.stem.clone(),
                layer: d.layer,
                exemptions: Vec::new(),
                waiver: None,
            })
            .collect();

        let waivers = apply_waivers(
            layers,
            &defs,
            &categories,
            &cat_index,
            &cat_layer,
            &mut rules,
        )?;
        let exemptions = attach_exemptions(layers, ind, &defs, &cat_index, &mut rules)?;

        let patterns: Vec<&[u8]> = rules.iter().map(|r| r.key.as_slice()).collect();
        let dfa = FoldedDfa::new(&patterns).map_err(|e| {
            ContentError::validation("layers", format!("cannot build matcher: {e}"))
        })?;
        let categories = categories
            .into_iter()
            .map(|c| SharedCategory {
                id: c.id.into(),
                name: c.name.into(),
                severity: c.severity,
                law: c.law.into(),
                article: c.article,
                summary: c.summary.into(),
                explanation: c.explanation.into(),
            })
            .collect();
        let names = layers
            .iter()
            .map(|l| format!("{}@{}", l.name, l.version))
            .collect::<Vec<_>>()
            .join("+");
        Ok(ComplianceChecker {
            dfa,
            rules,
            categories,
            exemptions,
            waivers,
            names,
            industry,
        })
    }

    /// The names and versions of the layers (`advertising-law-cn@1+tenant-acme@1`).
    pub fn lexicon_names(&self) -> &str {
        &self.names
    }

    /// The industry the checker was compiled for (resolved id).
    pub fn industry(&self) -> Option<&str> {
        self.industry.as_deref()
    }

    /// The waivers in force.
    pub fn waivers(&self) -> &[WaiverRecord] {
        &self.waivers
    }

    /// The terms the automaton matches (explicit and family-generated), as listed.
    pub fn terms(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.iter().map(|r| &*r.term)
    }

    /// Number of terms the automaton matches.
    pub fn term_count(&self) -> usize {
        self.rules.len()
    }

    /// Memory of the automaton's transition table, in bytes.
    pub fn automaton_bytes(&self) -> usize {
        self.dfa.table_bytes()
    }

    /// Scan `text`: one pass over its bytes, no copy of it made.
    pub fn scan(&self, text: &str) -> ScanReport {
        // Hits first (small), then the finds with their exact capacity.
        let mut hits: Vec<Hit> = Vec::new();
        let mut ctx = Context::default();
        self.walk(text, 0, text.len(), text.len(), &mut ctx, &mut |hit| {
            hits.push(hit);
            true
        });
        let exempt = hits.iter().filter(|h| h.exempt.is_some()).count();
        let mut findings = Vec::with_capacity(hits.len() - exempt);
        let mut exempted = Vec::with_capacity(exempt);
        let mut chars = CharCursor::default();
        for hit in &hits {
            let f = self.finding(text, hit, &mut chars, 0, 0);
            if f.exemption.is_some() {
                exempted.push(f);
            } else {
                findings.push(f);
            }
        }
        ScanReport {
            decision: decide(&findings),
            findings,
            exempted,
        }
    }

    /// Whether `text` has no counted find (stops at the first).
    pub fn is_clean(&self, text: &str) -> bool {
        let mut clean = true;
        let mut ctx = Context::default();
        self.walk(text, 0, text.len(), text.len(), &mut ctx, &mut |hit| {
            clean = hit.exempt.is_some();
            clean
        });
        clean
    }

    /// Report the hits of `text[at..end]` that start before `limit` (a char boundary, at most
    /// `end`), in text order, until `visit` answers `false`; returns where to resume.
    pub(crate) fn walk(
        &self,
        text: &str,
        mut at: usize,
        limit: usize,
        end: usize,
        ctx: &mut Context,
        visit: &mut dyn FnMut(Hit) -> bool,
    ) -> usize {
        let bytes = text.as_bytes();
        while at < limit {
            let Some((pattern, match_end)) = self.dfa.next_match(text, at, end) else {
                return limit;
            };
            let start = self.dfa.match_start(text, match_end, pattern);
            if start >= limit {
                return limit;
            }
            at = match_end;
            let rule_ix = pattern as usize;
            let Some(rule) = self.rules.get(rule_ix) else {
                continue;
            };
            // ASCII terms match whole words only.
            if rule.ascii_start && start > 0 && bytes.get(start - 1).is_some_and(is_word_byte) {
                continue;
            }
            if rule.ascii_end && bytes.get(match_end).is_some_and(is_word_byte) {
                continue;
            }
            let exempt = self.exempt(rule, text, start, match_end, ctx);
            let hit = Hit {
                rule: rule_ix,
                start,
                end: match_end,
                exempt,
            };
            if !visit(hit) {
                return at;
            }
        }
        at
    }

    fn exempt(
        &self,
        rule: &Rule,
        text: &str,
        start: usize,
        end: usize,
        ctx: &mut Context,
    ) -> Option<Exempt> {
        if !rule.exemptions.is_empty() {
            ctx.reset(start, end);
            for &ei in &rule.exemptions {
                if self
                    .exemptions
                    .get(ei)
                    .is_some_and(|e| e.allows_at(ctx, text, start, end, &rule.key))
                {
                    return Some(Exempt::Context(ei));
                }
            }
        }
        rule.waiver.as_ref().map(|_| Exempt::Waiver)
    }

    /// The find of `hit` (offsets in `text` plus the bases of a streamed chunk).
    pub(crate) fn finding(
        &self,
        text: &str,
        hit: &Hit,
        chars: &mut CharCursor,
        base_bytes: usize,
        base_chars: usize,
    ) -> Finding {
        let rule = &self.rules[hit.rule];
        let cat = &self.categories[rule.category];
        let matched = text.get(hit.start..hit.end).unwrap_or_default();
        let char_start = chars.advance(text, hit.start);
        let char_end = chars.advance(text, hit.end);
        let exemption = match hit.exempt {
            Some(Exempt::Context(ei)) => self.exemptions.get(ei).map(|e| ExemptionApplied {
                kind: e.kind,
                note: e.note.clone(),
            }),
            Some(Exempt::Waiver) => rule.waiver.as_ref().map(|r| ExemptionApplied {
                kind: ExemptionKind::TenantWaiver,
                note: r.clone(),
            }),
            None => None,
        };
        Finding {
            term: rule.term.clone(),
            matched: matched.to_string(),
            byte_start: base_bytes + hit.start,
            byte_end: base_bytes + hit.end,
            char_start: base_chars + char_start,
            char_end: base_chars + char_end,
            category: cat.id.clone(),
            category_name: cat.name.clone(),
            severity: cat.severity,
            law: cat.law.clone(),
            article: cat.article,
            summary: cat.summary.clone(),
            explanation: rule
                .explanation
                .clone()
                .unwrap_or_else(|| cat.explanation.clone()),
            replacement: rule.replacement.clone(),
            exemption,
        }
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

/// Character offsets of increasing byte offsets, counted once.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CharCursor {
    pub(crate) byte: usize,
    pub(crate) chars: usize,
}

impl CharCursor {
    /// The character offset of byte `to` (callers pass non-decreasing offsets).
    pub(crate) fn advance(&mut self, text: &str, to: usize) -> usize {
        if to > self.byte {
            self.chars += text.get(self.byte..to).map_or(0, |s| s.chars().count());
            self.byte = to;
        }
        self.chars
    }

    /// Move the origin to byte `cut` of `text` (dropping `text[..cut]`); returns the number of
    /// characters before `cut`.
    pub(crate) fn rebase(&mut self, text: &str, cut: usize) -> usize {
        let count = |a: usize, b: usize| text.get(a..b).map_or(0, |s| s.chars().count());
        if self.byte <= cut {
            let before = self.chars + count(self.byte, cut);
            *self = CharCursor::default();
            before
        } else {
            let tail = count(cut, self.byte);
            let before = self.chars - tail;
            self.byte -= cut;
            self.chars = tail;
            before
        }
    }
}

/// Categories of all layers by id (a later definition replaces an earlier one, within limits).
#[allow(clippy::type_complexity)]
fn merge_categories(
    layers: &[&Lexicon],
) -> Result<(Vec<Category>, HashMap<String, usize>, Vec<usize>)> {
    let mut categories: Vec<Category> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut first_layer: Vec<usize> = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        for (ci, c) in l.categories.iter().enumerate() {
            match index.get(&c.id) {
                Some(&i) => {
                    let old = &categories[i];
                    if old.severity == Severity::Reject
                        && (c.severity < Severity::Reject
                            || c.industries != old.industries
                            || c.except_industries != old.except_industries)
                    {
                        return Err(ContentError::validation(
                            format!("layers[{li}].categories[{ci}]"),
                            format!(
                                "would lower or narrow the Reject category {:?} ({}) of an \
                                 earlier list; switch it off with a waiver and its reason instead",
                                old.id, old.law
                            ),
                        ));
                    }
                    categories[i] = c.clone();
                }
                None => {
                    index.insert(c.id.clone(), categories.len());
                    categories.push(c.clone());
                    first_layer.push(li);
                }
            }
        }
    }
    Ok((categories, index, first_layer))
}

/// Every term definition of every layer, for every industry.
fn collect_defs(layers: &[&Lexicon], cat_index: &HashMap<String, usize>) -> Result<Vec<Def>> {
    let mut defs = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        for (ti, t) in l.terms.iter().enumerate() {
            let path = format!("layers[{li}].terms[{ti}]");
            let category = *cat_index.get(&t.category).ok_or_else(|| {
                ContentError::validation(
                    format!("{path}.category"),
                    format!("unknown category {:?}", t.category),
                )
            })?;
            defs.push(Def {
                layer: li,
                key: normalize_term(&t.term),
                term: t.term.clone(),
                stem: None,
                category,
                replacement: t.replacement.clone(),
                explanation: t.explanation.clone(),
                industries: t.industries.clone(),
                explicit: true,
                path,
            });
        }
        for (fi, f) in l.families.iter().enumerate() {
            let path = format!("layers[{li}].families[{fi}]");
            let category = *cat_index.get(&f.category).ok_or_else(|| {
                ContentError::validation(
                    format!("{path}.category"),
                    format!("unknown category {:?}", f.category),
                )
            })?;
            for p in &f.prefixes {
                for s in &f.stems {
                    let term = format!("{p}{s}");
                    defs.push(Def {
                        layer: li,
                        key: normalize_term(&term),
                        term,
                        stem: Some(s.clone()),
                        category,
                        replacement: None,
                        explanation: None,
                        industries: f.industries.clone(),
                        explicit: false,
                        path: path.clone(),
                    });
                }
            }
        }
    }
    Ok(defs)
}

/// Industry-independent checks: no ambiguous repeats within a list, no Reject rule of an
/// earlier list lowered.
fn check_definitions(layers: &[&Lexicon], defs: &[Def], categories: &[Category]) -> Result<()> {
    // Within a list, a term listed twice must be so under categories for disjoint industries,
    // at most one of them general.
    let mut seen: HashMap<(usize, &str), Vec<&Def>> = HashMap::new();
    for d in defs.iter().filter(|d| d.explicit) {
        let same = seen.entry((d.layer, d.key.as_str())).or_default();
        for prev in same.iter() {
            let (a, b) = (&categories[prev.category], &categories[d.category]);
            let overlap = match (a.is_industry_specific(), b.is_industry_specific()) {
                (false, false) => true,
                (true, true) => a.industries.iter().any(|i| b.industries.contains(i)),
                _ => false,
            };
            if overlap {
                return Err(ContentError::validation(
                    format!("{}.term", d.path),
                    format!(
                        "{:?} is already listed under {:?}; a term may be listed again only \
                         under a category for other industries",
                        d.term, a.id
                    ),
                ));
            }
        }
        same.push(d);
    }
    // Reject rules of earlier lists.
    let mut protected: HashMap<&str, &Def> = HashMap::new();
    for (li, layer) in layers.iter().enumerate() {
        for d in defs.iter().filter(|d| d.layer == li) {
            if let Some(old) = protected.get(d.key.as_str()) {
                if categories[d.category].severity < Severity::Reject {
                    let old_cat = &categories[old.category];
                    return Err(ContentError::validation(
                        format!("{}.category", d.path),
                        format!(
                            "{:?} would lower the Reject rule {:?} ({}, {}) of an earlier list \
                             to {}; switch it off with a waiver and its reason instead",
                            d.term,
                            old.term,
                            old_cat.id,
                            old_cat.law,
                            categories[d.category].severity
                        ),
                    ));
                }
            }
        }
        for (ei, e) in layer.exemptions.iter().enumerate() {
            for (pi, p) in e.phrases.iter().enumerate() {
                if let Some(old) = protected.get(normalize_term(p).as_str()) {
                    return Err(ContentError::validation(
                        format!("layers[{li}].exemptions[{ei}].phrases[{pi}]"),
                        format!(
                            "the phrase is the whole Reject term {:?} of an earlier list, which \
                             switches it off; use a waiver with its reason instead",
                            old.term
                        ),
                    ));
                }
            }
        }
        for d in defs.iter().filter(|d| d.layer == li) {
            if categories[d.category].severity == Severity::Reject {
                protected.entry(d.key.as_str()).or_insert(d);
            }
        }
    }
    Ok(())
}

/// Mark the rules waived by later lists; the waivers in force.
fn apply_waivers(
    layers: &[&Lexicon],
    defs: &[Def],
    categories: &[Category],
    cat_index: &HashMap<String, usize>,
    cat_layer: &[usize],
    rules: &mut [Rule],
) -> Result<Vec<WaiverRecord>> {
    let mut out = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        for (wi, w) in l.waivers.iter().enumerate() {
            let reason: Arc<str> = w.reason.trim().into();
            let severity;
            if let Some(term) = &w.term {
                let key = normalize_term(term);
                let Some(def) = defs.iter().find(|d| d.layer < li && d.key == key) else {
                    return Err(ContentError::validation(
                        format!("layers[{li}].waivers[{wi}].term"),
                        format!("{term:?} is not a term of an earlier list"),
                    ));
                };
                severity = categories[def.category].severity;
                for r in rules
                    .iter_mut()
                    .filter(|r| r.layer < li && r.key == key.as_bytes())
                {
                    r.waiver = Some(reason.clone());
                }
            } else if let Some(cat) = &w.category {
                let Some(&ci) = cat_index.get(cat).filter(|&&ci| cat_layer[ci] < li) else {
                    return Err(ContentError::validation(
                        format!("layers[{li}].waivers[{wi}].category"),
                        format!("{cat:?} is not a category of an earlier list"),
                    ));
                };
                severity = categories[ci].severity;
                for r in rules
                    .iter_mut()
                    .filter(|r| r.layer < li && r.category == ci)
                {
                    r.waiver = Some(reason.clone());
                }
            } else {
                continue; // validate() guarantees one of them
            }
            out.push(WaiverRecord {
                list: l.name.clone(),
                term: w.term.clone(),
                category: w.category.clone(),
                severity,
                reason: reason.to_string(),
            });
        }
    }
    Ok(out)
}

/// Compile the exemptions in force for the industry and attach them to the rules they name.
fn attach_exemptions(
    layers: &[&Lexicon],
    industry: Option<&str>,
    defs: &[Def],
    cat_index: &HashMap<String, usize>,
    rules: &mut [Rule],
) -> Result<Vec<CompiledExemption>> {
    let listed: HashSet<&str> = defs
        .iter()
        .filter(|d| d.explicit)
        .map(|d| d.key.as_str())
        .collect();
    let all_keys: HashSet<&str> = defs.iter().map(|d| d.key.as_str()).collect();
    let stems: HashSet<&str> = defs.iter().filter_map(|d| d.stem.as_deref()).collect();
    let mut out = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        for (ei, e) in l.exemptions.iter().enumerate() {
            // Names are checked whatever the industry: a typo is a data error everywhere.
            let mut by_key: Vec<Vec<u8>> = Vec::new();
            let mut by_stem: Vec<&str> = Vec::new();
            for (ti, t) in e.terms.iter().enumerate() {
                let key = normalize_term(t);
                if listed.contains(key.as_str()) {
                    by_key.push(key.into_bytes());
                } else if stems.contains(t.as_str()) {
                    by_stem.push(t.as_str());
                } else if all_keys.contains(key.as_str()) {
                    by_key.push(key.into_bytes());
                } else {
                    return Err(ContentError::validation(
                        format!("layers[{li}].exemptions[{ei}].terms[{ti}]"),
                        format!("{t:?} is not a listed term or stem"),
                    ));
                }
            }
            let mut cats = Vec::new();
            for (ci, c) in e.categories.iter().enumerate() {
                let ix = *cat_index.get(c).ok_or_else(|| {
                    ContentError::validation(
                        format!("layers[{li}].exemptions[{ei}].categories[{ci}]"),
                        format!("unknown category {c:?}"),
                    )
                })?;
                cats.push(ix);
            }
            if !applies(&e.industries, industry) {
                continue;
            }
            let idx = out.len();
            let compiled = CompiledExemption::new(e);
            let everything = e.terms.is_empty() && e.categories.is_empty();
            for r in rules.iter_mut() {
                let named = everything
                    || by_key.contains(&r.key)
                    || cats.contains(&r.category)
                    || r.stem.as_deref().is_some_and(|s| by_stem.contains(&s));
                if named {
                    r.exemptions.push(idx);
                }
            }
            out.push(compiled);
        }
    }
    Ok(out)
}

/// The decision for a list of counted finds.
pub fn decide(findings: &[Finding]) -> Decision {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Reject) => Decision::Rejected,
        Some(Severity::Review) => Decision::NeedsHumanReview,
        _ => Decision::Approved,
    }
}
