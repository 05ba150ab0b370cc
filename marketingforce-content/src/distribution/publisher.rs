//! Publishing through the content-channel adapters: real-name-verified accounts only, reviewed
//! content only, release quota consumed through metering, per-channel rate limits and scheduling.

use marketingforce_core::IdempotencyKey;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use marketingforce_core::adapters::channel::{
    ContentChannel, ContentFormat, ContentStats, MediaAttachment, PublishOutcome, PublishReceipt,
    PublishRequest,
};
use marketingforce_core::entity_id;
use marketingforce_core::env::Env;
use marketingforce_core::events::Outbox;
use marketingforce_core::id::IdGenerator;
use marketingforce_core::storage::{
    Batch, Collection, Entity, Expect, Idempotent, IndexEntry, Store,
};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::catalogue::ChannelCatalogue;
use super::quota::{meters, QuotaGate, Unlimited};
use super::ratelimit::StoredWindows;
use crate::compliance::{Decision, ReviewService};
use crate::error::{ContentError, Result};
use crate::events::PublicationEvent;

entity_id! {
    /// Identifies a publication (one content version on one channel account).
    pub struct PublicationId("pub");
}

/// The journal of publication state changes.
pub const PUBLICATION_JOURNAL: &str = "content.publication_log";

/// What to publish where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishCommand {
    /// The content id.
    pub content_id: String,
    /// The reviewed version to publish.
    pub version: u32,
    /// Channel code.
    pub channel: String,
    /// The tenant's account on the channel.
    pub account: String,
    /// Format.
    pub format: ContentFormat,
    /// Title.
    pub title: String,
    /// Body HTML or caption.
    pub body_html: String,
    /// Media files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaAttachment>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Publish at this time instead of now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_at: Option<DateTime<Utc>>,
}

/// Where a publication stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PublicationStatus {
    /// Waiting for its time (requested time, or the channel's next free slot).
    Scheduled {
        /// When it becomes due.
        at: DateTime<Utc>,
    },
    /// Published.
    Published(PublishReceipt),
    /// The channel refused the content; its reason is kept.
    Rejected {
        /// The channel's code.
        code: String,
        /// The channel's reason.
        reason: String,
    },
    /// The call to the channel failed.
    Failed {
        /// What went wrong.
        reason: String,
        /// Whether [`Publisher::retry`] may succeed.
        retryable: bool,
    },
}

impl PublicationStatus {
    fn name(&self) -> &'static str {
        match self {
            PublicationStatus::Scheduled { .. } => "scheduled",
            PublicationStatus::Published(_) => "published",
            PublicationStatus::Rejected { .. } => "rejected",
            PublicationStatus::Failed { .. } => "failed",
        }
    }
}

/// One content version on one channel account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Publication {
    /// Id.
    pub id: PublicationId,
    /// Tenant.
    pub tenant: TenantId,
    /// What was asked.
    pub command: PublishCommand,
    /// Where it stands.
    pub status: PublicationStatus,
    /// Release-quota units consumed (0 until published).
    pub quota_units: u64,
    /// The idempotency key given to the channel and the quota.
    pub channel_key: String,
    /// Calls made to the channel.
    pub attempts: u32,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Publication {
    /// The platform's id once published.
    pub fn external_id(&self) -> Option<&str> {
        match &self.status {
            PublicationStatus::Published(r) => Some(&r.external_id),
            _ => None,
        }
    }
}

impl Entity for Publication {
    const COLLECTION: &'static str = "content.publications";
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let mut ix = vec![
            IndexEntry::new("status", self.status.name()),
            IndexEntry::new("content", &self.command.content_id),
            IndexEntry::new("channel", &self.command.channel),
        ];
        if let PublicationStatus::Published(r) = &self.status {
            ix.push(IndexEntry::new(
                "channel_day",
                format!("{}:{}", self.command.channel, r.published_at.date_naive()),
            ));
            ix.push(IndexEntry::new(
                "external",
                format!("{}:{}", self.command.channel, r.external_id),
            ));
        }
        ix
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// Publishes content versions through registered channels.
///
/// See the crate-level example for a full run on the simulated channel.
#[derive(Debug)]
pub struct Publisher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    catalogue: Arc<ChannelCatalogue>,
    channels: HashMap<String, Arc<dyn ContentChannel>>,
    quota: Arc<dyn QuotaGate>,
    reviews: Option<ReviewService>,
    /// The rate windows, in the store: shared by every process publishing for a tenant.
    windows: StoredWindows,
    publications: Collection<Publication>,
    /// Where the publication events are staged ([`crate::events`]).
    outbox: Outbox,
}

