//! Metered generation: [`Metered`] wraps any text, image or video generator and takes the
//! tenant's usage quota through a [`QuotaGate`] around each generation.
//!
//! For every request the wrapper **reserves** one unit of the meter before the backend runs
//! ([`meters::ARTICLES`] per article, [`meters::IMAGES`] per image, [`meters::VIDEOS`] per
//! rendered video), **commits** it when the backend produced the output, and **releases** it
//! when it did not: a backend error, a refused request, a compliance rejection (see
//! [`Metered::with_compliance`]) or a video that was only planned, not rendered, consume
//! nothing. Because the hold is taken atomically before the work, concurrent requests of a
//! tenant never generate more than its quota, however they interleave.
//!
//! # Idempotency keys
//! Each generation is metered under a key, so a retry of the same request counts once:
//! - Through the generator traits ([`TextGenerator`], [`ImageGenerator`], [`VideoGenerator`])
//!   the key is the request itself: its meter and the SHA-256 fingerprint of the whole request
//!   (every field, the seed included). The request must carry a
//!   [`seed`](TextRequest::seed): without one, a backend draws a fresh seed per call and the
//!   same request yields different content, so a repeat could not be told from a new
//!   generation — such a request is refused with a validation error on `seed`. To generate a
//!   second, different piece from the same brief, change the seed.
//! - Through [`generate_article`](Metered::generate_article) and its image and video
//!   counterparts the caller names the generation with an [`IdempotencyKey`] (a content id and version, an upstream
//!   request id); the key is the meter, that name and the request's fingerprint, so a name
//!   reused for another request is metered anew, never for free. Unseeded requests are accepted
//!   there: the name identifies the generation.
//!
//! A key that was committed stays committed: replaying it regenerates (the same output for a
//! deterministic backend and a seeded request) without consuming again. A key whose generation
//! failed was released and is metered again by its retry.
//!
//! # Errors
//! Through the generator traits an exhausted quota is
//! [`marketingforce_core::Error::LimitExceeded`] whose `limit` is the meter and `available` what
//! is left; [`ContentError::from_adapter`] turns it back into [`ContentError::QuotaExceeded`],
//! which is what the keyed methods return directly.
//!
//! ```
//! use marketingforce_core::IdempotencyKey;
//! use std::sync::Arc;
//! use marketingforce_content::distribution::{meters, InMemoryQuota};
//! use marketingforce_content::metered::Metered;
//! use marketingforce_content::text::OfflineTextGenerator;
//! use marketingforce_content::ContentError;
//! use marketingforce_core::adapters::generation::{Materials, TextGenerator, TextRequest};
//! use marketingforce_core::tenant::TenantId;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let tenant = TenantId::new();
//! let quota = Arc::new(InMemoryQuota::new());
//! quota.set_limit(&tenant, meters::ARTICLES, 2);
//! let text = Metered::new(Arc::new(OfflineTextGenerator::new()), quota.clone(), tenant);
//!
//! let materials = Materials { product_name: Some("XK-850 立式加工中心".into()), ..Materials::default() };
//! let request = TextRequest::new("industrial-machinery", "立式加工中心选购指南")
//!     .materials(materials.clone())
//!     .seed(1);
//! let first = text.generate(&request).await.unwrap();
//! // A retry of the same request counts once (and, seeded, gives the same article).
//! assert_eq!(text.generate(&request).await.unwrap(), first);
//! assert_eq!(quota.used(&tenant, meters::ARTICLES), 1);
//!
//! text.generate(&request.clone().seed(2)).await.unwrap();
//! // The quota of two articles is used up: the typed limit error names the meter.
//! let err = text.generate(&request.clone().seed(3)).await.unwrap_err();
//! assert!(matches!(
//!     ContentError::from_adapter(err),
//!     ContentError::QuotaExceeded { ref meter, remaining: 0, .. } if *meter == meters::ARTICLES
//! ));
//!
//! // Naming the generation instead: the same brief for two content ids counts twice.
//! let quota = Arc::new(InMemoryQuota::new());
//! quota.set_limit(&tenant, meters::ARTICLES, 5);
//! let text = Metered::new(Arc::new(OfflineTextGenerator::new()), quota.clone(), tenant);
//! let brief = TextRequest::new("industrial-machinery", "五轴加工中心").materials(materials);
//! text.generate_article(&brief, &IdempotencyKey::from_static("article-1:v1")).await.unwrap();
//! text.generate_article(&brief, &IdempotencyKey::from_static("article-2:v1")).await.unwrap();
//! text.generate_article(&brief, &IdempotencyKey::from_static("article-1:v1")).await.unwrap(); // a retry
//! assert_eq!(quota.used(&tenant, meters::ARTICLES), 2);
//! # });
//! ```

