//! # marketingforce-content
//!
//! T Cloud's content side: generate marketing text, images and video; review them against the
//! Advertising Law; recommend channels and publish through real-name-verified accounts within
//! release quotas; optimise the channel mix, watch the numbers, hand inquiries to the CRM; and
//! report against peers.
//!
//! ```
//! use marketingforce_core::IdempotencyKey;
//! use std::sync::Arc;
//! use marketingforce_content::compliance::{ContentVersion, Decision, ReviewService};
//! use marketingforce_content::distribution::{
//!     meters, ChannelCatalogue, InMemoryQuota, PublicationStatus, PublishCommand, Publisher,
//!     SimulatedChannel,
//! };
//! use marketingforce_content::text::OfflineTextGenerator;
//! use marketingforce_core::adapters::channel::{AccountStatus, ContentFormat, Verification};
//! use marketingforce_core::adapters::generation::{ContactDetails, Materials, TextRequest};
//! use marketingforce_core::env::Env;
//! use marketingforce_core::id::SeededIds;
//! use marketingforce_core::storage::{MemoryStore, Store};
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::{Clock, ManualClock};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let env = Env::builder(store).clock(clock.clone()).ids(Arc::new(SeededIds::new(1, clock.clone()))).build();
//! let tenant = TenantId::new();
//!
//! // 1. T-text drafts an article from the user's materials (offline, deterministic for a seed).
//! let request = TextRequest::new("industrial-machinery", "立式加工中心选购指南")
//!     .keywords(["加工中心"])
//!     .materials(Materials {
//!         product_name: Some("XK-850 立式加工中心".into()),
//!         use_cases: vec!["汽车零部件加工".into()],
//!         contact: Some(ContactDetails { phone: Some("0512-6000 0000".into()), ..Default::default() }),
//!         ..Materials::default()
//!     })
//!     .seed(42);
//! let article = OfflineTextGenerator::new().generate_article(&request).unwrap();
//!
//! // 2. Compliance review, recorded for this content version.
//! let reviews = ReviewService::new(&env);
//! let version = ContentVersion { content_id: "art-1".into(), version: 1, industry: None,
//!     title: article.title.clone(), body: article.body_markdown.clone() };
//! assert_eq!(reviews.review(&tenant, &version, &IdempotencyKey::from_static("review-art-1-v1")).await.unwrap().decision, Decision::Approved);
//!
//! // 3. Publish through a verified account, consuming release quota.
//! let info = ChannelCatalogue::builtin().get("machine-portal").unwrap().clone();
//! let channel = SimulatedChannel::new(info, 7, clock.clone());
//! channel.add_account(&tenant, "acme", AccountStatus { verification: Verification::Verified, suspended: None });
//! let quota = Arc::new(InMemoryQuota::new());
//! quota.set_limit(&tenant, meters::PUBLICATIONS, 100);
//! let publisher = Publisher::builder(&env, Arc::new(ChannelCatalogue::builtin()))
//!     .channel(Arc::new(channel)).unwrap()
//!     .quota(quota.clone())
//!     .require_review(reviews)
//!     .build();
//! let publication = publisher.publish(&tenant, PublishCommand {
//!     content_id: "art-1".into(), version: 1, channel: "machine-portal".into(), account: "acme".into(),
//!     format: ContentFormat::Article, title: article.title, body_html: article.body_html,
//!     media: vec![], tags: vec!["加工中心".into()], publish_at: None,
//! }, &IdempotencyKey::from_static("publish-art-1-machine-portal")).await.unwrap();
//! assert!(matches!(publication.status, PublicationStatus::Published(_)));
//! assert_eq!(quota.used(&tenant, meters::PUBLICATIONS), 1);
//! # });
//! ```
//!
//! ## Modules
//! - [`text`]: T-text — the offline template generator ([`text::OfflineTextGenerator`]) and the
//!   OpenAI-compatible backend (`text::openai`, feature `openai`); request validation; keyword
//!   density; a safe Markdown reader.
//! - [`metered`]: [`metered::Metered`] wraps any text, image or video generator and meters each
//!   generation against the tenant's quota (articles, images, rendered videos): reserved
//!   before, committed on success, released on failure; a retry of the same request counts once.
//! - [`keywords`]: jieba segmentation and TF-IDF keyword suggestions.
//! - [`image`]: T-image — themed posters, banners and product images to SVG, PNG with
//!   `image::raster` (feature `raster`).
//! - [`video`]: T-video — storyboards, SRT/WebVTT subtitles, dubbing scripts, speech
//!   (`espeak-ng`, feature `tts`) and MP4 rendering (`ffmpeg`, feature `ffmpeg`).
//! - [`compliance`]: Advertising Law word lists as data, the evasion-robust checker, decisions
//!   recorded per content version.
//! - [`distribution`]: channel catalogue, recommendation, publishing with quotas
//!   ([`distribution::QuotaGate`], [`distribution::ModulesQuota`] on the platform's metering),
//!   rate limits and scheduling; simulated and HTTP (feature `http-channel`) channels, and the
//!   WeChat Official Account channel (`distribution::wechat`, feature `wechat-oa`).
//! - [`events`]: the domain events written to the tenant's outbox with the records they
//!   describe (review approved, referred or rejected — by rule ids, never the text;
//!   publication published or rejected by its channel); [`event_catalog`] lists them.
//! - [`optimise`]: Thompson-sampling channel mix, volume policy, EWMA alerts, remarketing
//!   audiences, inquiries handed to the CRM through [`optimise::LeadSink`].
//! - [`report`]: the five-aspect evaluation against peer benchmarks, as HTML with SVG charts.
//!
//! ## Feature flags
//! None is on by default; CI builds with all of them.
//! - `raster`: PNG output with `resvg` (needs a CJK font, e.g. Debian `fonts-wqy-microhei`).
//! - `openai`: the OpenAI-compatible chat-completions backend on `reqwest` (plain HTTP; enable
//!   `reqwest/rustls` in your own manifest for HTTPS endpoints).
//! - `http-channel`: the HTTP content-channel adapter.
//! - `wechat-oa`: the WeChat Official Account channel (drafts, free publishing, statistics,
//!   the publish-result callback) on the platform's real API.
//! - `ffmpeg`: MP4 rendering with the `ffmpeg` program (implies `raster`).
//! - `tts`: speech with the `espeak-ng` program.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod compliance;
pub mod distribution;
pub mod error;
pub mod events;
pub mod image;
pub mod keywords;
pub mod metered;
pub mod optimise;
pub mod report;
#[cfg(feature = "testing")]
pub mod rng;
#[cfg(not(feature = "testing"))]
mod rng;
mod telemetry;
pub mod text;
pub mod video;

pub use error::{ContentError, LlmError, Result};
pub use events::event_catalog;
