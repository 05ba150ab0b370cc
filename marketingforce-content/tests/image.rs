//! T-image: themes, text fitting (wrap, shrink, refuse), picture checks, SVG and PNG output.

#[allow(dead_code)]
mod tools;
#[allow(unused_imports)]
use tools::skip_without;

use marketingforce_content::image::{TemplateImageGenerator, Themes};
use marketingforce_content::ContentError;
use marketingforce_core::adapters::generation::{ImageAsset, ImageFormat, ImageKind, ImageRequest};

/// A valid 1×1 PNG.
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn poster() -> ImageRequest {
    let mut r = ImageRequest::poster("industrial-machinery", "XK-850 立式加工中心");
    r.subheadline = Some("高刚性 · 高精度 · 高效率".into());
    r.body = vec![
        "定位精度 ±0.005 mm".into(),
        "主轴转速 12000 rpm".into(),
        "长三角 48 小时上门服务".into(),
    ];
    r.call_to_action = Some("扫码预约现场演示".into());
    r.contact = Some("电话 0512-6000 0000".into());
    r.images = vec![ImageAsset {
        name: "machine.png".into(),
        bytes: PNG_1X1.to_vec(),
    }];
    r.seed = Some(3);
    r
}

#[test]
fn poster_svg_embeds_picture_and_text_deterministically() {
    let g = TemplateImageGenerator::new();
    let a = g.generate_image(&poster()).unwrap();
    let b = g.generate_image(&poster()).unwrap();
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(
        (a.width, a.height, a.format),
        (1080, 1920, ImageFormat::Svg)
    );
    let svg = String::from_utf8(a.bytes).unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert!(svg.contains("data:image/png;base64,iVBORw0KGgo"));
    for text in [
        "XK-850 立式加工中心",
        "扫码预约现场演示",
        "电话 0512-6000 0000",
        "• 定位精度 ±0.005 mm",
    ] {
        assert!(svg.contains(text), "{text}");
    }
    assert_eq!(a.provenance.template.as_deref(), Some("industrial-blue"));
    // Escaping: user text cannot break the markup.
    let mut r = poster();
    r.headline = "<b>A&B</b>".into();
    let svg = String::from_utf8(g.generate_image(&r).unwrap().bytes).unwrap();
    assert!(svg.contains("&lt;b&gt;A&amp;B&lt;/b&gt;"));
}

