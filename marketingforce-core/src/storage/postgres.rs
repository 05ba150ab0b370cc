//! The shared backend on PostgreSQL (feature `postgres`).
//!
//! Every table's primary key, and every index, starts with the tenant, so the schema distributes
//! by tenant on Postgres-compatible distributed SQL (Citus: distribute every table on `tenant`;
//! CockroachDB/YugabyteDB: the leading key column is the shard key). Queries are parameterised
//! only (sqlx 0.9 accepts nothing but `&'static str` SQL); a batch is one transaction whose
//! writes are sent as a handful of set-based statements over `UNNEST`ed arrays, so a batch of
//! 1,000 writes costs a few round trips, not a thousand.
//!
//! Concurrency (every transaction runs at READ COMMITTED, across any number of connections and
//! processes): an idempotency key is claimed first, so a concurrent replay waits for the first
//! commit and then returns its response; rows a batch updates are locked in key order
//! (`SELECT … FOR UPDATE`) before the version checks; creations use
//! `INSERT … ON CONFLICT DO NOTHING` and report a concurrent creation as a
//! [`Conflict`](crate::Error::Conflict). Every journal a batch appends to or expects a head of
//! has a head row in `mf_journal_heads`: one upsert (`INSERT … ON CONFLICT DO UPDATE …
//! RETURNING`, rows in journal-name order) creates missing rows, locks them all and reserves the
//! sequence numbers of the appends, so journals are gap-free and a head expectation is checked
//! against the head as of the lock — two transactions expecting the same head serialise on the
//! row, and the second sees the first's appends and fails with
//! [`StaleView`](crate::Error::StaleView). Locks are always taken in the same order (idempotency
//! key, existing records by key, journal heads by name, new records by key), so batches do not
//! deadlock one another.
//!
//! Outcomes: any failure before `COMMIT` is sent rolls the transaction back
//! ([`Error::Backend`]: nothing written). A failure of `COMMIT` itself — the connection dropped
//! while it was in flight, the server terminated the session — may leave the batch committed or
//! not, and is reported as [`Error::OutcomeUnknown`].
//!
//! Driver: `sqlx` (async, pooled, pure Rust, compile-time-safe SQL strings). Migrations run on
//! connect under an advisory lock and are recorded in `mf_schema_migrations`.
//!
//! ```no_run
//! use marketingforce_core::storage::{PostgresStore, Store};
//!
//! # async fn demo() -> marketingforce_core::Result<()> {
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
//! assert_eq!(store.backend(), "postgres");
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};

use super::{
    Batch, CommitOutcome, IndexEntry, JournalEntry, Page, PageRequest, Receipt, Record, Store,
    StoreLimits, Write,
};
use crate::error::{Error, Result, VersionState};
use crate::telemetry::store::{observe_read, CommitProbe};
use crate::tenant::TenantId;

/// Connection settings for [`PostgresStore::connect_with`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A `postgres://` URL.
    pub url: String,
    /// Schema to create (if missing) and use; `None` uses the server's default search path.
    /// Letters, digits and `_` only.
    pub schema: Option<String>,
    /// Pool size.
    pub max_connections: u32,
    /// Size limits.
    pub limits: StoreLimits,
    /// How long to wait for a connection (when connecting, and for a free pooled connection)
    /// before failing with a retryable backend error.
    pub connect_timeout: Duration,
}

impl PostgresOptions {
    /// Options for `url` with the defaults (default schema, 8 connections, 5 s connect
    /// timeout).
    pub fn new(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            schema: None,
            max_connections: 8,
            limits: StoreLimits::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Wait at most `timeout` for a connection.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> PostgresOptions {
        self.connect_timeout = timeout;
        self
    }

    /// Use (and create) `schema`.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> PostgresOptions {
        self.schema = Some(schema.into());
        self
    }
}

/// A [`Store`] in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    limits: StoreLimits,
}

