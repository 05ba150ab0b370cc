//! Publishing a site: the tenant's entitlement first, then the Advertising Law review of every
//! text block, then rendering. Nothing is rendered or recorded unless both pass.
//!
//! | the site has | module needed (catalog id) |
//! |---|---|
//! | any page | `mf.platform_builder` |
//! | the derived mobile variant on | `mf.pc_to_mobile` |
//! | more than one locale | `mf.multilingual_sites` |
//!
//! ```
//! use std::sync::Arc;
//! use chrono::NaiveDate;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::storage::{MemoryStore, Store};
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::{Clock, ManualClock};
//! use marketingforce_modules::catalog::ModuleId;
//! use marketingforce_modules::entitlements::{Entitlements, Grant};
//! use marketingforce_core::IdempotencyKey;
//! use marketingforce_sites::industry::IndustryTemplate;
//! use marketingforce_sites::publish::SitePublisher;
//! use marketingforce_sites::render::RenderInputs;
//! use marketingforce_sites::SitesError;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let publisher = SitePublisher::new(&Env::builder(store).clock(clock.clone()).build());
//! let tenant = TenantId::new();
//! let d = |s: &str| s.parse::<NaiveDate>().unwrap();
//! let mut site = IndustryTemplate::Machinery.site().unwrap();
//! let inputs = RenderInputs::placeholder_assets(&site);
//!
//! // Without mf.pc_to_mobile and mf.multilingual_sites the bilingual mobile-enabled site is refused.
//! let basic = Entitlements::from_grant(
//!     Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).module(ModuleId::PLATFORM_BUILDER),
//!     clock.clone()).unwrap();
//! assert!(matches!(publisher.publish(&tenant, &site, &inputs, &basic, &IdempotencyKey::new("pub-1").unwrap()).await, Err(SitesError::Modules(_))));
//!
//! let full = Entitlements::from_grant(
//!     Grant::new(tenant, d("2026-03-01"), d("2027-03-01")).module(ModuleId::PLATFORM_BUILDER)
//!         .module(ModuleId::PC_TO_MOBILE).module(ModuleId::MULTILINGUAL_SITES),
//!     clock).unwrap();
//! let published = publisher.publish(&tenant, &site, &inputs, &full, &IdempotencyKey::new("pub-2").unwrap()).await.unwrap();
//! assert!(published.output.files.contains_key("m/index.html"));
//!
//! // A superlative in a hero heading blocks publishing and names the block.
//! if let marketingforce_sites::model::Block::Hero(h) = &mut site.pages[0].blocks[0] {
//!     h.heading = marketingforce_sites::model::Text::zh("全国第一的机床品牌");
//! }
//! match publisher.publish(&tenant, &site, &inputs, &full, &IdempotencyKey::new("pub-3").unwrap()).await {
//!     Err(SitesError::ComplianceBlocked { blocked }) => assert_eq!(blocked[0].path, "pages[0].blocks[0] (zh-CN)"),
//!     other => panic!("{other:?}"),
//! }
//! # });
//! ```

mod compliance;
mod texts;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use marketingforce_content::compliance::ReviewService;
use marketingforce_core::env::Env;
use marketingforce_core::events::Outbox;
use marketingforce_core::storage::{Batch, Entity, Expect, Idempotent, Store};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_core::IdempotencyKey;
use marketingforce_modules::catalog::ModuleId;
use marketingforce_modules::entitlements::Entitlements;
use serde::{Deserialize, Serialize};

pub use texts::{text_units, TextUnit};

use crate::error::{Result, SitesError};
use crate::events::SitePublished;
use crate::model::Site;
use crate::render::{RenderInputs, RenderedSite, Renderer};

/// The journal of publications.
pub const PUBLISH_LOG: &str = "sites.publish_log";
/// The idempotency operation of [`SitePublisher::publish`].
pub const PUBLISH_OPERATION: &str = "sites.publish";

/// The modules a site needs, by the table above.
pub fn required_modules(site: &Site) -> Vec<ModuleId> {
    let mut m = vec![ModuleId::PLATFORM_BUILDER];
    if site.mobile.enabled {
        m.push(ModuleId::PC_TO_MOBILE);
    }
    if site.locales.len() > 1 {
        m.push(ModuleId::MULTILINGUAL_SITES);
    }
    m
}

/// The record of one publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicationRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// The site.
    pub site: String,
    /// The digest of the rendered files ([`RenderedSite::digest`]).
    pub digest: String,
    /// HTML pages rendered.
    pub pages: usize,
    /// Files rendered.
    pub files: usize,
    /// Text units approved by the review.
    pub texts_reviewed: usize,
    /// When.
    pub published_at: DateTime<Utc>,
}

