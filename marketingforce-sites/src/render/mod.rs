//! Rendering a [`Site`] to static HTML and CSS with minijinja (templates embedded in the
//! crate, auto-escaping on for HTML and XML).
//!
//! Output, for a site with locales `[zh-CN, en]` and the mobile variant on:
//!
//! | file | what |
//! |---|---|
//! | `index.html`, `<slug>.html` | PC pages in the default locale (responsive) |
//! | `en/index.html`, `en/<slug>.html` | PC pages in English (missing text falls back) |
//! | `m/…`, `m/en/…` | the derived mobile (H5) pages ([`derive_mobile`]) |
//! | `articles/<id>.html`, `m/articles/<id>.html` | published T-text articles |
//! | `assets/site.css`, `assets/mf-beacon.js`, `assets/…` | styles, the beacon, the site's files |
//! | `sitemap.xml`, `robots.txt` | every indexable page with its hreflang alternates |
//!
//! Every page carries its canonical URL and `hreflang` alternates; PC pages point to their
//! mobile page (`media="only screen and (max-width: 640px)"`) and mobile pages name the PC page
//! canonical. The footer shows the ICP filing number. The same input gives byte-identical
//! output: nothing depends on the clock, maps are ordered, articles are sorted.
//!
//! ```
//! use marketingforce_sites::industry::IndustryTemplate;
//! use marketingforce_sites::render::{RenderInputs, Renderer};
//!
//! let site = IndustryTemplate::Machinery.site().unwrap();
//! let inputs = RenderInputs::placeholder_assets(&site);
//! let out = Renderer::new().render(&site, &inputs).unwrap();
//! let home = out.text("index.html").unwrap();
//! assert!(home.starts_with("<!DOCTYPE html>\n<html lang=\"zh-CN\">"));
//! assert!(home.contains("ICP备"));
//! assert!(out.text("m/index.html").unwrap().contains("rel=\"canonical\" href=\"https://www.example-machinery.cn/\""));
//! assert!(out.text("sitemap.xml").unwrap().contains("hreflang=\"en\""));
//! // Deterministic: the same input renders the same bytes.
//! assert_eq!(Renderer::new().render(&site, &inputs).unwrap().digest(), out.digest());
//! ```

mod mobile;
pub mod paths;
mod ui;
mod view;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;
use minijinja::{AutoEscape, Environment};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use mobile::{derive_mobile, MOBILE_CASES, MOBILE_SPECS};
pub use paths::Variant;

use crate::error::{Result, SitesError};
use crate::model::{Block, FontStack, Locale, NavItem, Page, Site};
use view::{BlockView, Img, Resolver};

/// The beacon script, served at `assets/mf-beacon.js`.
pub const BEACON_JS: &str = include_str!("../../templates/mf-beacon.js");

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    ("page.html", include_str!("../../templates/page.html")),
    ("article.html", include_str!("../../templates/article.html")),
    ("blocks.html", include_str!("../../templates/blocks.html")),
    ("sitemap.xml", include_str!("../../templates/sitemap.xml")),
    ("robots.txt", include_str!("../../templates/robots.txt")),
    ("site.css", include_str!("../../templates/site.css")),
];

/// A T-text article published on the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishedArticle {
    /// Id, used in its URL (`[a-z0-9-]`).
    pub id: String,
    /// Title.
    pub title: String,
    /// The abstract.
    pub summary: String,
    /// The body in (safe-subset) Markdown.
    pub body_markdown: String,
    /// Keywords (an article list block may filter on one).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The publication date.
    pub published_on: NaiveDate,
}

impl PublishedArticle {
    /// An article as T-text generated it (`marketingforce_core::adapters::generation::Article`).
    pub fn from_generated(
        id: impl Into<String>,
        article: &marketingforce_core::adapters::generation::Article,
        published_on: NaiveDate,
    ) -> PublishedArticle {
        PublishedArticle {
            id: id.into(),
            title: article.title.clone(),
            summary: article.summary.clone(),
            body_markdown: article.body_markdown.clone(),
            keywords: article.keywords.iter().map(|k| k.keyword.clone()).collect(),
            published_on,
        }
    }
}

/// What rendering needs besides the site: the bytes of its local assets and the articles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderInputs {
    /// File bytes by asset `src` (`assets/hero.jpg`).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Published articles.
    pub articles: Vec<PublishedArticle>,
}

