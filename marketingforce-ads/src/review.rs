//! The content review gate: every creative placed must carry an approval from the compliance
//! review, and every placement is recorded.
//!
//! The compliance review itself (the checker) belongs to the content crate. This module defines
//! the seam placement requires: an [`ApprovalRecord`] bound to the exact content reviewed (a
//! SHA-256 digest), the [`ReviewChecker`] trait that supplies the record for a creative, and
//! [`gate`], which refuses creatives that were never reviewed, were rejected, or changed after
//! review. [`StoredApprovals`] is a checker backed by the store, where a reviewer (or the content
//! crate) records its decisions.
//!
//! ```
//! use chrono::Utc;
//! use marketingforce_ads::ids::{CreativeId, CustomerId};
//! use marketingforce_ads::review::*;
//!
//! let creative = Creative::new(CreativeId::new(), CustomerId::new(), CreativeDraft {
//!     title: "春季新品".into(),
//!     body: "限时八折".into(),
//!     media: vec![],
//!     landing_url: "https://example.com/spring".into(),
//! }, Utc::now()).unwrap();
//! assert!(gate(&creative, None).is_err());
//! let approval = ApprovalRecord::approve(&creative, "合规-李", "rev-1", Utc::now());
//! assert!(gate(&creative, Some(approval.clone())).is_ok());
//!
//! // Editing the creative after review voids the approval.
//! let mut edited = creative.clone();
//! edited.draft.body = "全场一折".into();
//! edited.digest = edited.draft.digest();
//! assert!(gate(&edited, Some(approval)).unwrap_err().to_string().contains("changed after"));
//! ```

use std::fmt::Write as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketingforce_core::storage::{Collection, Entity, IndexEntry, Store};
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AdsError, Result};
use crate::ids::{AdAccountId, CampaignId, CreativeId, CustomerId, PlacementId};

/// The content of an ad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreativeDraft {
    /// Headline.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Media URLs.
    #[serde(default)]
    pub media: Vec<String>,
    /// Landing page.
    pub landing_url: String,
}

impl CreativeDraft {
    /// SHA-256 (hex) of the content, the identity an approval is bound to.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        let mut hex = String::with_capacity(64);
        for b in Sha256::digest(&bytes) {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }

    /// Check the draft.
    ///
    /// # Errors
    /// A blank title or landing page.
    pub fn validate(&self) -> Result<()> {
        if self.title.trim().is_empty() {
            return Err(AdsError::validation("title", "must not be blank"));
        }
        if self.landing_url.trim().is_empty() {
            return Err(AdsError::validation("landing_url", "must not be blank"));
        }
        Ok(())
    }
}

/// A creative of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Creative {
    /// Id.
    pub id: CreativeId,
    /// The customer.
    pub customer: CustomerId,
    /// The content.
    pub draft: CreativeDraft,
    /// Digest of the content.
    pub digest: String,
    /// When registered.
    pub created_at: DateTime<Utc>,
}

impl Creative {
    /// A creative with its digest.
    ///
    /// # Errors
    /// An invalid draft.
    pub fn new(
        id: CreativeId,
        customer: CustomerId,
        draft: CreativeDraft,
        now: DateTime<Utc>,
    ) -> Result<Creative> {
        draft.validate()?;
        Ok(Creative {
            id,
            customer,
            digest: draft.digest(),
            draft,
            created_at: now,
        })
    }
}

impl Entity for Creative {
    const COLLECTION: &'static str = "ads.creatives";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![IndexEntry::new("customer", self.customer.to_string())]
    }
}

/// The compliance decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ReviewDecision {
    /// May be placed.
    Approved,
    /// May not be placed.
    Rejected {
        /// Why.
        reasons: Vec<String>,
    },
}

/// A compliance decision on a creative, bound to the exact content reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalRecord {
    /// The creative.
    pub creative: CreativeId,
    /// Digest of the content reviewed.
    pub content_digest: String,
    /// The decision.
    pub decision: ReviewDecision,
    /// Who reviewed (person or automated checker).
    pub reviewer: String,
    /// The reviewer's reference (sent to the platform with the ad).
    pub review_ref: String,
    /// When.
    pub reviewed_at: DateTime<Utc>,
}

