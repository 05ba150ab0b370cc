//! Inquiry forms.

/// The honeypot field: hidden from people, filled by bots.
pub const HONEYPOT_FIELD: &str = "website";
