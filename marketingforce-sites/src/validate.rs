//! Validation of a [`Site`]: what a JSON Schema cannot check — references between pages,
//! blocks, assets and forms, the depth of the block tree, URLs, filing numbers — each error
//! naming the path of the offending field.
//!
//! ```
//! use marketingforce_sites::industry::IndustryTemplate;
//!
//! let mut site = IndustryTemplate::Machinery.site().unwrap();
//! site.pages[0].blocks.insert(0, serde_json::from_value(serde_json::json!({
//!     "type": "poster", "image": "no-such-poster"
//! })).unwrap());
//! let err = site.validate().unwrap_err();
//! assert_eq!(err.field(), Some("pages[0].blocks[0].image"));
//! ```

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::error::{Result, SitesError};
use crate::model::{Asset, AssetKind, Block, FieldKind, FormSpec, Link, NavItem, Page, Site, Text};

/// How deep sections may nest: a top-level block is at depth 1.
pub const MAX_DEPTH: usize = 4;
/// Most blocks on one page, counting nested ones.
pub const MAX_BLOCKS_PER_PAGE: usize = 300;
/// Most pages in a site.
pub const MAX_PAGES: usize = 500;
/// Longest text in one locale, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Longest URL or path, in bytes.
pub const MAX_URL_BYTES: usize = 2_048;

fn err(path: impl Into<String>, reason: impl Into<String>) -> SitesError {
    SitesError::validation(path, reason)
}

/// Whether `s` is 1–64 characters of `[a-z0-9-]`, not starting or ending with `-`.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_slug(s: &str, path: &str) -> Result<()> {
    if is_slug(s) {
        Ok(())
    } else {
        Err(err(
            path,
            format!("{s:?} must be 1-64 characters of a-z, 0-9 and '-'"),
        ))
    }
}

fn url_chars_ok(s: &str) -> bool {
    s.len() <= MAX_URL_BYTES
        && !s.is_empty()
        && s.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"\"'<>\\`".contains(c))
}

/// Check an `https://` / `http://` URL: scheme, a host of `[a-z0-9.-]` (with an optional
/// port), and a path without spaces, quotes or angle brackets.
///
/// # Errors
/// A validation error on `path`.
pub fn check_web_url(url: &str, path: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| err(path, "must start with https:// or http://"))?;
    if !url_chars_ok(url) {
        return Err(err(
            path,
            "contains spaces, quotes, angle brackets or control characters",
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(h, port)| {
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(err(
            path,
            format!("{host:?} is not a valid lower-case host name"),
        ))
    }
}

/// Check a link target (see [`Link`]); `pages` are the site's slugs for `page:` links.
///
/// # Errors
/// A validation error on `path` naming what is wrong.
pub fn check_href(href: &str, path: &str, pages: &BTreeSet<&str>) -> Result<()> {
    if let Some(slug) = href.strip_prefix("page:") {
        let (slug, anchor) = slug.split_once('#').unwrap_or((slug, ""));
        if !pages.contains(slug) {
            return Err(err(
                path,
                format!("links to page {slug:?}, which the site does not have"),
            ));
        }
        if !anchor.is_empty() {
            check_slug(anchor, path)?;
        }
        return Ok(());
    }
    if let Some(anchor) = href.strip_prefix('#') {
        return check_slug(anchor, path);
    }
    if href.starts_with("https://") || href.starts_with("http://") {
        return check_web_url(href, path);
    }
    if let Some(addr) = href.strip_prefix("mailto:") {
        return if addr.contains('@') && url_chars_ok(addr) {
            Ok(())
        } else {
            Err(err(path, "is not a mailto: address"))
        };
    }
    if let Some(num) = href.strip_prefix("tel:") {
        return check_phone(num, path);
    }
    if href.starts_with('/') && !href.starts_with("//") {
        return if url_chars_ok(href) {
            Ok(())
        } else {
            Err(err(
                path,
                "contains spaces, quotes, angle brackets or control characters",
            ))
        };
    }
    Err(err(
        path,
        format!(
            "{:?} is not an allowed link: use page:<slug>, #anchor, /path, https://, http://, \
             mailto: or tel:",
            href.chars().take(40).collect::<String>()
        ),
    ))
}

fn check_phone(num: &str, path: &str) -> Result<()> {
    let digits = num.bytes().filter(u8::is_ascii_digit).count();
    let ok = (5..=20).contains(&digits)
        && num
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+- ()".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(err(
            path,
            "is not a phone number (digits, spaces, '+', '-', parentheses)",
        ))
    }
}

