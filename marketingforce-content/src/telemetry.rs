//! The content crate's domain counters (feature `metrics`): publications by channel and
//! outcome. Spans and outcome counters come from `#[operation]` on the service methods; see
//! [`marketingforce_core::telemetry`].

use marketingforce_core::telemetry;

use crate::distribution::{Publication, PublicationStatus};
use crate::error::Result;

fn outcome(status: &PublicationStatus) -> &'static str {
    match status {
        PublicationStatus::Scheduled { .. } => "scheduled",
        PublicationStatus::Published(_) => "published",
        PublicationStatus::Rejected { .. } => "rejected",
        PublicationStatus::Failed { .. } => "failed",
    }
}

/// `Publisher::publish` or `Publisher::retry` answered.
pub(crate) fn published(answer: &Result<Publication>, tenant: Option<&str>) {
    if let Ok(p) = answer {
        telemetry::publication(tenant, &p.command.channel, outcome(&p.status));
    }
}

/// `Publisher::run_due` answered.
pub(crate) fn published_due(answer: &Result<Vec<Publication>>, tenant: Option<&str>) {
    if let Ok(done) = answer {
        for p in done {
            telemetry::publication(tenant, &p.command.channel, outcome(&p.status));
        }
    }
}
