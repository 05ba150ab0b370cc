//! The site model as data: a [`Site`] of [`Page`]s, each a tree of typed [`Block`]s, with a
//! [`Theme`], navigation, locales with fallbacks, SEO fields, assets and inquiry forms.
//!
//! Every type is serde data with a JSON Schema (see [`crate::schemas`]); [`Site::validate`]
//! checks what a schema cannot and names the offending path.

mod block;
mod form;
mod text;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use block::{
    ArticleList, Block, CaseStudies, CaseStudy, ContactForm, Hero, MapBlock, PosterBlock, Product,
    ProductGrid, RichText, Section, Spec, VideoBlock,
};
pub use form::{ConsentSpec, FieldKind, FieldOption, FieldSpec, FormRateLimit, FormSpec};
pub use text::{Locale, Text};

/// A link: a label and where it goes.
///
/// `href` is one of: `page:<slug>` (a page of this site, localised and made relative when
/// rendered; `page:` alone is the home page), `#anchor`, a path starting with `/`,
/// `https://…`, `http://…`, `mailto:…` or `tel:…`. Anything else (e.g. `javascript:`) is
/// refused by validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The visible label.
    pub label: Text,
    /// The target.
    pub href: String,
}

/// What an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    /// A photo or illustration.
    Image,
    /// A T-image poster (SVG or PNG).
    Poster,
    /// A video file (MP4).
    Video,
    /// WebVTT captions.
    Captions,
}

/// A file the site uses: shipped with the site (`src` under `assets/`) or hosted elsewhere
/// (`src` an `https://` URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// Id referenced by blocks (`[a-z0-9-]`).
    pub id: String,
    /// What it is.
    pub kind: AssetKind,
    /// `assets/<file>` (its bytes are given when publishing) or an `https://` URL.
    pub src: String,
    /// Alternative text per locale (required for images and posters: accessibility).
    #[serde(default)]
    pub alt: Text,
    /// Width in pixels, if known (avoids layout shift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A colour as `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Color(#[schemars(regex(pattern = r"^#[0-9a-fA-F]{6}$"))] pub String);

impl Color {
    /// A colour from `#rrggbb` (checked by validation).
    pub fn new(hex: impl Into<String>) -> Color {
        Color(hex.into())
    }

    /// Whether it is exactly `#` and six hex digits (the only form put into CSS).
    pub fn is_valid(&self) -> bool {
        let b = self.0.as_bytes();
        b.len() == 7 && b[0] == b'#' && b[1..].iter().all(u8::is_ascii_hexdigit)
    }
}

/// The font stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FontStack {
    /// System sans-serif with CJK fallbacks (PingFang, Microsoft YaHei, Noto Sans CJK).
    #[default]
    Sans,
    /// Serif with CJK fallbacks (Songti, SimSun, Noto Serif CJK).
    Serif,
}

/// Colours, font and sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// Brand colour (header, buttons).
    pub primary: Color,
    /// Accent colour (links, highlights).
    pub accent: Color,
    /// Body text colour.
    pub text: Color,
    /// Page background.
    pub background: Color,
    /// Font stack.
    #[serde(default)]
    pub font: FontStack,
    /// Corner radius in pixels (0–24).
    #[serde(default = "six")]
    pub radius_px: u8,
    /// Content width on PC in pixels (960–1600).
    #[serde(default = "twelve_hundred")]
    pub max_width_px: u16,
    /// The logo (an image asset id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
}

fn six() -> u8 {
    6
}

fn twelve_hundred() -> u16 {
    1200
}

/// One navigation entry, with at most one level of children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NavItem {
    /// Label and target.
    pub link: Link,
    /// A drop-down of further links (one level).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<NavItem>,
}

