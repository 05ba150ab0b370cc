//! T-text: marketing articles from industry, topic, keywords and the user's materials.
//!
//! - [`OfflineTextGenerator`]: the embedded default, industry templates with slot filling,
//!   seeded variation and keyword density tuned into a band; no network, deterministic for a seed.
//! - `OpenAiCompatible` (feature `openai`, module `openai`): any OpenAI-compatible
//!   chat-completions server (DeepSeek, Qwen/DashScope compatible mode, vLLM, Ollama, llama.cpp).
//!
//! Both implement [`TextGenerator`](marketingforce_core::adapters::generation::TextGenerator)
//! and validate requests with [`validate_request`].

pub mod density;
pub mod document;
pub mod markdown;
mod offline;
#[cfg(feature = "openai")]
pub mod openai;
pub mod template;

pub use offline::OfflineTextGenerator;
pub use template::{TextTemplate, TextTemplates};

use marketingforce_core::adapters::generation::{Language, Materials, TextRequest};
use marketingforce_core::Error as CoreError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};

/// Size limits on text requests. Oversized input is refused before any work is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TextLimits {
    /// Largest total size of the materials, in bytes.
    pub max_material_bytes: usize,
    /// Most entries in each materials list.
    pub max_list_items: usize,
    /// Longest single entry, in characters.
    pub max_item_chars: usize,
    /// Most keywords.
    pub max_keywords: usize,
    /// Longest keyword, in characters.
    pub max_keyword_chars: usize,
    /// Longest topic or industry, in characters.
    pub max_topic_chars: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        TextLimits {
            max_material_bytes: 64 * 1024,
            max_list_items: 50,
            max_item_chars: 500,
            max_keywords: 10,
            max_keyword_chars: 40,
            max_topic_chars: 120,
        }
    }
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(ContentError::validation(field, "must not be blank"));
    }
    let n = value.chars().count();
    if n > max_chars {
        return Err(ContentError::validation(
            field,
            format!("{n} characters, at most {max_chars} allowed"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ContentError::validation(
            field,
            "contains control characters",
        ));
    }
    Ok(())
}

fn check_list(field: &str, items: &[String], limits: &TextLimits) -> Result<()> {
    if items.len() > limits.max_list_items {
        return Err(CoreError::limit_exceeded(field, items.len(), limits.max_list_items).into());
    }
    for (i, it) in items.iter().enumerate() {
        check_text(&format!("{field}[{i}]"), it, limits.max_item_chars)?;
    }
    Ok(())
}

/// Check a URL is an absolute http(s) address without spaces or quotes.
pub(crate) fn check_url(field: &str, url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && !url.chars().any(|c| {
                    c.is_whitespace() || c == '"' || c == '<' || c == '>' || c.is_control()
                }) =>
        {
            Ok(())
        }
        _ => Err(ContentError::validation(
            field,
            format!("{url:?} is not an absolute http(s) URL"),
        )),
    }
}

/// Check the materials: not empty, not oversized, every entry sane.
///
/// # Errors
/// A validation error naming the field (`materials.use_cases[3]`), or
/// [`marketingforce_core::Error::LimitExceeded`] for oversized materials.
pub fn validate_materials(m: &Materials, limits: &TextLimits) -> Result<()> {
    if m.is_empty() {
        return Err(ContentError::validation(
            "materials",
            "empty: provide at least a product name, specs, use cases, highlights, regions, contact details, links or notes",
        ));
    }
    let bytes = m.text_bytes();
    if bytes > limits.max_material_bytes {
        return Err(CoreError::limit_exceeded(
            "materials (bytes)",
            bytes,
            limits.max_material_bytes,
        )
        .into());
    }
    if let Some(p) = &m.product_name {
        check_text("materials.product_name", p, limits.max_topic_chars)?;
    }
    if m.product_specs.len() > limits.max_list_items {
        return Err(CoreError::limit_exceeded(
            "materials.product_specs",
            m.product_specs.len(),
            limits.max_list_items,
        )
        .into());
    }
    for (i, s) in m.product_specs.iter().enumerate() {
        check_text(
            &format!("materials.product_specs[{i}].name"),
            &s.name,
            limits.max_item_chars,
        )?;
        check_text(
            &format!("materials.product_specs[{i}].value"),
            &s.value,
            limits.max_item_chars,
        )?;
    }
    check_list("materials.use_cases", &m.use_cases, limits)?;
    check_list("materials.regions", &m.regions, limits)?;
    check_list("materials.highlights", &m.highlights, limits)?;
    if m.links.len() > limits.max_list_items {
        return Err(CoreError::limit_exceeded(
            "materials.links",
            m.links.len(),
            limits.max_list_items,
        )
        .into());
    }
    for (i, l) in m.links.iter().enumerate() {
        check_text(
            &format!("materials.links[{i}].text"),
            &l.text,
            limits.max_item_chars,
        )?;
        check_url(&format!("materials.links[{i}].url"), &l.url)?;
    }
    if let Some(c) = &m.contact {
        for (name, v) in [
            ("company", &c.company),
            ("person", &c.person),
            ("phone", &c.phone),
            ("email", &c.email),
            ("wechat", &c.wechat),
            ("address", &c.address),
            ("website", &c.website),
        ] {
            if let Some(v) = v {
                check_text(
                    &format!("materials.contact.{name}"),
                    v,
                    limits.max_item_chars,
                )?;
            }
        }
        if let Some(e) = &c.email {
            if !e.contains('@') || e.contains(char::is_whitespace) {
                return Err(ContentError::validation(
                    "materials.contact.email",
                    "is not an email address",
                ));
            }
        }
        if let Some(p) = &c.phone {
            if !p.chars().any(|ch| ch.is_ascii_digit()) || p.chars().any(|ch| ch.is_alphabetic()) {
                return Err(ContentError::validation(
                    "materials.contact.phone",
                    "is not a phone number",
                ));
            }
        }
        if let Some(w) = &c.website {
            check_url("materials.contact.website", w)?;
        }
    }
    if let Some(n) = &m.notes {
        if n.len() > limits.max_material_bytes {
            return Err(CoreError::limit_exceeded(
                "materials.notes (bytes)",
                n.len(),
                limits.max_material_bytes,
            )
            .into());
        }
    }
    Ok(())
}

