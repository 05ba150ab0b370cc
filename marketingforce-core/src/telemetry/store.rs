//! Telemetry of the storage backends: a `trace` span around every read and commit, commit
//! latency and outcome, conflicts and idempotent replays. The built-in backends call these;
//! a third-party backend may too.
//!
//! ```
//! use marketingforce_core::storage::{Batch, CommitOutcome};
//! use marketingforce_core::telemetry::store;
//! use marketingforce_core::tenant::TenantId;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let tenant = TenantId::new();
//! let batch = Batch::new();
//! let probe = store::CommitProbe::new("my-backend", &tenant, &batch);
//! let answer = probe.observe(async {
//!     // ... the backend's own commit of `batch` ...
//!     Ok(CommitOutcome::Replayed(Vec::new()))
//! })
//! .await;
//! assert!(answer.is_ok());
//! # });
//! ```

use std::future::Future;
use std::time::Instant;

use tracing::{Instrument, Level, Span};

use super::names;
use crate::error::Result;
use crate::storage::{Batch, CommitOutcome};
use crate::tenant::TenantId;
use crate::ErrorKind;

/// The telemetry of one commit: its `trace` span (fields `backend`, `tenant`, `writes`,
/// `appends`, `expected_heads`, and `outcome` once answered), its start time and the operation
/// of its idempotency claim — computed only when a subscriber or the `metrics` feature wants
/// them.
pub struct CommitProbe {
    backend: &'static str,
    span: Span,
    started: Option<Instant>,
    operation: Option<String>,
}

impl CommitProbe {
    /// Starts observing the commit of `batch` for `tenant` on `backend`.
    #[inline]
    pub fn new(backend: &'static str, tenant: &TenantId, batch: &Batch) -> CommitProbe {
        let span = tracing::trace_span!(
            "store.commit",
            backend,
            tenant = %tenant,
            writes = batch.writes().len(),
            appends = batch.appends().len(),
            expected_heads = batch.heads().len(),
            outcome = tracing::field::Empty,
        );
        let timed = cfg!(feature = "metrics") || !span.is_disabled();
        let operation = timed
            .then(|| batch.idempotency())
            .flatten()
            .map(|claim| claim_operation(&claim.key).to_string());
        CommitProbe {
            backend,
            span,
            started: timed.then(Instant::now),
            operation,
        }
    }

    /// Runs the backend's `commit` inside the span and records its outcome: `committed`,
    /// `replayed` (a `debug` event naming the operation of the key, never the key), `conflict`
    /// (a `debug` event: a version or journal head moved; the service re-reads and retries) or
    /// `error`; with the `metrics` feature also [`STORE_COMMITS`](names::STORE_COMMITS), the
    /// commit latency and [`IDEMPOTENT_REPLAYS`](names::IDEMPOTENT_REPLAYS).
    pub async fn observe(
        self,
        commit: impl Future<Output = Result<CommitOutcome>>,
    ) -> Result<CommitOutcome> {
        let answer = if self.span.is_disabled() {
            commit.await
        } else {
            commit.instrument(self.span.clone()).await
        };
        if let Some(started) = self.started {
            self.finish(&answer, started);
        }
        answer
    }

    #[cold]
    fn finish(&self, answer: &Result<CommitOutcome>, started: Instant) {
        let (backend, span) = (self.backend, &self.span);
        let outcome = match answer {
            Ok(CommitOutcome::Committed(_)) => "committed",
            Ok(CommitOutcome::Replayed(_)) => {
                let operation = self.operation.as_deref().unwrap_or("unscoped");
                tracing::event!(parent: span, Level::DEBUG, backend, operation, "idempotent replay");
                super::count(names::IDEMPOTENT_REPLAYS, &[("operation", operation)], 1);
                "replayed"
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {
                tracing::event!(parent: span, Level::DEBUG, backend, error.code = e.code(), "store commit conflict");
                "conflict"
            }
            Err(e) => {
                tracing::event!(parent: span, Level::DEBUG, backend, error.kind = e.kind().as_str(), error.code = e.code(), "store commit failed");
                "error"
            }
        };
        span.record("outcome", outcome);
        let labels = [("backend", backend), ("outcome", outcome)];
        super::count(names::STORE_COMMITS, &labels, 1);
        super::observe_seconds(
            names::STORE_COMMIT_DURATION,
            &labels,
            started.elapsed().as_secs_f64(),
        );
    }
}

/// The operation of a claim key `"{operation}/{key}"` (never the key).
fn claim_operation(claim_key: &str) -> &str {
    claim_key.split_once('/').map_or("unscoped", |(op, _)| op)
}

/// The `trace` span of a read (`operation`: `store.get`, `store.list`, …) on `backend`.
#[inline]
pub fn read_span(operation: &'static str, backend: &'static str) -> Span {
    match operation {
        "store.get" => tracing::trace_span!("store.get", backend),
        "store.list" => tracing::trace_span!("store.list", backend),
        "store.lookup" => tracing::trace_span!("store.lookup", backend),
        "store.read_journal" => tracing::trace_span!("store.read_journal", backend),
        "store.journal_head" => tracing::trace_span!("store.journal_head", backend),
        "store.idempotency" => tracing::trace_span!("store.idempotency", backend),
        _ => tracing::trace_span!("store.read", backend, operation),
    }
}

/// Runs a read inside its [`read_span`].
#[inline]
pub async fn observe_read<T>(
    operation: &'static str,
    backend: &'static str,
    read: impl Future<Output = Result<T>>,
) -> Result<T> {
    let span = read_span(operation, backend);
    if span.is_disabled() {
        read.await
    } else {
        read.instrument(span).await
    }
}

/// Records that a service answered `claim_key` (`"{operation}/{key}"`) from its stored first
/// result, before committing anything: a `debug` event with the operation (never the key) and
/// [`IDEMPOTENT_REPLAYS`](names::IDEMPOTENT_REPLAYS).
#[inline]
pub fn replayed(claim_key: &str) {
    let operation = claim_operation(claim_key);
    tracing::debug!(operation, "idempotent replay");
    super::count(names::IDEMPOTENT_REPLAYS, &[("operation", operation)], 1);
}
