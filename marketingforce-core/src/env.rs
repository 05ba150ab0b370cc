//! [`Env`]: what every service of the SDK runs on — the store, the clock, the id source, the
//! business calendar, the keys and the HTTP settings — built once and handed to each service.
//!
//! Every service of every crate is constructed the same way, from the environment and then its
//! required parts: `Service::new(&env, …)` when it has no options, or
//! `Service::builder(&env, …)…build()` when it has (`…open().await` for the services that
//! replay a tenant's journal as they open, such as the ads crate's `AdOps::builder(&env,
//! tenant)`). Every mutating call takes an [`IdempotencyKey`](crate::IdempotencyKey) as its last
//! argument. The umbrella crate's `Platform` builds an `Env` and every service from it, and
//! hands out one handle per tenant.
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::env::Env;
//! use marketingforce_core::keys::KeyRing;
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_core::time::ManualClock;
//!
//! // Defaults: system clock, random ids, the mainland China calendar, no PII keys.
//! let env = Env::new(Arc::new(MemoryStore::new()));
//! assert_eq!(env.store().backend(), "memory");
//! assert!(env.keys().is_err()); // services that seal personal data need keys
//!
//! // Deterministic runs (tests, simulations): a manual clock and keys.
//! let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
//! let env = Env::builder(Arc::new(MemoryStore::new()))
//!     .clock(clock)
//!     .keys(Arc::new(KeyRing::new("k1", [7; 32])))
//!     .build();
//! assert_eq!(env.clock().now().to_rfc3339(), "2026-03-02T01:00:00+00:00");
//! assert!(env.keys().is_ok());
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::{IdGenerator, RandomIds};
use crate::keys::KeyProvider;
use crate::storage::{Fingerprint, Store};
use crate::tenant::TenantId;
use crate::time::{BusinessCalendar, Clock, HolidayCalendar, SystemClock};

