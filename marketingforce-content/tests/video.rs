//! T-video: storyboard, subtitles (properties of the Chinese line rules), dubbing script, and a
//! real MP4 through ffmpeg when the feature is on.

#[allow(dead_code)]
mod tools;
#[allow(unused_imports)]
use tools::skip_without;

use marketingforce_content::video::storyboard::{
    plan, SceneKind, VideoTemplates, KNOWN_TRANSITIONS,
};
use marketingforce_content::video::subtitles::{cues, split_lines, to_srt, to_vtt};
use marketingforce_content::video::TemplateVideoGenerator;
use marketingforce_content::ContentError;
use marketingforce_core::adapters::generation::{ImageAsset, Language, VideoRequest};
use proptest::prelude::*;

fn request() -> VideoRequest {
    VideoRequest {
        industry: "industrial-machinery".into(),
        scenario: "factory-tour".into(),
        title: "走进苏州精机工厂".into(),
        script: vec![
            "我们拥有两万平方米的现代化厂房，三条自动化生产线。".into(),
            "每台设备出厂前都经过七十二小时连续运行测试，确保稳定可靠。".into(),
            "长三角客户四十八小时内上门安装调试。".into(),
        ],
        images: vec![],
        music: None,
        dubbing: false,
        language: Language::ZhCn,
        size: Some((360, 640)),
        seed: Some(5),
    }
}

#[test]
fn storyboard_is_contiguous_deterministic_and_validated() {
    let t = VideoTemplates::builtin();
    let sb = plan(&t, &request(), Some("欢迎预约参观 0512-6000 0000")).unwrap();
    assert_eq!(sb.template, "factory-tour");
    assert_eq!(sb.scenes.first().unwrap().kind, SceneKind::Title);
    assert_eq!(sb.scenes.last().unwrap().kind, SceneKind::End);
    let mut at = 0;
    for s in &sb.scenes {
        assert_eq!(s.start_ms, at);
        assert!(s.duration_ms >= 2 * sb.transition_ms);
        at += s.duration_ms;
        if let Some(tr) = &s.transition_in {
            assert!(KNOWN_TRANSITIONS.contains(&tr.as_str()));
        }
    }
    assert_eq!(sb.duration_ms, at);
    assert!(sb.music.is_some());
    assert_eq!(
        plan(&t, &request(), None).unwrap(),
        plan(&t, &request(), None).unwrap()
    );
    let mut r = request();
    r.script = vec!["  ".into()];
    assert!(plan(&t, &r, None)
        .unwrap_err()
        .to_string()
        .contains("script"));
    let mut r = request();
    r.music = Some("no-such-track".into());
    assert!(plan(&t, &r, None)
        .unwrap_err()
        .to_string()
        .contains("music"));
    let mut r = request();
    r.size = Some((361, 640));
    assert!(plan(&t, &r, None).unwrap_err().to_string().contains("size"));
}

#[test]
fn subtitle_files_are_well_formed() {
    let sb = plan(&VideoTemplates::builtin(), &request(), None).unwrap();
    let cs = cues(&sb);
    let srt = to_srt(&cs);
    assert!(srt.starts_with("1\n00:00:0"), "{srt}");
    assert!(srt.contains(" --> ") && srt.contains(",") && srt.ends_with("\n\n"));
    let vtt = to_vtt(&cs);
    assert!(vtt.starts_with("WEBVTT\n\n00:00:0"), "{vtt}");
    assert_eq!(srt.matches(" --> ").count(), cs.len());
    let en = split_lines("Every machine runs for seventy-two hours before it leaves the factory, so it arrives ready to work.", Language::En);
    assert!(en.iter().all(|l| l.chars().count() <= 42), "{en:?}");
}

