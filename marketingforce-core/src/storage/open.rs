//! Opening a store from a URL-like string: [`StoreUrl`] and [`open`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use super::{MemoryStore, Store};
use crate::error::{quote_input, Error, Result};

/// Where a store lives, parsed from a URL-like string (an environment variable, a command-line
/// flag, a configuration file):
///
/// | string | store |
/// |---|---|
/// | `memory` | [`MemoryStore`]: in process memory, nothing survives a restart |
/// | `sqlite:<path>` or `sqlite://<path>` | `SqliteStore` (feature `sqlite`) on a file, created if missing |
/// | `postgres://…` or `postgresql://…` | `PostgresStore` (feature `postgres`); an optional `schema=<name>` query parameter selects (and creates) a schema |
///
/// `Display` and `Debug` are safe to log: the password is replaced by `***` (also when it holds
/// `@` or `:`), and so are the values of query parameters other than well-known harmless ones
/// (`?password=…` included).
///
/// A PostgreSQL query parameter the driver does not read (`sslpassword`, `connect_timeout`,
/// a misspelt `pasword`, …) is refused: the driver would ignore it and log its value at warn
/// level, which is how a secret put there would leak.
///
/// ```
/// use marketingforce_core::storage::StoreUrl;
///
/// let url: StoreUrl = "postgres://app:s3cr@t:x@db.internal:5432/mf?schema=tenant_a&sslmode=require"
///     .parse()
///     .unwrap();
/// assert_eq!(
///     url.to_string(),
///     "postgres://app:***@db.internal:5432/mf?sslmode=require&schema=tenant_a"
/// );
/// assert!(matches!(&url, StoreUrl::Postgres { schema: Some(s), .. } if s == "tenant_a"));
/// assert_eq!("sqlite:data/mf.sqlite".parse::<StoreUrl>().unwrap().to_string(), "sqlite:data/mf.sqlite");
/// assert!("mysql://localhost/mf".parse::<StoreUrl>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// In process memory.
    Memory,
    /// A SQLite database file.
    Sqlite {
        /// The file.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// The connection URL, without the `schema` parameter (it holds the password, if any:
        /// do not log it; log the `StoreUrl` instead).
        url: String,
        /// The schema to create (if missing) and use; `None` for the server's search path.
        schema: Option<String>,
    },
}

/// The error field every store-URL error names.
const FIELD: &str = "store_url";

impl StoreUrl {
    /// Parse a store URL (see the [type docs](StoreUrl)).
    ///
    /// # Errors
    /// A validation error on `store_url` saying what was expected; the message never quotes
    /// the URL (it may hold a password).
    pub fn parse(s: &str) -> Result<StoreUrl> {
        let s = s.trim();
        if s == "memory" || s == "memory:" {
            return Ok(StoreUrl::Memory);
        }
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(Error::validation(
                    FIELD,
                    "sqlite: needs a file path, e.g. sqlite:data/mf.sqlite",
                ));
            }
            return Ok(StoreUrl::Sqlite {
                path: PathBuf::from(path),
            });
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return parse_postgres(s);
        }
        let scheme = s
            .split_once(':')
            .map(|(scheme, _)| scheme)
            .filter(|scheme| {
                scheme.len() <= 16 && scheme.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        Err(Error::validation(
            FIELD,
            match (s.is_empty(), scheme) {
                (true, _) => "is empty; expected memory, sqlite:<path> or postgres://…".to_string(),
                (false, Some(scheme)) => format!(
                    "unknown store {}; expected memory, sqlite:<path> or postgres://…",
                    quote_input(scheme)
                ),
                (false, None) => "expected memory, sqlite:<path> or postgres://…".to_string(),
            },
        ))
    }

    /// The backend the URL selects (`memory`, `sqlite`, `postgres`).
    pub fn backend(&self) -> &'static str {
        match self {
            StoreUrl::Memory => "memory",
            StoreUrl::Sqlite { .. } => "sqlite",
            StoreUrl::Postgres { .. } => "postgres",
        }
    }

    /// Whether state outlives the process.
    pub fn is_durable(&self) -> bool {
        !matches!(self, StoreUrl::Memory)
    }

    /// Open the store: create the SQLite file or connect to PostgreSQL (creating the schema),
    /// running migrations.
    ///
    /// # Errors
    /// A validation error on `store_url` when the backend's feature is not compiled in, or the
    /// backend's error (file not writable, database unreachable, …).
    pub async fn open(&self) -> Result<Arc<dyn Store>> {
        match self {
            StoreUrl::Memory => Ok(Arc::new(MemoryStore::new())),
            StoreUrl::Sqlite { path } => open_sqlite(path).await,
            StoreUrl::Postgres { url, schema } => open_postgres(url, schema.as_deref()).await,
        }
    }
}

