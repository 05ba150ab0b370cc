//! A minimal SQLite implementation of the core `Store` contract, for the durable metering
//! benchmark only (the core's own `SqliteStore` is being finished; swap it in when it lands).
//! One connection behind a mutex, WAL journal, `synchronous = NORMAL`, one transaction per
//! `commit`.

use std::sync::Mutex;

use async_trait::async_trait;
use marketingforce_core::error::{Error, Result, VersionState};
use marketingforce_core::storage::{
    Batch, CommitOutcome, JournalEntry, Page, PageRequest, Receipt, Record, Store, StoreLimits,
    Write,
};
use marketingforce_core::tenant::TenantId;
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug)]
pub struct BenchSqliteStore {
    conn: Mutex<Connection>,
}

fn db(e: rusqlite::Error) -> Error {
    Error::backend("sqlite", false, e)
}

impl BenchSqliteStore {
    pub fn open(path: &std::path::Path) -> Result<BenchSqliteStore> {
        let conn = Connection::open(path).map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS records (tenant TEXT, collection TEXT, key TEXT, version INTEGER, value BLOB,
                 PRIMARY KEY (tenant, collection, key));
             CREATE TABLE IF NOT EXISTS journal (tenant TEXT, journal TEXT, seq INTEGER, payload BLOB,
                 PRIMARY KEY (tenant, journal, seq));
             CREATE TABLE IF NOT EXISTS idem (tenant TEXT, key TEXT, fingerprint TEXT, response BLOB,
                 PRIMARY KEY (tenant, key));",
        )
        .map_err(db)?;
        Ok(BenchSqliteStore {
            conn: Mutex::new(conn),
        })
    }
}

#[async_trait]
impl Store for BenchSqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite-bench"
    }

    async fn get(&self, tenant: &TenantId, collection: &str, key: &str) -> Result<Option<Record>> {
        let conn = self.conn.lock().unwrap();
        conn.query_row(
            "SELECT version, value FROM records WHERE tenant = ?1 AND collection = ?2 AND key = ?3",
            params![tenant.to_string(), collection, key],
            |r| {
                Ok(Record {
                    key: key.to_string(),
                    version: r.get::<_, i64>(0)? as u64,
                    value: r.get(1)?,
                })
            },
        )
        .optional()
        .map_err(db)
    }

    async fn list(
        &self,
        tenant: &TenantId,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Record>> {
        page.validate()?;
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT key, version, value FROM records WHERE tenant = ?1 AND collection = ?2 AND key > ?3
                 ORDER BY key LIMIT ?4",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(
                params![
                    tenant.to_string(),
                    collection,
                    page.after_key().unwrap_or(""),
                    (page.limit + 1) as i64
                ],
                |r| {
                    Ok(Record {
                        key: r.get(0)?,
                        version: r.get::<_, i64>(1)? as u64,
                        value: r.get(2)?,
                    })
                },
            )
            .map_err(db)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(Page::from_overfetch(rows, page.limit, |r| &r.key))
    }

    async fn lookup(
        &self,
        _: &TenantId,
        _: &str,
        _: &str,
        _: &str,
        _: &PageRequest,
    ) -> Result<Page<Record>> {
        Ok(Page {
            items: Vec::new(),
            next: None,
        })
    }

    async fn read_journal(
        &self,
        tenant: &TenantId,
        journal: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<JournalEntry>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare("SELECT seq, payload FROM journal WHERE tenant = ?1 AND journal = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4")
            .map_err(db)?;
        let rows = stmt
            .query_map(
                params![tenant.to_string(), journal, after as i64, limit as i64],
                |r| {
                    Ok(JournalEntry {
                        seq: r.get::<_, i64>(0)? as u64,
                        payload: r.get(1)?,
                    })
                },
            )
            .map_err(db)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows)
    }

    async fn idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<(String, Vec<u8>)>> {
        let conn = self.conn.lock().unwrap();
        conn.query_row(
            "SELECT fingerprint, response FROM idem WHERE tenant = ?1 AND key = ?2",
            params![tenant.to_string(), key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db)
    }

    async fn commit(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        batch.validate(&StoreLimits::default())?;
        let t = tenant.to_string();
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db)?;
        if let Some(c) = batch.idempotency() {
            let prev: Option<(String, Vec<u8>)> = tx
                .query_row(
                    "SELECT fingerprint, response FROM idem WHERE tenant = ?1 AND key = ?2",
                    params![t, c.key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            if let Some((fp, resp)) = prev {
                return if fp == c.fingerprint {
                    Ok(CommitOutcome::Replayed(resp))
                } else {
                    Err(Error::IdempotencyMismatch { key: c.key.clone() })
                };
            }
        }
        let mut versions = Vec::new();
        for w in batch.writes() {
            let current: Option<i64> = tx
                .query_row(
                    "SELECT version FROM records WHERE tenant = ?1 AND collection = ?2 AND key = ?3",
                    params![t, w.collection(), w.key()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            let current = current.map(|v| v as u64);
            if !w.expect().admits(current) {
                return Err(Error::Conflict {
                    collection: w.collection().to_string(),
                    key: w.key().to_string(),
                    expected: w.expect().state(),
                    actual: current.map_or(VersionState::Absent, VersionState::Version),
                });
            }
            match w {
                Write::Put {
                    collection,
                    key,
                    value,
                    ..
                } => {
                    let v = current.unwrap_or(0) + 1;
                    tx.execute(
                        "INSERT OR REPLACE INTO records (tenant, collection, key, version, value) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![t, collection, key, v as i64, value],
                    )
                    .map_err(db)?;
                    versions.push(v);
                }
                Write::Delete {
                    collection, key, ..
                } => {
                    tx.execute(
                        "DELETE FROM records WHERE tenant = ?1 AND collection = ?2 AND key = ?3",
                        params![t, collection, key],
                    )
                    .map_err(db)?;
                    versions.push(0);
                }
            }
        }
        let mut sequences = Vec::new();
        {
            let mut next_seq = tx
                .prepare_cached(
                    "SELECT COALESCE(MAX(seq), 0) FROM journal WHERE tenant = ?1 AND journal = ?2",
                )
                .map_err(db)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO journal (tenant, journal, seq, payload) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(db)?;
            for a in batch.appends() {
                let last: i64 = next_seq
                    .query_row(params![t, a.journal], |r| r.get(0))
                    .map_err(db)?;
                insert
                    .execute(params![t, a.journal, last + 1, a.payload])
                    .map_err(db)?;
                sequences.push(last as u64 + 1);
            }
        }
        if let Some(c) = batch.idempotency() {
            tx.execute(
                "INSERT INTO idem (tenant, key, fingerprint, response) VALUES (?1, ?2, ?3, ?4)",
                params![t, c.key, c.fingerprint, c.response],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(CommitOutcome::Committed(Receipt {
            versions,
            sequences,
        }))
    }
}
