//! The one module that calls the content crate's compliance review. Every text unit of a site
//! goes through `ReviewService::review` (the top-level review API, which records the decision
//! per content version); when that API changes, this file is the only edit.
//!
//! A unit's content id is `site:<site id>:<keyed-free SHA-256 prefix of its text>`, version 1:
//! the same text is reviewed once per tenant and the record is reused on every publish, and a
//! person can decide a referred unit under that id (`ReviewService::record_human_decision`),
//! which the next publish honours.

use marketingforce_content::compliance::{ContentVersion, Decision, ReviewService};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use sha2::{Digest, Sha256};

use super::texts::TextUnit;
use crate::error::{BlockedText, Result};

/// Review every unit; returns the ones that are not approved.
pub(crate) async fn review_units(
    reviews: &ReviewService,
    tenant: &TenantId,
    site_id: &str,
    industry: Option<&str>,
    units: &[TextUnit],
) -> Result<Vec<BlockedText>> {
    let mut blocked = Vec::new();
    for unit in units {
        let digest = Sha256::digest(unit.text.as_bytes());
        let content_id = format!("site:{site_id}:{}", hex::encode(&digest[..12]));
        let version = ContentVersion {
            content_id: content_id.clone(),
            version: 1,
            industry: industry.map(str::to_string),
            title: String::new(),
            body: unit.text.clone(),
        };
        let record = reviews
            .review(
                tenant,
                &version,
                &IdempotencyKey::new(format!("review:{content_id}"))?,
            )
            .await?;
        if record.decision != Decision::Approved {
            let mut terms: Vec<String> =
                record.findings.iter().map(|f| f.matched.clone()).collect();
            terms.dedup();
            blocked.push(BlockedText {
                path: unit.path.clone(),
                decision: record.decision.to_string(),
                terms,
                content_id,
            });
        }
    }
    Ok(blocked)
}
