//! OAuth2: authorise the app once, then keep one access token fresh for every process.
//!
//! ## The grant
//! 1. A person (the agent's or the advertiser's administrator) opens
//!    [`OceanEnginePlatform::authorize_url`](super::OceanEnginePlatform::authorize_url) and
//!    approves the app; the platform redirects to the app's **redirect URL** (registered with
//!    the app on open.oceanengine.com) with `auth_code` and your `state`.
//! 2. Your callback passes the code to
//!    [`OceanEnginePlatform::exchange_code`](super::OceanEnginePlatform::exchange_code)
//!    (`POST oauth2/access_token/`, `grant_type=auth_code`). The answer holds an access token
//!    (valid about a day) and a refresh token (about 30 days), stored as a [`TokenRecord`] in
//!    the tenant's store.
//! 3. Every call sends the access token in the `Access-Token` header. Ahead of its expiry
//!    (`refresh_ahead_secs`), or when the platform answers that it expired, the connector calls
//!    `POST oauth2/refresh_token/`, which returns a new pair and **invalidates the old refresh
//!    token**.
//!
//! ## One refresh at a time, across processes
//! Because a refresh token works once, two processes must never refresh with the same one.
//! The record is versioned and written with optimistic concurrency:
//!
//! ```text
//!  read record (version v, generation g)
//!     ├─ token fresh (and not the one the platform rejected) ─────────────► use it
//!     ├─ another process holds an unexpired lease ───► wait, reread ──────► (loop)
//!     └─ claim: write lease{holder, until} expecting version v
//!           ├─ conflict (someone else wrote first) ──────────────────────► reread (loop)
//!           └─ won: refresh at the platform, write generation g+1 expecting v+1 ─► use it
//! ```
//!
//! Inside a process a mutex lets one task refresh while the others wait for its result. The
//! in-memory copy is a cache: it changes only after the store confirmed the write. If a process
//! dies holding the lease, the others wait until the lease expires (`refresh_lease_secs`) and
//! then claim it. If it died *after* the platform rotated the tokens but *before* storing them,
//! the stored refresh token no longer works: the next refresh answers "refresh token invalid"
//! and the connector reports [`OceanEngineError::ReauthorisationRequired`] — authorise again.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use marketingforce_core::storage::{Collection, Entity, Versioned};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_core::{Error, Result};

use super::client::Client;
use super::codes::OceanEngineError;
use super::json::Out;
use super::secret::Secret;
use super::wire;

/// The stored OAuth grant of an app for a tenant (collection `ads.oceanengine.tokens`, keyed
/// by app id). Secrets print as `***`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The app.
    pub app_id: String,
    /// The current access token.
    pub access_token: Secret,
    /// The current refresh token (works once).
    pub refresh_token: Secret,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
    /// 1 for the first grant, +1 per refresh or new grant.
    pub generation: u64,
    /// The advertiser accounts the grant covers (as the platform listed them).
    pub advertiser_ids: Vec<String>,
    /// A process refreshing right now, if any.
    pub refreshing: Option<RefreshLease>,
}

/// A process's claim to refresh a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshLease {
    /// Which process (random per connector instance).
    pub holder: String,
    /// Until when the others wait for it.
    pub until: DateTime<Utc>,
}

impl Entity for TokenRecord {
    const COLLECTION: &'static str = "ads.oceanengine.tokens";
    fn key(&self) -> String {
        self.app_id.clone()
    }
}

/// What a grant covers, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The app.
    pub app_id: String,
    /// The advertiser accounts the grant covers.
    pub advertiser_ids: Vec<String>,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// When the refresh token expires (authorise again before).
    pub refresh_expires_at: DateTime<Utc>,
    /// The grant's generation.
    pub generation: u64,
}

impl From<&TokenRecord> for Grant {
    fn from(r: &TokenRecord) -> Grant {
        Grant {
            app_id: r.app_id.clone(),
            advertiser_ids: r.advertiser_ids.clone(),
            access_expires_at: r.access_expires_at,
            refresh_expires_at: r.refresh_expires_at,
            generation: r.generation,
        }
    }
}

