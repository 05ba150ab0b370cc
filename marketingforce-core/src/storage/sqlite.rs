//! The embedded durable backend on SQLite (feature `sqlite`).
//!
//! One database file holds every tenant. The file runs in WAL mode with `synchronous=FULL` by
//! default, so a committed batch survives a crash or power loss; each batch is one
//! `BEGIN IMMEDIATE … COMMIT` transaction. Schema migrations run on open, tracked in
//! `PRAGMA user_version`.
//!
//! Several processes (or several `SqliteStore`s) may open one file: `BEGIN IMMEDIATE` takes
//! the database's write lock before a batch reads anything, so the idempotency claim, the
//! journal-head and version checks and the writes of one batch see the latest committed state
//! and no other writer can slip in between (a busy writer waits up to 10 s, then fails with a
//! retryable error, nothing written).
//!
//! Outcomes: a failure before `COMMIT`, or `COMMIT` refused because the database is busy,
//! rolls the batch back ([`Error::Backend`]: nothing written). Any other failure of `COMMIT`
//! itself (a disk I/O error, a full disk while the WAL is written) may leave the batch
//! committed or not, and is reported as [`Error::OutcomeUnknown`].
//!
//! The writer caches up to 64 MiB of pages, not SQLite's 2 MiB: capture batches of thousands of
//! leads dirty thousands of pages per commit, and with the default each commit spilled pages
//! mid-transaction. The write-ahead log is copied into the database file (checkpointed) when it
//! holds 16,384 pages (64 MiB at SQLite's 4 KiB pages), not SQLite's 1,000, and off the commit
//! path: a thread of the store's own runs the checkpoint while the next batches commit, and a
//! commit copies at most a short tail (1,024 pages) the thread left, so that the log can start
//! again from the beginning (see `sqlite_checkpoint`). Should the log still reach 65,536 pages (a
//! writer that never pauses gives the log no moment to start again from the beginning), the
//! commit that brings it there waits for the thread's checkpoint, as it would have waited for
//! its own. The log file can therefore reach 64 MiB, and with one writing process at most about
//! 256 MiB, before it is reused.
//!
//! Journal entries of 1 KiB or more that compress by at least an eighth are stored
//! zstd-compressed (the row says which); [`Store::read_journal`] returns the bytes appended. An
//! outbox entry — a whole commit's events — shrinks about fivefold, and fewer bytes go through
//! the write-ahead log and its `fsync`.
//!
//! Driver: `rusqlite` (bundled SQLite). The work is synchronous and runs on tokio's blocking
//! pool, with one writer connection and a small pool of reader connections (WAL lets readers
//! proceed while a batch commits). `rusqlite` was chosen over `sqlx`'s SQLite driver because the
//! batch path executes thousands of cached prepared statements per transaction, where `sqlx`
//! routes every statement through a worker-thread channel; see the storage benchmarks.
//!
//! ```
//! use marketingforce_core::storage::{Batch, Expect, SqliteStore, Store};
//! use marketingforce_core::tenant::TenantId;
//!
//! # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("marketingforce.sqlite");
//! let tenant = TenantId::new();
//! {
//!     let store = SqliteStore::open(&path).await.unwrap();
//!     let mut batch = Batch::new();
//!     batch.put("notes", "n1", b"hello".to_vec(), vec![], Expect::Absent);
//!     store.commit(&tenant, batch).await.unwrap();
//! }
//! // Reopened from the file: the record is still there.
//! let store = SqliteStore::open(&path).await.unwrap();
//! assert_eq!(store.get(&tenant, "notes", "n1").await.unwrap().unwrap().value, b"hello");
//! # });
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::sqlite_checkpoint::{self, Marks};
use super::sqlite_codec;
use super::{
    Batch, CommitOutcome, IndexEntry, JournalEntry, Page, PageRequest, Receipt, Record, Store,
    StoreLimits, Write,
};
use crate::error::{Error, Result, VersionState};
use crate::telemetry::store::{observe_read, CommitProbe};
use crate::tenant::TenantId;

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: a committed batch survives power loss (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a process crash; the last commits may be lost on power
    /// loss. Faster on slow disks.
    Normal,
}

/// A [`Store`] in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: Option<PathBuf>,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    durability: Durability,
    limits: StoreLimits,
}

