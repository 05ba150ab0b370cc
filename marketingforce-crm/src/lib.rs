//! # marketingforce-crm
//!
//! True Client, the sales CRM of the Marketingforce SDK: the lead lifecycle from capture to
//! promoter.
//!
//! ```
//! use marketingforce_core::IdempotencyKey;
//! use std::sync::Arc;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_crm::crypto::KeyRing;
//! use marketingforce_crm::model::{Source, Stage};
//! use marketingforce_crm::request::{CaptureRequest, Inquiry};
//! use marketingforce_crm::{CaptureOutcome, Crm};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // The environment: a store, and the keys that seal personal data (a KMS in production).
//! let env = Env::builder(Arc::new(MemoryStore::new()))
//!     .keys(Arc::new(KeyRing::new("k1", [7; 32])))
//!     .build();
//! let crm = Crm::builder(&env).build().unwrap();
//! let tenant = TenantId::new();
//!
//! // A visitor leaves a mobile on the tenant's site...
//! let first = crm
//!     .capture(&tenant, CaptureRequest::new(Source::OwnSite).name("张伟").mobile("138 1234 5678"), &IdempotencyKey::from_static("web-1"))
//!     .await
//!     .unwrap();
//! // ...and later asks again through T Cloud content: same person, merged automatically.
//! let inquiry = Inquiry {
//!     campaign: "2026-expo".into(),
//!     mobile: Some("+86 13812345678".into()),
//!     company: Some("上海某某机械有限公司".into()),
//!     ..Inquiry::default()
//! };
//! let second = crm.capture_inquiry(&tenant, inquiry, &IdempotencyKey::from_static("tcloud-9")).await.unwrap();
//! assert!(matches!(second, CaptureOutcome::Merged { lead, .. } if lead == first.lead()));
//!
//! // No plaintext anywhere in the lead record; lookups go through blind indexes.
//! let lead = crm.lead(&tenant, &first.lead()).await.unwrap();
//! assert_eq!(lead.stage, Stage::New);
//! assert!(!serde_json::to_string(&lead).unwrap().contains("13812345678"));
//! assert_eq!(crm.find_by_mobile(&tenant, "13812345678").await.unwrap(), vec![first.lead()]);
//! # });
//! ```
//!
//! ## Map of the crate
//! - [`identity`]: normalisation and validation of mobiles, phones (E.164), emails, WeCom ids,
//!   names and companies.
//! - [`crypto`]: AES-256-GCM sealing behind a [`KeyProvider`](crypto::KeyProvider) with key
//!   rotation, and keyed HMAC-SHA256 blind indexes.
//! - [`model`]: the lead record (no personal data), sources, stages, consent, and the sealed
//!   vault record — the only place personal data is stored.
//! - [`lifecycle`]: the configurable state machine and the history journal.
//! - [`request`], [`dedupe`], [`survivorship`]: capture requests and T Cloud inquiries, the
//!   in-memory dedupe engine (exact blind-index matching, and probabilistic matching in three
//!   bands — auto-merge, the possible-duplicates review queue, distinct — with typo-tolerant
//!   blocking; merge lineage with the match explanation, un-merge), and survivorship rules.
//! - [`matching`]: Fellegi–Sunter probabilistic matching — comparison levels, m/u estimation
//!   (random sampling and EM), typo-tolerant blocking, explained match weights, clustering.
//! - [`profile`]: behaviour events, profiles with decay, tag rules and scoring.
//! - [`allocation`]: allocation rules and strategies, SLA and recycle settings.
//! - [`access`], [`staff`], [`seats`]: visibility, masking, staff and the seat seam.
//! - [`sop`], [`library`], [`membership`], [`fission`], [`funnel`]: SOPs, the conversation
//!   library, membership points, social fission and funnel analytics.
//! - [`outreach`]: the [`MessageSender`](outreach::MessageSender) seam SOP steps and the
//!   library send through, with a simulated sender.
//! - `wecom` (feature `wecom`): the WeCom private domain — contact sync into capture, channel
//!   QR codes, customer groups, mass messages, tag sync, the encrypted callback endpoint.
//! - [`events`]: the domain events every command writes to the tenant's outbox in the batch
//!   that commits its change (lead captured, merged, assigned, stage changed, SLA breached,
//!   erased, …), with no personal data; [`event_catalog`] lists them.
//! - `synth` (feature `testing`): the synthetic lead generator behind the benchmarks.
//! - [`Crm`]: the service tying them to a [`Store`](marketingforce_core::storage::Store).
//!
//! ## Personal data and erasure
//! Personal data (names, phones, emails, WeCom and WeChat ids, companies, dates of birth, ID
//! document numbers, postcodes and addresses) is stored only in one sealed
//! vault record per live lead, whose secondary-index entries are the blind indexes. Lead
//! records, history, behaviour, access-log, points and referral journals refer to leads by id
//! only. Erasure deletes the vault record — ciphertext and blind indexes go together — and the
//! in-memory dedupe state forgets the keys; the lead record stays (as `erased`) so aggregates
//! are unchanged. Idempotency fingerprints are keyed digests, not plain hashes of requests.
//!
//! ## Matching: three bands and the review queue
//! A capture joins a lead that shares an exact identifier (mobile, other phone, email, WeCom
//! id, ID document number, WeChat unionid or openid). Otherwise its record (names in parts or
//! whole, date of birth, postcode, address, region, company, identifiers) is compared with the
//! records found by typo-tolerant blocking and scored with the tenant's Fellegi–Sunter
//! weights ([`matching`]; a trained model in `dedupe.fuzzy.model`, or the documented
//! defaults): at or above `dedupe.fuzzy.auto_merge_weight` it joins the lead (the
//! explanation is kept in [`Lead::match_evidence`](model::Lead::match_evidence)); at or
//! above `dedupe.fuzzy.review_weight` the pair goes to the possible-duplicates queue
//! ([`Crm::possible_duplicates`], [`Crm::accept_duplicate`], [`Crm::reject_duplicate`]; a
//! rejected pair is never proposed nor merged again); below, it is another person. A capture
//! with too little identity to match is kept [unmatched](model::Lead::unmatched) from the
//! tenant's own touchpoints and refused from sources that
//! [require an identity](model::Source::requires_identity).
//!
//! ## Configuration per tenant
//! The [`CrmConfig`] given to [`CrmBuilder::config`] is the service default. A tenant can have
//! its own with [`Crm::configure`]: validated (errors name the field path), stored as a
//! versioned [`TenantCrmConfig`] record in the tenant's store (so a restart loads it), and
//! used by the tenant's commands from then on; [`Crm::config_for`] is the configuration in
//! force for a tenant. A dedupe change applies to later captures (nothing is re-merged);
//! allocation cursors carry over by rule name, as across a restart.
//!
//! ## Feature flags
//! - `wecom`: the WeCom connector (`wecom`), on `reqwest` and core's `wechat-crypto`.
//!
//! Without it the crate is pure logic over the storage contract of `marketingforce-core`.
//! Choose a durable backend with `marketingforce-core`'s `sqlite` or `postgres` feature (or the
//! same features of the `marketingforce` umbrella crate) and pass it as an `Arc<dyn Store>`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
pub mod allocation;
pub mod crypto;
pub mod dedupe;
pub mod error;
pub mod events;
pub mod fission;
pub mod funnel;
pub mod gate;
pub mod identity;
pub mod ids;
pub mod library;
pub mod lifecycle;
pub mod matching;
pub mod membership;
pub mod model;
pub mod outreach;
pub mod profile;
pub mod request;
pub mod seats;
pub mod sop;
pub mod staff;
pub mod survivorship;
#[cfg(feature = "testing")]
pub mod synth;
#[cfg(feature = "wecom")]
pub mod wecom;

mod par;
mod service;
mod telemetry;

pub use error::{CrmError, Result};
pub use events::event_catalog;
pub use service::{
    AccessEntry, AccessOutcome, CaptureOutcome, ContactExport, Crm, CrmBuilder, CrmConfig,
    ImportReport, LeadView, RowError, RowResult, TenantCrmConfig, ACCESS_LOG_JOURNAL,
};
pub use service::{Allocation, LeadQuery, StateRefreshes, StatusFilter, SweepReport};
