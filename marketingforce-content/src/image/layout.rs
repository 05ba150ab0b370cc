//! Text fitting: wrap text into a box (CJK line-breaking rules), shrinking the font when it does
//! not fit, and refusing — never cutting — when it does not fit at the smallest size.

use crate::error::{ContentError, Result};

/// Characters that must not start a line (closing punctuation).
const NO_LINE_START: &str = "，。、！？；：）」』》〉】”’…—·,.!?;:)]}%";
/// Characters that must not end a line (opening punctuation).
const NO_LINE_END: &str = "（「『《〈【“‘([{";

/// Estimated advance of `c` in ems (conservative, so rendered text is not wider than planned).
pub fn advance(c: char) -> f64 {
    match c {
        ' ' => 0.3,
        'i' | 'j' | 'l' | '!' | '.' | ',' | ':' | ';' | '\'' | '|' => 0.3,
        'm' | 'w' | 'M' | 'W' | '@' => 0.9,
        'A'..='Z' | '0'..='9' | '%' | '&' | '#' => 0.68,
        c if c.is_ascii() => 0.56,
        _ => 1.0,
    }
}

/// Width of `s` in ems.
pub fn width_em(s: &str) -> f64 {
    s.chars().map(advance).sum()
}

fn is_cjk(c: char) -> bool {
    !c.is_ascii() && !c.is_whitespace()
}

/// Break `text` into units that may not be split: a CJK character (with trailing closing
/// punctuation and leading opening punctuation attached) or a Latin word with its spaces.
fn units(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c == '\n' {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push("\n".into());
        } else if NO_LINE_START.contains(c) {
            // Attach to what precedes.
            if !word.is_empty() {
                word.push(c);
            } else if let Some(last) = out.last_mut().filter(|l| l.as_str() != "\n") {
                last.push(c);
            } else {
                word.push(c);
            }
        } else if is_cjk(c) {
            if !word.is_empty() && !word.chars().last().is_some_and(|l| NO_LINE_END.contains(l)) {
                out.push(std::mem::take(&mut word));
            }
            word.push(c);
            if !NO_LINE_END.contains(c) {
                out.push(std::mem::take(&mut word));
            }
        } else if c == ' ' {
            word.push(c);
            out.push(std::mem::take(&mut word));
        } else {
            if word
                .chars()
                .last()
                .is_some_and(|l| is_cjk(l) && !NO_LINE_END.contains(l))
            {
                out.push(std::mem::take(&mut word));
            }
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Wrap `text` into lines no wider than `max_em` ems. A single unit wider than a line is split
/// by characters (nothing is dropped).
pub fn wrap(text: &str, max_em: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut w = 0.0;
    for u in units(text) {
        if u == "\n" {
            lines.push(std::mem::take(&mut line).trim_end().to_string());
            w = 0.0;
            continue;
        }
        let uw = width_em(&u);
        if w + width_em(u.trim_end()) <= max_em || line.is_empty() && uw <= max_em {
            line.push_str(&u);
            w += uw;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line).trim_end().to_string());
            w = 0.0;
        }
        if width_em(u.trim_end()) <= max_em {
            line.push_str(&u);
            w = uw;
        } else {
            for c in u.chars() {
                if w + advance(c) > max_em && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    w = 0.0;
                }
                line.push(c);
                w += advance(c);
            }
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// A box to fit text into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    /// Width in px.
    pub width: f64,
    /// Height in px.
    pub height: f64,
    /// Preferred font size in px.
    pub max_font: f64,
    /// Smallest acceptable font size in px.
    pub min_font: f64,
    /// Line height as a multiple of the font size.
    pub line_height: f64,
}

/// Text laid out in a box.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// Font size used, px.
    pub font_size: f64,
    /// The lines.
    pub lines: Vec<String>,
    /// Whether the font was shrunk from the preferred size.
    pub shrunk: bool,
}

/// Fit `text` into `b`: the largest font size (from `max_font` down to `min_font`, 2 px steps)
/// at which the wrapped lines fit the height.
///
/// ```
/// use marketingforce_content::image::layout::{fit, TextBox};
/// let b = TextBox { width: 400.0, height: 200.0, max_font: 80.0, min_font: 30.0, line_height: 1.25 };
/// let f = fit("headline", "数控机床春季大促", &b).unwrap();
/// assert_eq!(f.lines.concat(), "数控机床春季大促");
/// assert!(f.shrunk || f.lines.len() > 1);
/// assert!(fit("headline", &"很长的标题".repeat(40), &b).is_err());
/// ```
///
/// # Errors
/// [`ContentError::TextDoesNotFit`] naming `field` when it does not fit at `min_font`.
pub fn fit(field: &str, text: &str, b: &TextBox) -> Result<Fitted> {
    let mut size = b.max_font;
    loop {
        let lines = wrap(text, b.width / size);
        let needed = lines.len() as f64 * size * b.line_height;
        if needed <= b.height + 0.01 {
            return Ok(Fitted {
                font_size: size,
                shrunk: size < b.max_font,
                lines,
            });
        }
        if size - 2.0 < b.min_font {
            return Err(ContentError::TextDoesNotFit {
                field: field.to_string(),
                reason: format!(
                    "{} characters need {} lines at the minimum {}px, the box holds {}",
                    text.chars().count(),
                    lines.len(),
                    b.min_font,
                    (b.height / (b.min_font * b.line_height)).floor()
                ),
            });
        }
        size -= 2.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_character_and_follows_kinsoku() {
        let text = "高精度、高效率的加工中心，助力（长三角）制造企业 upgrade their CNC lines.";
        for w in [3.0, 5.0, 8.0, 13.0] {
            let lines = wrap(text, w);
            let joined: String = lines.concat().split_whitespace().collect();
            let orig: String = text.split_whitespace().collect();
            assert_eq!(joined, orig, "width {w}");
            for l in &lines {
                assert!(
                    !l.starts_with(|c| NO_LINE_START.contains(c)),
                    "{l:?} in {lines:?}"
                );
                assert!(
                    !l.ends_with(|c| NO_LINE_END.contains(c)),
                    "{l:?} in {lines:?}"
                );
            }
        }
    }
}
