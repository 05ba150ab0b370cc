//! T-video: from a template and the user's text and pictures, a storyboard (scenes, durations,
//! transitions, music), subtitles (SRT and WebVTT with Chinese line-length rules), a dubbing
//! script, optional speech ([`tts`]) and a rendered MP4 ([`render`], `ffmpeg` feature).

pub mod dubbing;
pub mod frames;
pub mod render;
pub mod storyboard;
pub mod subtitles;
pub mod tts;

use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_core::adapters::generation::{
    GeneratedVideo, Provenance, SubtitleFile, VideoGenerator, VideoRequest,
};

use crate::error::{ContentError, Result};
use crate::image::Themes;
use render::{RenderInput, VideoRenderer};
use storyboard::{plan, Storyboard, VideoTemplates};
use subtitles::Cue;
use tts::{Speech, SpeechSynthesizer};

/// The backend name recorded in provenance.
pub const TEMPLATE_VIDEO_BACKEND: &str = "video-template";

/// Everything planned for a video before rendering.
#[derive(Debug, Clone)]
pub struct VideoPlan {
    /// The timeline.
    pub storyboard: Storyboard,
    /// Subtitle cues.
    pub cues: Vec<Cue>,
    /// SRT text.
    pub srt: String,
    /// WebVTT text.
    pub vtt: String,
    /// The dubbing script.
    pub dubbing_script: String,
    /// One SVG frame per scene.
    pub frames: Vec<String>,
}

/// Plans videos from templates and renders them when a renderer is configured.
///
/// ```
/// use marketingforce_content::video::TemplateVideoGenerator;
/// use marketingforce_core::adapters::generation::VideoRequest;
///
/// let g = TemplateVideoGenerator::new();
/// let req = VideoRequest { industry: "industrial-machinery".into(), scenario: "factory-tour".into(),
///     title: "走进我们的工厂".into(),
///     script: vec!["我们拥有两万平方米的现代化厂房，三条自动化生产线。".into()],
///     images: vec![], music: None, dubbing: false, language: Default::default(),
///     size: Some((360, 640)), seed: Some(1) };
/// let plan = g.plan(&req).unwrap();
/// assert!(plan.srt.starts_with("1\n00:00:0"));
/// assert!(plan.vtt.starts_with("WEBVTT"));
/// assert_eq!(plan.frames.len(), plan.storyboard.scenes.len());
/// ```
#[derive(Debug, Clone)]
pub struct TemplateVideoGenerator {
    templates: Arc<VideoTemplates>,
    themes: Arc<Themes>,
    renderer: Option<Arc<dyn VideoRenderer>>,
    tts: Option<Arc<dyn SpeechSynthesizer>>,
    end_caption: Option<String>,
}

impl Default for TemplateVideoGenerator {
    fn default() -> Self {
        TemplateVideoGenerator::new()
    }
}

impl TemplateVideoGenerator {
    /// Built-in templates and themes; plans only (no renderer, no speech).
    pub fn new() -> TemplateVideoGenerator {
        TemplateVideoGenerator {
            templates: Arc::new(VideoTemplates::builtin()),
            themes: Arc::new(Themes::builtin()),
            renderer: None,
            tts: None,
            end_caption: None,
        }
    }

    /// Render with `renderer`.
    #[must_use]
    pub fn with_renderer(mut self, renderer: Arc<dyn VideoRenderer>) -> TemplateVideoGenerator {
        self.renderer = Some(renderer);
        self
    }

    /// Speak narration with `tts` when a request asks for dubbing.
    #[must_use]
    pub fn with_speech(mut self, tts: Arc<dyn SpeechSynthesizer>) -> TemplateVideoGenerator {
        self.tts = Some(tts);
        self
    }

    /// The end card's text (e.g. a call to action with the phone number).
    #[must_use]
    pub fn end_caption(mut self, caption: impl Into<String>) -> TemplateVideoGenerator {
        self.end_caption = Some(caption.into());
        self
    }

    /// Plan a video: storyboard, subtitles, dubbing script, frames.
    ///
    /// # Errors
    /// Validation errors on the request, [`ContentError::BadImage`],
    /// [`ContentError::TextDoesNotFit`].
    pub fn plan(&self, req: &VideoRequest) -> Result<VideoPlan> {
        let sb = plan(&self.templates, req, self.end_caption.as_deref())?;
        self.finish_plan(req, sb)
    }