/// Check an ICP filing number such as `沪ICP备2026012345号-1` or `京ICP证123456号`.
///
/// # Errors
/// A validation error on `path`.
pub fn check_icp(icp: &str, path: &str) -> Result<()> {
    let t = icp.trim();
    let shape = t.chars().count() <= 40
        && (t.contains("ICP备") || t.contains("ICP证"))
        && t.chars().any(|c| c.is_ascii_digit())
        && t.contains('号')
        && !t.chars().any(|c| c.is_control() || "<>\"'".contains(c));
    if shape {
        Ok(())
    } else {
        Err(err(
            path,
            format!("{t:?} is not an ICP filing number like 沪ICP备2026012345号-1"),
        ))
    }
}

fn check_text(t: &Text, path: &str, required: bool, default: crate::model::Locale) -> Result<()> {
    for (locale, s) in t.iter() {
        if s.chars().count() > MAX_TEXT_CHARS {
            return Err(err(
                format!("{path}.{locale}"),
                format!("longer than {MAX_TEXT_CHARS} characters"),
            ));
        }
    }
    if required && t.resolve(default, default).trim().is_empty() {
        return Err(err(path, format!("must have text (at least in {default})")));
    }
    Ok(())
}

struct Ctx<'a> {
    site: &'a Site,
    pages: BTreeSet<&'a str>,
    forms: BTreeSet<&'a str>,
}

