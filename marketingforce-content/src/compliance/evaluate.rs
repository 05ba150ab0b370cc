//! Measuring a word list on labelled sentences: per-article precision and recall, decision
//! accuracy and the lawful uses recognised.
//!
//! Each [`EvalCase`] is a sentence with the advertiser's industry, the decision it should get,
//! the articles its counted finds should cite, and — for lawful uses — the exemption that
//! should allow it. For an article, a sentence is a true positive when the article is both
//! expected and cited, a false positive when cited only, a false negative when expected only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::checker::{ComplianceChecker, Decision};
use super::lexicon::{ExemptionKind, Lexicon};
use crate::error::{ContentError, Result};

/// One labelled sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalCase {
    /// The text.
    pub text: String,
    /// The advertiser's industry (`None`: general rules only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// The decision it should get.
    pub decision: Decision,
    /// The Advertising Law articles its counted finds should cite (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub articles: Vec<u16>,
    /// The lawful use that should exempt a term in it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption: Option<ExemptionKind>,
    /// Why it is labelled so.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A labelled corpus (`tests/data/compliance-eval.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalCorpus {
    /// Format version (1).
    pub version: u32,
    /// The sentences.
    pub cases: Vec<EvalCase>,
}

impl EvalCorpus {
    /// Parse a corpus.
    ///
    /// # Errors
    /// A validation error naming the JSON path of the problem (`cases[12].decision`).
    pub fn from_json(json: &str) -> Result<EvalCorpus> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let c: EvalCorpus = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ContentError::validation(
                if path == "." { "corpus".into() } else { path },
                e.into_inner().to_string(),
            )
        })?;
        if c.version != 1 {
            return Err(ContentError::validation("version", "unsupported version"));
        }
        for (i, case) in c.cases.iter().enumerate() {
            if case.text.trim().is_empty() {
                return Err(ContentError::validation(
                    format!("cases[{i}].text"),
                    "must not be blank",
                ));
            }
            if (case.decision == Decision::Approved) != case.articles.is_empty() {
                return Err(ContentError::validation(
                    format!("cases[{i}].articles"),
                    "approved sentences cite no article; others cite at least one",
                ));
            }
        }
        Ok(c)
    }
}

/// Counts for one article.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ArticleScore {
    /// The article.
    pub article: u16,
    /// Sentences expected and cited.
    pub true_positives: u32,
    /// Sentences cited but not expected.
    pub false_positives: u32,
    /// Sentences expected but not cited.
    pub false_negatives: u32,
}

impl ArticleScore {
    /// Cited sentences that were expected (1 when nothing was cited).
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// Expected sentences that were cited (1 when nothing was expected).
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
}

fn ratio(num: u32, den: u32) -> f64 {
    if den == 0 {
        1.0
    } else {
        f64::from(num) / f64::from(den)
    }
}

/// A sentence the list got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EvalMiss {
    /// Its index in the corpus.
    pub case: usize,
    /// The text.
    pub text: String,
    /// Expected decision and articles.
    pub expected: (Decision, Vec<u16>),
    /// Actual decision and articles.
    pub actual: (Decision, Vec<u16>),
    /// The lawful use expected, when it was not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption_missing: Option<ExemptionKind>,
    /// The terms found (counted), for diagnosis.
    pub terms: Vec<String>,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evaluation {
    /// Sentences.
    pub cases: u32,
    /// Sentences whose decision was right.
    pub decisions_correct: u32,
    /// Sentences labelled with a lawful use.
    pub exemptions_expected: u32,
    /// Of those, the ones approved with that use recorded.
    pub exemptions_applied: u32,
    /// Per article, in article order.
    pub articles: Vec<ArticleScore>,
    /// Sentences with a wrong decision, a wrong article or a missing exemption.
    pub misses: Vec<EvalMiss>,
}

impl Evaluation {
    /// Totals over every article (micro average).
    pub fn overall(&self) -> ArticleScore {
        self.articles
            .iter()
            .fold(ArticleScore::default(), |mut t, a| {
                t.true_positives += a.true_positives;
                t.false_positives += a.false_positives;
                t.false_negatives += a.false_negatives;
                t
            })
    }

    /// Right decisions over sentences.
    pub fn decision_accuracy(&self) -> f64 {
        ratio(self.decisions_correct, self.cases)
    }

    /// Lawful uses recognised over those labelled.
    pub fn exemption_accuracy(&self) -> f64 {
        ratio(self.exemptions_applied, self.exemptions_expected)
    }

