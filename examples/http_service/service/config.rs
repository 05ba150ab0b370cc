//! Configuration: where the state lives ([`StoreUrl`]) and the service's limits
//! ([`ServiceConfig`]).

use std::time::Duration;

/// Where the service keeps its state: core's [`StoreUrl`] — `memory`, `sqlite:<path>` or
/// `postgres://…` (with an optional `schema=`); its `Display` is safe to log.
pub use marketingforce::core::storage::StoreUrl;

/// The service's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Largest request body accepted, in bytes (default 64 KiB); larger bodies get 413.
    pub body_limit: usize,
    /// Largest page of a listing (default 100).
    pub max_page: usize,
    /// Longest a client may take to send a request's header, from its first byte (or from the
    /// connection's opening) to the blank line (default 10 s); a slower connection is closed.
    /// Defends against slowloris clients that hold connections open with partial headers.
    pub header_read_timeout: Duration,
    /// Longest a connection may sit without traffic between requests (keep-alive) or while a
    /// response is written (default 60 s); then it is closed.
    pub idle_timeout: Duration,
    /// Most connections served at once (default 1024); further clients wait in the listen
    /// backlog until one closes.
    pub max_connections: usize,
    /// How often the webhook dispatcher ([`dispatch`](super::webhooks::dispatch)) reads the
    /// endpoints from the store (default 2 s): a new or removed endpoint takes effect on every
    /// instance within this time.
    pub webhook_sync: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            body_limit: 64 * 1024,
            max_page: 100,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            webhook_sync: Duration::from_secs(2),
        }
    }
}