/// Open the store `url` names ([`StoreUrl`]): `memory`, `sqlite:<path>` or `postgres://…`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = marketingforce_core::storage::open("memory").await.unwrap();
/// assert_eq!(store.backend(), "memory");
/// # });
/// ```
///
/// # Errors
/// As [`StoreUrl::parse`] and [`StoreUrl::open`].
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    StoreUrl::parse(url)?.open().await
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &std::path::Path) -> Result<Arc<dyn Store>> {
    Ok(Arc::new(super::SqliteStore::open(path).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_: &std::path::Path) -> Result<Arc<dyn Store>> {
    Err(not_compiled("sqlite"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Arc<dyn Store>> {
    let mut options = super::postgres::PostgresOptions::new(url);
    if let Some(schema) = schema {
        options = options.schema(schema);
    }
    Ok(Arc::new(super::PostgresStore::connect_with(options).await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &str, _: Option<&str>) -> Result<Arc<dyn Store>> {
    Err(not_compiled("postgres"))
}

#[allow(dead_code)] // unused when every backend is compiled in
fn not_compiled(backend: &str) -> Error {
    Error::validation(
        FIELD,
        format!(
            "the {backend} backend is not compiled in: enable the `{backend}` feature of \
             marketingforce-core (or of marketingforce)"
        ),
    )
}

/// A PostgreSQL schema name: 1–63 letters, digits or `_`, not starting with a digit.
pub(crate) fn check_schema_name(name: &str, field: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            format!(
                "{} must be 1-63 letters, digits or '_', not starting with a digit",
                quote_input(name)
            ),
        ))
    }
}

fn parse_postgres(s: &str) -> Result<StoreUrl> {
    if s.contains('#') {
        return Err(Error::validation(
            FIELD,
            "a PostgreSQL URL has no fragment: write a '#' in a password as %23",
        ));
    }
    let parts = UrlParts::split(s);
    let mut schema = None;
    let mut kept = Vec::new();
    for param in parts.params() {
        match param.split_once('=') {
            Some(("schema", value)) => {
                if schema.is_some() {
                    return Err(Error::validation(
                        format!("{FIELD}.schema"),
                        "is given twice",
                    ));
                }
                check_schema_name(value, &format!("{FIELD}.schema"))?;
                schema = Some(value.to_string());
            }
            Some((key, _)) if driver_reads(key) => kept.push(param),
            _ => {
                // A parameter without '=' may be a stray secret: only a key is ever quoted.
                let key = param.split_once('=').map_or("", |(key, _)| key);
                let shown = if !key.is_empty()
                    && key.len() <= 40
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    format!("parameter {key:?}")
                } else {
                    "a parameter".to_string()
                };
                return Err(Error::validation(
                    format!("{FIELD}.query"),
                    format!(
                        "{shown} is not one the PostgreSQL driver reads (it would ignore it and \
                         log its value); known: {}",
                        DRIVER_PARAMS.join(", ")
                    ),
                ));
            }
        }
    }
    let mut url = format!("{}://{}{}", parts.scheme, parts.authority, parts.path);
    if !kept.is_empty() {
        url.push('?');
        url.push_str(&kept.join("&"));
    }
    Ok(StoreUrl::Postgres { url, schema })
}

/// The query parameters the PostgreSQL driver (sqlx) reads; it logs the value of any other.
const DRIVER_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// Whether the driver reads the parameter `key` (as written in the URL: a percent-encoded key
/// is not recognised here and so refused).
fn driver_reads(key: &str) -> bool {
    DRIVER_PARAMS.contains(&key) || (key.starts_with("options[") && key.ends_with(']'))
}

/// A URL cut the way URL parsers (and so the PostgreSQL driver) cut it: the authority ends at
/// the first `/`, `?` or `#`; within it, the user information ends at the *last* `@` (so a
/// password may hold `@` and `:`).
struct UrlParts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: &'a str,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> UrlParts<'a> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = tail.split_once('#').map_or(tail, |(before, _)| before);
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        UrlParts {
            scheme,
            authority,
            path,
            query,
        }
    }

    fn params(&self) -> impl Iterator<Item = &'a str> {
        self.query.split('&').filter(|p| !p.is_empty())
    }
}