const MIGRATIONS: &[&[&str]] = &[
    // 1: records, index entries, journals and their heads, idempotency keys.
    &[
        r#"CREATE TABLE mf_records (
        tenant     TEXT COLLATE "C" NOT NULL,
        collection TEXT COLLATE "C" NOT NULL,
        key        TEXT COLLATE "C" NOT NULL,
        version    BIGINT NOT NULL,
        value      BYTEA NOT NULL,
        indexes    TEXT NOT NULL,
        PRIMARY KEY (tenant, collection, key)
    )"#,
        r#"CREATE TABLE mf_record_index (
        tenant     TEXT COLLATE "C" NOT NULL,
        collection TEXT COLLATE "C" NOT NULL,
        name       TEXT COLLATE "C" NOT NULL,
        value      TEXT COLLATE "C" NOT NULL,
        key        TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant, collection, name, value, key)
    )"#,
        r#"CREATE TABLE mf_journal (
        tenant  TEXT COLLATE "C" NOT NULL,
        journal TEXT COLLATE "C" NOT NULL,
        seq     BIGINT NOT NULL,
        payload BYTEA NOT NULL,
        PRIMARY KEY (tenant, journal, seq)
    )"#,
        r#"CREATE TABLE mf_journal_heads (
        tenant   TEXT COLLATE "C" NOT NULL,
        journal  TEXT COLLATE "C" NOT NULL,
        last_seq BIGINT NOT NULL,
        PRIMARY KEY (tenant, journal)
    )"#,
        r#"CREATE TABLE mf_idempotency (
        tenant      TEXT COLLATE "C" NOT NULL,
        key         TEXT COLLATE "C" NOT NULL,
        fingerprint TEXT NOT NULL,
        response    BYTEA NOT NULL,
        PRIMARY KEY (tenant, key)
    )"#,
    ],
    // 2: large values (a commit's outbox entry, big records) are compressed with lz4 instead of
    // pglz, which costs a commit several times less CPU for about the same size. Servers before
    // 14 have no per-column compression and a server built without lz4 refuses it: both keep
    // pglz, and values read the same either way (each one records how it was compressed).
    &[r#"DO $$
    BEGIN
        EXECUTE 'ALTER TABLE mf_journal ALTER COLUMN payload SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE mf_records ALTER COLUMN value SET COMPRESSION lz4';
    EXCEPTION WHEN feature_not_supported OR syntax_error THEN
        NULL;
    END $$"#],
];

fn db_err(e: sqlx::Error) -> Error {
    let retryable = match &e {
        sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("40001" | "40P01")),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        _ => false,
    };
    Error::backend("postgres", retryable, e)
}