impl Ctx<'_> {
    fn text(&self, t: &Text, path: &str, required: bool) -> Result<()> {
        check_text(t, path, required, self.site.default_locale())
    }

    fn asset(&self, id: &str, path: &str, kinds: &[AssetKind]) -> Result<()> {
        let asset = self.site.asset(id).ok_or_else(|| {
            err(
                path,
                format!("refers to asset {id:?}, which the site does not have"),
            )
        })?;
        if !kinds.contains(&asset.kind) {
            return Err(err(
                path,
                format!(
                    "asset {id:?} is a {:?}, expected one of {kinds:?}",
                    asset.kind
                ),
            ));
        }
        Ok(())
    }

    fn opt_asset(&self, id: Option<&String>, path: &str, kinds: &[AssetKind]) -> Result<()> {
        id.map_or(Ok(()), |id| self.asset(id, path, kinds))
    }

    fn link(&self, l: &Link, path: &str) -> Result<()> {
        self.text(&l.label, &format!("{path}.label"), true)?;
        check_href(&l.href, &format!("{path}.href"), &self.pages)
    }

    fn blocks(&self, blocks: &[Block], path: &str, depth: usize, count: &mut usize) -> Result<()> {
        for (i, b) in blocks.iter().enumerate() {
            let p = format!("{path}[{i}]");
            *count += 1;
            if *count > MAX_BLOCKS_PER_PAGE {
                return Err(err(
                    p,
                    format!("a page holds at most {MAX_BLOCKS_PER_PAGE} blocks"),
                ));
            }
            if depth > MAX_DEPTH {
                return Err(err(
                    p,
                    format!("blocks nest {depth} levels deep; at most {MAX_DEPTH} are allowed"),
                ));
            }
            self.block(b, &p, depth, count)?;
        }
        Ok(())
    }

    fn block(&self, b: &Block, p: &str, depth: usize, count: &mut usize) -> Result<()> {
        const PICTURES: &[AssetKind] = &[AssetKind::Image, AssetKind::Poster];
        let f = |field: &str| format!("{p}.{field}");
        match b {
            Block::Hero(h) => {
                self.text(&h.heading, &f("heading"), true)?;
                self.text(&h.subheading, &f("subheading"), false)?;
                self.opt_asset(h.image.as_ref(), &f("image"), PICTURES)?;
                if let Some(cta) = &h.cta {
                    self.link(cta, &f("cta"))?;
                }
            }
            Block::RichText(r) => self.text(&r.markdown, &f("markdown"), true)?,
            Block::ProductGrid(g) => {
                self.text(&g.heading, &f("heading"), false)?;
                columns(g.columns, &f("columns"))?;
                if g.products.is_empty() {
                    return Err(err(f("products"), "must list at least one product"));
                }
                for (j, prod) in g.products.iter().enumerate() {
                    let q = |field: &str| format!("{p}.products[{j}].{field}");
                    self.text(&prod.name, &q("name"), true)?;
                    self.text(&prod.summary, &q("summary"), false)?;
                    self.opt_asset(prod.image.as_ref(), &q("image"), PICTURES)?;
                    for (k, s) in prod.specs.iter().enumerate() {
                        self.text(&s.label, &q(&format!("specs[{k}].label")), true)?;
                        self.text(&s.value, &q(&format!("specs[{k}].value")), true)?;
                    }
                    if let Some(l) = &prod.link {
                        self.link(l, &q("link"))?;
                    }
                }
            }
            Block::CaseStudies(c) => {
                self.text(&c.heading, &f("heading"), false)?;
                for (j, case) in c.cases.iter().enumerate() {
                    let q = |field: &str| format!("{p}.cases[{j}].{field}");
                    self.text(&case.title, &q("title"), true)?;
                    self.text(&case.customer, &q("customer"), false)?;
                    self.text(&case.summary, &q("summary"), true)?;
                    self.opt_asset(case.image.as_ref(), &q("image"), PICTURES)?;
                }
            }
            Block::ContactForm(c) => {
                self.text(&c.heading, &f("heading"), false)?;
                if !self.forms.contains(c.form.as_str()) {
                    return Err(err(
                        f("form"),
                        format!("refers to form {:?}, which the site does not have", c.form),
                    ));
                }
            }
            Block::Map(m) => {
                self.text(&m.heading, &f("heading"), false)?;
                self.text(&m.address, &f("address"), true)?;
                if m.latitude.abs() > Decimal::from(90) {
                    return Err(err(f("latitude"), "must be within -90..90"));
                }
                if m.longitude.abs() > Decimal::from(180) {
                    return Err(err(f("longitude"), "must be within -180..180"));
                }
            }
            Block::Video(v) => {
                self.text(&v.title, &f("title"), true)?;
                self.asset(&v.video, &f("video"), &[AssetKind::Video])?;
                self.opt_asset(v.poster.as_ref(), &f("poster"), PICTURES)?;
                self.opt_asset(v.captions.as_ref(), &f("captions"), &[AssetKind::Captions])?;
            }
            Block::ArticleList(a) => {
                self.text(&a.heading, &f("heading"), false)?;
                if !(1..=50).contains(&a.limit) {
                    return Err(err(f("limit"), "must be within 1..50"));
                }
            }
            Block::Poster(po) => {
                self.asset(&po.image, &f("image"), PICTURES)?;
                if let Some(l) = &po.link {
                    self.link(l, &f("link"))?;
                }
            }
            Block::Section(s) => {
                self.text(&s.heading, &f("heading"), false)?;
                columns(s.columns, &f("columns"))?;
                if let Some(a) = &s.anchor {
                    check_slug(a, &f("anchor"))?;
                }
                self.blocks(&s.children, &f("children"), depth + 1, count)?;
            }
        }
        Ok(())
    }

    fn nav(&self, items: &[NavItem], path: &str, level: usize) -> Result<()> {
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            self.link(&item.link, &format!("{p}.link"))?;
            if !item.children.is_empty() {
                if level >= 2 {
                    return Err(err(
                        format!("{p}.children"),
                        "navigation has at most two levels",
                    ));
                }
                self.nav(&item.children, &format!("{p}.children"), level + 1)?;
            }
        }
        Ok(())
    }

    fn page(&self, page: &Page, p: &str) -> Result<()> {
        if !page.slug.is_empty() {
            check_slug(&page.slug, &format!("{p}.slug"))?;
        }
        self.text(&page.title, &format!("{p}.title"), true)?;
        self.text(&page.seo.title, &format!("{p}.seo.title"), false)?;
        self.text(
            &page.seo.description,
            &format!("{p}.seo.description"),
            false,
        )?;
        for (locale, d) in page.seo.description.iter() {
            if d.chars().count() > 200 {
                return Err(err(
                    format!("{p}.seo.description.{locale}"),
                    "search engines show at most about 200 characters",
                ));
            }
        }
        for (k, kw) in page.seo.keywords.iter().enumerate() {
            if kw.trim().is_empty() || kw.chars().count() > 50 {
                return Err(err(
                    format!("{p}.seo.keywords[{k}]"),
                    "must be 1-50 characters",
                ));
            }
        }
        self.opt_asset(
            page.seo.image.as_ref(),
            &format!("{p}.seo.image"),
            &[AssetKind::Image, AssetKind::Poster],
        )?;
        let mut count = 0;
        self.blocks(&page.blocks, &format!("{p}.blocks"), 1, &mut count)
    }

    fn asset_decl(&self, a: &Asset, p: &str) -> Result<()> {
        check_slug(&a.id, &format!("{p}.id"))?;
        if a.src.starts_with("https://") || a.src.starts_with("http://") {
            check_web_url(&a.src, &format!("{p}.src"))?;
        } else if !is_local_asset_path(&a.src) {
            return Err(err(
                format!("{p}.src"),
                "must be assets/<file> (letters, digits, '.', '_', '-', '/') or an https:// URL",
            ));
        }
        self.text(
            &a.alt,
            &format!("{p}.alt"),
            matches!(a.kind, AssetKind::Image | AssetKind::Poster),
        )
    }

    fn form(&self, form: &FormSpec, p: &str) -> Result<()> {
        check_slug(&form.id, &format!("{p}.id"))?;
        if form.fields.is_empty() {
            return Err(err(
                format!("{p}.fields"),
                "a form needs at least one field",
            ));
        }
        let mut names = BTreeSet::new();
        for (i, field) in form.fields.iter().enumerate() {
            let q = |x: &str| format!("{p}.fields[{i}].{x}");
            let n = &field.name;
            let ok = !n.is_empty()
                && n.len() <= 32
                && n.as_bytes()[0].is_ascii_lowercase()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok || n == crate::forms::HONEYPOT_FIELD {
                return Err(err(
                    q("name"),
                    format!("{n:?} must be [a-z][a-z0-9_]{{0,31}} and not the honeypot name"),
                ));
            }
            if !names.insert(n.as_str()) {
                return Err(err(q("name"), format!("{n:?} is used twice")));
            }
            self.text(&field.label, &q("label"), true)?;
            if !(1..=2000).contains(&field.max_chars) {
                return Err(err(q("max_chars"), "must be within 1..2000"));
            }
            for (k, o) in field.options.iter().enumerate() {
                if o.value.trim().is_empty() || o.value.chars().count() > 100 {
                    return Err(err(
                        q(&format!("options[{k}].value")),
                        "must be 1-100 characters",
                    ));
                }
                self.text(&o.label, &q(&format!("options[{k}].label")), true)?;
            }
            if !field.options.is_empty()
                && matches!(
                    field.kind,
                    FieldKind::Mobile | FieldKind::Email | FieldKind::Message
                )
            {
                return Err(err(
                    q("options"),
                    "mobile, email and message fields take no options",
                ));
            }
        }
        let identifying = form
            .fields
            .iter()
            .any(|f| f.required && matches!(f.kind, FieldKind::Mobile | FieldKind::Email));
        if !identifying {
            return Err(err(
                format!("{p}.fields"),
                "a required mobile or email field is needed so the CRM can identify the lead",
            ));
        }
        self.text(&form.consent.text, &format!("{p}.consent.text"), true)?;
        if form.consent.purpose.trim().is_empty() || form.consent.version.trim().is_empty() {
            return Err(err(
                format!("{p}.consent"),
                "purpose and version must not be blank",
            ));
        }
        self.text(&form.submit_label, &format!("{p}.submit_label"), true)?;
        self.text(&form.success, &format!("{p}.success"), true)?;
        let r = form.rate_limit;
        if !(1..=1000).contains(&r.per_client) {
            return Err(err(
                format!("{p}.rate_limit.per_client"),
                "must be within 1..1000",
            ));
        }
        if !(60..=86_400).contains(&r.window_secs) {
            return Err(err(
                format!("{p}.rate_limit.window_secs"),
                "must be within 60..86400",
            ));
        }
        Ok(())
    }
}

