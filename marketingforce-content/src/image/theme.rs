//! Poster themes as data: colours and decoration by industry, scenario and occasion.

use marketingforce_core::adapters::generation::Language;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};

/// The built-in themes (`data/image-themes.json`).
pub const BUILTIN_THEMES: &str = include_str!("../../data/image-themes.json");

/// Background decoration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Pattern {
    /// None.
    None,
    /// A fine grid.
    Grid,
    /// Dots.
    Dots,
    /// Soft waves at the bottom.
    Waves,
    /// Hanging lanterns (Spring Festival).
    Lanterns,
    /// A full moon (Mid-Autumn).
    Moon,
}

/// A badge text in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Badge {
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

/// A theme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// Id (recorded in provenance as the template).
    pub id: String,
    /// Industries it suits (empty: any).
    #[serde(default)]
    pub industries: Vec<String>,
    /// Scenarios it suits (empty: any).
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// Occasions it is made for (empty: none in particular).
    #[serde(default)]
    pub occasions: Vec<String>,
    /// Gradient from / to (`#rrggbb`).
    pub background: [String; 2],
    /// Accent colour (call to action, rules).
    pub accent: String,
    /// Main text colour.
    pub text: String,
    /// Secondary text colour.
    pub subtext: String,
    /// Decoration.
    pub pattern: Pattern,
    /// An occasion badge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<Badge>,
}

impl Theme {
    /// The badge text in `language`.
    pub fn badge_text(&self, language: Language) -> Option<&str> {
        self.badge.as_ref().map(|b| match language {
            Language::ZhCn => b.zh.as_str(),
            Language::En => b.en.as_str(),
        })
    }
}

/// A set of themes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Themes {
    /// Format version (1).
    pub version: u32,
    /// The themes; the last one without industries, scenarios or occasions is the fallback.
    pub themes: Vec<Theme>,
}

fn is_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Themes {
    /// The built-in themes.
    ///
    /// # Panics
    /// Never: the built-in data is checked by the test suite.
    pub fn builtin() -> Themes {
        #[allow(clippy::expect_used)]
        Themes::from_json(BUILTIN_THEMES).expect("built-in themes are valid")
    }

    /// Load and validate themes.
    ///
    /// # Errors
    /// A validation error naming the path (`themes[2].accent`).
    pub fn from_json(json: &str) -> Result<Themes> {
        let t: Themes = serde_json::from_str(json).map_err(|e| {
            ContentError::validation("themes", format!("not valid theme JSON: {e}"))
        })?;
        t.validate()?;
        Ok(t)
    }

    /// Check ids and colours, and that there is a fallback theme.
    ///
    /// # Errors
    /// A validation error naming the path.
    pub fn validate(&self) -> Result<()> {
        let mut ids = std::collections::HashSet::new();
        for (i, t) in self.themes.iter().enumerate() {
            if !ids.insert(t.id.as_str()) {
                return Err(ContentError::validation(
                    format!("themes[{i}].id"),
                    format!("duplicate id {:?}", t.id),
                ));
            }
            for (f, c) in [
                ("background[0]", &t.background[0]),
                ("background[1]", &t.background[1]),
                ("accent", &t.accent),
                ("text", &t.text),
                ("subtext", &t.subtext),
            ] {
                if !is_colour(c) {
                    return Err(ContentError::validation(
                        format!("themes[{i}].{f}"),
                        format!("{c:?} is not a #rrggbb colour"),
                    ));
                }
            }
        }
        if !self
            .themes
            .iter()
            .any(|t| t.industries.is_empty() && t.scenarios.is_empty() && t.occasions.is_empty())
        {
            return Err(ContentError::validation(
                "themes",
                "needs a fallback theme without industries, scenarios or occasions",
            ));
        }
        Ok(())
    }

    /// The theme for a request: an explicit id, else the occasion, else scenario and industry,
    /// else industry, else the fallback.
    ///
    /// # Errors
    /// [`marketingforce_core::Error::NotFound`] for an unknown explicit id.
    pub fn select(
        &self,
        template: Option<&str>,
        industry: &str,
        scenario: Option<&str>,
        occasion: Option<&str>,
    ) -> Result<&Theme> {
        if let Some(id) = template {
            return self
                .themes
                .iter()
                .find(|t| t.id == id)
                .ok_or_else(|| marketingforce_core::Error::not_found("image template", id).into());
        }
        let has = |v: &[String], x: Option<&str>| x.is_some_and(|x| v.iter().any(|s| s == x));
        let pick = self
            .themes
            .iter()
            .find(|t| has(&t.occasions, occasion))
            .or_else(|| {
                self.themes.iter().find(|t| {
                    has(&t.scenarios, scenario)
                        && (t.industries.is_empty() || has(&t.industries, Some(industry)))
                })
            })
            .or_else(|| {
                self.themes
                    .iter()
                    .find(|t| has(&t.industries, Some(industry)) && t.occasions.is_empty())
            })
            .or_else(|| {
                self.themes.iter().rev().find(|t| {
                    t.industries.is_empty() && t.scenarios.is_empty() && t.occasions.is_empty()
                })
            });
        pick.ok_or_else(|| ContentError::validation("themes", "no fallback theme"))
    }
}
