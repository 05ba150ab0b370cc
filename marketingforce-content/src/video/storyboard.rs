//! Video templates as data, and the storyboard/timeline built from a template, the user's script
//! and pictures: scenes, durations, transitions, music.

use marketingforce_core::adapters::generation::{Language, VideoRequest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};
use crate::rng::SeededRng;

/// The built-in video templates and music library (`data/video-templates.json`).
pub const BUILTIN_VIDEO_TEMPLATES: &str = include_str!("../../data/video-templates.json");

/// A music track of the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MusicTrack {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Mood.
    pub mood: String,
    /// Tempo.
    pub bpm: u32,
    /// Base pitch of the generated bed used when no audio file is registered for the track.
    pub tone_hz: f64,
}

/// A video template for a business scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoTemplate {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Scenarios it serves (empty: the fallback).
    pub scenarios: Vec<String>,
    /// Image theme of the frames.
    pub theme: String,
    /// Transitions it uses (ffmpeg `xfade` names: fade, slideleft, circleopen, …).
    pub transitions: Vec<String>,
    /// Music tracks it suits.
    pub music: Vec<String>,
    /// Title card duration.
    pub title_ms: u64,
    /// End card duration.
    pub end_ms: u64,
    /// Shortest content scene.
    pub min_scene_ms: u64,
    /// Longest comfortable content scene (longer narration is kept whole; the scene runs longer).
    pub max_scene_ms: u64,
    /// Transition duration.
    pub transition_ms: u64,
}

/// Templates and music.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoTemplates {
    /// Format version (1).
    pub version: u32,
    /// Music library.
    pub music: Vec<MusicTrack>,
    /// Templates.
    pub templates: Vec<VideoTemplate>,
}

/// Longest card, scene or transition a template may ask for (ten minutes): every timeline
/// planned from templates stays far inside what a `u64` of milliseconds counts.
pub const MAX_TEMPLATE_MS: u64 = 10 * 60 * 1000;

/// Transitions the ffmpeg renderer knows.
pub const KNOWN_TRANSITIONS: &[&str] = &[
    "fade",
    "dissolve",
    "wipeleft",
    "wiperight",
    "slideleft",
    "slideright",
    "smoothleft",
    "smoothright",
    "circleopen",
    "circleclose",
];

impl VideoTemplates {
    /// The built-in templates.
    ///
    /// # Panics
    /// Never: checked by the test suite.
    pub fn builtin() -> VideoTemplates {
        #[allow(clippy::expect_used)]
        VideoTemplates::from_json(BUILTIN_VIDEO_TEMPLATES)
            .expect("built-in video templates are valid")
    }

    /// Load and validate.
    ///
    /// # Errors
    /// A validation error naming the path.
    pub fn from_json(json: &str) -> Result<VideoTemplates> {
        let t: VideoTemplates = serde_json::from_str(json).map_err(|e| {
            ContentError::validation("video_templates", format!("not valid JSON: {e}"))
        })?;
        for (i, v) in t.templates.iter().enumerate() {
            let p = |f: &str| format!("templates[{i}].{f}");
            if v.transitions.is_empty() {
                return Err(ContentError::validation(
                    p("transitions"),
                    "must not be empty",
                ));
            }
            for (j, tr) in v.transitions.iter().enumerate() {
                if !KNOWN_TRANSITIONS.contains(&tr.as_str()) {
                    return Err(ContentError::validation(
                        p(&format!("transitions[{j}]")),
                        format!("unknown transition {tr:?}"),
                    ));
                }
            }
            for (j, m) in v.music.iter().enumerate() {
                if !t.music.iter().any(|x| &x.id == m) {
                    return Err(ContentError::validation(
                        p(&format!("music[{j}]")),
                        format!("unknown track {m:?}"),
                    ));
                }
            }
            for (field, ms) in [
                ("title_ms", v.title_ms),
                ("end_ms", v.end_ms),
                ("max_scene_ms", v.max_scene_ms),
            ] {
                if ms > MAX_TEMPLATE_MS {
                    return Err(ContentError::validation(
                        p(field),
                        format!("{ms} ms; at most {MAX_TEMPLATE_MS} ms (ten minutes)"),
                    ));
                }
            }
            if v.min_scene_ms == 0
                || v.min_scene_ms > v.max_scene_ms
                || v.transition_ms.saturating_mul(2) > v.min_scene_ms
            {
                return Err(ContentError::validation(
                    p("min_scene_ms"),
                    "need 0 < 2 × transition_ms <= min_scene_ms <= max_scene_ms",
                ));
            }
        }
        if !t.templates.iter().any(|v| v.scenarios.is_empty()) {
            return Err(ContentError::validation(
                "templates",
                "needs a fallback template without scenarios",
            ));
        }
        Ok(t)
    }

