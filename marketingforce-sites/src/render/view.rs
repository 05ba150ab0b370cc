//! The view model: a page with every text resolved for one locale, every link made relative
//! and every asset looked up — what the templates see. Templates only place these values;
//! minijinja escapes every one of them, except the rich-text HTML produced by the safe
//! Markdown reader (which escapes everything it does not itself emit).

use serde::Serialize;

use super::paths::{self, Variant};
use super::PublishedArticle;
use crate::model::{Asset, Block, FieldKind, FormSpec, Link, Locale, Site, Text};

#[derive(Debug, Serialize)]
pub(crate) struct Img {
    pub src: String,
    pub alt: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LinkView {
    pub label: String,
    pub href: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SpecView {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct ProductView {
    pub name: String,
    pub summary: String,
    pub image: Option<Img>,
    pub specs: Vec<SpecView>,
    pub link: Option<LinkView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CaseView {
    pub title: String,
    pub customer: String,
    pub summary: String,
    pub image: Option<Img>,
}

#[derive(Debug, Serialize)]
pub(crate) struct OptionView {
    pub value: String,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct FieldView {
    pub name: String,
    pub id: String,
    pub label: String,
    pub input_type: &'static str,
    pub autocomplete: &'static str,
    pub required: bool,
    pub max_chars: u16,
    pub textarea: bool,
    pub options: Vec<OptionView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FormView {
    pub id: String,
    pub id_prefix: String,
    pub action: String,
    pub fields: Vec<FieldView>,
    pub consent_text: String,
    pub consent_version: String,
    pub submit_label: String,
    pub success: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct ArticleItem {
    pub title: String,
    pub summary: String,
    pub href: String,
    pub date: String,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockView {
    Hero {
        heading: String,
        subheading: String,
        image: Option<Img>,
        cta: Option<LinkView>,
    },
    RichText {
        html: String,
    },
    ProductGrid {
        heading: String,
        columns: u8,
        products: Vec<ProductView>,
    },
    CaseStudies {
        heading: String,
        cases: Vec<CaseView>,
    },
    ContactForm {
        heading: String,
        anchor: String,
        form: FormView,
    },
    Map {
        heading: String,
        address: String,
        map_href: String,
    },
    Video {
        title: String,
        src: String,
        poster: Option<String>,
        captions: Option<String>,
    },
    ArticleList {
        heading: String,
        articles: Vec<ArticleItem>,
    },
    Poster {
        image: Img,
        link: Option<LinkView>,
    },
    Section {
        heading: String,
        columns: u8,
        anchor: Option<String>,
        children: Vec<BlockView>,
    },
}

/// Everything needed to turn model values into view values for one output file.
pub(crate) struct Resolver<'a> {
    pub site: &'a Site,
    pub locale: Locale,
    pub variant: Variant,
    /// The file being rendered (links are relative to it).
    pub file: &'a str,
    pub articles: &'a [PublishedArticle],
    /// Counts forms on the page (element ids stay unique).
    pub forms_seen: usize,
}

impl Resolver<'_> {
    pub fn text(&self, t: &Text) -> String {
        t.resolve(self.locale, self.site.default_locale())
            .to_string()
    }

    pub fn to_file(&self, file: &str) -> String {
        paths::relative(self.file, file)
    }

    pub fn page_href(&self, slug: &str) -> String {
        self.to_file(&paths::page_file(
            self.site,
            self.variant,
            self.locale,
            slug,
        ))
    }

    pub fn href(&self, href: &str) -> String {
        if let Some(rest) = href.strip_prefix("page:") {
            let (slug, anchor) = rest.split_once('#').unwrap_or((rest, ""));
            let mut h = self.page_href(slug);
            if !anchor.is_empty() {
                h.push('#');
                h.push_str(anchor);
            }
            h
        } else {
            href.to_string()
        }
    }

    pub fn link(&self, l: &Link) -> LinkView {
        LinkView {
            label: self.text(&l.label),
            href: self.href(&l.href),
        }
    }

    pub fn asset_src(&self, a: &Asset) -> String {
        if a.src.starts_with("assets/") {
            self.to_file(&a.src)
        } else {
            a.src.clone()
        }
    }

    pub fn img(&self, id: &str) -> Option<Img> {
        self.site.asset(id).map(|a| Img {
            src: self.asset_src(a),
            alt: self.text(&a.alt),
            width: a.width,
            height: a.height,
        })
    }

    fn opt_img(&self, id: Option<&String>) -> Option<Img> {
        id.and_then(|id| self.img(id))
    }

    fn src_of(&self, id: &str) -> Option<String> {
        self.site.asset(id).map(|a| self.asset_src(a))
    }

    pub fn blocks(&mut self, blocks: &[Block]) -> Vec<BlockView> {
        blocks.iter().filter_map(|b| self.block(b)).collect()
    }

    fn form(&mut self, spec: &FormSpec) -> FormView {
        self.forms_seen += 1;
        let prefix = format!("f{}-{}", self.forms_seen, spec.id);
        let action = format!(
            "{}/{}/{}",
            self.site.endpoints.forms.trim_end_matches('/'),
            self.site.id,
            spec.id
        );
        FormView {
            id: spec.id.clone(),
            action,
            fields: spec
                .fields
                .iter()
                .map(|f| FieldView {
                    name: f.name.clone(),
                    id: format!("{prefix}-{}", f.name),
                    label: self.text(&f.label),
                    input_type: f.kind.input_type(),
                    autocomplete: f.kind.autocomplete(),
                    required: f.required,
                    max_chars: f.max_chars,
                    textarea: f.kind == FieldKind::Message,
                    options: f
                        .options
                        .iter()
                        .map(|o| OptionView {
                            value: o.value.clone(),
                            label: self.text(&o.label),
                        })
                        .collect(),
                })
                .collect(),
            id_prefix: prefix,
            consent_text: self.text(&spec.consent.text),
            consent_version: spec.consent.version.clone(),
            submit_label: self.text(&spec.submit_label),
            success: self.text(&spec.success),
        }
    }

    fn block(&mut self, b: &Block) -> Option<BlockView> {
        Some(match b {
            Block::Hero(h) => BlockView::Hero {
                heading: self.text(&h.heading),
                subheading: self.text(&h.subheading),
                image: self.opt_img(h.image.as_ref()),
                cta: h.cta.as_ref().map(|l| self.link(l)),
            },
            Block::RichText(r) => BlockView::RichText {
                html: marketingforce_content::text::markdown::parse(&self.text(&r.markdown))
                    .to_html(),
            },
            Block::ProductGrid(g) => BlockView::ProductGrid {
                heading: self.text(&g.heading),
                columns: g.columns,
                products: g
                    .products
                    .iter()
                    .map(|p| ProductView {
                        name: self.text(&p.name),
                        summary: self.text(&p.summary),
                        image: self.opt_img(p.image.as_ref()),
                        specs: p
                            .specs
                            .iter()
                            .map(|s| SpecView {
                                label: self.text(&s.label),
                                value: self.text(&s.value),
                            })
                            .collect(),
                        link: p.link.as_ref().map(|l| self.link(l)),
                    })
                    .collect(),
            },
            Block::CaseStudies(c) => BlockView::CaseStudies {
                heading: self.text(&c.heading),
                cases: c
                    .cases
                    .iter()
                    .map(|c| CaseView {
                        title: self.text(&c.title),
                        customer: self.text(&c.customer),
                        summary: self.text(&c.summary),
                        image: self.opt_img(c.image.as_ref()),
                    })
                    .collect(),
            },
            Block::ContactForm(c) => {
                let spec = self.site.form(&c.form)?;
                BlockView::ContactForm {
                    heading: self.text(&c.heading),
                    anchor: format!("inquiry-{}", spec.id),
                    form: self.form(spec),
                }
            }
            Block::Map(m) => {
                let name = self.text(&self.site.name);
                let map_href = match self.locale {
                    Locale::ZhCn => format!(
                        "https://uri.amap.com/marker?position={},{}&name={}",
                        m.longitude,
                        m.latitude,
                        percent_encode(&name)
                    ),
                    Locale::En => format!(
                        "https://www.openstreetmap.org/?mlat={}&mlon={}#map=16/{}/{}",
                        m.latitude, m.longitude, m.latitude, m.longitude
                    ),
                };
                BlockView::Map {
                    heading: self.text(&m.heading),
                    address: self.text(&m.address),
                    map_href,
                }
            }
            Block::Video(v) => BlockView::Video {
                title: self.text(&v.title),
                src: self.src_of(&v.video)?,
                poster: v.poster.as_ref().and_then(|p| self.src_of(p)),
                captions: v.captions.as_ref().and_then(|c| self.src_of(c)),
            },
            Block::ArticleList(a) => BlockView::ArticleList {
                heading: self.text(&a.heading),
                articles: self
                    .articles
                    .iter()
                    .filter(|art| {
                        a.keyword
                            .as_ref()
                            .is_none_or(|k| art.keywords.iter().any(|x| x == k))
                    })
                    .take(usize::from(a.limit))
                    .map(|art| ArticleItem {
                        title: art.title.clone(),
                        summary: art.summary.clone(),
                        href: self.to_file(&paths::article_file(self.site, self.variant, &art.id)),
                        date: art.published_on.to_string(),
                    })
                    .collect(),
            },
            Block::Poster(p) => BlockView::Poster {
                image: self.img(&p.image)?,
                link: p.link.as_ref().map(|l| self.link(l)),
            },
            Block::Section(s) => BlockView::Section {
                heading: self.text(&s.heading),
                columns: s.columns,
                anchor: s.anchor.clone(),
                children: self.blocks(&s.children),
            },
        })
    }
}

/// Percent-encode a query value (UTF-8 bytes outside unreserved characters).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