/// Builds a [`Publisher`] ([`Publisher::builder`]).
#[derive(Debug)]
#[must_use]
pub struct PublisherBuilder {
    env: Env,
    catalogue: Arc<ChannelCatalogue>,
    channels: HashMap<String, Arc<dyn ContentChannel>>,
    quota: Arc<dyn QuotaGate>,
    reviews: Option<ReviewService>,
}

impl PublisherBuilder {
    /// Register a channel adapter (its code must be in the catalogue).
    ///
    /// # Errors
    /// [`marketingforce_core::Error::NotFound`] for a code missing from the catalogue.
    pub fn channel(mut self, channel: Arc<dyn ContentChannel>) -> Result<Self> {
        self.catalogue.require(channel.code())?;
        self.channels.insert(channel.code().to_string(), channel);
        Ok(self)
    }

    /// Consume release quota through `quota` (default: unlimited).
    pub fn quota(mut self, quota: Arc<dyn QuotaGate>) -> Self {
        self.quota = quota;
        self
    }

    /// Publish only versions approved by `reviews` (default: no review required).
    pub fn require_review(mut self, reviews: ReviewService) -> Self {
        self.reviews = Some(reviews);
        self
    }

    /// The publisher.
    pub fn build(self) -> Publisher {
        let store = self.env.store().clone();
        Publisher {
            outbox: Outbox::new(&self.env),
            publications: Collection::new(store.clone()),
            windows: StoredWindows::new(store.clone()),
            store,
            clock: self.env.clock().clone(),
            ids: self.env.ids().clone(),
            catalogue: self.catalogue,
            channels: self.channels,
            quota: self.quota,
            reviews: self.reviews,
        }
    }
}