    /// The template for a scenario (the fallback when none lists it).
    pub fn for_scenario(&self, scenario: &str) -> Option<&VideoTemplate> {
        self.templates
            .iter()
            .find(|t| t.scenarios.iter().any(|s| s == scenario))
            .or_else(|| self.templates.iter().find(|t| t.scenarios.is_empty()))
    }
}

/// What a scene shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SceneKind {
    /// The title card.
    Title,
    /// A narrated scene.
    Content,
    /// The end card (call to action).
    End,
}

/// One scene of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Scene {
    /// Position (0-based).
    pub index: usize,
    /// Kind.
    pub kind: SceneKind,
    /// Text shown on screen.
    pub caption: String,
    /// What the narrator says (empty for silent cards).
    pub narration: String,
    /// Index of the user's picture shown, if any.
    pub image: Option<usize>,
    /// Start on the timeline, ms.
    pub start_ms: u64,
    /// Duration, ms.
    pub duration_ms: u64,
    /// Transition into this scene (none for the first).
    pub transition_in: Option<String>,
}

/// The timeline of a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Storyboard {
    /// Template id.
    pub template: String,
    /// Image theme of the frames.
    pub theme: String,
    /// Frame size.
    pub size: (u32, u32),
    /// Scenes in order, back to back.
    pub scenes: Vec<Scene>,
    /// Transition duration, ms.
    pub transition_ms: u64,
    /// Music track (id) under the whole video.
    pub music: Option<String>,
    /// Total length, ms.
    pub duration_ms: u64,
    /// Language.
    pub language: Language,
}

/// How long saying `text` takes: 4.2 Chinese characters or 2.6 English words per second, plus a
/// short breath.
pub fn speaking_ms(text: &str, language: Language) -> u64 {
    let secs = match language {
        Language::ZhCn => {
            text.chars()
                .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation())
                .count() as f64
                / 4.2
        }
        Language::En => text.split_whitespace().count() as f64 / 2.6,
    };
    (secs * 1000.0).round() as u64 + 600
}

/// Most scenes a video may have.
pub const MAX_SCENES: usize = 30;

