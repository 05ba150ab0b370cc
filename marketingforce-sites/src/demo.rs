//! 上海精工's official site for the quickstart: the machinery template made theirs, with a
//! poster from T-image and two articles from T-text, ready to publish or write to a directory.
//!
//! ```
//! let demo = marketingforce_sites::demo::jinggong().unwrap();
//! assert_eq!(demo.site.id, "jinggong");
//! let dir = tempfile::tempdir().unwrap();
//! let out = marketingforce_sites::demo::write_jinggong_site(&dir.path().join("site")).unwrap();
//! assert!(dir.path().join("site/index.html").exists());
//! assert!(out.text("index.html").unwrap().contains("上海精工机械有限公司"));
//! ```

use std::path::Path;

use chrono::NaiveDate;
use marketingforce_content::image::TemplateImageGenerator;
use marketingforce_content::text::OfflineTextGenerator;
use marketingforce_core::adapters::generation::{
    ContactDetails, ImageRequest, Materials, TextRequest,
};

use crate::error::{Result, SitesError};
use crate::industry::IndustryTemplate;
use crate::model::{Locale, Site, Text};
use crate::render::{PublishedArticle, RenderInputs, RenderedSite, Renderer};

/// The tenant's name, as in the quickstart's cast.
pub const JINGGONG: &str = "上海精工机械有限公司";

/// A site with its inputs.
#[derive(Debug, Clone)]
pub struct DemoSite {
    /// The site.
    pub site: Site,
    /// Asset bytes and articles.
    pub inputs: RenderInputs,
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap_or(NaiveDate::MIN)
}

fn generation(e: impl std::fmt::Display) -> SitesError {
    SitesError::validation("demo", format!("content generation failed: {e}"))
}

/// 上海精工's site: deterministic (same bytes on every run).
///
/// # Errors
/// Never in practice (the template and generators are checked by the tests).
pub fn jinggong() -> Result<DemoSite> {
    let mut site = IndustryTemplate::Machinery.site()?;
    site.id = "jinggong".into();
    site.name = Text::zh_en(JINGGONG, "Shanghai Jinggong Machinery Co., Ltd.");
    site.base_url = "https://www.jinggong.example".into();
    site.updated = day("2026-03-02");
    site.footer.text = Text::zh_en(
        "上海精工机械有限公司 · 上海市嘉定区示例路 88 号 · 电话 021-6000 0000",
        "Shanghai Jinggong Machinery Co., Ltd. · 88 Example Road, Jiading, Shanghai · +86 21 6000 0000",
    );
    site.footer.icp = Some("沪ICP备2026012345号-1".into());
    site.footer.public_security = None;
    for a in &mut site.assets {
        if a.id == "logo" {
            a.alt = Text::zh_en("上海精工标志", "Jinggong logo");
        }
    }
    let mut inputs = RenderInputs::placeholder_assets(&site);

    let mut poster = ImageRequest::poster("industrial-machinery", "XK-850 立式加工中心 春季订货会");
    poster.subheadline = Some("高刚性 · 高精度 · 高效率".into());
    poster.body = vec!["定位精度 ±0.005 mm".into(), "长三角 48 小时上门服务".into()];
    poster.call_to_action = Some("预约现场演示".into());
    poster.contact = Some("电话 021-6000 0000".into());
    poster.seed = Some(7);
    let image = TemplateImageGenerator::new()
        .generate_image(&poster)
        .map_err(generation)?;
    inputs.files.insert("assets/poster.svg".into(), image.bytes);

    let generator = OfflineTextGenerator::new();
    for (i, (topic, keyword, date)) in [
        ("立式加工中心选购指南", "加工中心", "2026-02-26"),
        ("数控车床日常保养要点", "数控车床", "2026-03-01"),
    ]
    .into_iter()
    .enumerate()
    {
        let request = TextRequest::new("industrial-machinery", topic)
            .keywords([keyword])
            .materials(Materials {
                product_name: Some("XK-850 立式加工中心".into()),
                use_cases: vec!["汽车零部件加工".into()],
                contact: Some(ContactDetails {
                    phone: Some("021-6000 0000".into()),
                    ..Default::default()
                }),
                ..Materials::default()
            })
            .seed(42 + i as u64);
        let article = generator.generate_article(&request).map_err(generation)?;
        inputs.articles.push(PublishedArticle::from_generated(
            format!("article-{}", i + 1),
            &article,
            day(date),
        ));
    }
    debug_assert_eq!(site.default_locale(), Locale::ZhCn);
    site.validate()?;
    Ok(DemoSite { site, inputs })
}

/// Render 上海精工's site and write it to `dir` (replacing it; see
/// [`RenderedSite::write_to`]).
///
/// # Errors
/// [`SitesError::Io`] naming the path.
pub fn write_jinggong_site(dir: &Path) -> Result<RenderedSite> {
    let demo = jinggong()?;
    let out = Renderer::new().render(&demo.site, &demo.inputs)?;
    out.write_to(dir)?;
    Ok(out)
}
