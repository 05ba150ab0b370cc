//! The content services of a [`TenantHandle`]: Advertising Law review and generation metered
//! by the tenant's own quotas.

use std::sync::Arc;

use marketingforce_content::compliance::{
    ContentVersion, HumanDecision, Lexicon, ReviewRecord, ReviewService,
};
use marketingforce_content::distribution::ModulesQuota;
use marketingforce_content::image::TemplateImageGenerator;
use marketingforce_content::metered::Metered;
use marketingforce_content::text::OfflineTextGenerator;
use marketingforce_content::ContentError;
use marketingforce_core::adapters::generation::{ImageGenerator, TextGenerator};
use marketingforce_core::env::Env;
use marketingforce_core::idempotency::IdempotencyKey;
use marketingforce_core::tenant::TenantId;
use marketingforce_modules::entitlements::EntitlementRegistry;

use super::TenantHandle;

/// What a [`Platform`](super::Platform) needs for content: the review service, the generation
/// backends and the quota gate over the entitlement registry.
pub(super) struct ContentServices {
    reviews: ReviewService,
    text: Arc<dyn TextGenerator>,
    images: Arc<dyn ImageGenerator>,
    quota: Arc<ModulesQuota>,
}

/// The content settings of a [`PlatformBuilder`](super::PlatformBuilder).
#[derive(Default)]
pub(super) struct ContentSettings {
    pub lexicon: Option<Lexicon>,
    pub text: Option<Arc<dyn TextGenerator>>,
    pub images: Option<Arc<dyn ImageGenerator>>,
}

impl ContentServices {
    pub(super) fn build(
        env: &Env,
        registry: &Arc<EntitlementRegistry>,
        settings: ContentSettings,
    ) -> ContentServices {
        ContentServices {
            reviews: match settings.lexicon {
                Some(base) => ReviewService::builder(env).lexicon(base).build(),
                None => ReviewService::new(env),
            },
            text: settings
                .text
                .unwrap_or_else(|| Arc::new(OfflineTextGenerator::new())),
            images: settings
                .images
                .unwrap_or_else(|| Arc::new(TemplateImageGenerator::new())),
            quota: Arc::new(ModulesQuota::new(registry.clone())),
        }
    }

    /// The review service (shared by every tenant).
    pub(super) fn reviews(&self) -> &ReviewService {
        &self.reviews
    }
}

impl TenantHandle {
    /// The tenant's content services: compliance review against the Advertising Law word lists
    /// and the tenant's own list, and text and image generation metered by the tenant's quotas
    /// and checked for compliance before delivery.
    pub fn content(&self) -> TenantContent<'_> {
        TenantContent { handle: self }
    }
}

/// A tenant's content services ([`TenantHandle::content`]).
#[derive(Debug, Clone, Copy)]
pub struct TenantContent<'a> {
    handle: &'a TenantHandle,
}

impl TenantContent<'_> {
    fn services(&self) -> &ContentServices {
        &self.handle.inner.content
    }

    fn tenant(&self) -> TenantId {
        self.handle.profile.id
    }

    /// Review a content version against the Advertising Law and the tenant's word list, and
    /// record the decision (once per version; a replay answers the first record).
    ///
    /// # Errors
    /// Validation errors (blank id, version 0); an idempotency mismatch; storage errors.
    pub async fn review(
        &self,
        content: &ContentVersion,
        key: &IdempotencyKey,
    ) -> Result<ReviewRecord, ContentError> {
        self.services()
            .reviews
            .review(&self.tenant(), content, key)
            .await
    }

    /// The decision recorded for a content version, if it was reviewed.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn decision(
        &self,
        content_id: &str,
        version: u32,
    ) -> Result<Option<ReviewRecord>, ContentError> {
        self.services()
            .reviews
            .decision(&self.tenant(), content_id, version)
            .await
    }

    /// Record a person's decision on a version the checker referred to human review.
    ///
    /// # Errors
    /// Not found without an automatic review; an invalid state when a person already decided
    /// or the version is approved; idempotency and storage errors.
    pub async fn record_human_decision(
        &self,
        content_id: &str,
        version: u32,
        human: &HumanDecision,
        key: &IdempotencyKey,
    ) -> Result<ReviewRecord, ContentError> {
        self.services()
            .reviews
            .record_human_decision(&self.tenant(), content_id, version, human, key)
            .await
    }

    /// Store the tenant's own word list (checked against the base list: it may add terms and
    /// exemptions, and lowers a Reject rule only by a waiver with its reason).
    ///
    /// # Errors
    /// A validation error naming the path in the list; storage errors.
    pub async fn set_lexicon(&self, lexicon: Lexicon) -> Result<(), ContentError> {
        self.services()
            .reviews
            .set_tenant_lexicon(&self.tenant(), lexicon)
            .await
    }

    /// The text generator for this tenant: each article consumes the tenant's
    /// `articles_published` quota (refused when exhausted, given back when generation fails)
    /// and is checked with the tenant's compliance checker before delivery.
    ///
    /// # Errors
    /// Storage errors loading the tenant's word list.
    pub async fn text(&self) -> Result<Metered<dyn TextGenerator>, ContentError> {
        let s = self.services();
        let checker = s.reviews.checker(&self.tenant(), None).await?;
        Ok(Metered::new(s.text.clone(), s.quota.clone(), self.tenant()).with_compliance(checker))
    }

    /// The image generator for this tenant, metered by its `images_generated` quota and
    /// compliance-checked like [`text`](Self::text).
    ///
    /// # Errors
    /// Storage errors loading the tenant's word list.
    pub async fn images(&self) -> Result<Metered<dyn ImageGenerator>, ContentError> {
        let s = self.services();
        let checker = s.reviews.checker(&self.tenant(), None).await?;
        Ok(Metered::new(s.images.clone(), s.quota.clone(), self.tenant()).with_compliance(checker))
    }
}
