//! Offline backends are deterministic for a seed: two independent generators given the same
//! request and seed produce byte-identical output (article, poster, video plan).

use marketingforce_content::image::TemplateImageGenerator;
use marketingforce_content::text::OfflineTextGenerator;
use marketingforce_content::video::TemplateVideoGenerator;
use marketingforce_core::adapters::generation::{
    Audience, ImageRequest, Language, Length, Materials, ProductSpec, TextRequest, VideoRequest,
};
use proptest::prelude::*;

fn request(seed: u64, kw: usize, lang: bool, length: u8) -> TextRequest {
    let keywords = [
        ["数控机床", "加工精度", "五轴联动"],
        ["CNC", "precision", "five-axis"],
    ];
    TextRequest::new(
        ["industrial-machinery", "software-saas", "chemicals"][kw % 3],
        "选型指南",
    )
    .keywords(keywords[usize::from(lang)].iter().take(1 + kw % 3).copied())
    .language(if lang { Language::En } else { Language::ZhCn })
    .length([Length::Short, Length::Medium, Length::Long][usize::from(length % 3)])
    .audience(if kw % 2 == 1 {
        Audience::B2c
    } else {
        Audience::B2b
    })
    .materials(Materials {
        product_name: Some("XK-850".into()),
        product_specs: vec![ProductSpec {
            name: "主轴转速".into(),
            value: "12000 rpm".into(),
        }],
        use_cases: vec!["模具制造".into()],
        regions: vec!["江苏".into()],
        ..Materials::default()
    })
    .seed(seed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn articles_are_deterministic_for_a_seed(seed in any::<u64>(), kw in 0usize..6, lang in any::<bool>(), length in any::<u8>()) {
        let r = request(seed, kw, lang, length);
        let a = OfflineTextGenerator::new().generate_article(&r).unwrap();
        let b = OfflineTextGenerator::new().seeded(99).generate_article(&r).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.provenance.seed, Some(seed));
    }

    #[test]
    fn posters_and_video_plans_are_deterministic_for_a_seed(seed in any::<u64>(), occasion in prop::sample::select(vec![None, Some("spring-festival"), Some("double-11")])) {
        let mut p = ImageRequest::poster("chemicals", "环氧地坪涂料 施工季");
        p.occasion = occasion.map(str::to_string);
        p.body = vec!["耐磨".into(), "防滑".into()];
        p.seed = Some(seed);
        prop_assert_eq!(TemplateImageGenerator::new().generate_image(&p).unwrap().bytes, TemplateImageGenerator::new().generate_image(&p).unwrap().bytes);
        let v = VideoRequest { industry: "chemicals".into(), scenario: "product-showcase".into(), title: "环氧地坪".into(),
            script: vec!["耐磨防滑，适合厂房和仓库。".into(), "施工周期短，二十四小时可通行。".into()], images: vec![], music: None,
            dubbing: false, language: Language::ZhCn, size: Some((360, 640)), seed: Some(seed) };
        let a = TemplateVideoGenerator::new().plan(&v).unwrap();
        let b = TemplateVideoGenerator::new().plan(&v).unwrap();
        prop_assert_eq!(a.storyboard, b.storyboard);
        prop_assert_eq!(a.srt, b.srt);
        prop_assert_eq!(a.frames, b.frames);
    }
}
