//! [`Inbox`]: consumer-side deduplication by event id, with the store's idempotency claims.

use std::fmt;
use std::sync::Arc;

use marketingforce_core::env::Env;
use marketingforce_core::error::{Error, Result};
use marketingforce_core::events::{EventEnvelope, EventId};
use marketingforce_core::storage::{check_name, Batch, CommitOutcome, Fingerprint, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_core::IdempotencyKey;

use crate::signature::{WebhookError, WebhookVerifier};

/// The idempotency operation under which inbox claims are stored
/// (`events.inbox/<consumer>:<event id>`).
pub const INBOX_OPERATION: &str = "events.inbox";

/// Whether an event was processed by this call or before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// First time: the consumer's writes were committed with the claim.
    First,
    /// Seen before: nothing was written.
    Duplicate,
}

/// A consumer's record of the events it has processed, kept in the consumer's store under the
/// event's tenant. Deliveries are at least once; the inbox makes their *effects* exactly once.
///
/// [`process`](Inbox::process) commits the consumer's own writes for an event **together with
/// the event's claim** (the store's idempotency claim, keyed by consumer and event id): the
/// first delivery commits both, every redelivery — on this process or another — writes
/// nothing and answers [`Processed::Duplicate`]. For a side effect outside the store (an
/// e-mail, a call), claim first with an empty batch (at most once) or act first and claim
/// after (at least once), as the effect allows. Claims are kept like every idempotency record.
///
/// ```
/// use std::sync::Arc;
/// use chrono::Utc;
/// use marketingforce_core::events::{DomainEvent, EventContext, EventEnvelope, EventId};
/// use marketingforce_core::storage::{Batch, Expect, MemoryStore, Store};
/// use marketingforce_core::tenant::TenantId;
/// use marketingforce_events::{Inbox, Processed};
/// # use schemars::JsonSchema; use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, JsonSchema)] struct Closed { settlement: String }
/// # impl DomainEvent for Closed { const NAME: &'static str = "ads.settlement.closed"; const VERSION: u32 = 1; }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let inbox = Inbox::new(store.clone(), "billing")?;
/// let tenant = TenantId::new();
/// let event = EventEnvelope::new(tenant, EventId::new(), Utc::now(),
///     &Closed { settlement: "stl_2026_02".into() }, &EventContext::new())?;
/// for expected in [Processed::First, Processed::Duplicate] {
///     let mut batch = Batch::new();
///     batch.put("invoices", "stl_2026_02", b"{}".to_vec(), vec![], Expect::Any);
///     assert_eq!(inbox.process(&event, batch).await?, expected);
/// }
/// assert!(inbox.seen(&tenant, event.id()).await?);
/// # Ok::<(), marketingforce_core::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Inbox {
    store: Arc<dyn Store>,
    consumer: String,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("consumer", &self.consumer)
            .field("store", &self.store.backend())
            .finish()
    }
}

impl Inbox {
    /// The inbox of `consumer` (a storage name, e.g. `billing`) in `store`. Consumers sharing
    /// a store keep separate inboxes.
    ///
    /// # Errors
    /// A validation error on `consumer`.
    pub fn new(store: Arc<dyn Store>, consumer: &str) -> Result<Inbox> {
        check_name(consumer, "consumer")?;
        Ok(Inbox {
            store,
            consumer: consumer.to_string(),
        })
    }

    fn key(&self, id: EventId) -> Result<IdempotencyKey> {
        IdempotencyKey::new(format!("{}:{id}", self.consumer))
    }

