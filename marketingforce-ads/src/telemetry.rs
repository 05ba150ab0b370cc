//! The ads crate's domain counters (feature `metrics`): ledger transfers. Spans and outcome
//! counters come from `#[operation]` on the service methods; see
//! [`marketingforce_core::telemetry`].

use marketingforce_core::telemetry;

use crate::error::Result;
use crate::ledger::{LedgerCommit, Outcome};

fn count(tenant: Option<&str>, kind: &str, outcomes: &[Outcome]) {
    let posted = outcomes.iter().filter(|o| o.is_created()).count() as u64;
    let existing = outcomes.len() as u64 - posted;
    if posted > 0 {
        telemetry::ledger_transfers(tenant, kind, false, posted);
    }
    if existing > 0 {
        telemetry::ledger_transfers(tenant, kind, true, existing);
    }
}

/// `Ledger::post` answered.
pub(crate) fn posted(answer: &Result<Vec<Outcome>>, tenant: Option<&str>) {
    if let Ok(outcomes) = answer {
        count(tenant, "post", outcomes);
    }
}

/// `Ledger::commit` or `commit_checked` answered (a replayed batch counts once).
pub(crate) fn committed(answer: &Result<LedgerCommit>, tenant: Option<&str>) {
    match answer {
        Ok(LedgerCommit::Committed(outcomes)) => count(tenant, "commit", outcomes),
        Ok(LedgerCommit::Replayed(_)) => telemetry::ledger_transfers(tenant, "commit", true, 1),
        Err(_) => {}
    }
}
