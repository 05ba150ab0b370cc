//! The dubbing script: what the narrator says and when, with pace notes for a voice artist or a
//! speech engine.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::storyboard::{speaking_ms, Storyboard};

/// One narrated line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DubbingLine {
    /// Scene index.
    pub scene: usize,
    /// Start, ms.
    pub start_ms: u64,
    /// Time available, ms.
    pub window_ms: u64,
    /// Time the text needs at a normal pace, ms.
    pub needed_ms: u64,
    /// The text.
    pub text: String,
}

/// The narration of a storyboard.
pub fn lines(sb: &Storyboard) -> Vec<DubbingLine> {
    sb.scenes
        .iter()
        .filter(|s| !s.narration.trim().is_empty())
        .map(|s| DubbingLine {
            scene: s.index,
            start_ms: s.start_ms.saturating_add(sb.transition_ms / 2),
            window_ms: s.duration_ms.saturating_sub(sb.transition_ms / 2),
            needed_ms: speaking_ms(&s.narration, sb.language),
            text: s.narration.clone(),
        })
        .collect()
}

/// The script as text: `[mm:ss.s] 场景 n（窗口 x.x 秒）: text`.
pub fn script(sb: &Storyboard) -> String {
    let mut out = String::new();
    let zh = sb.language == marketingforce_core::adapters::generation::Language::ZhCn;
    for l in lines(sb) {
        let secs = l.start_ms as f64 / 1000.0;
        let _ = writeln!(
            out,
            "[{:02}:{:04.1}] {} {} ({:.1}s): {}",
            (secs / 60.0).floor() as u64,
            secs % 60.0,
            if zh {
                "旁白 场景"
            } else {
                "Narrator, scene"
            },
            l.scene,
            l.window_ms as f64 / 1000.0,
            l.text
        );
    }
    out
}
