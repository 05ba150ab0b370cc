//! The modules crate's domain counters (feature `metrics`): quota consumed and refused per
//! unit. Spans and outcome counters come from `#[operation]` on the service methods; see
//! [`marketingforce_core::telemetry`].

use marketingforce_core::telemetry;

use crate::error::{ModulesError, Result};
use crate::metering::{Consumed, UsageKind};

/// `UsageMeter::consume_durable` or `commit_durable` answered: units consumed (a replay
/// consumed nothing new), or units refused for want of quota (with an `info` event).
pub(crate) fn consumed(answer: &Result<Consumed>, tenant: Option<&str>) {
    match answer {
        Ok(c) if !c.replayed && c.kind == UsageKind::Consume => {
            telemetry::quota(tenant, c.unit.as_str(), c.quantity.get(), false);
        }
        Err(ModulesError::QuotaExceeded {
            unit, requested, ..
        }) => telemetry::quota(tenant, unit.as_str(), requested.get(), true),
        _ => {}
    }
}
