//! # marketingforce-events
//!
//! Domain events out of the Marketingforce SDK: what happens inside it — a lead captured, a
//! quota at 80%, a settlement closed — delivered to other services, at least once, in order
//! per tenant, deduplicated by event id.
//!
//! ```text
//!  service ──commit──▶ store: state change + outbox entry (one atomic batch, core::events)
//!                         │
//!                 Relay ◀─┘ reads each tenant's outbox from a durable cursor (one relay per
//!                   │       tenant at a time: a lease with a fencing epoch)
//!                   ├──▶ NatsSink     JetStream stream MARKETINGFORCE, subject mf.<tenant>.<event>,
//!                   │                 Nats-Msg-Id = event id (the broker drops redeliveries)
//!                   ├──▶ WebhookSink  POST, Marketingforce-Signature: t=…,v1=HMAC-SHA256
//!                   └──▶ MemorySink   in-process, for tests
//!  consumer: WebhookVerifier (signature, tolerance) + Inbox (dedupe by event id, exactly-once
//!            effects with the store's idempotency claims)
//! ```
//!
//! The writing side lives in the core ([`marketingforce_core::events`]): event types, the
//! envelope, `Batch::append_event` and the `Outbox`, so domain crates emit events without
//! depending on this crate. This crate holds what they must not pull in: the relay runtime
//! and the broker and HTTP clients.
//!
//! - [`Relay`]: the relay and its guarantees with several processes over one store (see
//!   [`relay`]).
//! - [`EventSink`], [`MemorySink`]; [`nats::NatsSink`] (feature `nats`);
//!   [`webhook::WebhookSink`] (feature `webhooks`).
//! - [`signature`] and [`Inbox`] / [`WebhookReceiver`]: the consumer side.
//!
//! ## Feature flags
//! - `nats`: the NATS JetStream sink, via `async-nats`.
//! - `webhooks`: the signed-webhook sink, via `reqwest`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod event;
mod filter;
mod inbox;
pub mod relay;
mod retry;
pub mod signature;
mod sink;

#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "webhooks")]
pub mod webhook;

pub use error::EventsError;
pub use event::OutboxEvent;
pub use filter::EventFilter;
pub use inbox::{Inbox, Processed, WebhookReceiver, INBOX_OPERATION};
pub use relay::{
    DeadLetter, LagReport, LeaseHolder, NextStep, PumpReport, Relay, RelayBuilder, ReplayReport,
    StartFrom, TenantLag,
};
pub use retry::RetryPolicy;
pub use sink::{EventSink, FailureKind, MemorySink, SinkFailure};
