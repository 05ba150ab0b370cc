//! The text units of a site that the compliance review reads: one per block (its own texts,
//! not its children's) and locale, plus page titles and SEO, navigation, footer, forms and
//! articles.

use crate::model::{Block, Link, Locale, Site, Text};
use crate::render::PublishedArticle;

/// Texts reviewed together, with where they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextUnit {
    /// Path and locale (`pages[0].blocks[2] (en)`).
    pub path: String,
    /// The texts, one per line.
    pub text: String,
}

struct Collect<'a> {
    site: &'a Site,
    locale: Locale,
    out: Vec<TextUnit>,
}

impl Collect<'_> {
    fn push(&mut self, path: &str, texts: &[&Text], extra: &[&str]) {
        let default = self.site.default_locale();
        let mut lines: Vec<&str> = texts
            .iter()
            .filter(|t| self.locale == default || t.0.contains_key(&self.locale))
            .map(|t| t.resolve(self.locale, default))
            .filter(|s| !s.trim().is_empty())
            .collect();
        if self.locale == default {
            lines.extend(extra.iter().copied().filter(|s| !s.trim().is_empty()));
        }
        if !lines.is_empty() {
            self.out.push(TextUnit {
                path: format!("{path} ({})", self.locale),
                text: lines.join("\n"),
            });
        }
    }

    fn blocks(&mut self, blocks: &[Block], path: &str) {
        for (i, b) in blocks.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let link = |l: &Option<Link>| l.as_ref().map(|l| l.label.clone());
            match b {
                Block::Hero(h) => {
                    let cta = link(&h.cta).unwrap_or_default();
                    self.push(&p, &[&h.heading, &h.subheading, &cta], &[]);
                }
                Block::RichText(r) => self.push(&p, &[&r.markdown], &[]),
                Block::ProductGrid(g) => {
                    let mut texts: Vec<Text> = vec![g.heading.clone()];
                    for prod in &g.products {
                        texts.push(prod.name.clone());
                        texts.push(prod.summary.clone());
                        for s in &prod.specs {
                            texts.push(s.label.clone());
                            texts.push(s.value.clone());
                        }
                        texts.extend(link(&prod.link));
                    }
                    self.push(&p, &texts.iter().collect::<Vec<_>>(), &[]);
                }
                Block::CaseStudies(c) => {
                    let mut texts: Vec<&Text> = vec![&c.heading];
                    for case in &c.cases {
                        texts.extend([&case.title, &case.customer, &case.summary]);
                    }
                    self.push(&p, &texts, &[]);
                }
                Block::ContactForm(c) => self.push(&p, &[&c.heading], &[]),
                Block::Map(m) => self.push(&p, &[&m.heading, &m.address], &[]),
                Block::Video(v) => self.push(&p, &[&v.title], &[]),
                Block::ArticleList(a) => self.push(&p, &[&a.heading], &[]),
                Block::Poster(po) => {
                    let alt = self
                        .site
                        .asset(&po.image)
                        .map(|a| a.alt.clone())
                        .unwrap_or_default();
                    let l = link(&po.link).unwrap_or_default();
                    self.push(&p, &[&alt, &l], &[]);
                }
                Block::Section(s) => {
                    self.push(&p, &[&s.heading], &[]);
                    self.blocks(&s.children, &format!("{p}.children"));
                }
            }
        }
    }
}

/// Every text unit of `site` and its articles, in a stable order.
pub fn text_units(site: &Site, articles: &[PublishedArticle]) -> Vec<TextUnit> {
    let mut c = Collect {
        site,
        locale: site.default_locale(),
        out: Vec::new(),
    };
    for &locale in &site.locales {
        c.locale = locale;
        c.push("name", &[&site.name], &[]);
        let nav: Vec<&Text> = site
            .navigation
            .iter()
            .flat_map(|n| std::iter::once(n).chain(n.children.iter()))
            .map(|n| &n.link.label)
            .collect();
        c.push("navigation", &nav, &[]);
        c.push("footer", &[&site.footer.text], &[]);
        for (i, f) in site.forms.iter().enumerate() {
            let mut texts: Vec<&Text> = vec![&f.consent.text, &f.submit_label, &f.success];
            for field in &f.fields {
                texts.push(&field.label);
                texts.extend(field.options.iter().map(|o| &o.label));
            }
            c.push(&format!("forms[{i}]"), &texts, &[]);
        }
        for (i, page) in site.pages.iter().enumerate() {
            let p = format!("pages[{i}]");
            let keywords = page.seo.keywords.join(" ");
            c.push(
                &p,
                &[&page.title, &page.seo.title, &page.seo.description],
                &[&keywords],
            );
            c.blocks(&page.blocks, &format!("{p}.blocks"));
        }
        for (i, a) in site.assets.iter().enumerate() {
            c.push(&format!("assets[{i}].alt"), &[&a.alt], &[]);
        }
    }
    c.locale = site.default_locale();
    for (i, a) in articles.iter().enumerate() {
        let body = format!("{}\n{}\n{}", a.title, a.summary, a.body_markdown);
        c.out.push(TextUnit {
            path: format!("articles[{i}]"),
            text: body,
        });
    }
    c.out
}
