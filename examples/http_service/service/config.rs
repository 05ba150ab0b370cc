//! Configuration: where the state lives ([`StoreUrl`]) and the service's limits
//! ([`ServiceConfig`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use marketingforce::core::storage::{MemoryStore, PostgresStore, SqliteStore, Store};
use marketingforce::core::Error as CoreError;

/// Where the service keeps its state, parsed from a URL-like string.
///
/// - `memory` (or empty): in process memory, the default; nothing survives a restart.
/// - `sqlite:<path>` or `sqlite://<path>`: an embedded SQLite file, created if missing.
/// - `postgres://…` or `postgresql://…`: a shared PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// In process memory.
    Memory,
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl FromStr for StoreUrl {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<StoreUrl, CoreError> {
        let s = s.trim();
        if s.is_empty() || s == "memory" || s == "memory:" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(CoreError::validation("store", "sqlite: needs a file path"));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(s.to_string()));
        }
        Err(CoreError::validation(
            "store",
            "expected memory, sqlite:<path> or postgres://…",
        ))
    }
}

impl fmt::Display for StoreUrl {
    /// The URL with any password replaced by `***`, safe to log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Memory => f.write_str("memory"),
            StoreUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StoreUrl::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

impl StoreUrl {
    /// Whether state outlives the process.
    pub fn is_durable(&self) -> bool {
        !matches!(self, StoreUrl::Memory)
    }

    /// Open the store.
    ///
    /// # Errors
    /// The backend's error (file not writable, database unreachable, …).
    pub async fn open(&self) -> Result<Arc<dyn Store>, CoreError> {
        Ok(match self {
            StoreUrl::Memory => Arc::new(MemoryStore::new()),
            StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
            StoreUrl::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
        })
    }
}

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