use marketingforce_core::IdempotencyKey;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_core::adapters::generation::{
    Article, GeneratedImage, GeneratedVideo, ImageGenerator, ImageRequest, TextGenerator,
    TextRequest, VideoGenerator, VideoRequest,
};
use marketingforce_core::storage::Fingerprint;
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use serde::Serialize;

use crate::compliance::{ComplianceChecker, Decision};
use crate::distribution::{meters, Meter, QuotaGate};
use crate::error::{ContentError, Result};

/// The longest caller-chosen generation name accepted by the keyed methods, in bytes (the key
/// also carries the meter and a fingerprint, and metering keys are at most 256 bytes).
pub const MAX_KEY_BYTES: usize = 160;

/// Hex digits of the request fingerprint kept in a metering key (128 bits).
const FINGERPRINT_HEX: usize = 32;

/// A generator that takes the tenant's usage quota around every generation. See the
/// [module docs](self).
///
/// `Metered<G>` implements [`TextGenerator`], [`ImageGenerator`] and [`VideoGenerator`]
/// whenever `G` does (also for `G = dyn TextGenerator` and the like), so it drops in wherever
/// a backend is expected. It is bound to one tenant; [`for_tenant`](Self::for_tenant) makes
/// the same wrapper for another (cheap: the backend and the gate are shared).
pub struct Metered<G: ?Sized> {
    inner: Arc<G>,
    quota: Arc<dyn QuotaGate>,
    tenant: TenantId,
    compliance: Option<Arc<ComplianceChecker>>,
}

impl<G: ?Sized> Clone for Metered<G> {
    fn clone(&self) -> Self {
        Metered {
            inner: self.inner.clone(),
            quota: self.quota.clone(),
            tenant: self.tenant,
            compliance: self.compliance.clone(),
        }
    }
}

impl<G: ?Sized + fmt::Debug> fmt::Debug for Metered<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metered")
            .field("inner", &self.inner)
            .field("quota", &self.quota)
            .field("tenant", &self.tenant)
            .field("compliance", &self.compliance.is_some())
            .finish()
    }
}

/// The metering key of a generation: `meter:fingerprint` (`name` absent, the request being
/// its own identity) or `meter:name:fingerprint`, where the fingerprint is the first 128 bits
/// of the SHA-256 of the request's JSON.
///
/// # Errors
/// A validation error on `key` for a blank name or one longer than [`MAX_KEY_BYTES`], on
/// `seed` for an unnamed request without a seed; a serialization error for a request that
/// cannot be encoded.
pub fn generation_key<R: Serialize + ?Sized>(
    meter: Meter,
    request: &R,
    seed: Option<u64>,
    name: Option<&str>,
) -> Result<String> {
    let fingerprint = Fingerprint::of(request)?;
    let short = fingerprint
        .as_str()
        .get(..FINGERPRINT_HEX)
        .unwrap_or(fingerprint.as_str());
    match name {
        Some(name) => {
            if name.trim().is_empty() {
                return Err(ContentError::validation("key", "must not be blank"));
            }
            if name.len() > MAX_KEY_BYTES {
                return Err(ContentError::validation(
                    "key",
                    format!("{} bytes, at most {MAX_KEY_BYTES} allowed", name.len()),
                ));
            }
            Ok(format!("{meter}:{name}:{short}"))
        }
        None if seed.is_none() => Err(ContentError::validation(
            "seed",
            "metered generation through the generator trait needs a seed, so that a retry of \
             the same request can be told from a new one (or name the generation with a keyed \
             method)",
        )),
        None => Ok(format!("{meter}:{short}")),
    }
}

impl<G: ?Sized> Metered<G> {
    /// Meter `inner` for `tenant` through `quota`.
    pub fn new(inner: Arc<G>, quota: Arc<dyn QuotaGate>, tenant: TenantId) -> Metered<G> {
        Metered {
            inner,
            quota,
            tenant,
            compliance: None,
        }
    }