    fn finish_plan(&self, req: &VideoRequest, sb: Storyboard) -> Result<VideoPlan> {
        for (i, a) in req.images.iter().enumerate() {
            crate::image::assets::check(a).map_err(|e| match e {
                ContentError::BadImage { reason, .. } => ContentError::BadImage {
                    name: format!("images[{i}] ({})", a.name),
                    reason,
                },
                other => other,
            })?;
        }
        let theme = self
            .themes
            .select(Some(&sb.theme), &req.industry, None, None)
            .or_else(|_| {
                self.themes
                    .select(None, &req.industry, Some(&req.scenario), None)
            })?;
        let pics: Vec<&[u8]> = req.images.iter().map(|a| a.bytes.as_slice()).collect();
        let frames = sb
            .scenes
            .iter()
            .map(|s| frames::frame_svg(&sb, s, theme, &pics))
            .collect::<Result<Vec<_>>>()?;
        let cues = subtitles::cues(&sb);
        Ok(VideoPlan {
            srt: subtitles::to_srt(&cues),
            vtt: subtitles::to_vtt(&cues),
            dubbing_script: dubbing::script(&sb),
            cues,
            frames,
            storyboard: sb,
        })
    }

    /// Plan, speak (when asked) and render (when a renderer is configured).
    ///
    /// # Errors
    /// As [`plan`](Self::plan); a validation error on `dubbing` without a speech engine; the
    /// speech engine's and renderer's errors (e.g. [`ContentError::ToolMissing`] naming ffmpeg).
    pub async fn generate_video(&self, req: &VideoRequest) -> Result<(GeneratedVideo, VideoPlan)> {
        let mut sb = plan(&self.templates, req, self.end_caption.as_deref())?;
        let mut narration: Vec<Option<Speech>> = vec![None; sb.scenes.len()];
        if req.dubbing {
            let tts = self.tts.as_ref().ok_or_else(|| {
                ContentError::validation("dubbing", "requested, but no speech engine is configured")
            })?;
            for (i, s) in sb.scenes.iter().enumerate() {
                if !s.narration.trim().is_empty() {
                    narration[i] = Some(tts.synthesize(&s.narration, req.language).await?);
                }
            }
            // Scenes last at least as long as their spoken narration.
            let mut at = 0;
            for (s, sp) in sb.scenes.iter_mut().zip(&narration) {
                if let Some(sp) = sp {
                    let spoken = sp
                        .duration_ms
                        .saturating_add(sb.transition_ms)
                        .saturating_add(200);
                    s.duration_ms = s.duration_ms.max(spoken);
                }
                s.start_ms = at;
                at = at.saturating_add(s.duration_ms);
            }
            sb.duration_ms = at;
        }
        let plan = self.finish_plan(req, sb)?;
        let music = plan
            .storyboard
            .music
            .as_ref()
            .and_then(|m| self.templates.music.iter().find(|t| &t.id == m));
        let (media_type, bytes, backend) = match &self.renderer {
            Some(r) => {
                let input = RenderInput {
                    storyboard: &plan.storyboard,
                    frames: plan.frames.clone(),
                    narration,
                    subtitles_srt: plan.srt.clone(),
                    music,
                };
                let v = r.render(&input).await?;
                (
                    v.media_type,
                    v.bytes,
                    format!("{TEMPLATE_VIDEO_BACKEND}+{}", r.name()),
                )
            }
            None => (
                String::new(),
                Vec::new(),
                TEMPLATE_VIDEO_BACKEND.to_string(),
            ),
        };
        let video = GeneratedVideo {
            media_type,
            bytes,
            duration_ms: plan.storyboard.duration_ms,
            scenes: u32::try_from(plan.storyboard.scenes.len()).unwrap_or(u32::MAX),
            subtitles: vec![
                SubtitleFile {
                    format: "srt".into(),
                    text: plan.srt.clone(),
                },
                SubtitleFile {
                    format: "vtt".into(),
                    text: plan.vtt.clone(),
                },
            ],
            dubbing_script: plan.dubbing_script.clone(),
            provenance: Provenance {
                backend: match (&self.tts, req.dubbing) {
                    (Some(t), true) => format!("{backend}+{}", t.name()),
                    _ => backend,
                },
                template: Some(plan.storyboard.template.clone()),
                model: None,
                seed: req.seed,
                usage: None,
            },
        };
        Ok((video, plan))
    }
}

#[async_trait]
impl VideoGenerator for TemplateVideoGenerator {
    fn backend(&self) -> &str {
        TEMPLATE_VIDEO_BACKEND
    }

    async fn generate(
        &self,
        request: &VideoRequest,
    ) -> marketingforce_core::Result<GeneratedVideo> {
        self.generate_video(request)
            .await
            .map(|(v, _)| v)
            .map_err(Into::into)
    }
}
