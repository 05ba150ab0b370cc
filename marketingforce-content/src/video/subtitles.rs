//! Subtitles (SRT and WebVTT) from the storyboard's narration, with line-length rules: Chinese
//! lines of at most 16 characters (split at punctuation where possible, sentence punctuation
//! dropped at line ends as is customary), English lines of at most 42 characters, one line per
//! cue, cue times proportional to the text within each scene.

use std::fmt::Write as _;

use marketingforce_core::adapters::generation::Language;
use serde::{Deserialize, Serialize};

use super::storyboard::Storyboard;

/// One subtitle cue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cue {
    /// Start, ms.
    pub start_ms: u64,
    /// End, ms.
    pub end_ms: u64,
    /// The line.
    pub text: String,
}

/// Longest subtitle line: 16 characters for Chinese, 42 for English.
pub fn max_line_chars(language: Language) -> usize {
    match language {
        Language::ZhCn => 16,
        Language::En => 42,
    }
}

const ZH_BREAKS: &[char] = &['，', '。', '！', '？', '；', '：', '、'];
const ZH_DROP_AT_END: &[char] = &['，', '。', '；', '、', '：'];

/// Split narration into subtitle lines.
///
/// ```
/// use marketingforce_content::video::subtitles::split_lines;
/// use marketingforce_core::adapters::generation::Language;
/// let lines = split_lines("我们拥有两万平方米的现代化厂房，每台设备出厂前都经过七十二小时连续运行测试。", Language::ZhCn);
/// assert!(lines.iter().all(|l| l.chars().count() <= 16));
/// assert_eq!(lines[0], "我们拥有两万平方米的现代化厂房");
/// ```
pub fn split_lines(text: &str, language: Language) -> Vec<String> {
    let max = max_line_chars(language);
    match language {
        Language::ZhCn => {
            // Clauses at punctuation, then clauses longer than a line in even pieces.
            let mut clauses: Vec<String> = Vec::new();
            let mut cur = String::new();
            for c in text.chars() {
                cur.push(c);
                if ZH_BREAKS.contains(&c) {
                    clauses.push(std::mem::take(&mut cur));
                }
            }
            if !cur.trim().is_empty() {
                clauses.push(cur);
            }
            let mut lines = Vec::new();
            for clause in clauses {
                let clause = clause
                    .trim()
                    .trim_end_matches(ZH_DROP_AT_END)
                    .trim()
                    .to_string();
                let chars: Vec<char> = clause.chars().collect();
                if chars.is_empty() {
                    continue;
                }
                let pieces = chars.len().div_ceil(max);
                let per = chars.len().div_ceil(pieces);
                for chunk in chars.chunks(per) {
                    lines.push(chunk.iter().collect());
                }
            }
            lines
        }
        Language::En => {
            let mut lines = Vec::new();
            let mut line = String::new();
            for word in text.split_whitespace() {
                if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max {
                    lines.push(std::mem::take(&mut line));
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                if word.chars().count() > max {
                    // An over-long token is split, never dropped.
                    let chars: Vec<char> = word.chars().collect();
                    for (i, chunk) in chars.chunks(max).enumerate() {
                        if i > 0 {
                            lines.push(std::mem::take(&mut line));
                        }
                        line.extend(chunk);
                    }
                } else {
                    line.push_str(word);
                }
            }
            if !line.is_empty() {
                lines.push(line);
            }
            lines
        }
    }
}

/// Cues for every narrated scene, timed within the scene (after its transition settles).
pub fn cues(sb: &Storyboard) -> Vec<Cue> {
    let mut out = Vec::new();
    for s in &sb.scenes {
        if s.narration.trim().is_empty() {
            continue;
        }
        let lines = split_lines(&s.narration, sb.language);
        let weights: Vec<u64> = lines
            .iter()
            .map(|l| l.chars().count().max(1) as u64)
            .collect();
        let total: u64 = weights.iter().sum::<u64>().max(1);
        let lead = if s.index == 0 {
            0
        } else {
            sb.transition_ms / 2
        };
        let span = s.duration_ms.saturating_sub(lead.saturating_add(100));
        let start = s.start_ms.saturating_add(lead);
        let mut at = start;
        let mut acc = 0u64;
        for (line, w) in lines.into_iter().zip(weights) {
            acc = acc.saturating_add(w);
            let end = start
                .saturating_add(proportion(span, acc, total))
                .max(at.saturating_add(1));
            out.push(Cue {
                start_ms: at,
                end_ms: end,
                text: line,
            });
            at = end;
        }
    }
    out
}

/// `span × part ÷ total` (`part <= total`, `total > 0`) without overflow.
fn proportion(span: u64, part: u64, total: u64) -> u64 {
    let share = u128::from(span) * u128::from(part) / u128::from(total.max(1));
    u64::try_from(share).unwrap_or(u64::MAX)
}

fn stamp(ms: u64, sep: char) -> String {
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// SubRip text.
pub fn to_srt(cues: &[Cue]) -> String {
    let mut s = String::new();
    for (i, c) in cues.iter().enumerate() {
        let _ = write!(
            s,
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            stamp(c.start_ms, ','),
            stamp(c.end_ms, ','),
            c.text
        );
    }
    s
}

/// WebVTT text.
pub fn to_vtt(cues: &[Cue]) -> String {
    let mut s = String::from("WEBVTT\n\n");
    for c in cues {
        let _ = write!(
            s,
            "{} --> {}\n{}\n\n",
            stamp(c.start_ms, '.'),
            stamp(c.end_ms, '.'),
            c.text.replace("-->", "→")
        );
    }
    s
}