/// Build the storyboard of a request.
///
/// ```
/// use marketingforce_content::video::storyboard::{plan, VideoTemplates};
/// use marketingforce_core::adapters::generation::VideoRequest;
///
/// let req = VideoRequest { industry: "industrial-machinery".into(), scenario: "factory-tour".into(),
///     title: "走进我们的工厂".into(), script: vec!["我们拥有两万平方米的现代化厂房。".into(),
///     "每台设备出厂前都经过七十二小时连续运行测试。".into()], images: vec![], music: None,
///     dubbing: false, language: Default::default(), size: None, seed: Some(1) };
/// let sb = plan(&VideoTemplates::builtin(), &req, Some("欢迎预约参观")).unwrap();
/// assert_eq!(sb.scenes.len(), 4); // title, two scenes, end card
/// assert_eq!(sb.duration_ms, sb.scenes.iter().map(|s| s.duration_ms).sum::<u64>());
/// ```
///
/// # Errors
/// Validation errors: blank title, empty or oversized script, unknown music track, bad size.
pub fn plan(
    templates: &VideoTemplates,
    req: &VideoRequest,
    end_caption: Option<&str>,
) -> Result<Storyboard> {
    if req.title.trim().is_empty() {
        return Err(ContentError::validation("title", "must not be blank"));
    }
    let script: Vec<&str> = req
        .script
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if script.is_empty() {
        return Err(ContentError::validation(
            "script",
            "needs at least one paragraph of narration",
        ));
    }
    if script.len() > MAX_SCENES {
        return Err(marketingforce_core::Error::limit_exceeded(
            "script (scenes)",
            script.len(),
            MAX_SCENES,
        )
        .into());
    }
    for (i, s) in script.iter().enumerate() {
        if s.chars().count() > 300 {
            return Err(ContentError::validation(
                format!("script[{i}]"),
                "longer than 300 characters: split it into scenes",
            ));
        }
    }
    let t = templates
        .for_scenario(&req.scenario)
        .ok_or_else(|| ContentError::validation("scenario", "no template and no fallback"))?;
    let music = match &req.music {
        Some(m) if templates.music.iter().any(|x| &x.id == m) => Some(m.clone()),
        Some(m) => {
            return Err(ContentError::validation(
                "music",
                format!("unknown track {m:?}"),
            ))
        }
        None => {
            let mut rng = SeededRng::derive(req.seed.unwrap_or(0), "music");
            rng.pick(&t.music).cloned()
        }
    };
    let size = req.size.unwrap_or((1080, 1920));
    if size.0 < 64
        || size.1 < 64
        || size.0 > 3840
        || size.1 > 3840
        || size.0 % 2 == 1
        || size.1 % 2 == 1
    {
        return Err(ContentError::validation(
            "size",
            format!("{}x{} must be even and within 64..3840", size.0, size.1),
        ));
    }
    let mut rng = SeededRng::derive(req.seed.unwrap_or(0), "transitions");
    let mut scenes = Vec::with_capacity(script.len() + 2);
    let mut at = 0u64;
    let mut push = |kind,
                    caption: String,
                    narration: String,
                    image,
                    duration: u64,
                    scenes: &mut Vec<Scene>,
                    rng: &mut SeededRng| {
        let index = scenes.len();
        scenes.push(Scene {
            index,
            kind,
            caption,
            narration,
            image,
            start_ms: at,
            duration_ms: duration,
            transition_in: if index == 0 {
                None
            } else {
                rng.pick(&t.transitions).cloned()
            },
        });
        at = at.saturating_add(duration);
    };
    push(
        SceneKind::Title,
        req.title.clone(),
        String::new(),
        None,
        t.title_ms,
        &mut scenes,
        &mut rng,
    );
    for (i, s) in script.iter().enumerate() {
        let image = if req.images.is_empty() {
            None
        } else {
            Some(i % req.images.len())
        };
        // A scene lasts as long as its narration (never cut), at least the template's minimum.
        let d = speaking_ms(s, req.language).max(t.min_scene_ms);
        push(
            SceneKind::Content,
            caption_of(s),
            (*s).to_string(),
            image,
            d,
            &mut scenes,
            &mut rng,
        );
    }
    let end = end_caption.map_or_else(|| req.title.clone(), str::to_string);
    push(
        SceneKind::End,
        end,
        String::new(),
        None,
        t.end_ms,
        &mut scenes,
        &mut rng,
    );
    Ok(Storyboard {
        template: t.id.clone(),
        theme: t.theme.clone(),
        size,
        duration_ms: at,
        scenes,
        transition_ms: t.transition_ms,
        music,
        language: req.language,
    })
}

/// The on-screen caption of a narration: its first sentence.
fn caption_of(s: &str) -> String {
    let end = s
        .find(['。', '！', '？', '.', '!', '?'])
        .map_or(s.len(), |i| i);
    s[..end].trim().to_string()
}