impl PostgresStore {
    /// Connect to `url` (default schema), running migrations.
    ///
    /// # Errors
    /// Connection or migration failures.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        PostgresStore::connect_with(PostgresOptions::new(url)).await
    }

    /// Connect with explicit options, creating the schema if asked and running migrations.
    ///
    /// # Errors
    /// A bad URL or schema name, connection or migration failures.
    pub async fn connect_with(options: PostgresOptions) -> Result<PostgresStore> {
        // The checks of `storage::open`: a query parameter the driver does not read is refused
        // by name, where the driver would ignore it and log its value (`sslpassword=…`).
        super::open::StoreUrl::parse(&options.url)?;
        let mut connect = PgConnectOptions::from_str(&options.url)
            .map_err(|e| Error::validation("url", e.to_string()))?
            .application_name("marketingforce");
        if let Some(schema) = &options.schema {
            super::open::check_schema_name(schema, "schema")?;
            // Create the schema on a plain connection first (identifier validated above).
            let bootstrap = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(options.connect_timeout)
                .connect_with(connect.clone())
                .await
                .map_err(db_err)?;
            let ddl = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            if let Err(e) = sqlx::query(AssertSqlSafe(ddl)).execute(&bootstrap).await {
                // Two processes creating the same schema at once: the loser sees a duplicate.
                let duplicate = matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") || d.code().as_deref() == Some("42P06"));
                if !duplicate {
                    return Err(db_err(e));
                }
            }
            bootstrap.close().await;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(db_err)?;
        let store = PostgresStore {
            pool,
            limits: options.limits,
        };
        store
            .migrate(options.schema.as_deref().unwrap_or("public"))
            .await?;
        Ok(store)
    }

    /// Check that the database answers (one `SELECT 1` round trip), e.g. for a readiness probe.
    ///
    /// # Errors
    /// [`Error::Backend`] when the database cannot be reached or the pool is closed.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Close the connection pool for shutdown, waiting for connections in use to be returned.
    /// Calls made afterwards fail with a backend error.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self, schema: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("marketingforce-migrations:{schema}"))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS mf_schema_migrations (
                version    BIGINT PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM mf_schema_migrations")
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(Error::backend_message(
                "postgres",
                false,
                format!("database schema version {current} is newer than this library ({known})"),
            ));
        }
        for (i, statements) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            for sql in *statements {
                sqlx::query(*sql).execute(&mut *tx).await.map_err(db_err)?;
            }
            sqlx::query("INSERT INTO mf_schema_migrations (version) VALUES ($1)")
                .bind(i as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }
}

/// Whether PostgreSQL text can hold `text`: it holds no NUL. Writes refuse one
/// ([`check_key`](super::check_key), [`check_name`](super::check_name)), so a read that names
/// one finds nothing, and answers so without asking the server (which would refuse the query).
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// A page cursor as PostgreSQL can compare it: cut at its first NUL. No stored key holds a NUL,
/// so the keys byte-wise after the cut are exactly the keys after the whole cursor.
fn comparable_cursor(after: Option<&str>) -> Option<&str> {
    after.map(|key| key.split('\0').next().unwrap_or(key))
}

fn row_record(row: &PgRow) -> Result<Record> {
    Ok(Record {
        key: row.try_get(0).map_err(db_err)?,
        version: row.try_get::<i64, _>(1).map_err(db_err)? as u64,
        value: row.try_get(2).map_err(db_err)?,
    })
}

fn injected_failure() -> Error {
    Error::backend_message("postgres", true, "injected failure: batch rolled back")
}

/// Column arrays for one set-based statement.
#[derive(Default)]
struct Columns {
    collection: Vec<String>,
    key: Vec<String>,
    version: Vec<i64>,
    value: Vec<Vec<u8>>,
    indexes: Vec<String>,
}

impl Columns {
    fn push(&mut self, collection: &str, key: &str, version: i64, value: &[u8], indexes: String) {
        self.collection.push(collection.to_string());
        self.key.push(key.to_string());
        self.version.push(version);
        self.value.push(value.to_vec());
        self.indexes.push(indexes);
    }
}

/// Index entries to delete or insert, as column arrays.
#[derive(Default)]
struct IndexColumns {
    collection: Vec<String>,
    name: Vec<String>,
    value: Vec<String>,
    key: Vec<String>,
}

impl IndexColumns {
    fn push(&mut self, collection: &str, ix: &IndexEntry, key: &str) {
        self.collection.push(collection.to_string());
        self.name.push(ix.name.clone());
        self.value.push(ix.value.clone());
        self.key.push(key.to_string());
    }
}

