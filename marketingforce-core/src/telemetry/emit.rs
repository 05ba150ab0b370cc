//! Where telemetry leaves the SDK: the outcome of an operation, and the counters and
//! histograms of [`names`](super::names). Without the `metrics` feature the metric functions
//! compile to nothing.

use std::fmt::Display;
#[cfg(feature = "metrics")]
use std::time::Instant;

use tracing::{Level, Span};

use super::names;
use super::Answer;
use crate::ErrorKind;

/// The tenant as a metric label, when [`include_tenant_label`](super::include_tenant_label) is
/// on and metrics are compiled in; `None` otherwise.
pub fn tenant_label<T: Display + ?Sized>(tenant: &T) -> Option<String> {
    if cfg!(feature = "metrics") && super::tenant_label_included() {
        Some(tenant.to_string())
    } else {
        None
    }
}

/// What an operation's metrics need from its start: the operation, the tenant label and (with
/// the `metrics` feature) the start time.
#[doc(hidden)]
pub struct Probe {
    #[cfg(feature = "metrics")]
    operation: &'static str,
    #[cfg(feature = "metrics")]
    tenant: Option<String>,
    #[cfg(feature = "metrics")]
    started: Instant,
}

impl Probe {
    /// Starts timing `operation`.
    #[inline]
    #[allow(unused_variables)]
    pub fn start(operation: &'static str, tenant: Option<String>) -> Probe {
        Probe {
            #[cfg(feature = "metrics")]
            operation,
            #[cfg(feature = "metrics")]
            tenant,
            #[cfg(feature = "metrics")]
            started: Instant::now(),
        }
    }
}

impl Probe {
    /// The tenant label of the operation, when the operator opted in and metrics are on.
    #[inline]
    pub fn tenant(&self) -> Option<&str> {
        #[cfg(feature = "metrics")]
        {
            self.tenant.as_deref()
        }
        #[cfg(not(feature = "metrics"))]
        {
            None
        }
    }
}

/// Records what `result` answered on `span` and in the metrics.
#[doc(hidden)]
#[inline]
#[allow(unused_variables)]
pub fn finish<A: Answer>(probe: &Probe, span: &Span, result: &A) {
    let error = result.error();
    if !span.is_disabled() {
        record(span, error);
    }
    #[cfg(feature = "metrics")]
    {
        let outcome = if error.is_some() { "error" } else { "ok" };
        let kind = error.map_or("none", |(k, _)| k.as_str());
        let mut labels = vec![
            ("operation", probe.operation.to_string()),
            ("outcome", outcome.to_string()),
            ("error_kind", kind.to_string()),
        ];
        if let Some(t) = &probe.tenant {
            labels.push(("tenant", t.clone()));
        }
        metrics::counter!(names::OPERATIONS, &labels).increment(1);
        metrics::histogram!(names::OPERATION_DURATION, "operation" => probe.operation)
            .record(probe.started.elapsed().as_secs_f64());
    }
}