impl Publisher {
    /// Start building a publisher on `env` (its store, clock, and ids for publications and
    /// their events) for the channels of `catalogue`: no channel adapters, unlimited quota and
    /// no review requirement until the builder says otherwise.
    pub fn builder(env: &Env, catalogue: Arc<ChannelCatalogue>) -> PublisherBuilder {
        PublisherBuilder {
            env: env.clone(),
            catalogue,
            channels: HashMap::new(),
            quota: Arc::new(Unlimited),
            reviews: None,
        }
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &ChannelCatalogue {
        &self.catalogue
    }

    fn channel(&self, code: &str) -> Result<&Arc<dyn ContentChannel>> {
        self.channels
            .get(code)
            .ok_or_else(|| marketingforce_core::Error::not_found("channel adapter", code).into())
    }

    fn validate(&self, cmd: &PublishCommand) -> Result<()> {
        if cmd.content_id.trim().is_empty() {
            return Err(ContentError::validation("content_id", "must not be blank"));
        }
        if cmd.version == 0 {
            return Err(ContentError::validation("version", "versions start at 1"));
        }
        if cmd.account.trim().is_empty() {
            return Err(ContentError::validation("account", "must not be blank"));
        }
        if cmd.title.trim().is_empty() || cmd.title.chars().count() > 200 {
            return Err(ContentError::validation(
                "title",
                "must be 1-200 characters",
            ));
        }
        if cmd.body_html.len() > 1024 * 1024 {
            return Err(marketingforce_core::Error::limit_exceeded(
                "body_html (bytes)",
                cmd.body_html.len(),
                1024 * 1024,
            )
            .into());
        }
        let info = self.catalogue.require(&cmd.channel)?;
        if !info.formats.contains(&cmd.format) {
            return Err(ContentError::validation(
                "format",
                format!("channel {} does not accept {}", cmd.channel, cmd.format),
            ));
        }
        self.channel(&cmd.channel)?;
        Ok(())
    }

    /// Publish (or schedule) a content version. Idempotent per key: a replay returns the first
    /// publication; the same key for another command is an error.
    ///
    /// Refused before anything is consumed or recorded: invalid commands, unreviewed or
    /// unapproved versions ([`ContentError::NotApproved`]), accounts that are not real-name
    /// verified or are suspended ([`ContentError::AccountNotPublishable`]), exhausted release
    /// quota ([`ContentError::QuotaExceeded`]). A channel's refusal is recorded as
    /// [`PublicationStatus::Rejected`] with its reason and the quota is given back. When the
    /// channel's rate limit is reached the publication is scheduled for the next free slot.
    ///
    /// # Errors
    /// As above, plus idempotency and storage errors.
    #[operation("content.publisher.publish", tenant = tenant, key = idempotency_key, observe = crate::telemetry::published)]
    pub async fn publish(
        &self,
        tenant: &TenantId,
        cmd: PublishCommand,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Publication> {
        let idempotency_key = idempotency_key.as_str();
        self.validate(&cmd)?;
        #[allow(deprecated)] // moves to Idempotent::new(&IdempotencyKey, operation, ..)
        let idem = Idempotent::legacy(idempotency_key, &cmd)?;
        if let Some(prev) = idem
            .check::<Publication>(self.store.as_ref(), tenant)
            .await?
        {
            return Ok(prev);
        }
        self.ensure_approved(tenant, &cmd).await?;
        self.ensure_account(tenant, &cmd).await?;
        let now = self.clock.now();
        let publication = Publication {
            id: PublicationId::generate(self.ids.as_ref()),
            tenant: *tenant,
            status: PublicationStatus::Scheduled {
                at: cmd.publish_at.unwrap_or(now),
            },
            quota_units: 0,
            channel_key: format!("{}:{}", tenant, idempotency_key),
            attempts: 0,
            requested_at: now,
            updated_at: now,
            command: cmd,
        };
        let done = if publication.command.publish_at.is_some_and(|at| at > now) {
            publication
        } else {
            self.execute(tenant, publication).await?
        };
        let mut batch = Batch::new();
        batch.put_entity(tenant, &done, Expect::Absent)?;
        batch.append_json(PUBLICATION_JOURNAL, &done)?;
        let ctx = crate::events::context(Some(idempotency_key), Some(&done.channel_key));
        if let Err(e) = self.stage_event(tenant, &mut batch, &done, &ctx).await {
            self.unrecorded(tenant, &done).await;
            return Err(e);
        }
        match idem
            .commit(self.store.as_ref(), tenant, batch, done.clone())
            .await
        {
            Ok(p) => Ok(p),
            Err(e) => {
                self.unrecorded(tenant, &done).await;
                Err(e.into())
            }
        }
    }

    /// Stage the event of `p` reaching a channel's answer (published, rejected), if it did.
    async fn stage_event(
        &self,
        tenant: &TenantId,
        batch: &mut Batch,
        p: &Publication,
        ctx: &marketingforce_core::events::EventContext,
    ) -> Result<()> {
        if let Some(event) = PublicationEvent::of(p) {
            event.stage(&self.outbox, tenant, batch, ctx).await?;
        }
        Ok(())
    }

    /// A publication that took a rate slot could not be recorded: give the slot back, so the
    /// retry under the same key (which the channel and the quota recognise) can take it again
    /// instead of being scheduled for later while the item is already live.
    async fn unrecorded(&self, tenant: &TenantId, p: &Publication) {
        if matches!(
            p.status,
            PublicationStatus::Published(_)
                | PublicationStatus::Failed {
                    retryable: true,
                    ..
                }
        ) {
            self.give_back(tenant, p).await;
        }
    }

    async fn ensure_approved(&self, tenant: &TenantId, cmd: &PublishCommand) -> Result<()> {
        let Some(reviews) = &self.reviews else {
            return Ok(());
        };
        match reviews
            .decision(tenant, &cmd.content_id, cmd.version)
            .await?
        {
            Some(r) if r.decision == Decision::Approved => Ok(()),
            Some(r) => Err(ContentError::NotApproved {
                content_id: cmd.content_id.clone(),
                version: cmd.version,
                decision: r.decision.to_string(),
            }),
            None => Err(ContentError::NotApproved {
                content_id: cmd.content_id.clone(),
                version: cmd.version,
                decision: "not reviewed".into(),
            }),
        }
    }

    async fn ensure_account(&self, tenant: &TenantId, cmd: &PublishCommand) -> Result<()> {
        let status = self
            .channel(&cmd.channel)?
            .account_status(tenant, &cmd.account)
            .await
            .map_err(ContentError::from_adapter)?;
        if status.can_publish() {
            return Ok(());
        }
        let reason = match (&status.suspended, status.verification) {
            (Some(why), _) => format!("suspended: {why}"),
            (None, marketingforce_core::adapters::channel::Verification::Pending) => {
                "real-name verification pending".into()
            }
            _ => "not real-name verified".into(),
        };
        Err(ContentError::AccountNotPublishable {
            channel: cmd.channel.clone(),
            account: cmd.account.clone(),
            reason,
        })
    }

    /// The times of the tenant's publications on `channel` in the day before `now`, from the
    /// publications themselves: the start of a rate window stored for the first time.
    async fn published_times(
        &self,
        tenant: &TenantId,
        channel: &str,
        now: DateTime<Utc>,
    ) -> marketingforce_core::Result<Vec<DateTime<Utc>>> {
        let mut times = Vec::new();
        for day in [now.date_naive() - Duration::days(1), now.date_naive()] {
            for p in self
                .publications
                .lookup_all(tenant, "channel_day", &format!("{channel}:{day}"))
                .await?
            {
                if let PublicationStatus::Published(r) = &p.value.status {
                    if r.published_at > now - Duration::hours(24) {
                        times.push(r.published_at);
                    }
                }
            }
        }
        Ok(times)
    }

    /// Give back the rate slot publication `p` took. Best effort: a slot the store could not
    /// give back stays taken (the channel publishes less for the rest of the day, never more;
    /// the publication's retry keeps it).
    async fn give_back(&self, tenant: &TenantId, p: &Publication) {
        let _ = self
            .windows
            .give_back(tenant, &p.command.channel, &p.channel_key)
            .await;
    }

    /// Take a rate slot, consume quota and call the channel; returns the updated publication.
    async fn execute(&self, tenant: &TenantId, mut p: Publication) -> Result<Publication> {
        let now = self.clock.now();
        let code = p.command.channel.clone();
        let info = self.catalogue.require(&code)?.clone();
        let seed = || self.published_times(tenant, &code, now);
        if let Err(at) = self
            .windows
            .try_take(tenant, &code, &p.channel_key, (info.rate_limit, now), seed)
            .await?
        {
            p.status = PublicationStatus::Scheduled { at };
            p.updated_at = now;
            return Ok(p);
        }
        let quota_key = format!("publish:{}", p.channel_key);
        let metered = info.release_cost > 0;
        if metered {
            if let Err(e) = self
                .quota
                .reserve(tenant, meters::PUBLICATIONS, info.release_cost, &quota_key)
                .await
            {
                self.give_back(tenant, &p).await;
                return Err(e);
            }
        }
        let request = PublishRequest {
            tenant: *tenant,
            account: p.command.account.clone(),
            content_id: p.command.content_id.clone(),
            version: p.command.version,
            format: p.command.format,
            title: p.command.title.clone(),
            body_html: p.command.body_html.clone(),
            media: p.command.media.clone(),
            tags: p.command.tags.clone(),
            idempotency_key: p.channel_key.clone(),
        };
        p.attempts += 1;
        p.updated_at = now;
        match self.channel(&code)?.publish(&request).await {
            Ok(PublishOutcome::Published(receipt)) => {
                if metered {
                    if let Err(e) = self
                        .quota
                        .commit(tenant, meters::PUBLICATIONS, info.release_cost, &quota_key)
                        .await
                    {
                        // Published, but not metered yet: the retry under the same key finds
                        // the channel's item and meters it; it needs the rate slot again.
                        self.give_back(tenant, &p).await;
                        return Err(e);
                    }
                }
                p.quota_units = info.release_cost;
                p.status = PublicationStatus::Published(receipt);
            }
            Ok(PublishOutcome::Rejected { code: c, reason }) => {
                if metered {
                    self.quota
                        .release(tenant, meters::PUBLICATIONS, &quota_key)
                        .await?;
                }
                self.give_back(tenant, &p).await;
                p.status = PublicationStatus::Rejected { code: c, reason };
            }
            Err(e) => {
                let retryable = e.is_retryable();
                if !retryable {
                    if metered {
                        self.quota
                            .release(tenant, meters::PUBLICATIONS, &quota_key)
                            .await?;
                    }
                    self.give_back(tenant, &p).await;
                } else {
                    // Outcome unknown: the quota stays held until a retry settles it.
                    p.quota_units = info.release_cost;
                }
                p.status = PublicationStatus::Failed {
                    reason: e.to_string(),
                    retryable,
                };
            }
        }
        Ok(p)
    }

    /// Move publication `id` on, if its stored state — read now, not the caller's earlier
    /// copy, which another process may have moved on meanwhile — still satisfies `ready`;
    /// `None` when it does not (nothing is done then).
    async fn advance(
        &self,
        tenant: &TenantId,
        id: &str,
        ready: impl Fn(&PublicationStatus) -> bool,
    ) -> Result<Option<Publication>> {
        let current = self.publications.require(tenant, id).await?;
        if !ready(&current.value.status) {
            return Ok(None);
        }
        let next = self.execute(tenant, current.value).await?;
        let mut batch = Batch::new();
        batch.put_entity(tenant, &next, Expect::Version(current.version))?;
        batch.append_json(PUBLICATION_JOURNAL, &next)?;
        let ctx = crate::events::context(None, Some(&next.channel_key));
        if let Err(e) = self.stage_event(tenant, &mut batch, &next, &ctx).await {
            self.unrecorded(tenant, &next).await;
            return Err(e);
        }
        if let Err(e) = self.store.commit(tenant, batch).await {
            self.unrecorded(tenant, &next).await;
            return Err(e.into());
        }
        Ok(Some(next))
    }

    /// Publish every scheduled publication whose time has come (in time order). Returns them
    /// as they ended up (some may be re-scheduled by rate limits); one that another process
    /// moved on meanwhile is left to it and not returned.
    ///
    /// # Errors
    /// Storage errors; a publication whose quota is exhausted stops the run with
    /// [`ContentError::QuotaExceeded`] (it stays scheduled).
    #[operation("content.publisher.run_due", tenant = tenant, observe = crate::telemetry::published_due)]
    pub async fn run_due(&self, tenant: &TenantId) -> Result<Vec<Publication>> {
        let now = self.clock.now();
        let mut due: Vec<Publication> = self
            .publications
            .lookup_all(tenant, "status", "scheduled")
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|p| matches!(p.status, PublicationStatus::Scheduled { at } if at <= now))
            .collect();
        due.sort_by_key(|p| match p.status {
            PublicationStatus::Scheduled { at } => (at, p.requested_at),
            _ => (p.updated_at, p.requested_at),
        });
        let mut out = Vec::with_capacity(due.len());
        let is_due =
            |s: &PublicationStatus| matches!(s, PublicationStatus::Scheduled { at } if *at <= now);
        for p in due {
            out.extend(self.advance(tenant, &p.id.to_string(), is_due).await?);
        }
        Ok(out)
    }

    /// Retry a publication whose channel call failed retryably (same channel idempotency key, so
    /// the platform publishes at most once).
    ///
    /// # Errors
    /// [`marketingforce_core::Error::InvalidState`] for a publication that is not retryable.
    #[operation("content.publisher.retry", tenant = tenant, observe = crate::telemetry::published)]
    pub async fn retry(&self, tenant: &TenantId, id: &PublicationId) -> Result<Publication> {
        let retryable = |s: &PublicationStatus| {
            matches!(
                s,
                PublicationStatus::Failed {
                    retryable: true,
                    ..
                }
            )
        };
        if let Some(next) = self.advance(tenant, &id.to_string(), retryable).await? {
            return Ok(next);
        }
        let current = self.get(tenant, id).await?;
        Err(marketingforce_core::Error::invalid_state(
            "publication",
            current.status.name(),
            "retry",
            "only retryable failures can be retried",
        )
        .into())
    }

    /// A publication.
    ///
    /// # Errors
    /// Not found, storage errors.
    #[operation("content.publisher.get", tenant = tenant)]
    pub async fn get(&self, tenant: &TenantId, id: &PublicationId) -> Result<Publication> {
        Ok(self
            .publications
            .require(tenant, &id.to_string())
            .await?
            .value)
    }

    /// Every publication of the tenant.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("content.publisher.list", tenant = tenant)]
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Publication>> {
        Ok(self
            .publications
            .list_all(tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// The publication of a channel item, by the platform's id.
    ///
    /// # Errors
    /// Storage errors.
    #[operation("content.publisher.by_external_id", tenant = tenant)]
    pub async fn by_external_id(
        &self,
        tenant: &TenantId,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<Publication>> {
        Ok(self
            .publications
            .lookup_all(tenant, "external", &format!("{channel}:{external_id}"))
            .await?
            .into_iter()
            .next()
            .map(|v| v.value))
    }

    /// Current statistics of a published item, from its channel.
    ///
    /// # Errors
    /// [`marketingforce_core::Error::InvalidState`] when it is not published; channel errors.
    #[operation("content.publisher.stats", tenant = tenant)]
    pub async fn stats(&self, tenant: &TenantId, id: &PublicationId) -> Result<ContentStats> {
        let p = self.get(tenant, id).await?;
        let Some(ext) = p.external_id() else {
            return Err(marketingforce_core::Error::invalid_state(
                "publication",
                p.status.name(),
                "stats",
                "not published",
            )
            .into());
        };
        self.channel(&p.command.channel)?
            .stats(tenant, &p.command.account, ext)
            .await
            .map_err(ContentError::from_adapter)
    }

    /// The registered channel adapters.
    pub fn channels(&self) -> impl Iterator<Item = &Arc<dyn ContentChannel>> {
        self.channels.values()
    }
}