const MIGRATIONS: &[&str] = &[
    // 1: records, index entries, journals, idempotency keys. The tenant leads every key.
    "CREATE TABLE mf_records (
        tenant     TEXT NOT NULL,
        collection TEXT NOT NULL,
        key        TEXT NOT NULL,
        version    INTEGER NOT NULL,
        value      BLOB NOT NULL,
        indexes    TEXT NOT NULL,
        PRIMARY KEY (tenant, collection, key)
    );
    CREATE TABLE mf_record_index (
        tenant     TEXT NOT NULL,
        collection TEXT NOT NULL,
        name       TEXT NOT NULL,
        value      TEXT NOT NULL,
        key        TEXT NOT NULL,
        PRIMARY KEY (tenant, collection, name, value, key)
    ) WITHOUT ROWID;
    CREATE TABLE mf_journal (
        tenant  TEXT NOT NULL,
        journal TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (tenant, journal, seq)
    );
    CREATE TABLE mf_idempotency (
        tenant      TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        response    BLOB NOT NULL,
        PRIMARY KEY (tenant, key)
    );",
    // 2: how each journal entry is stored (`sqlite_codec`): 0 as given, 1 zstd-compressed.
    "ALTER TABLE mf_journal ADD COLUMN codec INTEGER NOT NULL DEFAULT 0",
];

const MAX_READERS: usize = 4;

/// The writer's page cache, at most (SQLite's default is 2 MiB). A batch of a few thousand
/// captures dirties more pages than that: SQLite then spills them to the log mid-transaction
/// and reads them back. Memory is taken only as pages are cached.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

pub(super) fn db_err(e: rusqlite::Error) -> Error {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    Error::backend("sqlite", retryable, e)
}

fn join_err(e: tokio::task::JoinError) -> Error {
    Error::backend_message("sqlite", false, format!("blocking task failed: {e}"))
}

/// A failed `COMMIT`: busy or locked means SQLite kept the transaction open and dropping it
/// rolls it back (nothing written); anything else (I/O errors, a full disk) may have happened
/// after the commit record reached the log.
fn commit_err(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            Error::backend("sqlite", true, e)
        }
        _ => Error::outcome_unknown_from("sqlite commit", e),
    }
}

impl SqliteStore {
    /// Open (or create) the database at `path` with [`Durability::Full`], running migrations.
    ///
    /// # Errors
    /// The file cannot be opened, is not a SQLite database, or was written by a newer version.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        SqliteStore::open_with(path, Durability::Full, StoreLimits::default()).await
    }

    /// Open with explicit durability and limits.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn open_with(
        path: impl AsRef<Path>,
        durability: Durability,
        limits: StoreLimits,
    ) -> Result<SqliteStore> {
        SqliteStore::open_marked(path, durability, limits, Marks::DEFAULT).await
    }

    /// [`open_with`](Self::open_with), copying the log into the file at `marks`.
    pub(super) async fn open_marked(
        path: impl AsRef<Path>,
        durability: Durability,
        limits: StoreLimits,
        marks: Marks,
    ) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let writer = run_blocking(move || {
            let mut conn = Connection::open(&p).map_err(db_err)?;
            configure(&conn, durability)?;
            migrate(&conn)?;
            sqlite_checkpoint::install(&mut conn, &p, durability, marks)?;
            Ok(conn)
        })
        .await?;
        Ok(SqliteStore::from_parts(
            Some(path),
            writer,
            durability,
            limits,
        ))
    }

    /// A private, non-durable database in memory (one connection), for tests.
    ///
    /// # Errors
    /// SQLite could not allocate the database.
    pub async fn open_in_memory() -> Result<SqliteStore> {
        let writer = run_blocking(|| {
            let conn = Connection::open_in_memory().map_err(db_err)?;
            stable_plans(&conn)?;
            migrate(&conn)?;
            Ok(conn)
        })
        .await?;
        Ok(SqliteStore::from_parts(
            None,
            writer,
            Durability::Normal,
            StoreLimits::default(),
        ))
    }

    fn from_parts(
        path: Option<PathBuf>,
        writer: Connection,
        durability: Durability,
        limits: StoreLimits,
    ) -> SqliteStore {
        SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                durability,
                limits,
            }),
        }
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The durability the store commits with.
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// Run `f` on a reader connection (the writer for in-memory databases).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        run_blocking(move || {
            let Some(path) = &inner.path else {
                let conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
                return f(&conn);
            };
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = open_side_connection(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                    stable_plans(&c)?;
                    c
                }
            };
            let out = f(&conn);
            let mut pool = inner.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.len() < MAX_READERS {
                pool.push(conn);
            }
            out
        })
        .await
    }
}

