//! Telemetry: `tracing` spans and events, and metrics through the `metrics` facade — with no
//! personal data, and at no cost when nobody listens.
//!
//! The SDK installs nothing: it emits through the facades and the embedding service decides
//! where it goes (a `tracing-subscriber` with JSON output, OpenTelemetry, a Prometheus
//! recorder). With no subscriber installed a span or event costs one relaxed atomic load and a
//! branch; its field values are never computed. Telemetry never fails an operation: nothing it
//! does returns an error, and a recorder that drops data drops only telemetry.
//!
//! ## What is emitted
//!
//! | where | span or event | level | fields |
//! |---|---|---|---|
//! | every public service command and query marked [`operation`] | span named after the operation (`crm.capture`, `ads.top_up`) | `debug` (hot queries `trace`) | `operation`, `tenant`, `key_hash`, then `outcome` (`ok` / `error`), `error.kind`, `error.code` |
//! | an operation refused (quota, seat, credit limit, rate, permission) | event `operation refused` | `info` | `operation`, `error.kind`, `error.code` |
//! | an operation whose outcome is unknown, or an internal or dependency failure | event `operation failed` | `warn` | same |
//! | any other error answer (bad input, not found, conflict after retries) | event `operation answered an error` | `debug` | same |
//! | every store commit ([`store`]) | span `store.commit` | `trace` | `backend`, `tenant`, `writes`, `appends`, `expected_heads`, then `outcome` |
//! | a commit refused as stale or conflicting | event `store commit conflict` | `debug` | `backend`, `error.code` |
//! | a replayed idempotency key | event `idempotent replay` | `debug` | `backend`, `operation` |
//! | each step of a CRM capture or commit (`marketingforce-crm`) | span `crm.phase` | `trace` | `phase` (`fingerprint`, `normalise`, `match_keys`, `engine`, `prefetch`, `apply`, `events`, `encode`, `seal`, `history`, `store`), `rows` (a count) |
//! | every store read | span `store.get` / `store.list` / `store.lookup` / `store.read_journal` / `store.journal_head` / `store.idempotency` | `trace` | `backend` |
//! | every request to a platform, model server or channel ([`http`]) | span `http.request` | `debug` | `platform`, `method`, `host`, `attempt`, then `status` |
//! | a retry after a 429, a 5xx or a transport error | event `platform request retried` | `info` | `platform`, `attempt`, `status`, `backoff_ms` |
//! | a fenced write retried on caught-up state | event `stale view, retrying` | `debug` | `journal`, `attempt` |
//!
//! Targets are the module paths (`marketingforce_crm::service`, `marketingforce_core::telemetry`),
//! so `RUST_LOG=marketingforce_crm=debug,marketingforce_core::telemetry=info` style filters
//! work. **Fields never hold personal data**: tenant ids, operation names, error kinds and
//! codes, backend names, hosts (never paths or queries, which may carry tokens), counts and
//! a short hash of the idempotency key ([`KeyHash`]); never a request, an error message or a
//! response body. `tests/telemetry.rs` runs the quickstart under a capturing subscriber and
//! checks that no mobile, email or name of its cast appears.
//!
//! ## Metrics
//!
//! With the `metrics` feature, counters and histograms go to whatever recorder the
//! application installed (`metrics-exporter-prometheus`, …); [`names`] lists them with their
//! labels. Labels are bounded (operations, units, backends, kinds); the tenant id becomes a
//! label only after [`include_tenant_label`]`(true)`, for operators who accept one series per
//! tenant.

mod emit;
pub mod http;
pub mod names;
pub mod store;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::error::Classify;
use crate::idempotency::IdempotencyKey;

pub use emit::{
    count, count_by, events_relayed, leads, ledger_transfers, observe_seconds, publication, quota,
    relay_lag, stale_retry, tenant_label,
};

