//! [`EventSink`]: where a relay hands a tenant's events, and [`MemorySink`], the in-process sink
//! for tests.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use marketingforce_core::events::EventId;
use marketingforce_core::tenant::TenantId;

use crate::event::OutboxEvent;
use crate::retry::RetryPolicy;

/// A destination for events: a broker, a webhook endpoint, an in-process consumer.
///
/// A relay calls [`deliver`](EventSink::deliver) with a page of one tenant's events in outbox
/// order and waits for the answer before it hands over the next page (the sink sets the pace:
/// that is the backpressure). The sink delivers them in order and answers `Ok` when every one
/// is durably accepted (a broker's ack, a 2xx answer), or a [`SinkFailure`] saying how many of
/// the leading events were accepted before the failure; the relay moves its cursor past those
/// and retries from the first one that was not, after a backoff ([`retry_policy`]).
/// Deliveries are at least once: after a crash or a lost lease, events are offered again, so
/// receivers deduplicate by event id.
///
/// [`retry_policy`]: EventSink::retry_policy
#[async_trait]
pub trait EventSink: Send + Sync + fmt::Debug {
    /// The sink's stable id, a storage name (`nats`, `webhook.billing`): each tenant keeps
    /// one cursor per sink id, so renaming a sink starts it from the beginning of the outbox.
    fn id(&self) -> &str;

    /// How a relay retries this sink's failures (default: forever, 500 ms to 30 s).
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default()
    }

    /// Deliver `events` (one tenant's, in outbox order).
    ///
    /// # Errors
    /// A [`SinkFailure`] with the number of leading events that were accepted.
    async fn deliver(&self, tenant: &TenantId, events: &[OutboxEvent]) -> Result<(), SinkFailure>;
}

/// What kind of failure a delivery met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The destination could not be reached (connection refused, broker down).
    Unavailable,
    /// The destination answered with an error (a 5xx or 4xx status, a broker error).
    Refused,
    /// No answer in time; the event may or may not have arrived (it is offered again).
    TimedOut,
    /// The event can never be delivered (too large for the broker, not decodable): it is
    /// dead-lettered at once.
    Undeliverable,
}

impl FailureKind {
    /// A short snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unavailable => "unavailable",
            FailureKind::Refused => "refused",
            FailureKind::TimedOut => "timed_out",
            FailureKind::Undeliverable => "undeliverable",
        }
    }
}

/// A failed delivery: how many leading events were accepted before it, what happened (no
/// secrets, no payloads: a status code, an error class), and how long the destination asked
/// to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkFailure {
    delivered: usize,
    kind: FailureKind,
    message: String,
    retry_after: Option<Duration>,
}

impl fmt::Display for SinkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} after {} accepted: {}",
            self.kind.as_str(),
            self.delivered,
            self.message
        )
    }
}

impl std::error::Error for SinkFailure {}

impl SinkFailure {
    /// A failure of `kind` after the first `delivered` events were accepted.
    pub fn new(delivered: usize, kind: FailureKind, message: impl Into<String>) -> SinkFailure {
        SinkFailure {
            delivered,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The destination asked to wait this long (`Retry-After`) before trying again.
    #[must_use]
    pub fn retry_after(mut self, wait: Duration) -> SinkFailure {
        self.retry_after = Some(wait);
        self
    }

    /// How many leading events were accepted.
    pub fn delivered(&self) -> usize {
        self.delivered
    }

    /// What kind of failure.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What happened.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How long the destination asked to wait.
    pub fn wait(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the event after the accepted ones can never be delivered.
    pub fn is_permanent(&self) -> bool {
        self.kind == FailureKind::Undeliverable
    }
}

/// A scripted failure of a [`MemorySink`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct ScriptedFailure {
    accept: usize,
    kind: FailureKind,
}

#[derive(Debug, Default)]
struct MemoryState {
    delivered: Vec<OutboxEvent>,
    calls: usize,
    script: VecDeque<ScriptedFailure>,
    refused: HashSet<EventId>,
    by_tenant: HashMap<TenantId, usize>,
}

/// An in-process sink that keeps what it receives, in order — duplicates included, as a
/// receiver would see them — with scripted failures for tests. Cheap to clone (shared).
///
/// ```
/// use marketingforce_events::{FailureKind, MemorySink};
///
/// let sink = MemorySink::new("memory");
/// // The next delivery accepts 2 events, then fails; the one after is refused outright.
/// sink.fail_next(2, FailureKind::Refused).fail_next(0, FailureKind::Unavailable);
/// assert!(sink.delivered().is_empty());
/// ```
#[derive(Clone)]
pub struct MemorySink {
    id: String,
    retry: RetryPolicy,
    delay: Option<Duration>,
    state: Arc<Mutex<MemoryState>>,
}

impl fmt::Debug for MemorySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySink")
            .field("id", &self.id)
            .field("delivered", &self.lock().delivered.len())
            .finish_non_exhaustive()
    }
}

impl MemorySink {
    /// An empty sink with id `id`, retrying fast (1 ms to 20 ms, forever).
    pub fn new(id: impl Into<String>) -> MemorySink {
        MemorySink {
            id: id.into(),
            retry: RetryPolicy::forever(Duration::from_millis(1), Duration::from_millis(20)),
            delay: None,
            state: Arc::new(Mutex::new(MemoryState::default())),
        }
    }

    /// Use `retry` as the sink's retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> MemorySink {
        self.retry = retry;
        self
    }

    /// Take `delay` to answer each delivery (a slow consumer).
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> MemorySink {
        self.delay = Some(delay);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Script the next delivery (after those already scripted) to accept `accept` events and
    /// then fail with `kind`.
    pub fn fail_next(&self, accept: usize, kind: FailureKind) -> &MemorySink {
        self.lock()
            .script
            .push_back(ScriptedFailure { accept, kind });
        self
    }

    /// Refuse event `id` on every delivery (it is dead-lettered once the retry policy gives
    /// up).
    pub fn refuse(&self, id: EventId) -> &MemorySink {
        self.lock().refused.insert(id);
        self
    }

    /// Every event accepted, in order of acceptance (redeliveries included).
    pub fn delivered(&self) -> Vec<OutboxEvent> {
        self.lock().delivered.clone()
    }

    /// The events of `tenant` accepted, in order (redeliveries included).
    pub fn delivered_to(&self, tenant: &TenantId) -> Vec<OutboxEvent> {
        self.lock()
            .delivered
            .iter()
            .filter(|e| e.tenant() == tenant)
            .cloned()
            .collect()
    }

    /// How many deliveries were asked of the sink.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }
}

#[async_trait]
impl EventSink for MemorySink {
    fn id(&self) -> &str {
        &self.id
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    async fn deliver(&self, tenant: &TenantId, events: &[OutboxEvent]) -> Result<(), SinkFailure> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.lock();
        state.calls += 1;
        let scripted = state.script.pop_front();
        let refused_at = events.iter().position(|e| state.refused.contains(&e.id()));
        let (accept, failure) = match (scripted, refused_at) {
            (Some(s), Some(r)) if r < s.accept.min(events.len()) => (r, Some(FailureKind::Refused)),
            (Some(s), _) if s.accept < events.len() => (s.accept, Some(s.kind)),
            (_, Some(r)) => (r, Some(FailureKind::Refused)),
            _ => (events.len(), None),
        };
        state.delivered.extend(events[..accept].iter().cloned());
        *state.by_tenant.entry(*tenant).or_default() += accept;
        match failure {
            None => Ok(()),
            Some(kind) => Err(SinkFailure::new(accept, kind, "scripted failure")),
        }
    }
}
