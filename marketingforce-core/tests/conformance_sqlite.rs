//! The storage conformance suite against SQLite: a fresh database file per check, plus an
//! in-memory database.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use marketingforce_core::storage::{SqliteStore, Store};

fn scratch_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temporary directory"))
        .path()
        .to_path_buf()
}

async fn sqlite_file() -> Option<Arc<dyn Store>> {
    let path = scratch_dir().join(format!("{}.sqlite", uuid_like()));
    Some(Arc::new(
        SqliteStore::open(path).await.expect("open sqlite"),
    ))
}

fn uuid_like() -> String {
    marketingforce_core::tenant::TenantId::new().to_string()
}

mod file {
    marketingforce_core::store_conformance_tests!(super::sqlite_file);
}

mod in_memory {
    use super::*;

    async fn sqlite_memory() -> Option<Arc<dyn Store>> {
        Some(Arc::new(
            SqliteStore::open_in_memory().await.expect("open sqlite"),
        ))
    }

    marketingforce_core::store_conformance_tests!(sqlite_memory);
}

/// Two stores opened separately on one file (stand-ins for two processes) race on one journal
/// head: `BEGIN IMMEDIATE` makes the expectation hold across them.
#[test]
fn racing_writers_across_two_stores_on_one_file() {
    marketingforce_core::storage::conformance::block_on(async {
        let path = scratch_dir().join(format!("{}-shared.sqlite", uuid_like()));
        let first = SqliteStore::open(&path).await.expect("open sqlite");
        let second = SqliteStore::open(&path).await.expect("open sqlite again");
        marketingforce_core::storage::conformance::racing_writers_across_instances(
            Arc::new(first),
            Arc::new(second),
        )
        .await;
    });
}