/// Check a whole text request.
///
/// # Errors
/// A validation error naming the field, or a limit error for oversized input.
pub fn validate_request(req: &TextRequest, limits: &TextLimits) -> Result<()> {
    check_text("industry", &req.industry, limits.max_topic_chars)?;
    check_text("topic", &req.topic, limits.max_topic_chars)?;
    if req.keywords.len() > limits.max_keywords {
        return Err(
            CoreError::limit_exceeded("keywords", req.keywords.len(), limits.max_keywords).into(),
        );
    }
    for (i, k) in req.keywords.iter().enumerate() {
        check_text(&format!("keywords[{i}]"), k, limits.max_keyword_chars)?;
        if req.keywords[..i]
            .iter()
            .any(|p| p.trim().eq_ignore_ascii_case(k.trim()))
        {
            return Err(ContentError::validation(
                format!("keywords[{i}]"),
                format!("duplicate keyword {k:?}"),
            ));
        }
    }
    validate_materials(&req.materials, limits)
}

/// Parse a text request from JSON, reporting an unsupported language as a validation error on
/// `language` (rather than a generic decoding error), then validate it.
///
/// ```
/// use marketingforce_content::text::{parse_request, TextLimits};
/// let e = parse_request(r#"{"industry":"x","topic":"y","language":"fr"}"#, &TextLimits::default())
///     .unwrap_err();
/// assert!(e.to_string().contains("unsupported language \"fr\""));
/// ```
///
/// # Errors
/// Validation errors naming the field.
pub fn parse_request(json: &str, limits: &TextLimits) -> Result<TextRequest> {
    let mut value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| ContentError::validation("request", format!("not valid JSON: {e}")))?;
    if let Some(lang) = value.get("language") {
        let tag = lang.as_str().ok_or_else(|| {
            ContentError::validation("language", "must be a string such as \"zh-CN\" or \"en\"")
        })?;
        let parsed: Language = tag.parse()?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert(
                "language".into(),
                serde_json::Value::String(parsed.tag().into()),
            );
        }
    }
    let req: TextRequest = serde_json::from_value(value)
        .map_err(|e| ContentError::validation("request", e.to_string()))?;
    validate_request(&req, limits)?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketingforce_core::adapters::generation::ContactDetails;

    fn with_contact(contact: ContactDetails) -> TextRequest {
        TextRequest::new("industrial-machinery", "数控机床选购指南").materials(Materials {
            contact: Some(contact),
            ..Materials::default()
        })
    }

    #[test]
    fn contact_errors_name_the_field_without_echoing_personal_data() {
        for (contact, field, value) in [
            (
                ContactDetails {
                    email: Some("zhang.wei.example.cn".into()),
                    ..ContactDetails::default()
                },
                "materials.contact.email",
                "zhang.wei.example.cn",
            ),
            (
                ContactDetails {
                    phone: Some("138x1234y5678".into()),
                    ..ContactDetails::default()
                },
                "materials.contact.phone",
                "1234",
            ),
        ] {
            let e = validate_request(&with_contact(contact), &TextLimits::default()).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(field), "{text}");
            assert!(!text.contains(value), "personal data echoed: {text}");
            assert!(
                !format!("{e:?}").contains(value),
                "personal data echoed: {e:?}"
            );
        }
    }
}