/// How the SDK's HTTP adapters (ad platforms, content channels, model servers) talk to the
/// outside: timeouts, retries with exponential backoff on 429 and 5xx, and the user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Longest a whole request may take (default 30 s).
    pub timeout: Duration,
    /// Longest a connection may take to open (default 5 s).
    pub connect_timeout: Duration,
    /// Retries after the first attempt on 429, 5xx and connection errors (default 3).
    pub max_retries: u32,
    /// First backoff; doubled per retry, with jitter (default 200 ms).
    pub backoff: Duration,
    /// Longest backoff (default 5 s); a `Retry-After` answer is honoured up to this.
    pub max_backoff: Duration,
    /// The `User-Agent` header (default `marketingforce-sdk/<version>`).
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            user_agent: concat!("marketingforce-sdk/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

impl HttpSettings {
    /// The backoff before retry `attempt` (1 = the first retry), without jitter: `backoff`
    /// doubled per attempt, capped at `max_backoff`.
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff
            .checked_mul(factor)
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    calendar: Arc<dyn BusinessCalendar>,
    keys: Option<Arc<dyn KeyProvider>>,
    http: HttpSettings,
}

/// The environment services run on. Cheap to clone (shared). See the [module docs](self).
#[derive(Clone)]
pub struct Env {
    inner: Arc<Inner>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("store", &self.inner.store.backend())
            .field("clock", &self.inner.clock)
            .field("keys", &self.inner.keys.is_some())
            .field("http", &self.inner.http)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Env`]; every part but the store has a default.
#[derive(Debug)]
#[must_use]
pub struct EnvBuilder {
    store: Arc<dyn Store>,
    clock: Option<Arc<dyn Clock>>,
    ids: Option<Arc<dyn IdGenerator>>,
    calendar: Option<Arc<dyn BusinessCalendar>>,
    keys: Option<Arc<dyn KeyProvider>>,
    http: HttpSettings,
}

impl EnvBuilder {
    /// Use `clock` (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Use `ids` (default: random UUIDv7s).
    pub fn ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = Some(ids);
        self
    }

    /// Use `calendar` for business days (default: the mainland China holiday schedule).
    pub fn calendar(mut self, calendar: Arc<dyn BusinessCalendar>) -> Self {
        self.calendar = Some(calendar);
        self
    }

    /// Seal personal data, compute blind indexes and key request fingerprints with `keys`
    /// (default: none; services that hold personal data refuse to start without keys).
    pub fn keys(mut self, keys: Arc<dyn KeyProvider>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Use `http` for the HTTP adapters (default: [`HttpSettings::default`]).
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// The environment.
    pub fn build(self) -> Env {
        Env {
            inner: Arc::new(Inner {
                store: self.store,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                ids: self.ids.unwrap_or_else(|| Arc::new(RandomIds)),
                calendar: self.calendar.unwrap_or_else(default_calendar),
                keys: self.keys,
                http: self.http,
            }),
        }
    }
}

/// The default calendar, parsed once per process (environments are built often: every
/// service that takes a store builds one).
fn default_calendar() -> Arc<dyn BusinessCalendar> {
    static CALENDAR: std::sync::OnceLock<Arc<HolidayCalendar>> = std::sync::OnceLock::new();
    CALENDAR
        .get_or_init(|| Arc::new(HolidayCalendar::china_mainland()))
        .clone()
}

impl Env {
    /// An environment over `store` with every default (see [`EnvBuilder`]).
    pub fn new(store: Arc<dyn Store>) -> Env {
        Env::builder(store).build()
    }

    /// Start building an environment over `store`.
    pub fn builder(store: Arc<dyn Store>) -> EnvBuilder {
        EnvBuilder {
            store,
            clock: None,
            ids: None,
            calendar: None,
            keys: None,
            http: HttpSettings::default(),
        }
    }

    /// The store every service persists through.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The id source.
    pub fn ids(&self) -> &Arc<dyn IdGenerator> {
        &self.inner.ids
    }

    /// The business calendar.
    pub fn calendar(&self) -> &Arc<dyn BusinessCalendar> {
        &self.inner.calendar
    }

    /// The key provider.
    ///
    /// # Errors
    /// A validation error on `keys` when the environment was built without one.
    pub fn keys(&self) -> Result<&Arc<dyn KeyProvider>> {
        self.inner.keys.as_ref().ok_or_else(|| {
            Error::validation(
                "keys",
                "this service holds personal data and needs a key provider: \
                 Env::builder(store).keys(…)",
            )
        })
    }

    /// The HTTP settings.
    pub fn http(&self) -> &HttpSettings {
        &self.inner.http
    }

    /// The fingerprint of a request that may carry personal data: an HMAC under the tenant's
    /// fingerprint key (see [`KeyProvider::fingerprint_key`]), so a stored fingerprint never
    /// lets anyone test guesses of the data. Requests without personal data may use
    /// [`Fingerprint::of`] instead.
    ///
    /// # Errors
    /// No key provider, the provider's error, or a serialization error.
    pub fn fingerprint<T: Serialize + ?Sized>(
        &self,
        tenant: &TenantId,
        request: &T,
    ) -> Result<Fingerprint> {
        let key = self.keys()?.fingerprint_key(tenant)?;
        Fingerprint::keyed(key.bytes(), request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyRing;
    use crate::storage::MemoryStore;

    #[test]
    fn keyed_fingerprints_differ_per_tenant_and_need_keys() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        assert!(Env::new(store.clone())
            .fingerprint(&TenantId::new(), "13812345678")
            .is_err());
        let env = Env::builder(store)
            .keys(Arc::new(KeyRing::new("k1", [3; 32])))
            .build();
        let (a, b) = (TenantId::new(), TenantId::new());
        let fa = env
            .fingerprint(&a, "13812345678")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fa,
            env.fingerprint(&a, "13812345678")
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert_ne!(
            fa,
            env.fingerprint(&b, "13812345678")
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert_ne!(
            fa,
            Fingerprint::of("13812345678").unwrap_or_else(|e| panic!("{e}"))
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let h = HttpSettings::default();
        assert_eq!(h.backoff_for(1), Duration::from_millis(200));
        assert_eq!(h.backoff_for(3), Duration::from_millis(800));
        assert_eq!(h.backoff_for(40), h.max_backoff);
    }
}