impl ApprovalRecord {
    /// An approval of `creative` as it is now.
    pub fn approve(
        creative: &Creative,
        reviewer: &str,
        review_ref: &str,
        at: DateTime<Utc>,
    ) -> ApprovalRecord {
        ApprovalRecord {
            creative: creative.id,
            content_digest: creative.digest.clone(),
            decision: ReviewDecision::Approved,
            reviewer: reviewer.to_string(),
            review_ref: review_ref.to_string(),
            reviewed_at: at,
        }
    }
}

impl Entity for ApprovalRecord {
    const COLLECTION: &'static str = "ads.approvals";
    fn key(&self) -> String {
        self.creative.to_string()
    }
}

/// Supplies the compliance decision on a creative (the content crate's checker, or
/// [`StoredApprovals`]).
#[async_trait]
pub trait ReviewChecker: Send + Sync + std::fmt::Debug {
    /// The latest decision on `creative`, if it was reviewed.
    ///
    /// # Errors
    /// Backend failures.
    async fn approval(
        &self,
        tenant: &TenantId,
        creative: &Creative,
    ) -> Result<Option<ApprovalRecord>>;
}

/// Approval records kept in the store (written with [`StoredApprovals::record`]).
#[derive(Debug, Clone)]
pub struct StoredApprovals {
    approvals: Collection<ApprovalRecord>,
}

impl StoredApprovals {
    /// Approvals in `store`.
    pub fn new(store: std::sync::Arc<dyn Store>) -> StoredApprovals {
        StoredApprovals {
            approvals: Collection::new(store),
        }
    }

    /// Record a decision (the latest decision on a creative is the one that counts).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn record(&self, tenant: &TenantId, record: &ApprovalRecord) -> Result<()> {
        self.approvals.upsert(tenant, record).await?;
        Ok(())
    }
}

#[async_trait]
impl ReviewChecker for StoredApprovals {
    async fn approval(
        &self,
        tenant: &TenantId,
        creative: &Creative,
    ) -> Result<Option<ApprovalRecord>> {
        Ok(self
            .approvals
            .get(tenant, &creative.id.to_string())
            .await?
            .map(|v| v.value))
    }
}

/// Let a creative through only with an approval of exactly its current content.
///
/// # Errors
/// [`AdsError::CreativeNotApproved`]: never reviewed, rejected (with the reasons), reviewed
/// for another creative, or changed after review.
pub fn gate(creative: &Creative, approval: Option<ApprovalRecord>) -> Result<ApprovalRecord> {
    let refuse = |reason: String| AdsError::CreativeNotApproved {
        creative: creative.id,
        reason,
    };
    let Some(record) = approval else {
        return Err(refuse("no approval record: it was never reviewed".into()));
    };
    if record.creative != creative.id {
        return Err(refuse(format!(
            "the approval is for creative {}",
            record.creative
        )));
    }
    if let ReviewDecision::Rejected { reasons } = &record.decision {
        return Err(refuse(format!(
            "rejected by {} ({}): {}",
            record.reviewer,
            record.review_ref,
            reasons.join("; ")
        )));
    }
    if record.content_digest != creative.digest {
        return Err(refuse(
            "the content changed after it was reviewed; review it again".into(),
        ));
    }
    Ok(record)
}

/// The record of a creative placed in a campaign, with the approval it carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Placement {
    /// Id.
    pub id: PlacementId,
    /// The campaign.
    pub campaign: CampaignId,
    /// The account.
    pub account: AdAccountId,
    /// The creative.
    pub creative: CreativeId,
    /// Digest of the content placed.
    pub content_digest: String,
    /// The approval it carried.
    pub approval: ApprovalRecord,
    /// The platform's ad id.
    pub platform_ad_id: String,
    /// When placed.
    pub placed_at: DateTime<Utc>,
}

impl Entity for Placement {
    const COLLECTION: &'static str = "ads.placements";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![
            IndexEntry::new("campaign", self.campaign.to_string()),
            IndexEntry::new("creative", self.creative.to_string()),
        ]
    }
}
