//! Reviews recorded per content version, with tenant word lists kept in the store.

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use marketingforce_core::env::Env;
use marketingforce_core::events::Outbox;
use marketingforce_core::storage::{
    Batch, Collection, Entity, Expect, Idempotent, IndexEntry, Store,
};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::checker::{ComplianceChecker, Decision, Finding, WaiverRecord};
use super::lexicon::Lexicon;
use crate::error::{ContentError, Result};
use crate::events::ReviewEvent;

/// One version of a piece of content submitted for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContentVersion {
    /// The caller's content id.
    pub content_id: String,
    /// The version (1, 2, …): every edit is reviewed again.
    pub version: u32,
    /// Industry of the advertiser (selects industry word lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Title.
    pub title: String,
    /// Body text (plain or Markdown; HTML tags are scanned as text).
    pub body: String,
}

/// Who decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Reviewer {
    /// The automatic checker.
    Automatic,
    /// A person.
    Human {
        /// The reviewer's name or id.
        name: String,
        /// Their note.
        note: String,
    },
}

/// The recorded review of one content version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// The content id.
    pub content_id: String,
    /// The version.
    pub version: u32,
    /// The decision in force.
    pub decision: Decision,
    /// The automatic decision (kept when a person overrides it).
    pub automatic_decision: Decision,
    /// Counted finds; offsets refer to `title + "\n" + body`.
    pub findings: Vec<Finding>,
    /// Finds allowed by exemptions.
    pub exempted: Vec<Finding>,
    /// The word lists used (`advertising-law-cn@1+tenant@1`).
    pub lexicons: String,
    /// The industry the rules were selected for (resolved id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Rules the tenant's list switched off, each with its recorded reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<WaiverRecord>,
    /// Who made the decision in force.
    pub reviewer: Reviewer,
    /// When the decision in force was made.
    pub decided_at: DateTime<Utc>,
}

impl ReviewRecord {
    /// The store key of a content version's review.
    pub fn key_for(content_id: &str, version: u32) -> String {
        format!("{content_id}#v{version}")
    }

    /// The decision in plain words: who decided, every counted find with its article and
    /// alternative, every exemption applied and every waiver in force with its reason.
    pub fn explain(&self) -> String {
        let mut s = match &self.reviewer {
            Reviewer::Automatic => String::new(),
            Reviewer::Human { name, note } => format!(
                "{} by {name} ({note}); automatic decision was ",
                self.decision
            ),
        };
        s.push_str(&super::checker::explain(
            self.automatic_decision,
            &self.findings,
            &self.exempted,
        ));
        for w in &self.waivers {
            s.push_str(&format!(
                "\n- waiver by {} of {} rule {}: {}",
                w.list,
                w.severity,
                w.term
                    .as_deref()
                    .or(w.category.as_deref())
                    .unwrap_or_default(),
                w.reason
            ));
        }
        s
    }
}

impl Entity for ReviewRecord {
    const COLLECTION: &'static str = "content.reviews";
    fn key(&self) -> String {
        ReviewRecord::key_for(&self.content_id, self.version)
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![
            IndexEntry::new("decision", self.decision.to_string()),
            IndexEntry::new("content", &self.content_id),
        ]
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// A tenant's own word list, stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TenantLexicon {
    tenant: TenantId,
    lexicon: Lexicon,
}

impl Entity for TenantLexicon {
    const COLLECTION: &'static str = "content.lexicons";
    fn key(&self) -> String {
        "tenant".into()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// A person's decision on a referred (or rejected) version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HumanDecision {
    /// Approved or rejected.
    pub decision: Decision,
    /// The reviewer's name or id.
    pub reviewer: String,
    /// Why.
    pub note: String,
}

/// The journal of review decisions.
pub const REVIEW_JOURNAL: &str = "content.review_log";

type CheckerCache = HashMap<(TenantId, Option<String>), (u64, Arc<ComplianceChecker>)>;

/// Reviews content versions and records a decision per version.
///
/// ```
/// use marketingforce_core::IdempotencyKey;
/// use std::sync::Arc;
/// use marketingforce_content::compliance::{ContentVersion, Decision, ReviewService};
/// use marketingforce_core::env::Env;
/// use marketingforce_core::storage::MemoryStore;
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_core::time::ManualClock;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = Arc::new(ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00").unwrap());
/// let service = ReviewService::new(&Env::builder(Arc::new(MemoryStore::new())).clock(clock).build());
/// let tenant = TenantId::new();
/// let v1 = ContentVersion { content_id: "art-1".into(), version: 1, industry: None,
///                           title: "行业第一的机床".into(), body: "精度高。".into() };
/// let r = service.review(&tenant, &v1, &IdempotencyKey::from_static("review-art-1-v1")).await.unwrap();
/// assert_eq!(r.decision, Decision::Rejected);
/// let v2 = ContentVersion { version: 2, title: "高精度机床".into(), ..v1 };
/// let r = service.review(&tenant, &v2, &IdempotencyKey::from_static("review-art-1-v2")).await.unwrap();
/// assert_eq!(r.decision, Decision::Approved);
/// assert_eq!(service.decision(&tenant, "art-1", 1).await.unwrap().unwrap().decision, Decision::Rejected);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ReviewService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    base: Arc<Lexicon>,
    reviews: Collection<ReviewRecord>,
    lexicons: Collection<TenantLexicon>,
    cache: Arc<Mutex<CheckerCache>>,
    /// Where the decision events are staged ([`crate::events`]).
    outbox: Outbox,
}

/// Builds a [`ReviewService`] ([`ReviewService::builder`]).
#[derive(Debug)]
#[must_use]
pub struct ReviewServiceBuilder {
    env: Env,
    base: Option<Lexicon>,
}

impl ReviewServiceBuilder {
    /// Use `base` as the common word list (default: [`Lexicon::builtin`]).
    pub fn lexicon(mut self, base: Lexicon) -> Self {
        self.base = Some(base);
        self
    }

