//! Rendering and validation: industry templates, determinism, escaping, SEO files, the
//! derived mobile pages, and validation errors that name the path.

use marketingforce_sites::industry::IndustryTemplate;
use marketingforce_sites::model::{Block, Site, Text};
use marketingforce_sites::render::{RenderInputs, Renderer};
use serde_json::json;

fn machinery() -> Site {
    IndustryTemplate::Machinery.site().unwrap()
}

fn field_of(site: &Site) -> String {
    site.validate()
        .unwrap_err()
        .field()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn industry_templates_render_every_page_in_every_variant() {
    for t in IndustryTemplate::ALL {
        let site = t.site().unwrap();
        let out = Renderer::new()
            .render(&site, &RenderInputs::placeholder_assets(&site))
            .unwrap();
        let variants = if site.mobile.enabled { 2 } else { 1 };
        assert_eq!(
            out.pages().count(),
            site.pages.len() * site.locales.len() * variants
        );
        for page in out.pages() {
            let html = out.text(page).unwrap();
            assert!(html.contains("<link rel=\"canonical\""), "{page}");
            assert!(html.contains("ICP备"), "{page}");
            assert!(html.contains("<html lang=\""), "{page}");
        }
        assert!(out.files.contains_key("sitemap.xml") && out.files.contains_key("robots.txt"));
    }
}

#[test]
fn output_is_byte_identical_for_the_same_input() {
    let site = machinery();
    let inputs = RenderInputs::placeholder_assets(&site);
    let a = Renderer::new().render(&site, &inputs).unwrap();
    // A round trip through JSON (map order, defaults) changes nothing either.
    let again: Site = serde_json::from_str(&serde_json::to_string(&site).unwrap()).unwrap();
    let b = Renderer::new().render(&again, &inputs).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.digest(), b.digest());
    let mut changed = site.clone();
    changed.updated = "2026-03-03".parse().unwrap();
    assert_ne!(
        Renderer::new().render(&changed, &inputs).unwrap().digest(),
        a.digest()
    );
}

#[test]
fn every_text_is_escaped() {
    let mut site = machinery();
    let attack = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";
    site.name = Text::zh(attack);
    site.footer.text = Text::zh(attack);
    if let Block::Hero(h) = &mut site.pages[0].blocks[0] {
        h.heading = Text::zh(attack);
        h.subheading = Text::zh(attack);
    }
    site.pages[0].seo.description = Text::zh("<meta http-equiv=refresh>");
    site.assets[1].alt = Text::zh(attack);
    site.forms[0].consent.text = Text::zh(attack);
    site.forms[0].fields[0].label = Text::zh(attack);
    let out = Renderer::new()
        .render(&site, &RenderInputs::placeholder_assets(&site))
        .unwrap();
    for page in out.pages() {
        let html = out.text(page).unwrap();
        assert!(!html.contains("<script>alert"), "{page}");
        assert!(!html.contains("<img src=x"), "{page}");
        assert!(!html.contains("<meta http-equiv"), "{page}");
    }
    let home = out.text("index.html").unwrap();
    assert!(home.contains(
        "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;"
    ));
    // Rich text: Markdown's links to anything but http(s) stay text; HTML is shown as text.
    site.pages[0].blocks[1] = serde_json::from_value(json!({
        "type": "rich_text",
        "markdown": {"zh-CN": "[点我](javascript:alert(1)) <b onclick=x>粗</b>"}
    }))
    .unwrap();
    let out = Renderer::new()
        .render(&site, &RenderInputs::placeholder_assets(&site))
        .unwrap();
    let home = out.text("index.html").unwrap();
    assert!(!home.contains("href=\"javascript:"));
    assert!(home.contains("&lt;b onclick=x&gt;"));
}

