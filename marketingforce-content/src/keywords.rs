//! Chinese-aware keyword extraction and recommendation (jieba segmentation + TF-IDF), used to
//! suggest keywords from the user's materials and to measure density.
//!
//! ```
//! use marketingforce_content::keywords::KeywordExtractor;
//!
//! let k = KeywordExtractor::shared();
//! let found = k.extract("数控机床的加工精度决定零件质量。数控机床选型要看主轴转速和加工精度。", 3);
//! let words: Vec<&str> = found.iter().map(|s| s.keyword.as_str()).collect();
//! assert!(words.contains(&"数控机床"), "{words:?}");
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

use jieba_rs::{Jieba, KeywordExtract, TfIdf};
use marketingforce_core::adapters::generation::{KeywordPlacement, Language, TextRequest};
use serde::{Deserialize, Serialize};

/// A suggested keyword with its TF-IDF weight and how often it occurs in the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordSuggestion {
    /// The keyword.
    pub keyword: String,
    /// Its TF-IDF weight (higher is more characteristic).
    pub weight: f64,
    /// Occurrences in the source text.
    pub frequency: usize,
}

/// Segments text with jieba and ranks words by TF-IDF against jieba's corpus statistics.
///
/// Building one loads jieba's dictionary (a few hundred milliseconds); use
/// [`KeywordExtractor::shared`] for the process-wide instance.
pub struct KeywordExtractor {
    jieba: Jieba,
    tfidf: TfIdf,
}

impl std::fmt::Debug for KeywordExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordExtractor").finish_non_exhaustive()
    }
}

impl Default for KeywordExtractor {
    fn default() -> Self {
        KeywordExtractor::new()
    }
}

/// Parts of speech kept as keyword candidates: nouns, proper nouns, verbal nouns, English words.
const KEYWORD_POS: [&str; 8] = ["n", "nz", "vn", "nr", "ns", "nt", "eng", "l"];

impl KeywordExtractor {
    /// A new extractor with jieba's default dictionary and IDF table.
    pub fn new() -> KeywordExtractor {
        KeywordExtractor {
            jieba: Jieba::new(),
            tfidf: TfIdf::default(),
        }
    }

    /// The process-wide extractor.
    pub fn shared() -> &'static KeywordExtractor {
        static SHARED: OnceLock<KeywordExtractor> = OnceLock::new();
        SHARED.get_or_init(KeywordExtractor::new)
    }

    /// Teach the segmenter a domain word (a product or technical term) so it is kept whole.
    pub fn add_word(&mut self, word: &str) {
        self.jieba.add_word(word, None, Some("nz"));
    }

    /// Segment `text` into words.
    pub fn segment<'t>(&self, text: &'t str) -> Vec<&'t str> {
        self.jieba
            .cut(text, true)
            .into_iter()
            .map(|t| t.word)
            .collect()
    }

    /// The `top_k` most characteristic nouns and terms of `text`.
    pub fn extract(&self, text: &str, top_k: usize) -> Vec<KeywordSuggestion> {
        if text.trim().is_empty() || top_k == 0 {
            return Vec::new();
        }
        let pos = KEYWORD_POS.iter().map(|s| (*s).to_string()).collect();
        let found = self.tfidf.extract_keywords(&self.jieba, text, top_k, pos);
        let mut freq: HashMap<&str, usize> = HashMap::new();
        for w in self.segment(text) {
            *freq.entry(w).or_default() += 1;
        }
        found
            .into_iter()
            .filter(|k| {
                k.keyword.chars().count() >= 2 && !k.keyword.chars().all(|c| c.is_ascii_digit())
            })
            .map(|k| KeywordSuggestion {
                frequency: freq.get(k.keyword.as_str()).copied().unwrap_or(0),
                weight: k.weight,
                keyword: k.keyword,
            })
            .collect()
    }

    /// Keywords recommended for a request, from its topic and materials: words of the topic
    /// count double, words already chosen by the user are left out.
    pub fn suggest_for_request(&self, req: &TextRequest, top_k: usize) -> Vec<KeywordSuggestion> {
        let m = &req.materials;
        let mut text = String::with_capacity(1024);
        // The topic twice: it is what the article is about.
        for _ in 0..2 {
            text.push_str(&req.topic);
            text.push('\n');
        }
        for s in [m.product_name.as_deref(), m.notes.as_deref()]
            .into_iter()
            .flatten()
        {
            text.push_str(s);
            text.push('\n');
        }
        for s in m
            .product_specs
            .iter()
            .map(|s| &s.name)
            .chain(&m.use_cases)
            .chain(&m.highlights)
        {
            text.push_str(s);
            text.push('\n');
        }
        self.extract(&text, top_k + req.keywords.len())
            .into_iter()
            .filter(|k| {
                !req.keywords
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(&k.keyword))
            })
            .take(top_k)
            .collect()
    }

    /// Density of `keywords` in `title` + `text` (see [`crate::text::density`]).
    pub fn density(
        &self,
        title: &str,
        text: &str,
        keywords: &[String],
        language: Language,
    ) -> Vec<KeywordPlacement> {
        crate::text::density::measure(title, text, keywords, language)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketingforce_core::adapters::generation::Materials;

    #[test]
    fn suggests_from_materials_and_skips_chosen_words() {
        let req = TextRequest::new("chemicals", "环氧树脂涂料施工要点")
            .keywords(["涂料"])
            .materials(Materials {
                product_name: Some("环氧地坪涂料".into()),
                use_cases: vec!["厂房地坪".into(), "停车场地坪施工".into()],
                ..Materials::default()
            });
        let s = KeywordExtractor::shared().suggest_for_request(&req, 3);
        assert!(!s.is_empty());
        assert!(s.iter().all(|k| k.keyword != "涂料"));
        assert!(
            s.iter()
                .any(|k| k.keyword.contains("环氧") || k.keyword.contains("地坪")),
            "{s:?}"
        );
        assert!(KeywordExtractor::shared().extract("   ", 5).is_empty());
    }
}
