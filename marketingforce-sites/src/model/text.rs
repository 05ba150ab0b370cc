//! Locales and per-locale text with fallbacks.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A language a site is published in. Chinese (mainland) and English are supported.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Locale {
    /// Simplified Chinese, mainland China.
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English.
    #[serde(rename = "en")]
    En,
}

impl Locale {
    /// Every supported locale.
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// The BCP 47 tag (`zh-CN`, `en`), used for `<html lang>` and `hreflang`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    /// The URL path segment of a non-default locale (`zh-cn`, `en`).
    pub fn segment(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-cn",
            Locale::En => "en",
        }
    }

    /// The locale's own name, for the language switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Locale::ZhCn => "简体中文",
            Locale::En => "English",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Text in one or more locales: `{"zh-CN": "立式加工中心", "en": "Vertical machining centre"}`.
///
/// A locale without its own text falls back to the site's default locale (then to any text):
///
/// ```
/// use marketingforce_sites::model::{Locale, Text};
///
/// let t = Text::zh("联系我们");
/// assert_eq!(t.resolve(Locale::En, Locale::ZhCn), "联系我们");
/// let t = t.with(Locale::En, "Contact us");
/// assert_eq!(t.resolve(Locale::En, Locale::ZhCn), "Contact us");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Text(pub BTreeMap<Locale, String>);

impl Text {
    /// Chinese text only.
    pub fn zh(s: impl Into<String>) -> Text {
        Text::default().with(Locale::ZhCn, s)
    }

    /// Chinese and English text.
    pub fn zh_en(zh: impl Into<String>, en: impl Into<String>) -> Text {
        Text::zh(zh).with(Locale::En, en)
    }

    /// This text with `s` for `locale`.
    #[must_use]
    pub fn with(mut self, locale: Locale, s: impl Into<String>) -> Text {
        self.0.insert(locale, s.into());
        self
    }

    /// The text for `locale`, else the `fallback` locale's, else any, else "".
    pub fn resolve(&self, locale: Locale, fallback: Locale) -> &str {
        let non_empty = |l: Locale| self.0.get(&l).map(String::as_str).filter(|s| !s.is_empty());
        non_empty(locale)
            .or_else(|| non_empty(fallback))
            .or_else(|| self.0.values().map(String::as_str).find(|s| !s.is_empty()))
            .unwrap_or("")
    }

    /// Whether no locale has non-blank text.
    pub fn is_blank(&self) -> bool {
        self.0.values().all(|s| s.trim().is_empty())
    }

    /// Every (locale, text) pair.
    pub fn iter(&self) -> impl Iterator<Item = (Locale, &str)> {
        self.0.iter().map(|(l, s)| (*l, s.as_str()))
    }
}