/// A random token, unique per call (process id and a randomly seeded hash).
pub(crate) fn nonce() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128);
    format!("{:x}-{:016x}", std::process::id(), h.finish())
}

/// The grant of one app for one tenant, cached in memory, shared through the store.
#[derive(Debug)]
pub(crate) struct Tokens {
    records: Collection<TokenRecord>,
    tenant: TenantId,
    clock: Arc<dyn Clock>,
    app_id: String,
    holder: String,
    refresh_ahead: chrono::Duration,
    lease: chrono::Duration,
    poll: Duration,
    max_polls: u32,
    cache: RwLock<Option<TokenRecord>>,
    gate: tokio::sync::Mutex<()>,
}

/// Parsed `data` of the OAuth endpoints.
struct Issued {
    access_token: Secret,
    refresh_token: Secret,
    expires_in: i64,
    refresh_expires_in: i64,
    advertiser_ids: Vec<String>,
}

fn issued(data: &Value) -> Result<Issued> {
    let secs = |name: &str, default: i64| -> Result<i64> {
        match data.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(_) => i64::try_from(wire::count(data, name, "data")?)
                .map_err(|_| Error::validation(format!("data.{name}"), "out of range")),
        }
    };
    let mut advertiser_ids = Vec::new();
    for (i, v) in wire::rows(data, "advertiser_ids", "data")?
        .iter()
        .enumerate()
    {
        advertiser_ids.push(wire::id(v, &format!("data.advertiser_ids[{i}]"))?);
    }
    if let Some(one) = data.get("advertiser_id").filter(|v| !v.is_null()) {
        let id = wire::id(one, "data.advertiser_id")?;
        if !advertiser_ids.contains(&id) {
            advertiser_ids.push(id);
        }
    }
    let token = |name: &str| -> Result<Secret> {
        let t = wire::text(wire::field(data, name, "data")?, &format!("data.{name}"))?;
        if t.is_empty() {
            return Err(Error::validation(format!("data.{name}"), "empty"));
        }
        Ok(Secret::new(t))
    };
    Ok(Issued {
        access_token: token("access_token")?,
        refresh_token: token("refresh_token")?,
        expires_in: secs("expires_in", 86_400)?,
        refresh_expires_in: secs("refresh_token_expires_in", 30 * 86_400)?,
        advertiser_ids,
    })
}

/// `now` plus a lifetime of `secs` seconds the platform stated in `field`, or a validation error
/// on `field` when the instant lies beyond the calendar.
fn expiry(now: DateTime<Utc>, secs: i64, field: &str) -> Result<DateTime<Utc>> {
    chrono::Duration::try_seconds(secs)
        .and_then(|lifetime| now.checked_add_signed(lifetime))
        .ok_or_else(|| Error::validation(field, "the lifetime lies beyond the supported dates"))
}