/// Search-engine fields of a page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Seo {
    /// `<title>` (default: the page title and the site name).
    #[serde(default)]
    pub title: Text,
    /// `<meta name="description">` (at most 200 characters per locale).
    #[serde(default)]
    pub description: Text,
    /// `<meta name="keywords">`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Keep the page out of search engines and the sitemap.
    #[serde(default)]
    pub noindex: bool,
    /// The share image (an image or poster asset id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// One page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// URL slug (`[a-z0-9-]`, 1–64); the home page has the empty slug.
    pub slug: String,
    /// The page title (heading and navigation).
    pub title: Text,
    /// Search-engine fields.
    #[serde(default)]
    pub seo: Seo,
    /// The blocks, top to bottom.
    pub blocks: Vec<Block>,
}

/// The footer: company text and the filing numbers Chinese sites must show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Footer {
    /// Company and contact lines.
    #[serde(default)]
    pub text: Text,
    /// The ICP filing number (ICP备案号), e.g. `沪ICP备2026012345号-1`; required for sites
    /// served from mainland China, linked to the MIIT filing system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icp: Option<String>,
    /// The public-security filing (公安备案号), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_security: Option<String>,
    /// Served from outside mainland China (then no ICP filing is required).
    #[serde(default)]
    pub outside_mainland: bool,
}

/// The mobile (H5) variant derived from the PC pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MobileSettings {
    /// Publish the derived mobile pages under `/m/` (needs the `mf.pc_to_mobile` module).
    pub enabled: bool,
    /// The number the sticky call button dials (`tel:`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_phone: Option<String>,
}

/// Where the pages send beacons and forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// The analytics collection path or URL (`/mf/collect`); none switches the beacon off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collect: Option<String>,
    /// The form submission path or URL prefix (`/mf/forms`; the form id is appended).
    pub forms: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            collect: Some("/mf/collect".into()),
            forms: "/mf/forms".into(),
        }
    }
}

/// A whole site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Id (`[a-z0-9-]`, 1–64).
    pub id: String,
    /// The site (company) name.
    pub name: Text,
    /// The origin the site is served at (`https://www.example.cn`), for canonical and
    /// hreflang links and the sitemap.
    pub base_url: String,
    /// Industry id (selects industry word lists in the compliance review).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Published locales; the first is the default (served at `/`) and the fallback.
    pub locales: Vec<Locale>,
    /// The last content change (the sitemap's `lastmod`; keeps output deterministic).
    pub updated: NaiveDate,
    /// Look.
    pub theme: Theme,
    /// Main navigation.
    #[serde(default)]
    pub navigation: Vec<NavItem>,
    /// The pages; one has the empty slug (the home page).
    pub pages: Vec<Page>,
    /// Files used by blocks.
    #[serde(default)]
    pub assets: Vec<Asset>,
    /// Inquiry forms.
    #[serde(default)]
    pub forms: Vec<FormSpec>,
    /// Footer and filings.
    pub footer: Footer,
    /// The derived mobile variant.
    pub mobile: MobileSettings,
    /// Beacon and form endpoints.
    #[serde(default)]
    pub endpoints: Endpoints,
}

impl Site {
    /// The default locale (the first listed; `zh-CN` when none is).
    pub fn default_locale(&self) -> Locale {
        self.locales.first().copied().unwrap_or(Locale::ZhCn)
    }

    /// The page with `slug`.
    pub fn page(&self, slug: &str) -> Option<&Page> {
        self.pages.iter().find(|p| p.slug == slug)
    }

    /// The asset with `id`.
    pub fn asset(&self, id: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.id == id)
    }

    /// The form with `id`.
    pub fn form(&self, id: &str) -> Option<&FormSpec> {
        self.forms.iter().find(|f| f.id == id)
    }

    /// Parse and validate a site document.
    ///
    /// # Errors
    /// A validation error naming the path (`pages[1].blocks[0].children[2].image`).
    pub fn from_json(json: &str) -> crate::Result<Site> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let site: Site = serde_path_to_error::deserialize(de).map_err(|e| {
            crate::SitesError::validation(e.path().to_string(), e.inner().to_string())
        })?;
        site.validate()?;
        Ok(site)
    }
}