async fn apply(
    tx: &mut Transaction<'static, Postgres>,
    tenant: &str,
    batch: &Batch,
) -> Result<CommitOutcome> {
    if let Some(claim) = batch.idempotency() {
        let claimed = sqlx::query(
            "INSERT INTO mf_idempotency (tenant, key, fingerprint, response) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, key) DO NOTHING",
        )
        .bind(tenant)
        .bind(&claim.key)
        .bind(&claim.fingerprint)
        .bind(&claim.response)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if claimed == 0 {
            let row = sqlx::query(
                "SELECT fingerprint, response FROM mf_idempotency WHERE tenant = $1 AND key = $2",
            )
            .bind(tenant)
            .bind(&claim.key)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_err)?;
            let fp: String = row.try_get(0).map_err(db_err)?;
            return if fp == claim.fingerprint {
                Ok(CommitOutcome::Replayed(row.try_get(1).map_err(db_err)?))
            } else {
                Err(Error::IdempotencyMismatch {
                    key: claim.key.clone(),
                })
            };
        }
    }

    // Lock the existing rows in key order, then the journal heads in name order; check every
    // head expectation, then every version expectation.
    let writes = batch.writes();
    let mut current: HashMap<(String, String), (i64, String)> = HashMap::new();
    if !writes.is_empty() {
        let collections: Vec<&str> = writes.iter().map(Write::collection).collect();
        let keys: Vec<&str> = writes.iter().map(Write::key).collect();
        let rows = sqlx::query(
            "SELECT r.collection, r.key, r.version, r.indexes FROM mf_records r
             JOIN UNNEST($2::text[], $3::text[]) AS w(collection, key)
               ON r.collection = w.collection AND r.key = w.key
             WHERE r.tenant = $1
             ORDER BY r.collection, r.key
             FOR UPDATE OF r",
        )
        .bind(tenant)
        .bind(&collections)
        .bind(&keys)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
        for row in rows {
            current.insert(
                (
                    row.try_get(0).map_err(db_err)?,
                    row.try_get(1).map_err(db_err)?,
                ),
                (
                    row.try_get(2).map_err(db_err)?,
                    row.try_get(3).map_err(db_err)?,
                ),
            );
        }
    }
    let next_seq = lock_journal_heads(tx, tenant, batch).await?;
    let prior = |w: &Write| current.get(&(w.collection().to_string(), w.key().to_string()));
    for w in writes {
        let version = prior(w).map(|(v, _)| *v as u64);
        if !w.expect().admits(version) {
            return Err(Error::Conflict {
                collection: w.collection().to_string(),
                key: w.key().to_string(),
                expected: w.expect().state(),
                actual: version.map_or(VersionState::Absent, VersionState::Version),
            });
        }
    }

    // Apply the writes (only the first `n` when a failure is injected after `n`).
    let applied = batch
        .injected_failure()
        .map_or(writes.len(), |n| n.min(writes.len()));
    let mut versions = Vec::with_capacity(writes.len());
    let (mut updates, mut inserts) = (Columns::default(), Columns::default());
    let (mut deletes_c, mut deletes_k) = (Vec::new(), Vec::new());
    let (mut old_ix, mut new_ix) = (IndexColumns::default(), IndexColumns::default());
    for w in &writes[..applied] {
        let existing = prior(w);
        if let Some((_, encoded)) = existing {
            let old: Vec<IndexEntry> = serde_json::from_str(encoded)?;
            for ix in &old {
                old_ix.push(w.collection(), ix, w.key());
            }
        }
        match w {
            Write::Put {
                collection,
                key,
                value,
                indexes,
                ..
            } => {
                let encoded = serde_json::to_string(indexes)?;
                for ix in indexes {
                    new_ix.push(collection, ix, key);
                }
                match existing {
                    Some((v, _)) => {
                        updates.push(collection, key, v + 1, value, encoded);
                        versions.push(*v as u64 + 1);
                    }
                    None => {
                        inserts.push(collection, key, 1, value, encoded);
                        versions.push(1);
                    }
                }
            }
            Write::Delete {
                collection, key, ..
            } => {
                deletes_c.push(collection.clone());
                deletes_k.push(key.clone());
                versions.push(0);
            }
        }
    }
    if !old_ix.key.is_empty() {
        sqlx::query(
            "DELETE FROM mf_record_index i
             USING UNNEST($2::text[], $3::text[], $4::text[], $5::text[]) AS d(collection, name, value, key)
             WHERE i.tenant = $1 AND i.collection = d.collection AND i.name = d.name
               AND i.value = d.value AND i.key = d.key",
        )
        .bind(tenant)
        .bind(&old_ix.collection)
        .bind(&old_ix.name)
        .bind(&old_ix.value)
        .bind(&old_ix.key)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    if !updates.key.is_empty() {
        sqlx::query(
            "UPDATE mf_records r SET version = u.version, value = u.value, indexes = u.indexes
             FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::bytea[], $6::text[])
               AS u(collection, key, version, value, indexes)
             WHERE r.tenant = $1 AND r.collection = u.collection AND r.key = u.key",
        )
        .bind(tenant)
        .bind(&updates.collection)
        .bind(&updates.key)
        .bind(&updates.version)
        .bind(&updates.value)
        .bind(&updates.indexes)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    if !inserts.key.is_empty() {
        let created: Vec<(String, String)> = sqlx::query_as(
            "INSERT INTO mf_records (tenant, collection, key, version, value, indexes)
             SELECT $1, u.collection, u.key, u.version, u.value, u.indexes
             FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::bytea[], $6::text[])
               AS u(collection, key, version, value, indexes)
             ORDER BY u.collection, u.key
             ON CONFLICT (tenant, collection, key) DO NOTHING
             RETURNING collection, key",
        )
        .bind(tenant)
        .bind(&inserts.collection)
        .bind(&inserts.key)
        .bind(&inserts.version)
        .bind(&inserts.value)
        .bind(&inserts.indexes)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?;
        if created.len() != inserts.key.len() {
            // Another transaction created one of these records after our version check.
            let created: std::collections::HashSet<_> = created.into_iter().collect();
            let (collection, key) = inserts
                .collection
                .iter()
                .zip(&inserts.key)
                .find(|(c, k)| !created.contains(&((*c).clone(), (*k).clone())))
                .map(|(c, k)| (c.clone(), k.clone()))
                .unwrap_or_default();
            let expected = writes
                .iter()
                .find(|w| w.collection() == collection && w.key() == key)
                .map_or(VersionState::Absent, |w| w.expect().state());
            return Err(Error::Conflict {
                collection,
                key,
                expected,
                actual: VersionState::Version(1),
            });
        }
    }
    if !deletes_k.is_empty() {
        sqlx::query(
            "DELETE FROM mf_records r USING UNNEST($2::text[], $3::text[]) AS d(collection, key)
             WHERE r.tenant = $1 AND r.collection = d.collection AND r.key = d.key",
        )
        .bind(tenant)
        .bind(&deletes_c)
        .bind(&deletes_k)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    if !new_ix.key.is_empty() {
        // DO NOTHING: a record may list the same entry twice; it is indexed once (as in
        // memory). The written records' old entries were deleted above, so nothing else
        // can conflict.
        sqlx::query(
            "INSERT INTO mf_record_index (tenant, collection, name, value, key)
             SELECT $1, d.collection, d.name, d.value, d.key
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[]) AS d(collection, name, value, key)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(&new_ix.collection)
        .bind(&new_ix.name)
        .bind(&new_ix.value)
        .bind(&new_ix.key)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    if batch.injected_failure().is_some() {
        return Err(injected_failure());
    }

    // Journals: the entries went into the ranges reserved when the heads were locked.
    let mut next_seq = next_seq;
    let mut sequences = Vec::with_capacity(batch.appends().len());
    for a in batch.appends() {
        let slot = next_seq.entry(a.journal.as_str()).or_insert(1);
        sequences.push(*slot as u64);
        *slot += 1;
    }
    Ok(CommitOutcome::Committed(Receipt {
        versions,
        sequences,
    }))
}

/// Lock the head row of every journal the batch appends to or expects a head of (creating
/// missing rows at 0), in journal-name order, reserving a contiguous range of sequence numbers
/// per appended journal, and insert the batch's journal entries into those ranges — one
/// statement, so an append costs no round trip of its own; check the head expectations
/// against the locked heads (a failed check returns an error and the transaction, entries
/// included, is rolled back). Returns the first sequence number of each journal's range.
async fn lock_journal_heads<'b>(
    tx: &mut Transaction<'static, Postgres>,
    tenant: &str,
    batch: &'b Batch,
) -> Result<HashMap<&'b str, i64>> {
    let mut count: BTreeMap<&str, i64> = BTreeMap::new();
    for h in batch.heads() {
        count.entry(h.journal.as_str()).or_insert(0);
    }
    for a in batch.appends() {
        *count.entry(a.journal.as_str()).or_default() += 1;
    }
    if count.is_empty() {
        return Ok(HashMap::new());
    }
    let journals: Vec<&str> = count.keys().copied().collect();
    let counts: Vec<i64> = count.values().copied().collect();
    // Each entry's distance back from its journal's new head: the last entry of a journal
    // is 0, so its sequence number is the head returned by the upsert.
    let mut left: BTreeMap<&str, i64> = count.clone();
    let (mut e_journals, mut e_back, mut e_payloads) = (Vec::new(), Vec::new(), Vec::new());
    for a in batch.appends() {
        let n = left.entry(a.journal.as_str()).or_default();
        *n -= 1;
        e_journals.push(a.journal.as_str());
        e_back.push(*n);
        e_payloads.push(a.payload.as_slice());
    }
    // ON CONFLICT DO UPDATE locks the row and, at READ COMMITTED, sees its latest committed
    // version: a concurrent committer's appends are counted before our check. The entries
    // are inserted by the data-modifying CTE, which runs to completion with the statement.
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "WITH h AS (
           INSERT INTO mf_journal_heads (tenant, journal, last_seq)
           SELECT $1, h.journal, h.count
           FROM UNNEST($2::text[], $3::int8[]) WITH ORDINALITY AS h(journal, count, ord)
           ORDER BY h.ord
           ON CONFLICT (tenant, journal)
             DO UPDATE SET last_seq = mf_journal_heads.last_seq + EXCLUDED.last_seq
           RETURNING journal, last_seq
         ), e AS (
           INSERT INTO mf_journal (tenant, journal, seq, payload)
           SELECT $1, e.journal, h.last_seq - e.back, e.payload
           FROM UNNEST($4::text[], $5::int8[], $6::bytea[]) AS e(journal, back, payload)
           JOIN h ON h.journal = e.journal
         )
         SELECT journal, last_seq FROM h",
    )
    .bind(tenant)
    .bind(&journals)
    .bind(&counts)
    .bind(&e_journals)
    .bind(&e_back)
    .bind(&e_payloads)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    let last: HashMap<String, i64> = rows.into_iter().collect();
    let head_of = |journal: &str| -> Result<i64> {
        let reserved = count.get(journal).copied().unwrap_or(0);
        last.get(journal).map(|l| l - reserved).ok_or_else(|| {
            Error::backend_message(
                "postgres",
                false,
                format!("the head row of journal {journal} was not returned"),
            )
        })
    };
    for h in batch.heads() {
        let actual = head_of(&h.journal)?;
        if actual as u64 != h.head {
            return Err(Error::StaleView {
                journal: h.journal.clone(),
                expected: h.head,
                actual: actual as u64,
            });
        }
    }
    let mut next = HashMap::with_capacity(count.len());
    for journal in count.keys() {
        next.insert(*journal, head_of(journal)? + 1);
    }
    Ok(next)
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn limits(&self) -> StoreLimits {
        self.limits
    }

    async fn get(&self, tenant: &TenantId, collection: &str, key: &str) -> Result<Option<Record>> {
        observe_read(
            "store.get",
            "postgres",
            self.get_impl(tenant, collection, key),
        )
        .await
    }

    async fn get_many(
        &self,
        tenant: &TenantId,
        collection: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Record>>> {
        observe_read(
            "store.get_many",
            "postgres",
            self.get_many_impl(tenant, collection, keys),
        )
        .await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        observe_read(
            "store.list",
            "postgres",
            self.list_impl(tenant, collection, page),
        )
        .await
    }

    async fn lookup(
        &self,
        tenant: &TenantId,
        collection: &str,
        index: &str,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        observe_read(
            "store.lookup",
            "postgres",
            self.lookup_impl(tenant, collection, index, value, page),
        )
        .await
    }

    async fn read_journal(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        observe_read(
            "store.read_journal",
            "postgres",
            self.read_journal_impl(tenant, journal, after, limit),
        )
        .await
    }

    async fn journal_head(&self, tenant: &TenantId, journal: &str) -> Result<u64> {
        observe_read(
            "store.journal_head",
            "postgres",
            self.journal_head_impl(tenant, journal),
        )
        .await
    }

    async fn idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<(String, Vec<u8>)>> {
        observe_read(
            "store.idempotency",
            "postgres",
            self.idempotency_impl(tenant, key),
        )
        .await
    }

    async fn commit(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        let probe = CommitProbe::new("postgres", tenant, &batch);
        probe.observe(self.commit_impl(tenant, batch)).await
    }
}