#[test]
fn long_text_is_wrapped_or_shrunk_and_never_cut() {
    let g = TemplateImageGenerator::new();
    let mut r = poster();
    r.headline = "年度新品发布：五轴联动加工中心与智能产线解决方案".into();
    let img = g.generate_image(&r).unwrap();
    assert!(
        img.notes.iter().any(|n| n.starts_with("headline:")),
        "{:?}",
        img.notes
    );
    let svg = String::from_utf8(img.bytes).unwrap();
    let visible: String = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| t.split('>').nth(1))
        .map(|t| t.trim_end_matches("</text"))
        .collect();
    assert!(visible.contains("年度新品发布：五轴联动") && visible.contains("解决方案"));
    r.headline = "很长的标题".repeat(60);
    match g.generate_image(&r).unwrap_err() {
        ContentError::TextDoesNotFit { field, reason } => {
            assert_eq!(field, "headline");
            assert!(reason.contains("minimum"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_pictures_are_named() {
    let g = TemplateImageGenerator::new();
    let mut r = poster();
    r.images = vec![ImageAsset {
        name: "empty.png".into(),
        bytes: vec![],
    }];
    assert!(
        matches!(g.generate_image(&r).unwrap_err(), ContentError::BadImage { name, reason } if name.contains("images[0]") && reason.contains("empty"))
    );
    r.images = vec![ImageAsset {
        name: "brochure.pdf".into(),
        bytes: b"%PDF-1.7 ...".to_vec(),
    }];
    let e = g.generate_image(&r).unwrap_err();
    assert!(
        e.to_string().contains("brochure.pdf") && e.to_string().contains("not an image"),
        "{e}"
    );
    r.images = vec![ImageAsset {
        name: "cut.png".into(),
        bytes: PNG_1X1[..12].to_vec(),
    }];
    assert!(matches!(
        g.generate_image(&r).unwrap_err(),
        ContentError::BadImage { .. }
    ));
    let mut p = ImageRequest::poster("consumer-goods", "新品上市");
    p.kind = ImageKind::ProductImage;
    assert!(
        matches!(g.generate_image(&p).unwrap_err(), ContentError::BadImage { name, reason } if name == "images[0]" && reason.contains("missing"))
    );
}

#[test]
fn banners_product_images_and_occasion_themes() {
    let g = TemplateImageGenerator::new();
    let mut b = poster();
    b.kind = ImageKind::Banner;
    b.occasion = Some("double-11".into());
    let img = g.generate_image(&b).unwrap();
    assert_eq!((img.width, img.height), (1920, 600));
    assert_eq!(img.provenance.template.as_deref(), Some("double-11"));
    assert!(String::from_utf8(img.bytes).unwrap().contains("双十一"));
    let mut p = ImageRequest::poster("consumer-goods", "轻薄保温杯");
    p.kind = ImageKind::ProductImage;
    p.images = vec![ImageAsset {
        name: "cup.png".into(),
        bytes: PNG_1X1.to_vec(),
    }];
    p.call_to_action = Some("立即购买".into());
    assert_eq!(g.generate_image(&p).unwrap().width, 800);
    p.body = vec!["x".into()];
    assert!(g
        .generate_image(&p)
        .unwrap_err()
        .to_string()
        .contains("body"));
    let mut t = poster();
    t.template = Some("nope".into());
    assert!(matches!(
        g.generate_image(&t).unwrap_err(),
        ContentError::Core(marketingforce_core::Error::NotFound { .. })
    ));
    let themes = Themes::builtin();
    assert_eq!(
        themes
            .select(None, "software-saas", Some("recruitment"), None)
            .unwrap()
            .id,
        "recruitment-sky"
    );
    assert_eq!(
        themes.select(None, "unknown", None, None).unwrap().id,
        "default-slate"
    );
    assert!(Themes::from_json(r##"{"version":1,"themes":[{"id":"a","background":["#000","#fff"],"accent":"#ffffff","text":"#ffffff","subtext":"#ffffff","pattern":"none"}]}"##).unwrap_err().to_string().contains("themes[0].background[0]"));
}

#[cfg(not(feature = "raster"))]
#[test]
fn png_needs_the_raster_feature() {
    let mut r = poster();
    r.format = ImageFormat::Png;
    assert!(TemplateImageGenerator::new()
        .generate_image(&r)
        .unwrap_err()
        .to_string()
        .contains("raster"));
}

#[cfg(feature = "raster")]
#[test]
fn png_is_rasterised_with_a_cjk_font_and_missing_fonts_are_reported() {
    use marketingforce_content::image::raster::Rasterizer;
    let raster = match Rasterizer::system() {
        Ok(r) => r,
        Err(e) => return skip_without("a CJK font (fonts-wqy-microhei)", e),
    };
    let g = TemplateImageGenerator::new().with_rasterizer(raster);
    let mut r = poster();
    r.format = ImageFormat::Png;
    let img = g.generate_image(&r).unwrap();
    assert!(img.bytes.starts_with(&[0x89, b'P', b'N', b'G']));
    assert_eq!((img.width, img.height), (1080, 1920));
    assert!(img.provenance.backend.ends_with("+resvg"));
    if std::env::var_os("MF_WRITE_SAMPLES").is_some() {
        std::fs::write("/tmp/poster-sample.png", &img.bytes).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    match Rasterizer::with_fonts(&[dir.path().to_path_buf()]).unwrap_err() {
        ContentError::FontsMissing { searched, .. } => {
            assert!(searched.contains(&dir.path().display().to_string()))
        }
        other => panic!("{other:?}"),
    }
}
