//! Text templates as data: industry templates whose patterns hold `{slots}` filled from the
//! request and the user's materials. Loaded from JSON (schema: [`TextTemplates`]), validated and
//! compiled once.

use std::collections::BTreeMap;

use marketingforce_core::adapters::generation::{Audience, Language};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::document::Span;
use crate::error::{ContentError, Result};

/// The built-in templates (`data/text-templates.json`).
pub const BUILTIN_TEXT_TEMPLATES: &str = include_str!("../../data/text-templates.json");

/// A band of keyword density, as fractions (0.02 = 2%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DensityBand {
    /// Lowest density aimed for.
    pub min: f64,
    /// Highest density allowed.
    pub max: f64,
}

/// Density bands for the primary keyword (the first) and the others.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DensityConfig {
    /// Band of the first keyword.
    pub primary: DensityBand,
    /// Band of the other keywords.
    pub secondary: DensityBand,
}

/// Display names of an industry id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndustryName {
    /// The id used in requests (`industrial-machinery`).
    pub id: String,
    /// Chinese name.
    pub zh: String,
    /// English name.
    pub en: String,
}

/// What a section is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SectionKind {
    /// Paragraphs only.
    Text,
    /// A lead paragraph and one list item per product spec (skipped without specs).
    Specs,
    /// A lead paragraph and one list item per use case (skipped without use cases).
    UseCases,
    /// A lead paragraph and one list item per highlight (skipped without highlights).
    Highlights,
    /// A paragraph about the regions served (skipped without regions).
    Regions,
}

/// One section of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionTemplate {
    /// What the section is built from.
    pub kind: SectionKind,
    /// Heading variants.
    pub headings: Vec<String>,
    /// Paragraph variants (text sections use several, list sections one as the lead).
    pub paragraphs: Vec<String>,
    /// Pattern of one list item (list sections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

/// Reader nouns by audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReaderNames {
    /// For B2B.
    pub b2b: String,
    /// For B2C.
    pub b2c: String,
}

/// An article template. Patterns may use the slots `{topic}`, `{keyword}`, `{product}`,
/// `{company}`, `{industry}`, `{reader}`, `{regions}`, `{spec_name}`, `{spec_value}`,
/// `{use_case}`, `{highlight}`, and `**bold**`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextTemplate {
    /// Template id (recorded in the article's provenance).
    pub id: String,
    /// Language of the template.
    pub language: Language,
    /// Industries it is made for (empty: any industry, used as the fallback).
    #[serde(default)]
    pub industries: Vec<String>,
    /// Title variants.
    pub titles: Vec<String>,
    /// Abstract variants.
    pub abstracts: Vec<String>,
    /// Introduction variants.
    pub intros: Vec<String>,
    /// The sections, in order.
    pub sections: Vec<SectionTemplate>,
    /// Extra paragraphs used to reach the target length.
    pub fillers: Vec<String>,
    /// Sentences that carry `{keyword}`, inserted to reach the density band.
    pub keyword_sentences: Vec<String>,
    /// Closing paragraph variants.
    pub closings: Vec<String>,
    /// Lead-ins of the link paragraph.
    pub link_intros: Vec<String>,
    /// Heading of the contact block.
    pub contact_heading: String,
    /// Neutral substitutes used when a keyword is over-dense.
    pub substitutes: Vec<String>,
    /// Reader nouns.
    pub reader: ReaderNames,
}

/// A set of text templates: the JSON data format (see `data/text-templates.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextTemplates {
    /// Format version (1).
    pub version: u32,
    /// Keyword density bands.
    pub density: DensityConfig,
    /// Industry display names.
    pub industries: Vec<IndustryName>,
    /// The templates.
    pub templates: Vec<TextTemplate>,
}

impl TextTemplates {
    /// The built-in templates.
    ///
    /// # Panics
    /// Never: the built-in data is validated by the test suite.
    pub fn builtin() -> TextTemplates {
        #[allow(clippy::expect_used)]
        TextTemplates::from_json(BUILTIN_TEXT_TEMPLATES).expect("built-in text templates are valid")
    }

