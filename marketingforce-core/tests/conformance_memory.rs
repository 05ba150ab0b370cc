//! The storage conformance suite against the in-memory backend.

use std::sync::Arc;

use marketingforce_core::storage::{MemoryStore, Store};

async fn memory() -> Option<Arc<dyn Store>> {
    Some(Arc::new(MemoryStore::new()))
}

marketingforce_core::store_conformance_tests!(memory);
