//! Checks for text that people will read: names shown in consoles, reports and exports.
//!
//! A display name may be any script (`上海某机械有限公司`, `Müller GmbH`, emoji), but not
//! characters that change how *other* text is shown: control characters (NUL, ESC and the
//! terminal escape sequences it starts, the C1 range) and the Unicode bidirectional controls
//! that reorder what follows them ("Trojan Source", CVE-2021-42574): the embeddings and
//! overrides U+202A–U+202E and the isolates U+2066–U+2069.
//!
//! ```
//! use marketingforce_core::text::check_display_text;
//!
//! assert!(check_display_text("上海某机械有限公司", "name").is_ok());
//! let e = check_display_text("ACME\u{202E}gnp.exe", "name").unwrap_err();
//! assert_eq!(e.to_string(), "invalid name: contains a bidirectional control character (U+202E)");
//! assert!(check_display_text("bell\u{7}", "name").is_err());
//! ```

use crate::error::{Error, Result};

/// Whether `c` is a Unicode bidirectional embedding, override or isolate control
/// (U+202A–U+202E, U+2066–U+2069).
pub const fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Refuse text with control characters (`char::is_control`: C0 including NUL, ESC, tab and
/// newlines, DEL, and C1) or bidirectional controls ([`is_bidi_control`]), naming `field`.
/// The message names the offending code point, never the text.
///
/// # Errors
/// A validation error on `field`.
pub fn check_display_text(text: &str, field: &str) -> Result<()> {
    match text.chars().find(|&c| c.is_control() || is_bidi_control(c)) {
        None => Ok(()),
        Some(c) if is_bidi_control(c) => Err(Error::validation(
            field,
            format!(
                "contains a bidirectional control character (U+{:04X})",
                u32::from(c)
            ),
        )),
        Some(c) => Err(Error::validation(
            field,
            format!("contains a control character (U+{:04X})", u32::from(c)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_and_bidi_overrides_and_accepts_every_script() {
        for ok in [
            "上海某机械有限公司",
            "Müller & Söhne GmbH",
            "شركة",
            "😀 shop",
            "a b",
        ] {
            assert!(check_display_text(ok, "name").is_ok(), "{ok}");
        }
        for bad in [
            "nul\0",
            "esc\u{1b}[31m",
            "tab\t",
            "line\n",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            let e = check_display_text(bad, "name").unwrap_err().to_string();
            assert!(e.contains("control character (U+"), "{bad:?}: {e}");
            assert!(!e.contains(bad), "the message must not echo the text");
        }
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            let e = check_display_text(&format!("x{c}y"), "name").unwrap_err();
            assert!(e.to_string().contains("bidirectional"), "{c:?}");
        }
        // Marks that do not reorder text are allowed.
        assert!(check_display_text("a\u{200E}b", "name").is_ok());
    }
}