fn columns(n: u8, path: &str) -> Result<()> {
    if (1..=4).contains(&n) {
        Ok(())
    } else {
        Err(err(path, "must be within 1..4"))
    }
}

/// Whether `src` is a safe relative path under `assets/`.
pub fn is_local_asset_path(src: &str) -> bool {
    src.strip_prefix("assets/").is_some_and(|rest| {
        !rest.is_empty()
            && src.len() <= 200
            && rest
                .split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
    })
}

fn check_endpoint(e: &str, path: &str) -> Result<()> {
    if e.starts_with("https://") || e.starts_with("http://") {
        check_web_url(e, path)
    } else if e.starts_with('/') && !e.starts_with("//") && url_chars_ok(e) {
        Ok(())
    } else {
        Err(err(path, "must be a /path or an https:// URL"))
    }
}

impl Site {
    /// Check the whole site; the first problem found is returned, naming its path.
    ///
    /// # Errors
    /// A validation error such as `pages[1].blocks[0].children[2].image: refers to asset
    /// "x", which the site does not have`.
    pub fn validate(&self) -> Result<()> {
        check_slug(&self.id, "id")?;
        check_web_url(&self.base_url, "base_url")?;
        if self.base_url.trim_end_matches('/').matches('/').count() > 2 {
            return Err(err("base_url", "must be an origin without a path"));
        }
        if self.locales.is_empty() {
            return Err(err("locales", "list at least one locale"));
        }
        let distinct: BTreeSet<_> = self.locales.iter().collect();
        if distinct.len() != self.locales.len() {
            return Err(err("locales", "a locale is listed twice"));
        }
        if self.pages.is_empty() || self.pages.len() > MAX_PAGES {
            return Err(err("pages", format!("a site has 1-{MAX_PAGES} pages")));
        }
        let mut pages = BTreeSet::new();
        for (i, p) in self.pages.iter().enumerate() {
            if !pages.insert(p.slug.as_str()) {
                return Err(err(
                    format!("pages[{i}].slug"),
                    format!("{:?} is used twice", p.slug),
                ));
            }
        }
        if !pages.contains("") {
            return Err(err("pages", "one page must be the home page (empty slug)"));
        }
        let mut forms = BTreeSet::new();
        for (i, f) in self.forms.iter().enumerate() {
            if !forms.insert(f.id.as_str()) {
                return Err(err(
                    format!("forms[{i}].id"),
                    format!("{:?} is used twice", f.id),
                ));
            }
        }
        let ctx = Ctx {
            site: self,
            pages,
            forms,
        };
        ctx.text(&self.name, "name", true)?;
        if let Some(ind) = &self.industry {
            check_slug(ind, "industry")?;
        }
        let mut ids = BTreeSet::new();
        for (i, a) in self.assets.iter().enumerate() {
            ctx.asset_decl(a, &format!("assets[{i}]"))?;
            if !ids.insert(a.id.as_str()) {
                return Err(err(
                    format!("assets[{i}].id"),
                    format!("{:?} is used twice", a.id),
                ));
            }
        }
        let t = &self.theme;
        for (c, name) in [
            (&t.primary, "primary"),
            (&t.accent, "accent"),
            (&t.text, "text"),
            (&t.background, "background"),
        ] {
            if !c.is_valid() {
                return Err(err(
                    format!("theme.{name}"),
                    format!("{:?} is not #rrggbb", c.0),
                ));
            }
        }
        if t.radius_px > 24 {
            return Err(err("theme.radius_px", "must be within 0..24"));
        }
        if !(960..=1600).contains(&t.max_width_px) {
            return Err(err("theme.max_width_px", "must be within 960..1600"));
        }
        ctx.opt_asset(t.logo.as_ref(), "theme.logo", &[AssetKind::Image])?;
        ctx.nav(&self.navigation, "navigation", 1)?;
        for (i, f) in self.forms.iter().enumerate() {
            ctx.form(f, &format!("forms[{i}]"))?;
        }
        for (i, p) in self.pages.iter().enumerate() {
            ctx.page(p, &format!("pages[{i}]"))?;
        }
        ctx.text(&self.footer.text, "footer.text", false)?;
        match &self.footer.icp {
            Some(icp) => check_icp(icp, "footer.icp")?,
            None if !self.footer.outside_mainland => {
                return Err(err(
                    "footer.icp",
                    "a site served from mainland China must show its ICP filing number",
                ))
            }
            None => {}
        }
        if let Some(ps) = &self.footer.public_security {
            if ps.chars().count() > 60 || !ps.chars().any(|c| c.is_ascii_digit()) {
                return Err(err("footer.public_security", "is not a filing number"));
            }
        }
        if let Some(phone) = &self.mobile.call_phone {
            check_phone(phone, "mobile.call_phone")?;
        }
        if let Some(c) = &self.endpoints.collect {
            check_endpoint(c, "endpoints.collect")?;
        }
        check_endpoint(&self.endpoints.forms, "endpoints.forms")
    }
}
