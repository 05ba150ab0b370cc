//! The typed blocks a page is built from. A page is a tree: [`Section`]s hold further blocks.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Link, Text};

/// One block of a page. Serialised with a `type` tag:
/// `{"type": "hero", "heading": {"zh-CN": "…"}, …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A banner with heading, image and call to action.
    Hero(Hero),
    /// Formatted text (a safe Markdown subset: headings, paragraphs, lists, bold, links).
    RichText(RichText),
    /// Products in a grid with specifications.
    ProductGrid(ProductGrid),
    /// Customer case studies.
    CaseStudies(CaseStudies),
    /// An inquiry form (defined in the site's `forms`).
    ContactForm(ContactForm),
    /// The company's location with a link to a map.
    Map(MapBlock),
    /// A video with poster frame and captions.
    Video(VideoBlock),
    /// The latest published T-text articles.
    ArticleList(ArticleList),
    /// A T-image poster.
    Poster(PosterBlock),
    /// A group of blocks laid out in columns (the tree's inner node).
    Section(Section),
}

impl Block {
    /// The tag (`hero`, `rich_text`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Block::Hero(_) => "hero",
            Block::RichText(_) => "rich_text",
            Block::ProductGrid(_) => "product_grid",
            Block::CaseStudies(_) => "case_studies",
            Block::ContactForm(_) => "contact_form",
            Block::Map(_) => "map",
            Block::Video(_) => "video",
            Block::ArticleList(_) => "article_list",
            Block::Poster(_) => "poster",
            Block::Section(_) => "section",
        }
    }
}

/// A banner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hero {
    /// The heading.
    pub heading: Text,
    /// A line under the heading.
    #[serde(default)]
    pub subheading: Text,
    /// Background image (an asset id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The call to action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cta: Option<Link>,
}

/// Formatted text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RichText {
    /// Markdown per locale (headings `##`, paragraphs, `-` lists, `**bold**`, `[links](https://…)`;
    /// any HTML is shown as text).
    pub markdown: Text,
}

/// A product grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductGrid {
    /// The heading.
    #[serde(default)]
    pub heading: Text,
    /// Columns on PC (1–4; the mobile variant uses at most 2).
    #[serde(default = "three")]
    pub columns: u8,
    /// The products.
    pub products: Vec<Product>,
}

fn three() -> u8 {
    3
}

fn one() -> u8 {
    1
}

/// One product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Name / model.
    pub name: Text,
    /// A short description.
    #[serde(default)]
    pub summary: Text,
    /// Product image (an asset id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Specifications (label, value).
    #[serde(default)]
    pub specs: Vec<Spec>,
    /// A link to the product's page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
}

/// One specification line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Label (`定位精度`).
    pub label: Text,
    /// Value (`±0.005 mm`).
    pub value: Text,
}

/// Case studies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseStudies {
    /// The heading.
    #[serde(default)]
    pub heading: Text,
    /// The cases.
    pub cases: Vec<CaseStudy>,
}

/// One case study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseStudy {
    /// Title.
    pub title: Text,
    /// The customer (a company, never a person).
    #[serde(default)]
    pub customer: Text,
    /// What was done and achieved.
    pub summary: Text,
    /// Image (an asset id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// An inquiry form block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactForm {
    /// The form's id in the site's `forms`.
    pub form: String,
    /// A heading above the form.
    #[serde(default)]
    pub heading: Text,
}

/// A location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapBlock {
    /// The heading.
    #[serde(default)]
    pub heading: Text,
    /// The address as shown.
    pub address: Text,
    /// Latitude (GCJ-02, as map providers in China use), −90..90.
    pub latitude: Decimal,
    /// Longitude, −180..180.
    pub longitude: Decimal,
}

/// A video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoBlock {
    /// Title (also the accessible name).
    pub title: Text,
    /// The video (an asset id of kind `video`).
    pub video: String,
    /// Poster frame (an image asset id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<String>,
    /// WebVTT captions (an asset id of kind `captions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions: Option<String>,
}

/// The latest articles published through T-text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleList {
    /// The heading.
    #[serde(default)]
    pub heading: Text,
    /// Only articles with this keyword, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// How many (1–50).
    #[serde(default = "six")]
    pub limit: u8,
}

fn six() -> u8 {
    6
}

/// A poster made by T-image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PosterBlock {
    /// The poster (an asset id of kind `poster`; its alt text describes it).
    pub image: String,
    /// Where clicking it leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
}

/// Blocks grouped in columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// The heading.
    #[serde(default)]
    pub heading: Text,
    /// Columns on PC (1–4); the mobile variant stacks them.
    #[serde(default = "one")]
    pub columns: u8,
    /// An anchor for `#links` (`[a-z0-9-]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// The blocks inside.
    pub children: Vec<Block>,
}