    /// Load and validate templates from JSON.
    ///
    /// # Errors
    /// A validation error naming the offending path (`templates[1].titles[0]`).
    pub fn from_json(json: &str) -> Result<TextTemplates> {
        let t: TextTemplates = serde_json::from_str(json).map_err(|e| {
            ContentError::validation("text_templates", format!("not valid template JSON: {e}"))
        })?;
        t.validate()?;
        Ok(t)
    }

    /// Check every template: non-empty variant lists, known slots, sane density bands.
    ///
    /// # Errors
    /// A validation error naming the offending path.
    pub fn validate(&self) -> Result<()> {
        for (name, band) in [
            ("density.primary", self.density.primary),
            ("density.secondary", self.density.secondary),
        ] {
            if !(band.min >= 0.0 && band.min < band.max && band.max <= 0.5) {
                return Err(ContentError::validation(name, "need 0 <= min < max <= 0.5"));
            }
        }
        if self.templates.is_empty() {
            return Err(ContentError::validation("templates", "must not be empty"));
        }
        let mut ids = BTreeMap::new();
        for (i, t) in self.templates.iter().enumerate() {
            let p = |f: &str| format!("templates[{i}].{f}");
            if ids.insert(t.id.clone(), i).is_some() {
                return Err(ContentError::validation(
                    p("id"),
                    format!("duplicate id {:?}", t.id),
                ));
            }
            for (field, list) in [
                ("titles", &t.titles),
                ("abstracts", &t.abstracts),
                ("intros", &t.intros),
                ("fillers", &t.fillers),
                ("keyword_sentences", &t.keyword_sentences),
                ("closings", &t.closings),
                ("link_intros", &t.link_intros),
                ("substitutes", &t.substitutes),
            ] {
                if list.is_empty() {
                    return Err(ContentError::validation(
                        p(field),
                        "must have at least one variant",
                    ));
                }
                for (j, s) in list.iter().enumerate() {
                    Pattern::compile(s)
                        .map_err(|r| ContentError::validation(p(&format!("{field}[{j}]")), r))?;
                }
            }
            for (k, ks) in t.keyword_sentences.iter().enumerate() {
                if !ks.contains("{keyword}") {
                    return Err(ContentError::validation(
                        p(&format!("keyword_sentences[{k}]")),
                        "must contain {keyword}",
                    ));
                }
            }
            for (j, s) in t.sections.iter().enumerate() {
                let sp = |f: &str| p(&format!("sections[{j}].{f}"));
                if s.headings.is_empty() {
                    return Err(ContentError::validation(
                        sp("headings"),
                        "must have at least one variant",
                    ));
                }
                if s.paragraphs.is_empty() {
                    return Err(ContentError::validation(
                        sp("paragraphs"),
                        "must have at least one variant",
                    ));
                }
                for (k, h) in s.headings.iter().chain(&s.paragraphs).enumerate() {
                    Pattern::compile(h)
                        .map_err(|r| ContentError::validation(sp(&format!("[{k}]")), r))?;
                }
                let needs_item = matches!(
                    s.kind,
                    SectionKind::Specs | SectionKind::UseCases | SectionKind::Highlights
                );
                match (&s.item, needs_item) {
                    (None, true) => {
                        return Err(ContentError::validation(
                            sp("item"),
                            "list sections need an item pattern",
                        ))
                    }
                    (Some(item), _) => {
                        Pattern::compile(item)
                            .map_err(|r| ContentError::validation(sp("item"), r))?;
                    }
                    (None, false) => {}
                }
            }
        }
        Ok(())
    }

    /// The display name of `industry` in `language` (the id itself when unknown).
    pub fn industry_name<'a>(&'a self, industry: &'a str, language: Language) -> &'a str {
        self.industries
            .iter()
            .find(|i| i.id == industry)
            .map_or(industry, |i| match language {
                Language::ZhCn => i.zh.as_str(),
                Language::En => i.en.as_str(),
            })
    }
}