#[cold]
fn record(span: &Span, error: Option<(ErrorKind, &'static str)>) {
    let Some((kind, code)) = error else {
        span.record("outcome", "ok");
        return;
    };
    span.record("outcome", "error");
    span.record("error.kind", kind.as_str());
    span.record("error.code", code);
    match kind {
        ErrorKind::LimitExceeded | ErrorKind::RateLimited | ErrorKind::Forbidden => {
            tracing::event!(parent: span, Level::INFO, error.kind = kind.as_str(), error.code = code, "operation refused");
        }
        ErrorKind::OutcomeUnknown | ErrorKind::Unavailable | ErrorKind::Internal => {
            tracing::event!(parent: span, Level::WARN, error.kind = kind.as_str(), error.code = code, "operation failed");
        }
        _ => {
            tracing::event!(parent: span, Level::DEBUG, error.kind = kind.as_str(), error.code = code, "operation answered an error");
        }
    }
}

/// Adds `value` to the counter `name` with `labels` (feature `metrics`; nothing otherwise).
/// For counters of [`names`] not covered by a dedicated function.
#[inline]
#[allow(unused_variables)]
pub fn count(name: &'static str, labels: &[(&'static str, &str)], value: u64) {
    #[cfg(feature = "metrics")]
    {
        let labels: Vec<(&'static str, String)> =
            labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
        metrics::counter!(name, &labels).increment(value);
    }
}

/// Adds `value` to the counter `name` with `labels` plus `tenant` as a label when given (pass
/// [`tenant_label`]`(&tenant).as_deref()`: present only when the operator opted in with
/// [`include_tenant_label`](super::include_tenant_label)).
#[inline]
#[allow(unused_variables)]
pub fn count_by(
    name: &'static str,
    tenant: Option<&str>,
    labels: &[(&'static str, &str)],
    value: u64,
) {
    #[cfg(feature = "metrics")]
    {
        let mut owned: Vec<(&'static str, String)> =
            labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
        if let Some(t) = tenant {
            owned.push(("tenant", t.to_string()));
        }
        metrics::counter!(name, &owned).increment(value);
    }
}

/// Records `seconds` in the histogram `name` with `labels` (feature `metrics`).
#[inline]
#[allow(unused_variables)]
pub fn observe_seconds(name: &'static str, labels: &[(&'static str, &str)], seconds: f64) {
    #[cfg(feature = "metrics")]
    {
        let labels: Vec<(&'static str, String)> =
            labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
        metrics::histogram!(name, &labels).record(seconds);
    }
}

/// Usage of a metered `unit` consumed (`refused == false`) or refused for want of quota:
/// [`QUOTA_CONSUMED`](names::QUOTA_CONSUMED) / [`QUOTA_REFUSED`](names::QUOTA_REFUSED), and an
/// `info` event for a refusal.
#[inline]
pub fn quota(tenant: Option<&str>, unit: &str, amount: u64, refused: bool) {
    if refused {
        tracing::info!(unit, amount, "quota refused");
        count_by(names::QUOTA_REFUSED, tenant, &[("unit", unit)], amount);
    } else {
        count_by(names::QUOTA_CONSUMED, tenant, &[("unit", unit)], amount);
    }
}

/// `count` leads captured with `result` (`created`, `merged`, `unchanged`).
#[inline]
pub fn leads(tenant: Option<&str>, result: &str, count: u64) {
    count_by(names::LEADS, tenant, &[("result", result)], count);
}

/// `count` ledger transfers of `kind` (`post`, `commit`, …) written (`replayed == false`) or
/// found already written under their ids (`replayed == true`).
#[inline]
pub fn ledger_transfers(tenant: Option<&str>, kind: &str, replayed: bool, count: u64) {
    let outcome = if replayed { "replayed" } else { "posted" };
    count_by(
        names::LEDGER_TRANSFERS,
        tenant,
        &[("kind", kind), ("outcome", outcome)],
        count,
    );
}

/// A content item published on `channel` (`outcome`: `published`, `failed`, `replayed`).
#[inline]
pub fn publication(tenant: Option<&str>, channel: &str, outcome: &str) {
    count_by(
        names::PUBLICATIONS,
        tenant,
        &[("channel", channel), ("outcome", outcome)],
        1,
    );
}

/// `count` domain events delivered to a sink by the relay.
#[inline]
pub fn events_relayed(sink: &str, count: u64) {
    tracing::trace!(sink, count, "events relayed");
    self::count(names::EVENTS_RELAYED, &[("sink", sink)], count);
}

/// The age of the oldest event in a page the relay just delivered to `sink`
/// ([`RELAY_LAG`](names::RELAY_LAG)): how far behind the outbox delivery runs.
#[inline]
pub fn relay_lag(sink: &str, seconds: f64) {
    tracing::trace!(sink, lag_seconds = seconds, "relay lag");
    observe_seconds(names::RELAY_LAG, &[("sink", sink)], seconds);
}

/// A fenced write refused as stale and retried on caught-up state (`journal`: the fenced
/// journal, `attempt`: 1 for the first retry): a `debug` event and
/// [`STALE_RETRIES`](names::STALE_RETRIES). Frequent retries mean several processes write one
/// tenant: route by tenant.
#[inline]
pub fn stale_retry(journal: &'static str, attempt: u64) {
    tracing::debug!(journal, attempt, "stale view, retrying");
    count(names::STALE_RETRIES, &[("journal", journal)], 1);
}