fn zh_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(vec!['我', '们', '工', '厂', '机', '床', '精', '度', '服', '务', '客', '户', '长', '三', '角', '测', '试']),
            1 => prop::sample::select(vec!['，', '。', '、', '！', '？']),
        ],
        1..120,
    )
    .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Chinese subtitle lines never exceed 16 characters, lose no character except
    /// clause-final punctuation, and cues are ordered, non-overlapping and inside their scene.
    #[test]
    fn chinese_subtitle_rules_hold(paragraphs in prop::collection::vec(zh_text(), 1..5)) {
        for p in &paragraphs {
            let lines = split_lines(p, Language::ZhCn);
            for l in &lines {
                prop_assert!(l.chars().count() <= 16, "{:?}", l);
                prop_assert!(!l.is_empty());
            }
            let strip = |s: &str| s.chars().filter(|c| !"，。、；：".contains(*c)).collect::<String>();
            prop_assert_eq!(strip(&lines.concat()), strip(p));
        }
        let mut req = request();
        req.script = paragraphs.clone();
        if let Ok(sb) = plan(&VideoTemplates::builtin(), &req, None) {
            let cs = cues(&sb);
            for w in cs.windows(2) {
                prop_assert!(w[0].end_ms <= w[1].start_ms);
            }
            for c in &cs {
                prop_assert!(c.start_ms < c.end_ms && c.end_ms <= sb.duration_ms);
            }
        }
    }
}

#[tokio::test]
async fn plan_only_without_renderer_and_dubbing_needs_an_engine() {
    let g = TemplateVideoGenerator::new().end_caption("扫码预约参观");
    let (v, p) = g.generate_video(&request()).await.unwrap();
    assert!(v.bytes.is_empty() && v.media_type.is_empty());
    assert_eq!(v.subtitles.len(), 2);
    assert!(v.dubbing_script.contains("七十二小时"));
    assert_eq!(p.frames.len(), 5);
    assert!(p.frames[4].contains("扫码预约参观"));
    let mut r = request();
    r.dubbing = true;
    assert!(g
        .generate_video(&r)
        .await
        .unwrap_err()
        .to_string()
        .contains("dubbing"));
    let mut r = request();
    r.images = vec![ImageAsset {
        name: "a.jpg".into(),
        bytes: b"not a picture".to_vec(),
    }];
    assert!(matches!(
        g.generate_video(&r).await.unwrap_err(),
        ContentError::BadImage { .. }
    ));
}

#[cfg(feature = "tts")]
#[tokio::test]
async fn espeak_speaks_or_is_named_missing() {
    use marketingforce_content::video::tts::{EspeakSynthesizer, SpeechSynthesizer};
    let missing = EspeakSynthesizer::new().program("/nonexistent/espeak-ng");
    match missing
        .synthesize("你好", Language::ZhCn)
        .await
        .unwrap_err()
    {
        ContentError::ToolMissing { tool, .. } => assert_eq!(tool, "espeak-ng"),
        other => panic!("{other:?}"),
    }
    let speech = match EspeakSynthesizer::new()
        .synthesize("欢迎参观我们的工厂", Language::ZhCn)
        .await
    {
        Ok(s) => s,
        Err(e @ ContentError::ToolMissing { .. }) => return skip_without("espeak-ng", e),
        Err(e) => panic!("{e}"),
    };
    assert!(speech.wav.starts_with(b"RIFF"));
    assert!(speech.duration_ms > 500, "{}", speech.duration_ms);
}

#[cfg(feature = "ffmpeg")]
#[tokio::test]
async fn ffmpeg_renders_a_real_mp4_or_is_named_missing() {
    use marketingforce_content::image::raster::Rasterizer;
    use marketingforce_content::video::render::FfmpegRenderer;
    use std::sync::Arc;

    let raster = match Rasterizer::system() {
        Ok(r) => r,
        Err(e) => return skip_without("a CJK font (fonts-wqy-microhei)", e),
    };
    let absent = TemplateVideoGenerator::new().with_renderer(Arc::new(
        FfmpegRenderer::new(raster.clone()).program("/nonexistent/ffmpeg"),
    ));
    match absent.generate_video(&request()).await.unwrap_err() {
        ContentError::ToolMissing { tool, hint } => {
            assert_eq!(tool, "ffmpeg");
            assert!(hint.contains("ffmpeg"));
        }
        other => panic!("{other:?}"),
    }

    let mut g = TemplateVideoGenerator::new().with_renderer(Arc::new(FfmpegRenderer::new(raster)));
    let mut req = request();
    #[cfg(feature = "tts")]
    {
        g = g.with_speech(Arc::new(
            marketingforce_content::video::tts::EspeakSynthesizer::new(),
        ));
        req.dubbing = true;
    }
    g = g.end_caption("扫码预约参观");
    let (video, plan) = match g.generate_video(&req).await {
        Ok(v) => v,
        Err(e @ ContentError::ToolMissing { .. }) => return skip_without("ffmpeg / espeak-ng", e),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(video.media_type, "video/mp4");
    assert_eq!(&video.bytes[4..8], b"ftyp");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    std::fs::write(&path, &video.bytes).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe comes with ffmpeg");
    let out = String::from_utf8_lossy(&probe.stdout);
    assert!(
        out.contains("codec_type=video")
            && out.contains("codec_type=audio")
            && out.contains("codec_type=subtitle"),
        "{out}"
    );
    let secs: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|d| d.parse().ok())
        .unwrap();
    let planned = plan.storyboard.duration_ms as f64 / 1000.0;
    assert!((secs - planned).abs() < 0.5, "{secs} vs {planned}");
}

