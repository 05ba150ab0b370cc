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