/// Query parameters whose values are shown in the safe-to-log form.
const SHOWN_PARAMS: &[&str] = &[
    "schema",
    "sslmode",
    "application_name",
    "connect_timeout",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "options",
    "target_session_attrs",
    "statement_cache_capacity",
    "sslrootcert",
    "sslcert",
];

/// The URL with the password and the values of unknown query parameters replaced by `***`. A
/// URL that does not cut cleanly — a raw `/`, `?` or `#` in a password leaves a host with a
/// non-numeric port, an `@` or `:` in the path, a query parameter that is not `key=value`, or a
/// fragment — is shown as `scheme://***`.
fn redacted(url: &str) -> String {
    let parts = UrlParts::split(url);
    let opaque = || format!("{}://***", parts.scheme);
    let clean_param = |p: &str| {
        p.split_once('=').is_some_and(|(key, _)| {
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    };
    if url.contains('#') || !parts.params().all(clean_param) {
        return opaque();
    }
    let (user, hosts) = match parts.authority.rfind('@') {
        Some(at) => {
            let userinfo = &parts.authority[..at];
            let user = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***@"),
                None => format!("{userinfo}@"),
            };
            (user, &parts.authority[at + 1..])
        }
        None => (String::new(), parts.authority),
    };
    if !hosts.split(',').all(plausible_host) || parts.path.contains(['@', ':']) {
        return opaque();
    }
    let mut out = format!("{}://{user}{hosts}{}", parts.scheme, parts.path);
    let mut sep = '?';
    for param in parts.params() {
        out.push(sep);
        sep = '&';
        match param.split_once('=') {
            Some((key, value)) if SHOWN_PARAMS.contains(&key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(value);
            }
            Some((key, _)) => {
                out.push_str(key);
                out.push_str("=***");
            }
            None => out.push_str("***"),
        }
    }
    out
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or empty (a Unix socket given as a parameter).
fn plausible_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !host.ends_with(']') => (name, Some(port)),
        _ => (host, None),
    };
    let name_ok = if let Some(v6) = name.strip_prefix('[') {
        v6.strip_suffix(']').is_some_and(|a| {
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        })
    } else {
        name.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._%".contains(&b))
    };
    name_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

impl FromStr for StoreUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<StoreUrl> {
        StoreUrl::parse(s)
    }
}

