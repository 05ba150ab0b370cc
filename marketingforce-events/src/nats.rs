//! The NATS JetStream sink (feature `nats`).
//!
//! ## Naming
//!
//! | what | default | notes |
//! |---|---|---|
//! | stream | `MARKETINGFORCE` | created if absent, over `<prefix>.>`, file storage |
//! | subject | `mf.<tenant>.<event name>` | e.g. `mf.tenant_0192f0c1….crm.lead.captured` |
//! | `Nats-Msg-Id` | the event id (`evt_…`) | the stream's duplicate window drops redeliveries |
//! | `Marketingforce-Sequence` | the event's outbox sequence number within its tenant | |
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
//! A page of events is published without waiting in between (up to
//! [`NatsSettings::max_in_flight`] unacknowledged), then every publish acknowledgement is
//! awaited in order; the events up to the first one not acknowledged count as delivered. A
//! broker that is down or slow makes the relay back off and report lag; it never blocks a
//! business write.
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
use std::time::Duration;

use async_nats::jetstream::context::{ContextBuilder, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::Context;
use async_trait::async_trait;
use marketingforce_core::error::Error;
use marketingforce_core::tenant::TenantId;

use crate::error::EventsError;
use crate::event::OutboxEvent;
use crate::retry::RetryPolicy;
use crate::signature::{EVENT_NAME_HEADER, SEQUENCE_HEADER};
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
    /// Most publishes awaiting their acknowledgement at once (default 4,096).
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
        if self.max_in_flight == 0 {
            return Err(Error::validation(
                "nats.max_in_flight",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Publishes events to a JetStream stream (see the [module docs](self)).
pub struct NatsSink {
    settings: NatsSettings,
    js: Context,
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
        let js = ContextBuilder::new()
            .timeout(settings.ack_timeout)
            .max_ack_inflight(settings.max_in_flight)
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
        Ok(NatsSink { settings, js })
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
        let mut acks = Vec::with_capacity(events.len());
        let mut refused = None;
        for event in events {
            let message = PublishMessage::build()
                .payload(event.body().clone())
                .message_id(event.id().to_string())
                .header(SEQUENCE_HEADER, event.seq().to_string())
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
                Err(e) => return Err(failure(accepted, e.kind(), &e)),
            }
        }
        match refused {
            None => Ok(()),
            Some(e) => Err(failure(accepted, e.kind(), &e)),
        }
    }
}