impl Entity for PublicationRecord {
    const COLLECTION: &'static str = "sites.publications";
    fn key(&self) -> String {
        self.site.clone()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// A published site: the record and the files to serve.
#[derive(Debug, Clone)]
pub struct Published {
    /// The record (the site's latest publication).
    pub record: PublicationRecord,
    /// The rendered files.
    pub output: RenderedSite,
}

/// Publishes sites after the entitlement and compliance gates.
#[derive(Debug)]
pub struct SitePublisher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    reviews: ReviewService,
    renderer: Renderer,
    /// Where [`SitePublished`] events are staged.
    outbox: Outbox,
}

/// Builds a [`SitePublisher`] ([`SitePublisher::builder`]).
#[derive(Debug)]
#[must_use]
pub struct SitePublisherBuilder {
    env: Env,
    reviews: Option<ReviewService>,
}

impl SitePublisherBuilder {
    /// Review site texts with `reviews` (default: a [`ReviewService::new`] on the same
    /// environment; pass the one your content pipeline uses to share its word lists' cache).
    pub fn reviews(mut self, reviews: ReviewService) -> Self {
        self.reviews = Some(reviews);
        self
    }

    /// The publisher.
    pub fn build(self) -> SitePublisher {
        let store = self.env.store().clone();
        let clock = self.env.clock().clone();
        // Event ids come from their own (random UUIDv7) generator, as they always did.
        let events = Env::builder(store.clone()).clock(clock.clone()).build();
        SitePublisher {
            outbox: Outbox::new(&events),
            reviews: self
                .reviews
                .unwrap_or_else(|| ReviewService::new(&self.env)),
            store,
            clock,
            renderer: Renderer::new(),
        }
    }
}

impl SitePublisher {
    /// A publisher on `env` (its store and clock) reviewing with a new [`ReviewService`].
    pub fn new(env: &Env) -> SitePublisher {
        SitePublisher::builder(env).build()
    }

    /// Start building a publisher on `env` (see [`SitePublisherBuilder`]).
    pub fn builder(env: &Env) -> SitePublisherBuilder {
        SitePublisherBuilder {
            env: env.clone(),
            reviews: None,
        }
    }

    /// The renderer.
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// Validate, check the entitlements, review every text unit, render, and record the
    /// publication (idempotent by `idempotency_key`: a retry records nothing new; the files
    /// are rendered again, byte-identical).
    ///
    /// # Errors
    /// Validation errors naming the path; [`SitesError::Modules`] naming the missing module
    /// and the bundles that include it; [`SitesError::ComplianceBlocked`] listing every block
    /// not approved; storage errors.
    #[operation("sites.publish.publish", tenant = tenant, key = idempotency_key)]
    pub async fn publish(
        &self,
        tenant: &TenantId,
        site: &Site,
        inputs: &RenderInputs,
        entitlements: &Entitlements,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Published> {
        self.renderer.prepare(site, inputs)?;
        if entitlements.tenant() != *tenant {
            return Err(marketingforce_core::Error::TenantIsolation {
                what: "entitlements".into(),
                owner: entitlements.tenant().to_string(),
                caller: tenant.to_string(),
            }
            .into());
        }
        for module in required_modules(site) {
            entitlements.require(&module)?;
        }
        let units = text_units(site, &inputs.articles);
        let blocked = compliance::review_units(
            &self.reviews,
            tenant,
            &site.id,
            site.industry.as_deref(),
            &units,
        )
        .await?;
        if !blocked.is_empty() {
            return Err(SitesError::ComplianceBlocked { blocked });
        }
        let output = self.renderer.render(site, inputs)?;
        let record = PublicationRecord {
            tenant: *tenant,
            site: site.id.clone(),
            digest: output.digest(),
            pages: output.pages().count(),
            files: output.files.len(),
            texts_reviewed: units.len(),
            published_at: self.clock.now(),
        };
        let idem = Idempotent::new(
            idempotency_key,
            PUBLISH_OPERATION,
            &(&site.id, &record.digest),
        )?;
        let record = match idem
            .check::<PublicationRecord>(self.store.as_ref(), tenant)
            .await?
        {
            Some(prev) => prev,
            None => {
                let mut batch = Batch::new();
                batch.put_entity(tenant, &record, Expect::Any)?;
                batch.append_json(PUBLISH_LOG, &record)?;
                let event = SitePublished {
                    site: record.site.clone(),
                    digest: record.digest.clone(),
                    pages: record.pages,
                    files: record.files,
                    texts_reviewed: record.texts_reviewed,
                    published_at: record.published_at,
                };
                self.outbox
                    .append(
                        tenant,
                        &mut batch,
                        &event,
                        &crate::events::command_context(idempotency_key.as_str()),
                    )
                    .await?;
                idem.commit(self.store.as_ref(), tenant, batch, record)
                    .await?
            }
        };
        Ok(Published { record, output })
    }
}