impl RenderInputs {
    /// Inputs with a small generated SVG for every local image and poster asset and an empty
    /// file for others (for examples and tests).
    pub fn placeholder_assets(site: &Site) -> RenderInputs {
        let mut files = BTreeMap::new();
        for a in &site.assets {
            if a.src.starts_with("assets/") {
                let svg = format!(
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><rect width=\"100%\" height=\"100%\" fill=\"#d8dee6\"/></svg>",
                    w = a.width.unwrap_or(640),
                    h = a.height.unwrap_or(360)
                );
                files.insert(a.src.clone(), svg.into_bytes());
            }
        }
        RenderInputs {
            files,
            articles: Vec::new(),
        }
    }
}

/// The rendered site: file contents by site-relative path, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedSite {
    /// Path → bytes.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl RenderedSite {
    /// A file as text.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.files
            .get(path)
            .and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The HTML pages.
    pub fn pages(&self) -> impl Iterator<Item = &str> {
        self.files
            .keys()
            .map(String::as_str)
            .filter(|p| p.ends_with(".html"))
    }

    /// SHA-256 over every path and content, in order (hex): equal digests, equal sites.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for (path, bytes) in &self.files {
            h.update((path.len() as u64).to_be_bytes());
            h.update(path.as_bytes());
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        hex::encode(h.finalize())
    }

    /// Write the site to `dir`, replacing what was there. The files are written to a sibling
    /// staging directory first and swapped in, so an error never leaves a half-written site.
    ///
    /// # Errors
    /// [`SitesError::Io`] naming the path.
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| SitesError::Io { path, source }
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "site".into());
        let parent = dir.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let staging = parent.join(format!(".{name}.staging"));
        let old = parent.join(format!(".{name}.old"));
        for leftover in [&staging, &old] {
            if leftover.exists() {
                std::fs::remove_dir_all(leftover).map_err(io(leftover))?;
            }
        }
        for (path, bytes) in &self.files {
            let target = staging.join(path);
            if let Some(p) = target.parent() {
                std::fs::create_dir_all(p).map_err(io(p))?;
            }
            std::fs::write(&target, bytes).map_err(io(&target))?;
        }
        if dir.exists() {
            std::fs::rename(dir, &old).map_err(io(dir))?;
        }
        std::fs::rename(&staging, dir).map_err(io(dir))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        Ok(())
    }
}

/// The analytics key of a page (`home` for the home page, else its slug).
pub fn page_key(slug: &str) -> &str {
    if slug.is_empty() {
        "home"
    } else {
        slug
    }
}

#[derive(Debug, Serialize)]
struct Alt {
    hreflang: &'static str,
    href: String,
}

#[derive(Debug, Serialize)]
struct NavView {
    label: String,
    href: String,
    current: bool,
    children: Vec<NavView>,
}

#[derive(Debug, Serialize)]
struct LangView {
    label: &'static str,
    hreflang: &'static str,
    href: String,
    current: bool,
}

#[derive(Debug, Serialize)]
struct FooterView {
    text: String,
    icp: Option<String>,
    public_security: Option<String>,
}

#[derive(Debug, Serialize)]
struct BeaconView {
    endpoint: String,
    site: String,
    page: String,
    locale: &'static str,
}

#[derive(Debug, Serialize)]
struct ArticleView {
    title: String,
    summary: String,
    html: String,
    date: String,
}

/// The `<head>` fields of one page.
struct Head {
    title: String,
    description: String,
    keywords: String,
    noindex: bool,
    og_image: Option<String>,
}

#[derive(Debug, Serialize)]
struct PageCtx {
    lang: &'static str,
    page_key: String,
    title: String,
    description: String,
    keywords: String,
    noindex: bool,
    canonical: String,
    alternates: Vec<Alt>,
    mobile_href: Option<String>,
    pc_href: Option<String>,
    og_image: Option<String>,
    root: String,
    variant: &'static str,
    ui: ui::Ui,
    home_href: String,
    logo: Option<Img>,
    site_name: String,
    nav: Vec<NavView>,
    languages: Vec<LangView>,
    heading: String,
    hide_title: bool,
    blocks: Vec<BlockView>,
    article: Option<ArticleView>,
    footer: FooterView,
    call_phone: Option<String>,
    inquiry_href: Option<String>,
    beacon: Option<BeaconView>,
}

/// The template engine with the embedded templates; build once, render many sites.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new()
    }
}

/// A validated site ready to render page by page (see [`Renderer::prepare`]).
#[derive(Debug)]
pub struct Prepared<'a> {
    renderer: &'a Renderer,
    site: &'a Site,
    articles_owned: Vec<PublishedArticle>,
    mobile: bool,
}

