//! Rendering a storyboard to a video file: the [`VideoRenderer`] trait and (feature `ffmpeg`) a
//! renderer that runs the `ffmpeg` program.

use std::fmt;

use async_trait::async_trait;

use super::storyboard::{MusicTrack, Storyboard};
use super::tts::Speech;
use crate::error::Result;

/// Everything a renderer needs.
#[derive(Debug, Clone)]
pub struct RenderInput<'a> {
    /// The timeline.
    pub storyboard: &'a Storyboard,
    /// One SVG frame per scene.
    pub frames: Vec<String>,
    /// Narration per scene (None: silent).
    pub narration: Vec<Option<Speech>>,
    /// Subtitles (SRT) to embed as a subtitle stream.
    pub subtitles_srt: String,
    /// The music track, if any.
    pub music: Option<&'a MusicTrack>,
}

/// A rendered video.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedVideo {
    /// Media type (`video/mp4`).
    pub media_type: String,
    /// The file.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for RenderedVideo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedVideo")
            .field("media_type", &self.media_type)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .finish()
    }
}

/// Renders a storyboard. Object-safe.
#[async_trait]
pub trait VideoRenderer: Send + Sync + fmt::Debug {
    /// Renderer name (recorded in provenance).
    fn name(&self) -> &str;

    /// Render.
    ///
    /// # Errors
    /// [`ContentError::ToolMissing`](crate::ContentError::ToolMissing) when the renderer's
    /// program is absent, [`ContentError::ToolFailed`](crate::ContentError::ToolFailed) when it
    /// fails.
    async fn render(&self, input: &RenderInput<'_>) -> Result<RenderedVideo>;
}

#[cfg(feature = "ffmpeg")]
pub use ffmpeg::FfmpegRenderer;

#[cfg(feature = "ffmpeg")]
mod ffmpeg {
    use std::collections::HashMap;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;

    use super::{RenderInput, RenderedVideo, VideoRenderer};
    use crate::error::{ContentError, Result};
    use crate::image::raster::Rasterizer;

    static RUNS: AtomicU64 = AtomicU64::new(0);

    /// Renders MP4 (H.264 + AAC + mov_text subtitles) with the `ffmpeg` program: each scene's
    /// frame is rasterised to PNG, scenes are joined with `xfade` transitions, narration is
    /// placed at each scene's start and mixed over the music bed (a registered audio file, or a
    /// soft generated tone at the track's pitch).
    #[derive(Debug, Clone)]
    pub struct FfmpegRenderer {
        program: PathBuf,
        rasterizer: Rasterizer,
        music_files: HashMap<String, PathBuf>,
        timeout: Duration,
        fps: u32,
    }

    impl FfmpegRenderer {
        /// `ffmpeg` from PATH, frames rasterised with `rasterizer`.
        pub fn new(rasterizer: Rasterizer) -> FfmpegRenderer {
            FfmpegRenderer {
                program: PathBuf::from("ffmpeg"),
                rasterizer,
                music_files: HashMap::new(),
                timeout: Duration::from_secs(600),
                fps: 25,
            }
        }

        /// Use another program path.
        #[must_use]
        pub fn program(mut self, program: impl Into<PathBuf>) -> FfmpegRenderer {
            self.program = program.into();
            self
        }

        /// Register the audio file of a music track id.
        #[must_use]
        pub fn music_file(
            mut self,
            track: impl Into<String>,
            path: impl Into<PathBuf>,
        ) -> FfmpegRenderer {
            self.music_files.insert(track.into(), path.into());
            self
        }

        async fn run(&self, args: &[String], dir: &Path) -> Result<std::process::Output> {
            let mut cmd = tokio::process::Command::new(&self.program);
            cmd.args(args).current_dir(dir).kill_on_drop(true);
            match tokio::time::timeout(self.timeout, cmd.output()).await {
                Err(_) => Err(marketingforce_core::Error::Timeout {
                    operation: "ffmpeg".into(),
                }
                .into()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(ContentError::ToolMissing {
                        tool: "ffmpeg".into(),
                        hint: format!(
                            "{} was not found; install the Debian package ffmpeg",
                            self.program.display()
                        ),
                    })
                }
                Ok(Err(e)) => Err(ContentError::ToolFailed {
                    tool: "ffmpeg".into(),
                    status: "not started".into(),
                    stderr: e.to_string(),
                }),
                Ok(Ok(o)) => Ok(o),
            }
        }

        /// The encoder to use: libx264 when available, else mpeg4.
        async fn video_codec(&self, dir: &Path) -> Result<&'static str> {
            let out = self
                .run(&["-hide_banner".into(), "-encoders".into()], dir)
                .await?;
            Ok(
                if String::from_utf8_lossy(&out.stdout).contains("libx264") {
                    "libx264"
                } else {
                    "mpeg4"
                },
            )
        }
    }

    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn io_err(what: &str, e: std::io::Error) -> ContentError {
        marketingforce_core::Error::backend(format!("ffmpeg workdir ({what})"), false, e).into()
    }

    #[async_trait]
    impl VideoRenderer for FfmpegRenderer {
        fn name(&self) -> &str {
            "ffmpeg"
        }