impl Tokens {
    pub(crate) fn new(
        store: Arc<dyn marketingforce_core::storage::Store>,
        tenant: TenantId,
        clock: Arc<dyn Clock>,
        config: &super::OceanEngineConfig,
    ) -> Tokens {
        let lease_secs = i64::try_from(config.refresh_lease_secs).unwrap_or(i64::MAX / 2_000);
        let polls = (config.refresh_lease_secs.saturating_mul(1000)
            / config.refresh_poll_ms.max(1))
        .saturating_add(2);
        Tokens {
            records: Collection::new(store),
            tenant,
            clock,
            app_id: config.app_id.clone(),
            holder: nonce(),
            refresh_ahead: chrono::Duration::seconds(
                i64::try_from(config.refresh_ahead_secs).unwrap_or(i64::MAX / 2_000),
            ),
            lease: chrono::Duration::seconds(lease_secs),
            poll: Duration::from_millis(config.refresh_poll_ms),
            max_polls: u32::try_from(polls).unwrap_or(u32::MAX),
            cache: RwLock::new(None),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self, r: &TokenRecord) -> bool {
        r.access_expires_at - self.refresh_ahead > self.clock.now()
    }

    fn remember(&self, r: &TokenRecord) {
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = Some(r.clone());
    }

    fn cached(&self) -> Option<TokenRecord> {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The stored grant, if any (read from the store, not the cache).
    pub(crate) async fn grant(&self) -> Result<Option<Grant>> {
        Ok(self
            .records
            .get(&self.tenant, &self.app_id)
            .await?
            .map(|v| Grant::from(&v.value)))
    }

    /// A token to call with (and its generation), refreshed ahead of expiry.
    pub(crate) async fn access(&self, client: &Client) -> Result<(Secret, u64)> {
        if let Some(r) = self.cached().filter(|r| self.fresh(r)) {
            return Ok((r.access_token, r.generation));
        }
        self.refresh(client, None).await
    }

    /// The platform rejected the token of `generation`: a newer one (refreshing if nobody has).
    pub(crate) async fn rejected(&self, client: &Client, generation: u64) -> Result<(Secret, u64)> {
        self.refresh(client, Some(generation)).await
    }

    async fn refresh(&self, client: &Client, rejected: Option<u64>) -> Result<(Secret, u64)> {
        let _one_at_a_time = self.gate.lock().await;
        let mut polls = 0u32;
        loop {
            let Some(current) = self.records.get(&self.tenant, &self.app_id).await? else {
                return Err(OceanEngineError::ReauthorisationRequired {
                    reason: format!(
                        "no grant is stored for app {}: send a person to authorize_url and pass \
                         the code to exchange_code",
                        self.app_id
                    ),
                }
                .into_core());
            };
            let record = &current.value;
            let now = self.clock.now();
            let usable = match rejected {
                Some(g) => record.generation > g && record.access_expires_at > now,
                None => self.fresh(record),
            };
            if usable {
                self.remember(record);
                return Ok((record.access_token.clone(), record.generation));
            }
            if record.refresh_expires_at <= now {
                return Err(OceanEngineError::ReauthorisationRequired {
                    reason: format!(
                        "the refresh token of app {} expired at {}",
                        self.app_id, record.refresh_expires_at
                    ),
                }
                .into_core());
            }
            if let Some(lease) = &record.refreshing {
                if lease.holder != self.holder && lease.until > now {
                    polls += 1;
                    if polls > self.max_polls {
                        return Err(Error::Timeout {
                            operation: format!(
                                "waiting for another process to refresh the Ocean Engine token of app {}",
                                self.app_id
                            ),
                        });
                    }
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
            }
            let mut claim = record.clone();
            claim.refreshing = Some(RefreshLease {
                holder: self.holder.clone(),
                until: now + self.lease,
            });
            let claimed = match self
                .records
                .update(&self.tenant, &claim, current.version)
                .await
            {
                Ok(v) => v,
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            };
            return match client.refresh_grant(&record.refresh_token).await {
                Ok(data) => {
                    let next = self.record_from(&data, record.generation + 1)?;
                    self.store_refreshed(next, claimed).await
                }
                Err(e) => {
                    self.release(claimed).await;
                    Err(e)
                }
            };
        }
    }

    fn record_from(&self, data: &Value, generation: u64) -> Result<TokenRecord> {
        let issued = issued(data)?;
        let now = self.clock.now();
        Ok(TokenRecord {
            app_id: self.app_id.clone(),
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            access_expires_at: expiry(now, issued.expires_in, "data.expires_in")?,
            refresh_expires_at: expiry(
                now,
                issued.refresh_expires_in,
                "data.refresh_token_expires_in",
            )?,
            generation,
            advertiser_ids: issued.advertiser_ids,
            refreshing: None,
        })
    }

    /// Store the tokens a refresh returned. Our lease makes the write expected to win; if it
    /// does not (the lease expired and another process claimed it), overwrite as long as nobody
    /// stored a newer generation: ours are the tokens the platform now honours.
    async fn store_refreshed(
        &self,
        mut next: TokenRecord,
        mut version: u64,
    ) -> Result<(Secret, u64)> {
        for _ in 0..8 {
            if next.advertiser_ids.is_empty() {
                if let Some(c) = self.cached() {
                    next.advertiser_ids = c.advertiser_ids;
                }
            }
            match self.records.update(&self.tenant, &next, version).await {
                Ok(_) => {
                    self.remember(&next);
                    return Ok((next.access_token.clone(), next.generation));
                }
                Err(Error::Conflict { .. }) => {
                    let Some(now) = self.records.get(&self.tenant, &self.app_id).await? else {
                        break;
                    };
                    if now.value.generation >= next.generation {
                        self.remember(&now.value);
                        return Ok((now.value.access_token.clone(), now.value.generation));
                    }
                    version = now.version;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict {
            collection: TokenRecord::COLLECTION.into(),
            key: self.app_id.clone(),
            expected: marketingforce_core::error::VersionState::Version(version),
            actual: marketingforce_core::error::VersionState::Any,
        })
    }

    /// Give the lease back after a failed refresh (best effort: it expires anyway).
    async fn release(&self, version: u64) {
        if let Ok(Some(Versioned { value, version: v })) =
            self.records.get(&self.tenant, &self.app_id).await
        {
            if v == version
                && value
                    .refreshing
                    .as_ref()
                    .is_some_and(|l| l.holder == self.holder)
            {
                let released = TokenRecord {
                    refreshing: None,
                    ..value
                };
                let _ = self.records.update(&self.tenant, &released, v).await;
            }
        }
    }

    /// Store a new grant from an authorisation code's answer.
    pub(crate) async fn store_grant(&self, data: &Value) -> Result<Grant> {
        for _ in 0..8 {
            let current = self.records.get(&self.tenant, &self.app_id).await?;
            let generation = current.as_ref().map_or(1, |c| c.value.generation + 1);
            let record = self.record_from(data, generation)?;
            let written = match &current {
                None => self.records.insert(&self.tenant, &record).await,
                Some(c) => self.records.update(&self.tenant, &record, c.version).await,
            };
            match written {
                Ok(_) => {
                    self.remember(&record);
                    return Ok(Grant::from(&record));
                }
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Timeout {
            operation: "storing the Ocean Engine grant (the record kept changing)".into(),
        })
    }
}

/// The body of `oauth2/access_token/`.
pub(crate) fn code_body(app_id: &str, secret: &Secret, auth_code: &Secret) -> Out {
    Out::obj([
        ("app_id", Out::id(app_id)),
        ("secret", Out::str(secret.expose())),
        ("grant_type", Out::str("auth_code")),
        ("auth_code", Out::str(auth_code.expose())),
    ])
}

/// The body of `oauth2/refresh_token/`.
pub(crate) fn refresh_body(app_id: &str, secret: &Secret, refresh_token: &Secret) -> Out {
    Out::obj([
        ("app_id", Out::id(app_id)),
        ("secret", Out::str(secret.expose())),
        ("grant_type", Out::str("refresh_token")),
        ("refresh_token", Out::str(refresh_token.expose())),
    ])
}

/// The authorisation link (`app_id`, `state`, `redirect_uri`).
pub(crate) fn authorize_url(
    page: &str,
    app_id: &str,
    redirect_uri: &str,
    state: &str,
) -> Result<String> {
    let mut url = reqwest::Url::parse(page)
        .map_err(|e| Error::validation("authorize_page_url", e.to_string()))?;
    if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) {
        return Err(Error::validation("redirect_uri", "must be an http(s) URL"));
    }
    url.query_pairs_mut()
        .append_pair("app_id", app_id)
        .append_pair("state", state)
        .append_pair("redirect_uri", redirect_uri);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorisation_link_carries_app_state_and_redirect() {
        let url = authorize_url(
            super::super::config::DEFAULT_AUTHORIZE_PAGE,
            "1690000000000001",
            "https://agency.example.com/oauth/oceanengine?x=1",
            "tenant-7",
        )
        .unwrap();
        assert!(url.starts_with("https://ad.oceanengine.com/openapi/audit/oauth.html?app_id=1690000000000001&state=tenant-7&redirect_uri=https%3A%2F%2Fagency.example.com"), "{url}");
        assert!(authorize_url("https://x/", "1", "javascript:alert(1)", "s").is_err());
    }

    #[test]
    fn lifetimes_beyond_the_calendar_are_refused_naming_the_field() {
        use marketingforce_core::Classify;
        let tokens = Tokens::new(
            Arc::new(marketingforce_core::storage::MemoryStore::new()),
            TenantId::new(),
            Arc::new(
                marketingforce_core::time::ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00")
                    .unwrap(),
            ),
            &super::super::OceanEngineConfig::new("1690000000000001", Secret::new("s")),
        );
        for (name, field) in [
            ("expires_in", "data.expires_in"),
            ("refresh_token_expires_in", "data.refresh_token_expires_in"),
        ] {
            for secs in [
                i64::MAX.to_string(),
                "9223372036854775".into(),
                "100000000000000".into(),
            ] {
                let data: Value = serde_json::from_str(&format!(
                    r#"{{"access_token":"a","refresh_token":"r","{name}":"{secs}"}}"#
                ))
                .unwrap();
                let e = tokens.record_from(&data, 1).unwrap_err();
                assert_eq!(e.field(), Some(field), "{name} = {secs}: {e}");
            }
        }
        let data: Value = serde_json::from_str(
            r#"{"access_token":"a","refresh_token":"r","expires_in":"86400"}"#,
        )
        .unwrap();
        let r = tokens.record_from(&data, 1).unwrap();
        assert_eq!(
            r.access_expires_at - tokens.clock.now(),
            chrono::Duration::days(1)
        );
    }

    #[test]
    fn the_longest_accepted_horizons_are_computed_without_overflow() {
        use crate::config::Config;
        let mut config = super::super::OceanEngineConfig::new("1690000000000001", Secret::new("s"));
        config.refresh_ahead_secs = super::super::OceanEngineConfig::MAX_TOKEN_HORIZON_SECS;
        config.refresh_lease_secs = super::super::OceanEngineConfig::MAX_TOKEN_HORIZON_SECS;
        config.validate().unwrap();
        let clock = Arc::new(
            marketingforce_core::time::ManualClock::at_rfc3339("2026-03-01T09:00:00+08:00")
                .unwrap(),
        );
        let tokens = Tokens::new(
            Arc::new(marketingforce_core::storage::MemoryStore::new()),
            TenantId::new(),
            clock.clone(),
            &config,
        );
        let data: Value =
            serde_json::from_str(r#"{"access_token":"a","refresh_token":"r"}"#).unwrap();
        let record = tokens.record_from(&data, 1).unwrap();
        assert!(!tokens.fresh(&record));
        assert!(clock.now() + tokens.lease > clock.now());
    }

    #[test]
    fn issued_tokens_are_read_and_checked() {
        let data: Value = serde_json::from_str(
            r#"{"access_token":"a","refresh_token":"r","expires_in":"86399","refresh_token_expires_in":"2591999","advertiser_ids":["1760000000000001"]}"#,
        )
        .unwrap();
        let i = issued(&data).unwrap();
        assert_eq!((i.expires_in, i.refresh_expires_in), (86_399, 2_591_999));
        assert_eq!(i.advertiser_ids, vec!["1760000000000001".to_string()]);
        let empty: Value =
            serde_json::from_str(r#"{"access_token":"","refresh_token":"r"}"#).unwrap();
        assert_eq!(
            issued(&empty).err().map(|e| e.to_string()),
            Some("invalid data.access_token: empty".to_string())
        );
        let bodies = refresh_body("1", &Secret::new("s"), &Secret::new("rt")).to_json();
        assert_eq!(
            bodies,
            r#"{"app_id":1,"secret":"s","grant_type":"refresh_token","refresh_token":"rt"}"#
        );
    }
}