/// A slot in a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Topic,
    Keyword,
    Product,
    Company,
    Industry,
    Reader,
    Regions,
    SpecName,
    SpecValue,
    UseCase,
    Highlight,
}

impl Slot {
    fn parse(name: &str) -> Option<Slot> {
        Some(match name {
            "topic" => Slot::Topic,
            "keyword" => Slot::Keyword,
            "product" => Slot::Product,
            "company" => Slot::Company,
            "industry" => Slot::Industry,
            "reader" => Slot::Reader,
            "regions" => Slot::Regions,
            "spec_name" => Slot::SpecName,
            "spec_value" => Slot::SpecValue,
            "use_case" => Slot::UseCase,
            "highlight" => Slot::Highlight,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(Box<str>),
    Slot(Slot),
}

/// A compiled pattern: runs of pieces, alternately plain and bold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    runs: Vec<(bool, Vec<Piece>)>,
}

/// The values slots are filled with.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotValues<'a> {
    pub topic: &'a str,
    pub product: &'a str,
    pub company: &'a str,
    pub industry: &'a str,
    pub reader: &'a str,
    pub regions: &'a str,
    pub spec_name: &'a str,
    pub spec_value: &'a str,
    pub use_case: &'a str,
    pub highlight: &'a str,
}

impl Pattern {
    /// Compile `text`; the error says which slot or brace is wrong.
    pub(crate) fn compile(text: &str) -> std::result::Result<Pattern, String> {
        let mut runs = Vec::new();
        for (i, run) in text.split("**").enumerate() {
            let mut pieces = Vec::new();
            let mut rest = run;
            while let Some(open) = rest.find('{') {
                if open > 0 {
                    pieces.push(Piece::Lit(rest[..open].into()));
                }
                let after = &rest[open + 1..];
                let close = after
                    .find('}')
                    .ok_or_else(|| format!("unclosed '{{' in {text:?}"))?;
                let name = &after[..close];
                let slot = Slot::parse(name)
                    .ok_or_else(|| format!("unknown slot {{{name}}} in {text:?}"))?;
                pieces.push(Piece::Slot(slot));
                rest = &after[close + 1..];
            }
            if rest.contains('}') {
                return Err(format!("stray '}}' in {text:?}"));
            }
            if !rest.is_empty() {
                pieces.push(Piece::Lit(rest.into()));
            }
            if !pieces.is_empty() {
                runs.push((i % 2 == 1, pieces));
            }
        }
        if text.matches("**").count() % 2 == 1 {
            return Err(format!("unbalanced '**' in {text:?}"));
        }
        Ok(Pattern { runs })
    }

    /// Fill into spans; `keyword` is called for each `{keyword}` slot.
    pub(crate) fn fill(
        &self,
        v: &SlotValues<'_>,
        keyword: &mut dyn FnMut() -> String,
    ) -> Vec<Span> {
        let mut spans = Vec::with_capacity(self.runs.len());
        for (strong, pieces) in &self.runs {
            let mut s = String::with_capacity(64);
            for p in pieces {
                match p {
                    Piece::Lit(l) => s.push_str(l),
                    Piece::Slot(slot) => match slot {
                        Slot::Keyword => s.push_str(&keyword()),
                        Slot::Topic => s.push_str(v.topic),
                        Slot::Product => s.push_str(v.product),
                        Slot::Company => s.push_str(v.company),
                        Slot::Industry => s.push_str(v.industry),
                        Slot::Reader => s.push_str(v.reader),
                        Slot::Regions => s.push_str(v.regions),
                        Slot::SpecName => s.push_str(v.spec_name),
                        Slot::SpecValue => s.push_str(v.spec_value),
                        Slot::UseCase => s.push_str(v.use_case),
                        Slot::Highlight => s.push_str(v.highlight),
                    },
                }
            }
            spans.push(if *strong {
                Span::Strong(s)
            } else {
                Span::Text(s)
            });
        }
        spans
    }