/// A one-template library (the fallback) with the given durations, as JSON.
fn templates_json(title: u64, end: u64, min: u64, max: u64, transition: u64) -> String {
    format!(
        r#"{{"version":1,"music":[{{"id":"m","title":"M","mood":"calm","bpm":90,"tone_hz":220.0}}],
        "templates":[{{"id":"general","name":"通用","scenarios":[],"theme":"default-slate",
        "transitions":["fade"],"music":["m"],"title_ms":{title},"end_ms":{end},
        "min_scene_ms":{min},"max_scene_ms":{max},"transition_ms":{transition}}}]}}"#
    )
}

fn duration_ms() -> impl Strategy<Value = u64> {
    prop_oneof![0..20_000u64, any::<u64>(), Just(u64::MAX)]
}

#[test]
fn huge_template_durations_are_refused_naming_the_field() {
    for json in [
        templates_json(2500, 3000, 3000, 9000, u64::MAX),
        templates_json(u64::MAX, 3000, 3000, 9000, 500),
        templates_json(2500, u64::MAX, 3000, 9000, 500),
        templates_json(2500, 3000, 3000, u64::MAX, 500),
    ] {
        let e = VideoTemplates::from_json(&json).unwrap_err().to_string();
        assert!(e.contains("templates[0]"), "{e}");
    }
}

#[tokio::test]
async fn huge_timelines_and_speech_never_overflow() {
    use marketingforce_content::video::tts::{Speech, SpeechSynthesizer};
    use std::sync::Arc;

    // A storyboard is data (it deserialises): subtitles of any timeline are computed.
    let mut sb = plan(&VideoTemplates::builtin(), &request(), None).unwrap();
    for s in &mut sb.scenes {
        s.start_ms = u64::MAX - 1;
        s.duration_ms = u64::MAX;
    }
    sb.transition_ms = u64::MAX;
    let cs = cues(&sb);
    assert!(!cs.is_empty());
    assert!(to_srt(&cs).contains(" --> "));

    /// A speech engine reporting an absurd length.
    #[derive(Debug)]
    struct Endless;
    #[async_trait::async_trait]
    impl SpeechSynthesizer for Endless {
        fn name(&self) -> &str {
            "endless"
        }
        async fn synthesize(
            &self,
            _text: &str,
            _language: Language,
        ) -> marketingforce_content::Result<Speech> {
            Ok(Speech {
                wav: Vec::new(),
                duration_ms: u64::MAX,
            })
        }
    }
    let g = TemplateVideoGenerator::new().with_speech(Arc::new(Endless));
    let mut r = request();
    r.dubbing = true;
    let (v, plan) = g.generate_video(&r).await.unwrap();
    assert_eq!(v.duration_ms, u64::MAX);
    assert!(plan.srt.contains(" --> "));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Template durations are data: any numbers are either refused with the template named, or
    /// planned into a contiguous timeline and subtitles without overflow.
    #[test]
    fn template_durations_are_refused_or_planned(
        title in duration_ms(),
        end in duration_ms(),
        min in duration_ms(),
        max in duration_ms(),
        transition in duration_ms(),
    ) {
        match VideoTemplates::from_json(&templates_json(title, end, min, max, transition)) {
            Ok(t) => {
                let sb = plan(&t, &request(), None).unwrap();
                prop_assert_eq!(sb.duration_ms, sb.scenes.iter().map(|s| s.duration_ms).sum::<u64>());
                prop_assert!(to_srt(&cues(&sb)).contains(" --> "));
            }
            Err(e) => prop_assert!(e.to_string().contains("templates[0]"), "{}", e),
        }
    }
}