impl fmt::Display for StoreUrl {
    /// The URL with secrets replaced by `***`, safe to log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Memory => f.write_str("memory"),
            StoreUrl::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            StoreUrl::Postgres { url, schema } => {
                let shown = redacted(url);
                f.write_str(&shown)?;
                match schema {
                    Some(s) if shown.contains('?') => write!(f, "&schema={s}"),
                    Some(s) => write!(f, "?schema={s}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str) -> String {
        s.parse::<StoreUrl>().unwrap().to_string()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(StoreUrl::parse("memory").unwrap(), StoreUrl::Memory);
        assert_eq!(StoreUrl::parse(" memory: ").unwrap(), StoreUrl::Memory);
        for (s, path) in [
            ("sqlite:mf.db", "mf.db"),
            ("sqlite://data/mf.db", "data/mf.db"),
            ("sqlite:///var/lib/mf.db", "/var/lib/mf.db"),
        ] {
            assert_eq!(
                StoreUrl::parse(s).unwrap(),
                StoreUrl::Sqlite { path: path.into() }
            );
        }
        match StoreUrl::parse("postgresql://u@h/db?sslmode=disable&schema=mf_1").unwrap() {
            StoreUrl::Postgres { url, schema } => {
                assert_eq!(url, "postgresql://u@h/db?sslmode=disable");
                assert_eq!(schema.as_deref(), Some("mf_1"));
            }
            other => panic!("{other:?}"),
        }
        match StoreUrl::parse("postgres://h/db?schema=s").unwrap() {
            StoreUrl::Postgres { url, schema } => {
                assert_eq!(
                    (url.as_str(), schema.as_deref()),
                    ("postgres://h/db", Some("s"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(StoreUrl::parse("sqlite:")
            .unwrap_err()
            .to_string()
            .contains("file path"));
        assert!(StoreUrl::parse("")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        for bad in [
            "postgres://h/db?schema=1bad",
            "postgres://h/db?schema=a;drop",
            "postgres://h/db?schema=a&schema=b",
        ] {
            let e = StoreUrl::parse(bad).unwrap_err();
            assert!(
                matches!(&e, Error::Validation { field, .. } if field == "store_url.schema"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn errors_never_quote_the_url() {
        let e = StoreUrl::parse("mysql://root:hunter2@db/mf")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"mysql\"") && !e.contains("hunter2"), "{e}");
        let e = StoreUrl::parse("root:hunter2@db").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let e = StoreUrl::parse("postgres://u:12#hunter2@h/db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("%23") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn display_removes_passwords_however_they_are_spelled() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
            ("postgres://u:pass@word@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u:p@ss:w:rd@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u:@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?user=u&password=hunter2",
                "postgres://h/db?user=u&password=***",
            ),
            (
                "postgres://u:pw@h1:5432,h2:5433/db",
                "postgres://u:***@h1:5432,h2:5433/db",
            ),
            (
                "postgres://u:pw@[::1]:5432/db",
                "postgres://u:***@[::1]:5432/db",
            ),
            (
                "postgres://h/db?schema=s&password=x",
                "postgres://h/db?password=***&schema=s",
            ),
            // A raw '/' or '?' in a password does not cut cleanly: show nothing of it.
            ("postgres://u:pa/ss@h/db", "postgres://***"),
            ("postgres://u:12/ss@h/db", "postgres://***"),
        ];
        for (input, expected) in cases {
            assert_eq!(shown(input), expected, "{input}");
            let debug = format!("{:?}", input.parse::<StoreUrl>().unwrap());
            for secret in ["pass", "word", "hunter2", "ss:w:rd", "pw"] {
                if !expected.contains(secret) {
                    assert!(!debug.contains(secret), "{input}: {debug}");
                }
            }
        }
    }

    #[test]
    fn issue_12_passwords_in_the_query_or_with_at_signs_never_show() {
        for (input, expected) in [
            (
                "postgres://h:5432/db?password=hunter2",
                "postgres://h:5432/db?password=***",
            ),
            (
                "postgres://u@h/db?sslmode=require&password=hunter2",
                "postgres://u@h/db?sslmode=require&password=***",
            ),
            ("postgres://u:pass@word@host/db", "postgres://u:***@host/db"),
            ("postgres://u:p@ss@w@rd@host/db", "postgres://u:***@host/db"),
            (
                "postgres://u:pass@word@host/db?password=hunter2&schema=s",
                "postgres://u:***@host/db?password=***&schema=s",
            ),
        ] {
            let url: StoreUrl = input.parse().unwrap();
            for text in [url.to_string(), format!("{url:?}")] {
                assert!(text.contains(expected), "{input}: {text}");
                for secret in ["hunter2", "@word", "pass@", "ss@w", "rd@"] {
                    assert!(!text.contains(secret), "{input}: {text}");
                }
                assert!(!text.contains("***@word"), "{input}: {text}");
            }
        }
    }

    #[test]
    fn parameters_the_driver_would_log_are_refused_without_their_value() {
        for input in [
            "postgres://h/db?sslmode=require&sslpassword=hunter2",
            "postgres://h/db?pasword=hunter2",
            "postgres://h/db?connect_timeout=5",
            "postgres://h/db?pass%77ord=hunter2",
            "postgres://h/db?hunter2",
            // A raw '?' in a password leaves the rest of it as a query parameter.
            "postgres://u:pa?hunter2@h/db",
            "postgres://u:12?hunter2@h/db",
        ] {
            let e = StoreUrl::parse(input).unwrap_err();
            assert!(
                matches!(&e, Error::Validation { field, .. } if field == "store_url.query"),
                "{input}: {e}"
            );
            assert!(!e.to_string().contains("hunter2"), "{input}: {e}");
        }
        for ok in [
            "postgres://h/db?ssl-mode=require&statement-cache-capacity=10",
            "postgres://h/db?options[search_path]=x&application_name=a",
        ] {
            assert!(StoreUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn open_makes_a_memory_store_and_names_missing_backends() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let store = rt.block_on(open("memory")).unwrap();
        assert_eq!(store.backend(), "memory");
        #[cfg(not(feature = "sqlite"))]
        {
            let e = rt.block_on(open("sqlite:x.db")).unwrap_err().to_string();
            assert!(e.contains("`sqlite` feature"), "{e}");
        }
        #[cfg(not(feature = "postgres"))]
        {
            let e = rt
                .block_on(open("postgres://h/db"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("`postgres` feature"), "{e}");
        }
    }
}
