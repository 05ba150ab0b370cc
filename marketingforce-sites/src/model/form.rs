//! Inquiry forms as data: fields, the PIPL consent, texts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Text;

/// An inquiry form: its fields, the consent the visitor gives, and the texts around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormSpec {
    /// Id (`[a-z0-9-]`, referenced by `contact_form` blocks).
    pub id: String,
    /// The fields, in order.
    pub fields: Vec<FieldSpec>,
    /// The consent checkbox (PIPL): required and stored with every submission.
    pub consent: ConsentSpec,
    /// The submit button's label.
    pub submit_label: Text,
    /// Shown after a successful submission.
    pub success: Text,
    /// Accepted submissions per client and window (the rate limit).
    #[serde(default)]
    pub rate_limit: FormRateLimit,
}

/// The rate limit of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormRateLimit {
    /// Submissions allowed per client (IP digest) in one window (1–1000).
    pub per_client: u32,
    /// Window length in seconds (60–86,400).
    pub window_secs: u32,
}

impl Default for FormRateLimit {
    fn default() -> Self {
        FormRateLimit {
            per_client: 5,
            window_secs: 600,
        }
    }
}

/// What a field holds: decides its input type, its server-side check and where the CRM puts it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// The person's name.
    Name,
    /// A mainland mobile number.
    Mobile,
    /// An email address.
    Email,
    /// The company.
    Company,
    /// Province or city.
    Region,
    /// The product asked about (a select when options are given).
    Product,
    /// Free text (a textarea); not stored by this crate.
    Message,
    /// Any other short text.
    Text,
}

impl FieldKind {
    /// The HTML input type.
    pub fn input_type(self) -> &'static str {
        match self {
            FieldKind::Mobile => "tel",
            FieldKind::Email => "email",
            _ => "text",
        }
    }

    /// The `autocomplete` hint.
    pub fn autocomplete(self) -> &'static str {
        match self {
            FieldKind::Name => "name",
            FieldKind::Mobile => "tel",
            FieldKind::Email => "email",
            FieldKind::Company => "organization",
            FieldKind::Region => "address-level1",
            _ => "off",
        }
    }
}

/// One field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field name in the submission (`[a-z][a-z0-9_]{0,31}`; not `website`, which is the
    /// honeypot, nor names starting with `_`).
    pub name: String,
    /// What it holds.
    pub kind: FieldKind,
    /// Its label.
    pub label: Text,
    /// Whether it must be filled.
    #[serde(default)]
    pub required: bool,
    /// Longest accepted value in characters (1–2,000; default 100).
    #[serde(default = "hundred")]
    pub max_chars: u16,
    /// Choices (renders a select; a submitted value must be one of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<FieldOption>,
}

fn hundred() -> u16 {
    100
}

/// One choice of a select field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldOption {
    /// The submitted value.
    pub value: String,
    /// The label shown.
    pub label: Text,
}

/// The consent a visitor gives before submitting (Personal Information Protection Law).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentSpec {
    /// The consent text next to the checkbox (stored with each submission as shown).
    pub text: Text,
    /// The purpose recorded in the CRM (`marketing_calls`).
    pub purpose: String,
    /// The version of the text (change it whenever the text changes).
    pub version: String,
}