    /// The scores as a text table (one line per article, then the totals).
    pub fn table(&self) -> String {
        let mut s = String::from("article  tp  fp  fn  precision  recall\n");
        for a in &self.articles {
            let _ = writeln!(
                s,
                "{:>7} {:>3} {:>3} {:>3}  {:>9.3}  {:>6.3}",
                format!("Art.{}", a.article),
                a.true_positives,
                a.false_positives,
                a.false_negatives,
                a.precision(),
                a.recall()
            );
        }
        let o = self.overall();
        let _ = writeln!(
            s,
            "{:>7} {:>3} {:>3} {:>3}  {:>9.3}  {:>6.3}",
            "all",
            o.true_positives,
            o.false_positives,
            o.false_negatives,
            o.precision(),
            o.recall()
        );
        let _ = write!(
            s,
            "decisions {}/{} ({:.3}); lawful uses recognised {}/{} ({:.3})",
            self.decisions_correct,
            self.cases,
            self.decision_accuracy(),
            self.exemptions_applied,
            self.exemptions_expected,
            self.exemption_accuracy()
        );
        s
    }
}

/// Run `layers` over `cases`, compiling one checker per industry.
///
/// ```
/// use marketingforce_content::compliance::{evaluate, EvalCorpus, Lexicon};
/// let corpus = EvalCorpus::from_json(r#"{"version": 1, "cases": [
///   {"text": "全国销量第一的空压机", "decision": "rejected", "articles": [9]},
///   {"text": "设备最大功率为15千瓦", "decision": "approved", "exemption": "product_parameter"},
///   {"text": "五分钟直达地铁站", "industry": "房地产", "decision": "rejected", "articles": [26]}
/// ]}"#).unwrap();
/// let e = evaluate(&[&Lexicon::builtin()], &corpus.cases).unwrap();
/// assert_eq!(e.decision_accuracy(), 1.0, "{}", e.table());
/// assert_eq!(e.overall().recall(), 1.0);
/// ```
///
/// # Errors
/// The lists do not compile for an industry of the corpus.
pub fn evaluate(layers: &[&Lexicon], cases: &[EvalCase]) -> Result<Evaluation> {
    let mut checkers: HashMap<Option<String>, ComplianceChecker> = HashMap::new();
    let mut scores: BTreeMap<u16, ArticleScore> = BTreeMap::new();
    let mut eval = Evaluation {
        cases: 0,
        decisions_correct: 0,
        exemptions_expected: 0,
        exemptions_applied: 0,
        articles: Vec::new(),
        misses: Vec::new(),
    };
    for (i, case) in cases.iter().enumerate() {
        let checker = match checkers.get(&case.industry) {
            Some(c) => c,
            None => {
                let c = ComplianceChecker::new(layers, case.industry.as_deref())?;
                checkers.entry(case.industry.clone()).or_insert(c)
            }
        };
        let report = checker.scan(&case.text);
        let cited: BTreeSet<u16> = report.findings.iter().filter_map(|f| f.article).collect();
        let expected: BTreeSet<u16> = case.articles.iter().copied().collect();
        for &a in cited.union(&expected) {
            let s = scores.entry(a).or_insert(ArticleScore {
                article: a,
                ..ArticleScore::default()
            });
            match (expected.contains(&a), cited.contains(&a)) {
                (true, true) => s.true_positives += 1,
                (false, true) => s.false_positives += 1,
                (true, false) => s.false_negatives += 1,
                (false, false) => {}
            }
        }
        eval.cases += 1;
        let decision_ok = report.decision == case.decision;
        if decision_ok {
            eval.decisions_correct += 1;
        }
        let mut exemption_missing = None;
        if let Some(kind) = case.exemption {
            eval.exemptions_expected += 1;
            let applied = report
                .exempted
                .iter()
                .any(|f| f.exemption.as_ref().is_some_and(|e| e.kind == kind));
            if applied && decision_ok {
                eval.exemptions_applied += 1;
            } else {
                exemption_missing = Some(kind);
            }
        }
        if !decision_ok || cited != expected || exemption_missing.is_some() {
            eval.misses.push(EvalMiss {
                case: i,
                text: case.text.clone(),
                expected: (case.decision, expected.into_iter().collect()),
                actual: (report.decision, cited.into_iter().collect()),
                exemption_missing,
                terms: report.findings.iter().map(|f| f.term.to_string()).collect(),
            });
        }
    }
    eval.articles = scores.into_values().collect();
    Ok(eval)
}
