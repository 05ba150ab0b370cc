//! Keyword density: how much of a text a keyword covers.
//!
//! For Chinese, density = characters covered by the keyword's occurrences ÷ non-space characters
//! of the text; for English, words covered ÷ words. Matching ignores ASCII case.

use marketingforce_core::adapters::generation::{KeywordPlacement, Language};

/// The size of `text` in density units: non-whitespace characters (Chinese) or words (English).
pub fn text_units(text: &str, language: Language) -> usize {
    match language {
        Language::ZhCn => text.chars().filter(|c| !c.is_whitespace()).count(),
        Language::En => text.split_whitespace().count(),
    }
}

/// How many non-overlapping times `keyword` occurs in `text`, ignoring ASCII case.
pub fn count_occurrences(text: &str, keyword: &str) -> usize {
    if keyword.is_empty() {
        return 0;
    }
    if keyword.is_ascii()
        || text.bytes().any(|b| b.is_ascii_uppercase())
        || keyword.bytes().any(|b| b.is_ascii_uppercase())
    {
        let t = text.to_ascii_lowercase();
        let k = keyword.to_ascii_lowercase();
        t.matches(k.as_str()).count()
    } else {
        text.matches(keyword).count()
    }
}

/// Measure each keyword in `title` + `text`.
///
/// ```
/// use marketingforce_content::text::density::measure;
/// use marketingforce_core::adapters::generation::Language;
///
/// let m = measure("数控机床选购", "数控机床的精度很重要。", &["数控机床".to_string()], Language::ZhCn);
/// assert_eq!(m[0].occurrences, 2);
/// assert!(m[0].in_title);
/// assert!((m[0].density - 8.0 / 17.0).abs() < 1e-9); // 8 of 17 characters
/// ```
pub fn measure(
    title: &str,
    text: &str,
    keywords: &[String],
    language: Language,
) -> Vec<KeywordPlacement> {
    let units = text_units(title, language) + text_units(text, language);
    keywords
        .iter()
        .map(|k| {
            let n = count_occurrences(title, k) + count_occurrences(text, k);
            let ku = text_units(k, language).max(1);
            KeywordPlacement {
                keyword: k.clone(),
                occurrences: u32::try_from(n).unwrap_or(u32::MAX),
                density: if units == 0 {
                    0.0
                } else {
                    (n * ku) as f64 / units as f64
                },
                in_title: count_occurrences(title, k) > 0,
            }
        })
        .collect()
}