#[test]
fn seo_files_and_alternates() {
    let site = machinery();
    let out = Renderer::new()
        .render(&site, &RenderInputs::placeholder_assets(&site))
        .unwrap();
    let products = out.text("products.html").unwrap();
    assert!(products.contains(
        "<link rel=\"canonical\" href=\"https://www.example-machinery.cn/products.html\">"
    ));
    assert!(products
        .contains("hreflang=\"en\" href=\"https://www.example-machinery.cn/en/products.html\""));
    assert!(products.contains(
        "hreflang=\"x-default\" href=\"https://www.example-machinery.cn/products.html\""
    ));
    assert!(products.contains("media=\"only screen and (max-width: 640px)\" href=\"https://www.example-machinery.cn/m/products.html\""));
    let mobile = out.text("m/en/products.html").unwrap();
    assert!(mobile.contains(
        "<link rel=\"canonical\" href=\"https://www.example-machinery.cn/en/products.html\">"
    ));
    assert!(mobile.contains("class=\"variant-mobile\""));
    assert!(mobile.contains("href=\"../../assets/site.css\""));
    let sitemap = out.text("sitemap.xml").unwrap();
    assert_eq!(sitemap.matches("<url>").count(), site.pages.len() * 2);
    assert!(
        !sitemap.contains("/m/"),
        "mobile pages are alternates, not sitemap entries"
    );
    assert!(sitemap.contains("<lastmod>2026-03-01</lastmod>"));
    let robots = out.text("robots.txt").unwrap();
    assert!(robots.contains("Sitemap: https://www.example-machinery.cn/sitemap.xml"));
    assert!(robots.contains("Disallow: /mf/collect"));
}

#[test]
fn the_mobile_variant_is_derived_from_the_pc_page() {
    let site = machinery();
    let out = Renderer::new()
        .render(&site, &RenderInputs::placeholder_assets(&site))
        .unwrap();
    let pc = out.text("index.html").unwrap();
    let m = out.text("m/index.html").unwrap();
    assert!(pc.contains("cols cols-2") && !m.contains("cols cols-2\">\n<div class=\"block rich"));
    assert!(m.contains("class=\"grid cols-2\"") && pc.contains("class=\"grid cols-3\""));
    // The first product has five specifications; the mobile card shows four.
    let pc_specs = pc.matches("<dt>").count();
    let m_specs = m.matches("<dt>").count();
    assert_eq!(pc_specs - m_specs, 1);
    assert!(m.contains("class=\"callbar\"") && m.contains("href=\"tel:021-60000000\""));
    // Without the mobile variant there are no /m/ pages and no mobile alternate.
    let mut pc_only = site.clone();
    pc_only.mobile.enabled = false;
    let out = Renderer::new()
        .render(&pc_only, &RenderInputs::placeholder_assets(&pc_only))
        .unwrap();
    assert!(!out.files.keys().any(|k| k.starts_with("m/")));
    assert!(!out.text("index.html").unwrap().contains("max-width: 640px"));
}

#[test]
fn locales_fall_back_to_the_default() {
    let mut site = machinery();
    if let Block::Hero(h) = &mut site.pages[0].blocks[0] {
        h.heading = Text::zh("只有中文的标题");
    }
    let out = Renderer::new()
        .render(&site, &RenderInputs::placeholder_assets(&site))
        .unwrap();
    let en = out.text("en/index.html").unwrap();
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("只有中文的标题"));
    assert!(en.contains("Products"));
}