    /// Fill into one plain string.
    pub(crate) fn fill_plain(
        &self,
        v: &SlotValues<'_>,
        keyword: &mut dyn FnMut() -> String,
    ) -> String {
        let spans = self.fill(v, keyword);
        if spans.len() == 1 {
            if let Some(Span::Text(s) | Span::Strong(s)) = spans.into_iter().next() {
                return s;
            }
            return String::new();
        }
        spans.iter().map(Span::text).collect()
    }
}

/// A template with its patterns compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledTemplate {
    pub id: String,
    pub language: Language,
    pub industries: Vec<String>,
    pub titles: Vec<Pattern>,
    pub abstracts: Vec<Pattern>,
    pub intros: Vec<Pattern>,
    pub sections: Vec<CompiledSection>,
    pub fillers: Vec<Pattern>,
    pub keyword_sentences: Vec<Pattern>,
    pub closings: Vec<Pattern>,
    pub link_intros: Vec<String>,
    pub contact_heading: String,
    pub substitutes: Vec<String>,
    pub reader_b2b: String,
    pub reader_b2c: String,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledSection {
    pub kind: SectionKind,
    pub headings: Vec<Pattern>,
    pub paragraphs: Vec<Pattern>,
    pub item: Option<Pattern>,
}

fn compile_all(list: &[String]) -> Result<Vec<Pattern>> {
    list.iter()
        .map(|s| Pattern::compile(s).map_err(|r| ContentError::validation("template", r)))
        .collect()
}

impl CompiledTemplate {
    pub(crate) fn compile(t: &TextTemplate) -> Result<CompiledTemplate> {
        Ok(CompiledTemplate {
            id: t.id.clone(),
            language: t.language,
            industries: t.industries.clone(),
            titles: compile_all(&t.titles)?,
            abstracts: compile_all(&t.abstracts)?,
            intros: compile_all(&t.intros)?,
            sections: t
                .sections
                .iter()
                .map(|s| {
                    Ok(CompiledSection {
                        kind: s.kind,
                        headings: compile_all(&s.headings)?,
                        paragraphs: compile_all(&s.paragraphs)?,
                        item: s
                            .item
                            .as_deref()
                            .map(|i| {
                                Pattern::compile(i)
                                    .map_err(|r| ContentError::validation("template", r))
                            })
                            .transpose()?,
                    })
                })
                .collect::<Result<_>>()?,
            fillers: compile_all(&t.fillers)?,
            keyword_sentences: compile_all(&t.keyword_sentences)?,
            closings: compile_all(&t.closings)?,
            link_intros: t.link_intros.clone(),
            contact_heading: t.contact_heading.clone(),
            substitutes: t.substitutes.clone(),
            reader_b2b: t.reader.b2b.clone(),
            reader_b2c: t.reader.b2c.clone(),
        })
    }

    pub(crate) fn reader(&self, audience: Audience) -> &str {
        match audience {
            Audience::B2b => &self.reader_b2b,
            Audience::B2c => &self.reader_b2c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_are_valid_and_bad_ones_name_the_path() {
        let t = TextTemplates::builtin();
        assert!(t.templates.len() >= 3);
        let mut bad = t.clone();
        bad.templates[1].titles[0] = "{nope} title".into();
        let e = bad.validate().unwrap_err().to_string();
        assert!(
            e.contains("templates[1].titles[0]") && e.contains("nope"),
            "{e}"
        );
        let mut bad = t.clone();
        bad.templates[0].keyword_sentences = vec![];
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("templates[0].keyword_sentences"));
        let mut bad = t;
        bad.density.primary.min = 0.9;
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("density.primary"));
        assert!(Pattern::compile("a **b").is_err());
        assert!(Pattern::compile("a {topic").is_err());
    }
}
