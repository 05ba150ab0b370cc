//! [`ComplianceReview`]: the content crate's Advertising Law review as the ads crate's
//! creative review gate.

use async_trait::async_trait;
use marketingforce_ads::party::Customer;
use marketingforce_ads::review::{ApprovalRecord, Creative, ReviewChecker, ReviewDecision};
use marketingforce_ads::AdsError;
use marketingforce_content::compliance::{ContentVersion, Decision, ReviewRecord, ReviewService};
use marketingforce_content::ContentError;
use marketingforce_core::storage::Collection;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;

use super::errors::reclassify;

/// How many hex digits of a creative's content digest name its reviewed version.
const DIGEST_PREFIX: usize = 16;

/// The content crate's compliance review ([`ReviewService`]: the Advertising Law word lists,
/// the tenant's own list and waivers, industry rules, human decisions) as the ads crate's
/// [`ReviewChecker`]: `AdOps` places a creative only when this answers with an approval of
/// exactly its current content.
///
/// For each creative it reviews the content version `creative:{id}:{digest prefix}` (title and
/// body; the industry is the advertising customer's, so industry word lists apply), once —
/// the review is recorded in the content crate's store with its findings and reused on every
/// later check, from any process. A changed creative is a new version and is reviewed again.
///
/// | content decision | gate |
/// |---|---|
/// | approved (automatically or by a person) | approved, `review_ref` = the review record's key |
/// | rejected | rejected, with each finding's category, article and explanation |
/// | needs human review, not yet decided | rejected "awaiting human review" (record a person's decision with [`ReviewService::record_human_decision`] and place again) |
///
/// ```
/// use std::sync::Arc;
/// use marketingforce::bridges::ComplianceReview;
/// use marketingforce::content::compliance::ReviewService;
/// use marketingforce::core::env::Env;
/// use marketingforce::core::storage::MemoryStore;
///
/// let store = Arc::new(MemoryStore::new());
/// let reviews = ReviewService::new(&Env::new(store.clone()));
/// let checker = Arc::new(ComplianceReview::new(reviews, store));
/// // AdOps::builder(&env, tenant).review_checker(checker).open() — see the ads crate's `AdOps`.
/// # let _ = checker;
/// ```
#[derive(Debug, Clone)]
pub struct ComplianceReview {
    reviews: ReviewService,
    customers: Collection<Customer>,
}

impl ComplianceReview {
    /// A checker reviewing with `reviews`, reading advertising customers (for their industry)
    /// from `store` (the store `AdOps` runs on).
    pub fn new(
        reviews: ReviewService,
        store: std::sync::Arc<dyn marketingforce_core::storage::Store>,
    ) -> ComplianceReview {
        ComplianceReview {
            reviews,
            customers: Collection::new(store),
        }
    }

    /// The content version reviewed for `creative`.
    pub fn version_of(creative: &Creative, industry: Option<String>) -> ContentVersion {
        let digest = &creative.digest[..creative.digest.len().min(DIGEST_PREFIX)];
        ContentVersion {
            content_id: format!("creative:{}:{digest}", creative.id),
            version: 1,
            industry,
            title: creative.draft.title.clone(),
            body: creative.draft.body.clone(),
        }
    }

    fn decision(creative: &Creative, record: &ReviewRecord) -> ApprovalRecord {
        let reviewer = match &record.reviewer {
            marketingforce_content::compliance::Reviewer::Automatic => {
                format!("compliance checker ({})", record.lexicons)
            }
            marketingforce_content::compliance::Reviewer::Human { name, .. } => name.clone(),
        };
        let review_ref = ReviewRecord::key_for(&record.content_id, record.version);
        let mut approval =
            ApprovalRecord::approve(creative, &reviewer, &review_ref, record.decided_at);
        approval.decision = match record.decision {
            Decision::Approved => ReviewDecision::Approved,
            Decision::NeedsHumanReview => ReviewDecision::Rejected {
                reasons: vec![format!(
                    "awaiting human review of {review_ref}: {}",
                    reasons(record).join("; ")
                )],
            },
            _ => ReviewDecision::Rejected {
                reasons: reasons(record),
            },
        };
        approval
    }
}

/// Each counted finding as category, article and explanation.
fn reasons(record: &ReviewRecord) -> Vec<String> {
    record
        .findings
        .iter()
        .map(|f| match f.article {
            Some(article) => format!(
                "{} ({}, article {article}): {}",
                f.term, f.category, f.explanation
            ),
            None => format!("{} ({}): {}", f.term, f.category, f.explanation),
        })
        .collect()
}

fn from_content(e: ContentError) -> AdsError {
    match e {
        ContentError::Core(core) => AdsError::Core(core),
        other => AdsError::Core(reclassify("content.review", &other)),
    }
}

#[async_trait]
impl ReviewChecker for ComplianceReview {
    async fn approval(
        &self,
        tenant: &TenantId,
        creative: &Creative,
    ) -> marketingforce_ads::Result<Option<ApprovalRecord>> {
        let industry = self
            .customers
            .get(tenant, &creative.customer.to_string())
            .await?
            .map(|c| c.value.industry);
        let version = Self::version_of(creative, industry);
        let record = match self
            .reviews
            .decision(tenant, &version.content_id, version.version)
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => {
                let key = IdempotencyKey::new("ads-creative-review")?.derive(&version.content_id);
                self.reviews
                    .review(tenant, &version, &key)
                    .await
                    .map_err(from_content)?
            }
            Err(e) => return Err(from_content(e)),
        };
        Ok(Some(Self::decision(creative, &record)))
    }
}