/// Run blocking work on tokio's blocking pool when inside a runtime, inline otherwise.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await.map_err(join_err)?,
        Err(_) => f(),
    }
}

/// A connection besides the writer (a reader, the checkpoint thread's): used by one thread at a
/// time, waiting up to 10 s for a lock like the writer.
pub(super) fn open_side_connection(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(db_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db_err)?;
    Ok(conn)
}

fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db_err)?;
    // The commit path caches about ten statements plus the multi-row journal INSERTs.
    conn.set_prepared_statement_cache_capacity(32);
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::backend_message(
            "sqlite",
            false,
            format!("could not switch to WAL journal mode (got {mode})"),
        ));
    }
    conn.pragma_update(None, "synchronous", sync)
        .map_err(db_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(db_err)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(db_err)?;
    stable_plans(conn)
}

/// Keep each cached statement's query plan (SQLite's query planner stability guarantee).
/// Without it, the bundled SQLite (built with STAT4) parses and plans the journal-head query
/// again at the first step of every transaction, on every commit that appends to a journal.
/// None of our statements has a plan that could improve with its parameter values (no LIKE
/// or GLOB, no ANALYZE statistics), so nothing is lost.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(db_err)?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(Error::backend_message(
            "sqlite",
            false,
            format!("database schema version {current} is newer than this library ({known})"),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            db_err(e)
        })?;
    }
    Ok(())
}

fn row_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        key: row.get(0)?,
        version: row.get::<_, i64>(1)? as u64,
        value: row.get(2)?,
    })
}

