//! Access tokens shared by every process of a tenant, refreshed one at a time.
//!
//! Platforms such as WeChat Official Accounts (`cgi-bin/token`) and WeCom (`cgi-bin/gettoken`)
//! hand out short-lived access tokens (7,200 s) against an app secret, with a daily cap on how
//! many may be fetched, and a new token retires the previous one a few minutes later. Several
//! replicas of a service must therefore *share* one token rather than each fetch its own, and
//! only one of them may refresh it at a time.
//!
//! [`SharedTokenCache`] keeps the token in the tenant's [`Store`] (collection
//! [`TOKEN_COLLECTION`], one versioned record per app) and coordinates refreshes with
//! optimistic concurrency, as the rest of the SDK does:
//!
//! 1. a usable token (not expiring within [`TokenCacheSettings::refresh_ahead`], and not the one
//!    the platform just refused) is returned as it is — from memory when this process has seen
//!    it, otherwise from the store;
//! 2. otherwise the caller claims a *refresh lease* by writing the record at the version it
//!    read (a concurrent claimant gets a conflict and re-reads); only the lease holder calls the
//!    platform, then stores the new token at the lease's version;
//! 3. while another process holds an unexpired lease, the current token is used if it is still
//!    valid, else the answer is [`TokenLookup::Busy`] and the caller waits and asks again.
//!
//! A holder that crashes or is dropped mid-refresh leaves its lease to expire after
//! [`TokenCacheSettings::lease`]; nothing else is left behind. The token is stored as it is (it
//! is a bearer credential for two hours; the store is the tenant's); it never appears in
//! `Debug` output.
//!
//! ```
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use marketingforce_core::adapters::secret::Secret;
//! use marketingforce_core::adapters::token::{IssuedToken, SharedTokenCache, TokenIssuer, TokenLookup};
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::ManualClock;
//!
//! #[derive(Debug)]
//! struct Platform;
//! #[async_trait]
//! impl TokenIssuer for Platform {
//!     fn cache_key(&self) -> String { "wechat-oa:wx0123456789abcdef".into() }
//!     async fn issue(&self) -> marketingforce_core::Result<IssuedToken> {
//!         Ok(IssuedToken { token: Secret::new("TOKEN-1"), expires_in_seconds: 7200 })
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
//! let tenant = TenantId::new();
//! // Two processes over one store share one token.
//! let a = SharedTokenCache::new(store.clone(), clock.clone());
//! let b = SharedTokenCache::new(store, clock);
//! let TokenLookup::Ready(first) = a.lookup(&tenant, &Platform, None).await.unwrap() else { panic!() };
//! let TokenLookup::Ready(second) = b.lookup(&tenant, &Platform, None).await.unwrap() else { panic!() };
//! assert_eq!(first.secret(), second.secret());
//! assert_eq!(first.generation(), 1);
//! assert_eq!(format!("{first:?}").contains("TOKEN-1"), false);
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::secret::Secret;
use crate::error::{Error, Result};
use crate::storage::{Collection, Entity, Store};
use crate::tenant::TenantId;
use crate::time::Clock;

/// The collection holding shared access tokens (one record per app, keyed by
/// [`TokenIssuer::cache_key`]).
pub const TOKEN_COLLECTION: &str = "core.access_tokens";

/// A token as a platform issued it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token.
    pub token: Secret,
    /// Its lifetime in seconds, as the platform stated it (`expires_in`).
    pub expires_in_seconds: i64,
}

/// Fetches a new access token from a platform (the only place an app secret is used).
#[async_trait]
pub trait TokenIssuer: Send + Sync + fmt::Debug {
    /// The key of the shared record: platform and app, never the secret
    /// (e.g. `wechat-oa:wx0123456789abcdef`, `wecom:ww0123:1000002`).
    fn cache_key(&self) -> String;

    /// Ask the platform for a new token.
    ///
    /// # Errors
    /// Whatever the platform or the transport answered.
    async fn issue(&self) -> Result<IssuedToken>;
}

/// A token ready for use.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    value: Secret,
    expires_at: DateTime<Utc>,
    generation: u64,
}

impl AccessToken {
    /// The token, to put on a request.
    pub fn secret(&self) -> &str {
        self.value.expose()
    }

    /// When the platform said it expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// How many tokens this app has had in the store (1 for the first).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &self.value)
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .finish()
    }
}

