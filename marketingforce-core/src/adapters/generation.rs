//! AI generation adapters: [`TextGenerator`], [`ImageGenerator`] and [`VideoGenerator`], with
//! their request and output types.
//!
//! The traits are object-safe (`Arc<dyn TextGenerator>`), so an application picks a backend at
//! run time: the embedded offline template generator, an OpenAI-compatible model server, an
//! in-house renderer. Every output records which backend and which template or model produced it
//! ([`Provenance`]), so a published article can always be traced back.
//!
//! ```
//! use marketingforce_core::adapters::generation::{
//!     Audience, ContactDetails, Language, Materials, TextRequest,
//! };
//!
//! let request = TextRequest::new("industrial-machinery", "数控机床选购指南")
//!     .keywords(["数控机床", "加工精度"])
//!     .audience(Audience::B2b)
//!     .materials(Materials {
//!         product_name: Some("XK-850 立式加工中心".into()),
//!         regions: vec!["长三角".into()],
//!         contact: Some(ContactDetails { company: Some("苏州某精机有限公司".into()),
//!                                        phone: Some("0512-6000 0000".into()),
//!                                        ..ContactDetails::default() }),
//!         ..Materials::default()
//!     });
//! assert_eq!(request.language, Language::ZhCn);
//! assert_eq!(request.keywords.len(), 2);
//! ```

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

// ---------------------------------------------------------------------------------------------
// Shared vocabulary
// ---------------------------------------------------------------------------------------------

/// The language content is written in. Simplified Chinese is the default.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum Language {
    /// Simplified Chinese (`zh-CN`), the default.
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English (`en`).
    #[serde(rename = "en")]
    En,
}

impl Language {
    /// The BCP 47 tag (`zh-CN`, `en`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Language {
    type Err = Error;

    /// Parse a language tag (case-insensitive; `zh`, `zh-CN`, `zh-Hans`, `en`, `en-US`, …).
    ///
    /// # Errors
    /// A validation error on `language` for any other language.
    fn from_str(s: &str) -> Result<Language> {
        let lower = s.trim().to_ascii_lowercase().replace('_', "-");
        match lower.as_str() {
            "zh" | "zh-cn" | "zh-hans" | "zh-hans-cn" | "cmn" => Ok(Language::ZhCn),
            "en" | "en-us" | "en-gb" => Ok(Language::En),
            _ => Err(Error::validation(
                "language",
                format!("unsupported language {s:?}: supported are zh-CN and en"),
            )),
        }
    }
}

/// Who the content is for: businesses (B2B) or consumers (B2C). B2B content goes to
/// industry-vertical and long-tail B2B sites, B2C content to social and short-video platforms.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Business buyers.
    #[default]
    B2b,
    /// Consumers.
    B2c,
}

/// The voice of a piece of text.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tone {
    /// Factual and expert (the default).
    #[default]
    Professional,
    /// Warm and approachable.
    Friendly,
    /// Benefit-led, with a clear call to action.
    Persuasive,
    /// Formal, for announcements and official notices.
    Formal,
}

/// How long an article should be.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Length {
    /// About 400 Chinese characters (or 250 English words).
    Short,
    /// About 800 Chinese characters (or 500 English words), the default.
    #[default]
    Medium,
    /// About 1,500 Chinese characters (or 900 English words).
    Long,
}

impl Length {
    /// The target size in characters (Chinese) or words (English).
    pub fn target(self, language: Language) -> usize {
        match (self, language) {
            (Length::Short, Language::ZhCn) => 400,
            (Length::Medium, Language::ZhCn) => 800,
            (Length::Long, Language::ZhCn) => 1500,
            (Length::Short, Language::En) => 250,
            (Length::Medium, Language::En) => 500,
            (Length::Long, Language::En) => 900,
        }
    }
}

/// A hyperlink to embed in generated content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Link {
    /// The anchor text.
    pub text: String,
    /// The target (`http://` or `https://`).
    pub url: String,
}

/// One product specification line: `name: value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ProductSpec {
    /// What is specified (e.g. `主轴转速`).
    pub name: String,
    /// Its value (e.g. `12000 rpm`).
    pub value: String,
}

/// How readers reach the business. Embedded as a contact block in generated content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ContactDetails {
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Contact person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Telephone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// WeChat / WeCom id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat: Option<String>,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

impl ContactDetails {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.company.is_none()
            && self.person.is_none()
            && self.phone.is_none()
            && self.email.is_none()
            && self.wechat.is_none()
            && self.address.is_none()
            && self.website.is_none()
    }
}