    /// Whether event `id` of `tenant` was processed.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn seen(&self, tenant: &TenantId, id: EventId) -> Result<bool> {
        let key = self.key(id)?.scoped(INBOX_OPERATION);
        Ok(self.store.idempotency(tenant, &key).await?.is_some())
    }

    /// Commit `batch` (the consumer's writes for `event`, possibly empty) with the event's
    /// claim, under the event's tenant: [`Processed::First`] the first time, and
    /// [`Processed::Duplicate`] — nothing written — on every redelivery.
    ///
    /// # Errors
    /// Commit errors ([`Error::OutcomeUnknown`]: call again, it answers which);
    /// [`Error::IdempotencyMismatch`] when the id was first seen with another event name or
    /// version (a forged or corrupted event).
    pub async fn process(&self, event: &EventEnvelope, mut batch: Batch) -> Result<Processed> {
        let key = self.key(event.id())?;
        let fingerprint = Fingerprint::of(&(event.name(), event.version()))?;
        let scoped = key.scoped(INBOX_OPERATION);
        if let Some((stored, _)) = self.store.idempotency(event.tenant(), &scoped).await? {
            return if stored == fingerprint.as_str() {
                Ok(Processed::Duplicate)
            } else {
                Err(Error::IdempotencyMismatch { key: scoped })
            };
        }
        batch.claim_idempotency(scoped.clone(), fingerprint.as_str(), b"1".to_vec());
        match self.store.commit(event.tenant(), batch).await? {
            CommitOutcome::Committed(_) => Ok(Processed::First),
            CommitOutcome::Replayed(_) => Ok(Processed::Duplicate),
        }
    }
}

/// The receiving end of a webhook endpoint in one piece: verify the signature and timestamp,
/// refuse events already processed ([`WebhookError::Replayed`]), and commit the handler's
/// writes with the event's claim.
///
/// ```
/// use std::sync::Arc;
/// use marketingforce_core::env::Env;
/// use marketingforce_core::storage::{Batch, MemoryStore};
/// use marketingforce_events::signature::{generate_secret, WebhookVerifier};
/// use marketingforce_events::WebhookReceiver;
///
/// let secret = generate_secret();
/// let env = Env::new(Arc::new(MemoryStore::new()));
/// let receiver = WebhookReceiver::new(&env, "billing", WebhookVerifier::new(secret)).unwrap();
/// # let _ = receiver;
/// // In the HTTP handler:
/// // match receiver.accept(signature_header, &body).await {
/// //     Ok(event) => { let batch = /* your writes */ Batch::new();
/// //                    receiver.complete(&event, batch).await?; /* 200 */ }
/// //     Err(WebhookError::Replayed { .. }) => /* 200: already done */,
/// //     Err(e) => /* 400 or 401, naming e.code() */,
/// // }
/// ```
#[derive(Debug, Clone)]
pub struct WebhookReceiver {
    verifier: WebhookVerifier,
    inbox: Inbox,
    clock: Arc<dyn Clock>,
}

impl WebhookReceiver {
    /// A receiver for consumer `consumer` over `env`'s store and clock.
    ///
    /// # Errors
    /// A validation error on `consumer`.
    pub fn new(env: &Env, consumer: &str, verifier: WebhookVerifier) -> Result<WebhookReceiver> {
        Ok(WebhookReceiver {
            verifier,
            inbox: Inbox::new(env.store().clone(), consumer)?,
            clock: env.clock().clone(),
        })
    }

    /// The inbox.
    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// Verify a request (`signature`: the [`SIGNATURE_HEADER`](crate::signature::SIGNATURE_HEADER)
    /// value) and return its event, unless the event was already processed.
    ///
    /// # Errors
    /// [`WebhookError::Replayed`] for an event already processed; the verifier's errors;
    /// storage errors.
    pub async fn accept(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<EventEnvelope, WebhookError> {
        let event = self.verifier.verify(signature, body, self.clock.now())?;
        if self.inbox.seen(event.tenant(), event.id()).await? {
            return Err(WebhookError::Replayed {
                event_id: event.id(),
            });
        }
        Ok(event)
    }

    /// Commit the handler's writes for `event` with its claim ([`Inbox::process`]).
    ///
    /// # Errors
    /// [`WebhookError::Replayed`] when a concurrent delivery of the same event won; storage
    /// errors.
    pub async fn complete(&self, event: &EventEnvelope, batch: Batch) -> Result<(), WebhookError> {
        match self.inbox.process(event, batch).await? {
            Processed::First => Ok(()),
            Processed::Duplicate => Err(WebhookError::Replayed {
                event_id: event.id(),
            }),
        }
    }
}