    /// The service.
    pub fn build(self) -> ReviewService {
        let store = self.env.store().clone();
        let clock = self.env.clock().clone();
        // Event ids come from their own (random UUIDv7) generator, so staging decisions leaves
        // the environment's id sequence (seeded in simulations) as it was.
        let events = Env::builder(store.clone()).clock(clock.clone()).build();
        ReviewService {
            outbox: Outbox::new(&events),
            reviews: Collection::new(store.clone()),
            lexicons: Collection::new(store.clone()),
            store,
            clock,
            base: Arc::new(self.base.unwrap_or_else(Lexicon::builtin)),
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl ReviewService {
    /// A service on `env` (its store and clock) with the built-in Advertising Law list
    /// ([`Lexicon::builtin`]) as the common word list.
    pub fn new(env: &Env) -> ReviewService {
        ReviewService::builder(env).build()
    }

    /// Start building a service on `env` (see [`ReviewServiceBuilder`]).
    pub fn builder(env: &Env) -> ReviewServiceBuilder {
        ReviewServiceBuilder {
            env: env.clone(),
            base: None,
        }
    }

    /// Store a tenant's own word list (replacing the previous one). It is checked against the
    /// base list first: it may add terms, categories and exemptions, but switches a Reject rule
    /// of the base list off only by a waiver with its reason (kept on every review record).
    ///
    /// # Errors
    /// A validation error naming the path in the tenant list (`layers[1].terms[0].category`
    /// for a term that would lower a Reject rule without a waiver); storage errors.
    #[operation("content.review.set_tenant_lexicon", tenant = tenant)]
    pub async fn set_tenant_lexicon(&self, tenant: &TenantId, lexicon: Lexicon) -> Result<()> {
        // Every check that can fail (references, ambiguity, lowered Reject rules) is made
        // whatever the industry, so compiling once is enough.
        ComplianceChecker::new(&[&self.base, &lexicon], None)?;
        self.lexicons
            .upsert(
                tenant,
                &TenantLexicon {
                    tenant: *tenant,
                    lexicon,
                },
            )
            .await?;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(t, _), _| t != tenant);
        Ok(())
    }

    /// The checker for a tenant and industry (compiled once, then cached until the tenant's list
    /// changes).
    ///
    /// # Errors
    /// Storage errors, or a stored list that no longer compiles.
    #[operation("content.review.checker", tenant = tenant)]
    pub async fn checker(
        &self,
        tenant: &TenantId,
        industry: Option<&str>,
    ) -> Result<Arc<ComplianceChecker>> {
        let stored = self.lexicons.get(tenant, "tenant").await?;
        let version = stored.as_ref().map_or(0, |v| v.version);
        let key = (*tenant, industry.map(super::industry::resolve_industry));
        if let Some((v, c)) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            if *v == version {
                return Ok(c.clone());
            }
        }
        let checker = Arc::new(match &stored {
            Some(t) => ComplianceChecker::new(&[&self.base, &t.value.lexicon], industry)?,
            None => ComplianceChecker::new(&[&self.base], industry)?,
        });
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (version, checker.clone()));
        Ok(checker)
    }

