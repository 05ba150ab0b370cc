//! The committed event catalogue under `schemas/events/`: the envelope's schema, one schema per
//! event type and version of every crate's `event_catalog()`, and the index `README.md`.
//!
//! This test fails when a committed file differs from what the types generate now, or when a
//! generated file is missing. Regenerate with:
//!
//! ```text
//! UPDATE_SCHEMAS=1 cargo test -p marketingforce --test event_schemas
//! ```

use std::path::PathBuf;

use marketingforce::core::events::{schema_files, EventCatalog};

/// Every crate's event catalogue. A crate that defines events adds its
/// `event_catalog()` here (e.g. `marketingforce::crm::event_catalog()`).
fn catalogs() -> Vec<EventCatalog> {
    vec![
        marketingforce::modules::event_catalog(),
        marketingforce::ads::event_catalog(),
        marketingforce::crm::event_catalog(),
        marketingforce::sites::event_catalog(),
        marketingforce::content::event_catalog(),
    ]
}

#[test]
fn committed_event_schemas_are_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/events");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let files = schema_files(&catalogs()).expect("the catalogues are valid");
    if update {
        std::fs::create_dir_all(&dir).expect("create schemas/events");
    }
    let mut stale = Vec::new();
    for file in &files {
        let path = dir.join(&file.path);
        if update {
            std::fs::write(&path, &file.contents).expect("write a schema");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(file.contents.as_str()) {
            stale.push(file.path.clone());
        }
    }
    // Files no catalogue generates any more.
    let generated: std::collections::BTreeSet<_> = files.iter().map(|f| f.path.clone()).collect();
    let leftover: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| !generated.contains(name))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        stale.is_empty() && leftover.is_empty(),
        "schemas/events is stale (changed or missing: {stale:?}; not generated: {leftover:?}); \
         run UPDATE_SCHEMAS=1 cargo test -p marketingforce --test event_schemas"
    );
}
