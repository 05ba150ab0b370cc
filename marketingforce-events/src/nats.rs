//! The NATS JetStream sink (feature `nats`).
//!
//! ## Naming
//!
//! | what | default | notes |
//! |---|---|---|
//! | stream | `MARKETINGFORCE` | created if absent, over `<prefix>.>`, file storage |
//! | subject | `mf.<tenant>.<event name>` | e.g. `mf.tenant_0192f0c1….crm.lead.captured` |
//! | `Nats-Msg-Id` | the event id (`evt_…`) | the stream's duplicate window drops redeliveries |
//! | `Marketingforce-Sequence` | the sequence number of the event's outbox entry within its tenant (one commit's events share it) | |
//! | `Marketingforce-Sequence-Line` | the event's line in that entry: events are in order of (sequence, line) | |
//! | `Marketingforce-Event-Name` | the event's name | |
//! | payload | the event envelope's JSON | byte-identical on every redelivery |
//!
//! Consumers pick what they need with subject filters: one tenant's events (`mf.<tenant>.>`),
//! one event type across tenants (`mf.*.crm.lead.captured`), one area (`mf.*.crm.>`).
//! Redeliveries after the duplicate window (default 2 minutes; a relay that was down longer
//! resends at most one page it had not confirmed) reach the stream twice: consumers
//! deduplicate by event id ([`Inbox`](crate::Inbox)).
//!
//! ## Delivery
//!
//! A page of events is published without waiting in between, then every publish
//! acknowledgement is awaited in order; the events up to the first one not acknowledged count
//! as delivered. A broker that is down or slow makes the relay back off and report lag; it
//! never blocks a business write.
//!
//! [`NatsSettings::max_in_flight`] bounds the publishes awaiting their acknowledgement across
//! **all** deliveries of the sink (the relay delivers several tenants at once). A delivery
//! takes the permits of a whole chunk of at most `max_in_flight` events *at once*, publishes
//! the chunk, awaits its acknowledgements and only then takes the next chunk's: no delivery
//! ever holds some permits while waiting for more, so concurrent deliveries cannot starve each
//! other. (Taking permits one publish at a time, as a bare JetStream context does, lets eight
//! tenants' pages of 1,000 each hold part of a 4,096 budget and wait forever for the rest,
//! none of them awaiting an acknowledgement — until the relay's delivery timeout cancels them.)
//!
//! ```no_run
//! use std::sync::Arc;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_events::nats::{NatsSettings, NatsSink};
//! use marketingforce_events::Relay;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let env = Env::new(Arc::new(MemoryStore::new()));
//! let sink = NatsSink::connect("nats://127.0.0.1:4222", NatsSettings::default()).await?;
//! let relay = Relay::builder(&env, Arc::new(sink)).build()?;
//! // Runs until the future passed completes (a shutdown signal in a real service).
//! relay.run(std::future::pending::<()>()).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::{ContextBuilder, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::Context;
use async_trait::async_trait;
use marketingforce_core::error::Error;
use marketingforce_core::tenant::TenantId;
use tokio::sync::Semaphore;

use crate::error::EventsError;
use crate::event::OutboxEvent;
use crate::retry::RetryPolicy;
use crate::signature::{EVENT_NAME_HEADER, LINE_HEADER, SEQUENCE_HEADER};
use crate::sink::{EventSink, FailureKind, SinkFailure};

/// How the NATS sink names and publishes (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsSettings {
    /// The sink's id (cursor key), default `nats`.
    pub sink_id: String,
    /// The stream, default `MARKETINGFORCE`.
    pub stream: String,
    /// The first subject token, default `mf`.
    pub subject_prefix: String,
    /// The stream's duplicate window when the sink creates it (default 2 minutes).
    pub duplicate_window: Duration,
    /// Keep the stream in memory instead of files when the sink creates it (default no).
    pub memory_storage: bool,
    /// Most publishes awaiting their acknowledgement at once, across all of the sink's
    /// concurrent deliveries (default 4,096; at most 1,000,000).
    pub max_in_flight: usize,
    /// How long to wait for a publish acknowledgement (default 10 s).
    pub ack_timeout: Duration,
    /// How the relay retries (default: forever, 500 ms to 30 s).
    pub retry: RetryPolicy,
}

