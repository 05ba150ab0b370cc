//! `quickstart --broker nats://host:port`: the day's domain events, relayed from every
//! tenant's outbox to NATS JetStream through the events crate's relay and NATS sink, and the
//! events the broker acknowledged, counted per event type.
//!
//! The relay delivers each tenant's outbox in order from its durable cursor (so a second run
//! over the same durable store relays only what is new) and publishes each event with its id
//! as `Nats-Msg-Id`: the stream drops redeliveries within its duplicate window.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use marketingforce::core::env::Env;
use marketingforce::core::storage::Store;
use marketingforce::core::tenant::TenantId;
use marketingforce::events::nats::{NatsSettings, NatsSink};
use marketingforce::events::{EventSink, NextStep, OutboxEvent, Relay, RetryPolicy, SinkFailure};

/// Events acknowledged by the broker, per event type.
pub type Acked = BTreeMap<String, usize>;

/// A sink that hands events to another and counts, per event type, those it accepted.
struct Counting {
    inner: Arc<dyn EventSink>,
    acked: Mutex<Acked>,
}

impl fmt::Debug for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Counting {
    fn count(&self, events: &[OutboxEvent]) {
        let mut acked = self.acked.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            *acked.entry(event.name().to_string()).or_default() += 1;
        }
    }
}

#[async_trait]
impl EventSink for Counting {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry_policy()
    }

    async fn deliver(&self, tenant: &TenantId, events: &[OutboxEvent]) -> Result<(), SinkFailure> {
        match self.inner.deliver(tenant, events).await {
            Ok(()) => {
                self.count(events);
                Ok(())
            }
            Err(failure) => {
                self.count(&events[..failure.delivered().min(events.len())]);
                Err(failure)
            }
        }
    }
}

/// How many waits in a row without progress before the relay gives up on a tenant (each wait
/// as the relay says: the sink's backoff, or a lease held elsewhere, at most [`MAX_WAIT`]).
const STALLS: u32 = 6;
/// The longest single wait.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Relay every event of `tenants`' outboxes in `store` to the JetStream server at `url` (the
/// stream and subjects of `settings`), and return the events the broker acknowledged, per type.
///
/// # Errors
/// The server cannot be reached or the stream set up; a tenant's events stop moving (the
/// broker keeps refusing them) — with what was acknowledged until then in the message.
pub async fn relay_to_nats(
    store: Arc<dyn Store>,
    tenants: &[TenantId],
    url: &str,
    settings: NatsSettings,
) -> Result<Acked, String> {
    let sink = NatsSink::connect(url, settings)
        .await
        .map_err(|e| format!("cannot reach NATS JetStream: {e}"))?;
    let counting = Arc::new(Counting {
        inner: Arc::new(sink),
        acked: Mutex::default(),
    });
    let env = Env::new(store);
    let relay = Relay::builder(&env, counting.clone())
        .discover_tenants(false)
        .build()
        .map_err(|e| format!("cannot build the relay: {e}"))?;
    let acked = || {
        counting
            .acked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    };
    for tenant in tenants {
        let mut stalls = 0;
        loop {
            let step = relay.pump(tenant).await.map_err(|e| {
                format!(
                    "relaying tenant {tenant}: {e} (acked so far: {:?})",
                    acked()
                )
            })?;
            let wait_until = match step.next {
                NextStep::CaughtUp => break,
                NextStep::More => {
                    stalls = 0;
                    continue;
                }
                NextStep::RetryAt(at) => at,
                // Another relay (an earlier run that stopped half-way) holds the lease.
                NextStep::HeldElsewhere { until } => until,
                _ => chrono::Utc::now() + chrono::Duration::milliseconds(100),
            };
            if step.delivered > 0 {
                stalls = 0;
            } else {
                stalls += 1;
            }
            if stalls > STALLS {
                return Err(format!(
                    "the events of tenant {tenant} do not move past position {} \
                     (acked so far: {:?})",
                    step.position,
                    acked()
                ));
            }
            let wait = (wait_until - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(MAX_WAIT);
            tokio::time::sleep(wait).await;
        }
    }
    Ok(acked())
}

/// The events in `tenants`' outboxes in `store`, per event type (what the relay has to
/// deliver).
///
/// # Errors
/// The store fails; an outbox entry does not decode.
pub async fn outbox_counts(store: &Arc<dyn Store>, tenants: &[TenantId]) -> Result<Acked, String> {
    use marketingforce::core::events::{EventEnvelope, OUTBOX_JOURNAL};
    let mut counts = Acked::new();
    for tenant in tenants {
        let mut after = 0;
        loop {
            let entries = store
                .read_journal(tenant, OUTBOX_JOURNAL, after, 1_000)
                .await
                .map_err(|e| format!("cannot read the outbox: {e}"))?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                break;
            };
            for entry in &entries {
                let events = EventEnvelope::all_from_entry(&entry.payload)
                    .map_err(|e| format!("an outbox entry does not decode: {e}"))?;
                for event in events {
                    *counts.entry(event.name().to_string()).or_default() += 1;
                }
            }
            after = last;
        }
    }
    Ok(counts)
}

/// `Broker      NATS nats://… acked 57 events: crm.lead.captured 12 · …`.
pub fn summary(url: &str, acked: &Acked) -> String {
    // Never print credentials of the URL (`nats://user:pass@host`).
    let url = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    };
    let total: usize = acked.values().sum();
    let listed: Vec<String> = acked.iter().map(|(n, c)| format!("{n} {c}")).collect();
    format!(
        "Broker      NATS {url} acked {total} events: {}",
        listed.join(" · ")
    )
}
