//! Contact ways (联系我) as channel QR codes: `add_contact_way` with a `state` that says which
//! lead source and campaign a contact added through it belongs to.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::connector::WeCom;
use super::links::ChannelCode;
use crate::error::{CrmError, Result};

/// A channel QR code to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCodeRequest {
    /// What the code stands for (its `state`, source and campaign).
    pub code: ChannelCode,
    /// Staff userids the code adds (one for a single-person code, several for a multi-person
    /// code).
    pub users: Vec<String>,
    /// Add without the staff member's confirmation (default true).
    #[serde(default = "yes")]
    pub skip_verify: bool,
    /// A remark shown in the admin console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}

fn yes() -> bool {
    true
}

impl ChannelCodeRequest {
    /// A request for `code` adding `users`.
    pub fn new(code: ChannelCode, users: Vec<String>) -> ChannelCodeRequest {
        ChannelCodeRequest {
            code,
            users,
            skip_verify: true,
            remark: None,
        }
    }
}

#[derive(Deserialize)]
struct Added {
    config_id: String,
    #[serde(default)]
    qr_code: Option<String>,
}

impl WeCom {
    /// Create a channel QR code (`add_contact_way`, scene 2 = QR code) and record its `state`
    /// mapping, so contacts added through it are captured with its source and campaign.
    ///
    /// # Errors
    /// A validation error on the code (`state`, `campaign`) or `users` (1–100); platform,
    /// transport and storage errors.
    pub async fn create_channel_code(&self, request: ChannelCodeRequest) -> Result<ChannelCode> {
        request.code.validate()?;
        if request.users.is_empty() || request.users.len() > 100 {
            return Err(CrmError::validation(
                "users",
                "must list 1-100 staff userids",
            ));
        }
        let way_type = if request.users.len() == 1 { 1 } else { 2 };
        let mut body = json!({
            "type": way_type,
            "scene": 2,
            "skip_verify": request.skip_verify,
            "state": request.code.state,
            "user": request.users,
        });
        if let Some(r) = &request.remark {
            body["remark"] = json!(r.chars().take(30).collect::<String>());
        }
        // Recorded first: a contact may scan the code the moment it exists.
        self.seam
            .codes()
            .upsert(self.tenant(), &request.code)
            .await?;
        let added: Added = self
            .client
            .post("cgi-bin/externalcontact/add_contact_way", &body)
            .await?;
        let mut code = request.code;
        code.config_id = Some(added.config_id);
        code.qr_code = added.qr_code;
        self.seam.codes().upsert(self.tenant(), &code).await?;
        Ok(code)
    }

    /// Record what a `state` stands for without creating a code (for codes made in the admin
    /// console).
    ///
    /// # Errors
    /// A validation error on the code; storage errors.
    pub async fn register_channel_code(&self, code: &ChannelCode) -> Result<()> {
        code.validate()?;
        self.seam.codes().upsert(self.tenant(), code).await?;
        Ok(())
    }
}