    /// Review a content version and record the decision. Idempotent: replaying the key returns
    /// the first record; the same key for another content is an error. Reviewing a version that
    /// already has a record returns that record (a version's content never changes).
    ///
    /// # Errors
    /// Validation errors (blank id, version 0), idempotency mismatch, storage errors.
    #[operation("content.review.review", tenant = tenant, key = idempotency_key)]
    pub async fn review(
        &self,
        tenant: &TenantId,
        content: &ContentVersion,
        idempotency_key: &IdempotencyKey,
    ) -> Result<ReviewRecord> {
        let idempotency_key = idempotency_key.as_str();
        if content.content_id.trim().is_empty() {
            return Err(ContentError::validation("content_id", "must not be blank"));
        }
        if content.version == 0 {
            return Err(ContentError::validation("version", "versions start at 1"));
        }
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(idempotency_key, content)?;
        if let Some(prev) = idem
            .check::<ReviewRecord>(self.store.as_ref(), tenant)
            .await?
        {
            return Ok(prev);
        }
        let key = ReviewRecord::key_for(&content.content_id, content.version);
        if let Some(existing) = self.reviews.get(tenant, &key).await? {
            return Ok(existing.value);
        }
        let checker = self.checker(tenant, content.industry.as_deref()).await?;
        let text = format!("{}\n{}", content.title, content.body);
        let report = checker.scan(&text);
        let record = ReviewRecord {
            tenant: *tenant,
            content_id: content.content_id.clone(),
            version: content.version,
            decision: report.decision,
            automatic_decision: report.decision,
            findings: report.findings,
            exempted: report.exempted,
            lexicons: checker.lexicon_names().to_string(),
            industry: checker.industry().map(str::to_string),
            waivers: checker.waivers().to_vec(),
            reviewer: Reviewer::Automatic,
            decided_at: self.clock.now(),
        };
        let mut batch = Batch::new();
        batch.put_entity(tenant, &record, Expect::Absent)?;
        batch.append_json(REVIEW_JOURNAL, &record)?;
        ReviewEvent::of(&record)
            .stage(
                &self.outbox,
                tenant,
                &mut batch,
                &crate::events::context(Some(idempotency_key), None),
            )
            .await?;
        Ok(idem
            .commit(self.store.as_ref(), tenant, batch, record)
            .await?)
    }

    /// Record a person's decision on a version the checker sent to human review (or
    /// rejected: a reviewer may confirm it). An approved version cannot be changed.
    ///
    /// # Errors
    /// [`marketingforce_core::Error::NotFound`] without an automatic review;
    /// [`marketingforce_core::Error::InvalidState`] when the version is already decided by a
    /// person or approved; idempotency and storage errors.
    #[operation("content.review.record_human_decision", tenant = tenant, key = idempotency_key)]
    pub async fn record_human_decision(
        &self,
        tenant: &TenantId,
        content_id: &str,
        version: u32,
        human: &HumanDecision,
        idempotency_key: &IdempotencyKey,
    ) -> Result<ReviewRecord> {
        let idempotency_key = idempotency_key.as_str();
        let (decision, reviewer, note) =
            (human.decision, human.reviewer.as_str(), human.note.as_str());
        if reviewer.trim().is_empty() {
            return Err(ContentError::validation("reviewer", "must not be blank"));
        }
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(
            idempotency_key,
            &(content_id, version, decision, reviewer, note),
        )?;
        if let Some(prev) = idem
            .check::<ReviewRecord>(self.store.as_ref(), tenant)
            .await?
        {
            return Ok(prev);
        }
        let key = ReviewRecord::key_for(content_id, version);
        let current = self.reviews.require(tenant, &key).await?;
        let rec = &current.value;
        if rec.reviewer != Reviewer::Automatic || rec.decision == Decision::Approved {
            return Err(marketingforce_core::Error::invalid_state(
                "review",
                rec.decision,
                decision,
                "only automatic rejections and human-review referrals can be decided by a person",
            )
            .into());
        }
        if decision == Decision::NeedsHumanReview {
            return Err(ContentError::validation(
                "decision",
                "a person decides approved or rejected",
            ));
        }
        let mut next = rec.clone();
        next.decision = decision;
        next.reviewer = Reviewer::Human {
            name: reviewer.into(),
            note: note.into(),
        };
        next.decided_at = self.clock.now();
        let mut batch = Batch::new();
        batch.put_entity(tenant, &next, Expect::Version(current.version))?;
        batch.append_json(REVIEW_JOURNAL, &next)?;
        ReviewEvent::of(&next)
            .stage(
                &self.outbox,
                tenant,
                &mut batch,
                &crate::events::context(Some(idempotency_key), None),
            )
            .await?;
        Ok(idem
            .commit(self.store.as_ref(), tenant, batch, next)
            .await?)
    }

    /// The review recorded for a version, if any.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("content.review.decision", tenant = tenant)]
    pub async fn decision(
        &self,
        tenant: &TenantId,
        content_id: &str,
        version: u32,
    ) -> Result<Option<ReviewRecord>> {
        Ok(self
            .reviews
            .get(tenant, &ReviewRecord::key_for(content_id, version))
            .await?
            .map(|v| v.value))
    }
}