/// The backend's own reads and commit; the [`Store`] impl above wraps them in telemetry.
impl PostgresStore {
    /// One statement for every key (`key = ANY($3)`), answers put back in the keys' order.
    async fn get_many_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Record>>> {
        let wanted: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| storable(k))
            .collect();
        if wanted.is_empty() || !storable(collection) {
            return Ok(vec![None; keys.len()]);
        }
        let rows = sqlx::query(
            "SELECT key, version, value FROM mf_records WHERE tenant = $1 AND collection = $2 AND key = ANY($3)",
        )
        .bind(tenant.to_string())
        .bind(collection)
        .bind(&wanted)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let r = row_record(row)?;
            found.insert(r.key.clone(), r);
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn get_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        key: &str,
    ) -> Result<Option<Record>> {
        if !(storable(collection) && storable(key)) {
            return Ok(None);
        }
        sqlx::query(
            "SELECT key, version, value FROM mf_records WHERE tenant = $1 AND collection = $2 AND key = $3",
        )
        .bind(tenant.to_string())
        .bind(collection)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(row_record)
        .transpose()
    }

    async fn list_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        page.validate()?;
        if !storable(collection) {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let rows = sqlx::query(
            "SELECT key, version, value FROM mf_records
             WHERE tenant = $1 AND collection = $2 AND ($3::text IS NULL OR key > $3)
             ORDER BY key LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(collection)
        .bind(comparable_cursor(page.after_key()))
        .bind((page.limit + 1) as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let items = rows.iter().map(row_record).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.limit, |r| &r.key))
    }

    async fn lookup_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        index: &str,
        value: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        page.validate()?;
        if !(storable(collection) && storable(index) && storable(value)) {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let rows = sqlx::query(
            "SELECT r.key, r.version, r.value FROM mf_record_index i
             JOIN mf_records r ON r.tenant = i.tenant AND r.collection = i.collection AND r.key = i.key
             WHERE i.tenant = $1 AND i.collection = $2 AND i.name = $3 AND i.value = $4
               AND ($5::text IS NULL OR i.key > $5)
             ORDER BY i.key LIMIT $6",
        )
        .bind(tenant.to_string())
        .bind(collection)
        .bind(index)
        .bind(value)
        .bind(comparable_cursor(page.after_key()))
        .bind((page.limit + 1) as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let items = rows.iter().map(row_record).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.limit, |r| &r.key))
    }

    async fn read_journal_impl(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        // No sequence is past the integer range: after it there is nothing.
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        if !storable(journal) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT seq, payload FROM mf_journal
             WHERE tenant = $1 AND journal = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(journal)
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(JournalEntry {
                    seq: r.try_get::<i64, _>(0).map_err(db_err)? as u64,
                    payload: r.try_get(1).map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn journal_head_impl(&self, tenant: &TenantId, journal: &str) -> Result<u64> {
        if !storable(journal) {
            return Ok(0);
        }
        let head: Option<i64> = sqlx::query_scalar(
            "SELECT last_seq FROM mf_journal_heads WHERE tenant = $1 AND journal = $2",
        )
        .bind(tenant.to_string())
        .bind(journal)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(head.map_or(0, |h| h as u64))
    }

    async fn idempotency_impl(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<(String, Vec<u8>)>> {
        if !storable(key) {
            return Ok(None);
        }
        sqlx::query_as(
            "SELECT fingerprint, response FROM mf_idempotency WHERE tenant = $1 AND key = $2",
        )
        .bind(tenant.to_string())
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn commit_impl(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        batch.validate(&self.limits)?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let outcome = apply(&mut tx, &tenant.to_string(), &batch).await;
        match outcome {
            Ok(CommitOutcome::Committed(receipt)) => match tx.commit().await {
                Ok(()) => Ok(CommitOutcome::Committed(receipt)),
                // COMMIT was sent: it may have been applied before the failure reached us.
                Err(e) => Err(Error::outcome_unknown_from("postgres commit", e)),
            },
            other => {
                // Replays and failures write nothing. If the rollback itself fails the
                // connection is gone and the server rolls back; the answer stands.
                let _ = tx.rollback().await;
                other
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL with a query parameter the driver does not read is refused by name before any
    /// connection, without quoting its value (the driver would log it, and connect).
    #[tokio::test]
    async fn a_parameter_the_driver_would_log_is_refused_without_its_value() {
        let e = PostgresStore::connect("postgres://u:pw@127.0.0.1:1/db?sslpassword=topsecret")
            .await
            .expect_err("refused");
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidInput, "{e}");
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }

    /// A `COMMIT` the server fails (here: a deferred constraint trigger that refuses one
    /// payload at commit time) is reported as an unknown outcome, never as "nothing written".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_is_an_unknown_outcome() {
        let Ok(url) = std::env::var("MARKETINGFORCE_TEST_POSTGRES_URL") else {
            eprintln!("skipped: MARKETINGFORCE_TEST_POSTGRES_URL is not set");
            return;
        };
        let id = TenantId::new().to_string();
        let schema = format!("mf_commit_fail_{}", &id[id.len() - 12..]);
        let store = PostgresStore::connect_with(PostgresOptions::new(url).schema(schema.clone()))
            .await
            .expect("connect");
        for ddl in [
            "CREATE FUNCTION mf_refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF NEW.payload = convert_to('refuse at commit', 'UTF8') THEN
                 RAISE EXCEPTION 'refused at commit';
               END IF;
               RETURN NULL;
             END $$",
            "CREATE CONSTRAINT TRIGGER mf_refuse_at_commit AFTER INSERT ON mf_journal
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mf_refuse_at_commit()",
        ] {
            sqlx::query(ddl).execute(&store.pool).await.expect("ddl");
        }
        let t = TenantId::new();
        let mut batch = Batch::new();
        batch.append("events", b"refuse at commit".to_vec());
        let e = store.commit(&t, batch).await.unwrap_err();
        assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e:?}");
        assert!(e.is_retryable());
        // An ordinary batch still commits.
        let mut batch = Batch::new();
        batch.append("events", b"fine".to_vec());
        store.commit(&t, batch).await.expect("commit");
        let drop = format!("DROP SCHEMA \"{schema}\" CASCADE");
        sqlx::query(AssertSqlSafe(drop))
            .execute(&store.pool)
            .await
            .expect("drop schema");
    }
}
