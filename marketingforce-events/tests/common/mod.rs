//! Example events (tests only, not domain events) and helpers shared by the tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use marketingforce_core::env::Env;
use marketingforce_core::events::{DomainEvent, EventContext, EventEnvelope, Outbox};
use marketingforce_core::storage::{Batch, Expect, Store};
use marketingforce_core::tenant::TenantId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An example lead was captured (refers to the lead by id; no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadCaptured {
    /// The lead's id.
    pub lead: String,
    /// Where it came from.
    pub source: String,
    /// The producer's running number (tests check order with it).
    pub n: u64,
}

impl DomainEvent for LeadCaptured {
    const NAME: &'static str = "example.lead.captured";
    const VERSION: u32 = 1;
}

/// An example quota crossed a threshold of its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuotaThresholdReached {
    /// The meter.
    pub meter: String,
    /// The threshold, in percent.
    pub percent: u8,
}

impl DomainEvent for QuotaThresholdReached {
    const NAME: &'static str = "example.quota.threshold_reached";
    const VERSION: u32 = 1;
}

/// An example settlement was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementClosed {
    /// The settlement's id.
    pub settlement: String,
    /// The amount settled, as a decimal string (never a float).
    pub amount: String,
}

impl DomainEvent for SettlementClosed {
    const NAME: &'static str = "example.settlement.closed";
    const VERSION: u32 = 1;
}

/// Commit one batch per size in `sizes` for `tenant`: that many record writes, each with its
/// event (numbered from `first`), so each commit's events share one outbox entry; returns the
/// envelopes in order.
pub async fn produce_commits(
    store: &Arc<dyn Store>,
    outbox: &Outbox,
    tenant: &TenantId,
    first: u64,
    sizes: &[u64],
) -> Vec<EventEnvelope> {
    let mut out = Vec::new();
    let mut n = first;
    for size in sizes {
        let mut batch = Batch::new();
        for _ in 0..*size {
            let lead = format!("lead_{n:06}");
            batch.put(
                "example.leads",
                lead.clone(),
                b"{}".to_vec(),
                vec![],
                Expect::Any,
            );
            let event = LeadCaptured {
                lead,
                source: "import".into(),
                n,
            };
            out.push(
                outbox
                    .append(tenant, &mut batch, &event, &EventContext::new())
                    .await
                    .expect("append"),
            );
            n += 1;
        }
        store.commit(tenant, batch).await.expect("commit");
    }
    out
}

/// The running numbers of delivered events, in delivery order.
pub fn numbers(events: &[marketingforce_events::OutboxEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.envelope().unwrap().decode::<LeadCaptured>().unwrap().n)
        .collect()
}

/// Commit `count` business changes for `tenant`, each a record write plus its event, numbered
/// from `first`; returns the envelopes.
pub async fn produce(
    store: &Arc<dyn Store>,
    outbox: &Outbox,
    tenant: &TenantId,
    first: u64,
    count: u64,
) -> Vec<EventEnvelope> {
    let mut out = Vec::new();
    for n in first..first + count {
        let mut batch = Batch::new();
        let lead = format!("lead_{n:06}");
        batch.put(
            "example.leads",
            lead.clone(),
            format!(r#"{{"n":{n}}}"#).into_bytes(),
            vec![],
            Expect::Any,
        );
        let event = LeadCaptured {
            lead,
            source: "form".into(),
            n,
        };
        let envelope = outbox
            .append(tenant, &mut batch, &event, &EventContext::new())
            .await
            .expect("append");
        store.commit(tenant, batch).await.expect("commit");
        out.push(envelope);
    }
    out
}

/// An env over `store`.
pub fn env(store: &Arc<dyn Store>) -> Env {
    Env::new(store.clone())
}

/// Check deliveries `(tenant, seq, event id)` as a deduplicating receiver sees them: the
/// first arrival of each id is in outbox order per tenant, and every expected id arrived.
/// Returns the number of duplicates dropped.
pub fn check_first_seen_order(
    arrivals: &[(TenantId, u64, String)],
    expected: &HashMap<TenantId, u64>,
) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut last: HashMap<TenantId, u64> = HashMap::new();
    let mut duplicates = 0;
    for (tenant, seq, id) in arrivals {
        if !seen.insert(id.clone()) {
            duplicates += 1;
            continue;
        }
        let previous = last.insert(*tenant, *seq).unwrap_or(0);
        assert_eq!(
            *seq,
            previous + 1,
            "tenant {tenant}: first arrivals must follow the outbox order"
        );
    }
    for (tenant, count) in expected {
        assert_eq!(
            last.get(tenant).copied().unwrap_or(0),
            *count,
            "tenant {tenant}: every event must arrive"
        );
    }
    duplicates
}

/// The first ten dead letters `relay` holds for `tenant`.
pub async fn dead_letters(
    relay: &marketingforce_events::Relay,
    tenant: &TenantId,
) -> Vec<marketingforce_events::DeadLetter> {
    relay
        .dead_letters(
            tenant,
            &marketingforce_core::storage::PageRequest::first(10),
        )
        .await
        .expect("dead letters")
        .items
}
