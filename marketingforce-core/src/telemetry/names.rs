//! The metrics the SDK emits (feature `metrics`), their kinds and labels. Every name starts
//! with `marketingforce_`; durations are in seconds. A `tenant` label is added to the series
//! marked † only after [`include_tenant_label`](super::include_tenant_label)`(true)`.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `marketingforce_operations_total` † | counter | `operation`, `outcome` (`ok`/`error`), `error_kind` (`none`, `limit_exceeded`, `conflict`, …) | service operations by outcome |
//! | `marketingforce_operation_duration_seconds` | histogram | `operation` | service operation latency |
//! | `marketingforce_store_commits_total` | counter | `backend`, `outcome` (`committed`/`replayed`/`conflict`/`error`) | store commits |
//! | `marketingforce_store_commit_duration_seconds` | histogram | `backend`, `outcome` | store commit latency |
//! | `marketingforce_idempotent_replays_total` | counter | `operation` | idempotency keys answered from their first result |
//! | `marketingforce_stale_retries_total` | counter | `journal` | fenced writes retried on caught-up state |
//! | `marketingforce_quota_consumed_total` † | counter | `unit` | metered units consumed |
//! | `marketingforce_quota_refused_total` † | counter | `unit` | metered units refused for want of quota |
//! | `marketingforce_leads_total` † | counter | `result` (`created`/`merged`/`unchanged`) | leads captured |
//! | `marketingforce_ledger_transfers_total` † | counter | `kind`, `outcome` (`posted`/`replayed`) | ledger transfers |
//! | `marketingforce_publications_total` † | counter | `channel`, `outcome` | content publications |
//! | `marketingforce_events_relayed_total` | counter | `sink` | domain events delivered by the relay |
//! | `marketingforce_relay_lag_seconds` | histogram | `sink` | age of the oldest event of each page the relay delivered |
//! | `marketingforce_platform_requests_total` | counter | `platform`, `method`, `status` (`2xx`…`5xx`, `transport`) | requests to ad platforms, model servers, channels, webhooks |
//! | `marketingforce_platform_request_duration_seconds` | histogram | `platform`, `method` | their latency |

/// Service operations by outcome.
pub const OPERATIONS: &str = "marketingforce_operations_total";
/// Service operation latency.
pub const OPERATION_DURATION: &str = "marketingforce_operation_duration_seconds";
/// Store commits by outcome.
pub const STORE_COMMITS: &str = "marketingforce_store_commits_total";
/// Store commit latency.
pub const STORE_COMMIT_DURATION: &str = "marketingforce_store_commit_duration_seconds";
/// Idempotent replays.
pub const IDEMPOTENT_REPLAYS: &str = "marketingforce_idempotent_replays_total";
/// Fenced writes retried after a stale view.
pub const STALE_RETRIES: &str = "marketingforce_stale_retries_total";
/// Metered units consumed.
pub const QUOTA_CONSUMED: &str = "marketingforce_quota_consumed_total";
/// Metered units refused.
pub const QUOTA_REFUSED: &str = "marketingforce_quota_refused_total";
/// Leads captured, by result.
pub const LEADS: &str = "marketingforce_leads_total";
/// Ledger transfers.
pub const LEDGER_TRANSFERS: &str = "marketingforce_ledger_transfers_total";
/// Content publications.
pub const PUBLICATIONS: &str = "marketingforce_publications_total";
/// Domain events relayed.
pub const EVENTS_RELAYED: &str = "marketingforce_events_relayed_total";
/// Relay lag.
pub const RELAY_LAG: &str = "marketingforce_relay_lag_seconds";
/// Requests to outside platforms.
pub const PLATFORM_REQUESTS: &str = "marketingforce_platform_requests_total";
/// Latency of requests to outside platforms.
pub const PLATFORM_REQUEST_DURATION: &str = "marketingforce_platform_request_duration_seconds";