/// Apply a validated batch inside an open transaction. Returning an error rolls it back.
/// Apply `batch` in `tx`; `entries` are its journal appends as stored (codec and bytes, see
/// `sqlite_codec`), in order.
fn apply(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    batch: &Batch,
    entries: &[(i64, Cow<'_, [u8]>)],
) -> Result<CommitOutcome> {
    if let Some(claim) = batch.idempotency() {
        let prior: Option<(String, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT fingerprint, response FROM mf_idempotency WHERE tenant = ?1 AND key = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![tenant, claim.key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(db_err)?;
        if let Some((fp, response)) = prior {
            return if fp == claim.fingerprint {
                Ok(CommitOutcome::Replayed(response))
            } else {
                Err(Error::IdempotencyMismatch {
                    key: claim.key.clone(),
                })
            };
        }
    }

    // Journal heads: the write lock is held (BEGIN IMMEDIATE), so these are the latest.
    let mut heads: HashMap<&str, i64> = HashMap::new();
    {
        let mut head = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(seq), 0) FROM mf_journal WHERE tenant = ?1 AND journal = ?2",
            )
            .map_err(db_err)?;
        for h in batch.heads() {
            let actual: i64 = head
                .query_row(params![tenant, h.journal], |r| r.get(0))
                .map_err(db_err)?;
            if actual as u64 != h.head {
                return Err(Error::StaleView {
                    journal: h.journal.clone(),
                    expected: h.head,
                    actual: actual as u64,
                });
            }
            heads.insert(&h.journal, actual);
        }
    }

    // Read current versions and index entries; check every expectation first.
    let mut current = Vec::with_capacity(batch.writes().len());
    {
        let mut select = tx
            .prepare_cached(
                "SELECT version, indexes FROM mf_records WHERE tenant = ?1 AND collection = ?2 AND key = ?3",
            )
            .map_err(db_err)?;
        for w in batch.writes() {
            let row: Option<(i64, String)> = select
                .query_row(params![tenant, w.collection(), w.key()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(db_err)?;
            let version = row.as_ref().map(|(v, _)| *v as u64);
            if !w.expect().admits(version) {
                return Err(Error::Conflict {
                    collection: w.collection().to_string(),
                    key: w.key().to_string(),
                    expected: w.expect().state(),
                    actual: version.map_or(VersionState::Absent, VersionState::Version),
                });
            }
            current.push(row);
        }
    }

    let mut versions = Vec::with_capacity(batch.writes().len());
    let mut del_index = tx
        .prepare_cached("DELETE FROM mf_record_index WHERE tenant = ?1 AND collection = ?2 AND name = ?3 AND value = ?4 AND key = ?5")
        .map_err(db_err)?;
    // OR IGNORE: a record may list the same entry twice; it is indexed once (as in memory).
    let mut ins_index = tx
        .prepare_cached("INSERT OR IGNORE INTO mf_record_index (tenant, collection, name, value, key) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(db_err)?;
    let mut insert = tx
        .prepare_cached("INSERT INTO mf_records (tenant, collection, key, version, value, indexes) VALUES (?1, ?2, ?3, 1, ?4, ?5)")
        .map_err(db_err)?;
    let mut update = tx
        .prepare_cached("UPDATE mf_records SET version = ?4, value = ?5, indexes = ?6 WHERE tenant = ?1 AND collection = ?2 AND key = ?3")
        .map_err(db_err)?;
    let mut delete = tx
        .prepare_cached("DELETE FROM mf_records WHERE tenant = ?1 AND collection = ?2 AND key = ?3")
        .map_err(db_err)?;

    for (i, (w, prior)) in batch.writes().iter().zip(&current).enumerate() {
        if batch.injected_failure() == Some(i) {
            return Err(injected_failure());
        }
        // A record put with the index entries it already has keeps its index rows.
        let encoded = match w {
            Write::Put { indexes, .. } => Some(serde_json::to_string(indexes)?),
            Write::Delete { .. } => None,
        };
        let same_indexes = matches!(
            (prior, &encoded),
            (Some((_, old)), Some(new)) if old == new
        );
        if let Some((_, old_indexes)) = prior.as_ref().filter(|_| !same_indexes) {
            let old: Vec<IndexEntry> = serde_json::from_str(old_indexes)?;
            for ix in &old {
                del_index
                    .execute(params![tenant, w.collection(), ix.name, ix.value, w.key()])
                    .map_err(db_err)?;
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
                let encoded = encoded.unwrap_or_default();
                let version = match prior {
                    Some((v, _)) => {
                        let next = v + 1;
                        update
                            .execute(params![tenant, collection, key, next, value, encoded])
                            .map_err(db_err)?;
                        next as u64
                    }
                    None => {
                        insert
                            .execute(params![tenant, collection, key, value, encoded])
                            .map_err(db_err)?;
                        1
                    }
                };
                for ix in indexes.iter().filter(|_| !same_indexes) {
                    ins_index
                        .execute(params![tenant, collection, ix.name, ix.value, key])
                        .map_err(db_err)?;
                }
                versions.push(version);
            }
            Write::Delete {
                collection, key, ..
            } => {
                delete
                    .execute(params![tenant, collection, key])
                    .map_err(db_err)?;
                versions.push(0);
            }
        }
    }
    if batch
        .injected_failure()
        .is_some_and(|n| n >= batch.writes().len())
    {
        return Err(injected_failure());
    }

    // Journals: the sequence numbers first (each journal's head read once), then the entries
    // in multi-row INSERTs.
    let mut seqs: Vec<i64> = Vec::with_capacity(batch.appends().len());
    {
        let mut head = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(seq), 0) FROM mf_journal WHERE tenant = ?1 AND journal = ?2",
            )
            .map_err(db_err)?;
        for a in batch.appends() {
            let seq = match heads.get_mut(a.journal.as_str()) {
                Some(s) => {
                    *s += 1;
                    *s
                }
                None => {
                    let last: i64 = head
                        .query_row(params![tenant, a.journal], |r| r.get(0))
                        .map_err(db_err)?;
                    heads.insert(&a.journal, last + 1);
                    last + 1
                }
            };
            seqs.push(seq);
        }
    }
    insert_journal_entries(tx, tenant, batch.appends(), entries, &seqs)?;
    let sequences = seqs.iter().map(|s| *s as u64).collect();

    if let Some(claim) = batch.idempotency() {
        tx.prepare_cached("INSERT INTO mf_idempotency (tenant, key, fingerprint, response) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| s.execute(params![tenant, claim.key, claim.fingerprint, claim.response]))
            .map_err(db_err)?;
    }
    Ok(CommitOutcome::Committed(Receipt {
        versions,
        sequences,
    }))
}

/// Rows per multi-row journal INSERT, largest first: a batch's entries go in as few statements
/// as possible, each one of these sizes (so a handful of statements covers every batch and stays
/// in the connection's statement cache).
const JOURNAL_INSERT_ROWS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// The INSERT of `rows` journal entries: the tenant bound once (`?1`), then journal, sequence
/// number, payload and codec per row.
fn journal_insert_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        JOURNAL_INSERT_ROWS
            .iter()
            .map(|&n| {
                let values: Vec<String> = (0..n)
                    .map(|i| {
                        let p = 4 * i + 2;
                        format!("(?1, ?{}, ?{}, ?{}, ?{})", p, p + 1, p + 2, p + 3)
                    })
                    .collect();
                format!(
                    "INSERT INTO mf_journal (tenant, journal, seq, payload, codec) VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    });
    let i = JOURNAL_INSERT_ROWS
        .iter()
        .position(|&n| n == rows)
        .unwrap_or(JOURNAL_INSERT_ROWS.len() - 1);
    &all[i]
}

/// Insert `appends`, stored as `entries`, with their sequence numbers `seqs`, in multi-row
/// statements.
fn insert_journal_entries(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    appends: &[super::Append],
    entries: &[(i64, Cow<'_, [u8]>)],
    seqs: &[i64],
) -> Result<()> {
    let mut done = 0;
    while done < appends.len() {
        let left = appends.len() - done;
        let rows = JOURNAL_INSERT_ROWS
            .iter()
            .copied()
            .find(|&n| n <= left)
            .unwrap_or(1);
        let mut stmt = tx
            .prepare_cached(journal_insert_sql(rows))
            .map_err(db_err)?;
        stmt.raw_bind_parameter(1, tenant).map_err(db_err)?;
        for (i, ((a, (codec, stored)), seq)) in appends[done..done + rows]
            .iter()
            .zip(&entries[done..done + rows])
            .zip(&seqs[done..done + rows])
            .enumerate()
        {
            let p = 4 * i + 2;
            stmt.raw_bind_parameter(p, a.journal.as_str())
                .map_err(db_err)?;
            stmt.raw_bind_parameter(p + 1, seq).map_err(db_err)?;
            stmt.raw_bind_parameter(p + 2, &**stored).map_err(db_err)?;
            stmt.raw_bind_parameter(p + 3, codec).map_err(db_err)?;
        }
        stmt.raw_execute().map_err(db_err)?;
        done += rows;
    }
    Ok(())
}

fn injected_failure() -> Error {
    Error::backend_message("sqlite", true, "injected failure: batch rolled back")
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn limits(&self) -> StoreLimits {
        self.inner.limits
    }

    async fn get(&self, tenant: &TenantId, collection: &str, key: &str) -> Result<Option<Record>> {
        observe_read(
            "store.get",
            "sqlite",
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
            "sqlite",
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
            "sqlite",
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
            "sqlite",
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
            "sqlite",
            self.read_journal_impl(tenant, journal, after, limit),
        )
        .await
    }

    async fn journal_head(&self, tenant: &TenantId, journal: &str) -> Result<u64> {
        observe_read(
            "store.journal_head",
            "sqlite",
            self.journal_head_impl(tenant, journal),
        )
        .await
    }

    async fn idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<(String, Vec<u8>)>> {
        observe_read(
            "store.idempotency",
            "sqlite",
            self.idempotency_impl(tenant, key),
        )
        .await
    }

    async fn commit(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        let probe = CommitProbe::new("sqlite", tenant, &batch);
        probe.observe(self.commit_impl(tenant, batch)).await
    }
}

/// The backend's own reads and commit; the [`Store`] impl above wraps them in telemetry.
impl SqliteStore {
    async fn get_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        key: &str,
    ) -> Result<Option<Record>> {
        let (t, c, k) = (tenant.to_string(), collection.to_string(), key.to_string());
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT key, version, value FROM mf_records WHERE tenant = ?1 AND collection = ?2 AND key = ?3",
            )
            .and_then(|mut s| s.query_row(params![t, c, k], row_record).optional())
            .map_err(db_err)
        })
        .await
    }

    /// One reader connection, one read transaction, the cached point query per key.
    async fn get_many_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        keys: &[String],
    ) -> Result<Vec<Option<Record>>> {
        let (t, c, keys) = (tenant.to_string(), collection.to_string(), keys.to_vec());
        self.read(move |conn| {
            let tx = conn.unchecked_transaction().map_err(db_err)?;
            let mut s = tx
                .prepare_cached(
                    "SELECT key, version, value FROM mf_records WHERE tenant = ?1 AND collection = ?2 AND key = ?3",
                )
                .map_err(db_err)?;
            let out = keys
                .iter()
                .map(|k| s.query_row(params![t, c, k], row_record).optional())
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db_err)?;
            drop(s);
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
        .await
    }

    async fn list_impl(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        page.validate()?;
        let (t, c) = (tenant.to_string(), collection.to_string());
        let after = page.after_key().map(str::to_string);
        let limit = page.limit;
        let items = self
            .read(move |conn| {
                let fetch = (limit + 1) as i64;
                let rows = match &after {
                    Some(a) => conn
                        .prepare_cached(
                            "SELECT key, version, value FROM mf_records WHERE tenant = ?1 AND collection = ?2 AND key > ?3 ORDER BY key LIMIT ?4",
                        )
                        .and_then(|mut s| {
                            s.query_map(params![t, c, a, fetch], row_record)?
                                .collect::<rusqlite::Result<Vec<_>>>()
                        }),
                    None => conn
                        .prepare_cached(
                            "SELECT key, version, value FROM mf_records WHERE tenant = ?1 AND collection = ?2 ORDER BY key LIMIT ?3",
                        )
                        .and_then(|mut s| {
                            s.query_map(params![t, c, fetch], row_record)?
                                .collect::<rusqlite::Result<Vec<_>>>()
                        }),
                };
                rows.map_err(db_err)
            })
            .await?;
        Ok(Page::from_overfetch(items, limit, |r| &r.key))
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
        let (t, c, n, v) = (
            tenant.to_string(),
            collection.to_string(),
            index.to_string(),
            value.to_string(),
        );
        let after = page.after_key().unwrap_or("").to_string();
        let limit = page.limit;
        let items = self
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT r.key, r.version, r.value FROM mf_record_index i
                     JOIN mf_records r ON r.tenant = i.tenant AND r.collection = i.collection AND r.key = i.key
                     WHERE i.tenant = ?1 AND i.collection = ?2 AND i.name = ?3 AND i.value = ?4 AND i.key > ?5
                     ORDER BY i.key LIMIT ?6",
                )
                .and_then(|mut s| {
                    s.query_map(params![t, c, n, v, after, (limit + 1) as i64], row_record)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db_err)
            })
            .await?;
        Ok(Page::from_overfetch(items, limit, |r| &r.key))
    }

    async fn read_journal_impl(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        let (t, j) = (tenant.to_string(), journal.to_string());
        // No sequence is past the integer range: after it there is nothing.
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT seq, payload, codec FROM mf_journal WHERE tenant = ?1 AND journal = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
            )
            .and_then(|mut s| {
                s.query_map(params![t, j, after, limit], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db_err)?
            .into_iter()
            .map(|(seq, stored, codec)| {
                Ok(JournalEntry {
                    seq: seq as u64,
                    payload: sqlite_codec::unpack(codec, stored, seq)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn journal_head_impl(&self, tenant: &TenantId, journal: &str) -> Result<u64> {
        let (t, j) = (tenant.to_string(), journal.to_string());
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT COALESCE(MAX(seq), 0) FROM mf_journal WHERE tenant = ?1 AND journal = ?2",
            )
            .and_then(|mut s| s.query_row(params![t, j], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(db_err)
        })
        .await
    }

    async fn idempotency_impl(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<(String, Vec<u8>)>> {
        let (t, k) = (tenant.to_string(), key.to_string());
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT fingerprint, response FROM mf_idempotency WHERE tenant = ?1 AND key = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![t, k], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(db_err)
        })
        .await
    }

    async fn commit_impl(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        batch.validate(&self.inner.limits)?;
        let inner = self.inner.clone();
        let tenant = tenant.to_string();
        let work = move || {
            // Compressed before the write lock is taken, so commits compress in parallel.
            let entries: Vec<(i64, Cow<'_, [u8]>)> = batch
                .appends()
                .iter()
                .map(|a| sqlite_codec::pack(&a.payload))
                .collect();
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let outcome = apply(&tx, &tenant, &batch, &entries)?;
            match outcome {
                // A replay wrote nothing: let the transaction roll back.
                CommitOutcome::Replayed(_) => Ok(outcome),
                CommitOutcome::Committed(_) => {
                    tx.commit().map_err(commit_err)?;
                    Ok(outcome)
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            // The batch runs to the end on the blocking pool even if this future is dropped;
            // if the task itself fails, whether it committed is unknown.
            Ok(handle) => handle
                .spawn_blocking(work)
                .await
                .map_err(|e| Error::outcome_unknown_from("sqlite commit", e))?,
            Err(_) => work(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn sqlite_error(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn a_version_1_file_is_migrated_and_large_entries_are_stored_compressed() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("v1.sqlite");
                let tenant = TenantId::new();
                // A file as the first schema left it, with one journal entry.
                {
                    let conn = Connection::open(&path).unwrap();
                    conn.execute_batch(&format!("{}; PRAGMA user_version = 1;", MIGRATIONS[0]))
                        .unwrap();
                    conn.execute(
                        "INSERT INTO mf_journal (tenant, journal, seq, payload) VALUES (?1, 'j', 1, ?2)",
                        params![tenant.to_string(), b"old entry".to_vec()],
                    )
                    .unwrap();
                }
                let store = SqliteStore::open(&path).await.unwrap();
                let large: Vec<u8> = b"{\"name\":\"crm.lead.captured\",\"n\":1}\n"
                    .iter()
                    .copied()
                    .cycle()
                    .take(20_000)
                    .collect();
                let mut batch = Batch::new();
                batch.append("j", large.clone()).append("j", b"small".to_vec());
                store.commit(&tenant, batch).await.unwrap();
                let entries = store.read_journal(&tenant, "j", 0, 10).await.unwrap();
                let payloads: Vec<&[u8]> = entries.iter().map(|e| e.payload.as_slice()).collect();
                assert_eq!(payloads, [&b"old entry"[..], &large[..], &b"small"[..]]);
                let conn = Connection::open(&path).unwrap();
                let stored: Vec<(i64, i64, i64)> = conn
                    .prepare("SELECT seq, codec, length(payload) FROM mf_journal ORDER BY seq")
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                assert_eq!(stored[0], (1, sqlite_codec::PLAIN, 9));
                assert_eq!((stored[1].0, stored[1].1), (2, sqlite_codec::ZSTD));
                assert!(stored[1].2 < 2_000, "{stored:?}");
                assert_eq!(stored[2], (3, sqlite_codec::PLAIN, 5));
            });
    }

    #[test]
    fn cached_statements_keep_their_plan_across_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("plans.sqlite")).unwrap();
        configure(&conn, Durability::Normal).unwrap();
        migrate(&conn).unwrap();
        for seq in 1..=5 {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            {
                let mut head = tx
                    .prepare_cached(
                        "SELECT COALESCE(MAX(seq), 0) FROM mf_journal WHERE tenant = ?1 AND journal = ?2",
                    )
                    .unwrap();
                let last: i64 = head.query_row(params!["t", "j"], |r| r.get(0)).unwrap();
                assert_eq!(last, seq - 1);
                assert_eq!(
                    head.get_status(rusqlite::StatementStatus::RePrepare),
                    0,
                    "transaction {seq} prepared the head query again"
                );
                tx.execute(
                    "INSERT INTO mf_journal (tenant, journal, seq, payload) VALUES ('t', 'j', ?1, x'00')",
                    params![seq],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
    }

    #[test]
    fn a_failed_commit_is_unavailable_only_when_sqlite_kept_the_transaction() {
        // Busy or locked: the transaction is still open and is rolled back; nothing written.
        for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED] {
            assert_eq!(
                commit_err(sqlite_error(code)).kind(),
                ErrorKind::Unavailable
            );
        }
        // I/O errors, a full disk, corruption: the commit record may have reached the log.
        for code in [
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_IOERR_FSYNC,
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_CORRUPT,
        ] {
            let e = commit_err(sqlite_error(code));
            assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e}");
        }
    }
}
