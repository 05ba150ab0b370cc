//! Bench support: a minimal durable journal store on SQLite, used to measure the ledger's
//! durable path until the SDK's full `SqliteStore` (core feature `sqlite`) is available here.
//!
//! It implements the parts of the `Store` contract the ledger uses — atomic batches of journal
//! appends with an idempotency claim, and journal reads — in one SQLite transaction per commit
//! (WAL, `synchronous = FULL`: every commit is on disk before it returns). Records and indexes
//! are not supported (the ledger does not use them).

use std::sync::Mutex;

use async_trait::async_trait;
use marketingforce_core::storage::{
    Batch, CommitOutcome, JournalEntry, Page, PageRequest, Receipt, Record, Store,
};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::{Error, Result};

#[derive(Debug)]
pub struct SqliteJournal {
    conn: Mutex<rusqlite::Connection>,
}

fn db(e: rusqlite::Error) -> Error {
    Error::backend("sqlite", false, e)
}

impl SqliteJournal {
    pub fn open(path: &std::path::Path) -> SqliteJournal {
        let conn = rusqlite::Connection::open(path).expect("open sqlite");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS journal (tenant TEXT NOT NULL, name TEXT NOT NULL,
                 seq INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (tenant, name, seq));
             CREATE TABLE IF NOT EXISTS idempotency (tenant TEXT NOT NULL, key TEXT NOT NULL,
                 fingerprint TEXT NOT NULL, response BLOB NOT NULL, PRIMARY KEY (tenant, key));",
        )
        .expect("schema");
        SqliteJournal {
            conn: Mutex::new(conn),
        }
    }
}

#[async_trait]
impl Store for SqliteJournal {
    fn backend(&self) -> &'static str {
        "sqlite-journal"
    }

    async fn get(&self, _: &TenantId, _: &str, _: &str) -> Result<Option<Record>> {
        Ok(None)
    }

    async fn list(&self, _: &TenantId, _: &str, _: &PageRequest) -> Result<Page<Record>> {
        Ok(Page {
            items: vec![],
            next: None,
        })
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
            items: vec![],
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
            .prepare_cached("SELECT seq, payload FROM journal WHERE tenant = ?1 AND name = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4")
            .map_err(db)?;
        let rows = stmt
            .query_map(
                rusqlite::params![tenant.to_string(), journal, after as i64, limit as i64],
                |r| {
                    Ok(JournalEntry {
                        seq: r.get::<_, i64>(0)? as u64,
                        payload: r.get(1)?,
                    })
                },
            )
            .map_err(db)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db)
    }

    async fn idempotency(&self, tenant: &TenantId, key: &str) -> Result<Option<(String, Vec<u8>)>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare_cached(
                "SELECT fingerprint, response FROM idempotency WHERE tenant = ?1 AND key = ?2",
            )
            .map_err(db)?;
        let mut rows = stmt
            .query(rusqlite::params![tenant.to_string(), key])
            .map_err(db)?;
        match rows.next().map_err(db)? {
            Some(r) => Ok(Some((r.get(0).map_err(db)?, r.get(1).map_err(db)?))),
            None => Ok(None),
        }
    }

    async fn commit(&self, tenant: &TenantId, batch: Batch) -> Result<CommitOutcome> {
        batch.validate(&self.limits())?;
        if !batch.writes().is_empty() {
            return Err(Error::backend_message(
                "sqlite-journal",
                false,
                "records are not supported by the bench store",
            ));
        }
        let t = tenant.to_string();
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db)?;
        if let Some(claim) = batch.idempotency() {
            let found: Option<(String, Vec<u8>)> = tx
                .query_row(
                    "SELECT fingerprint, response FROM idempotency WHERE tenant = ?1 AND key = ?2",
                    rusqlite::params![t, claim.key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .ok();
            if let Some((fp, response)) = found {
                return if fp == claim.fingerprint {
                    Ok(CommitOutcome::Replayed(response))
                } else {
                    Err(Error::IdempotencyMismatch {
                        key: claim.key.clone(),
                    })
                };
            }
            tx.execute(
                "INSERT INTO idempotency (tenant, key, fingerprint, response) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![t, claim.key, claim.fingerprint, claim.response],
            )
            .map_err(db)?;
        }
        let mut sequences = Vec::with_capacity(batch.appends().len());
        for a in batch.appends() {
            let last: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM journal WHERE tenant = ?1 AND name = ?2",
                    rusqlite::params![t, a.journal],
                    |r| r.get(0),
                )
                .map_err(db)?;
            tx.execute(
                "INSERT INTO journal (tenant, name, seq, payload) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![t, a.journal, last + 1, a.payload],
            )
            .map_err(db)?;
            sequences.push((last + 1) as u64);
        }
        tx.commit().map_err(db)?;
        Ok(CommitOutcome::Committed(Receipt {
            versions: vec![],
            sequences,
        }))
    }
}