/// The answer of [`SharedTokenCache::lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    /// A token to use.
    Ready(AccessToken),
    /// Another process is refreshing and no valid token is at hand: ask again shortly (its
    /// lease ends at `until` at the latest).
    Busy {
        /// When the other process's refresh lease ends.
        until: DateTime<Utc>,
    },
}

/// Timing of a [`SharedTokenCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheSettings {
    /// Refresh a token this long before it expires (default 5 minutes).
    pub refresh_ahead: Duration,
    /// How long a refresh lease lasts before another process may take over (default 30 s;
    /// longer than one call to the platform).
    pub lease: Duration,
}

impl Default for TokenCacheSettings {
    fn default() -> Self {
        TokenCacheSettings {
            refresh_ahead: Duration::minutes(5),
            lease: Duration::seconds(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Lease {
    holder: String,
    until: DateTime<Utc>,
}

/// The stored record (the token in clear: it is what every process must present).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TokenRecord {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh: Option<Lease>,
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("key", &self.key)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .field("refresh", &self.refresh)
            .finish()
    }
}

impl Entity for TokenRecord {
    const COLLECTION: &'static str = TOKEN_COLLECTION;
    fn key(&self) -> String {
        self.key.clone()
    }
}

impl TokenRecord {
    fn token(&self) -> Option<AccessToken> {
        match (&self.token, self.expires_at) {
            (Some(t), Some(at)) => Some(AccessToken {
                value: Secret::new(t.clone()),
                expires_at: at,
                generation: self.generation,
            }),
            _ => None,
        }
    }
}

/// Access tokens in the tenant's store, shared by every process and refreshed by one at a time
/// (see the [module documentation](self)).
pub struct SharedTokenCache {
    tokens: Collection<TokenRecord>,
    clock: Arc<dyn Clock>,
    settings: TokenCacheSettings,
    holder: String,
    local: Mutex<HashMap<(TenantId, String), AccessToken>>,
}

impl fmt::Debug for SharedTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTokenCache")
            .field("store", &self.tokens.store().backend())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Claims attempted before answering [`TokenLookup::Busy`] under contention.
const CLAIM_ATTEMPTS: usize = 3;

impl SharedTokenCache {
    /// A cache over `store` with the default settings.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> SharedTokenCache {
        SharedTokenCache::with_settings(store, clock, TokenCacheSettings::default())
    }

    /// A cache with explicit timing.
    pub fn with_settings(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: TokenCacheSettings,
    ) -> SharedTokenCache {
        SharedTokenCache {
            tokens: Collection::new(store),
            clock,
            settings,
            holder: uuid::Uuid::now_v7().to_string(),
            local: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, t: &AccessToken, now: DateTime<Utc>, rejected: Option<&AccessToken>) -> bool {
        t.expires_at - self.settings.refresh_ahead > now && !is_rejected(t, rejected)
    }

    fn remember(&self, tenant: &TenantId, key: &str, token: &AccessToken) {
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((*tenant, key.to_string()), token.clone());
    }

    fn forget(&self, tenant: &TenantId, key: &str) {
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(*tenant, key.to_string()));
    }

    /// A token for `issuer`'s app. Pass the token the platform just refused as `rejected`
    /// (errcode 40001, 42001, 40014…) to force a refresh — unless another process already
    /// stored a newer one, which is then returned without calling the platform.
    ///
    /// # Errors
    /// Storage errors, and the issuer's error when this process refreshed and the platform
    /// refused (the lease is then given back).
    pub async fn lookup(
        &self,
        tenant: &TenantId,
        issuer: &dyn TokenIssuer,
        rejected: Option<&AccessToken>,
    ) -> Result<TokenLookup> {
        let key = issuer.cache_key();
        let now = self.clock.now();
        if let Some(t) = self
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(*tenant, key.clone()))
        {
            if self.fresh(t, now, rejected) {
                return Ok(TokenLookup::Ready(t.clone()));
            }
        }
        if rejected.is_some() {
            self.forget(tenant, &key);
        }
        let mut busy_until = now;
        for _ in 0..CLAIM_ATTEMPTS {
            let now = self.clock.now();
            let current = self.tokens.get(tenant, &key).await?;
            let record = current.as_ref().map(|v| &v.value);
            let token = record.and_then(TokenRecord::token);
            if let Some(t) = token.as_ref().filter(|t| self.fresh(t, now, rejected)) {
                self.remember(tenant, &key, t);
                return Ok(TokenLookup::Ready(t.clone()));
            }
            if let Some(lease) = record
                .and_then(|r| r.refresh.as_ref())
                .filter(|l| l.until > now && l.holder != self.holder)
            {
                // Someone else is refreshing: a still-valid token serves meanwhile.
                if let Some(t) = token
                    .as_ref()
                    .filter(|t| t.expires_at > now && !is_rejected(t, rejected))
                {
                    return Ok(TokenLookup::Ready(t.clone()));
                }
                return Ok(TokenLookup::Busy { until: lease.until });
            }
            let mut claimed = record.cloned().unwrap_or(TokenRecord {
                key: key.clone(),
                token: None,
                expires_at: None,
                generation: 0,
                refresh: None,
            });
            claimed.refresh = Some(Lease {
                holder: self.holder.clone(),
                until: now + self.settings.lease,
            });
            busy_until = now + self.settings.lease;
            let written = match &current {
                Some(v) => self.tokens.update(tenant, &claimed, v.version).await,
                None => self.tokens.insert(tenant, &claimed).await,
            };
            match written {
                Ok(version) => return self.refresh(tenant, issuer, claimed, version).await,
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(TokenLookup::Busy { until: busy_until })
    }

    /// Holding the lease on `claimed` (at `version`): fetch and store a new token.
    async fn refresh(
        &self,
        tenant: &TenantId,
        issuer: &dyn TokenIssuer,
        mut claimed: TokenRecord,
        version: u64,
    ) -> Result<TokenLookup> {
        let issued = match issuer.issue().await {
            Ok(i) => i,
            Err(e) => {
                // Give the lease back so another process need not wait for it to expire; if
                // this write fails, the lease simply runs out.
                claimed.refresh = None;
                let _ = self.tokens.update(tenant, &claimed, version).await;
                return Err(e);
            }
        };
        if issued.expires_in_seconds <= 0 || issued.token.is_blank() {
            claimed.refresh = None;
            let _ = self.tokens.update(tenant, &claimed, version).await;
            return Err(Error::Serialization {
                what: format!("access token answer for {}", claimed.key),
                reason: format!(
                    "a token needs a value and a positive expires_in (got {} s)",
                    issued.expires_in_seconds
                ),
            });
        }
        let now = self.clock.now();
        claimed.token = Some(issued.token.expose().to_string());
        claimed.expires_at = Some(now + Duration::seconds(issued.expires_in_seconds));
        claimed.generation += 1;
        claimed.refresh = None;
        let ours = claimed.token().ok_or_else(|| {
            Error::backend_message("token cache", false, "a stored token lost its value")
        })?;
        match self.tokens.update(tenant, &claimed, version).await {
            Ok(_) => {}
            Err(Error::Conflict { .. }) => {
                // Our lease ran out and another process took over: prefer what it stored.
                if let Some(theirs) = self
                    .tokens
                    .get(tenant, &claimed.key)
                    .await?
                    .and_then(|v| v.value.token())
                    .filter(|t| t.expires_at > now)
                {
                    self.remember(tenant, &claimed.key, &theirs);
                    return Ok(TokenLookup::Ready(theirs));
                }
            }
            // The platform issued the token: use it even though it could not be shared (other
            // processes will refresh again when they need to).
            Err(_) => {}
        }
        self.remember(tenant, &claimed.key, &ours);
        Ok(TokenLookup::Ready(ours))
    }
}

fn is_rejected(t: &AccessToken, rejected: Option<&AccessToken>) -> bool {
    rejected.is_some_and(|r| r.value.ct_eq(t.value.expose()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::storage::MemoryStore;
    use crate::time::ManualClock;

    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicU32,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl TokenIssuer for Counting {
        fn cache_key(&self) -> String {
            "test:app".into()
        }
        async fn issue(&self) -> Result<IssuedToken> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(Error::backend_message("test", false, "40013 invalid appid"));
            }
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(IssuedToken {
                token: Secret::new(format!("T{n}")),
                expires_in_seconds: 7200,
            })
        }
    }

    fn ready(l: TokenLookup) -> AccessToken {
        match l {
            TokenLookup::Ready(t) => t,
            other => panic!("expected a token, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn one_refresh_serves_every_process_until_near_expiry() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00Z").unwrap());
        let tenant = TenantId::new();
        let issuer = Counting::default();
        let a = SharedTokenCache::new(store.clone(), clock.clone());
        let b = SharedTokenCache::new(store.clone(), clock.clone());
        let t1 = ready(a.lookup(&tenant, &issuer, None).await.unwrap());
        assert_eq!(t1.secret(), "T1");
        assert_eq!(ready(b.lookup(&tenant, &issuer, None).await.unwrap()), t1);
        assert_eq!(issuer.calls.load(Ordering::SeqCst), 1);
        // 6 minutes before expiry: still fresh; 4 minutes before: refreshed once.
        clock.advance(Duration::seconds(7200 - 360));
        assert_eq!(ready(b.lookup(&tenant, &issuer, None).await.unwrap()), t1);
        clock.advance(Duration::seconds(120));
        let t2 = ready(b.lookup(&tenant, &issuer, None).await.unwrap());
        assert_eq!((t2.secret(), t2.generation()), ("T2", 2));
        assert_eq!(ready(a.lookup(&tenant, &issuer, None).await.unwrap()), t2);
        // Another tenant has its own token.
        let other = ready(a.lookup(&TenantId::new(), &issuer, None).await.unwrap());
        assert_eq!(other.generation(), 1);
    }

    #[tokio::test]
    async fn a_rejected_token_is_refreshed_once_even_when_both_processes_saw_it_rejected() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00Z").unwrap());
        let tenant = TenantId::new();
        let issuer = Counting::default();
        let a = SharedTokenCache::new(store.clone(), clock.clone());
        let b = SharedTokenCache::new(store.clone(), clock.clone());
        let t1 = ready(a.lookup(&tenant, &issuer, None).await.unwrap());
        let t2 = ready(a.lookup(&tenant, &issuer, Some(&t1)).await.unwrap());
        assert_eq!(t2.secret(), "T2");
        // b saw T1 refused too, but a already stored T2: no second call to the platform.
        assert_eq!(
            ready(b.lookup(&tenant, &issuer, Some(&t1)).await.unwrap()),
            t2
        );
        assert_eq!(issuer.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_held_lease_makes_others_wait_or_use_the_valid_token() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00Z").unwrap());
        let tenant = TenantId::new();
        let tokens = Collection::<TokenRecord>::new(store.clone());
        // A process claimed the lease and vanished before storing anything.
        tokens
            .insert(
                &tenant,
                &TokenRecord {
                    key: "test:app".into(),
                    token: None,
                    expires_at: None,
                    generation: 0,
                    refresh: Some(Lease {
                        holder: "gone".into(),
                        until: clock.now() + Duration::seconds(30),
                    }),
                },
            )
            .await
            .unwrap();
        let issuer = Counting::default();
        let cache = SharedTokenCache::new(store, clock.clone());
        let busy = cache.lookup(&tenant, &issuer, None).await.unwrap();
        assert!(matches!(busy, TokenLookup::Busy { .. }), "{busy:?}");
        assert_eq!(issuer.calls.load(Ordering::SeqCst), 0);
        // The lease expires: this process takes over.
        clock.advance(Duration::seconds(31));
        assert_eq!(
            ready(cache.lookup(&tenant, &issuer, None).await.unwrap()).secret(),
            "T1"
        );
    }

    #[derive(Debug, Default)]
    struct Slow {
        calls: AtomicU32,
    }

    #[async_trait]
    impl TokenIssuer for Slow {
        fn cache_key(&self) -> String {
            "test:slow".into()
        }
        async fn issue(&self) -> Result<IssuedToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            // Let every other contender run while this refresh is in flight.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            Ok(IssuedToken {
                token: Secret::new(format!("S{n}")),
                expires_in_seconds: 7200,
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_processes_refresh_once() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00Z").unwrap());
        let tenant = TenantId::new();
        let issuer = Arc::new(Slow::default());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let cache = SharedTokenCache::new(store.clone(), clock.clone());
            let issuer = issuer.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match cache.lookup(&tenant, issuer.as_ref(), None).await.unwrap() {
                        TokenLookup::Ready(t) => return t.secret().to_string(),
                        TokenLookup::Busy { .. } => tokio::task::yield_now().await,
                    }
                }
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "S1");
        }
        assert_eq!(issuer.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_refresh_gives_the_lease_back() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00Z").unwrap());
        let tenant = TenantId::new();
        let issuer = Counting::default();
        issuer.fail.store(true, Ordering::SeqCst);
        let a = SharedTokenCache::new(store.clone(), clock.clone());
        let err = a.lookup(&tenant, &issuer, None).await.unwrap_err();
        assert!(err.to_string().contains("40013"), "{err}");
        issuer.fail.store(false, Ordering::SeqCst);
        // Another process is not kept waiting for the dead lease.
        let b = SharedTokenCache::new(store, clock);
        assert_eq!(
            ready(b.lookup(&tenant, &issuer, None).await.unwrap()).secret(),
            "T1"
        );
    }
}