/// Gives a service method a span named after its operation, records its outcome from the
/// [`Classify`] answer of its error (never its `Display`, which may be long), emits a refusal or
/// failure event, and counts it (`marketingforce_operations_total`, feature `metrics`).
///
/// ```text
/// #[operation("crm.capture", tenant = self.tenant, key = key, observe = telemetry::captured)]
/// pub async fn capture(&self, request: CaptureRequest, key: IdempotencyKey) -> Result<Captured>
/// ```
///
/// Arguments: the operation name (a string literal), then optionally `tenant = <expr>` (any
/// `Display`, normally the [`TenantId`](crate::tenant::TenantId)), `key = <expr>` (an
/// [`IdempotencyKey`], a reference to one or an `Option`: recorded as its [`KeyHash`]),
/// `level = "trace" | "debug" | "info"` (default `debug`), and `observe = <path>`: a function
/// `fn(&Result<..>, Option<&str>)` called with the answer and the tenant label (present only
/// after [`include_tenant_label`]`(true)`) once the body answered, for the domain counters of
/// that operation. The method must return a `Result` whose error implements [`Classify`]; the body is
/// not changed (an async body runs inside the span as an instrumented future).
pub use marketingforce_macros::operation;

static TENANT_LABEL: AtomicBool = AtomicBool::new(false);

/// Whether metrics carry a `tenant` label (default `false`). One series per tenant and label
/// set can be many series: turn it on only when the recorder can take them. Affects the
/// operation, quota, lead, ledger and publication counters; never spans, which always carry
/// the tenant id.
pub fn include_tenant_label(on: bool) {
    TENANT_LABEL.store(on, Ordering::Relaxed);
}

/// Whether [`include_tenant_label`] is on.
pub fn tenant_label_included() -> bool {
    TENANT_LABEL.load(Ordering::Relaxed)
}

/// A short, stable hash of an idempotency key for telemetry: 12 hex digits (48 bits) of
/// SHA-256 over a fixed prefix and the key. It lets an operator follow a client's retries of
/// one command across processes without the key itself appearing in logs (a key chosen by a
/// client may hold anything). It is not a secret: a key built from guessable parts can be
/// found by trying them, so keys should not be made of personal data.
///
/// ```
/// use marketingforce_core::telemetry::KeyHash;
/// use marketingforce_core::IdempotencyKey;
///
/// let key = IdempotencyKey::new("order-2026-11-0042").unwrap();
/// let shown = KeyHash::of(&key).to_string();
/// assert_eq!(shown.len(), 12);
/// assert!(!shown.contains("order"));
/// assert_eq!(shown, KeyHash::of(&Some(&key)).to_string());
/// assert_eq!(KeyHash::of(&None::<IdempotencyKey>).to_string(), "none");
/// ```
#[derive(Clone, Copy)]
pub struct KeyHash<'a>(Option<&'a str>);

impl<'a> KeyHash<'a> {
    /// The hash of `key` (computed only when displayed).
    pub fn of<K: AsKey + ?Sized>(key: &'a K) -> KeyHash<'a> {
        KeyHash(key.key_str())
    }
}

impl fmt::Display for KeyHash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(key) = self.0 else {
            return f.write_str("none");
        };
        let mut hasher = Sha256::new();
        hasher.update(b"marketingforce/idempotency-key\0");
        hasher.update(key.as_bytes());
        for b in &hasher.finalize()[..6] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyHash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({self})")
    }
}

/// What [`KeyHash::of`] accepts: an [`IdempotencyKey`] (or a key still passed as a string), a
/// reference to one, or an `Option` of either.
pub trait AsKey {
    /// The key's text, if there is a key.
    fn key_str(&self) -> Option<&str>;
}

impl AsKey for IdempotencyKey {
    fn key_str(&self) -> Option<&str> {
        Some(self.as_str())
    }
}

impl AsKey for str {
    fn key_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl AsKey for String {
    fn key_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: AsKey + ?Sized> AsKey for &T {
    fn key_str(&self) -> Option<&str> {
        (**self).key_str()
    }
}

impl<T: AsKey> AsKey for Option<T> {
    fn key_str(&self) -> Option<&str> {
        self.as_ref().and_then(AsKey::key_str)
    }
}

/// What an operation answered, for [`operation`]: `Ok`, or the classification of the error.
pub trait Answer {
    /// `None` for success, the error's classification otherwise.
    fn error(&self) -> Option<(crate::ErrorKind, &'static str)>;
}

impl<T, E: Classify> Answer for Result<T, E> {
    fn error(&self) -> Option<(crate::ErrorKind, &'static str)> {
        self.as_ref().err().map(|e| (e.kind(), e.code()))
    }
}

/// The support code the [`operation`] attribute expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use tracing;
    pub use tracing::Instrument;

    pub use super::emit::{finish, tenant_label, Probe};
    pub use super::KeyHash;
}