/// What the user provides for a piece of content: the facts the generator may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Materials {
    /// The product or service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Product specifications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_specs: Vec<ProductSpec>,
    /// Use cases / application scenarios.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub use_cases: Vec<String>,
    /// Regions served (cities, provinces, economic areas).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Selling points / advantages, in the user's words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub highlights: Vec<String>,
    /// Contact details for the contact block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactDetails>,
    /// Links to embed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Free text the user supplied (brochure copy, notes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Materials {
    /// Whether nothing at all was provided.
    pub fn is_empty(&self) -> bool {
        self.product_name.is_none()
            && self.product_specs.is_empty()
            && self.use_cases.is_empty()
            && self.regions.is_empty()
            && self.highlights.is_empty()
            && self.contact.as_ref().is_none_or(ContactDetails::is_empty)
            && self.links.is_empty()
            && self.notes.is_none()
    }

    /// Total size of the provided text in bytes (used to refuse oversized materials).
    pub fn text_bytes(&self) -> usize {
        let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
        let contact = self.contact.as_ref().map_or(0, |c| {
            opt(&c.company)
                + opt(&c.person)
                + opt(&c.phone)
                + opt(&c.email)
                + opt(&c.wechat)
                + opt(&c.address)
                + opt(&c.website)
        });
        opt(&self.product_name)
            + self
                .product_specs
                .iter()
                .map(|s| s.name.len() + s.value.len())
                .sum::<usize>()
            + self.use_cases.iter().map(String::len).sum::<usize>()
            + self.regions.iter().map(String::len).sum::<usize>()
            + self.highlights.iter().map(String::len).sum::<usize>()
            + contact
            + self
                .links
                .iter()
                .map(|l| l.text.len() + l.url.len())
                .sum::<usize>()
            + opt(&self.notes)
    }
}

/// Which backend produced an output, with which template or model: recorded on every output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    /// The backend (`offline-template`, `openai-compatible`, `ffmpeg`, …).
    pub backend: String,
    /// The template used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The model used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The seed of a deterministic backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Tokens consumed, when a model reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
}

/// Token counts reported by a language model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct TokenUsage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Their total.
    pub total_tokens: u64,
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

/// A request for a marketing article.
///
/// Build one with [`TextRequest::new`] and the chained setters, or deserialize it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    /// The industry (a template key such as `industrial-machinery`, or free text).
    pub industry: String,
    /// What the article is about.
    pub topic: String,
    /// Keywords to place (for search), most important first.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The user's materials.
    #[serde(default)]
    pub materials: Materials,
    /// B2B or B2C.
    #[serde(default)]
    pub audience: Audience,
    /// Output language (zh-CN by default).
    #[serde(default)]
    pub language: Language,
    /// Tone of voice.
    #[serde(default)]
    pub tone: Tone,
    /// Target length.
    #[serde(default)]
    pub length: Length,
    /// Seed for deterministic backends (the same seed and request give the same article).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl TextRequest {
    /// A request for `topic` in `industry` with the defaults (zh-CN, B2B, professional, medium).
    pub fn new(industry: impl Into<String>, topic: impl Into<String>) -> TextRequest {
        TextRequest {
            industry: industry.into(),
            topic: topic.into(),
            keywords: Vec::new(),
            materials: Materials::default(),
            audience: Audience::default(),
            language: Language::default(),
            tone: Tone::default(),
            length: Length::default(),
            seed: None,
        }
    }

    /// Set the keywords.
    #[must_use]
    pub fn keywords<I, S>(mut self, keywords: I) -> TextRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keywords = keywords.into_iter().map(Into::into).collect();
        self
    }

    /// Set the materials.
    #[must_use]
    pub fn materials(mut self, materials: Materials) -> TextRequest {
        self.materials = materials;
        self
    }

    /// Set the audience.
    #[must_use]
    pub fn audience(mut self, audience: Audience) -> TextRequest {
        self.audience = audience;
        self
    }

    /// Set the language.
    #[must_use]
    pub fn language(mut self, language: Language) -> TextRequest {
        self.language = language;
        self
    }

    /// Set the tone.
    #[must_use]
    pub fn tone(mut self, tone: Tone) -> TextRequest {
        self.tone = tone;
        self
    }

    /// Set the length.
    #[must_use]
    pub fn length(mut self, length: Length) -> TextRequest {
        self.length = length;
        self
    }

    /// Set the seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> TextRequest {
        self.seed = Some(seed);
        self
    }
}