impl Renderer {
    /// The engine with the built-in templates; HTML and XML are auto-escaped.
    ///
    /// # Panics
    /// Never: the embedded templates are parsed by the test suite.
    pub fn new() -> Renderer {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") || name.ends_with(".xml") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_formatter(html_formatter);
        for (name, source) in TEMPLATES {
            #[allow(clippy::expect_used)]
            env.add_template(name, source)
                .expect("embedded templates parse (checked by the tests)");
        }
        Renderer { env }
    }

    /// Validate `site` and the inputs (every local asset has its bytes, article ids are slugs)
    /// for page-by-page rendering.
    ///
    /// # Errors
    /// A validation error naming the path (`assets[2].src`, `articles[0].id`, …).
    pub fn prepare<'a>(&'a self, site: &'a Site, inputs: &RenderInputs) -> Result<Prepared<'a>> {
        site.validate()?;
        for (i, a) in site.assets.iter().enumerate() {
            if a.src.starts_with("assets/") && !inputs.files.contains_key(&a.src) {
                return Err(SitesError::validation(
                    format!("assets[{i}].src"),
                    format!("no file was given for {}", a.src),
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, art) in inputs.articles.iter().enumerate() {
            if !crate::validate::is_slug(&art.id) || !seen.insert(art.id.as_str()) {
                return Err(SitesError::validation(
                    format!("articles[{i}].id"),
                    "must be a unique slug of a-z, 0-9 and '-'",
                ));
            }
            if art.title.trim().is_empty() {
                return Err(SitesError::validation(
                    format!("articles[{i}].title"),
                    "must not be blank",
                ));
            }
        }
        let mut articles_owned = inputs.articles.clone();
        articles_owned.sort_by(|a, b| b.published_on.cmp(&a.published_on).then(a.id.cmp(&b.id)));
        Ok(Prepared {
            renderer: self,
            site,
            articles_owned,
            mobile: site.mobile.enabled,
        })
    }

    /// Render the whole site.
    ///
    /// # Errors
    /// Validation errors naming the path; template errors (bugs, never input).
    pub fn render(&self, site: &Site, inputs: &RenderInputs) -> Result<RenderedSite> {
        let prepared = self.prepare(site, inputs)?;
        let mut files = BTreeMap::new();
        let variants: &[Variant] = if prepared.mobile {
            &[Variant::Pc, Variant::Mobile]
        } else {
            &[Variant::Pc]
        };
        for &variant in variants {
            for &locale in &site.locales {
                for page in &site.pages {
                    let file = paths::page_file(site, variant, locale, &page.slug);
                    let html = prepared.render_page(page, locale, variant)?;
                    files.insert(file, html.into_bytes());
                }
            }
            for art in &prepared.articles_owned {
                let file = paths::article_file(site, variant, &art.id);
                files.insert(file, prepared.render_article(art, variant)?.into_bytes());
            }
        }
        for (src, bytes) in &inputs.files {
            if site.assets.iter().any(|a| &a.src == src) {
                files.insert(src.clone(), bytes.clone());
            }
        }
        files.insert("assets/site.css".into(), self.css(site)?.into_bytes());
        if site.endpoints.collect.is_some() {
            files.insert("assets/mf-beacon.js".into(), BEACON_JS.as_bytes().to_vec());
        }
        files.insert("sitemap.xml".into(), prepared.sitemap()?.into_bytes());
        files.insert("robots.txt".into(), prepared.robots()?.into_bytes());
        Ok(RenderedSite { files })
    }

    fn css(&self, site: &Site) -> Result<String> {
        let t = &site.theme;
        let font = match t.font {
            FontStack::Sans => "-apple-system, BlinkMacSystemFont, \"PingFang SC\", \"Microsoft YaHei\", \"Noto Sans CJK SC\", \"WenQuanYi Micro Hei\", \"Helvetica Neue\", Arial, sans-serif",
            FontStack::Serif => "\"Songti SC\", SimSun, \"Noto Serif CJK SC\", Georgia, serif",
        };
        Ok(self
            .env
            .get_template("site.css")?
            .render(minijinja::context! {
                primary => t.primary.0, accent => t.accent.0, text => t.text.0,
                background => t.background.0, radius => t.radius_px, width => t.max_width_px,
                font => font,
            })?)
    }
}

impl Prepared<'_> {
    fn first_form_href(&self, r: &Resolver<'_>) -> Option<String> {
        fn find(blocks: &[Block]) -> Option<&str> {
            blocks.iter().find_map(|b| match b {
                Block::ContactForm(c) => Some(c.form.as_str()),
                Block::Section(s) => find(&s.children),
                _ => None,
            })
        }
        self.site.pages.iter().find_map(|p| {
            find(&p.blocks).map(|form| format!("{}#inquiry-{form}", r.page_href(&p.slug)))
        })
    }

    fn nav(&self, r: &Resolver<'_>, items: &[NavItem], current: &str) -> Vec<NavView> {
        items
            .iter()
            .map(|i| NavView {
                label: r.text(&i.link.label),
                href: r.href(&i.link.href),
                current: i.link.href == format!("page:{current}"),
                children: self.nav(r, &i.children, current),
            })
            .collect()
    }

    fn context(
        &self,
        r: &mut Resolver<'_>,
        slug: &str,
        head: Head,
        same_page_in: &dyn Fn(Variant, Locale) -> String,
    ) -> PageCtx {
        let site = self.site;
        let (locale, variant) = (r.locale, r.variant);
        let url = |v: Variant, l: Locale| paths::public_url(site, &same_page_in(v, l));
        let alternates = if site.locales.len() > 1 {
            let mut a: Vec<Alt> = site
                .locales
                .iter()
                .map(|&l| Alt {
                    hreflang: l.tag(),
                    href: url(variant, l),
                })
                .collect();
            a.push(Alt {
                hreflang: "x-default",
                href: url(variant, site.default_locale()),
            });
            a
        } else {
            Vec::new()
        };
        let languages = site
            .locales
            .iter()
            .map(|&l| LangView {
                label: l.native_name(),
                hreflang: l.tag(),
                href: r.to_file(&same_page_in(variant, l)),
                current: l == locale,
            })
            .collect();
        let (mobile_href, pc_href) = match variant {
            Variant::Pc if self.mobile => (Some(url(Variant::Mobile, locale)), None),
            Variant::Pc => (None, None),
            Variant::Mobile => (None, Some(r.to_file(&same_page_in(Variant::Pc, locale)))),
        };
        let inquiry_href = if variant == Variant::Mobile {
            self.first_form_href(r)
        } else {
            None
        };
        PageCtx {
            lang: locale.tag(),
            page_key: page_key(slug).to_string(),
            title: head.title,
            description: head.description,
            keywords: head.keywords,
            noindex: head.noindex,
            canonical: url(Variant::Pc, locale),
            alternates,
            mobile_href,
            pc_href,
            og_image: head.og_image,
            root: paths::relative(r.file, ""),
            variant: variant.as_str(),
            ui: ui::ui(locale),
            home_href: r.page_href(""),
            logo: site.theme.logo.as_ref().and_then(|l| r.img(l)),
            site_name: r.text(&site.name),
            nav: self.nav(r, &site.navigation, slug),
            languages,
            heading: String::new(),
            hide_title: false,
            blocks: Vec::new(),
            article: None,
            footer: FooterView {
                text: r.text(&site.footer.text),
                icp: site.footer.icp.clone(),
                public_security: site.footer.public_security.clone(),
            },
            call_phone: site
                .mobile
                .call_phone
                .as_ref()
                .map(|p| p.chars().filter(|c| !c.is_whitespace()).collect()),
            inquiry_href,
            beacon: site.endpoints.collect.as_ref().map(|e| BeaconView {
                endpoint: e.trim_end_matches('/').to_string(),
                site: site.id.clone(),
                page: page_key(slug).to_string(),
                locale: locale.tag(),
            }),
        }
    }

    /// Render one page in one locale and variant (the mobile variant is derived from it).
    ///
    /// # Errors
    /// Template errors (bugs, never input).
    pub fn render_page(&self, page: &Page, locale: Locale, variant: Variant) -> Result<String> {
        let site = self.site;
        let derived;
        let page = if variant == Variant::Mobile {
            derived = derive_mobile(page);
            &derived
        } else {
            page
        };
        let file = paths::page_file(site, variant, locale, &page.slug);
        let mut r = Resolver {
            site,
            locale,
            variant,
            file: &file,
            articles: &self.articles_owned,
            forms_seen: 0,
        };
        let page_title = r.text(&page.title);
        let site_name = r.text(&site.name);
        let seo_title = r.text(&page.seo.title);
        let title = if !seo_title.is_empty() {
            seo_title
        } else if page.slug.is_empty() {
            site_name
        } else {
            format!("{page_title} - {site_name}")
        };
        let og = page
            .seo
            .image
            .as_ref()
            .and_then(|id| site.asset(id))
            .map(|a| {
                if a.src.starts_with("assets/") {
                    paths::public_url(site, &a.src)
                } else {
                    a.src.clone()
                }
            });
        let slug = page.slug.clone();
        let same = |v: Variant, l: Locale| paths::page_file(site, v, l, &slug);
        let head = Head {
            title,
            description: page
                .seo
                .description
                .resolve(locale, site.default_locale())
                .to_string(),
            keywords: page.seo.keywords.join(","),
            noindex: page.seo.noindex,
            og_image: og,
        };
        let mut ctx = self.context(&mut r, &page.slug, head, &same);
        ctx.heading = page_title;
        ctx.hide_title = matches!(page.blocks.first(), Some(Block::Hero(_)));
        ctx.blocks = r.blocks(&page.blocks);
        Ok(self.renderer.env.get_template("page.html")?.render(&ctx)?)
    }

    fn render_article(&self, art: &PublishedArticle, variant: Variant) -> Result<String> {
        let site = self.site;
        let locale = site.default_locale();
        let file = paths::article_file(site, variant, &art.id);
        let mut r = Resolver {
            site,
            locale,
            variant,
            file: &file,
            articles: &self.articles_owned,
            forms_seen: 0,
        };
        let id = art.id.clone();
        let same = |v: Variant, _l: Locale| paths::article_file(site, v, &id);
        let title = format!("{} - {}", art.title, r.text(&site.name));
        let head = Head {
            title,
            description: art.summary.chars().take(200).collect(),
            keywords: art.keywords.join(","),
            noindex: false,
            og_image: None,
        };
        let mut ctx = self.context(&mut r, &format!("articles/{}", art.id), head, &same);
        // Articles exist in one language: no hreflang alternates, no language switch.
        ctx.alternates.clear();
        ctx.languages.clear();
        ctx.heading = art.title.clone();
        ctx.article = Some(ArticleView {
            title: art.title.clone(),
            summary: art.summary.clone(),
            html: marketingforce_content::text::markdown::parse(&art.body_markdown).to_html(),
            date: art.published_on.to_string(),
        });
        Ok(self
            .renderer
            .env
            .get_template("article.html")?
            .render(&ctx)?)
    }

    fn sitemap(&self) -> Result<String> {
        #[derive(Serialize)]
        struct Url {
            loc: String,
            alternates: Vec<Alt>,
        }
        let site = self.site;
        let mut urls = Vec::new();
        for page in site.pages.iter().filter(|p| !p.seo.noindex) {
            for &locale in &site.locales {
                let alternates = if site.locales.len() > 1 {
                    site.locales
                        .iter()
                        .map(|&l| Alt {
                            hreflang: l.tag(),
                            href: paths::public_url(
                                site,
                                &paths::page_file(site, Variant::Pc, l, &page.slug),
                            ),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                urls.push(Url {
                    loc: paths::public_url(
                        site,
                        &paths::page_file(site, Variant::Pc, locale, &page.slug),
                    ),
                    alternates,
                });
            }
        }
        for art in &self.articles_owned {
            urls.push(Url {
                loc: paths::public_url(site, &paths::article_file(site, Variant::Pc, &art.id)),
                alternates: Vec::new(),
            });
        }
        Ok(self
            .renderer
            .env
            .get_template("sitemap.xml")?
            .render(minijinja::context! {
                urls => urls, lastmod => site.updated.to_string(),
            })?)
    }

    fn robots(&self) -> Result<String> {
        let mut disallow = Vec::new();
        if let Some(c) = &self.site.endpoints.collect {
            if c.starts_with('/') {
                disallow.push(c.clone());
            }
        }
        if self.site.endpoints.forms.starts_with('/') {
            disallow.push(self.site.endpoints.forms.clone());
        }
        let mut s = self
            .renderer
            .env
            .get_template("robots.txt")?
            .render(minijinja::context! {
                disallow => disallow,
                sitemap => paths::public_url(self.site, "sitemap.xml"),
            })?;
        let _ = writeln!(s);
        Ok(s)
    }
}

/// Escape `& < > " '` in HTML and XML output (minijinja's default also escapes `/`, which
/// is valid but makes URLs hard to read); everything else is the default formatter.
fn html_formatter(
    out: &mut minijinja::Output<'_>,
    state: &minijinja::State<'_, '_>,
    value: &minijinja::Value,
) -> std::result::Result<(), minijinja::Error> {
    if state.auto_escape() != AutoEscape::Html || value.is_safe() {
        return minijinja::escape_formatter(out, state, value);
    }
    if value.is_undefined() || value.is_none() {
        return Ok(());
    }
    let text = value.to_string();
    let mut rest = text.as_str();
    let write_err = |_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "output");
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        out.write_str(&rest[..i]).map_err(write_err)?;
        let entity = match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        };
        out.write_str(entity).map_err(write_err)?;
        rest = &rest[i + 1..];
    }
    out.write_str(rest).map_err(write_err)
}
