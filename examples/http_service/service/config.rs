//! Configuration: where the state lives ([`StoreUrl`]) and the service's limits
//! ([`ServiceConfig`]).

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
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            body_limit: 64 * 1024,
            max_page: 100,
        }
    }
}