/// How one keyword ended up in an article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeywordPlacement {
    /// The keyword.
    pub keyword: String,
    /// How many times it occurs in title, abstract and body text.
    pub occurrences: u32,
    /// Its density: characters covered by the keyword / characters of text (0.0–1.0). For
    /// English, words covered / words.
    pub density: f64,
    /// Whether it appears in the title.
    pub in_title: bool,
}

/// A generated marketing article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Article {
    /// The title.
    pub title: String,
    /// The abstract (summary), plain text.
    #[serde(rename = "abstract")]
    pub summary: String,
    /// The body in Markdown, including hyperlinks and the contact block.
    pub body_markdown: String,
    /// The same body as HTML.
    pub body_html: String,
    /// The keywords placed, with their measured density.
    pub keywords: Vec<KeywordPlacement>,
    /// Hyperlinks embedded in the body.
    pub links: Vec<Link>,
    /// The contact block embedded at the end of the body (plain text), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_block: Option<String>,
    /// The language it is written in.
    pub language: Language,
    /// Which backend and template/model produced it.
    pub provenance: Provenance,
}

/// Generates marketing articles. Object-safe: use as `Arc<dyn TextGenerator>`.
///
/// Implementations validate the request and answer with [`Error::Validation`] naming the field
/// for bad input; backend failures are [`Error::Backend`] (whose `source` may be downcast to the
/// implementation's own typed error) or [`Error::Timeout`].
#[async_trait]
pub trait TextGenerator: Send + Sync + fmt::Debug {
    /// A short name of the backend (recorded in [`Provenance::backend`]).
    fn backend(&self) -> &str;

    /// Draft an article for `request`.
    async fn generate(&self, request: &TextRequest) -> Result<Article>;
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/// What kind of image to make.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// A portrait poster (the default), e.g. 1080×1920 or an H5 poster.
    #[default]
    Poster,
    /// A wide banner, e.g. 1920×600.
    Banner,
    /// A square product image, e.g. 800×800.
    ProductImage,
}

/// The encoding of an image.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    /// SVG (vector; always available).
    #[default]
    Svg,
    /// PNG (raster).
    Png,
    /// JPEG (raster; accepted as input).
    Jpeg,
    /// GIF (raster; accepted as input).
    Gif,
    /// WebP (raster; accepted as input).
    Webp,
}

impl ImageFormat {
    /// The media type (`image/png`, …).
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Svg => "image/svg+xml",
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
        }
    }
}

/// A raw image supplied by the user (product photo, logo, QR code).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageAsset {
    /// A name for error messages (file name or role such as `logo`).
    pub name: String,
    /// The encoded bytes (PNG, JPEG, GIF, WebP or SVG).
    pub bytes: Vec<u8>,
}

impl fmt::Debug for ImageAsset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageAsset")
            .field("name", &self.name)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .finish()
    }
}

/// A request for a poster, banner or product image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageRequest {
    /// Poster, banner or product image.
    #[serde(default)]
    pub kind: ImageKind,
    /// The industry (selects a theme).
    pub industry: String,
    /// The scenario (e.g. `product-launch`, `recruitment`, `exhibition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The occasion (e.g. `spring-festival`, `mid-autumn`, `double-11`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
    /// A specific template id (overrides the theme selection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The headline.
    pub headline: String,
    /// A secondary line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subheadline: Option<String>,
    /// Body lines (selling points).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body: Vec<String>,
    /// Call to action (e.g. `扫码咨询`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_to_action: Option<String>,
    /// Contact line at the foot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// The user's images, in the order the template places them (main picture first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageAsset>,
    /// Output format.
    #[serde(default)]
    pub format: ImageFormat,
    /// Output size in pixels (template default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<(u32, u32)>,
    /// Output language of fixed template text.
    #[serde(default)]
    pub language: Language,
    /// Seed for deterministic variation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl ImageRequest {
    /// A poster request with a headline and the defaults.
    pub fn poster(industry: impl Into<String>, headline: impl Into<String>) -> ImageRequest {
        ImageRequest {
            kind: ImageKind::Poster,
            industry: industry.into(),
            scenario: None,
            occasion: None,
            template: None,
            headline: headline.into(),
            subheadline: None,
            body: Vec::new(),
            call_to_action: None,
            contact: None,
            images: Vec::new(),
            format: ImageFormat::Svg,
            size: None,
            language: Language::default(),
            seed: None,
        }
    }
}