        async fn render(&self, input: &RenderInput<'_>) -> Result<RenderedVideo> {
            let sb = input.storyboard;
            let n = sb.scenes.len();
            if n == 0 || input.frames.len() != n {
                return Err(ContentError::validation(
                    "frames",
                    format!("{} frames for {n} scenes", input.frames.len()),
                ));
            }
            let dir = std::env::temp_dir().join(format!(
                "mf-video-{}-{}",
                std::process::id(),
                RUNS.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).map_err(|e| io_err("create", e))?;
            let guard = TempDir(dir.clone());
            let codec = self.video_codec(&dir).await?;
            for (i, svg) in input.frames.iter().enumerate() {
                let (png, _, _) = self.rasterizer.render_png(svg)?;
                std::fs::write(dir.join(format!("scene{i:03}.png")), png)
                    .map_err(|e| io_err("frame", e))?;
            }
            std::fs::write(dir.join("subs.srt"), &input.subtitles_srt)
                .map_err(|e| io_err("subtitles", e))?;
            let t = sb.transition_ms as f64 / 1000.0;
            let total = sb.duration_ms as f64 / 1000.0;
            let mut args: Vec<String> = vec![
                "-hide_banner".into(),
                "-loglevel".into(),
                "error".into(),
                "-y".into(),
            ];
            for (i, s) in sb.scenes.iter().enumerate() {
                let len = s.duration_ms as f64 / 1000.0 + if i + 1 < n { t } else { 0.0 };
                args.extend([
                    "-loop".into(),
                    "1".into(),
                    "-framerate".into(),
                    self.fps.to_string(),
                    "-t".into(),
                    format!("{len:.3}"),
                    "-i".into(),
                    format!("scene{i:03}.png"),
                ]);
            }
            let mut next_input = n;
            let mut narration_inputs = Vec::new();
            for (i, sp) in input.narration.iter().enumerate() {
                if let (Some(sp), Some(scene)) = (sp, sb.scenes.get(i)) {
                    let name = format!("voice{i:03}.wav");
                    std::fs::write(dir.join(&name), &sp.wav).map_err(|e| io_err("narration", e))?;
                    args.extend(["-i".into(), name]);
                    let at = scene.start_ms.saturating_add(sb.transition_ms / 2);
                    narration_inputs.push((next_input, at));
                    next_input += 1;
                }
            }
            let music_input = next_input;
            match input.music.and_then(|m| self.music_files.get(&m.id)) {
                Some(path) => args.extend([
                    "-stream_loop".into(),
                    "-1".into(),
                    "-i".into(),
                    path.display().to_string(),
                ]),
                None => {
                    let hz = input.music.map_or(220.0, |m| m.tone_hz);
                    args.extend([
                        "-f".into(),
                        "lavfi".into(),
                        "-i".into(),
                        format!("sine=frequency={hz:.2}:sample_rate=44100:duration={total:.3}"),
                    ]);
                }
            }
            let subs_input = music_input + 1;
            args.extend(["-i".into(), "subs.srt".into()]);

            let (w, h) = sb.size;
            let mut fg = String::new();
            for i in 0..n {
                let _ = write!(
                    fg,
                    "[{i}:v]scale={w}:{h},setsar=1,fps={},format=yuv420p[s{i}];",
                    self.fps
                );
            }
            let mut last = "s0".to_string();
            let mut offset = 0.0;
            for (i, s) in sb.scenes.iter().enumerate().skip(1) {
                offset += sb.scenes[i - 1].duration_ms as f64 / 1000.0;
                let tr = s.transition_in.as_deref().unwrap_or("fade");
                let out = format!("v{i}");
                let _ = write!(fg, "[{last}][s{i}]xfade=transition={tr}:duration={t:.3}:offset={offset:.3}[{out}];");
                last = out;
            }
            let music_volume = if input
                .music
                .is_some_and(|m| self.music_files.contains_key(&m.id))
            {
                0.25
            } else {
                0.03
            };
            let _ = write!(
                fg,
                "[{music_input}:a]aresample=44100,volume={music_volume},atrim=0:{total:.3}[bed];"
            );
            let mut mix = String::from("[bed]");
            for (k, (idx, at)) in narration_inputs.iter().enumerate() {
                let _ = write!(fg, "[{idx}:a]aresample=44100,adelay={at}|{at}[n{k}];");
                let _ = write!(mix, "[n{k}]");
            }
            let _ = write!(
                fg,
                "{mix}amix=inputs={}:duration=first:normalize=0[aout]",
                narration_inputs.len() + 1
            );
            args.extend([
                "-filter_complex".into(),
                fg,
                "-map".into(),
                format!("[{last}]"),
                "-map".into(),
                "[aout]".into(),
                "-map".into(),
                format!("{subs_input}:s"),
                "-c:v".into(),
                codec.into(),
            ]);
            if codec == "libx264" {
                args.extend(["-preset".into(), "ultrafast".into()]);
            }
            args.extend([
                "-pix_fmt".into(),
                "yuv420p".into(),
                "-r".into(),
                self.fps.to_string(),
                "-c:a".into(),
                "aac".into(),
                "-b:a".into(),
                "96k".into(),
                "-c:s".into(),
                "mov_text".into(),
                "-t".into(),
                format!("{total:.3}"),
                "-movflags".into(),
                "+faststart".into(),
                "out.mp4".into(),
            ]);
            let out = self.run(&args, &dir).await?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let tail: String = err
                    .chars()
                    .rev()
                    .take(800)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return Err(ContentError::ToolFailed {
                    tool: "ffmpeg".into(),
                    status: out.status.to_string(),
                    stderr: tail,
                });
            }
            let bytes = std::fs::read(dir.join("out.mp4")).map_err(|e| io_err("output", e))?;
            drop(guard);
            Ok(RenderedVideo {
                media_type: "video/mp4".into(),
                bytes,
            })
        }
    }
}