    /// Check every output with `checker` before it is delivered: content the checker
    /// [rejects](Decision::Rejected) is discarded with [`ContentError::NotCompliant`] and its
    /// quota given back. (Content needing human review is delivered and metered; the
    /// publishing review decides on it.)
    #[must_use]
    pub fn with_compliance(mut self, checker: Arc<ComplianceChecker>) -> Metered<G> {
        self.compliance = Some(checker);
        self
    }

    /// The same wrapper for another tenant.
    #[must_use]
    pub fn for_tenant(&self, tenant: TenantId) -> Metered<G> {
        Metered {
            tenant,
            ..self.clone()
        }
    }

    /// The tenant metered.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The wrapped generator.
    pub fn inner(&self) -> &Arc<G> {
        &self.inner
    }

    /// Reserve one unit of `meter` under `key`, run `work`, then commit or release.
    ///
    /// `work` answers the output and whether it is to be metered (a video only planned is
    /// not). This call's hold is released on failure only when this call took it: a
    /// concurrent duplicate that found the key already held leaves the hold to its owner, and
    /// on success commits it (holding it anew if the owner failed and released it meanwhile).
    async fn metered<T, F>(&self, meter: Meter, key: &str, work: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<(T, bool)>> + Send,
        T: Send,
    {
        let grant = self.quota.reserve(&self.tenant, meter, 1, key).await?;
        let owner = grant.consumed > 0;
        let outcome = work.await;
        match outcome {
            Ok((output, true)) => {
                let mut owner = owner;
                let mut tries = 0;
                loop {
                    match self.quota.commit(&self.tenant, meter, 1, key).await {
                        Ok(()) => return Ok(output),
                        // A concurrent duplicate held the key and its generation failed, so
                        // the hold was released under us: hold the unit ourselves (or learn
                        // that the quota is used up, and deliver nothing), then commit.
                        Err(_) if !owner && tries < 2 => {
                            tries += 1;
                            owner = self
                                .quota
                                .reserve(&self.tenant, meter, 1, key)
                                .await?
                                .consumed
                                > 0;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok((output, false)) => {
                if owner {
                    self.quota.release(&self.tenant, meter, key).await?;
                }
                Ok(output)
            }
            Err(e) => {
                if owner {
                    // The generation failed: give the unit back. If that fails too, both are
                    // reported; the hold stays open and a successful retry under the same key
                    // commits it.
                    if let Err(release) = self.quota.release(&self.tenant, meter, key).await {
                        return Err(ContentError::Core(marketingforce_core::Error::Backend {
                            backend: "metering".into(),
                            message: format!(
                                "{e}; and the {meter} hold under {key} could not be released: {release}"
                            ),
                            retryable: e.is_retryable(),
                            source: Some(Box::new(e)),
                        }));
                    }
                }
                Err(e)
            }
        }
    }

    fn check(&self, meter: Meter, texts: &[&str]) -> Result<()> {
        let Some(checker) = &self.compliance else {
            return Ok(());
        };
        let report = checker.scan(&texts.join("\n"));
        if report.decision == Decision::Rejected {
            let terms: Vec<&str> = report.findings.iter().map(|f| &*f.term).collect();
            return Err(ContentError::NotCompliant {
                meter,
                decision: report.decision.to_string(),
                terms: terms.join(", "),
            });
        }
        Ok(())
    }
}

impl<G: TextGenerator + ?Sized> Metered<G> {
    /// Generate an article named `key` (e.g. `article-7:v2`), metering [`meters::ARTICLES`].
    ///
    /// # Errors
    /// [`ContentError::QuotaExceeded`] when the tenant's article quota is used up (nothing
    /// generated); the backend's error
    /// ([`ContentError::from_adapter`]) and [`ContentError::NotCompliant`], both consuming
    /// nothing; the gate's errors.
    #[operation("content.metered.generate_article", tenant = self.tenant, key = key)]
    pub async fn generate_article(
        &self,
        request: &TextRequest,
        key: &IdempotencyKey,
    ) -> Result<Article> {
        let key = generation_key(meters::ARTICLES, request, request.seed, Some(key.as_str()))?;
        self.article(request, &key).await
    }

    async fn article(&self, request: &TextRequest, key: &str) -> Result<Article> {
        self.metered(meters::ARTICLES, key, async {
            let a = self
                .inner
                .generate(request)
                .await
                .map_err(ContentError::from_adapter)?;
            self.check(meters::ARTICLES, &[&a.title, &a.summary, &a.body_markdown])?;
            Ok((a, true))
        })
        .await
    }
}

impl<G: ImageGenerator + ?Sized> Metered<G> {
    /// Generate an image named `key`, metering [`meters::IMAGES`].
    ///
    /// # Errors
    /// As [`generate_article`](Self::generate_article), on the image quota.
    #[operation("content.metered.generate_image", tenant = self.tenant, key = key)]
    pub async fn generate_image(
        &self,
        request: &ImageRequest,
        key: &IdempotencyKey,
    ) -> Result<GeneratedImage> {
        let key = generation_key(meters::IMAGES, request, request.seed, Some(key.as_str()))?;
        self.image(request, &key).await
    }

    async fn image(&self, request: &ImageRequest, key: &str) -> Result<GeneratedImage> {
        self.metered(meters::IMAGES, key, async {
            let image = self
                .inner
                .generate(request)
                .await
                .map_err(ContentError::from_adapter)?;
            // An image shows the request's text.
            let mut texts: Vec<&str> = vec![&request.headline];
            texts.extend(request.subheadline.as_deref());
            texts.extend(request.body.iter().map(String::as_str));
            texts.extend(request.call_to_action.as_deref());
            texts.extend(request.contact.as_deref());
            self.check(meters::IMAGES, &texts)?;
            Ok((image, true))
        })
        .await
    }
}

impl<G: VideoGenerator + ?Sized> Metered<G> {
    /// Generate a video named `key`, metering [`meters::VIDEOS`] when a video is rendered (a
    /// backend that only plans — empty `bytes` — consumes nothing).
    ///
    /// # Errors
    /// As [`generate_article`](Self::generate_article), on the video quota.
    #[operation("content.metered.generate_video", tenant = self.tenant, key = key)]
    pub async fn generate_video(
        &self,
        request: &VideoRequest,
        key: &IdempotencyKey,
    ) -> Result<GeneratedVideo> {
        let key = generation_key(meters::VIDEOS, request, request.seed, Some(key.as_str()))?;
        self.video(request, &key).await
    }

    async fn video(&self, request: &VideoRequest, key: &str) -> Result<GeneratedVideo> {
        self.metered(meters::VIDEOS, key, async {
            let video = self
                .inner
                .generate(request)
                .await
                .map_err(ContentError::from_adapter)?;
            let mut texts: Vec<&str> = vec![&request.title, &video.dubbing_script];
            texts.extend(request.script.iter().map(String::as_str));
            self.check(meters::VIDEOS, &texts)?;
            let rendered = !video.bytes.is_empty();
            Ok((video, rendered))
        })
        .await
    }
}

#[async_trait]
impl<G: TextGenerator + ?Sized> TextGenerator for Metered<G> {
    fn backend(&self) -> &str {
        self.inner.backend()
    }

    async fn generate(&self, request: &TextRequest) -> marketingforce_core::Result<Article> {
        let key = generation_key(meters::ARTICLES, request, request.seed, None)?;
        Ok(self.article(request, &key).await?)
    }
}

#[async_trait]
impl<G: ImageGenerator + ?Sized> ImageGenerator for Metered<G> {
    fn backend(&self) -> &str {
        self.inner.backend()
    }

    async fn generate(
        &self,
        request: &ImageRequest,
    ) -> marketingforce_core::Result<GeneratedImage> {
        let key = generation_key(meters::IMAGES, request, request.seed, None)?;
        Ok(self.image(request, &key).await?)
    }
}

#[async_trait]
impl<G: VideoGenerator + ?Sized> VideoGenerator for Metered<G> {
    fn backend(&self) -> &str {
        self.inner.backend()
    }

    async fn generate(
        &self,
        request: &VideoRequest,
    ) -> marketingforce_core::Result<GeneratedVideo> {
        let key = generation_key(meters::VIDEOS, request, request.seed, None)?;
        Ok(self.video(request, &key).await?)
    }
}