#[test]
fn validation_names_the_path() {
    // Too deep: sections nested five levels.
    let mut site = machinery();
    let mut block = json!({"type": "rich_text", "markdown": {"zh-CN": "x"}});
    for _ in 0..5 {
        block = json!({"type": "section", "children": [block]});
    }
    site.pages[1]
        .blocks
        .push(serde_json::from_value(block).unwrap());
    assert_eq!(
        field_of(&site),
        "pages[1].blocks[2].children[0].children[0].children[0].children[0]"
    );

    // A missing asset deep in the tree.
    let mut site = machinery();
    site.pages[0].blocks[1] = serde_json::from_value(json!({"type": "section", "children": [
        {"type": "product_grid", "products": [{"name": {"zh-CN": "A"}, "image": "nope"}]}
    ]}))
    .unwrap();
    assert_eq!(
        field_of(&site),
        "pages[0].blocks[1].children[0].products[0].image"
    );

    // Bad URLs.
    let mut site = machinery();
    site.navigation[1].link.href = "javascript:alert(1)".into();
    assert_eq!(field_of(&site), "navigation[1].link.href");
    let mut site = machinery();
    site.navigation[1].link.href = "page:no-such-page".into();
    assert_eq!(field_of(&site), "navigation[1].link.href");
    let mut site = machinery();
    site.assets[0].src = "assets/../../etc/passwd".into();
    assert_eq!(field_of(&site), "assets[0].src");
    let mut site = machinery();
    site.base_url = "https://EXAMPLE.cn\"/>".into();
    assert_eq!(field_of(&site), "base_url");

    // Colours go into CSS: only #rrggbb.
    let mut site = machinery();
    site.theme.primary.0 = "red;}body{display:none".into();
    assert_eq!(field_of(&site), "theme.primary");

    // Filing number required in mainland China.
    let mut site = machinery();
    site.footer.icp = None;
    assert_eq!(field_of(&site), "footer.icp");
    site.footer.outside_mainland = true;
    site.validate().unwrap();

    // Images need alt text; forms need an identifying field and a real form reference.
    let mut site = machinery();
    site.assets[1].alt = Text::default();
    assert_eq!(field_of(&site), "assets[1].alt");
    let mut site = machinery();
    site.forms[0].fields[1].required = false;
    assert_eq!(field_of(&site), "forms[0].fields");
    let mut site = machinery();
    site.pages[3].blocks[0] =
        serde_json::from_value(json!({"type": "contact_form", "form": "other"})).unwrap();
    assert_eq!(field_of(&site), "pages[3].blocks[0].form");

    // Unknown fields and wrong types are refused on load, naming the path.
    let mut v: serde_json::Value =
        serde_json::from_str(IndustryTemplate::Machinery.json()).unwrap();
    v["pages"][0]["blocks"][0]["colour"] = json!("red");
    let e = Site::from_json(&v.to_string()).unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
    let mut v: serde_json::Value =
        serde_json::from_str(IndustryTemplate::Machinery.json()).unwrap();
    v["pages"][2]["blocks"][1]["latitude"] = json!("north");
    let e = Site::from_json(&v.to_string()).unwrap_err();
    assert_eq!(e.field(), Some("pages[2].blocks[1]"), "{e}");
}

#[test]
fn missing_asset_files_are_refused_before_rendering() {
    let site = machinery();
    let mut inputs = RenderInputs::placeholder_assets(&site);
    inputs.files.remove("assets/poster.svg");
    let e = Renderer::new().render(&site, &inputs).unwrap_err();
    assert_eq!(e.field(), Some("assets[2].src"));
}

#[test]
fn writing_replaces_the_directory_whole() {
    let site = machinery();
    let out = Renderer::new()
        .render(&site, &RenderInputs::placeholder_assets(&site))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("site");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("stale.html"), "old").unwrap();
    out.write_to(&target).unwrap();
    assert!(!target.join("stale.html").exists());
    assert_eq!(
        std::fs::read(target.join("m/en/index.html")).unwrap(),
        out.files["m/en/index.html"]
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn the_demo_site_is_deterministic_and_has_articles_and_a_poster() {
    let a = marketingforce_sites::demo::jinggong().unwrap();
    let b = marketingforce_sites::demo::jinggong().unwrap();
    let ra = Renderer::new().render(&a.site, &a.inputs).unwrap();
    let rb = Renderer::new().render(&b.site, &b.inputs).unwrap();
    assert_eq!(ra.digest(), rb.digest());
    assert!(ra.text("assets/poster.svg").unwrap().starts_with("<svg"));
    assert!(ra.files.contains_key("articles/article-1.html"));
    let home = ra.text("index.html").unwrap();
    assert!(
        home.contains("articles/article-2.html"),
        "the article list links the newest first"
    );
    assert!(home.find("article-2").unwrap() < home.find("article-1").unwrap());
}
