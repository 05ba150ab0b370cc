//! The CRM's domain counters (feature `metrics`): leads captured by result. Spans and outcome
//! counters come from `#[operation]` on the service methods; see
//! [`marketingforce_core::telemetry`].

use marketingforce_core::telemetry;

use crate::error::Result;
use crate::service::{CaptureOutcome, RowResult};

fn result_of(outcome: &CaptureOutcome) -> &'static str {
    match outcome {
        CaptureOutcome::Created { .. } => "created",
        CaptureOutcome::Merged { .. } => "merged",
        CaptureOutcome::Unchanged { .. } => "unchanged",
    }
}

/// `Crm::capture` answered.
pub(crate) fn captured(answer: &Result<CaptureOutcome>, tenant: Option<&str>) {
    if let Ok(outcome) = answer {
        telemetry::leads(tenant, result_of(outcome), 1);
    }
}

/// `Crm::capture_batch` answered.
pub(crate) fn captured_rows(answer: &Result<Vec<RowResult>>, tenant: Option<&str>) {
    let Ok(rows) = answer else { return };
    let mut counts = [0u64; 3];
    for outcome in rows.iter().flatten() {
        let i = match outcome {
            CaptureOutcome::Created { .. } => 0,
            CaptureOutcome::Merged { .. } => 1,
            CaptureOutcome::Unchanged { .. } => 2,
        };
        counts[i] += 1;
    }
    for (result, n) in ["created", "merged", "unchanged"].into_iter().zip(counts) {
        if n > 0 {
            telemetry::leads(tenant, result, n);
        }
    }
}

/// A step of a capture, or of the commit of a CRM change, in the order they run: see [`phase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The keyed digest of a batch's rows (its idempotency fingerprint), over the cores.
    Fingerprint,
    /// Normalising and checking the rows, over the cores.
    Normalise,
    /// Blind indexes and fuzzy keys of the rows, over the cores.
    MatchKeys,
    /// The dedupe engine deciding every row, in order, on the calling thread.
    Engine,
    /// Reading the stored leads and vaults the decisions join, and opening them.
    Prefetch,
    /// Applying the decisions to the working copies, in order, on the calling thread.
    Apply,
    /// The domain events of the change, on the calling thread.
    Events,
    /// Encoding the changed leads, over the cores, then freeing their working copies.
    Encode,
    /// Sealing the changed vaults, over the cores, then freeing their plaintext.
    Seal,
    /// Encoding the history entries, over the cores.
    History,
    /// The store's commit of the batch.
    Store,
}

impl Phase {
    /// The `phase` field of the span.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Fingerprint => "fingerprint",
            Phase::Normalise => "normalise",
            Phase::MatchKeys => "match_keys",
            Phase::Engine => "engine",
            Phase::Prefetch => "prefetch",
            Phase::Apply => "apply",
            Phase::Events => "events",
            Phase::Encode => "encode",
            Phase::Seal => "seal",
            Phase::History => "history",
            Phase::Store => "store",
        }
    }
}

/// The `trace` span `crm.phase` of one step of a capture or commit, so a subscriber can see
/// where the time goes. Fields: `phase`, and `rows`, how many rows, leads, vaults or entries
/// the step handles (a count, never a value). Disabled, and almost free, unless a subscriber
/// asks for it.
pub(crate) fn phase(phase: Phase, rows: usize) -> tracing::Span {
    tracing::trace_span!("crm.phase", phase = phase.as_str(), rows)
}
