//! Where each rendered page lives, and links between pages as relative URLs (so a site written
//! to a directory also works when opened from disk).

use crate::model::{Locale, Site};

/// The PC pages or the derived mobile (H5) pages.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The PC site (responsive, served at `/`).
    Pc,
    /// The derived mobile site (served at `/m/`).
    Mobile,
}

impl Variant {
    /// `pc` or `mobile`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Pc => "pc",
            Variant::Mobile => "mobile",
        }
    }
}

/// The directory prefix of a variant and locale (`""`, `en/`, `m/`, `m/en/`).
pub fn prefix(site: &Site, variant: Variant, locale: Locale) -> String {
    let mut p = String::new();
    if variant == Variant::Mobile {
        p.push_str("m/");
    }
    if locale != site.default_locale() {
        p.push_str(locale.segment());
        p.push('/');
    }
    p
}

/// The file of a page: `index.html` for the home page, `<slug>.html` otherwise.
pub fn page_file(site: &Site, variant: Variant, locale: Locale, slug: &str) -> String {
    let mut p = prefix(site, variant, locale);
    if slug.is_empty() {
        p.push_str("index.html");
    } else {
        p.push_str(slug);
        p.push_str(".html");
    }
    p
}

/// The file of an article page (articles are in the default locale).
pub fn article_file(site: &Site, variant: Variant, id: &str) -> String {
    let mut p = prefix(site, variant, site.default_locale());
    p.push_str("articles/");
    p.push_str(id);
    p.push_str(".html");
    p
}

/// The public URL of a file (`index.html` files by their directory).
pub fn public_url(site: &Site, file: &str) -> String {
    let base = site.base_url.trim_end_matches('/');
    let path = file.strip_suffix("index.html").unwrap_or(file);
    format!("{base}/{path}")
}

/// `to` relative to the directory of `from` (both site-relative files).
pub fn relative(from: &str, to: &str) -> String {
    let depth = from.matches('/').count();
    let mut s = "../".repeat(depth);
    s.push_str(to);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_climb_out_of_directories() {
        assert_eq!(relative("index.html", "assets/site.css"), "assets/site.css");
        assert_eq!(
            relative("m/en/index.html", "assets/site.css"),
            "../../assets/site.css"
        );
        assert_eq!(
            relative("en/products.html", "en/index.html"),
            "../en/index.html"
        );
    }
}