/// A generated image.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GeneratedImage {
    /// The encoding.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// Adjustments made to fit the text (wrapped or shrunk lines), for the user to check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Which backend and template produced it.
    pub provenance: Provenance,
}

impl fmt::Debug for GeneratedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedImage")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .field("notes", &self.notes)
            .field("provenance", &self.provenance)
            .finish()
    }
}

/// Generates images. Object-safe: use as `Arc<dyn ImageGenerator>`.
#[async_trait]
pub trait ImageGenerator: Send + Sync + fmt::Debug {
    /// A short name of the backend.
    fn backend(&self) -> &str;

    /// Make the image for `request`.
    async fn generate(&self, request: &ImageRequest) -> Result<GeneratedImage>;
}

// ---------------------------------------------------------------------------------------------
// Video
// ---------------------------------------------------------------------------------------------

/// A request for a short marketing video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VideoRequest {
    /// The industry.
    pub industry: String,
    /// The business scenario template (e.g. `product-showcase`, `factory-tour`).
    pub scenario: String,
    /// The title card text.
    pub title: String,
    /// The narration, one paragraph per scene (or free text to be split).
    pub script: Vec<String>,
    /// The user's images, placed on scenes in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageAsset>,
    /// A music track id from the template library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub music: Option<String>,
    /// Whether to generate dubbing (text-to-speech) for the narration.
    #[serde(default)]
    pub dubbing: bool,
    /// Language of narration and subtitles.
    #[serde(default)]
    pub language: Language,
    /// Frame size in pixels (template default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<(u32, u32)>,
    /// Seed for deterministic variation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// A subtitle file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubtitleFile {
    /// `srt` or `vtt`.
    pub format: String,
    /// The file content.
    pub text: String,
}

/// A generated video and its companions.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GeneratedVideo {
    /// The media type of `bytes` (`video/mp4`), or empty when only a plan was produced.
    pub media_type: String,
    /// The encoded video (empty when the backend only plans).
    pub bytes: Vec<u8>,
    /// Total duration in milliseconds.
    pub duration_ms: u64,
    /// Number of scenes.
    pub scenes: u32,
    /// Subtitles (SRT and WebVTT).
    pub subtitles: Vec<SubtitleFile>,
    /// The dubbing script (what the narrator says, with cues).
    pub dubbing_script: String,
    /// Which backend and template produced it.
    pub provenance: Provenance,
}

impl fmt::Debug for GeneratedVideo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedVideo")
            .field("media_type", &self.media_type)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .field("duration_ms", &self.duration_ms)
            .field("scenes", &self.scenes)
            .field("provenance", &self.provenance)
            .finish_non_exhaustive()
    }
}

/// Generates videos. Object-safe: use as `Arc<dyn VideoGenerator>`.
#[async_trait]
pub trait VideoGenerator: Send + Sync + fmt::Debug {
    /// A short name of the backend.
    fn backend(&self) -> &str;

    /// Make the video for `request`.
    async fn generate(&self, request: &VideoRequest) -> Result<GeneratedVideo>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug)]
    struct Echo;

    #[async_trait]
    impl TextGenerator for Echo {
        fn backend(&self) -> &str {
            "echo"
        }
        async fn generate(&self, r: &TextRequest) -> Result<Article> {
            Ok(Article {
                title: r.topic.clone(),
                summary: String::new(),
                body_markdown: String::new(),
                body_html: String::new(),
                keywords: Vec::new(),
                links: Vec::new(),
                contact_block: None,
                language: r.language,
                provenance: Provenance {
                    backend: "echo".into(),
                    ..Provenance::default()
                },
            })
        }
    }

    #[test]
    fn traits_are_object_safe_and_languages_parse() {
        let g: Arc<dyn TextGenerator> = Arc::new(Echo);
        assert_eq!(g.backend(), "echo");
        assert_eq!("zh_CN".parse::<Language>().unwrap(), Language::ZhCn);
        assert_eq!("EN-us".parse::<Language>().unwrap(), Language::En);
        let e = "fr".parse::<Language>().unwrap_err().to_string();
        assert!(e.contains("language") && e.contains("fr"), "{e}");
        let json = serde_json::to_string(&TextRequest::new("it", "t")).unwrap();
        assert!(json.contains("\"zh-CN\""), "{json}");
        assert!(Materials::default().is_empty());
    }
}
