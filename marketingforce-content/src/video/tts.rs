//! Text-to-speech: the [`SpeechSynthesizer`] trait and an offline engine on `espeak-ng`
//! (feature `tts`).

use std::fmt;

use async_trait::async_trait;
use marketingforce_core::adapters::generation::Language;

use crate::error::Result;

/// Synthesised speech: a WAV file and its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Speech {
    /// RIFF/WAVE bytes.
    pub wav: Vec<u8>,
    /// Duration, ms.
    pub duration_ms: u64,
}

impl fmt::Debug for Speech {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Speech")
            .field("wav", &format_args!("{} bytes", self.wav.len()))
            .field("duration_ms", &self.duration_ms)
            .finish()
    }
}

/// Turns narration into speech. Object-safe.
#[async_trait]
pub trait SpeechSynthesizer: Send + Sync + fmt::Debug {
    /// Engine name (recorded in provenance).
    fn name(&self) -> &str;

    /// Speak `text`.
    ///
    /// # Errors
    /// [`ContentError::ToolMissing`](crate::ContentError::ToolMissing) when the engine is not
    /// installed; [`ContentError::ToolFailed`](crate::ContentError::ToolFailed).
    async fn synthesize(&self, text: &str, language: Language) -> Result<Speech>;
}

/// Duration of a PCM WAV file from its header (`None` when it is not one).
pub fn wav_duration_ms(wav: &[u8]) -> Option<u64> {
    if wav.len() < 44 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return None;
    }
    // Walk the chunks for `fmt ` (byte rate) and `data` (size).
    let mut i = 12;
    let mut byte_rate = None;
    while i + 8 <= wav.len() {
        let id = &wav[i..i + 4];
        let size = u32::from_le_bytes(wav[i + 4..i + 8].try_into().ok()?) as usize;
        if id == b"fmt " {
            byte_rate = Some(u32::from_le_bytes(
                wav.get(i + 16..i + 20)?.try_into().ok()?,
            ));
        }
        if id == b"data" {
            let rate = u64::from(byte_rate?.max(1));
            // espeak-ng writes a placeholder size when streaming; fall back to the real length.
            let real = wav.len().saturating_sub(i + 8);
            let size = if size == 0 || size > real { real } else { size };
            return Some(size as u64 * 1000 / rate);
        }
        i += 8 + size + (size & 1);
    }
    None
}

#[cfg(feature = "tts")]
pub use espeak::EspeakSynthesizer;

#[cfg(feature = "tts")]
mod espeak {
    use std::path::PathBuf;
    use std::time::Duration;

    use async_trait::async_trait;
    use marketingforce_core::adapters::generation::Language;

    use super::{wav_duration_ms, Speech, SpeechSynthesizer};
    use crate::error::{ContentError, Result};

    /// Offline speech with the `espeak-ng` program (Mandarin voice `cmn`, English `en`).
    #[derive(Debug, Clone)]
    pub struct EspeakSynthesizer {
        program: PathBuf,
        words_per_minute: u32,
        timeout: Duration,
    }

    impl Default for EspeakSynthesizer {
        fn default() -> Self {
            EspeakSynthesizer {
                program: PathBuf::from("espeak-ng"),
                words_per_minute: 170,
                timeout: Duration::from_secs(60),
            }
        }
    }

    impl EspeakSynthesizer {
        /// `espeak-ng` from PATH.
        pub fn new() -> EspeakSynthesizer {
            EspeakSynthesizer::default()
        }

        /// Use another program path.
        #[must_use]
        pub fn program(mut self, program: impl Into<PathBuf>) -> EspeakSynthesizer {
            self.program = program.into();
            self
        }
    }

    #[async_trait]
    impl SpeechSynthesizer for EspeakSynthesizer {
        fn name(&self) -> &str {
            "espeak-ng"
        }

        async fn synthesize(&self, text: &str, language: Language) -> Result<Speech> {
            if text.trim().is_empty() {
                return Err(ContentError::validation("text", "nothing to say"));
            }
            let voice = match language {
                Language::ZhCn => "cmn",
                Language::En => "en",
            };
            let mut cmd = tokio::process::Command::new(&self.program);
            cmd.arg("-v")
                .arg(voice)
                .arg("-s")
                .arg(self.words_per_minute.to_string())
                .arg("--stdout")
                .arg("--")
                .arg(text);
            cmd.kill_on_drop(true);
            let out = match tokio::time::timeout(self.timeout, cmd.output()).await {
                Err(_) => {
                    return Err(marketingforce_core::Error::Timeout {
                        operation: "espeak-ng".into(),
                    }
                    .into())
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ContentError::ToolMissing {
                        tool: "espeak-ng".into(),
                        hint: "install the Debian package espeak-ng".into(),
                    })
                }
                Ok(Err(e)) => {
                    return Err(ContentError::ToolFailed {
                        tool: "espeak-ng".into(),
                        status: "not started".into(),
                        stderr: e.to_string(),
                    })
                }
                Ok(Ok(o)) => o,
            };
            if !out.status.success() {
                return Err(ContentError::ToolFailed {
                    tool: "espeak-ng".into(),
                    status: out.status.to_string(),
                    stderr: String::from_utf8_lossy(&out.stderr)
                        .chars()
                        .take(500)
                        .collect(),
                });
            }
            let duration_ms =
                wav_duration_ms(&out.stdout).ok_or_else(|| ContentError::ToolFailed {
                    tool: "espeak-ng".into(),
                    status: out.status.to_string(),
                    stderr: "output is not a WAV file".into(),
                })?;
            Ok(Speech {
                wav: out.stdout,
                duration_ms,
            })
        }
    }
}