impl Default for NatsSettings {
    fn default() -> Self {
        NatsSettings {
            sink_id: "nats".into(),
            stream: "MARKETINGFORCE".into(),
            subject_prefix: "mf".into(),
            duplicate_window: Duration::from_secs(120),
            memory_storage: false,
            max_in_flight: 4096,
            ack_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

impl NatsSettings {
    /// The defaults with another stream name and subject prefix (tests, several
    /// environments on one broker).
    pub fn named(stream: impl Into<String>, subject_prefix: impl Into<String>) -> NatsSettings {
        NatsSettings {
            stream: stream.into(),
            subject_prefix: subject_prefix.into(),
            ..NatsSettings::default()
        }
    }

    fn validate(&self) -> Result<(), Error> {
        marketingforce_core::storage::check_name(&self.sink_id, "nats.sink_id")?;
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !token(&self.stream) {
            return Err(Error::validation(
                "nats.stream",
                "must be letters, digits, '_' or '-'",
            ));
        }
        if !self.subject_prefix.split('.').all(token) {
            return Err(Error::validation(
                "nats.subject_prefix",
                "must be dot-separated tokens of letters, digits, '_' or '-'",
            ));
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            return Err(Error::validation(
                "nats.max_in_flight",
                "must be between 1 and 1,000,000",
            ));
        }
        Ok(())
    }
}

/// The largest [`NatsSettings::max_in_flight`].
const MAX_IN_FLIGHT: usize = 1_000_000;

/// Publishes events to a JetStream stream (see the [module docs](self)).
pub struct NatsSink {
    settings: NatsSettings,
    js: Context,
    /// The publishes awaiting acknowledgement, across deliveries: taken a chunk at a time.
    in_flight: Arc<Semaphore>,
}

impl fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSink")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn setup(what: impl Into<String>, e: impl fmt::Display) -> EventsError {
    EventsError::Setup {
        what: what.into(),
        message: e.to_string(),
    }
}

impl NatsSink {
    /// Connect to the server at `url` and make sure the stream exists.
    ///
    /// # Errors
    /// A validation error on the settings; [`EventsError::Setup`] when the server cannot be
    /// reached or the stream cannot be created or does not cover the subjects.
    pub async fn connect(url: &str, settings: NatsSettings) -> Result<NatsSink, EventsError> {
        settings.validate()?;
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| setup("nats connection", e))?;
        NatsSink::with_client(client, settings).await
    }

    /// Use a connected `client` and make sure the stream exists.
    ///
    /// # Errors
    /// As [`connect`](NatsSink::connect), without the connection.
    pub async fn with_client(
        client: async_nats::Client,
        settings: NatsSettings,
    ) -> Result<NatsSink, EventsError> {
        settings.validate()?;
        // The sink's own semaphore bounds what is in flight; the context's is twice as large so
        // that it only waits when a cancelled delivery left acknowledgements to its acker.
        let js = ContextBuilder::new()
            .timeout(settings.ack_timeout)
            .max_ack_inflight(settings.max_in_flight.saturating_mul(2))
            .build(client);
        let subjects = format!("{}.>", settings.subject_prefix);
        let what = format!("jetstream stream {}", settings.stream);
        let mut stream = js
            .get_or_create_stream(Config {
                name: settings.stream.clone(),
                subjects: vec![subjects.clone()],
                duplicate_window: settings.duplicate_window,
                storage: if settings.memory_storage {
                    StorageType::Memory
                } else {
                    StorageType::File
                },
                ..Config::default()
            })
            .await
            .map_err(|e| setup(what.clone(), e))?;
        let info = stream.info().await.map_err(|e| setup(what.clone(), e))?;
        if !info.config.subjects.contains(&subjects) {
            return Err(setup(
                what,
                format!(
                    "the existing stream covers {:?}, not {subjects}",
                    info.config.subjects
                ),
            ));
        }
        let in_flight = Arc::new(Semaphore::new(settings.max_in_flight));
        Ok(NatsSink {
            settings,
            js,
            in_flight,
        })
    }

    /// The subject of `tenant`'s event `name`: `<prefix>.<tenant>.<name>`.
    pub fn subject(&self, tenant: &TenantId, name: &str) -> String {
        format!("{}.{tenant}.{name}", self.settings.subject_prefix)
    }

    /// The settings.
    pub fn settings(&self) -> &NatsSettings {
        &self.settings
    }

    /// The JetStream context (to read the stream back, e.g. in tests).
    pub fn jetstream(&self) -> &Context {
        &self.js
    }
}

fn failure(delivered: usize, kind: PublishErrorKind, error: &dyn fmt::Display) -> SinkFailure {
    let kind_of = match kind {
        PublishErrorKind::TimedOut => FailureKind::TimedOut,
        PublishErrorKind::MaxPayloadExceeded => FailureKind::Undeliverable,
        PublishErrorKind::StreamNotFound | PublishErrorKind::BrokenPipe => FailureKind::Unavailable,
        _ => FailureKind::Refused,
    };
    SinkFailure::new(delivered, kind_of, format!("jetstream publish: {error}"))
}

#[async_trait]
impl EventSink for NatsSink {
    fn id(&self) -> &str {
        &self.settings.sink_id
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.settings.retry
    }

    async fn deliver(&self, tenant: &TenantId, events: &[OutboxEvent]) -> Result<(), SinkFailure> {
        let mut delivered = 0;
        for chunk in events.chunks(self.settings.max_in_flight) {
            // The chunk's permits at once (see the module docs): never hold some and wait.
            let permits = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            let _permits = self.in_flight.acquire_many(permits).await.map_err(|_| {
                SinkFailure::new(delivered, FailureKind::Unavailable, "the sink is closed")
            })?;
            delivered += self.publish(tenant, chunk, delivered).await?;
        }
        Ok(())
    }
}

impl NatsSink {
    /// Publish `chunk` without waiting in between, then await every acknowledgement in order.
    /// Returns how many were acknowledged (all of them), or the failure counting the events
    /// acknowledged before it (`before` of them in earlier chunks).
    async fn publish(
        &self,
        tenant: &TenantId,
        chunk: &[OutboxEvent],
        before: usize,
    ) -> Result<usize, SinkFailure> {
        let mut acks = Vec::with_capacity(chunk.len());
        let mut refused = None;
        for event in chunk {
            let message = PublishMessage::build()
                .payload(event.body().clone())
                .message_id(event.id().to_string())
                .header(SEQUENCE_HEADER, event.seq().to_string())
                .header(LINE_HEADER, event.line().to_string())
                .header(EVENT_NAME_HEADER, event.name());
            match self
                .js
                .send_publish(self.subject(tenant, event.name()), message)
                .await
            {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let mut accepted = 0;
        for ack in acks {
            match ack.await {
                Ok(_) => accepted += 1,
                Err(e) => return Err(failure(before + accepted, e.kind(), &e)),
            }
        }
        match refused {
            None => Ok(accepted),
            Some(e) => Err(failure(before + accepted, e.kind(), &e)),
        }
    }
}
